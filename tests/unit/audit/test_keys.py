"""The key file (audit/keys.py, `riskwatch keys`): created once with mode 0600, rotated without
losing old keys; subject references stored as HMAC-SHA256 under it, erasure matching every key and
the legacy plain SHA-256; the worker refuses to start without it."""

from __future__ import annotations

import hashlib
import json
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from audit.keys import (
    KeyFileError,
    init_key_file,
    legacy_ref_hash,
    load_keys,
    load_public_key,
    rotate_key_file,
)
from audit.models import EventRecord
from audit.removal.erasure import erase_subject
from audit.store import AuditBatch, AuditStore
from core.settings import Settings
from core.signals import ObservedEvent, SourceRef
from riskwatch.cli import main
from streams.codec import decode_document
from tests.dburl import as_json, db_url, dump_all

EVENTS = EventRecord.__table__
NOW = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)


def _event(i: int, ref: str) -> ObservedEvent:
    doc = {
        "event_id": f"e{i}",
        "timestamp": "2026-11-28T12:00:00Z",
        "model": {"id": "credit-scoring", "version": "1"},
        "context": {"user_ref": ref},
    }
    event, parsed = decode_document(orjson.dumps(doc))
    return ObservedEvent(event, SourceRef("ev", 0, i, 1_700_000), parsed)


def test_init_creates_a_0600_file_with_every_kind_of_key_and_refuses_to_overwrite(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sub" / "keys.json"
    ring = init_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = json.loads(path.read_text())
    assert {len(doc[k]) for k in ("hmac", "signing", "kek")} == {1}
    assert all(e["kid"] for k in ("hmac", "signing", "kek") for e in doc[k])
    before = path.read_bytes()
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        init_key_file(path)
    assert path.read_bytes() == before
    assert load_keys(path).ref_hash("cust-1") == ring.ref_hash("cust-1")


def test_rotation_keeps_old_keys_matching_and_verifying(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    old = init_key_file(path)
    kid, signature = old.sign(b"checkpoint")
    new = rotate_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert new.hmac_kid != old.hmac_kid and new.signing_kid != old.signing_kid
    assert len(new.keks) == 2
    assert new.ref_hash("cust-1") != old.ref_hash("cust-1")
    assert old.ref_hash("cust-1") in new.ref_candidates("cust-1")
    assert legacy_ref_hash("cust-1") in new.ref_candidates("cust-1")
    assert new.public_key(kid).verify(signature, b"checkpoint")
    assert not new.public_key().verify(signature, b"checkpoint")  # signed by the old key


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "riskwatch keys init"),
        ("not json", "malformed"),
        ('{"format": "riskwatch-keys/1", "hmac": []}', "non-empty list"),
        ('{"format": "other"}', "malformed"),
    ],
)
def test_load_says_what_is_wrong(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "keys.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(KeyFileError, match=message):
        load_keys(path)


def test_key_file_defaults_under_home_and_is_read_from_its_variable(tmp_path: Path) -> None:
    assert Settings(home=tmp_path, key_file=None).key_path == tmp_path / "keys.json"
    assert Settings(home=tmp_path, key_file=tmp_path / "k").key_path == tmp_path / "k"
    assert "RISKWATCH_KEY_FILE" in (Settings.model_fields["key_file"].description or "")


def test_subject_refs_are_stored_as_hmac_not_a_reversible_plain_hash(tmp_path: Path) -> None:
    ring = init_key_file(tmp_path / "keys.json")
    store = AuditStore.from_url(db_url(tmp_path / "a.db"), keys=ring)
    refs = [f"acct-{n:06d}" for n in range(50)]
    store.write(AuditBatch(events=[_event(i, r) for i, r in enumerate(refs)]))
    dump = dump_all(store.engine)
    # the review's attack: enumerate account-id patterns, hash each, look them up
    guessed = {hashlib.sha256(f"acct-{n:06d}".encode()).hexdigest() for n in range(1000)}
    assert not any(g in dump for g in guessed)
    with store.engine.connect() as conn:
        row = conn.execute(select(EVENTS).where(EVENTS.c.event_id == "e3")).mappings().one()
    assert row["user_ref_hash"] == ring.ref_hash("acct-000003")
    assert as_json(row["payload"])["context"]["user_ref"] == {
        "hmac_sha256": ring.ref_hash("acct-000003"),
        "kid": ring.hmac_kid,
    }


def test_a_store_without_a_key_file_refuses_events_with_a_user_ref(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.settings import get_settings

    monkeypatch.setenv("RISKWATCH_KEY_FILE", str(tmp_path / "missing.json"))
    get_settings.cache_clear()
    try:
        store = AuditStore.from_url(db_url(tmp_path / "a.db"))
        store.write(AuditBatch(events=[_event(0, None)]))  # type: ignore[arg-type]
        with pytest.raises(KeyFileError, match="riskwatch keys init"):
            store.write(AuditBatch(events=[_event(1, "cust-1")]))
    finally:
        get_settings.cache_clear()


def _ref_rows(engine: Any) -> dict[str, str | None]:
    with engine.connect() as conn:
        return dict(conn.execute(select(EVENTS.c.event_id, EVENTS.c.user_ref_hash)).all())


def test_erasure_matches_every_hmac_key_and_the_legacy_plain_hash(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    old = init_key_file(path)
    store = AuditStore.from_url(db_url(tmp_path / "a.db"), keys=old)
    store.write(AuditBatch(events=[_event(1, "cust-1"), _event(9, "cust-9")]))
    new = rotate_key_file(path)
    AuditStore(store.engine, new).write(AuditBatch(events=[_event(2, "cust-1")]))
    store.write(AuditBatch(events=[_event(3, "cust-1")]))
    with store.engine.begin() as conn:  # a row written by an older version: plain SHA-256
        conn.execute(
            update(EVENTS)
            .where(EVENTS.c.event_id == "e3")
            .values(user_ref_hash=legacy_ref_hash("cust-1"))
        )
    rows = _ref_rows(store.engine)
    assert len({rows["e1"], rows["e2"], rows["e3"]}) == 3
    result = erase_subject(store.engine, "cust-1", reason="DSR-1", by="dpo", now=NOW, keys=new)
    assert result.events == 3
    assert result.user_ref_hash == new.ref_hash("cust-1")  # never the reversible plain hash
    rows = _ref_rows(store.engine)
    assert rows["e1"] is rows["e2"] is rows["e3"] is None
    assert rows["e9"] == old.ref_hash("cust-9")


def test_the_worker_fails_at_start_without_a_key_file(tmp_path: Path) -> None:
    from streams.worker import build_worker_app

    settings = Settings(
        home=tmp_path, database_url=db_url(tmp_path / "a.db"), key_file=tmp_path / "none.json"
    )
    with pytest.raises(KeyFileError, match="riskwatch keys init"):
        build_worker_app(settings)
    assert not (tmp_path / "none.json").exists()  # never created behind the operator's back


def test_cli_init_rotate_show_public(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    runner = CliRunner()
    first = runner.invoke(main, ["keys", "init", "--file", str(path)])
    assert first.exit_code == 0, first.output
    again = runner.invoke(main, ["keys", "init", "--file", str(path)])
    assert again.exit_code == 2 and "refusing to overwrite" in again.output
    shown = runner.invoke(main, ["keys", "show-public", "--file", str(path)])
    public = json.loads(shown.output)
    assert public["alg"] == "Ed25519" and "private_key" not in shown.output
    assert runner.invoke(main, ["keys", "rotate", "--file", str(path)]).exit_code == 0
    every = json.loads(
        runner.invoke(main, ["keys", "show-public", "--all", "--file", str(path)]).output
    )
    assert every["keys"][0]["kid"] == public["kid"] and len(every["keys"]) == 2
    (tmp_path / "pub.json").write_text(shown.output)
    [pk] = load_public_key(tmp_path / "pub.json")
    kid, sig = load_keys(path).sign(b"m")  # the new key: the old public key does not verify it
    assert not pk.verify(sig, b"m") and load_keys(path).public_key(kid).verify(sig, b"m")
    missing = runner.invoke(main, ["keys", "show-public", "--file", str(tmp_path / "x.json")])
    assert missing.exit_code == 2 and "riskwatch keys init" in missing.output


def test_cli_erase_without_a_key_file_says_to_create_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.settings import get_settings

    monkeypatch.setenv("RISKWATCH_KEY_FILE", str(tmp_path / "none.json"))
    monkeypatch.setenv("RISKWATCH_DATABASE_URL", db_url(tmp_path / "a.db"))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            main, ["audit", "erase", "--user-ref", "c", "--reason", "r", "--by", "b"]
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2 and "riskwatch keys init" in result.output
