"""Faults survived, against the real broker and database: the worker SIGKILLed five times
mid-stream, the broker restarted, the database away for 30 s, a graceful SIGTERM. After each,
every valid event is stored exactly once and every finding is filed once; the counts are printed.

The expected findings come from the same messages (read back from Kafka, with their real
partitions and offsets) run through the batch handler in this process without any fault.
"""

from __future__ import annotations

import os
import signal
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from audit.models import DeadLetterRecord, EventRecord, FindingRecord
from core.model_registry import load_registry
from core.settings import Settings
from riskwatch.local_kafka import LocalKafka
from riskwatch.local_postgres import LocalPostgres
from riskwatch.simulator import DemoTraffic, demo_traffic
from streams.batch import RawMessage
from streams.worker import build_handler
from tests.integration.harness import REPO, Pipeline, free_port, wait_for

pytestmark = pytest.mark.faults

REGISTRY = load_registry(REPO / "riskwatch.yaml")


def _traffic(pipe: Pipeline, n: int, seed: int) -> DemoTraffic:
    return demo_traffic(
        n,
        registry=REGISTRY,
        seed=seed,
        run_id=pipe.tag,
        with_text=False,
        malformed_fraction=0.01,
        duplicate_fraction=0.01,
    )


def expected_findings(pipe: Pipeline, sent: int, workdir: Path) -> set[str]:
    """Finding ids of an uninterrupted run over exactly what the topic holds."""
    records = pipe.read_topic(pipe.events_topic, sent, timeout=120)
    assert len(records) == sent
    records.sort(key=lambda r: (r.partition, r.offset))
    messages = [
        RawMessage(r.topic, r.partition, r.offset, r.key, r.value, r.timestamp) for r in records
    ]
    # the worker's own handler (per-partition state), on a store of its own, in this process
    handler = build_handler(
        Settings(
            database_url=f"sqlite:///{workdir / 'reference.db'}", config=REPO / "riskwatch.yaml"
        )
    )
    handler.restore()
    ids: set[str] = set()
    for i in range(0, len(messages), 2000):
        ids |= {f.finding_id for f in handler.handle(messages[i : i + 2000]).findings}
    return ids


def report(pipe: Pipeline, traffic: DemoTraffic, what: str) -> tuple[list[str], list[str]]:
    with pipe.store.engine.connect() as conn:
        events = list(conn.execute(select(EventRecord.__table__.c.event_id)).scalars())
        findings = list(conn.execute(select(FindingRecord.__table__.c.finding_id)).scalars())
        letters = conn.execute(
            select(func.count()).select_from(DeadLetterRecord.__table__)
        ).scalar_one()
    print(
        f"\n[{what}] valid events sent {len(traffic.valid_event_ids)}, stored {len(events)} "
        f"(distinct {len(set(events))}); findings {len(findings)} (distinct {len(set(findings))}); "
        f"dead letters {letters} of {sum(traffic.malformed.values())} malformed"
    )
    return events, findings


def assert_exactly_once(
    pipe: Pipeline, traffic: DemoTraffic, what: str, expected: set[str]
) -> None:
    events, findings = report(pipe, traffic, what)
    assert Counter(events) == Counter(traffic.valid_event_ids)  # each exactly once
    assert len(findings) == len(set(findings))
    missing, extra = expected - set(findings), set(findings) - expected
    assert not missing and not extra, (
        f"{len(missing)} findings missing, {len(extra)} extra; "
        f"e.g. {sorted(missing)[:3]} {sorted(extra)[:3]}"
    )
    assert pipe.counts()[2] == sum(traffic.malformed.values())


def _kill9(proc) -> None:  # type: ignore[no-untyped-def]
    os.killpg(proc.pid, signal.SIGKILL)  # the worker and its batch process
    proc.wait()


@pytest.mark.timeout(1200)
def test_worker_sigkilled_five_times_during_50k_events(pipeline: Pipeline, tmp_path: Path) -> None:
    traffic = _traffic(pipeline, 50_000, seed=31)
    sent = pipeline.produce((m.key, m.value) for m in traffic.messages)
    proc = pipeline.start_worker()
    total = len(traffic.valid_event_ids)
    try:
        for k in range(1, 6):
            mark = total * k // 7
            wait_for(
                lambda mark=mark: pipeline.counts()[0] >= mark,
                240,
                f"{mark} events before kill {k}",
            )
            _kill9(proc)
            print(f"kill -9 #{k} at {pipeline.counts()[0]} stored events")
            proc = pipeline.start_worker()
        wait_for(
            lambda: (
                pipeline.counts()[0] >= total
                and pipeline.counts()[2] >= sum(traffic.malformed.values())
            ),
            300,
            "every event",
        )
        time.sleep(2)  # anything still in flight would show up as a duplicate now
    except AssertionError:
        print(pipeline.worker_log())
        raise
    pipeline.stop_workers()
    assert_exactly_once(
        pipeline, traffic, "5 x kill -9", expected_findings(pipeline, sent, tmp_path)
    )


@pytest.mark.timeout(900)
def test_broker_restarted_mid_stream(
    pipeline: Pipeline, kafka_broker: LocalKafka, tmp_path: Path
) -> None:
    traffic = _traffic(pipeline, 12_000, seed=32)
    half = len(traffic.messages) // 2
    sent = pipeline.produce((m.key, m.value) for m in traffic.messages[:half])
    pipeline.start_worker()
    try:
        wait_for(lambda: pipeline.counts()[0] >= 1000, 180, "the first events")
        kafka_broker.down()
        print(f"broker stopped at {pipeline.counts()[0]} stored events")
        time.sleep(5)
        kafka_broker.up(timeout=180)
        sent += pipeline.produce((m.key, m.value) for m in traffic.messages[half:])
        wait_for(
            lambda: (
                pipeline.counts()[0] >= len(traffic.valid_event_ids)
                and pipeline.counts()[2] >= sum(traffic.malformed.values())
            ),
            300,
            "every event",
        )
    except AssertionError:
        print(pipeline.worker_log())
        raise
    pipeline.stop_workers()
    assert_exactly_once(
        pipeline, traffic, "broker restart", expected_findings(pipeline, sent, tmp_path)
    )


@pytest.mark.timeout(900)
def test_database_away_for_30_seconds(pipeline: Pipeline, tmp_path: Path) -> None:
    server = LocalPostgres(tmp_path / "pg", port=free_port())
    pipeline.database_url = server.up()
    try:
        traffic = _traffic(pipeline, 12_000, seed=33)
        sent = pipeline.produce((m.key, m.value) for m in traffic.messages)
        pipeline.start_worker()
        wait_for(lambda: pipeline.counts()[0] >= 1000, 180, "the first events")
        pipeline.store.engine.dispose()
        server.stop()
        print("database stopped for 30 s")
        time.sleep(30)
        assert all(p.poll() is None for p in pipeline.procs), "the worker must wait, not exit"
        server.start()
        wait_for(
            lambda: (
                pipeline.counts()[0] >= len(traffic.valid_event_ids)
                and pipeline.counts()[2] >= sum(traffic.malformed.values())
            ),
            300,
            "every event",
        )
        pipeline.stop_workers()
        assert_exactly_once(
            pipeline, traffic, "database away 30 s", expected_findings(pipeline, sent, tmp_path)
        )
    except AssertionError:
        print(pipeline.worker_log())
        raise
    finally:
        pipeline.stop_workers()
        server.down()


@pytest.mark.timeout(900)
def test_sigterm_commits_the_batch_in_hand_and_exits_in_time(pipeline: Pipeline) -> None:
    traffic = _traffic(pipeline, 20_000, seed=34)
    pipeline.produce((m.key, m.value) for m in traffic.messages)
    proc = pipeline.start_worker()
    wait_for(lambda: pipeline.counts()[0] >= 3000, 180, "the first events")
    started = time.monotonic()
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=60)
    took = time.monotonic() - started
    stored = pipeline.counts()[0]
    print(f"\n[SIGTERM] exited with {proc.returncode} in {took:.1f} s, {stored} events stored")
    assert took < 30
    # Whatever it had taken in hand was committed with its offsets: a new worker re-reads nothing.
    pipeline.metrics_port = free_port()
    pipeline.start_worker()
    wait_for(lambda: pipeline.counts()[0] >= len(traffic.valid_event_ids), 300, "every event")
    body = (
        urllib.request.urlopen(f"http://127.0.0.1:{pipeline.metrics_port}/metrics", timeout=10)
        .read()
        .decode()
    )
    duplicates = sum(
        float(line.rsplit(" ", 1)[1])
        for line in body.splitlines()
        if line.startswith("riskwatch_duplicate_events_total ")
    )
    pipeline.stop_workers()
    events, _ = report(pipeline, traffic, "SIGTERM")
    assert Counter(events) == Counter(traffic.valid_event_ids)
    # only the producer's own re-sent copies (1%) can be duplicates, never a re-read batch (2,000)
    assert duplicates <= traffic.duplicates, duplicates
