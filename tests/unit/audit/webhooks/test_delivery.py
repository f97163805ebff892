"""The dispatcher against a real local HTTP server (pytest-httpserver, threaded): 500s, timeouts,
recovery, dead deliveries, permanent refusals, two dispatchers, a dispatcher that died."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from audit.db import make_engine
from audit.store import AuditStore
from audit.webhooks import outbox
from audit.webhooks.dispatcher import Dispatcher, DispatcherConfig
from audit.webhooks.retry import RetryPolicy
from audit.webhooks.signing import DELIVERY_HEADER, SIGNATURE_HEADER, SignatureError, verify
from audit.webhooks.spec import Filters, NewSubscription, WebhookFormat
from audit.webhooks.ssrf import parse_allow_cidrs
from audit.webhooks.subscriptions import create_subscription
from tests.unit.audit.webhooks.webhook_helpers import (
    Severity,
    Subcategory,
    finding,
    new_store,
    write_findings,
)

# The receiver is pytest-httpserver on 127.0.0.1: allowed explicitly, as an operator would with
# RISKWATCH_WEBHOOK_ALLOW_CIDRS (the default refuses loopback; test_ssrf.py proves it).
LOCAL = parse_allow_cidrs("127.0.0.0/8")
FAST = DispatcherConfig(
    allow_cidrs=LOCAL,
    timeout_s=0.3,
    retry=RetryPolicy(max_attempts=20, base_s=0.02, cap_s=0.1),
    poll_s=0.05,
    concurrency=4,
    lease_s=5.0,
)


@dataclass
class Received:
    path: str
    delivery_id: str
    body: bytes
    signature_ok: bool
    answered: int


@dataclass
class Receiver:
    """Answers by a script: ``plan(n)`` gives the n-th request's behaviour (0-based):
    an HTTP status, ``"sleep"`` (answers 200 only after the client's timeout) or ``"slow"``
    (200 after 10 ms)."""

    server: HTTPServer
    secrets: dict[str, str] = field(default_factory=dict)  # path → secret
    plan: Callable[[int], int | str] = lambda n: 200
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return self.server.url_for(path)

    def handle(self, request: Request) -> Response:
        body = request.get_data()
        try:
            verify(self.secrets[request.path], body, request.headers.get(SIGNATURE_HEADER))
            ok = True
        except (SignatureError, KeyError):
            ok = False
        with self.lock:
            n = len(self.received)
            action = self.plan(n)
            answered = 200 if action in ("sleep", "slow") else int(action)
            self.received.append(
                Received(request.path, request.headers.get(DELIVERY_HEADER, ""), body, ok, answered)
            )
        if action == "sleep":
            time.sleep(1.0)
        elif action == "slow":  # a receiver that takes a moment: claims overlap
            time.sleep(0.01)
        headers = {"Retry-After": "2"} if answered == 429 else {}
        return Response(b"ok" if answered < 300 else b"nope", status=answered, headers=headers)

    def accepted(self) -> Counter[str]:
        with self.lock:
            return Counter(r.delivery_id for r in self.received if 200 <= r.answered < 300)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    recv = Receiver(server)
    for path in ("/generic", "/slack"):
        server.expect_request(path, method="POST").respond_with_handler(recv.handle)
    yield recv
    server.clear()
    server.stop()


@pytest.fixture
def store(tmp_path: Path) -> AuditStore:
    return new_store(tmp_path)


@pytest.fixture
def dispatchers() -> Iterator[list[Dispatcher]]:
    made: list[Dispatcher] = []
    yield made
    for d in made:
        d.stop()


def _subscribe(
    store: AuditStore,
    receiver: Receiver,
    path: str = "/generic",
    fmt: WebhookFormat = WebhookFormat.GENERIC,
    filters: Filters | None = None,
) -> int:
    sub, secret = create_subscription(
        store.engine,
        NewSubscription(
            alert_on="findings", url=receiver.url(path), format=fmt, filters=filters or Filters()
        ),
        actor="test",
    )
    receiver.secrets[path] = secret
    return sub.id


def _drain_until_settled(dispatcher: Dispatcher, store: AuditStore, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while outbox.status_counts(store.engine)["pending"]:
        assert time.monotonic() < deadline, outbox.status_counts(store.engine)
        dispatcher.drain()
        time.sleep(0.02)


def test_500s_and_timeouts_then_recovery_deliver_every_finding(
    store: AuditStore, receiver: Receiver, dispatchers: list[Dispatcher]
) -> None:
    generic = _subscribe(store, receiver, "/generic")
    slack = _subscribe(
        store, receiver, "/slack", WebhookFormat.SLACK, Filters.of(min_severity="high")
    )
    findings = [finding(i, severity=Severity.HIGH if i % 2 else Severity.LOW) for i in range(12)]
    write_findings(store, findings)
    # 8 answers of 500, then 6 that hang past the timeout, then the receiver is healthy.
    receiver.plan = lambda n: 500 if n < 8 else ("sleep" if n < 14 else 200)
    dispatchers.append(dispatcher := Dispatcher(store.engine, FAST))
    _drain_until_settled(dispatcher, store)

    expected = {outbox.delivery_id_for(f.finding_id, generic) for f in findings} | {
        outbox.delivery_id_for(f.finding_id, slack) for f in findings if f.severity == "high"
    }
    assert outbox.status_counts(store.engine)["delivered"] == len(expected) == 18
    assert set(receiver.accepted()) == expected  # every one at least once
    assert all(r.signature_ok for r in receiver.received)
    attempts = {d["delivery_id"]: d for d in outbox.list_deliveries(store.engine, limit=1000)}
    retried = [d for d in attempts.values() if d["attempts"] > 1]
    assert len(retried) >= 8 and all(d["status"] == "delivered" for d in retried)
    assert sum(d["attempts"] for d in attempts.values()) == len(receiver.received)

    for r in receiver.received:
        doc = orjson.loads(r.body)
        if r.path == "/generic":
            assert doc["delivery_id"] == r.delivery_id and doc["subscription_id"] == generic
            f = doc["finding"]
            assert f["taxonomy"] == {"category": "technical", "subcategory": "model_reliability"}
            assert f["regulation_refs"] == ["EU AI Act Art. 15(1)"]
            assert f["rule"]["id"] == "RW-TR-001" and f["detected_at"].endswith("Z")
        else:
            assert doc["text"].startswith("[HIGH] credit-scoring: finding ")
            assert doc["blocks"][0]["type"] == "header"
            assert r.delivery_id in orjson.dumps(doc["blocks"]).decode()


def test_the_same_delivery_sends_the_same_body_on_every_attempt(
    store: AuditStore, receiver: Receiver, dispatchers: list[Dispatcher]
) -> None:
    _subscribe(store, receiver)
    write_findings(store, [finding(1)])
    receiver.plan = lambda n: 503 if n < 3 else 200
    dispatchers.append(dispatcher := Dispatcher(store.engine, FAST))
    _drain_until_settled(dispatcher, store)
    assert len(receiver.received) == 4
    assert len({r.body for r in receiver.received}) == 1
    assert len({r.delivery_id for r in receiver.received}) == 1


def test_after_max_attempts_deliveries_are_dead_and_can_be_retried(
    store: AuditStore, receiver: Receiver, dispatchers: list[Dispatcher]
) -> None:
    _subscribe(store, receiver)
    write_findings(store, [finding(i) for i in range(4)])
    receiver.plan = lambda n: 500
    config = DispatcherConfig(
        timeout_s=0.3, retry=RetryPolicy(3, 0.01, 0.02), lease_s=5.0, allow_cidrs=LOCAL
    )
    dispatchers.append(dispatcher := Dispatcher(store.engine, config))
    _drain_until_settled(dispatcher, store)

    dead = outbox.list_deliveries(store.engine, status="dead")
    assert len(dead) == 4 and len(receiver.received) == 12
    assert all((d["attempts"], d["last_status_code"]) == (3, 500) for d in dead)
    assert all(d["last_error"].startswith("HTTP 500") for d in dead)
    assert dispatcher.totals.dead == 4

    receiver.plan = lambda n: 200
    assert outbox.retry_dead(store.engine) == 4
    _drain_until_settled(dispatcher, store)
    assert outbox.status_counts(store.engine)["delivered"] == 4
    assert set(receiver.accepted()) == {d["delivery_id"] for d in dead}


def test_a_4xx_refusal_is_permanent_but_408_and_429_are_retried(
    store: AuditStore, receiver: Receiver, dispatchers: list[Dispatcher]
) -> None:
    _subscribe(store, receiver)
    write_findings(store, [finding(1), finding(2), finding(3)])
    codes = iter([404, 408, 429])
    receiver.plan = lambda n: next(codes, 200)
    dispatchers.append(
        dispatcher := Dispatcher(
            store.engine,
            DispatcherConfig(
                timeout_s=0.3,
                retry=RetryPolicy(5, 0.01, 10.0),
                concurrency=1,
                lease_s=5.0,
                allow_cidrs=LOCAL,
            ),
        )
    )
    started = time.time()
    dispatcher.run_once()
    rows = {d["last_status_code"]: d for d in outbox.list_deliveries(store.engine)}
    assert rows[404]["status"] == "dead" and rows[404]["attempts"] == 1
    assert "permanent" in rows[404]["last_error"]
    assert rows[408]["status"] == "pending"
    assert rows[429]["status"] == "pending"
    # the 429's Retry-After: 2 is honoured
    assert rows[429]["next_attempt_at"].timestamp() >= started + 2 - 0.01


def test_two_dispatchers_share_the_outbox_without_sending_twice(
    store: AuditStore, receiver: Receiver, dispatchers: list[Dispatcher]
) -> None:
    _subscribe(store, receiver)
    write_findings(store, [finding(i) for i in range(60)])
    # A generous timeout: on a loaded machine a 10 ms answer can take seconds, and a timed-out
    # attempt waits for its retry after drain() returns (this test is about claims, not timeouts).
    config = DispatcherConfig(
        timeout_s=15.0, batch=5, concurrency=2, lease_s=60.0, allow_cidrs=LOCAL
    )
    url = str(store.engine.url)
    dispatchers.extend(Dispatcher(make_engine(url), config) for _ in range(2))
    receiver.plan = lambda n: "slow"
    errors: list[BaseException] = []

    def drain(d: Dispatcher) -> None:
        try:
            d.drain()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=drain, args=(d,)) for d in dispatchers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    accepted = receiver.accepted()
    assert len(accepted) == 60 and set(accepted.values()) == {1}
    assert all(d.totals.delivered > 0 for d in dispatchers), [d.totals for d in dispatchers]
    assert outbox.status_counts(store.engine)["delivered"] == 60


def test_a_dispatcher_that_died_mid_delivery_loses_nothing(
    store: AuditStore, receiver: Receiver, dispatchers: list[Dispatcher]
) -> None:
    _subscribe(store, receiver)
    write_findings(store, [finding(i) for i in range(5)])
    # "dead" claims everything and never reports back (killed before any POST).
    assert len(outbox.claim(store.engine, "dead-dispatcher", lease_s=FAST.lease_s)) == 5
    dispatchers.append(fresh := Dispatcher(store.engine, FAST))
    assert fresh.drain().attempts == 0  # leased: not touched while the lease runs
    # After the lease (a restart later), a new dispatcher sends them all.
    dispatchers.append(
        later := Dispatcher(store.engine, FAST, clock=lambda: time.time() + FAST.lease_s + 1)
    )
    assert later.drain().delivered == 5
    assert len(receiver.accepted()) == 5


def test_the_background_thread_delivers_what_batches_leave_behind(
    store: AuditStore, receiver: Receiver, dispatchers: list[Dispatcher]
) -> None:
    _subscribe(store, receiver, filters=Filters.of(subcategories=["data_privacy"]))
    dispatchers.append(Dispatcher(store.engine, FAST).start())
    write_findings(
        store, [finding(i, subcategory=Subcategory.DATA_PRIVACY) for i in range(3)] + [finding(10)]
    )  # not data_privacy: not sent
    deadline = time.monotonic() + 20
    while len(receiver.accepted()) < 3:
        assert time.monotonic() < deadline, receiver.received
        time.sleep(0.05)
    time.sleep(0.2)
    assert len(receiver.received) == 3


def test_an_unreachable_receiver_is_retried_not_fatal(
    store: AuditStore, dispatchers: list[Dispatcher]
) -> None:
    create_subscription(
        store.engine,
        NewSubscription(alert_on="findings", url="http://127.0.0.1:9/closed"),
        actor="t",
    )
    write_findings(store, [finding(1)])
    dispatchers.append(dispatcher := Dispatcher(store.engine, FAST))
    assert dispatcher.run_once().retried == 1
    (row,) = outbox.list_deliveries(store.engine)
    assert row["status"] == "pending" and row["last_status_code"] is None
    assert row["last_error"].startswith("ConnectError")


def test_neither_secret_nor_url_path_is_logged(
    store: AuditStore,
    receiver: Receiver,
    dispatchers: list[Dispatcher],
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    path = "/slack"  # stands for an incoming-webhook URL whose path is the credential
    _subscribe(store, receiver, path)
    write_findings(store, [finding(1), finding(2)])
    receiver.plan = lambda n: 500 if n == 0 else 404
    dispatchers.append(dispatcher := Dispatcher(store.engine, FAST))
    _drain_until_settled(dispatcher, store)
    logged = "\n".join(
        r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug")
    )  # the receiver's own log
    assert "dead" in logged
    assert receiver.secrets[path] not in logged and path not in logged
