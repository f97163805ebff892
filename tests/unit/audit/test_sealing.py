"""Texts at rest sealed per data subject (audit/sealing.py): readers see a placeholder, an
operator's reveal opens them and is chained, an erasure destroys the subject's data key so that
no canary of the subject is left in any table nor in the raw database files, and key rotation
re-wraps the data keys."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from audit import chain
from audit.api.app import create_app
from audit.keys import init_key_file, load_keys, rotate_key_file
from audit.removal.erasure import erase_subject
from audit.sealing import DATA_KEYS, REVEALS, keks_in_use, reveal_event, rewrap, subject_scope
from audit.store import AuditBatch, AuditStore
from audit.tokens import create_token
from audit.trail import finding_trail
from audit.verify import verify
from core.findings import Finding, finding_id_for
from core.signals import ObservedEvent, SourceRef
from core.taxonomy import Category, Severity, Subcategory
from streams.codec import decode_document
from tests.dburl import db_url, dump_all, is_postgres

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
SUBJECT = "acct-000731"
OTHER = "acct-000732"
CANARY = "zebracanary4412"  # said by the subject; not PII, so the redaction keeps it
QUOTE = f"about {CANARY} now"  # quotes the event: sealed with it


def _event(eid: str, ref: str | None, said: str) -> ObservedEvent:
    doc: dict[str, Any] = {
        "event_id": eid,
        "timestamp": "2026-11-28T12:00:00Z",
        "model": {"id": "support-bot", "version": "1"},
        "tenant": "acme",
        "input": {"text": said},
        "output": {"text": "Noted."},
    }
    if ref:
        doc["context"] = {"user_ref": ref}
    event, parsed = decode_document(orjson.dumps(doc))
    return ObservedEvent(event, SourceRef("ev", 0, int(eid[1:]), 1_700_000), parsed)


def _finding(eid: str, quote: str) -> Finding:
    return Finding(
        finding_id=finding_id_for("R", "d", "k", eid),
        event_id=eid,
        model_id="support-bot",
        model_version="1",
        detector="d",
        rule_id="R",
        category=Category.LEGAL,
        subcategory=Subcategory.DATA_PRIVACY,
        severity=Severity.MEDIUM,
        title="quoted",
        evidence={"quote": quote, "count": 1},
        regulation_refs=["GDPR Art. 5"],
        remediation="",
        pack="core",
        pack_version="1",
        source_topic="ev",
        source_partition=0,
        source_offset=int(eid[1:]),
        detected_at=T0,
    )


def _filled(db: Path) -> AuditStore:
    store = AuditStore.from_url(db_url(db))
    said = f"Call me about {CANARY} now on +49 30 1234567"
    events = [
        _event("e1", SUBJECT, said),
        _event("e2", OTHER, "hello there"),
        _event("e3", None, said),
    ]
    store.write(
        AuditBatch(
            events=events,
            findings=[_finding("e1", QUOTE), _finding("e3", QUOTE)],
            redactions={
                "e1": {"input.text": f"Call me about {CANARY} now on <PHONE_NUMBER>"},
                "e2": {"input.text": "hello there"},
                "e3": {"input.text": f"Call me about {CANARY} now on <PHONE_NUMBER>"},
            },
        )
    )
    return store


def _raw_files(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (db, Path(f"{db}-wal")) if p.exists())


def test_texts_are_sealed_per_subject_and_readers_see_a_placeholder(tmp_path: Path) -> None:
    store = _filled(tmp_path / "s.db")
    dump = dump_all(store.engine)
    assert CANARY not in dump and "Call me" not in dump and SUBJECT not in dump
    with store.engine.connect() as conn:
        scopes = set(conn.execute(select(DATA_KEYS.c.scope)).scalars())
    assert subject_scope(store.keys.ref_hash(SUBJECT)) in scopes
    assert subject_scope(store.keys.ref_hash(OTHER)) in scopes
    assert "day:2026-11-28|acme" in scopes  # e3 has no user_ref: the tenant's key of the day
    trail = finding_trail(store.engine, finding_id_for("R", "d", "k", "e1"))
    assert trail is not None
    assert trail["evidence"] == {"quote": "<sealed>", "count": 1}
    assert trail["event"]["payload"]["input"]["text"]["redacted"] == "<sealed>"
    assert verify(store.engine).ok


def test_reveal_needs_the_operator_role_and_is_chained(tmp_path: Path) -> None:
    store = _filled(tmp_path / "r.db")
    client = TestClient(create_app(engine=store.engine))
    _, auditor = create_token(store.engine, role="auditor", name="aud")
    _, operator = create_token(store.engine, role="operator", name="ops")
    assert client.get("/events/e1/text").status_code == 401
    denied = client.get("/events/e1/text", headers={"Authorization": f"Bearer {auditor}"})
    assert denied.status_code == 403
    shown = client.get(
        "/findings/" + finding_id_for("R", "d", "k", "e1"),
        headers={"Authorization": f"Bearer {auditor}"},
    )
    assert shown.status_code == 200 and CANARY not in shown.text and "<sealed>" in shown.text
    got = client.get(
        "/events/e1/text",
        params={"reason": "DSR-9 access request"},
        headers={"Authorization": f"Bearer {operator}"},
    )
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["texts"]["input.text"] == f"Call me about {CANARY} now on <PHONE_NUMBER>"
    fid = finding_id_for("R", "d", "k", "e1")
    assert body["evidence"][fid] == {"quote": QUOTE, "count": 1}
    assert (
        client.get("/events/nope/text", headers={"Authorization": f"Bearer {operator}"}).status_code
        == 404
    )
    with store.engine.connect() as conn:
        reveal = conn.execute(select(REVEALS)).mappings().one()
        link = chain.entry_for(conn, "reveal", str(reveal["id"]))
    assert reveal["actor"] == "ops" and reveal["event_id"] == "e1"
    assert reveal["reason"] == "DSR-9 access request"
    assert reveal["fields"] == ["input.text", f"evidence:{fid}"]
    assert link is not None and body["reveal"]["chain_seq"] == link["seq"]
    assert verify(store.engine).ok
    with store.engine.begin() as conn:  # who read it cannot be rewritten
        conn.execute(update(REVEALS).values(actor="someone-else"))
    broken = verify(store.engine)
    assert not broken.ok and broken.broken is not None and broken.broken.kind == "reveal"


def test_erasure_destroys_the_subjects_key_and_leaves_no_canary(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    store = _filled(db)
    scope = subject_scope(store.keys.ref_hash(SUBJECT))
    with store.engine.connect() as conn:
        wrapped = conn.execute(
            select(DATA_KEYS.c.wrapped).where(DATA_KEYS.c.scope == scope)
        ).scalar_one()
    assert verify(store.engine).ok
    result = erase_subject(store.engine, SUBJECT, reason="DSR-1", by="dpo", now=T0, keys=store.keys)
    assert result.data_keys == 1 and result.events == 1
    with store.engine.connect() as conn:
        assert conn.execute(select(DATA_KEYS).where(DATA_KEYS.c.scope == scope)).first() is None
        assert chain.entry_for(conn, "erasure", str(result.removal_id)) is not None
    dump = dump_all(store.engine)
    for canary in (CANARY, SUBJECT, wrapped):
        assert canary not in dump
    if not is_postgres():
        raw = _raw_files(db)
        for canary in (CANARY, SUBJECT, wrapped):
            assert canary.encode() not in raw
    assert verify(store.engine).ok
    # the other subject and the tenant's day key are untouched
    other = reveal_event(store.engine, store.keys, "e2", actor="ops", reason="t", now=T0)
    assert other is not None and other["texts"]["input.text"] == "hello there"
    anon = reveal_event(store.engine, store.keys, "e3", actor="ops", reason="t", now=T0)
    assert anon is not None and CANARY in anon["texts"]["input.text"]
    assert verify(store.engine).ok


def test_a_sealed_text_copied_elsewhere_is_unreadable_after_the_erasure(tmp_path: Path) -> None:
    """A backup or export keeps the ciphertext; the destroyed key makes it unreadable."""
    store = _filled(tmp_path / "b.db")
    with store.engine.connect() as conn:
        backup = conn.execute(
            select(chain.FINDINGS.c.evidence).where(chain.FINDINGS.c.event_id == "e1")
        ).scalar_one()
    erase_subject(store.engine, SUBJECT, reason="DSR-2", by="dpo", now=T0, keys=store.keys)
    with store.engine.begin() as conn:  # the backup restored over the erased stub
        conn.execute(
            update(chain.FINDINGS).where(chain.FINDINGS.c.event_id == "e1").values(evidence=backup)
        )
    opened = reveal_event(store.engine, store.keys, "e1", actor="ops", reason="t", now=T0)
    assert opened is not None
    assert opened["evidence"][finding_id_for("R", "d", "k", "e1")]["quote"] == "<erased>"


def test_rotation_rewraps_the_data_keys_and_retires_the_old_kek(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    init_key_file(path)
    store = AuditStore.from_url(db_url(tmp_path / "k.db"), keys=load_keys(path))
    store.write(
        AuditBatch(
            events=[_event("e1", SUBJECT, f"x {CANARY}")],
            redactions={"e1": {"input.text": f"x {CANARY}"}},
        )
    )
    old = load_keys(path).kek_kid
    ring = rotate_key_file(path)
    assert ring.kek_kid != old and keks_in_use(store.engine) == {old}
    assert rewrap(store.engine, ring) == 1
    assert keks_in_use(store.engine) == {ring.kek_kid}
    retired = ring.retiring_keks(keks_in_use(store.engine))
    assert [k for k, _ in retired.keks] == [ring.kek_kid]
    opened = reveal_event(store.engine, retired, "e1", actor="ops", reason="t", now=T0)
    assert opened is not None and opened["texts"]["input.text"] == f"x {CANARY}"
    with pytest.raises(KeyError):
        retired.kek(old)


def test_cli_rotate_rewraps_retires_and_reveal_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from core.settings import get_settings
    from riskwatch.cli import main

    path, db = tmp_path / "keys.json", tmp_path / "c.db"
    init_key_file(path)
    old = load_keys(path).kek_kid
    store = AuditStore.from_url(db_url(db), keys=load_keys(path))
    store.write(
        AuditBatch(
            events=[_event("e1", SUBJECT, f"x {CANARY}")],
            redactions={"e1": {"input.text": f"x {CANARY}"}},
        )
    )
    monkeypatch.setenv("RISKWATCH_KEY_FILE", str(path))
    monkeypatch.setenv("RISKWATCH_DATABASE_URL", db_url(db))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        done = runner.invoke(main, ["keys", "rotate", "--retire-old"])
        assert done.exit_code == 0, done.output
        assert "re-wrapped 1 data keys" in done.output and f"retired KEKs: {old}" in done.output
        ring = load_keys(path)
        assert [k for k, _ in ring.keks] == [ring.kek_kid] != [old]
        shown = runner.invoke(main, ["audit", "reveal", "e1", "--by", "dpo", "--reason", "DSR-3"])
        assert shown.exit_code == 0, shown.output
        assert orjson.loads(shown.stdout)["texts"]["input.text"] == f"x {CANARY}"
        assert runner.invoke(main, ["audit", "verify"]).exit_code == 0
    finally:
        get_settings.cache_clear()


def test_erasure_reaches_pending_fairness_entries_and_a_late_label_is_not_stored(
    tmp_path: Path,
) -> None:
    from audit.models import DetectorStateEntryRecord, FeedbackRecord
    from audit.store import DetectorState
    from core.signals import ObservedFeedback, StateEntries

    store = _filled(tmp_path / "f.db")
    entries = {
        "p:e1": ["support-bot", "1", {"gender": "f"}, 1, {}, 0.0, 1],
        "p:e2": ["support-bot", "1", {"gender": "m"}, 0, {}, 0.0, 2],
    }
    store.write(
        AuditBatch(states=[DetectorState("fairness", "3", {}, "global", StateEntries(entries))])
    )
    erase_subject(store.engine, SUBJECT, reason="DSR-4", by="dpo", now=T0, keys=store.keys)
    table = DetectorStateEntryRecord.__table__
    with store.engine.connect() as conn:
        assert set(conn.execute(select(table.c.key)).scalars()) == {"p:e2"}
    labels = []
    for eid in ("e1", "e2"):
        doc = {
            "schema": "riskwatch.feedback/v1",
            "event_id": eid,
            "timestamp": "2026-11-28T13:00:00Z",
            "model": {"id": "support-bot"},
            "label": 1,
        }
        fb, parsed = decode_document(orjson.dumps(doc))
        labels.append(ObservedFeedback(fb, SourceRef("fb", 0, len(labels), 1), parsed))
    assert store.erased_event_ids(["e1", "e2", "e3"]) == {"e1"}
    store.write(AuditBatch(feedback=labels))
    with store.engine.connect() as conn:
        stored = set(conn.execute(select(FeedbackRecord.__table__.c.event_id)).scalars())
    assert stored == {"e2"}
    assert verify(store.engine).ok


def test_through_the_worker_batch_path_an_erased_subject_leaves_no_canary(tmp_path: Path) -> None:
    """The real batch handler (PII redaction, detectors, policies): what the subject wrote is
    stored sealed, and after the erasure neither it nor their wrapped key is anywhere."""
    from streams.batch import RawMessage
    from tests.unit.audit.audit_helpers import make_handler

    db = tmp_path / "w.db"
    handler = make_handler(db)
    msgs = []
    for i, (ref, said) in enumerate(
        [
            (SUBJECT, f"Hi, I am Jane Miller, my code word is {CANARY}, email jane@example.com"),
            (OTHER, "What are your opening hours?"),
            (SUBJECT, f"Again me: {CANARY} still does not work"),
        ]
    ):
        doc = {
            "event_id": f"w{i}",
            "timestamp": "2026-11-28T12:00:00Z",
            "model": {"id": "support-assistant", "version": "2026.11-support"},
            "context": {"user_ref": ref},
            "input": {"text": said},
            "output": {"text": f"Thanks, noted {CANARY}." if ref == SUBJECT else "9 to 5."},
        }
        msgs.append(RawMessage("ev", 0, i, b"k", orjson.dumps(doc)))
    handler.handle(msgs)
    engine, keys = handler.store.engine, handler.store.keys
    for canary in (CANARY, "Jane Miller", "jane@example.com", SUBJECT):
        assert canary not in dump_all(engine)
    opened = reveal_event(engine, keys, "w0", actor="ops", reason="t", now=T0)
    assert opened is not None and CANARY in opened["texts"]["input.text"]
    assert "jane@example.com" not in opened["texts"]["input.text"]  # redacted before sealing
    scope = subject_scope(keys.ref_hash(SUBJECT))
    with engine.connect() as conn:
        wrapped = conn.execute(
            select(DATA_KEYS.c.wrapped).where(DATA_KEYS.c.scope == scope)
        ).scalar_one()
    result = erase_subject(engine, SUBJECT, reason="DSR-7", by="dpo", now=T0, keys=keys)
    assert result.events == 2 and result.data_keys == 1
    dump = dump_all(engine)
    for canary in (CANARY, SUBJECT, wrapped):
        assert canary not in dump
    if not is_postgres():
        raw = _raw_files(db)
        for canary in (CANARY, SUBJECT, wrapped):
            assert canary.encode() not in raw
    other = reveal_event(engine, keys, "w1", actor="ops", reason="t", now=T0)
    assert other is not None and other["texts"]["input.text"] == "What are your opening hours?"
    assert verify(engine).ok


def test_retention_destroys_the_day_keys_of_purged_days(tmp_path: Path) -> None:
    from datetime import timedelta

    from audit.removal.retention import purge_events

    store = _filled(tmp_path / "p.db")
    later = T0 + timedelta(days=32)
    result = purge_events(store.engine, 30, by="t", now=later)
    assert result.deleted == 3
    with store.engine.connect() as conn:
        scopes = set(conn.execute(select(DATA_KEYS.c.scope)).scalars())
    assert "day:2026-11-28|acme" not in scopes  # the subjects' keys are theirs: erasure's to drop
    assert subject_scope(store.keys.ref_hash(SUBJECT)) in scopes
    opened = reveal_event(store.engine, store.keys, "e3", actor="ops", reason="t", now=later)
    assert opened is None  # the event itself is gone
    assert verify(store.engine).ok


def test_a_running_writer_reads_the_key_file_again_after_a_rotation(tmp_path: Path) -> None:
    """Data keys re-wrapped under a KEK the process has not loaded: it reloads the key file."""
    from audit.sealing import DataKeys

    path = tmp_path / "keys.json"
    init_key_file(path)
    before = load_keys(path)
    store = AuditStore.from_url(db_url(tmp_path / "w.db"), keys=before)
    store.write(
        AuditBatch(
            events=[_event("e1", SUBJECT, "x")],
            redactions={"e1": {"input.text": "x"}},
        )
    )
    ring = rotate_key_file(path)
    assert rewrap(store.engine, ring) == 1
    scope = subject_scope(before.ref_hash(SUBJECT))
    stale = DataKeys(before)  # a process that kept the key file of before the rotation
    with store.engine.connect() as conn, pytest.raises(KeyError):
        stale.for_scopes(conn, [scope], T0)
    reloading = DataKeys(before, lambda: load_keys(path))
    with store.engine.connect() as conn:
        assert scope in reloading.for_scopes(conn, [scope], T0)
    assert reloading.keys.kek_kid == ring.kek_kid
