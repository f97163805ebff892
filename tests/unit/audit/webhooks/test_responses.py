"""What the dispatcher does with a receiver's answer: keeps the status code only (the body is
never stored or logged), reads at most MAX_RESPONSE_BYTES, and ends the whole attempt at one
deadline even when the receiver drips its answer a byte at a time."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from audit.webhooks import outbox
from audit.webhooks.dispatcher import MAX_RESPONSE_BYTES, Dispatcher, DispatcherConfig
from audit.webhooks.retry import RetryPolicy
from audit.webhooks.spec import NewSubscription
from audit.webhooks.ssrf import parse_allow_cidrs
from audit.webhooks.subscriptions import create_subscription
from tests.unit.audit.webhooks.webhook_helpers import finding, new_store, write_findings

SECRET_BODY = "db-password=hunter2 <stack trace of the receiver>"
CONFIG = DispatcherConfig(
    timeout_s=1.0,
    retry=RetryPolicy(5, 0.01, 0.02),
    lease_s=10.0,
    allow_cidrs=parse_allow_cidrs("127.0.0.0/8"),  # the receivers here are on 127.0.0.1
)


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


def _one_attempt(tmp_path: Path, url: str) -> tuple[dict, float]:
    store = new_store(tmp_path)
    create_subscription(store.engine, NewSubscription(alert_on="findings", url=url), actor="t")
    write_findings(store, [finding(1)])
    dispatcher = Dispatcher(store.engine, CONFIG)
    started = time.monotonic()
    try:
        dispatcher.run_once()
    finally:
        dispatcher.stop()
    (row,) = outbox.list_deliveries(store.engine)
    return row, time.monotonic() - started


@pytest.mark.parametrize("status", [500, 404])
def test_a_response_body_is_never_stored_or_logged(
    tmp_path: Path, server: HTTPServer, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    server.expect_request("/hook").respond_with_data(SECRET_BODY, status=status)
    with caplog.at_level(logging.DEBUG):
        row, _ = _one_attempt(tmp_path, server.url_for("/hook"))
    assert row["last_status_code"] == status
    assert row["last_error"].startswith(f"HTTP {status}")
    assert "hunter2" not in repr(row)
    assert "hunter2" not in caplog.text


def test_a_huge_response_is_read_only_up_to_the_cap(tmp_path: Path, server: HTTPServer) -> None:
    sent = [0]

    def endless() -> Iterator[bytes]:
        chunk = b"x" * 65536
        for _ in range(100_000):  # 6.5 GB if read to the end
            sent[0] += len(chunk)
            yield chunk

    server.expect_request("/hook").respond_with_response(Response(endless(), status=200))
    row, took = _one_attempt(tmp_path, server.url_for("/hook"))
    assert row["status"] == "delivered" and took < 5
    assert sent[0] < 64 * MAX_RESPONSE_BYTES + 10 * 2**20


def _dripping_server(stop: threading.Event) -> int:
    """Answers every connection with a status line and headers sent one byte every 0.2 s
    (each read completes well within the per-operation timeout)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.1)

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=drip, args=(conn,), daemon=True).start()
        listener.close()

    def drip(conn: socket.socket) -> None:
        answer = b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 1000 + b"\r\n\r\n"
        try:
            conn.recv(65536)
            for byte in answer:
                if stop.is_set():
                    break
                conn.sendall(bytes([byte]))
                time.sleep(0.2)
        except OSError:
            pass
        finally:
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return int(listener.getsockname()[1])


def test_one_deadline_covers_the_whole_attempt(tmp_path: Path) -> None:
    stop = threading.Event()
    port = _dripping_server(stop)
    try:
        row, took = _one_attempt(tmp_path, f"http://127.0.0.1:{port}/hook")
    finally:
        stop.set()
    assert row["status"] == "pending" and row["last_error"].startswith("timed out after 1s")
    assert took < 3
