"""Audit store on SQLite: idempotent batches, no raw text at rest, detector state, queries."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import inspect, select, text

from audit.models import EventRecord
from audit.queries import FindingFilter, find_findings, parse_since, summary
from audit.sealing import reveal_event
from audit.store import AuditBatch, AuditStore, DeadLetter, DetectorState
from core.findings import Finding, finding_id_for
from core.signals import ObservedEvent, SourceRef, StateEntries
from core.taxonomy import Category, Severity, Subcategory
from streams.batch import RawMessage
from streams.codec import DeadLetterReason, EventPolicy, InvalidMessage, decode_document
from streams.pipeline import decode_batch
from tests.dburl import as_json, db_url, dump_all

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
SECRET_IN = "My IBAN is DE89 3704 0044 0532 0130 00, call me at +49 30 1234567"
SECRET_OUT = "Dear Ms Jane O'Hara, your loan was declined."


@pytest.fixture
def store(tmp_path: Path) -> AuditStore:
    return AuditStore.from_url(db_url(tmp_path / "a.db"))


def _observed(i: int, offset: int | None = None, **extra: Any) -> ObservedEvent:
    doc = {
        "event_id": f"e{i}",
        "timestamp": "2026-11-28T12:00:00Z",
        "model": {"id": "credit-scoring", "version": "1"},
        "usage": {"latency_ms": 10.0 + i, "error": None},
    } | extra
    event, parsed = decode_document(orjson.dumps(doc))
    return ObservedEvent(
        event, SourceRef("ev", 0, i if offset is None else offset, 1_700_000), parsed
    )


def _finding(
    n: int,
    *,
    model: str = "credit-scoring",
    sub: Subcategory = Subcategory.MODEL_RELIABILITY,
    severity: Severity = Severity.LOW,
    at: datetime = T0,
) -> Finding:
    category = Category.LEGAL if sub == Subcategory.DATA_PRIVACY else Category.TECHNICAL
    return Finding(
        finding_id=finding_id_for("R", "d", "k", f"f{n}"),
        event_id=f"e{n}",
        model_id=model,
        model_version="1",
        detector="d",
        rule_id="R",
        category=category,
        subcategory=sub,
        severity=severity,
        title=f"finding {n}",
        evidence={"n": n},
        regulation_refs=["Art. 1"],
        remediation="",
        pack="core",
        pack_version="1",
        source_topic="ev",
        source_partition=0,
        source_offset=n,
        detected_at=at,
    )


def _dead(offset: int, reason: str = "invalid_json") -> DeadLetter:
    return DeadLetter.of(
        b"{oops", topic="ev", partition=0, offset=offset, reason=reason, detail="d"
    )


def _count(store: AuditStore, table: str) -> int:
    with store.engine.connect() as conn:
        return conn.execute(text(f"select count(*) from {table}")).scalar_one()


def test_writing_the_same_batch_twice_stores_everything_once(store: AuditStore) -> None:
    batch = AuditBatch(
        events=[_observed(i) for i in range(5)],
        findings=[_finding(i) for i in range(3)],
        dead_letters=[_dead(100), _dead(101, "empty_message")],
        states=[DetectorState("usage_slo", "1", {"m": 1})],
    )
    store.write(batch)
    store.write(batch)
    # a redelivery at other offsets still is the same events and findings
    store.write(
        AuditBatch(
            events=[_observed(i, offset=50 + i) for i in range(5)],
            findings=[_finding(i) for i in range(3)],
        )
    )
    assert (_count(store, "events"), _count(store, "findings"), _count(store, "dead_letters")) == (
        5,
        3,
        2,
    )
    assert _count(store, "detector_state") == 1
    # three findings, the incident they opened and the batch's events (one batch link): a replay
    # chains and opens nothing again
    assert _count(store, "audit_chain") == 3 + 1 + 1, "a replayed finding must not be chained twice"
    assert (_count(store, "incidents"), _count(store, "incident_findings")) == (1, 3)
    with store.engine.connect() as conn:
        offsets = (
            conn.execute(text("select source_offset from events order by event_id")).scalars().all()
        )
    assert offsets == [0, 1, 2, 3, 4]  # the first delivery is kept


def test_known_event_ids_with_more_than_a_thousand_ids(store: AuditStore) -> None:
    store.write(AuditBatch(events=[_observed(i) for i in range(1200)]))
    asked = [f"e{i}" for i in range(0, 2500)] + ["e5", "e5", "zzz"]
    assert store.known_event_ids(asked) == {f"e{i}" for i in range(1200)}
    assert store.known_event_ids(iter(["e1199", "e1200"])) == {"e1199"}
    assert store.known_event_ids([]) == set()


def _all_text_values(store: AuditStore) -> list[str]:
    values: list[str] = []
    with store.engine.connect() as conn:
        for table in inspect(store.engine).get_table_names():
            for row in conn.execute(text(f"select * from {table}")):
                values += [str(v) for v in row if v is not None]
    return values


def test_payload_keeps_extras_and_replaces_texts_with_length_and_hash(store: AuditStore) -> None:
    ev = _observed(
        1,
        trace_id="t-1",
        input={"features": {"a": 1}, "text": SECRET_IN, "lang": "en"},
        output={"score": 0.2, "text": SECRET_OUT},
    )
    plain = _observed(2, output={"score": 0.9})
    bad = [
        orjson.dumps(
            {
                "event_id": "b",
                "timestamp": SECRET_IN,
                "model": {"id": "m", "version": "1"},
                "input": {"text": SECRET_IN},
            }
        ),
        orjson.dumps({"schema": "x/v9", "input": {"text": SECRET_OUT}}),
        SECRET_IN.encode(),
    ]
    letters = decode_batch(
        [RawMessage("ev", 1, i, None, b) for i, b in enumerate(bad)], EventPolicy()
    )
    assert len(letters.rejected) == 3
    store.write(
        AuditBatch(
            events=[ev, plain],
            findings=[_finding(1)],
            dead_letters=[d for _, d in letters.rejected],
        )
    )
    with store.engine.connect() as conn:
        rows = dict(conn.execute(text("select event_id, payload from events")).all())
    payload = as_json(rows["e1"])
    assert payload["trace_id"] == "t-1" and payload["input"]["lang"] == "en"
    assert payload["input"]["features"] == {"a": 1} and payload["output"]["score"] == 0.2
    for part, secret in (("input", SECRET_IN), ("output", SECRET_OUT)):
        assert payload[part]["text"] == {
            "length": len(secret),
            "sha256": hashlib.sha256(secret.encode()).hexdigest(),
        }
    assert as_json(rows["e2"])["output"] == {"score": 0.9}
    dump = "\n".join(_all_text_values(store))
    assert hashlib.sha256(bad[2]).hexdigest() in dump  # dead letters keep only hash and size
    for secret in (SECRET_IN, SECRET_OUT, "DE89 3704", "Jane O'Hara"):
        assert secret not in dump
    assert ev.document is not None and ev.document["input"]["text"] == SECRET_IN, (
        "the received document must not be mutated"
    )


def test_redacted_text_is_stored_instead_of_the_hash(store: AuditStore) -> None:
    ev = _observed(1, input={"text": SECRET_IN})
    store.write(
        AuditBatch(events=[ev], redactions={"e1": {"input.text": "My IBAN is <IBAN_CODE>"}})
    )
    with store.engine.connect() as conn:
        payload = as_json(conn.execute(text("select payload from events")).scalar_one())
    # sealed under the event's data key (a key per tenant and day: the event has no user_ref)
    stored = payload["input"]["text"]
    assert stored["length"] == len(SECRET_IN) and stored["redacted"]["_sealed"] == "A256GCM"
    dump = "\n".join(_all_text_values(store))
    assert SECRET_IN not in dump and "IBAN is" not in dump
    revealed = reveal_event(store.engine, store.keys, "e1", actor="dpo", reason="t", now=T0)
    assert revealed is not None
    assert revealed["texts"] == {"input.text": "My IBAN is <IBAN_CODE>"}


def test_detector_state_upsert_and_load_by_scope(store: AuditStore) -> None:
    store.write(
        AuditBatch(
            states=[
                DetectorState("a", "1", {"n": 1}),
                DetectorState("b", "1", {"n": [1, 2]}),
                DetectorState("a", "1", {"n": 99}, scope="p3"),
            ]
        )
    )
    store.write(AuditBatch(states=[DetectorState("a", "2", {"n": 2, "k": {"x": 0.5}})]))
    assert _count(store, "detector_state") == 3
    assert store.load_states() == {
        "a": DetectorState("a", "2", {"n": 2, "k": {"x": 0.5}}),
        "b": DetectorState("b", "1", {"n": [1, 2]}),
    }
    assert store.load_states("p3") == {"a": DetectorState("a", "1", {"n": 99}, "p3")}
    assert store.load_states("nowhere") == {}


def test_state_entries_are_written_and_deleted_one_by_one(store: AuditStore) -> None:
    def state(
        version: str,
        upserts: dict[str, Any],
        deletes: set[str] | None = None,
        scope: str = "global",
    ) -> AuditBatch:
        entries = StateEntries(upserts, deletes or set())
        return AuditBatch(states=[DetectorState("f", version, {"n": 1}, scope, entries)])

    store.write(state("1", {f"p:{i}": [i, "x"] for i in range(1200)}))
    store.write(
        state("1", {"p:5": [5, "changed"], "l:9": [9]}, {f"p:{i}" for i in range(1000)} - {"p:5"})
    )
    store.write(state("1", {"p:0": [0]}, scope="p1"))
    loaded = store.load_states()["f"]
    assert loaded.entries is not None
    assert loaded.entries.upserts == {
        "p:5": [5, "changed"],
        "l:9": [9],
        **{f"p:{i}": [i, "x"] for i in range(1000, 1200)},
    }
    assert store.load_states("p1")["f"].entries == StateEntries({"p:0": [0]})
    store.write(state("1", {}, {"p:5", "l:9", *(f"p:{i}" for i in range(1000, 1200))}))
    assert store.load_states()["f"].entries is None
    assert _count(store, "detector_state_entries") == 1  # scope p1's
    # another version's entries are not loaded with this version's state
    store.write(state("2", {}, scope="p1"))
    assert store.load_states("p1")["f"].entries is None


def test_summary_shape_and_counts(store: AuditStore) -> None:
    assert summary(store.engine) == {
        "events": 0,
        "feedback": 0,
        "findings": {},
        "findings_by_subcategory": {},
        "findings_by_severity": {},
        "incidents_by_status": {},
        "open_incidents_by_subcategory": {},
        "dead_letters": 0,
        "dead_letters_by_reason": {},
    }
    store.write(
        AuditBatch(
            events=[_observed(i) for i in range(4)],
            findings=[
                _finding(1),
                _finding(2, severity=Severity.HIGH),
                _finding(3, sub=Subcategory.DATA_PRIVACY, severity=Severity.HIGH),
            ],
            dead_letters=[_dead(7), _dead(8), _dead(9, "too_large")],
        )
    )
    assert summary(store.engine) == {
        "events": 4,
        "feedback": 0,
        "findings": {"legal": 1, "technical": 2},
        "findings_by_subcategory": {"data_privacy": 1, "model_reliability": 2},
        "findings_by_severity": {"high": 2, "low": 1},
        # the three findings are of one rule and one model: one incident
        "incidents_by_status": {"open": 1},
        "open_incidents_by_subcategory": {"model_reliability": 1},
        "dead_letters": 3,
        "dead_letters_by_reason": {"invalid_json": 2, "too_large": 1},
    }


def test_find_findings_filters_and_order(store: AuditStore) -> None:
    findings = [
        _finding(1, at=T0),
        _finding(2, at=T0 + timedelta(minutes=10), severity=Severity.HIGH),
        _finding(3, at=T0 + timedelta(minutes=20), model="support-assistant"),
        _finding(4, at=T0 + timedelta(minutes=5), sub=Subcategory.DATA_PRIVACY),
        _finding(5, at=T0 + timedelta(minutes=10)),  # same time as 2: ties by finding_id
    ]
    store.write(AuditBatch(findings=findings))
    by_id = {f.finding_id: f.event_id for f in findings}

    def ids(**kw: Any) -> list[str | None]:
        return [by_id[r["finding_id"]] for r in find_findings(store.engine, FindingFilter(**kw))]

    everything = ids()
    assert [everything[0], *sorted(everything[1:3]), *everything[3:]] == [
        "e3",
        "e2",
        "e5",
        "e4",
        "e1",
    ]
    tied = [f.finding_id for f in findings if f.event_id in everything[1:3]]
    tie_order = [by_id[i] for i in sorted(tied)]
    assert everything[1:3] in (tie_order, tie_order[::-1]), "ties must be ordered by finding_id"
    assert ids() == everything
    assert ids(model="support-assistant") == ["e3"]
    assert ids(category="legal") == ["e4"] and ids(subcategory="data_privacy") == ["e4"]
    assert set(ids(category="technical")) == {"e1", "e2", "e3", "e5"}
    assert ids(severity="high") == ["e2"]
    assert set(ids(since=T0 + timedelta(minutes=10))) == {"e2", "e3", "e5"}  # inclusive
    assert set(ids(since=T0 + timedelta(minutes=10), severity="low")) == {"e3", "e5"}
    assert ids(limit=2) == ids()[:2] and ids(model="nobody") == []
    row = find_findings(store.engine, FindingFilter(model="support-assistant"))[0]
    assert row["evidence"] == {"n": 3} and row["regulation_refs"] == ["Art. 1"]
    assert row["detected_at"].replace(tzinfo=None) == (T0 + timedelta(minutes=20)).replace(
        tzinfo=None
    )


def test_since_with_a_non_utc_offset_means_the_same_instant(store: AuditStore) -> None:
    store.write(AuditBatch(findings=[_finding(1, at=T0 + timedelta(minutes=30))]))  # 12:30Z
    since = parse_since("2026-11-28T14:00:00+02:00")  # = 12:00Z
    assert len(find_findings(store.engine, FindingFilter(since=since))) == 1
    assert (
        find_findings(store.engine, FindingFilter(since=parse_since("2026-11-28T14:45:00+02:00")))
        == []
    )


NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("30m", NOW - timedelta(minutes=30)),
        ("2d", NOW - timedelta(days=2)),
        ("45s", NOW - timedelta(seconds=45)),
        ("24h", NOW - timedelta(hours=24)),
        ("1w", NOW - timedelta(weeks=1)),
        (" 15 m ", NOW - timedelta(minutes=15)),
        ("2026-11-27T08:00:00Z", datetime(2026, 11, 27, 8, tzinfo=UTC)),
        ("2026-11-27T10:00:00+02:00", datetime(2026, 11, 27, 8, tzinfo=UTC)),
        ("2026-11-27T08:00:00", datetime(2026, 11, 27, 8, tzinfo=UTC)),  # naive: UTC
    ],
)
def test_parse_since(value: str, expected: datetime) -> None:
    parsed = parse_since(value, now=NOW)
    assert parsed == expected and parsed.tzinfo is not None


@pytest.mark.parametrize("value", ["yesterday", "30x", "-5m", "", "2026-13-01T00:00:00Z", "m30"])
def test_parse_since_rejects_bad_input_helpfully(value: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_since(value, now=NOW)
    msg = str(info.value)
    assert repr(value) in msg and "30m" in msg and "2026-11-28T12:00:00Z" in msg


def test_event_timestamps_with_an_offset_are_stored_in_utc(store: AuditStore) -> None:
    ev = _observed(1, timestamp="2026-11-28T14:00:00+02:00")  # 12:00Z
    store.write(AuditBatch(events=[ev]))
    with store.engine.connect() as conn:
        stored = conn.execute(text("select timestamp from events")).scalar_one()
    assert str(stored).startswith("2026-11-28 12:00:00"), (
        f"events.timestamp stored as {stored!r}, the local wall clock of a +02:00 event: SQLite "
        "drops the offset, so audit/store.py _event_row must convert it to UTC first"
    )


# ------------------------------------------------------------- bug found (fails on purpose)
def _nested_event(depth: int) -> bytes:
    deep = b'{"x":' * depth + b"1" + b"}" * depth
    return (
        orjson.dumps(
            {
                "event_id": f"deep-{depth}",
                "timestamp": "2026-11-28T12:00:00Z",
                "model": {"id": "m", "version": "1"},
            }
        )[:-1]
        + b',"extra":'
        + deep
        + b"}"
    )


def test_every_event_the_codec_accepts_can_be_stored(store: AuditStore) -> None:
    limit = EventPolicy().max_depth
    # orjson.loads accepts 1024 levels but the JSON column's encoder only 254: the codec must
    # refuse what the store cannot write, or the handler would retry that batch forever.
    event, doc = decode_document(_nested_event(limit - 1))  # top level + extra = limit
    store.write(AuditBatch(events=[ObservedEvent(event, SourceRef("ev", 0, 0), doc)]))
    assert store.known_event_ids([event.event_id]) == {event.event_id}
    for depth in (limit, 300, 1000):
        with pytest.raises(InvalidMessage) as info:
            decode_document(_nested_event(depth))
        assert info.value.reason == DeadLetterReason.INVALID_EVENT
        assert "levels deep" in info.value.detail


def test_scalar_json_values_read_back_as_written(store: AuditStore) -> None:
    # SQLite's numeric affinity turns JSON text such as '1' into a number; reading must cope.
    preds = {"e1": 1, "e2": 0.25, "e3": "fraud", "e4": True, "e5": [1, 2]}
    store.write(
        AuditBatch(
            events=[_observed(int(k[1]), output={"prediction": v}) for k, v in preds.items()]
        )
    )
    t = EventRecord.__table__
    with store.engine.connect() as conn:
        got = dict(conn.execute(select(t.c.event_id, t.c.prediction)).all())
    assert got == preds


CLOUD_KEY = "AKIAIOSFODNN7EXAMPLQ"


def test_a_leaked_cloud_key_is_masked_in_stored_texts_and_evidence(store: AuditStore) -> None:
    """The PII redaction does not know credentials: the store masks them in the redacted text it
    keeps and in any evidence quoting the event, so no reader of the store or the API gets it."""
    leaked = f"Sure, use key {CLOUD_KEY} for Jane"
    ev = _observed(1, output={"text": leaked})
    quoting = _finding(1)
    quoting.evidence["quote"] = f"key {CLOUD_KEY}"
    store.write(
        AuditBatch(
            events=[ev],
            findings=[quoting],
            redactions={"e1": {"output.text": f"Sure, use key {CLOUD_KEY} for <PERSON>"}},
        )
    )
    assert CLOUD_KEY not in dump_all(store.engine)
    from audit.trail import finding_trail

    trail = finding_trail(store.engine, quoting.finding_id)
    assert trail is not None and CLOUD_KEY not in orjson.dumps(trail, default=str).decode()
    assert "<SECRET>" in orjson.dumps(trail["evidence"]).decode()
