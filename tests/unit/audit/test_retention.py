"""Event retention: old events go, findings stay, the purge is a chain link, verify passes."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text

from audit.models import ChainEntry, EventRecord, FindingRecord
from audit.removal.records import get_removal, list_removals
from audit.removal.retention import RetentionPurger, purge_events
from audit.verify import verify
from core.settings import get_settings
from riskwatch.cli import main
from riskwatch.simulator import demo_traffic
from streams.batch import RawMessage
from tests.dburl import db_url
from tests.unit.audit.audit_helpers import REGISTRY, filled, make_handler


def _count(engine: object, model: type) -> int:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


def test_purge_deletes_old_events_keeps_findings_and_chains(tmp_path: Path) -> None:
    engine = filled(tmp_path / "p.db").store.engine
    with engine.connect() as conn:
        stamps = sorted(conn.execute(select(EventRecord.timestamp)).scalars())
    middle = stamps[len(stamps) // 2].replace(tzinfo=UTC)
    expect_deleted = sum(1 for s in stamps if s.replace(tzinfo=UTC) < middle)
    events, findings = _count(engine, EventRecord), _count(engine, FindingRecord)
    result = purge_events(engine, 10, by="dpo", now=middle + timedelta(days=10))
    assert result.deleted == expect_deleted > 0
    assert _count(engine, EventRecord) == events - expect_deleted
    assert _count(engine, FindingRecord) == findings
    with engine.connect() as conn:
        link = conn.execute(select(ChainEntry).where(ChainEntry.kind == "retention")).one()
    assert link.seq == result.chain_seq
    assert link.subject == str(result.removal_id)
    record = get_removal(engine, result.removal_id)
    assert record is not None and record["kind"] == "retention"
    assert (record["events"], record["requested_by"]) == (expect_deleted, "dpo")
    assert record["cutoff"].replace(tzinfo=UTC) == middle
    assert verify(engine).ok
    with engine.begin() as conn:  # a plain-SQL edit of the purge record is caught
        conn.execute(text("UPDATE data_removals SET events = 0 WHERE kind = 'retention'"))
    report = verify(engine)
    assert not report.ok and report.broken.kind == "retention"
    assert "changed after it was chained" in report.broken.problem
    with engine.begin() as conn:  # and so is an edit of its link
        conn.execute(text(f"UPDATE data_removals SET events = {expect_deleted}"))
        conn.execute(text("UPDATE audit_chain SET subject = '99' WHERE kind = 'retention'"))
    assert not verify(engine).ok


def test_the_worker_purge_records_nothing_when_nothing_was_due(tmp_path: Path) -> None:
    engine = filled(tmp_path / "w.db", n=40).store.engine
    now = datetime(2000, 1, 1, tzinfo=UTC)  # every event is newer than the cutoff
    result = purge_events(engine, 1, by="worker", now=now, record_empty=False)
    assert (result.deleted, result.removal_id) == (0, None)
    assert list_removals(engine) == []
    assert purge_events(engine, 1, by="dpo", now=now).removal_id == 1  # an explicit run is kept
    assert [r["events"] for r in list_removals(engine)] == [0]


def test_zero_days_keeps_everything_and_bad_input_is_rejected(tmp_path: Path) -> None:
    engine = filled(tmp_path / "z.db", n=40).store.engine
    events = _count(engine, EventRecord)
    now = datetime.now(UTC) + timedelta(days=9999)
    assert purge_events(engine, 0, by="dpo", now=now).deleted == 0
    assert _count(engine, EventRecord) == events
    with pytest.raises(ValueError, match=">= 0"):
        purge_events(engine, -1, by="dpo", now=now)
    with pytest.raises(ValueError, match="--by"):
        purge_events(engine, 1, by=" ", now=now)


def test_cli_purge_uses_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    db = tmp_path / "c.db"
    engine = filled(db, n=40).store.engine
    before = _count(engine, EventRecord)
    monkeypatch.setenv("RISKWATCH_DATABASE_URL", db_url(db))
    monkeypatch.setenv("RISKWATCH_EVENT_RETENTION_DAYS", "0")
    get_settings.cache_clear()
    request.addfinalizer(get_settings.cache_clear)
    res = CliRunner().invoke(main, ["audit", "purge", "--by", "ops"])
    assert res.exit_code == 0, res.output
    assert '"deleted": 0' in res.output or '"deleted":0' in res.output
    assert _count(engine, EventRecord) == before > 0
    missing = CliRunner().invoke(main, ["audit", "purge"])
    assert missing.exit_code != 0 and "--by" in missing.output


def test_the_worker_purger_applies_retention_in_its_thread(tmp_path: Path) -> None:
    handler = make_handler(tmp_path / "bg.db")
    for start, run in ((datetime(2024, 1, 1, tzinfo=UTC), "old"), (None, "new")):
        # half the events are two years old (written so: events are chained, audit/batchchain.py)
        traffic = demo_traffic(
            20,
            registry=REGISTRY,
            run_id=run,
            start=start,
            malformed_fraction=0,
            duplicate_fraction=0,
        )
        handler.handle(
            [RawMessage("ev", 0, i, m.key, m.value) for i, m in enumerate(traffic.messages)]
        )
    engine = handler.store.engine
    events = _count(engine, EventRecord)
    purger = RetentionPurger(engine, 365, every_s=3600).start()
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=30)
        while purger.last is None and datetime.now(UTC) < deadline:
            threading.Event().wait(0.05)
    finally:
        purger.stop()
    assert purger.last is not None and purger.last.deleted == 20
    assert _count(engine, EventRecord) == events - 20
    assert [(r["kind"], r["requested_by"], r["events"]) for r in list_removals(engine)] == [
        ("retention", "riskwatch-worker", 20)
    ]
    assert purger.run_once() is not None and len(list_removals(engine)) == 1  # nothing more due
    assert verify(engine).ok
