"""Pipeline benchmark against the real local broker.

Measures, in one run and on the same kind of topic:
  * throughput: events/s draining a backlog of text-free events, and of events carrying
    ≈30 words of input and output text (PII detection runs on those);
  * latency: p50/p99 from produce (Kafka record timestamp) to committed row, at a paced rate;
  * the worker's peak memory (RSS of the worker and its batch process together);
for the riskwatch worker (Kafka → decode → detectors → policies → SQLite commit → offset commit)
and for a bare aiokafka consume loop (decode + offset commit, no detection, no database), and
prints both and their ratio.

    .venv/bin/python bench/pipeline.py [--events 30000] [--text-events 5000] [--rate 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
import psutil
from aiokafka import AIOKafkaConsumer
from kafka.admin import KafkaAdminClient, NewTopic
from sqlalchemy import func, select

from audit.keys import init_key_file, load_keys
from audit.models import EventRecord
from audit.store import AuditStore
from core.model_registry import Registry, load_registry
from core.settings import Settings
from riskwatch.demo import stop_process
from riskwatch.local_kafka import LocalKafka
from riskwatch.simulator import simulate_events
from streams.producer import make_producer, send_all

REPO = Path(__file__).resolve().parents[1]
PARTITIONS = 4
Messages = list[tuple[bytes, bytes]]


@dataclass
class Result:
    events_per_s: float
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    peak_rss_mb: float = float("nan")


def _events(n: int, run_id: str, text: bool = False) -> Messages:
    registry = load_registry(REPO / "riskwatch.yaml")
    if text:  # the chat model only: every event carries a customer message and a reply
        registry = Registry(
            models={"support-assistant": registry.models["support-assistant"]},
            detectors=registry.detectors,
        )
    events = simulate_events(n, registry=registry, seed=3, run_id=run_id, with_text=text)
    return [(e["model"]["id"].encode(), orjson.dumps(e)) for e in events]


def _create_topics(bootstrap: str, *names: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(n, PARTITIONS, 1) for n in names])
    finally:
        admin.close()


def _produce(bootstrap: str, topic: str, messages: Messages) -> None:
    producer = make_producer([bootstrap])
    try:
        send_all(producer, topic, messages)
    finally:
        producer.close()


def _paced(bootstrap: str, topic: str, messages: Messages, rate: float) -> None:
    producer = make_producer([bootstrap], linger_ms=1)
    start = time.monotonic()
    for i, (key, value) in enumerate(messages):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()


def _start_paced(bootstrap: str, topic: str, rate: float, n: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, __file__, "--paced-child", bootstrap, topic, str(rate), str(n)]
    )


PACED_PREFIX = "paced-"


def _percentiles(lat_ms: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(lat_ms, n=100, method="inclusive")
    return q[49], q[98]


def _epoch(at: datetime) -> float:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


# --- bare aiokafka loop --------------------------------------------------------------------


async def _bare(bootstrap: str, topic: str, n: int) -> tuple[float, list[float]]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bare-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=2000,
    )
    await consumer.start()
    got, first, lat = 0, 0.0, []
    try:
        while got < n:
            batches = await consumer.getmany(timeout_ms=1000, max_records=2000)
            msgs = [m for ms in batches.values() for m in ms]
            if not msgs:
                continue
            first = first or time.time()
            for m in msgs:
                orjson.loads(m.value)
            await consumer.commit()
            now_ms = time.time() * 1000
            lat.extend(now_ms - m.timestamp for m in msgs)
            got += len(msgs)
    finally:
        await consumer.stop()
    return n / (time.time() - first), lat


def bare_throughput(bootstrap: str, topic: str, backlog: Messages) -> Result:
    _produce(bootstrap, topic, backlog)
    return Result(asyncio.run(_bare(bootstrap, topic, len(backlog)))[0])


def bare_latency(bootstrap: str, topic: str, n: int, rate: float) -> Result:
    producer = _start_paced(bootstrap, topic, rate, n)
    _, lat = asyncio.run(_bare(bootstrap, topic, n))
    producer.wait()
    return Result(float("nan"), *_percentiles(lat))


# --- riskwatch worker --------------------------------------------------------------------------


def _rss_mb(proc: subprocess.Popen[bytes]) -> float:
    try:
        root = psutil.Process(proc.pid)
        procs = [root, *root.children(recursive=True)]
        return sum(p.memory_info().rss for p in procs if p.is_running()) / 2**20
    except psutil.Error:
        return 0.0


def _worker(
    bootstrap: str,
    topic: str,
    n: int,
    workdir: Path,
    feed: Callable[[Callable[[], int]], subprocess.Popen[bytes] | None],
    measured: str = "",
) -> Result:
    """Run a worker until ``n`` events are stored; latency over the events whose id starts
    with ``measured``. ``feed`` gets a function that counts the stored events."""
    tag = uuid.uuid4().hex[:8]
    db = workdir / f"{tag}.db"
    key_file = workdir / "keys.json"  # the worker refuses to start without one
    if not key_file.exists():
        init_key_file(key_file)
    env = {
        **os.environ,
        "RISKWATCH_KAFKA_BOOTSTRAP": bootstrap,
        "RISKWATCH_DATABASE_URL": f"sqlite:///{db}",
        "RISKWATCH_EVENTS_TOPIC": topic,
        "RISKWATCH_FINDINGS_TOPIC": f"{topic}-f",
        "RISKWATCH_DLQ_TOPIC": f"{topic}-dlq",
        "RISKWATCH_APP_ID": f"bench-{tag}",
        "RISKWATCH_HOME": str(workdir / tag),
        "RISKWATCH_KEY_FILE": str(key_file),
        "RISKWATCH_CONFIG": str(REPO / "riskwatch.yaml"),
        "RISKWATCH_LOG_LEVEL": "warning",
    }
    store = AuditStore.from_url(f"sqlite:///{db}", keys=load_keys(key_file))
    log_path = workdir / f"{tag}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "riskwatch.cli", "worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    t = EventRecord.__table__
    peak = 0.0

    def stored_count() -> int:
        with store.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(t)).scalar_one())

    try:
        feeder = feed(stored_count)
        deadline = time.monotonic() + 900
        while True:
            peak = max(peak, _rss_mb(proc))
            if stored_count() >= n:
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"worker did not finish; see {log_path}")
            time.sleep(0.2)
        if feeder is not None:
            feeder.wait()
    finally:
        stop_process(proc)
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(t.c.stored_at, t.c.kafka_timestamp_ms).where(t.c.event_id.startswith(measured))
        ).all()
    stored = [_epoch(r[0]) for r in rows]
    lat = [s * 1000 - k for s, (_, k) in zip(stored, rows, strict=True)]
    # Throughput between the first and last commit: excludes the worker's start-up and
    # counts the first batch as taking as long as an average one.
    span, batches = max(stored) - min(stored), len(set(stored))
    eps = n / (span * batches / max(batches - 1, 1)) if span > 0 else float("nan")
    return Result(eps, *_percentiles(lat), peak_rss_mb=peak)


def worker_throughput(bootstrap: str, topic: str, backlog: Messages, workdir: Path) -> Result:
    _produce(bootstrap, topic, backlog)
    r = _worker(bootstrap, topic, len(backlog), workdir, lambda _: None)
    return Result(r.events_per_s, peak_rss_mb=r.peak_rss_mb)  # backlog waits are not latency


def worker_latency(
    bootstrap: str, topic: str, n: int, rate: float, workdir: Path, warm_events: int
) -> Result:
    """Latency in steady state: a warm-up stream (untimed) first takes the worker through its
    start (loading torch, spaCy, Evidently) and the detectors through their reference phase."""
    warm = _events(warm_events, "warm-" + uuid.uuid4().hex[:6])

    def feed(stored: Callable[[], int]) -> subprocess.Popen[bytes]:
        _produce(bootstrap, topic, warm)
        deadline = time.monotonic() + 600
        while stored() < len(warm):
            if time.monotonic() > deadline:
                raise RuntimeError("the warm-up events were not stored within 600 s")
            time.sleep(0.2)
        return _start_paced(bootstrap, topic, rate, n)

    r = _worker(bootstrap, topic, n + len(warm), workdir, feed, measured=PACED_PREFIX)
    return Result(float("nan"), r.p50_ms, r.p99_ms, r.peak_rss_mb)


def _row(name: str, r: Result) -> str:
    return (
        f"{name:34}{r.events_per_s:>10.0f}{r.p50_ms:>10.1f}{r.p99_ms:>10.1f}{r.peak_rss_mb:>12.0f}"
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--paced-child":
        bootstrap, topic, rate, n = sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
        _paced(bootstrap, topic, _events(n, PACED_PREFIX + uuid.uuid4().hex[:6]), rate)
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=30000, help="text-free backlog size")
    parser.add_argument("--text-events", type=int, default=5000, help="text-bearing backlog size")
    parser.add_argument("--rate", type=float, default=2000.0, help="paced events/s for latency")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of the paced run")
    parser.add_argument(
        "--warm-events",
        type=int,
        default=3000,
        help="untimed events before the paced run (worker start, references)",
    )
    args = parser.parse_args()

    settings = Settings()
    broker = LocalKafka.from_bootstrap(settings.kafka_bootstrap, settings.home)
    started = not broker.is_up()
    bootstrap = broker.up()
    tag = uuid.uuid4().hex[:8]
    topics = {
        k: f"bench-{tag}-{k}"
        for k in ("bare", "worker", "bare-text", "worker-text", "bare-paced", "worker-paced")
    }
    paced_n = int(args.rate * args.seconds)
    try:
        _create_topics(bootstrap, *topics.values())
        plain = _events(args.events, f"bench-{tag}")
        text = _events(args.text_events, f"bench-{tag}-t", text=True)
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            bare = bare_throughput(bootstrap, topics["bare"], plain)
            worker = worker_throughput(bootstrap, topics["worker"], plain, work)
            bare_t = bare_throughput(bootstrap, topics["bare-text"], text)
            worker_t = worker_throughput(bootstrap, topics["worker-text"], text, work)
            bare_l = bare_latency(bootstrap, topics["bare-paced"], paced_n, args.rate)
            worker_l = worker_latency(
                bootstrap, topics["worker-paced"], paced_n, args.rate, work, args.warm_events
            )
    finally:
        if started:
            broker.down()
    words = statistics.mean(
        len(d["input"]["text"].split()) + len(d.get("output", {}).get("text", "").split())
        for d in (orjson.loads(v) for _, v in text[:500])
    )
    print(
        f"pipeline benchmark: {PARTITIONS} partitions, one worker, SQLite audit store, "
        f"all detectors loaded"
    )
    print(f"{'':34}{'events/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'peak RSS MB':>12}")
    print(f"throughput, {args.events} text-free events")
    print(_row("  bare aiokafka loop", bare))
    print(_row("  riskwatch worker", worker))
    print(f"  worker / bare {worker.events_per_s / bare.events_per_s:>29.3f}")
    print(f"throughput, {args.text_events} events with text (~{words:.0f} words each)")
    print(_row("  bare aiokafka loop", bare_t))
    print(_row("  riskwatch worker", worker_t))
    print(f"  worker / bare {worker_t.events_per_s / bare_t.events_per_s:>29.3f}")
    print(
        f"latency, paced at {args.rate:.0f} events/s for {args.seconds:.0f} s (text-free; "
        f"the worker after {args.warm_events} warm-up events)"
    )
    print(_row("  bare aiokafka loop", bare_l))
    print(_row("  riskwatch worker", worker_l))
    print(
        f"{'  worker / bare':34}{'':>10}{worker_l.p50_ms / bare_l.p50_ms:>10.2f}"
        f"{worker_l.p99_ms / bare_l.p99_ms:>10.2f}"
    )


if __name__ == "__main__":
    main()
