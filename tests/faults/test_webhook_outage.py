"""The webhook receiver down for two minutes while traffic flows: the stream is not held up, and
once the receiver is back every matching finding is delivered at least once, signed."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from audit.models import FindingRecord
from audit.webhooks import outbox
from audit.webhooks.spec import NewSubscription
from audit.webhooks.subscriptions import create_subscription, list_subscriptions
from tests.faults.test_faults import _traffic
from tests.integration.harness import free_port, wait_for
from tests.integration.test_webhooks import AlertPipeline, Receiver

pytestmark = pytest.mark.faults
DOWN_S = 120


def _serve(port: int, recv: Receiver) -> HTTPServer:
    server = HTTPServer(host="127.0.0.1", port=port, threaded=True)
    server.start()
    server.expect_request("/generic", method="POST").respond_with_handler(recv.handle)
    return server


@pytest.mark.timeout(900)
def test_receiver_down_for_minutes(kafka_bootstrap: str, tmp_path: Path) -> None:
    port = free_port()
    recv = Receiver()
    pipe = AlertPipeline(
        bootstrap=kafka_bootstrap,
        workdir=tmp_path,
        extra_env={
            "RISKWATCH_WEBHOOK_TIMEOUT_S": "1",
            # the receiver is on 127.0.0.1: allowed on purpose (the default refuses loopback)
            "RISKWATCH_WEBHOOK_ALLOW_CIDRS": "127.0.0.0/8",
            "RISKWATCH_WEBHOOK_LEASE_S": "3",
            "RISKWATCH_WEBHOOK_BACKOFF_BASE_S": "0.5",
            "RISKWATCH_WEBHOOK_BACKOFF_MAX_S": "10",
            "RISKWATCH_WEBHOOK_POLL_S": "0.5",
            "RISKWATCH_WEBHOOK_MAX_ATTEMPTS": "100",
        },
    )
    pipe.metrics_port = free_port()
    engine = pipe.store.engine
    sub, secret = create_subscription(
        engine,
        NewSubscription(alert_on="findings", url=f"http://127.0.0.1:{port}/generic"),
        actor="faults",
    )
    recv.secrets["/generic"] = secret
    traffic = _traffic(pipe, 6000, seed=36)
    pipe.produce((m.key, m.value) for m in traffic.messages)
    started = time.monotonic()
    pipe.start_worker()  # the receiver is down from the start
    server: HTTPServer | None = None
    try:
        wait_for(lambda: pipe.counts()[0] >= len(traffic.valid_event_ids), 300, "every event")
        stored_in = time.monotonic() - started
        assert stored_in < DOWN_S, "the stream must not wait for the webhook receiver"
        failed_while_down = sum(
            d["attempts"] for d in outbox.list_deliveries(engine, limit=100_000)
        )
        time.sleep(max(0.0, DOWN_S - (time.monotonic() - started)))
        server = _serve(port, recv)

        def settled() -> bool:
            counts = outbox.status_counts(engine)
            return counts["pending"] == 0 and counts["delivered"] > 0

        wait_for(settled, 180, "every delivery after the receiver came back")
        metrics = (
            urllib.request.urlopen(f"http://127.0.0.1:{pipe.metrics_port}/metrics", timeout=10)
            .read()
            .decode()
        )
        failures = sum(
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("riskwatch_webhook_failures_total ")
        )
    except AssertionError:
        print(pipe.worker_log())
        raise
    finally:
        pipe.stop_workers()
        if server is not None:
            server.stop()
    with engine.connect() as conn:
        findings = [dict(r) for r in conn.execute(select(FindingRecord.__table__)).mappings()]
    subscription = next(s for s in list_subscriptions(engine) if s.id == sub.id)
    expected = {("/generic", f["finding_id"]) for f in findings if subscription.filters.matches(f)}
    counts = outbox.status_counts(engine)
    print(
        f"\n[webhook receiver down {DOWN_S} s] events stored in {stored_in:.0f} s; findings "
        f"{len(findings)}, deliveries {len(expected)}, failed attempts while down "
        f"{failed_while_down}; delivered {counts['delivered']}, dead {counts['dead']}, "
        f"received {sum(recv.accepted.values())} (distinct {len(recv.accepted)})"
    )
    assert expected and set(recv.accepted) == expected
    assert counts["dead"] == 0 and recv.bad_signatures == 0
    assert failed_while_down > 0
    assert failures >= failed_while_down  # the worker's metrics count every failed attempt
