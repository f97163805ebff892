"""The SSRF guard: internal addresses in every spelling are refused when subscribing (API, CLI)
and at every delivery (DNS rebinding); the dispatcher connects to the address it checked; the
allow-list (RISKWATCH_WEBHOOK_ALLOW_CIDRS) lets internal receivers in on purpose."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from audit.api.app import create_app
from audit.store import AuditStore
from audit.tokens import create_token
from audit.webhooks import outbox, ssrf
from audit.webhooks.dispatcher import Dispatcher, DispatcherConfig
from audit.webhooks.retry import RetryPolicy
from audit.webhooks.spec import NewSubscription
from audit.webhooks.subscriptions import create_subscription
from core.settings import Settings, get_settings
from riskwatch.cli import main
from tests.conftest import PUBLIC_TEST_ADDRESS, fake_getaddrinfo
from tests.unit.audit.webhooks.webhook_helpers import finding, new_store, write_findings

REFUSED = [
    "http://127.0.0.1/",
    "http://localhost:8080/x",
    "http://2130706433/",
    "http://0x7f.1/",
    "http://127.1/",
    "http://017700000001/",
    "http://0x7f000001/",
    "http://0/",
    "http://0.0.0.0/",
    "http://[::1]/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[::10.0.0.1]/",
    "http://[2002:c0a8:101::1]/",  # 6to4 of 192.168.1.1
    "http://[2002:7f00:1::1]/",  # 6to4 of 127.0.0.1
    "http://[64:ff9b::a00:1]/",  # NAT64 of 10.0.0.1
    "http://[64:ff9b::7f00:1]/",  # NAT64 of 127.0.0.1
    "http://10.1.2.3/",
    "http://172.16.0.1/",
    "http://192.168.0.1/",
    "http://100.64.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/",
    "http://100.100.100.200/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "https://internal.test.",  # see _names: resolves to a private address
    "https://mixed.test/",  # one public and one private address
    "https://nowhere.invalid/",  # does not resolve
]


@pytest.fixture(autouse=True)
def _names(monkeypatch: pytest.MonkeyPatch) -> None:
    def resolver(host: str, port: object, *args: object, **kw: object) -> list[tuple]:
        table = {
            "internal.test": ["10.9.8.7"],
            "mixed.test": [PUBLIC_TEST_ADDRESS, "192.168.1.20"],
            "meta.test": ["169.254.169.254"],
        }
        if host.rstrip(".") in table:
            return [
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, int(port)))  # type: ignore[call-overload]
                for a in table[host.rstrip(".")]
            ]
        return fake_getaddrinfo(host, port)

    monkeypatch.setattr(ssrf, "getaddrinfo", resolver)


@pytest.mark.parametrize("url", REFUSED)
def test_internal_addresses_are_refused_by_default(url: str) -> None:
    with pytest.raises(ssrf.BlockedAddress):
        ssrf.check_url(url)


@pytest.mark.parametrize(
    "url", ["https://hooks.example.com/x", "http://8.8.8.8/", "http://[2606:4700::1111]/"]
)
def test_public_addresses_pass(url: str) -> None:
    target = ssrf.check_url(url)
    assert target.address.is_global


def test_the_allow_list_admits_internal_receivers_but_never_metadata() -> None:
    allow = ssrf.parse_allow_cidrs("127.0.0.0/8, 10.0.0.0/8")
    assert str(ssrf.check_url("http://127.0.0.1:8080/", allow).address) == "127.0.0.1"
    assert ssrf.check_url("http://0x7f.1/", allow).pinned_url().host == "127.0.0.1"
    ssrf.check_url("http://[::ffff:127.0.0.1]/", allow)
    ssrf.check_url("http://internal.test/", allow)
    with pytest.raises(ssrf.BlockedAddress, match=r"192\.168"):
        ssrf.check_url("http://mixed.test/", allow)
    everything = ssrf.parse_allow_cidrs("0.0.0.0/0,::/0")
    for url in ("http://169.254.169.254/", "http://[fd00:ec2::254]/", "http://meta.test/"):
        with pytest.raises(ssrf.BlockedAddress, match="metadata"):
            ssrf.check_url(url, everything)


def test_the_setting_is_validated() -> None:
    assert Settings(webhook_allow_cidrs="10.0.0.0/8,fd12::/16").webhook_allow_cidrs
    with pytest.raises(ValueError, match="ALLOW_CIDRS"):
        Settings(webhook_allow_cidrs="10.0.0.0/8,nonsense")


# --- subscribing --------------------------------------------------------------------------------


def _api(store: AuditStore, **settings: str) -> tuple[TestClient, dict[str, str]]:
    app = create_app(Settings(database_url=str(store.engine.url), **settings), engine=store.engine)  # type: ignore[arg-type]
    token = create_token(store.engine, role="admin", name="admin-user")[1]
    return TestClient(app), {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/x", "http://2130706433/", "http://mixed.test/"]
)
def test_the_api_refuses_internal_urls(tmp_path: Path, url: str) -> None:
    client, auth = _api(new_store(tmp_path))
    resp = client.post("/webhooks", json={"url": url}, headers=auth)
    assert resp.status_code == 422 and "refused" in resp.text
    assert client.get("/webhooks", headers=auth).json()["count"] == 0


def test_the_api_accepts_an_allowed_internal_url(tmp_path: Path) -> None:
    client, auth = _api(new_store(tmp_path), webhook_allow_cidrs="127.0.0.0/8")
    resp = client.post("/webhooks", json={"url": "http://127.0.0.1:9/x"}, headers=auth)
    assert resp.status_code == 201, resp.text


@pytest.fixture
def cli_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AuditStore]:
    store = new_store(tmp_path)
    monkeypatch.setenv("RISKWATCH_DATABASE_URL", str(store.engine.url.render_as_string(False)))
    monkeypatch.delenv("RISKWATCH_WEBHOOK_ALLOW_CIDRS", raising=False)
    get_settings.cache_clear()
    yield store
    get_settings.cache_clear()


def test_the_cli_refuses_internal_urls(cli_store: AuditStore) -> None:
    result = CliRunner().invoke(main, ["webhooks", "add", "--url", "http://[::ffff:127.0.0.1]/"])
    assert result.exit_code != 0 and "refused" in result.output
    result = CliRunner().invoke(main, ["webhooks", "add", "--url", "https://hooks.example.com/"])
    assert result.exit_code == 0, result.output


# --- delivering ---------------------------------------------------------------------------------

FAST = DispatcherConfig(timeout_s=2.0, retry=RetryPolicy(3, 0.01, 0.02), lease_s=10.0)


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


def test_the_default_dispatcher_refuses_loopback_as_a_failed_attempt(
    tmp_path: Path, server: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    store = new_store(tmp_path)
    server.expect_request("/hook").respond_with_data("ok")
    create_subscription(
        store.engine, NewSubscription(alert_on="findings", url=server.url_for("/hook")), actor="t"
    )
    write_findings(store, [finding(1)])
    dispatcher = Dispatcher(store.engine, FAST)
    try:
        with caplog.at_level(logging.INFO):
            tally = dispatcher.run_once()
    finally:
        dispatcher.stop()
    assert tally.retried == 1 and tally.delivered == 0
    (row,) = outbox.list_deliveries(store.engine)
    assert row["status"] == "pending" and row["attempts"] == 1
    assert "refused" in row["last_error"] and "loopback" in row["last_error"]
    assert server.log == []


def test_dns_rebinding_after_subscribing_is_refused_at_delivery(
    tmp_path: Path, server: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = new_store(tmp_path)
    server.expect_request("/hook").respond_with_data("ok")
    url = f"http://rebind.test:{server.port}/hook"
    answers = iter([PUBLIC_TEST_ADDRESS, "127.0.0.1", "127.0.0.1"])

    def rebinding(host: str, port: object, *a: object, **kw: object) -> list[tuple]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), int(port)))]  # type: ignore[call-overload]

    monkeypatch.setattr(ssrf, "getaddrinfo", rebinding)
    ssrf.check_url(url)  # at subscription time the name looked public
    create_subscription(store.engine, NewSubscription(alert_on="findings", url=url), actor="t")
    write_findings(store, [finding(1)])
    dispatcher = Dispatcher(store.engine, FAST)
    try:
        dispatcher.run_once()
    finally:
        dispatcher.stop()
    (row,) = outbox.list_deliveries(store.engine)
    assert "refused" in row["last_error"] and server.log == []


def test_the_dispatcher_connects_to_the_address_it_checked(
    tmp_path: Path, server: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One resolution per attempt, and the connection goes to that address: httpx never
    resolves the name again (a second answer could point anywhere)."""
    store = new_store(tmp_path)
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return Response("ok")

    server.expect_request("/hook").respond_with_handler(handler)
    calls: list[str] = []

    def once(host: str, port: object, *a: object, **kw: object) -> list[tuple]:
        calls.append(host)
        address = "127.0.0.1" if len(calls) == 1 else "10.66.66.66"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port)))]  # type: ignore[call-overload]

    monkeypatch.setattr(ssrf, "getaddrinfo", once)
    monkeypatch.setattr(socket, "getaddrinfo", _no_second_lookup)
    url = f"http://receiver.test:{server.port}/hook"
    create_subscription(store.engine, NewSubscription(alert_on="findings", url=url), actor="t")
    write_findings(store, [finding(1)])
    config = DispatcherConfig(
        timeout_s=2.0, lease_s=10.0, allow_cidrs=ssrf.parse_allow_cidrs("127.0.0.0/8")
    )
    dispatcher = Dispatcher(store.engine, config)
    try:
        assert dispatcher.run_once().delivered == 1
    finally:
        dispatcher.stop()
    assert calls == ["receiver.test"]
    assert seen[0].headers["Host"] == f"receiver.test:{server.port}"


def _no_second_lookup(host: str, *args: object, **kw: object) -> list[tuple]:
    if host not in ("127.0.0.1", b"127.0.0.1"):
        raise AssertionError(f"the name {host!r} was resolved again")
    return _REAL_GETADDRINFO(host, *args, **kw)  # type: ignore[arg-type]


_REAL_GETADDRINFO = socket.getaddrinfo
