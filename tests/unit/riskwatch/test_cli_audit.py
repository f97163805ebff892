"""`riskwatch audit summary|findings` against a SQLite store filled through AuditStore."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result

from audit.queries import FINDING_COLUMNS
from audit.store import AuditBatch, AuditStore, DeadLetter
from core.events import InferenceEvent
from core.findings import Finding, finding_id_for
from core.settings import get_settings
from core.signals import ObservedEvent, SourceRef
from core.taxonomy import Category, Severity, Subcategory
from riskwatch.cli import main
from tests.dburl import db_url

NOW = datetime.now(UTC).replace(microsecond=0)


def _finding(n: int, model: str, sub: Subcategory, severity: Severity, age: timedelta) -> Finding:
    category = Category.LEGAL if sub == Subcategory.DATA_PRIVACY else Category.TECHNICAL
    return Finding(
        finding_id=finding_id_for("R", "d", "k", str(n)),
        event_id=f"e{n}",
        model_id=model,
        model_version="1",
        detector="usage_slo",
        rule_id=f"R-{n}",
        category=category,
        subcategory=sub,
        severity=severity,
        title=f"title, with comma {n}",
        evidence={"n": n},
        regulation_refs=["EU AI Act Art. 15(1)"],
        remediation="fix it",
        pack="core",
        pack_version="1",
        source_topic="ev",
        source_partition=0,
        source_offset=n,
        detected_at=NOW - age,
    )


FINDINGS = [
    _finding(
        1, "credit-scoring", Subcategory.MODEL_RELIABILITY, Severity.HIGH, timedelta(minutes=5)
    ),
    _finding(
        2, "credit-scoring", Subcategory.MODEL_RELIABILITY, Severity.LOW, timedelta(minutes=50)
    ),
    _finding(
        3, "support-assistant", Subcategory.DATA_PRIVACY, Severity.MEDIUM, timedelta(minutes=1)
    ),
    _finding(4, "fraud-detection", Subcategory.MODEL_RELIABILITY, Severity.HIGH, timedelta(days=3)),
]


def _event(i: int) -> ObservedEvent:
    event = InferenceEvent.model_validate(
        {
            "event_id": f"e{i}",
            "timestamp": "2026-11-28T12:00:00Z",
            "model": {"id": "credit-scoring", "version": "1"},
        }
    )
    return ObservedEvent(event, SourceRef("ev", 0, i))


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AuditStore]:
    url = db_url(tmp_path / "audit.db")
    store = AuditStore.from_url(url)
    store.write(
        AuditBatch(
            events=[_event(i) for i in range(7)],
            findings=FINDINGS,
            dead_letters=[
                DeadLetter.of(b"x", topic="ev", partition=0, offset=100 + k, reason=r, detail="d")
                for k, r in enumerate(["invalid_json", "invalid_json", "empty_message"])
            ],
        )
    )
    monkeypatch.setenv("RISKWATCH_DATABASE_URL", url)
    monkeypatch.setenv("RISKWATCH_LOG_LEVEL", "warning")
    get_settings.cache_clear()
    yield store
    get_settings.cache_clear()


def _run(*args: str) -> Result:
    return CliRunner().invoke(main, ["audit", *args])


def _ids(result: Result) -> list[str]:
    assert result.exit_code == 0, result.output
    return [row["event_id"] for row in orjson.loads(result.stdout)]


def test_settings_point_at_the_tmp_store(db: AuditStore) -> None:
    assert get_settings().database_url == str(db.engine.url)


def test_summary_json(db: AuditStore) -> None:
    result = _run("summary", "--format", "json")
    assert result.exit_code == 0, result.output
    data = orjson.loads(result.stdout)
    assert {"events", "findings", "findings_by_subcategory", "dead_letters"} <= set(data)
    assert data["events"] == 7 and data["dead_letters"] == 3
    assert data["findings"] == {"legal": 1, "technical": 3}
    assert data["findings_by_subcategory"] == {"data_privacy": 1, "model_reliability": 3}
    assert data["findings_by_severity"] == {"high": 2, "low": 1, "medium": 1}
    assert data["dead_letters_by_reason"] == {"empty_message": 1, "invalid_json": 2}


def test_summary_table(db: AuditStore) -> None:
    result = _run("summary")
    assert result.exit_code == 0, result.output
    assert "events stored      7" in result.stdout and "dead letters       3" in result.stdout
    assert "model_reliability" in result.stdout and "invalid_json" in result.stdout


def test_findings_json_newest_first_with_all_columns(db: AuditStore) -> None:
    result = _run("findings", "--format", "json")
    assert _ids(result) == ["e3", "e1", "e2", "e4"]
    row = orjson.loads(result.stdout)[0]
    assert set(FINDING_COLUMNS) <= set(row)
    assert row["evidence"] == {"n": 3} and row["regulation_refs"] == ["EU AI Act Art. 15(1)"]
    assert row["severity"] == "medium" and row["subcategory"] == "data_privacy"


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--model", "credit-scoring"], ["e1", "e2"]),
        (["--category", "legal"], ["e3"]),
        (["--category", "technical"], ["e1", "e2", "e4"]),
        (["--subcategory", "model_reliability"], ["e1", "e2", "e4"]),
        (["--severity", "high"], ["e1", "e4"]),
        (["--since", "30m"], ["e3", "e1"]),
        (["--since", "2h"], ["e3", "e1", "e2"]),
        (["--since", "1w"], ["e3", "e1", "e2", "e4"]),
        (
            ["--since", (NOW - timedelta(minutes=10)).isoformat().replace("+00:00", "Z")],
            ["e3", "e1"],
        ),
        (["--since", (NOW - timedelta(minutes=10)).replace(tzinfo=None).isoformat()], ["e3", "e1"]),
        (["--model", "credit-scoring", "--severity", "high", "--since", "1h"], ["e1"]),
        (["--model", "nobody"], []),
        (["--limit", "2"], ["e3", "e1"]),
    ],
)
def test_findings_filters(db: AuditStore, args: list[str], expected: list[str]) -> None:
    assert _ids(_run("findings", "--format", "json", *args)) == expected


def test_findings_csv(db: AuditStore) -> None:
    result = _run("findings", "--format", "csv", "--model", "credit-scoring")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0][: len(FINDING_COLUMNS)] == list(FINDING_COLUMNS) and len(rows) == 3
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["event_id"] == "e1" and first["title"] == "title, with comma 1"
    assert orjson.loads(first["evidence"]) == {"n": 1}
    assert orjson.loads(first["regulation_refs"]) == ["EU AI Act Art. 15(1)"]
    assert first["detected_at"].startswith((NOW - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"))


def test_findings_table(db: AuditStore) -> None:
    result = _run("findings", "--severity", "high")
    assert result.exit_code == 0, result.output
    lines = result.stdout.rstrip("\n").split("\n")
    header = lines[0].split()
    wanted = [
        "detected_at",
        "severity",
        "category",
        "subcategory",
        "model_id",
        "rule_id",
        "title",
        "event_id",
    ]
    assert [c for c in header if c in wanted] == wanted and set(lines[1]) <= {"-", " "}
    assert len(lines) == 4 and "e1" in lines[2] and "e4" in lines[3]
    assert "fraud-detection" in lines[3] and "high" in lines[3]


def test_empty_result_is_an_empty_list(db: AuditStore) -> None:
    result = _run("findings", "--format", "json", "--category", "commercial")
    assert result.exit_code == 0 and orjson.loads(result.stdout) == []


@pytest.mark.parametrize("since", ["yesterday", "30x", "2026-13-45"])
def test_bad_since_exits_2_with_a_message(db: AuditStore, since: str) -> None:
    result = _run("findings", "--since", since)
    assert result.exit_code == 2
    assert "error:" in result.stderr and repr(since) in result.stderr and "30m" in result.stderr
    assert result.stdout == ""


def test_unknown_subcategory_exits_2_listing_the_valid_ones(db: AuditStore) -> None:
    result = _run("findings", "--subcategory", "reliability")
    assert result.exit_code == 2
    assert "unknown subcategory 'reliability'" in result.stderr
    assert "model_reliability" in result.stderr and "data_privacy" in result.stderr


def test_bad_choice_is_a_usage_error(db: AuditStore) -> None:
    assert _run("findings", "--severity", "severe").exit_code == 2
    assert _run("findings", "--format", "xml").exit_code == 2
