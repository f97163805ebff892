"""/webhooks: admin only, create (secret once), list, read, remove, deliveries, retry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from audit.api.app import create_app
from audit.store import AuditStore
from audit.tokens import create_token
from audit.webhooks import outbox
from core.settings import Settings
from tests.unit.audit.webhooks.webhook_helpers import finding, new_store, write_findings

URL = "https://hooks.example.com/riskwatch"


class Api:
    def __init__(self, store: AuditStore) -> None:
        self.store = store
        self.client = TestClient(
            create_app(Settings(database_url=str(store.engine.url)), engine=store.engine)
        )
        self.tokens = {
            r: create_token(store.engine, role=r, name=f"{r}-user")[1]
            for r in ("auditor", "operator", "admin")
        }

    def call(self, method: str, path: str, role: str | None = "admin", **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return self.client.request(method, path, headers=headers, **kw)


@pytest.fixture
def api(tmp_path: Path) -> Api:
    return Api(new_store(tmp_path))


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/webhooks"),
        ("POST", "/webhooks"),
        ("GET", "/webhooks/1"),
        ("DELETE", "/webhooks/1"),
        ("GET", "/webhooks/deliveries"),
        ("POST", "/webhooks/deliveries/retry"),
        ("GET", "/webhooks/deliveries/x"),
        ("POST", "/webhooks/deliveries/x/retry"),
    ],
)
def test_webhooks_need_the_admin_role(api: Api, method: str, path: str) -> None:
    body = {"url": URL} if method == "POST" and path == "/webhooks" else None
    assert api.call(method, path, role=None, json=body).status_code == 401
    for role in ("auditor", "operator"):
        assert api.call(method, path, role=role, json=body).status_code == 403
    assert api.call(method, path, json=body).status_code not in (401, 403)


def test_create_list_read_remove(api: Api) -> None:
    # The fixture's tokens are chained too: count what this test adds.
    before = api.call("GET", "/chain/verify").json()["entries"]
    resp = api.call(
        "POST",
        "/webhooks",
        json={
            "url": URL,
            "name": "privacy team",
            "format": "slack",
            "models": ["credit-scoring"],
            "categories": ["legal"],
            "subcategories": ["data_privacy"],
            "min_severity": "medium",
        },
    )
    assert resp.status_code == 201, resp.text
    created = resp.json()
    assert created["secret"].startswith("whsec_")
    assert created["created_by"] == "admin-user" and created["active"]
    assert (created["format"], created["min_severity"]) == ("slack", "medium")

    listed = api.call("GET", "/webhooks").json()
    assert listed["count"] == 1 and "secret" not in listed["items"][0]
    assert created["secret"] not in api.call("GET", f"/webhooks/{created['id']}").text

    removed = api.call("DELETE", f"/webhooks/{created['id']}").json()
    assert removed["active"] is False and removed["removed_by"] == "admin-user"
    assert api.call("GET", "/webhooks").json()["count"] == 0
    assert api.call("GET", "/webhooks", params={"include_removed": True}).json()["count"] == 1
    assert api.call("DELETE", "/webhooks/999").status_code == 404
    assert api.call("GET", "/webhooks/999").status_code == 404
    verify = api.call("GET", "/chain/verify").json()
    assert verify["ok"] and verify["entries"] == before + 2


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"url": "ftp://x/y"}, "http"),
        ({"url": "not a url"}, "http"),
        ({"url": URL, "format": "teams"}, "format"),
        ({"url": URL, "min_severity": "urgent"}, "min_severity"),
        ({"url": URL, "categories": ["technical"], "subcategories": ["ethics"]}, "never match"),
        ({"url": URL, "models": [""]}, "models"),
        ({}, "url"),
    ],
)
def test_bad_subscriptions_get_422_with_a_reason(
    api: Api, body: dict[str, Any], fragment: str
) -> None:
    resp = api.call("POST", "/webhooks", json=body)
    assert resp.status_code == 422 and fragment in resp.text, resp.text


def test_deliveries_dead_and_retry(api: Api) -> None:
    sub = api.call("POST", "/webhooks", json={"url": URL, "alert_on": "findings"}).json()
    write_findings(api.store, [finding(1), finding(2)])
    body = api.call("GET", "/webhooks/deliveries").json()
    assert body["counts"]["pending"] == 2 and len(body["items"]) == 2
    a, b = outbox.claim(api.store.engine, "d")
    outbox.mark_failed(
        api.store.engine,
        a.delivery_id,
        "d",
        error="HTTP 404 (permanent)",
        status_code=404,
        retry_at=None,
    )
    dead = api.call("GET", "/webhooks/deliveries", params={"status": "dead"}).json()
    assert [d["delivery_id"] for d in dead["items"]] == [a.delivery_id]
    assert dead["items"][0]["last_status_code"] == 404
    assert api.call("GET", f"/webhooks/deliveries/{a.delivery_id}").json()["status"] == "dead"
    assert api.call("GET", "/webhooks/deliveries/nope").status_code == 404
    assert api.call("POST", f"/webhooks/deliveries/{b.delivery_id}/retry").status_code == 409
    assert api.call("POST", "/webhooks/deliveries/nope/retry").status_code == 404
    revived = api.call("POST", f"/webhooks/deliveries/{a.delivery_id}/retry").json()
    assert (revived["status"], revived["attempts"]) == ("pending", 0)
    assert api.call(
        "POST", "/webhooks/deliveries/retry", params={"subscription_id": sub["id"]}
    ).json() == {"retried": 0}
    assert api.call("GET", "/webhooks/deliveries", params={"status": "gone"}).status_code == 422


def test_openapi_lists_the_webhook_operations(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    assert {"post", "get"} <= set(paths["/webhooks"])
    assert "delete" in paths["/webhooks/{subscription_id}"]
