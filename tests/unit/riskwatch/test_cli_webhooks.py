"""`riskwatch webhooks add|list|remove|deliveries|retry` and `riskwatch alerts run --once`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result
from pytest_httpserver import HTTPServer

from audit.store import AuditStore
from audit.webhooks import outbox
from audit.webhooks.signing import SIGNATURE_HEADER, verify
from core.settings import get_settings
from riskwatch.cli import main
from tests.unit.audit.webhooks.webhook_helpers import finding, new_store, write_findings


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AuditStore]:
    store = new_store(tmp_path)
    monkeypatch.setenv("RISKWATCH_DATABASE_URL", str(store.engine.url.render_as_string(False)))
    monkeypatch.setenv("RISKWATCH_LOG_LEVEL", "warning")
    monkeypatch.setenv("RISKWATCH_WEBHOOK_MAX_ATTEMPTS", "2")
    # the receiver below is pytest-httpserver on 127.0.0.1, allowed on purpose
    monkeypatch.setenv("RISKWATCH_WEBHOOK_ALLOW_CIDRS", "127.0.0.0/8")
    monkeypatch.setenv("RISKWATCH_WEBHOOK_BACKOFF_BASE_S", "0.01")
    monkeypatch.setenv("RISKWATCH_WEBHOOK_BACKOFF_MAX_S", "0.01")
    get_settings.cache_clear()
    yield store
    get_settings.cache_clear()


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_add_prints_the_secret_once_and_list_never_shows_it(store: AuditStore) -> None:
    result = run(
        "webhooks",
        "add",
        "--url",
        "https://h.example/x",
        "--model",
        "credit-scoring",
        "--category",
        "legal",
        "--min-severity",
        "high",
        "--actor",
        "ops",
    )
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip()
    assert secret.startswith("whsec_") and "webhook 1" in result.stderr
    listed = run("webhooks", "list", "--format", "json")
    (row,) = orjson.loads(listed.stdout)
    assert secret not in listed.stdout
    assert (row["models"], row["categories"], row["min_severity"], row["created_by"]) == (
        ["credit-scoring"],
        ["legal"],
        "high",
        "ops",
    )
    assert "h.example" in run("webhooks", "list").stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--url", "ftp://x"], "http"),
        (["--url", "https://x", "--subcategory", "nope"], "unknown subcategory"),
        (
            ["--url", "https://x", "--category", "technical", "--subcategory", "ethics"],
            "never match",
        ),
    ],
)
def test_add_refuses_bad_input(store: AuditStore, args: list[str], message: str) -> None:
    result = run("webhooks", "add", *args)
    assert result.exit_code == 2 and message in result.stderr, result.output


def test_remove(store: AuditStore) -> None:
    run("webhooks", "add", "--url", "https://h.example/x")
    result = run("webhooks", "remove", "1", "--actor", "ops")
    assert result.exit_code == 0 and "removed" in result.stdout and "ops" in result.stdout
    assert orjson.loads(run("webhooks", "list", "--format", "json").stdout) == []
    assert run("webhooks", "remove", "7").exit_code == 1


def test_alerts_run_once_delivers_marks_dead_and_retry_revives(store: AuditStore) -> None:
    server = HTTPServer(host="127.0.0.1")
    server.start()
    try:
        server.expect_request("/hook").respond_with_data("down", status=503)
        secret = run(
            "webhooks", "add", "--alert-on", "findings", "--url", server.url_for("/hook")
        ).stdout.strip()
        write_findings(store, [finding(1), finding(2)])
        tally = orjson.loads(run("alerts", "run", "--once").stdout)
        assert tally["retried"] + tally["dead"] >= 2 and tally["delivered"] == 0
        import time

        time.sleep(0.05)
        tally = orjson.loads(run("alerts", "run", "--once").stdout)
        dead = orjson.loads(
            run("webhooks", "deliveries", "--status", "dead", "--format", "json").stdout
        )
        assert len(dead) == 2 and all(d["attempts"] == 2 for d in dead)
        assert "dead" in run("webhooks", "deliveries", "--status", "dead").stdout

        assert run("webhooks", "retry").exit_code == 2  # ids or --all-dead
        server.clear()
        server.expect_request("/hook").respond_with_data("ok")
        assert "1 dead" in run("webhooks", "retry", dead[0]["delivery_id"]).stdout
        assert run("webhooks", "retry", dead[0]["delivery_id"]).exit_code == 1  # not dead now
        assert "1 dead" in run("webhooks", "retry", "--all-dead").stdout
        tally = orjson.loads(run("alerts", "run", "--once").stdout)
        assert tally["delivered"] == 2
        assert outbox.status_counts(store.engine)["delivered"] == 2
        for request, _ in server.log:
            verify(secret, request.get_data(), request.headers[SIGNATURE_HEADER])
    finally:
        server.clear()
        server.stop()
