"""The web console in a real browser: Debian's Chromium driven by Playwright against
``riskwatch api``'s app served by uvicorn over a seeded SQLite store. Screenshots of every page
are kept in the test's temporary directory (printed with ``pytest -s``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.unit.audit.api.console_helpers import (
    MODEL,
    VIEWPORT,
    Seeded,
    chromium_path,
    seed,
    serve,
    sign_in,
)

NINE = 9


class Console:
    def __init__(self, seeded: Seeded, url: str, browser: Browser, shots: Path) -> None:
        self.seeded, self.url, self.browser, self.shots = seeded, url, browser, shots

    def api(self, page: Page, path: str, role: str = "auditor", **params: Any) -> Any:
        resp = page.request.get(
            self.url.replace("/ui/", path),
            params=params,
            headers={"Authorization": f"Bearer {self.seeded.tokens[role]}"},
        )
        assert resp.ok, resp.text()
        return resp.json()

    def shot(self, page: Page, name: str) -> None:
        path = self.shots / f"{name}.png"
        page.screenshot(path=str(path))
        print(f"screenshot: {path}")


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    seeded = seed(tmp_path_factory.mktemp("console") / "console.db")
    shots = tmp_path_factory.mktemp("console-screenshots")
    with serve(seeded) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path())
        yield Console(seeded, url, browser, shots)
        browser.close()


@pytest.fixture
def page(console: Console) -> Iterator[Page]:
    context = console.browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    yield page
    for url in urls:  # no token in any URL the console asked for, whatever the test did
        assert not any(token in url for token in console.seeded.tokens.values()), url
    context.close()


def signed_in(page: Page, console: Console, role: str = "operator") -> Page:
    sign_in(page, console.url, console.seeded.tokens[role])
    expect(page.locator("#overview tbody tr").first).to_be_visible()
    return page


def test_sign_in_refuses_a_bad_token_and_keeps_a_good_one_out_of_the_url(
    page: Page, console: Console
) -> None:
    sign_in(page, console.url, console.seeded.tokens["bad"])
    expect(page.locator("#signin-error")).to_contain_text("refused")
    expect(page.locator("#nav")).to_be_hidden()
    console.shot(page, "signin-refused")

    page.fill("#token", console.seeded.tokens["auditor"])
    page.keyboard.press("Enter")  # the form submits from the keyboard
    expect(page.locator("#overview")).to_be_visible()
    token = console.seeded.tokens["auditor"]
    assert token not in page.url
    assert page.evaluate("sessionStorage.getItem('riskwatch.token')") == token
    assert page.evaluate("localStorage.length") == 0
    assert page.evaluate("document.cookie") == ""

    page.click("#signout")
    expect(page.locator("#signin-page")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('riskwatch.token')") is None


def test_overview_shows_every_model_against_the_nine_subcategories(
    page: Page, console: Console
) -> None:
    signed_in(page, console)
    fleet = console.api(page, "/models")
    rows = page.locator("#overview tbody tr")
    expect(rows).to_have_count(len(fleet["models"]))
    assert len(fleet["models"]) >= 4
    for m in fleet["models"]:
        row = page.locator(f'#overview tr[data-model="{m["model_id"]}"]')
        expect(row.locator("td[data-subcategory]")).to_have_count(NINE)
        expect(row.locator("svg.spark polyline")).to_have_count(1)
        for sub, cell in m["subcategories"].items():
            text = f"{cell['open']} · {cell['worst_severity']}" if cell["open"] else "0"
            expect(row.locator(f'td[data-subcategory="{sub}"]')).to_have_text(text)
    ethics = page.locator(f'#overview tr[data-model="{MODEL}"] td[data-subcategory="ethics"] a')
    expect(ethics).to_have_text("1 · high")
    console.shot(page, "overview")
    ethics.click()  # a cell opens its incidents
    expect(page.locator("#incidents tbody tr")).to_have_count(1)


def test_incidents_filter(page: Page, console: Console) -> None:
    signed_in(page, console)
    page.click("#nav >> text=Incidents")
    expect(page.locator("#incidents")).to_be_visible()
    everything = console.api(page, "/incidents", limit=1000)["count"]
    expect(page.locator(".pager")).to_contain_text(f"{everything} incident")

    page.select_option("#f-model", MODEL)
    page.select_option("#f-subcategory", "model_reliability")
    page.click("#filters button[type=submit]")
    want = console.api(page, "/incidents", model=MODEL, subcategory="model_reliability")
    assert 0 < want["count"] < everything
    rows = page.locator("#incidents tbody tr")
    expect(rows).to_have_count(want["count"])
    assert {r.get_attribute("data-incident") for r in rows.all()} == {
        i["incident_id"] for i in want["items"]
    }
    for row in rows.all():
        expect(row.locator("td").nth(1)).to_have_text(MODEL)
        expect(row.locator("td").nth(2)).to_have_text("model reliability")
    assert "model=credit-scoring" in page.url  # a filtered list can be bookmarked
    console.shot(page, "incidents-filtered")

    page.select_option("#f-status", "resolved")
    page.click("#filters button[type=submit]")
    expect(page.locator(".pager")).to_contain_text("0 incidents")


def _incident(page: Page, console: Console, subcategory: str) -> dict[str, Any]:
    (item,) = console.api(page, "/incidents", model=MODEL, subcategory=subcategory)["items"]
    return item


def test_open_acknowledge_then_resolve_an_incident(page: Page, console: Console) -> None:
    signed_in(page, console, "operator")
    item = _incident(page, console, "ethics")
    iid = item["incident_id"]
    page.goto(console.url + f"#/incidents?model={MODEL}&subcategory=ethics")
    page.click(f'#incidents tr[data-incident="{iid}"] a')
    expect(page.locator("#page h1")).to_have_text(item["title"])
    expect(page.locator(".page-head [data-status]")).to_have_text("open")
    # its findings with evidence, Kafka coordinates, regulation references and remediation
    expect(page.locator("details.finding")).to_have_count(6)
    first = page.locator("details.finding").first
    expect(first.locator(".kafka")).to_have_text(
        "topic inference-events, partition 0, offset 10105"
    )
    expect(first.locator("pre.evidence")).to_contain_text('"demographic_parity_ratio"')
    expect(page.locator("#refs li")).to_have_text(["EU AI Act Art. 10(2)(f)", "GDPR Art. 22"])
    expect(page.locator(".facts").first).to_contain_text("Review the decision threshold")

    page.click("#acknowledge")  # no reason yet
    expect(page.locator("#action-error")).to_contain_text("Give a reason")
    page.fill("#reason", "looking into the gender gap")
    page.click("#acknowledge")
    expect(page.locator(".page-head [data-status]")).to_have_text("acknowledged")
    expect(page.locator("#action-message")).to_contain_text("Acknowledged by operator-console")
    expect(page.locator("#acknowledge")).to_have_count(0)
    page.fill("#reason", "threshold recalibrated per group")
    page.click("#resolve")
    expect(page.locator(".page-head [data-status]")).to_have_text("resolved")
    expect(page.locator("#history tbody tr")).to_have_count(3)
    expect(page.locator("#history tbody tr").last).to_contain_text(
        "threshold recalibrated per group"
    )
    console.shot(page, "incident-resolved")

    stored = console.api(page, f"/incidents/{iid}")
    assert stored["status"] == "resolved"
    assert [(e["event"], e["actor"]) for e in stored["events"]] == [
        ("opened", "riskwatch"),
        ("acknowledged", "operator-console"),
        ("resolved", "operator-console"),
    ]
    assert console.api(page, "/chain/verify")["ok"] is True
    page.click("#nav >> text=Audit chain")
    expect(page.locator("#chain-state")).to_have_attribute("data-ok", "true")
    console.shot(page, "chain")


def test_an_auditor_cannot_act(page: Page, console: Console) -> None:
    signed_in(page, console, "auditor")
    item = _incident(page, console, "regulation")
    page.goto(console.url + f"#/incident/{item['incident_id']}")
    page.fill("#reason", "I would like to")
    page.click("#acknowledge")
    expect(page.locator("#action-error")).to_contain_text("needs the operator role")
    expect(page.locator("#action-error")).to_contain_text("this token is auditor")
    expect(page.locator(".page-head [data-status]")).to_have_text("open")
    console.shot(page, "incident-auditor-refused")
    assert console.api(page, f"/incidents/{item['incident_id']}")["status"] == "open"


def test_model_page_charts(page: Page, console: Console) -> None:
    signed_in(page, console, "auditor")
    page.click(f'#overview tr[data-model="{MODEL}"] th a')
    expect(page.locator("#page h1")).to_have_text(MODEL)
    charts = page.locator("svg.chart")
    titles = [c.get_attribute("data-chart") for c in charts.all()]
    assert any(t.startswith("Events per") for t in titles if t)
    for title in (
        "Error rate",
        "Latency (ms)",
        "PII entities per event",
        "Drift: income (p value)",
        "Fairness: demographic parity ratio by gender",
    ):
        assert title in titles
    cost = page.locator('svg.chart[data-chart^="Cost per"]')
    expect(cost.locator("rect").first).to_be_visible()
    expect(cost.locator("line.limit")).to_have_count(1)  # the budget line
    drift = page.locator('svg.chart[data-chart^="Drift: income"]')
    expect(drift.locator("circle")).to_have_count(6)
    expect(drift.locator("line.limit")).to_have_count(1)
    latency = page.locator('svg.chart[data-chart="Latency (ms)"]')
    expect(latency.locator("path.line")).to_have_count(2)
    expect(page.locator(".fair table.groups tbody tr")).to_have_count(2)
    console.shot(page, "model")


def test_report_downloads(page: Page, console: Console, tmp_path: Path) -> None:
    signed_in(page, console, "auditor")
    page.goto(console.url + f"#/model/{MODEL}")
    page.click(".page-head >> text=Report")
    expect(page.locator("#r-model")).to_have_value(MODEL)
    with page.expect_download() as html_download:
        page.click("#download-html")
    html = html_download.value
    assert html.suggested_filename == f"riskwatch-report-{MODEL}.html"
    html.save_as(tmp_path / "report.html")
    text = (tmp_path / "report.html").read_text()
    assert "<html" in text and MODEL in text
    with page.expect_download() as pdf_download:
        page.click("#download-pdf")
    pdf_download.value.save_as(tmp_path / "report.pdf")
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF")
    expect(page.locator("#report-note")).to_contain_text("Downloaded the PDF report")
    console.shot(page, "reports")


def test_removals_page(page: Page, console: Console) -> None:
    signed_in(page, console, "auditor")
    page.click("#nav >> text=Erasure & retention")
    expect(page.locator("#page h1")).to_have_text("Erasure and retention records")
    expect(page.locator("#page")).to_contain_text("No erasure or retention purge")


def test_keyboard_and_print(page: Page, console: Console) -> None:
    signed_in(page, console, "auditor")
    page.reload()  # the session survives a reload; Tab starts from the top of the page
    expect(page.locator("#overview")).to_be_visible()
    reached: list[str] = []
    for _ in range(8):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.textContent.trim()"))
    assert reached[:7] == [
        "Skip to content",
        "Overview",
        "Incidents",
        "Audit chain",
        "Erasure & retention",
        "Reports",
        "Sign out",
    ]
    page.keyboard.press("Shift+Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"  # a visible focus ring
    page.goto(console.url + "#/incidents")
    expect(page.locator("#filters")).to_be_visible()
    page.emulate_media(media="print")
    expect(page.locator("#nav")).to_be_hidden()
    expect(page.locator("#filters")).to_be_hidden()
    expect(page.locator("#incidents")).to_be_visible()
    # a printed incident shows every finding's evidence, the collapsed ones too
    page.goto(console.url + f"#/incident/{_incident(page, console, 'ethics')['incident_id']}")
    second = page.locator("details.finding").nth(1)
    expect(second).not_to_have_attribute("open", "")
    expect(second.locator("pre.evidence")).to_be_visible()
    page.emulate_media(media="screen")
    expect(second.locator("pre.evidence")).to_be_hidden()
