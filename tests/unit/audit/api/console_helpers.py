"""The web console against a seeded store: simulated traffic through the real pipeline, plus drift
and fairness findings for credit-scoring (so the model page has every chart), served by uvicorn
on a free port; Debian's Chromium driven by Playwright (the system binary, never a download).

Screenshots for the README:  python -m tests.unit.audit.api.console_helpers docs/screenshots
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from audit.api.app import create_app
from audit.models import EventRecord, as_utc, table_of
from audit.store import AuditBatch
from audit.tokens import create_token
from core.findings import Finding, finding_id_for
from core.settings import Settings
from core.taxonomy import Category, Severity, Subcategory
from tests.dburl import db_url
from tests.unit.audit.audit_helpers import filled

MODEL = "credit-scoring"
VIEWPORT = {"width": 1280, "height": 800}


def chromium_path() -> str:
    found = os.environ.get("RISKWATCH_CHROMIUM") or shutil.which("chromium")
    if not found:
        raise RuntimeError("no chromium on PATH: `make chromium-bin` installs Debian's")
    return found


def _finding(n: int, at: datetime, detector: str, evidence: dict[str, Any], **kw: Any) -> Finding:
    rule = kw.pop("rule")
    return Finding(
        finding_id=finding_id_for(rule, detector, "console", f"{MODEL}|{n}"),
        event_id=None,
        model_id=MODEL,
        model_version="1",
        detector=detector,
        rule_id=rule,
        evidence=evidence,
        pack="core",
        pack_version="1",
        source_topic="inference-events",
        source_partition=0,
        source_offset=10_000 + n,
        detected_at=at,
        **kw,
    )


def chart_findings(end: datetime) -> list[Finding]:
    """Drift of ``income`` and a demographic-parity gap on ``gender``, in the last minute."""
    out: list[Finding] = []
    for n in range(6):
        at = end - timedelta(seconds=20 - 3 * n)
        out.append(
            _finding(
                n,
                at,
                "drift",
                {
                    "column": "income",
                    "score_kind": "p_value",
                    "p_value": 0.04 / (n + 1),
                    "threshold": 0.05,
                    "stattest": "ks",
                },
                rule="RW-TR-DRIFT",
                category=Category.TECHNICAL,
                subcategory=Subcategory.MODEL_RELIABILITY,
                severity=Severity.MEDIUM,
                title=f"Drift in income of {MODEL}",
                regulation_refs=["EU AI Act Art. 15(1)"],
                remediation="Compare the income distribution with the training data; retrain.",
            )
        )
        out.append(
            _finding(
                100 + n,
                at,
                "fairness",
                {
                    "attribute": "gender",
                    "metric": "demographic_parity_ratio",
                    "value": 0.78 - 0.02 * n,
                    "threshold": 0.8,
                    "groups": {
                        "female": {"n": 40 + n, "selection_rate": 0.3},
                        "male": {"n": 44 + n, "selection_rate": 0.39 + 0.01 * n},
                    },
                },
                rule="RW-LG-FAIR",
                category=Category.LEGAL,
                subcategory=Subcategory.ETHICS,
                severity=Severity.HIGH,
                title=f"Demographic parity of {MODEL} by gender below 0.8",
                regulation_refs=["EU AI Act Art. 10(2)(f)", "GDPR Art. 22"],
                remediation="Review the decision threshold per group with the model owner.",
            )
        )
    return out


@dataclass
class Seeded:
    db: Path
    engine: Engine
    tokens: dict[str, str]


def seed(db: Path) -> Seeded:
    """400 simulated events and their findings and incidents, the chart findings, and one token
    per role (``bad`` is a token that was never issued)."""
    store = filled(db).store
    engine = store.engine
    events = table_of(EventRecord)
    with engine.connect() as conn:
        end = as_utc(conn.execute(select(func.max(events.c.timestamp))).scalar_one())
    store.write(AuditBatch(events=[], findings=chart_findings(end)))
    tokens = {
        role: create_token(engine, role=role, name=f"{role}-console")[1]
        for role in ("auditor", "operator")
    }
    tokens["bad"] = "rw_" + "x" * 40
    return Seeded(db, engine, tokens)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve(seeded: Seeded) -> Iterator[str]:
    """``riskwatch api``'s app on a free local port, in a thread; yields the console's URL."""
    port = _free_port()
    app = create_app(Settings(database_url=db_url(seeded.db)), engine=seeded.engine)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/ui/"
    finally:
        server.should_exit = True
        thread.join(10)


def sign_in(page: Any, url: str, token: str) -> None:
    page.goto(url)
    page.fill("#token", token)
    page.click("#signin button[type=submit]")


def screenshots(out: Path) -> list[Path]:
    """The overview, the incident list, an incident and a model page, at 1280x800."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    if not os.environ.get("RISKWATCH_KEY_FILE"):
        from audit.keys import init_key_file

        keys = Path(tempfile.mkdtemp(prefix="riskwatch-keys-")) / "keys.json"
        init_key_file(keys)
        os.environ["RISKWATCH_KEY_FILE"] = str(keys)
    seeded = seed(Path(tempfile.mkdtemp(prefix="riskwatch-console-")) / "console.db")
    shots: list[Path] = []
    with serve(seeded) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path())
        page = browser.new_page(viewport=VIEWPORT)
        sign_in(page, url, seeded.tokens["operator"])
        page.wait_for_selector("#overview tbody tr")
        for name, hash_ in (
            ("overview", "#/"),
            ("incidents", "#/incidents?status=open"),
            ("incident", None),
            ("model", f"#/model/{MODEL}"),
        ):
            if hash_ is None:
                page.goto(url + "#/incidents?subcategory=ethics")
                page.click("#incidents tbody a")
                page.wait_for_selector("#history")
            else:
                page.goto(url + hash_)
                page.wait_for_selector("#page h1")
                page.wait_for_load_state("networkidle")
            shots.append(out / f"console-{name}.png")
            page.screenshot(path=str(shots[-1]), full_page=False)
        browser.close()
    return shots


if __name__ == "__main__":
    for path in screenshots(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")):
        print(path)
