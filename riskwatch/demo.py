"""`riskwatch produce` and `riskwatch demo`: simulated traffic and the end-to-end demo run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from core.model_registry import load_registry
from core.settings import Settings

# The demo's second half carries a data drift (chat channel mix), so drift findings show up.
DEMO_DRIFT_FROM = 0.5
# Mean gap between the demo's events in event time: 8,000 events span about two hours, so the
# one-hour baselines of the market-demand rules fill and the injected market shifts show.
DEMO_GAP_MS = 900
# Share of the tabular models' decisions whose outcome is fed back as riskwatch.feedback/v1 labels,
# so fairness monitoring has labels (equalized odds) besides predictions.
DEMO_FEEDBACK = 0.8


def produce_demo(
    settings: Settings,
    n: int,
    *,
    seed: int = 7,
    run_id: str | None = None,
    with_text: bool = True,
    malformed: float = 0.02,
    duplicates: float = 0.02,
    drift_from: float | None = None,
    feedback: float = 0.0,
    gap_ms: int = 50,
    market_shifts: bool = False,
) -> dict[str, Any]:
    from riskwatch.simulator import demo_traffic
    from streams.producer import make_producer, send_all

    run_id = run_id or "demo-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    traffic = demo_traffic(
        n,
        registry=load_registry(settings.config),
        seed=seed,
        run_id=run_id,
        malformed_fraction=malformed,
        duplicate_fraction=duplicates,
        with_text=with_text,
        max_event_bytes=settings.max_event_bytes,
        drift_from=drift_from,
        feedback_fraction=feedback,
        gap_ms=gap_ms,
        market_shifts=market_shifts,
    )
    producer = make_producer(settings.bootstrap_servers)
    try:
        sent = send_all(
            producer, settings.events_topic, ((m.key, m.value) for m in traffic.messages)
        )
    finally:
        producer.close()
    return {
        "run_id": run_id,
        "topic": settings.events_topic,
        "messages_sent": sent,
        "valid_events": len(traffic.valid_event_ids),
        "duplicates": traffic.duplicates,
        "feedback": traffic.feedback,
        "malformed": traffic.malformed,
    }


def produce_file(settings: Settings, path: Path) -> dict[str, Any]:
    from streams.producer import make_producer, send_all

    def messages() -> Iterator[tuple[bytes | None, bytes]]:
        with path.open("rb") as fh:
            for line in fh:
                line = line.rstrip(b"\r\n")
                if not line.strip():
                    continue
                try:
                    key = str(orjson.loads(line)["model"]["id"]).encode()
                except Exception:  # the worker dead-letters it with the precise reason
                    key = None
                yield key, line

    producer = make_producer(settings.bootstrap_servers)
    try:
        sent = send_all(producer, settings.events_topic, messages())
    finally:
        producer.close()
    return {"topic": settings.events_topic, "messages_sent": sent, "file": str(path)}


def _start_worker(settings: Settings, log_path: Path) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "riskwatch.cli", "worker"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(os.environ),
            start_new_session=True,
        )


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def incidents_line(totals: dict[str, Any]) -> str:
    """``incidents: 31 (12 open, 19 closed) from 1,199 findings``: what the demo ends with."""
    by_status = totals.get("incidents_by_status") or {}
    findings = sum((totals.get("findings") or {}).values())
    opened = sum(by_status.get(s, 0) for s in ("open", "acknowledged"))
    total = sum(by_status.values())
    return (
        f"incidents: {total} ({opened} open, {total - opened} closed) from {findings:,} findings"
        " (riskwatch audit incidents)"
    )


def run_demo(settings: Settings, n: int, *, timeout: float = 300.0) -> int:
    from audit.queries import count_events_with_prefix, summary
    from audit.store import AuditStore
    from riskwatch.local_kafka import LocalKafka
    from riskwatch.output import summary_table, to_json
    from streams.topics import ensure_topics

    broker = LocalKafka.from_bootstrap(settings.kafka_bootstrap, settings.home)
    started_broker = not broker.is_up()
    print(
        f"kafka: {broker.up()} ({'started' if started_broker else 'already running'})", flush=True
    )
    # Create the topics and wait for their leaders before the worker subscribes and the producer
    # sends: a producer racing the topic's creation logs "not found in cluster metadata" errors and
    # NotLeaderForPartition retries.
    ensure_topics(settings)
    print(f"topics: {settings.events_topic}, {settings.findings_topic}, {settings.dlq_topic}")
    if not settings.key_path.exists():
        # the demo is a local trial: it creates the key file the worker refuses to start without
        # (a real deployment runs `riskwatch keys init` once and backs the file up)
        from audit.keys import init_key_file

        init_key_file(settings.key_path)
        print(f"keys: created {settings.key_path} (riskwatch keys init)", flush=True)
    store = AuditStore.from_url(settings.database_url)
    print(f"audit store: {settings.database_url}", flush=True)
    before = summary(store.engine)["dead_letters"]
    log_path = settings.home / "demo-worker.log"
    worker = _start_worker(settings, log_path)
    print(f"worker: pid {worker.pid}, log {log_path}", flush=True)
    try:
        report = produce_demo(
            settings,
            n,
            drift_from=DEMO_DRIFT_FROM,
            feedback=DEMO_FEEDBACK,
            gap_ms=DEMO_GAP_MS,
            market_shifts=True,
        )
        print(f"produced: {to_json(report)}", flush=True)
        want_events = report["valid_events"]
        want_dead = before + sum(report["malformed"].values())
        deadline = time.monotonic() + timeout
        while True:
            stored = count_events_with_prefix(store.engine, report["run_id"] + "-")
            dead = summary(store.engine)["dead_letters"]
            if stored >= want_events and dead >= want_dead:
                break
            if worker.poll() is not None:
                print(f"worker exited with {worker.returncode}; see {log_path}", file=sys.stderr)
                return 1
            if time.monotonic() > deadline:
                print(
                    f"timed out: {stored}/{want_events} events, {dead - before} dead letters",
                    file=sys.stderr,
                )
                return 1
            time.sleep(0.5)
        print(f"processed: all {want_events} events of {report['run_id']} are in the audit store\n")
        print(summary_table(summary(store.engine)))
        print("\nsummary (json):\n" + to_json(summary(store.engine)))
        from riskwatch.cli_report import busiest_model_report

        html = busiest_model_report(settings.home / "report.html")
        print("\n" + incidents_line(summary(store.engine)))
        if html is not None:
            print(f"compliance report: {html.resolve()}")
        print(
            "web console: `riskwatch api`, then open http://127.0.0.1:8080/ui/ and sign in with a "
            "token from `riskwatch tokens create --role operator --name <you>`"
        )
        return 0
    finally:
        stop_process(worker)
        if started_broker:
            broker.down()
            print("kafka: stopped")
