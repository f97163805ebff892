"""Hot reload of the model registry (riskwatch.yaml): a valid change is used from the next batch,
an invalid one is logged (file and line) and the last good registry kept."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.events import InferenceEvent
from core.model_registry import ConfigError, RegistryWatcher, load_registry
from core.signals import ObservedEvent, SourceRef
from detectors.usage_slo import UsageSLODetector
from policies.engine import PolicyEngine
from policies.pack import load_packs
from streams.pipeline import BatchProcessor, Decoded

GOOD = """\
version: 1
policy_params:
  competitors: [Contoso]
models:
  shop:
    owner: a@example.com
    risk_tier: limited
    latency_slo_ms: 1000
    max_cost_per_call_usd: 1.0
"""
T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _write(path: Path, text: str, bump: int) -> None:
    """Write and give the file a distinct mtime (coarse filesystem clocks)."""
    path.write_text(text, encoding="utf-8")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + bump * 1_000_000_000))


def _watcher(tmp_path: Path) -> tuple[Path, RegistryWatcher, Clock]:
    path = tmp_path / "riskwatch.yaml"
    _write(path, GOOD, 0)
    clock = Clock()
    return path, RegistryWatcher(path, every_s=2.0, clock=clock), clock


def test_a_valid_change_is_picked_up_after_the_poll_interval(tmp_path: Path) -> None:
    path, watcher, clock = _watcher(tmp_path)
    first = watcher.poll()
    assert first.models["shop"].latency_slo_ms == 1000
    _write(path, GOOD.replace("1000", "250") + "  new-model:\n    owner: b@example.com\n", 1)
    assert watcher.poll() is first  # not yet: polled at most every 2 s
    clock.t = 2.5
    second = watcher.poll()
    assert second.models["shop"].latency_slo_ms == 250 and "new-model" in second.models
    assert (watcher.reloads, watcher.failures, watcher.last_error) == (1, 0, None)
    clock.t = 5.0
    assert watcher.poll() is second  # unchanged file: not re-read


@pytest.mark.parametrize(
    "broken, line, words",
    [
        (GOOD.replace("risk_tier: limited", "risk_tier: extreme"), 7, "models.shop.risk_tier"),
        (GOOD.replace("    owner: a@example.com\n", ""), 5, "models.shop.owner"),
        (GOOD.replace("competitors: [Contoso]", "competitors: [Contoso"), 4, "not valid YAML"),
        (GOOD + "    alert_webhook: https://x.example\n", 10, "alert_webhook"),
    ],
)
def test_an_invalid_change_keeps_the_last_good_registry_and_names_file_and_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, broken: str, line: int, words: str
) -> None:
    path, watcher, clock = _watcher(tmp_path)
    good = watcher.poll()
    _write(path, broken, 1)
    clock.t = 3.0
    with caplog.at_level(logging.ERROR, logger="core.model_registry"):
        assert watcher.poll() is good
    assert f"{path}:{line}:" in caplog.text and words in caplog.text, caplog.text
    assert watcher.failures == 1 and watcher.last_error and f"{path}:{line}:" in watcher.last_error
    caplog.clear()
    clock.t = 6.0
    with caplog.at_level(logging.ERROR, logger="core.model_registry"):
        assert watcher.poll() is good
    assert caplog.text == "" and watcher.failures == 1  # the same broken file: reported once
    _write(path, GOOD.replace("1000", "300"), 2)  # fixed
    clock.t = 9.0
    fixed = watcher.poll()
    assert fixed.models["shop"].latency_slo_ms == 300 and watcher.last_error is None


def test_a_deleted_file_is_not_an_empty_registry(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path, watcher, clock = _watcher(tmp_path)
    good = watcher.poll()
    path.unlink()
    clock.t = 3.0
    with caplog.at_level(logging.ERROR, logger="core.model_registry"):
        assert watcher.poll() is good and "shop" in good.models
    assert "is gone" in caplog.text
    _write(path, GOOD.replace("1000", "400"), 1)
    clock.t = 6.0
    assert watcher.poll().models["shop"].latency_slo_ms == 400


def test_startup_errors_name_the_line_too(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(GOOD.replace("latency_slo_ms: 1000", "latency_slo_ms: -5"), encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"{path}:8: models\.shop\.latency_slo_ms: "):
        load_registry(path)


def _event(i: int, **over: Any) -> ObservedEvent:
    ts = (T0 + timedelta(seconds=i)).isoformat().replace("+00:00", "Z")
    doc: dict[str, Any] = {
        "event_id": f"e{i}",
        "timestamp": ts,
        "model": {"id": "shop", "version": "1"},
        "usage": {"latency_ms": 500.0, "cost_usd": 0.5},
    } | over
    return ObservedEvent(InferenceEvent.model_validate(doc), SourceRef("ev", 0, i), doc)


def test_the_batch_processor_uses_the_reloaded_registry(tmp_path: Path) -> None:
    """Detectors (latency SLO) and policies (per-call cost ceiling) see the new registry from the
    next batch; the old one stays when the file breaks."""
    path, watcher, clock = _watcher(tmp_path)
    registry = watcher.registry
    proc = BatchProcessor(
        [UsageSLODetector(registry)], PolicyEngine(load_packs(), registry), registry=watcher.poll
    )

    def rules(i: int) -> list[str]:
        return sorted(f.rule_id for f in proc.prepare(Decoded(events=[_event(i)]), set()).findings)

    assert rules(1) == []  # 500 ms under the 1000 ms SLO, 0.5 USD under the 1.0 ceiling
    _write(
        path,
        GOOD.replace("latency_slo_ms: 1000", "latency_slo_ms: 400").replace(
            "max_cost_per_call_usd: 1.0", "max_cost_per_call_usd: 0.1"
        ),
        1,
    )
    clock.t = 3.0
    assert rules(2) == ["RW-CC-004", "RW-TR-001"]
    _write(path, GOOD.replace("risk_tier: limited", "risk_tier: [oops"), 2)
    clock.t = 6.0
    assert rules(3) == ["RW-CC-004", "RW-TR-001"]  # still the last good registry
    assert watcher.failures == 1
