"""Webhook settings, the registry's alert_webhook decision, and the worker's dispatcher switch."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from audit.webhooks.dispatcher import Dispatcher, DispatcherConfig
from core.model_registry import ConfigError, load_registry
from core.settings import Settings
from streams.worker import start_webhook_dispatcher
from tests.dburl import db_url


def test_webhook_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKWATCH_WEBHOOK_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("RISKWATCH_WEBHOOK_TIMEOUT_S", "2.5")
    monkeypatch.setenv("RISKWATCH_WEBHOOK_BACKOFF_BASE_S", "0.5")
    config = DispatcherConfig.from_settings(Settings())
    assert (config.retry.max_attempts, config.timeout_s, config.retry.base_s) == (3, 2.5, 0.5)
    assert (config.retry.cap_s, config.lease_s, config.concurrency) == (600.0, 60.0, 4)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"webhook_timeout_s": 40.0}, "LEASE_S must exceed twice"),
        ({"webhook_backoff_base_s": 10.0, "webhook_backoff_max_s": 5.0}, "BACKOFF_MAX_S"),
        ({"webhook_max_attempts": 0}, "greater than or equal to 1"),
        ({"webhook_timeout_s": 0}, "greater than 0"),
    ],
)
def test_bad_webhook_settings_are_refused(fields: dict[str, float], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(**fields)  # type: ignore[arg-type]


def test_a_registry_alert_webhook_is_refused_with_the_way_to_subscribe(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("models:\n  m1:\n    owner: a\n    alert_webhook: https://hooks.example/x\n")
    with pytest.raises(ConfigError, match=r"models\.m1\.alert_webhook: .*riskwatch webhooks add"):
        load_registry(path)
    path.write_text("models:\n  m1:\n    owner: a\n    alert_webhook: null\n")
    assert load_registry(path).models["m1"].alert_webhook is None


def test_the_worker_starts_a_dispatcher_unless_told_not_to(tmp_path: Path) -> None:
    from audit.store import AuditStore

    url = db_url(tmp_path / "w.db")
    AuditStore.from_url(url)
    assert start_webhook_dispatcher(Settings(database_url=url, webhook_dispatch=False)) is None
    dispatcher = start_webhook_dispatcher(Settings(database_url=url, webhook_poll_s=0.05))
    assert isinstance(dispatcher, Dispatcher)
    try:
        assert dispatcher._thread is not None and dispatcher._thread.is_alive()
    finally:
        dispatcher.stop()
    assert not dispatcher._thread.is_alive()
