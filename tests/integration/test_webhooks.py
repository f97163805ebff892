"""Alert webhooks end to end: real traffic → broker → worker → findings → outbox → the
worker's dispatcher → a local HTTP receiver that fails at first; the worker is killed mid-way and
restarted. Every matching finding arrives at least once, signed."""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from werkzeug import Request, Response

from audit.incidents.records import ALERTING, EVENTS
from audit.models import FindingRecord
from audit.webhooks import outbox
from audit.webhooks.signing import DELIVERY_HEADER, SIGNATURE_HEADER, SignatureError, verify
from audit.webhooks.spec import Filters, NewSubscription, WebhookFormat
from audit.webhooks.subscriptions import create_subscription, list_subscriptions
from core.model_registry import load_registry
from riskwatch.simulator import demo_traffic
from tests.integration.harness import REPO, Pipeline, wait_for

pytestmark = pytest.mark.integration
FAILING_FIRST = 15  # the receiver answers 500 to its first requests


@dataclass
class AlertPipeline(Pipeline):
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        # the receiver is pytest-httpserver on 127.0.0.1: allowed on purpose (default: refused)
        return {**super().env(), "RISKWATCH_WEBHOOK_ALLOW_CIDRS": "127.0.0.0/8", **self.extra_env}


@dataclass
class Receiver:
    secrets: dict[str, str] = field(default_factory=dict)
    accepted: Counter[tuple[str, str]] = field(default_factory=Counter)  # (path, finding id)
    delivery_ids: dict[str, str] = field(default_factory=dict)  # delivery id → finding id
    requests: int = 0
    bad_signatures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, request: Request) -> Response:
        body = request.get_data()
        try:
            verify(self.secrets[request.path], body, request.headers.get(SIGNATURE_HEADER))
        except (SignatureError, KeyError):
            with self.lock:
                self.bad_signatures += 1
            return Response(b"bad signature", status=401)
        with self.lock:
            self.requests += 1
            if self.requests <= FAILING_FIRST:
                return Response(b"down", status=500)
            doc = orjson.loads(body)
            finding_id = (
                doc["finding"]["finding_id"]
                if request.path == "/generic"
                else f"incident event {doc['incident']['event']['id']}"
                if request.path == "/incidents"
                else doc["blocks"][-1]["elements"][0]["text"]
            )
            self.accepted[(request.path, finding_id)] += 1
            self.delivery_ids[request.headers[DELIVERY_HEADER]] = finding_id
        return Response(b"ok")


@pytest.fixture
def receiver() -> Iterator[tuple[HTTPServer, Receiver]]:
    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    recv = Receiver()
    for path in ("/generic", "/slack", "/incidents"):
        server.expect_request(path, method="POST").respond_with_handler(recv.handle)
    yield server, recv
    server.clear()
    server.stop()


def test_findings_from_real_traffic_reach_the_webhook_through_a_worker_restart(
    kafka_bootstrap: str, tmp_path: Path, receiver: tuple[HTTPServer, Receiver]
) -> None:
    server, recv = receiver
    pipe = AlertPipeline(
        bootstrap=kafka_bootstrap,
        workdir=tmp_path,
        extra_env={
            "RISKWATCH_WEBHOOK_TIMEOUT_S": "1",
            "RISKWATCH_WEBHOOK_LEASE_S": "3",
            "RISKWATCH_WEBHOOK_BACKOFF_BASE_S": "0.2",
            "RISKWATCH_WEBHOOK_BACKOFF_MAX_S": "1",
            "RISKWATCH_WEBHOOK_POLL_S": "0.2",
            "RISKWATCH_WEBHOOK_MAX_ATTEMPTS": "50",
            "RISKWATCH_METRICS_PORT": "0",
        },
    )
    engine = pipe.store.engine
    generic, secret = create_subscription(
        engine, NewSubscription(alert_on="findings", url=server.url_for("/generic")), actor="it"
    )
    recv.secrets["/generic"] = secret
    slack, secret = create_subscription(
        engine,
        NewSubscription(
            alert_on="findings",
            url=server.url_for("/slack"),
            format=WebhookFormat.SLACK,
            filters=Filters.of(models=["credit-scoring"], min_severity="medium"),
        ),
        actor="it",
    )
    recv.secrets["/slack"] = secret
    _, secret = create_subscription(
        engine, NewSubscription(url=server.url_for("/incidents")), actor="it"
    )
    recv.secrets["/incidents"] = secret

    traffic = demo_traffic(
        1500,
        registry=load_registry(REPO / "riskwatch.yaml"),
        seed=21,
        run_id=pipe.tag,
        with_text=False,
        malformed_fraction=0.0,
        duplicate_fraction=0.02,
    )
    pipe.produce((m.key, m.value) for m in traffic.messages)
    first = pipe.start_worker()
    try:
        wait_for(lambda: sum(recv.accepted.values()) > 0, 180, "the first delivered alert")
        os.killpg(first.pid, signal.SIGKILL)  # worker, batch process and dispatcher at once
        first.wait()
        pipe.start_worker()
        wait_for(lambda: pipe.counts()[0] >= len(traffic.valid_event_ids), 180, "all events")

        def settled() -> bool:
            counts = outbox.status_counts(engine)
            return counts["pending"] == 0 and counts["delivered"] > 0

        wait_for(settled, 120, "every delivery to settle")
    except AssertionError:
        print(pipe.worker_log())
        raise

    with engine.connect() as conn:
        findings = [dict(r) for r in conn.execute(select(FindingRecord.__table__)).mappings()]
    assert findings, "the traffic should raise findings (SLO breaches at least)"
    subs = {s.id: s for s in list_subscriptions(engine)}
    expected = {
        ("/generic", f["finding_id"]) for f in findings if subs[generic.id].filters.matches(f)
    }
    # a Slack body names its delivery (in its context block), not the finding
    expected |= {
        ("/slack", f"riskwatch delivery `{did}`")
        for did in (
            outbox.delivery_id_for(f["finding_id"], slack.id)
            for f in findings
            if subs[slack.id].filters.matches(f)
        )
    }
    assert any(path == "/slack" for path, _ in expected)
    # the incident subscription: each state change that alerts (opened, escalated, resolved),
    # once, and far fewer alerts than findings
    with engine.connect() as conn:
        changes = (
            conn.execute(select(EVENTS.c.id).where(EVENTS.c.event.in_(sorted(ALERTING))))
            .scalars()
            .all()
        )
    incident_alerts = {("/incidents", f"incident event {i}") for i in changes}
    assert 0 < len(incident_alerts) < len(findings) / 3
    expected |= incident_alerts
    assert set(recv.accepted) == expected  # every matching finding, at least once
    assert recv.bad_signatures == 0
    counts = outbox.status_counts(engine)
    assert counts["dead"] == 0 and counts["delivered"] == len(expected)
    retried = [d for d in outbox.list_deliveries(engine, limit=100_000) if d["attempts"] > 1]
    assert retried, "the receiver's first 500s should have been retried"
    # de-duplication by delivery id leaves exactly one alert per delivery
    assert len(recv.delivery_ids) == len(expected)
