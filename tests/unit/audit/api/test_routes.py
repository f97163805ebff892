"""The audit API against a store filled with simulated traffic: auth matrix, filters,
pagination, sorting, the finding trail, lifecycle actions, summary, OpenAPI."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from audit.api.app import create_app
from audit.models import FindingRecord
from audit.tokens import create_token, revoke_token
from core.settings import Settings
from core.taxonomy import Severity
from tests.dburl import db_url
from tests.unit.audit.audit_helpers import filled

RANK = {s.value: s.rank for s in Severity}


class Api:
    def __init__(self, db: Path) -> None:
        self.handler = filled(db)
        self.engine = self.handler.store.engine
        self.client = TestClient(create_app(Settings(database_url=db_url(db))))
        self.tokens = {
            role: create_token(self.engine, role=role, name=f"{role}-user")[1]
            for role in ("auditor", "operator", "admin")
        }
        info, self.tokens["revoked"] = create_token(self.engine, role="admin", name="old")
        revoke_token(self.engine, token_id=info.id)
        with self.engine.connect() as conn:
            self.rows = [dict(r) for r in conn.execute(select(FindingRecord.__table__)).mappings()]

    def get(self, path: str, role: str = "auditor", **params: Any) -> Any:
        return self.client.get(path, params=params, headers=self.auth(role))

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def all_items(self, **params: Any) -> list[dict[str, Any]]:
        resp = self.get("/findings", limit=1000, **params)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["count"] == len(body["items"])
        return body["items"]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Api:
    return Api(tmp_path_factory.mktemp("api") / "a.db")


ENDPOINTS = [  # method, path, body, weakest role allowed
    ("GET", "/findings", None, "auditor"),
    ("GET", "/findings/{fid}", None, "auditor"),
    ("GET", "/summary", None, "auditor"),
    ("GET", "/chain/verify", None, "auditor"),
    ("POST", "/findings/unknown-id/acknowledge", {"reason": "r"}, "operator"),
    ("POST", "/findings/unknown-id/false-positive", {"reason": "r"}, "operator"),
    ("GET", "/tokens", None, "admin"),
    ("POST", "/tokens", {"role": "auditor", "name": "matrix"}, "admin"),
    ("DELETE", "/tokens/9999", None, "admin"),
]
ORDER = ["auditor", "operator", "admin"]


@pytest.mark.parametrize(("method", "path", "body", "needs"), ENDPOINTS)
def test_auth_matrix(api: Api, method: str, path: str, body: Any, needs: str) -> None:
    path = path.format(fid=api.rows[0]["finding_id"])

    def call(headers: dict[str, str]) -> int:
        return api.client.request(method, path, json=body, headers=headers).status_code

    assert call({}) == 401
    assert call({"Authorization": "Bearer rw_not-a-token"}) == 401
    assert call({"Authorization": "Basic dXNlcjpwdw=="}) == 401
    assert call(api.auth("revoked")) == 401
    for role in ORDER:
        status = call(api.auth(role))
        if ORDER.index(role) < ORDER.index(needs):
            assert status == 403, (role, status)
        else:
            assert status in (200, 201, 404), (role, status)  # 404: the unknown ids above


def test_healthz_and_openapi(api: Api) -> None:
    assert api.client.get("/healthz").json()["status"] == "ok"
    spec = api.client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["bearer"]["description"],
    }
    assert spec["paths"]["/findings"]["get"]["security"] == [{"bearer": []}]
    assert "security" not in spec["paths"]["/healthz"]["get"]


@pytest.mark.parametrize(
    ("param", "column"),
    [
        ("model", "model_id"),
        ("version", "model_version"),
        ("category", "category"),
        ("subcategory", "subcategory"),
        ("severity", "severity"),
        ("detector", "detector"),
    ],
)
def test_exact_filters(api: Api, param: str, column: str) -> None:
    for value in {r[column] for r in api.rows if r[column] is not None}:
        expected = {r["finding_id"] for r in api.rows if r[column] == value}
        assert {f["finding_id"] for f in api.all_items(**{param: value})} == expected


def test_min_severity_regulation_status_and_time_filters(api: Api) -> None:
    high = {r["finding_id"] for r in api.rows if RANK[r["severity"]] >= RANK["high"]}
    assert high and {f["finding_id"] for f in api.all_items(min_severity="high")} == high
    art15 = {
        r["finding_id"]
        for r in api.rows
        if any("art. 15" in x.lower() for x in r["regulation_refs"])
    }
    assert art15 and {f["finding_id"] for f in api.all_items(regulation="Art. 15")} == art15
    assert api.all_items(regulation="no such clause") == []
    assert api.all_items(regulation="%") == []  # LIKE wildcards are literal
    assert len(api.all_items(status="open")) == len(api.rows)
    times = sorted({r["detected_at"] for r in api.rows})
    assert len(times) >= 2
    cut = times[-1].replace(tzinfo=UTC).isoformat()
    late = {r["finding_id"] for r in api.rows if r["detected_at"] >= times[-1]}
    assert {f["finding_id"] for f in api.all_items(since=cut)} == late
    assert len(api.all_items(until=cut)) == len(api.rows) - len(late)
    assert api.all_items(since=cut, until=cut) == []


def test_pagination_offset_and_cursor_and_sorting(api: Api) -> None:
    every = api.all_items()
    assert len(every) == len(api.rows) > 10
    stamps = [f["detected_at"] for f in every]
    assert stamps == sorted(stamps, reverse=True)
    pages, offset = [], 0
    while True:
        body = api.get("/findings", limit=7, offset=offset).json()
        assert body["count"] == len(every) and body["limit"] == 7 and body["offset"] == offset
        pages += body["items"]
        if len(body["items"]) < 7:
            break
        offset += 7
    assert [f["finding_id"] for f in pages] == [f["finding_id"] for f in every]
    for sort in ("-detected_at", "detected_at", "severity", "-severity"):
        full = [f["finding_id"] for f in api.all_items(sort=sort)]
        walked, cursor = [], None
        while True:
            params: dict[str, Any] = {"limit": 6, "sort": sort}
            if cursor:
                params["cursor"] = cursor
            body = api.get("/findings", **params).json()
            walked += [f["finding_id"] for f in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert walked == full, sort
    ranks = [RANK[f["severity"]] for f in api.all_items(sort="severity")]
    assert ranks == sorted(ranks) and ranks[0] < ranks[-1]
    assert [RANK[f["severity"]] for f in api.all_items(sort="-severity")] == sorted(
        ranks, reverse=True
    )


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 1001},
        {"offset": -1},
        {"severity": "severe"},
        {"min_severity": "x"},
        {"category": "tech"},
        {"status": "closed"},
        {"sort": "title"},
        {"since": "2026-11-28T12:00:00"},
        {"since": "yesterday"},
        {"cursor": "garbage"},
        {"cursor": "abc", "offset": 5},
        {"regulation": ""},
    ],
)
def test_validation_errors_are_422(api: Api, params: dict[str, Any]) -> None:
    assert api.get("/findings", **params).status_code == 422


def test_finding_trail(api: Api) -> None:
    row = next(r for r in api.rows if r["event_id"] is not None and r["source_offset"] is not None)
    body = api.get(f"/findings/{row['finding_id']}").json()
    assert body["finding_id"] == row["finding_id"] and body["status"] == "open"
    assert body["rule"] == {
        "id": row["rule_id"],
        "pack": row["pack"],
        "pack_version": row["pack_version"],
    }
    assert body["kafka"] == {
        "topic": "ev",
        "partition": 0,
        "offset": row["source_offset"],
        "timestamp_ms": None,
    }
    assert body["evidence"] == row["evidence"] and body["lifecycle"] == []
    event = body["event"]
    assert event["event_id"] == row["event_id"] and event["kafka"]["offset"] == row["source_offset"]
    assert event["payload"]["event_id"] == row["event_id"]
    for part in ("input", "output"):
        stored = event["payload"].get(part, {}).get("text")
        assert stored is None or (
            isinstance(stored, dict) and ("sha256" in stored or "redacted" in stored)
        )
    with api.engine.connect() as conn:
        seq, entry = conn.execute(
            text("select seq, entry_hash from audit_chain where subject = :f"),
            {"f": row["finding_id"]},
        ).one()
    assert body["chain"]["seq"] == seq and body["chain"]["entry_hash"] == entry
    assert body["detected_at"].endswith("Z")
    assert api.get("/findings/does-not-exist").status_code == 404
    window = [r for r in api.rows if r["event_id"] is None]
    if window:
        assert api.get(f"/findings/{window[0]['finding_id']}").json()["event"] is None


def test_lifecycle_over_the_api(tmp_path: Path) -> None:
    api = Api(tmp_path / "a.db")
    fid = api.rows[0]["finding_id"]

    def post(action: str, role: str, reason: str = "because") -> Any:
        return api.client.post(
            f"/findings/{fid}/{action}", json={"reason": reason}, headers=api.auth(role)
        )

    assert post("acknowledge", "auditor").status_code == 403
    assert post("acknowledge", "operator", reason="").status_code == 422
    assert (
        api.client.post(
            f"/findings/{fid}/acknowledge", json={}, headers=api.auth("operator")
        ).status_code
        == 422
    )
    assert post("escalate", "operator").status_code == 422
    ack = post("acknowledge", "operator")
    assert ack.status_code == 200, ack.text
    assert ack.json()["actor"] == "operator-user" and ack.json()["status"] == "acknowledged"
    assert post("acknowledge", "operator").status_code == 409
    resolved = post("resolve", "admin", reason="patched")
    assert (
        resolved.status_code == 200
        and resolved.json()["chain"]["seq"] == ack.json()["chain"]["seq"] + 1
    )
    trail = api.get(f"/findings/{fid}").json()
    assert trail["status"] == "resolved"
    assert [(a["action"], a["actor"]) for a in trail["lifecycle"]] == [
        ("acknowledge", "operator-user"),
        ("resolve", "admin-user"),
    ]
    assert [f["finding_id"] for f in api.all_items(status="resolved")] == [fid]
    assert len(api.all_items(status="open")) == len(api.rows) - 1
    assert post("reopen", "operator").json()["status"] == "open"
    assert post("false-positive", "operator").json()["status"] == "false_positive"
    assert (
        api.client.post(
            "/findings/nope/resolve", json={"reason": "r"}, headers=api.auth("operator")
        ).status_code
        == 404
    )
    report = api.get("/chain/verify").json()
    listed = api.get("/incidents", params={"limit": 1000}).json()["items"]
    changes = sum(len(api.get(f"/incidents/{i['incident_id']}").json()["events"]) for i in listed)
    assert changes  # the findings opened incidents; each state change is chained
    with api.engine.connect() as conn:
        tokens = conn.execute(
            text("select count(*) from audit_chain where kind = 'token'")
        ).scalar()
        batches = conn.execute(
            text("select count(*) from audit_chain where kind in ('events', 'feedback')")
        ).scalar()
    assert tokens  # each token's creation and revocation is chained too
    assert batches  # each batch's events: one link
    assert report["ok"] and report["entries"] == len(api.rows) + 4 + changes + tokens + batches


def test_summary(api: Api) -> None:
    for group, column in (
        ("category", "category"),
        ("severity", "severity"),
        ("model", "model_id"),
        ("subcategory", "subcategory"),
    ):
        body = api.get("/summary", group_by=group).json()
        expected: dict[str, int] = {}
        for r in api.rows:
            expected[r[column]] = expected.get(r[column], 0) + 1
        assert {g["key"]: g["count"] for g in body["groups"]} == expected
        assert body["total"] == len(api.rows)
    hours = api.get("/summary", group_by="bucket", bucket="hour").json()
    assert hours["total"] == len(api.rows) and hours["bucket"] == "hour"
    assert all(g["key"].endswith(":00:00Z") for g in hours["groups"])
    days = api.get("/summary", group_by="bucket", bucket="day").json()
    assert all(g["key"].endswith("T00:00:00Z") for g in days["groups"])
    assert api.get("/summary", since="2999-01-01T00:00:00Z").json()["total"] == 0
    assert api.get("/summary", group_by="title").status_code == 422
    assert api.get("/summary", bucket="week").status_code == 422


def test_tokens_over_the_api(tmp_path: Path) -> None:
    api = Api(tmp_path / "a.db")
    made = api.client.post(
        "/tokens", json={"role": "operator", "name": "svc"}, headers=api.auth("admin")
    )
    assert made.status_code == 201 and made.json()["token"].startswith("rw_")
    listed = api.get("/tokens", role="admin").json()
    assert "token" not in listed["items"][0] and listed["count"] == 5
    headers = {"Authorization": f"Bearer {made.json()['token']}"}
    assert api.client.get("/findings", headers=headers).status_code == 200
    assert (
        api.client.delete(f"/tokens/{made.json()['id']}", headers=api.auth("admin")).status_code
        == 200
    )
    assert api.client.get("/findings", headers=headers).status_code == 401
    assert (
        api.client.post("/tokens", json={"role": "root"}, headers=api.auth("admin")).status_code
        == 422
    )


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/tokens", {"role": "auditor", "name": "\u0000"}),
        ("/tokens", {"role": "auditor", "name": "two\nlines"}),
        ("/erasures", {"user_ref": "cust-1", "reason": "\u0000"}),
        ("/erasures", {"user_ref": "cust-1", "reason": "DSR \u0000 1"}),
        ("/erasures", {"user_ref": "cust\u0000", "reason": "DSR-1"}),
        ("/findings/{fid}/acknowledge", {"reason": "seen\u0000"}),
        ("/webhooks", {"url": "https://hooks.example/a", "name": "\u0000"}),
        ("/webhooks", {"url": "https://hooks.example/\u0000"}),
        ("/webhooks", {"url": "https://hooks.example/a", "models": ["m\u0000"]}),
    ],
)
def test_nul_and_control_characters_are_422_not_a_database_error(
    api: Api, path: str, body: dict[str, Any]
) -> None:
    """PostgreSQL text cannot hold NUL: such input must be refused before the database."""
    path = path.format(fid=api.rows[0]["finding_id"])
    resp = api.client.post(path, json=body, headers=api.auth("admin"))
    assert resp.status_code == 422, resp.text
