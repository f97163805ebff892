"""GET /models and GET /models/{id}/metrics (what the web console draws), and the console's
static files at /ui/."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from audit.api.app import create_app
from audit.api.routes.console import ASSETS
from audit.models import EventRecord, table_of
from audit.report.bins import time_bins
from core.settings import Settings
from core.taxonomy import SUBCATEGORIES
from tests.dburl import db_url
from tests.unit.audit.api.console_helpers import MODEL, Seeded, seed

NINE = [sub.value for subs in SUBCATEGORIES.values() for sub in subs]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    return seed(tmp_path_factory.mktemp("models") / "m.db")


@pytest.fixture(scope="module")
def client(seeded: Seeded) -> TestClient:
    return TestClient(create_app(Settings(database_url=db_url(seeded.db)), engine=seeded.engine))


def get(client: TestClient, seeded: Seeded, path: str, **params: Any) -> Any:
    resp = client.get(
        path, params=params, headers={"Authorization": f"Bearer {seeded.tokens['auditor']}"}
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_models_need_a_token(client: TestClient, seeded: Seeded) -> None:
    assert client.get("/models").status_code == 401
    assert client.get(f"/models/{MODEL}/metrics").status_code == 401
    bad = {"Authorization": f"Bearer {seeded.tokens['bad']}"}
    assert client.get("/models", headers=bad).status_code == 401


def test_every_model_against_the_nine_subcategories(client: TestClient, seeded: Seeded) -> None:
    body = get(client, seeded, "/models")
    assert [s["subcategory"] for s in body["subcategories"]] == NINE
    bins = len(body["period"]["labels"])
    # the default period is the stored traffic's own (seeded in real time, so its length varies):
    # the bins are the report's for that period
    period = body["period"]
    expected = time_bins(
        datetime.fromisoformat(period["since"]), datetime.fromisoformat(period["until"])
    )
    assert bins == len(expected.starts) and len(period["bin_starts"]) == bins
    assert period["bin_seconds"] == expected.width.total_seconds() and bins <= 61
    models = {m["model_id"]: m for m in body["models"]}
    assert {"credit-scoring", "fraud-detection", "support-assistant"} <= set(models)
    for m in body["models"]:
        assert list(m["subcategories"]) == NINE
        assert len(m["trend"]) == bins and sum(m["trend"]) == m["findings"]
        listed = [
            i
            for status in ("open", "acknowledged")
            for i in get(client, seeded, "/incidents", model=m["model_id"], status=status)["items"]
        ]
        assert (
            m["open_incidents"]
            == len(listed)
            == sum(c["open"] for c in m["subcategories"].values())
        )
        for sub, cell in m["subcategories"].items():
            mine = [i for i in listed if i["subcategory"] == sub]
            assert cell["open"] == len(mine)
            ranks = ["info", "low", "medium", "high", "critical"]
            worst = max((ranks.index(i["severity"]) for i in mine), default=None)
            assert cell["worst_severity"] == (None if worst is None else ranks[worst])
    assert models[MODEL]["subcategories"]["ethics"] == {"open": 1, "worst_severity": "high"}
    # sorted by open incidents, the most first
    opens = [m["open_incidents"] for m in body["models"]]
    assert opens == sorted(opens, reverse=True)


def test_model_metrics(client: TestClient, seeded: Seeded) -> None:
    m = get(client, seeded, f"/models/{MODEL}/metrics")
    period = m["period"]
    n = len(period["labels"])
    for key in (
        "events",
        "error_rate",
        "latency_mean_ms",
        "latency_p95_ms",
        "cost_usd",
        "pii_rate",
    ):
        assert len(m[key]) == n, key
    events = table_of(EventRecord)
    with seeded.engine.connect() as conn:
        stored = conn.execute(select(func.count()).where(events.c.model_id == MODEL)).scalar_one()
    assert sum(m["events"]) == stored > 0
    for mean, p95, count in zip(
        m["latency_mean_ms"], m["latency_p95_ms"], m["events"], strict=True
    ):
        assert (mean is None) == (p95 is None) == (count == 0)
    assert all(r is None or 0 <= r <= 1 for r in m["error_rate"])
    width = datetime.fromisoformat(period["bin_starts"][1]) - datetime.fromisoformat(
        period["bin_starts"][0]
    )
    assert width.total_seconds() == period["bin_seconds"]
    assert m["daily_budget_usd"] == 40  # riskwatch.yaml
    assert m["bin_budget_usd"] == pytest.approx(40 * period["bin_seconds"] / 86400, rel=1e-4)
    (drift,) = m["drift"]
    assert (drift["feature"], drift["score_kind"], drift["threshold"]) == (
        "income",
        "p_value",
        0.05,
    )
    scores = [v for v in drift["values"] if v is not None]
    assert len(scores) == 6 and min(scores) == pytest.approx(0.04 / 6)
    (fair,) = m["fairness"]
    assert (fair["attribute"], fair["metric"], fair["threshold"]) == (
        "gender",
        "demographic_parity_ratio",
        0.8,
    )
    assert [v for v in fair["values"] if v is not None][-1] == pytest.approx(0.68)
    assert fair["groups"]["male"] == {"n": 49, "selection_rate": pytest.approx(0.44)}


def test_model_metrics_of_pii(client: TestClient, seeded: Seeded) -> None:
    m = get(client, seeded, "/models/support-assistant/metrics")
    assert m["pii_entities"] and all(v > 0 for v in m["pii_entities"].values())
    rates = [r for r in m["pii_rate"] if r]
    assert rates
    total = sum(r * e for r, e in zip(m["pii_rate"], m["events"], strict=True) if r)
    assert round(total) == sum(m["pii_entities"].values())
    assert m["drift"] == [] and m["fairness"] == [] and m["daily_budget_usd"] is not None


def test_a_period_and_its_errors(client: TestClient, seeded: Seeded) -> None:
    auth = {"Authorization": f"Bearer {seeded.tokens['auditor']}"}
    since, until = "2020-01-01T00:00:00+00:00", "2020-01-02T00:00:00+00:00"
    body = get(client, seeded, "/models", since=since, until=until)
    assert body["models"] == [] and body["period"]["bin_seconds"] == 1800
    unknown = get(client, seeded, "/models/no-such-model/metrics")
    assert sum(unknown["events"]) == 0 and unknown["drift"] == []
    backwards = client.get("/models", params={"since": until, "until": since}, headers=auth)
    assert backwards.status_code == 422
    naive = client.get("/models", params={"since": "2020-01-01T00:00:00"}, headers=auth)
    assert naive.status_code == 422


def test_the_console_files(client: TestClient) -> None:
    resp = client.get("/ui", follow_redirects=False)
    assert resp.status_code == 308 and resp.headers["location"] == "/ui/"
    index = client.get("/ui/")
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in index.headers["content-security-policy"]
    assert index.headers["x-content-type-options"] == "nosniff"
    for name, media_type in ASSETS.items():
        resp = client.get(f"/ui/{name}")
        assert resp.status_code == 200 and resp.headers["content-type"] == media_type
    # nothing but the three files; no CDN or other origin referenced
    for path in ("/ui/pyproject.toml", "/ui/..%2Fapp.py", "/ui/chain.py"):
        assert client.get(path).status_code == 404
    for name in ASSETS:
        assert "https://" not in client.get(f"/ui/{name}").text
    assert "/ui" not in client.get("/openapi.json").json()["paths"]
