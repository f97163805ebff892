"""Event retention: old events go, findings stay, the purge is a chain link, verify passes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text

from audit.chain import verify
from audit.models import ChainEntry, EventRecord, FindingRecord
from audit.retention import purge_events
from riskwatch.cli import main
from riskwatch.settings import get_settings
from tests.dburl import db_url
from tests.unit.audit_helpers import filled


def _count(engine: object, model: type) -> int:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


def test_purge_deletes_old_events_keeps_findings_and_chains(tmp_path: Path) -> None:
    engine = filled(tmp_path / "p.db").store.engine
    with engine.connect() as conn:
        stamps = sorted(conn.execute(select(EventRecord.timestamp)).scalars())
    middle = stamps[len(stamps) // 2].replace(tzinfo=timezone.utc)
    expect_deleted = sum(1 for s in stamps if s.replace(tzinfo=timezone.utc) < middle)
    events, findings = _count(engine, EventRecord), _count(engine, FindingRecord)
    result = purge_events(engine, 10, by="dpo", now=middle + timedelta(days=10))
    assert result.deleted == expect_deleted > 0
    assert _count(engine, EventRecord) == events - expect_deleted
    assert _count(engine, FindingRecord) == findings
    with engine.connect() as conn:
        link = conn.execute(select(ChainEntry).where(ChainEntry.kind == "retention")).one()
    assert link.seq == result.chain_seq
    assert link.subject == f"purge:{result.cutoff}:{expect_deleted}"
    assert verify(engine).ok
    with engine.begin() as conn:  # a plain-SQL edit of the purge link is still caught
        conn.execute(text("UPDATE audit_chain SET subject = 'purge:x:0' WHERE kind = 'retention'"))
    assert not verify(engine).ok


def test_zero_days_keeps_everything_and_bad_input_is_rejected(tmp_path: Path) -> None:
    engine = filled(tmp_path / "z.db", n=40).store.engine
    events = _count(engine, EventRecord)
    now = datetime.now(timezone.utc) + timedelta(days=9999)
    assert purge_events(engine, 0, by="dpo", now=now).deleted == 0
    assert _count(engine, EventRecord) == events
    with pytest.raises(ValueError, match=">= 0"):
        purge_events(engine, -1, by="dpo", now=now)
    with pytest.raises(ValueError, match="--by"):
        purge_events(engine, 1, by=" ", now=now)


def test_cli_purge_uses_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    request: pytest.FixtureRequest) -> None:
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
