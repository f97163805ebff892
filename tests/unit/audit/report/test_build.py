"""The HTML compliance report: content from a filled store, hostile text escaped, the CLI and
the API serve it, and (where Chromium is installed) what a browser renders."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select, text

from audit.api.app import create_app
from audit.lifecycle import record_action, status_expr
from audit.models import EventRecord, FindingRecord
from audit.report.build import ReportPeriod, build_report, collect, render
from audit.report.summary import ChainState
from audit.tokens import create_token
from audit.verify import verify
from core.settings import Settings, get_settings
from core.taxonomy import Subcategory
from riskwatch.cli import main
from tests.dburl import db_url
from tests.unit.audit.audit_helpers import REGISTRY, filled

HOSTILE = "<script>document.title='pwned'</script>"
NOW = datetime.now(UTC)
SINCE, UNTIL = NOW - timedelta(days=30), NOW + timedelta(days=2)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    db = tmp_path_factory.mktemp("report") / "r.db"
    engine = filled(db).store.engine
    with engine.begin() as conn:
        model = (
            conn.execute(
                select(EventRecord.model_id)
                .group_by(EventRecord.model_id)
                .order_by(func.count().desc())
            )
            .scalars()
            .first()
        )
        conn.execute(
            insert(FindingRecord.__table__).values(
                finding_id="hostile-1",
                event_id=None,
                model_id=model,
                model_version="1",
                detector="fairness",
                rule_id="fairness.test",
                category="legal",
                subcategory="ethics",
                severity="high",
                title=f"Unfair {HOSTILE}",
                evidence={"group": HOSTILE, "selection_rate": 0.4},
                regulation_refs=["EU AI Act Art. 10(2)(f)"],
                remediation="",
                pack="t",
                pack_version="1",
                detected_at=NOW,
            )
        )
    return db, engine


def _model(engine: object) -> str:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        return conn.execute(
            select(FindingRecord.model_id).where(FindingRecord.finding_id == "hostile-1")
        ).scalar_one()


def test_collect_counts_match_the_store(store: tuple[Path, object]) -> None:
    _, engine = store
    model = _model(engine)
    data = collect(engine, ReportPeriod(model, SINCE, UNTIL), REGISTRY, NOW)  # type: ignore[arg-type]
    with engine.connect() as conn:  # type: ignore[attr-defined]
        events = conn.execute(
            select(func.count()).select_from(EventRecord).where(EventRecord.model_id == model)
        ).scalar_one()
        findings = conn.execute(
            select(func.count()).select_from(FindingRecord).where(FindingRecord.model_id == model)
        ).scalar_one()
    assert data.event_count == events > 0
    assert data.finding_count == findings
    assert sum(sum(v) for v in data.findings_by_bin.values()) == findings
    assert [f["finding_id"] for f in data.fairness] == ["hostile-1"]
    assert data.daily_budget == REGISTRY.get(model).daily_cost_budget_usd  # type: ignore[union-attr]
    assert sum(data.cost_by_day.values()) > 0


def test_html_escapes_hostile_text(store: tuple[Path, object]) -> None:
    _, engine = store
    html = build_report(engine, ReportPeriod(_model(engine), SINCE, UNTIL), REGISTRY, NOW)  # type: ignore[arg-type]
    assert HOSTILE not in html
    assert "&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;" in html
    assert "<script" not in html.lower()
    assert "EU AI Act Art. 10(2)(f)" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html


def test_bad_period_is_rejected() -> None:
    with pytest.raises(ValueError, match="must be before"):
        ReportPeriod("m", UNTIL, SINCE)
    with pytest.raises(ValueError, match="empty"):
        ReportPeriod(" ", SINCE, UNTIL)


def test_api_serves_the_report_to_auditors(store: tuple[Path, object]) -> None:
    db, engine = store
    client = TestClient(create_app(Settings(database_url=db_url(db))))
    _, token = create_token(engine, role="auditor", name="r")  # type: ignore[arg-type]
    params = {"model": _model(engine), "since": SINCE.isoformat(), "until": UNTIL.isoformat()}
    assert client.get("/reports", params=params).status_code == 401
    resp = client.get("/reports", params=params, headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/html")
    assert "&lt;script&gt;" in resp.text
    bad = client.get(
        "/reports",
        params={**params, "until": SINCE.isoformat()},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert bad.status_code == 422 and "before" in bad.text
    auth = {"Authorization": f"Bearer {token}"}
    pdf = client.get("/reports", params={**params, "format": "pdf"}, headers=auth)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert client.get("/reports", params={**params, "format": "doc"}, headers=auth).status_code == (
        422
    )


@pytest.fixture
def cli_store(
    store: tuple[Path, object], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, object]]:
    """The filled store, as the CLI's RISKWATCH_DATABASE_URL."""
    monkeypatch.setenv("RISKWATCH_DATABASE_URL", db_url(store[0]))
    get_settings.cache_clear()
    yield store
    get_settings.cache_clear()


def test_cli_writes_the_report(cli_store: tuple[Path, object], tmp_path: Path) -> None:
    _, engine = cli_store
    out = tmp_path / "report.html"
    res = CliRunner().invoke(
        main,
        [
            "report",
            "--model",
            _model(engine),
            "--since",
            "30d",
            "--until",
            UNTIL.isoformat(),
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert res.output.strip() == str(out)
    assert "Compliance report" in out.read_text()
    bad = CliRunner().invoke(main, ["report", "--model", "m", "--since", "yesterday"])
    assert bad.exit_code != 0 and "--since" in bad.output


def test_chromium_renders_without_running_hostile_script(
    store: tuple[Path, object], tmp_path: Path
) -> None:
    if shutil.which("chromium") is None:
        pytest.fail("chromium is missing: `make chromium-bin` installs Debian's package")
    _, engine = store
    model = _model(engine)
    page = tmp_path / "report.html"
    page.write_text(build_report(engine, ReportPeriod(model, SINCE, UNTIL), REGISTRY, NOW))  # type: ignore[arg-type]
    dom = subprocess.run(
        ["chromium", "--headless", "--disable-gpu", "--no-sandbox", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert f"<title>riskwatch compliance report: {model}</title>" in dom
    assert "pwned</title>" not in dom
    assert "Unfair &lt;script&gt;document.title='pwned'&lt;/script&gt;" in dom
    assert "EU AI Act Art. 10(2)(f)" in dom
    assert "<svg" in dom


def test_demo_report_covers_the_busiest_model(
    cli_store: tuple[Path, object], tmp_path: Path
) -> None:
    from riskwatch.cli_report import busiest_model_report

    _, engine = cli_store
    with engine.connect() as conn:  # type: ignore[attr-defined]
        busiest, n = conn.execute(
            select(EventRecord.model_id, func.count())
            .group_by(EventRecord.model_id)
            .order_by(func.count().desc())
        ).first()
    path = busiest_model_report(tmp_path / "r.html")
    assert path is not None
    html = path.read_text()
    assert f'<span id="model">{busiest}</span>' in html
    assert f'<span id="event-count">{n}</span>' in html


def _rows(html: str, marker: str) -> int:
    return html.count(marker)


def test_summary_opens_the_report(store: tuple[Path, object]) -> None:
    _, engine = store
    model = _model(engine)
    data = collect(engine, ReportPeriod(model, SINCE, UNTIL), REGISTRY, NOW)  # type: ignore[arg-type]
    html = render(data)
    # a row per risk subcategory, its open count as the store says it
    assert _rows(html, '<tr id="sub-') == len(Subcategory) == 9
    with engine.connect() as conn:  # type: ignore[attr-defined]
        statuses = conn.execute(
            select(FindingRecord.subcategory, status_expr()).where(FindingRecord.model_id == model)
        ).all()
    for sub in Subcategory:
        want = sum(1 for s, st in statuses if s == sub.value and st in ("open", "acknowledged"))
        assert data.tally.subcategories[sub.value].open == want
        if not any(s == sub.value for s, _ in statuses):
            assert re.search(rf'<tr id="sub-{sub.value}"[^>]*>.*?no findings</td></tr>', html, re.S)
    assert data.tally.open + data.tally.closed == data.finding_count
    assert ("EU AI Act Art. 10(2)(f)", 1, 1) in data.tally.regulation_rows()
    # the chain's verification and head: the fixture inserted hostile-1 behind the chain's back
    report = verify(engine)  # type: ignore[arg-type]
    assert data.chain == ChainState.of(report) and data.chain.entries == report.entries > 0
    assert not data.chain.ok
    assert "BROKEN: finding hostile-1 is not in the chain" in html
    assert f'<code id="chain-head">{report.head.entry_hash}</code>' in html
    data.chain = ChainState(True, 3, 3, "ab" * 32, None)
    assert "Verified: the hash chain is intact" in render(data)
    # summary first, then the charts, then the raw findings
    assert html.index('id="summary"') < html.index('id="findings-chart"')
    assert html.index('id="findings-chart"') < html.index('id="rule-groups"')


def test_findings_are_grouped_by_rule_behind_details(store: tuple[Path, object]) -> None:
    _, engine = store
    model = _model(engine)
    data = collect(engine, ReportPeriod(model, SINCE, UNTIL), REGISTRY, NOW)  # type: ignore[arg-type]
    html = render(data)
    groups = data.tally.rule_groups()
    assert {g.rule_id for g in groups} == {
        f["rule_id"] for g in groups for f in g.findings
    }  # each finding under its own rule
    assert sum(g.count for g in groups) == data.finding_count
    assert _rows(html, '<details class="rule-findings">') == len(groups) > 1
    assert _rows(html, '<tr class="rule">') == len(groups)
    hostile = next(g for g in groups if g.rule_id == "fairness.test")
    assert (hostile.count, hostile.worst) == (1, "high")
    assert '<table id="open-findings">' not in html  # no flat table any more


def test_a_two_hour_report_has_minute_bins(store: tuple[Path, object]) -> None:
    _, engine = store
    period = ReportPeriod(_model(engine), NOW - timedelta(hours=2), NOW)
    data = collect(engine, period, REGISTRY, NOW)  # type: ignore[arg-type]
    assert data.bins.width == timedelta(minutes=2)
    assert "Bins of 2 minutes (UTC)." in render(data)


def _by_tier(engine: object, high: bool) -> str:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        stored = set(conn.execute(select(FindingRecord.model_id).distinct()).scalars())
    return next(
        m
        for m in sorted(stored)
        if (REGISTRY.get(m).risk_tier == "high") == high  # type: ignore[union-attr]
    )


def test_post_market_monitoring_for_a_high_risk_model(store: tuple[Path, object]) -> None:
    _, engine = store
    model = _by_tier(engine, high=True)
    with engine.connect() as conn:  # type: ignore[attr-defined]
        first = (
            conn.execute(
                select(FindingRecord.finding_id).where(FindingRecord.model_id == model).limit(2)
            )
            .scalars()
            .all()
        )
    record_action(engine, finding_id=first[0], action="acknowledge", actor="ana", reason="seen")  # type: ignore[arg-type]
    record_action(engine, finding_id=first[0], action="resolve", actor="bo", reason="fixed")  # type: ignore[arg-type]
    data = collect(engine, ReportPeriod(model, SINCE, UNTIL), REGISTRY, NOW)  # type: ignore[arg-type]
    m = data.monitoring
    assert m is not None
    fired = {r.rule_id: r.in_period for r in m.rules if r.in_period}
    assert fired == {g.rule_id: g.count for g in data.tally.rule_groups()}
    assert "fairness.test" in {r.rule_id for r in m.rules}  # filed for another model: could fire
    assert {"drift", "pii", "fairness"} <= set(m.detectors)
    assert ("daily_cost_budget_usd", str(REGISTRY.get(model).daily_cost_budget_usd)) in m.thresholds  # type: ignore[union-attr]
    assert (m.actions["acknowledge"], m.actions["resolve"], m.actors) == (1, 1, 2)
    html = render(data)
    assert "Post-market monitoring (EU AI Act Art. 72)" in html
    assert '<td id="action-resolve">1</td>' in html
    assert data.tally.by_status["resolved"] == 1


def test_no_post_market_section_below_the_high_tier(store: tuple[Path, object]) -> None:
    _, engine = store
    model = _by_tier(engine, high=False)
    data = collect(engine, ReportPeriod(model, SINCE, UNTIL), REGISTRY, NOW)  # type: ignore[arg-type]
    assert data.monitoring is None
    assert "Post-market monitoring" not in render(data)
    high = _by_tier(engine, high=True)
    assert collect(engine, ReportPeriod(high, SINCE, UNTIL), None, NOW).monitoring is None  # type: ignore[arg-type]


def test_incidents_come_before_the_raw_findings_with_their_findings_behind_details(
    store: tuple[Path, object],
) -> None:
    _, engine = store
    model = _model(engine)
    data = collect(engine, ReportPeriod(model, SINCE, UNTIL), REGISTRY, NOW)  # type: ignore[arg-type]
    html = render(data)
    incidents = data.incidents.items
    assert incidents and data.incidents.open + data.incidents.closed == len(incidents)
    # every finding of the model filed by the pipeline is in one of its incidents
    assert sum(i["count"] for i in incidents) == data.finding_count - 1  # not hostile-1
    assert _rows(html, '<tr class="incident ') == len(incidents)
    assert _rows(html, '<details class="incident-findings">') == len(incidents)
    assert f'<span id="open-incidents">{data.incidents.open}</span>' in html
    assert all(i["events"][0]["event"] == "opened" for i in incidents)
    opened = sum(data.incidents.open_by_subcategory.values())
    assert opened == data.incidents.open
    assert (
        html.index('id="summary"') < html.index('id="incidents"') < html.index('id="rule-groups"')
    )


def test_cli_writes_the_report_as_pdf(cli_store: tuple[Path, object], tmp_path: Path) -> None:
    _, engine = cli_store
    model = _model(engine)
    out = tmp_path / "r.pdf"
    result = CliRunner().invoke(
        main,
        ["report", "--model", model, "--since", "30d", "--format", "pdf", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert data.startswith(b"%PDF") and b"%%EOF" in data[-1024:]
    assert len(data) > 10_000  # a page of tables and charts, not an empty document


def test_a_pdf_without_chromium_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from audit.report.pdf import PdfError, html_to_pdf

    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(PdfError, match="chromium"):
        html_to_pdf("<p>x</p>")
    with pytest.raises(PdfError, match="RISKWATCH_CHROMIUM"):
        html_to_pdf("<p>x</p>", chromium="no-such-browser")


def test_the_summary_states_every_models_open_incidents_per_subcategory(
    store: tuple[Path, object],
) -> None:
    _, engine = store
    model = _model(engine)
    data = collect(engine, ReportPeriod(model, SINCE, UNTIL), REGISTRY, NOW)  # type: ignore[arg-type]
    html = render(data)
    with engine.connect() as conn:  # type: ignore[attr-defined]
        models = set(conn.execute(select(EventRecord.model_id).distinct()).scalars())
        open_incidents = dict(
            conn.execute(
                text(
                    "select model_id, count(*) from incidents where status in "
                    "('open', 'acknowledged') group by model_id"
                )
            ).all()
        )
    assert {r.model_id for r in data.fleet} == models and len(models) > 1
    for row in data.fleet:
        assert row.open == open_incidents.get(row.model_id, 0)
        assert f'<tr id="fleet-{row.model_id}"' in html
    assert html.index('id="fleet"') < html.index('id="statuses"')
