"""End to end against the real broker: simulated traffic → worker → audit store and topics."""

from __future__ import annotations

import os
import re
import signal
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import orjson
import pytest
from sqlalchemy import select

from audit.models import DeadLetterRecord, EventRecord, FindingRecord
from audit.sealing import DataKeys, open_sealed, text_aad
from core.model_registry import load_registry
from riskwatch.simulator import DemoTraffic, demo_traffic
from tests.deliberate import DELIBERATE, DELIBERATE_WINDOWS, is_deliberate
from tests.integration.conftest import make_pipeline
from tests.integration.harness import REPO, Pipeline, free_port, wait_for

pytestmark = pytest.mark.integration


@dataclass
class Played:
    pipe: Pipeline
    traffic: DemoTraffic
    resent: list[tuple[bytes, bytes]]
    metrics: str = ""


@pytest.fixture(scope="module")
def played(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Played]:
    pipe = make_pipeline(kafka_bootstrap, tmp_path_factory.mktemp("played"))
    pipe.metrics_port = free_port()
    traffic = demo_traffic(
        1500,
        registry=load_registry(REPO / "riskwatch.yaml"),
        seed=11,
        run_id=pipe.tag,
        malformed_fraction=0.03,
        duplicate_fraction=0.03,
    )
    pipe.produce((m.key, m.value) for m in traffic.messages)
    pipe.start_worker()
    want_dead = sum(traffic.malformed.values())
    try:
        wait_for(
            lambda: (
                pipe.counts()[0] >= len(traffic.valid_event_ids) and pipe.counts()[2] >= want_dead
            ),
            120,
            "the first pass to be stored",
        )
        # Re-send valid events that are already stored: a second delivery must store nothing.
        resent = [(m.key, m.value) for m in traffic.messages if m.kind == "valid"][:200]
        pipe.produce([*resent, (b"x", b"{broken")])
        wait_for(lambda: pipe.counts()[2] >= want_dead + 1, 60, "the marker dead letter")
    except AssertionError:
        print(pipe.worker_log())
        raise
    played = Played(pipe, traffic, resent)
    url = f"http://127.0.0.1:{pipe.metrics_port}/metrics"

    def scraped() -> bool:  # while the worker runs; consumer lag is sampled every second
        played.metrics = urllib.request.urlopen(url, timeout=10).read().decode()
        # the worker counts a batch once it has published what the batch committed, so the
        # marker's row can be in the store a moment before it is in the counters
        return (
            "riskwatch_consumer_lag{" in played.metrics
            and _metric(played.metrics, "riskwatch_dead_letters_total") >= want_dead + 1
        )

    wait_for(scraped, 30, "the consumer-lag metric and the marker's dead letter counted")
    yield played
    pipe.stop_workers()


def test_every_valid_event_is_stored_exactly_once(played: Played) -> None:
    with played.pipe.store.engine.connect() as conn:
        ids = list(conn.execute(select(EventRecord.__table__.c.event_id)).scalars())
    assert len(ids) == len(set(ids))
    assert set(ids) == set(played.traffic.valid_event_ids)
    assert played.traffic.duplicates > 0 and len(played.resent) == 200


def test_texts_are_stored_only_redacted(played: Played) -> None:
    texts = [
        orjson.loads(m.value)["input"]["text"]
        for m in played.traffic.messages
        if m.kind == "valid" and b'"text"' in m.value
    ]
    emails = {e for t in texts for e in re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", t)}
    assert texts and emails, "the simulated traffic should contain texts, some with e-mails"
    store = played.pipe.store
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(EventRecord.__table__.c.event_id, EventRecord.__table__.c.payload)
        ).all()
        payloads = [p for _, p in rows]
        stored = {e: p["input"]["text"] for e, p in rows if "text" in p.get("input", {})}
        assert len(stored) == len(texts)
        forms = Counter(tuple(sorted(s)) for s in stored.values())
        assert set(forms) == {("length", "redacted")}, forms
        # sealed (audit/sealing.py): opened here with the suite's key file
        ciphers = DataKeys(store.keys).by_ids(conn, {s["redacted"]["dk"] for s in stored.values()})
    opened = "\n".join(
        open_sealed(ciphers, s["redacted"], text_aad(e, "input.text")) or ""
        for e, s in stored.items()
    )
    assert "<EMAIL_ADDRESS>" in opened and "<PERSON>" in opened
    blob = "\n".join(orjson.dumps(p).decode() for p in payloads)
    assert "<EMAIL_ADDRESS>" not in blob  # nothing readable at rest, not even the redaction
    for email in emails:
        assert email not in blob and email not in opened


def test_slo_findings_carry_taxonomy_and_kafka_coordinates(played: Played) -> None:
    pipe = played.pipe
    with pipe.store.engine.connect() as conn:
        rows = conn.execute(select(FindingRecord.__table__)).mappings().all()
    rows = [r for r in rows if r["detector"] == "usage_slo"]
    rules = Counter(r["rule_id"] for r in rows)
    assert rules["RW-TR-001"] > 0 and rules["RW-TR-002"] > 0, rules
    for row in rows:
        assert (row["category"], row["subcategory"]) == ("technical", "model_reliability")
        assert row["pack"] == "core"
        assert row["source_topic"] == pipe.events_topic
    for row in [r for r in rows if r["event_id"]][:15]:
        record = pipe.read_at(row["source_topic"], row["source_partition"], row["source_offset"])
        assert orjson.loads(record.value)["event_id"] == row["event_id"]
    high = [r for r in rows if r["model_id"] == "credit-scoring" and r["rule_id"] == "RW-TR-001"]
    assert all("EU AI Act Art. 15(1)" in r["regulation_refs"] for r in high)


def test_findings_are_published_to_the_findings_topic(played: Played) -> None:
    pipe = played.pipe
    stored = pipe.count(FindingRecord)
    records = pipe.read_topic(pipe.findings_topic, stored)
    published = {orjson.loads(r.value)["finding_id"] for r in records}
    with pipe.store.engine.connect() as conn:
        ids = set(conn.execute(select(FindingRecord.__table__.c.finding_id)).scalars())
    assert published == ids


def test_every_malformed_kind_is_dead_lettered_with_its_reason(played: Played) -> None:
    pipe, traffic = played.pipe, played.traffic
    expected = Counter(traffic.malformed)
    expected["invalid_json"] += 1  # the marker sent after the first pass
    with pipe.store.engine.connect() as conn:
        reasons = Counter(conn.execute(select(DeadLetterRecord.__table__.c.reason)).scalars())
    assert reasons == expected
    records = pipe.read_topic(pipe.dlq_topic, sum(expected.values()))
    dlq_reasons = Counter(dict(r.headers)["riskwatch-dlq-reason"].decode() for r in records)
    assert dlq_reasons == expected
    for record in records:
        headers = dict(record.headers)
        assert headers["riskwatch-source"].decode().startswith(pipe.events_topic + "/")
        assert headers["riskwatch-dlq-detail"]


def test_worker_killed_mid_stream_loses_and_duplicates_nothing(pipeline: Pipeline) -> None:
    registry = load_registry(REPO / "riskwatch.yaml")
    traffic = demo_traffic(
        20000,
        registry=registry,
        seed=5,
        run_id=pipeline.tag,
        with_text=False,
        malformed_fraction=0.0,
        duplicate_fraction=0.0,
    )
    pipeline.produce((m.key, m.value) for m in traffic.messages)
    first = pipeline.start_worker()
    wait_for(lambda: pipeline.counts()[0] > 0, 90, "the first batch")
    # SIGKILL to the worker and its batch process: no clean shutdown, and the offsets of the
    # batches in flight are not committed.
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    pipeline.start_worker()
    try:
        wait_for(lambda: pipeline.counts()[0] >= len(traffic.valid_event_ids), 120, "all events")
    except AssertionError:
        print(pipeline.worker_log())
        raise
    with pipeline.store.engine.connect() as conn:
        ids = list(conn.execute(select(EventRecord.__table__.c.event_id)).scalars())
    assert len(ids) == len(set(ids)) == len(traffic.valid_event_ids)


def _metric(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        series, _, value = line.rpartition(" ")
        metric, _, rest = series.partition("{")
        if metric == name and all(f'{k}="{v}"' in rest for k, v in labels.items()):
            total += float(value)
    return total


def test_the_worker_exports_prometheus_metrics(played: Played) -> None:
    text, pipe = played.metrics, played.pipe
    assert _metric(text, "riskwatch_events_total") == len(played.traffic.valid_event_ids)
    assert (
        _metric(text, "riskwatch_dead_letters_total") == sum(played.traffic.malformed.values()) + 1
    )
    assert _metric(text, "riskwatch_duplicate_events_total") >= 200
    stored = pipe.count(FindingRecord)
    assert _metric(text, "riskwatch_findings_total") == stored
    assert _metric(text, "riskwatch_findings_total", category="technical") > 0
    for detector in ("usage_slo", "anomaly", "drift", "pii"):
        assert _metric(text, "riskwatch_detector_seconds_count", detector=detector) > 0
    assert "riskwatch_consumer_lag{" in text


def test_demo_traffic_raises_policy_rules_only_on_its_injected_risks(played: Played) -> None:
    docs = {
        d["event_id"]: d
        for d in (orjson.loads(m.value) for m in played.traffic.messages if m.kind == "valid")
    }
    with played.pipe.store.engine.connect() as conn:
        rows = conn.execute(select(FindingRecord.__table__)).mappings().all()
    policy = [r for r in rows if r["detector"] == "policy"]
    assert {r["rule_id"] for r in policy} <= set(DELIBERATE) | set(DELIBERATE_WINDOWS), Counter(
        r["rule_id"] for r in policy
    )
    for row in policy:  # a window rule's finding names the event that tipped it by its offset
        if row["event_id"] is None:
            record = played.pipe.read_at(
                row["source_topic"], row["source_partition"], row["source_offset"]
            )
            doc = orjson.loads(record.value)
        else:
            doc = docs[row["event_id"]]
        assert is_deliberate(row["rule_id"], doc, row["evidence"], docs.values()), row
    # and the injected risks are there to be found
    assert {"RW-TS-001", "RW-LR-004"} <= {r["rule_id"] for r in policy}
