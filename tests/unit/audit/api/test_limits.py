"""Hostile requests to the audit API: an oversized body is a 413 before it is parsed or
authenticated; out-of-range datetimes, NaN/Infinity in JSON and NUL in the query or the path are
422s, never server errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from audit.api.app import create_app
from audit.tokens import create_token
from core.settings import Settings
from tests.dburl import db_url
from tests.unit.audit.audit_helpers import filled

LIMIT = 4096


class Api:
    def __init__(self, db: Path) -> None:
        engine = filled(db, n=60).store.engine
        self.client = TestClient(
            create_app(Settings(database_url=db_url(db), api_max_body_bytes=LIMIT)),
            raise_server_exceptions=False,
        )
        token = create_token(engine, role="admin", name="admin-user")[1]
        self.auth = {"Authorization": f"Bearer {token}"}

    def request(self, method: str, path: str, auth: bool = True, **kw: Any) -> Any:
        headers = {**(self.auth if auth else {}), **kw.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kw)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Api:
    return Api(tmp_path_factory.mktemp("limits") / "l.db")


def test_the_default_body_limit_is_one_mebibyte() -> None:
    assert Settings().api_max_body_bytes == 1024 * 1024


@pytest.mark.parametrize("auth", [True, False])
def test_an_oversized_body_is_413_before_auth_and_parsing(api: Api, auth: bool) -> None:
    body = b'{"role": "auditor", "name": "' + b"x" * LIMIT + b'"}'
    resp = api.request("POST", "/tokens", auth=auth, content=body)
    assert resp.status_code == 413, resp.text
    # not even JSON: still 413, the body is never parsed
    resp = api.request("POST", "/tokens", auth=auth, content=b"\xff" * (LIMIT + 1))
    assert resp.status_code == 413


def test_a_streamed_body_without_content_length_is_counted(api: Api) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(8):
            yield b" " * 1024

    resp = api.request(
        "POST",
        "/tokens",
        auth=False,
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code == 413, resp.text


def test_a_body_within_the_limit_goes_through(api: Api) -> None:
    resp = api.request("POST", "/tokens", json={"role": "auditor", "name": "fits"})
    assert resp.status_code == 201, resp.text


DATES = [
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+23:59",
]


@pytest.mark.parametrize("when", DATES)
@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/findings", {"since": "{when}"}),
        ("/findings", {"until": "{when}"}),
        ("/summary", {"since": "{when}"}),
        ("/summary", {"until": "{when}"}),
        ("/reports", {"model": "credit-scoring", "since": "{when}"}),
        (
            "/reports",
            {"model": "credit-scoring", "since": "2026-01-01T00:00:00Z", "until": "{when}"},
        ),
    ],
)
def test_out_of_range_datetimes_are_422(
    api: Api, path: str, params: dict[str, str], when: str
) -> None:
    params = {k: v.format(when=when) for k, v in params.items()}
    resp = api.request("GET", path, params=params)
    assert resp.status_code == 422, resp.text


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/tokens", '{"role": "auditor", "name": "n", "x": %s}'),
        ("/tokens", '{"role": %s}'),
        ("/webhooks", '{"url": "https://hooks.example.com/", "min_severity": [%s]}'),
        ("/erasures", '{"user_ref": "u", "reason": "r", "n": {"a": %s}}'),
    ],
)
def test_nan_and_infinity_in_a_json_body_are_422(
    api: Api, path: str, template: str, constant: str
) -> None:
    resp = api.request(
        "POST", path, content=template % constant, headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 422, resp.text


@pytest.mark.parametrize(
    "url",
    [
        "/findings?model=%00",
        "/findings?model_id=cs%00",
        "/findings/%00",
        "/findings/abc%00def",
        "/findings/abc%00/trail",
        "/webhooks/deliveries/%00",
        "/webhooks/deliveries?finding_id=%00",
        "/removals/%00",
        "/summary?group_by=%00",
    ],
)
def test_nul_in_the_path_or_query_is_422(api: Api, url: str) -> None:
    resp = api.request("GET", url)
    assert resp.status_code == 422, resp.text
