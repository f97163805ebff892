"""Pipeline benchmark against the real local broker.

Measures, in one run and on the same kind of topic:
  * throughput: events/s draining a backlog of N text-free events;
  * latency: p50/p99 from produce (Kafka record timestamp) to committed row, at a paced rate;
for the riskwatch worker (Kafka → decode → detectors → policies → SQLite commit → offset commit)
and for a bare aiokafka consume loop (decode + offset commit, no detection, no database), and
prints both and their ratio.

    .venv/bin/python bench/pipeline.py [--events 50000] [--rate 3000] [--seconds 8]
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
from datetime import datetime, timezone
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer
from kafka.admin import KafkaAdminClient, NewTopic
from sqlalchemy import func, select

from audit.models import EventRecord
from audit.store import AuditStore
from riskwatch.demo import stop_process
from riskwatch.local_kafka import LocalKafka
from riskwatch.registry import load_registry
from riskwatch.settings import Settings
from streams.producer import make_producer, send_all
from streams.simulator import simulate_events

REPO = Path(__file__).resolve().parents[1]
PARTITIONS = 4


def _events(n: int, run_id: str) -> list[tuple[bytes, bytes]]:
    events = simulate_events(n, registry=load_registry(REPO / "riskwatch.yaml"), seed=3,
                             run_id=run_id, with_text=False)
    return [(e["model"]["id"].encode(), orjson.dumps(e)) for e in events]


def _create_topics(bootstrap: str, *names: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(n, PARTITIONS, 1) for n in names])
    finally:
        admin.close()


def _paced(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]], rate: float) -> None:
    producer = make_producer([bootstrap], linger_ms=1)
    start = time.monotonic()
    for i, (key, value) in enumerate(messages):
        due = start + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()


def _epoch(at: datetime) -> float:
    return (at if at.tzinfo else at.replace(tzinfo=timezone.utc)).timestamp()


def _percentiles(lat_ms: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(lat_ms, n=100, method="inclusive")
    return q[49], q[98]


# --- bare aiokafka loop --------------------------------------------------------------------

async def _bare(bootstrap: str, topic: str, n: int) -> tuple[float, list[float]]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"bare-{uuid.uuid4().hex}",
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                max_poll_records=2000)
    await consumer.start()
    got, first, lat = 0, None, []
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


def bare_run(bootstrap: str, topic: str, backlog: list, paced_n: int, rate: float) -> dict:
    send_all(make_producer([bootstrap]), topic, backlog)
    eps, _ = asyncio.run(_bare(bootstrap, topic, len(backlog)))
    ptopic = topic + "-paced"
    _create_topics(bootstrap, ptopic)
    producer = subprocess.Popen([sys.executable, __file__, "--paced-child", bootstrap, ptopic,
                                 str(rate), str(paced_n)])
    _, lat = asyncio.run(_bare(bootstrap, ptopic, paced_n))
    producer.wait()
    p50, p99 = _percentiles(lat)
    return {"events_per_s": eps, "p50_ms": p50, "p99_ms": p99}


# --- riskwatch worker --------------------------------------------------------------------------

def worker_run(bootstrap: str, topic: str, backlog: list, paced_n: int, rate: float,
               workdir: Path) -> dict:
    def run(events_topic: str, n: int, feed) -> tuple[float, list[float]]:  # type: ignore[no-untyped-def]
        tag = uuid.uuid4().hex[:8]
        db = workdir / f"{tag}.db"
        env = {**os.environ, **{
            "RISKWATCH_KAFKA_BOOTSTRAP": bootstrap, "RISKWATCH_DATABASE_URL": f"sqlite:///{db}",
            "RISKWATCH_EVENTS_TOPIC": events_topic, "RISKWATCH_FINDINGS_TOPIC": f"{events_topic}-f",
            "RISKWATCH_DLQ_TOPIC": f"{events_topic}-dlq", "RISKWATCH_APP_ID": f"bench-{tag}",
            "RISKWATCH_HOME": str(workdir / tag), "RISKWATCH_CONFIG": str(REPO / "riskwatch.yaml"),
            "RISKWATCH_LOG_LEVEL": "warning",
        }}
        store = AuditStore.from_url(f"sqlite:///{db}")
        log = (workdir / f"{tag}.log").open("wb")
        proc = subprocess.Popen([sys.executable, "-m", "riskwatch.cli", "worker"], env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        t = EventRecord.__table__
        try:
            feeder = feed()
            deadline = time.monotonic() + 600
            while True:
                with store.engine.connect() as conn:
                    if conn.execute(select(func.count()).select_from(t)).scalar_one() >= n:
                        break
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"worker did not finish; see {workdir / (tag + '.log')}")
                time.sleep(0.2)
            if feeder is not None:
                feeder.wait()
        finally:
            stop_process(proc)
        with store.engine.connect() as conn:
            rows = conn.execute(select(t.c.stored_at, t.c.kafka_timestamp_ms)).all()
        stored = [_epoch(r[0]) for r in rows]
        lat = [s * 1000 - k for s, (_, k) in zip(stored, rows)]
        # Throughput between the first and last commit: excludes the worker's start-up and
        # counts the first batch as taking as long as an average one.
        span = max(stored) - min(stored)
        batches = len(set(stored))
        eps = n / (span * batches / max(batches - 1, 1)) if span > 0 else float("nan")
        return eps, lat

    send_all(make_producer([bootstrap]), topic, backlog)
    eps, _ = run(topic, len(backlog), lambda: None)
    ptopic = topic + "-paced"
    _create_topics(bootstrap, ptopic)

    def feed():  # type: ignore[no-untyped-def]
        time.sleep(8)  # let the worker join its group first
        return subprocess.Popen([sys.executable, __file__, "--paced-child", bootstrap, ptopic,
                                 str(rate), str(paced_n)])

    _, lat = run(ptopic, paced_n, feed)
    p50, p99 = _percentiles(lat)
    return {"events_per_s": eps, "p50_ms": p50, "p99_ms": p99}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--paced-child":
        bootstrap, topic, rate, n = sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
        _paced(bootstrap, topic, _events(n, "paced-" + uuid.uuid4().hex[:6]), rate)
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50000, help="backlog size for throughput")
    parser.add_argument("--rate", type=float, default=2000.0, help="paced events/s for latency")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of the paced run")
    args = parser.parse_args()

    settings = Settings()
    broker = LocalKafka.from_bootstrap(settings.kafka_bootstrap, settings.home)
    started = not broker.is_up()
    bootstrap = broker.up()
    try:
        tag = uuid.uuid4().hex[:8]
        backlog = _events(args.events, f"bench-{tag}")
        paced_n = int(args.rate * args.seconds)
        bare_topic, worker_topic = f"bench-{tag}-bare", f"bench-{tag}-worker"
        _create_topics(bootstrap, bare_topic, worker_topic)
        bare = bare_run(bootstrap, bare_topic, backlog, paced_n, args.rate)
        with tempfile.TemporaryDirectory() as tmp:
            worker = worker_run(bootstrap, worker_topic, backlog, paced_n, args.rate, Path(tmp))
    finally:
        if started:
            broker.down()
    print(f"pipeline benchmark: {args.events} text-free events backlog; latency at {args.rate:.0f} events/s "
          f"for {args.seconds:.0f} s; {PARTITIONS} partitions; SQLite audit store")
    print(f"{'':24}{'events/s':>12}{'p50 ms':>10}{'p99 ms':>10}")
    for name, r in (("bare aiokafka loop", bare), ("riskwatch worker", worker)):
        print(f"{name:24}{r['events_per_s']:>12.0f}{r['p50_ms']:>10.1f}{r['p99_ms']:>10.1f}")
    print(f"{'worker / bare':24}{worker['events_per_s'] / bare['events_per_s']:>12.2f}"
          f"{worker['p50_ms'] / bare['p50_ms']:>10.2f}{worker['p99_ms'] / bare['p99_ms']:>10.2f}")


if __name__ == "__main__":
    main()
