"""Finding lifecycle: status is the last action; every action is chained; CLI commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from audit.lifecycle import FindingNotFound, InvalidTransition, record_action, status_of
from audit.queries import FindingFilter, count_findings, find_findings
from audit.trail import finding_trail
from audit.verify import verify
from core.settings import get_settings
from riskwatch.cli import main
from tests.dburl import db_url
from tests.unit.audit.audit_helpers import filled


def test_actions_change_status_and_land_in_the_chain(tmp_path: Path) -> None:
    engine = filled(tmp_path / "a.db").store.engine
    fid = find_findings(engine, FindingFilter(limit=1))[0]["finding_id"]
    head = verify(engine).head
    with engine.connect() as conn:
        assert status_of(conn, fid) == "open"
    ack = record_action(engine, finding_id=fid, action="acknowledge", actor="ana", reason="on it")
    assert ack["status"] == "acknowledged" and ack["chain"]["seq"] == head.seq + 1
    res = record_action(engine, finding_id=fid, action="resolve", actor="ana", reason="fixed")
    assert res["chain"]["seq"] == head.seq + 2
    trail = finding_trail(engine, fid)
    assert trail is not None and trail["status"] == "resolved"
    assert [(a["action"], a["actor"], a["reason"]) for a in trail["lifecycle"]] == [
        ("acknowledge", "ana", "on it"),
        ("resolve", "ana", "fixed"),
    ]
    report = verify(engine)
    assert report.ok and report.head.seq == head.seq + 2
    with engine.connect() as conn:
        links = conn.execute(
            text("select kind, subject from audit_chain where seq > :s order by seq"),
            {"s": head.seq},
        ).all()
    assert links == [("lifecycle", str(ack["id"])), ("lifecycle", str(res["id"]))]
    # reopen, then mark a false positive
    record_action(engine, finding_id=fid, action="reopen", actor="bo", reason="came back")
    record_action(
        engine, finding_id=fid, action="false_positive", actor="bo", reason="test traffic"
    )
    assert finding_trail(engine, fid)["status"] == "false_positive"  # type: ignore[index]
    assert verify(engine).ok


def test_invalid_transitions_and_unknown_findings(tmp_path: Path) -> None:
    engine = filled(tmp_path / "a.db").store.engine
    fid = find_findings(engine, FindingFilter(limit=1))[0]["finding_id"]
    with pytest.raises(InvalidTransition):
        record_action(engine, finding_id=fid, action="reopen", actor="a", reason="r")
    record_action(engine, finding_id=fid, action="resolve", actor="a", reason="r")
    with pytest.raises(InvalidTransition):
        record_action(engine, finding_id=fid, action="acknowledge", actor="a", reason="r")
    with pytest.raises(FindingNotFound):
        record_action(engine, finding_id="nope", action="resolve", actor="a", reason="r")
    with pytest.raises(ValueError):
        record_action(engine, finding_id=fid, action="delete", actor="a", reason="r")
    with engine.connect() as conn:
        incident_events = conn.execute(text("select count(*) from incident_events")).scalar()
        batches = conn.execute(
            text("select count(*) from audit_chain where kind = 'events'")
        ).scalar()
    assert incident_events  # the findings opened incidents, each opening chained
    assert batches == 2  # filled() writes two batches of events, each one link
    assert verify(engine).head.seq == (
        count_findings(engine, FindingFilter()) + 1 + incident_events + batches
    )


def test_status_filter_and_tampered_action(tmp_path: Path) -> None:
    engine = filled(tmp_path / "a.db").store.engine
    every = find_findings(engine, FindingFilter(limit=None))
    ids = [f["finding_id"] for f in every[:3]]
    record_action(engine, finding_id=ids[0], action="acknowledge", actor="a", reason="r")
    record_action(engine, finding_id=ids[1], action="resolve", actor="a", reason="r")
    record_action(engine, finding_id=ids[2], action="acknowledge", actor="a", reason="r")
    record_action(engine, finding_id=ids[2], action="reopen", actor="a", reason="r")

    def status(s: str) -> set[str]:
        return {f["finding_id"] for f in find_findings(engine, FindingFilter(status=s, limit=None))}

    assert status("acknowledged") == {ids[0]} and status("resolved") == {ids[1]}
    assert len(status("open")) == len(every) - 2 and ids[2] in status("open")
    assert count_findings(engine, FindingFilter(status="open")) == len(every) - 2
    with engine.begin() as conn:
        conn.execute(
            text("update finding_actions set actor = 'mallory' where finding_id = :f"),
            {"f": ids[1]},
        )
    broken = verify(engine).broken
    assert broken is not None and broken.kind == "lifecycle" and "changed" in broken.problem


def test_cli_lifecycle_and_show(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = filled(tmp_path / "a.db").store.engine
    monkeypatch.setenv("RISKWATCH_DATABASE_URL", db_url(tmp_path / "a.db"))
    get_settings.cache_clear()
    runner = CliRunner()
    fid = find_findings(engine, FindingFilter(limit=1))[0]["finding_id"]
    try:
        ack = runner.invoke(main, ["audit", "ack", fid, "--reason", "seen", "--actor", "cli-user"])
        assert ack.exit_code == 0 and "acknowledged" in ack.output
        again = runner.invoke(main, ["audit", "ack", fid, "--reason", "x", "--actor", "y"])
        assert again.exit_code == 1 and "cannot acknowledge" in again.output
        fp = runner.invoke(
            main, ["audit", "false-positive", fid, "--reason", "test", "--actor", "c"]
        )
        assert fp.exit_code == 0 and "false_positive" in fp.output
        missing = runner.invoke(main, ["audit", "resolve", "nope", "--reason", "r", "--actor", "a"])
        assert missing.exit_code == 1
        show = runner.invoke(main, ["audit", "show", fid, "--format", "json"])
        assert (
            show.exit_code == 0 and '"false_positive"' in show.output and "cli-user" in show.output
        )
        listed = runner.invoke(
            main, ["audit", "findings", "--status", "false_positive", "--format", "json"]
        )
        assert fid in listed.output and listed.output.count('"finding_id"') == 1
        assert runner.invoke(main, ["audit", "verify"]).exit_code == 0
    finally:
        get_settings.cache_clear()
