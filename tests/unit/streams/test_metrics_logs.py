"""The worker's Prometheus metrics (from batch outcomes) and the JSON log format."""

from __future__ import annotations

import logging
import urllib.request

import orjson
import pytest
from prometheus_client import CollectorRegistry

from audit.store import DeadLetter
from core.findings import Finding
from core.logs import JsonFormatter, configure_logging
from core.taxonomy import Category, Severity, Subcategory
from streams.batch import Outcome, RawMessage
from streams.metrics import WorkerMetrics


def _finding(i: int, category: Category, sub: Subcategory) -> Finding:
    return Finding(
        finding_id=f"f{i}",
        event_id=f"e{i}",
        model_id="m",
        model_version="1",
        detector="d",
        rule_id="R",
        category=category,
        subcategory=sub,
        severity=Severity.HIGH,
        title="t",
        evidence={},
        regulation_refs=[],
        remediation="",
        pack="p",
        pack_version="1",
        source_topic="ev",
        source_partition=0,
        source_offset=i,
    )


def _value(metrics: WorkerMetrics, name: str, **labels: str) -> float:
    got = metrics.registry.get_sample_value(name, labels)
    assert got is not None, (name, labels)
    return got


def test_outcomes_become_counters_histograms_and_lag() -> None:
    metrics = WorkerMetrics(CollectorRegistry())
    letter = DeadLetter.of(
        b"{", topic="ev", partition=0, offset=9, reason="invalid_json", detail="x"
    )
    outcome = Outcome(
        findings=[
            _finding(1, Category.LEGAL, Subcategory.DATA_PRIVACY),
            _finding(2, Category.LEGAL, Subcategory.DATA_PRIVACY),
            _finding(3, Category.TECHNICAL, Subcategory.MODEL_RELIABILITY),
        ],
        rejected=[(RawMessage("ev", 0, 9, None, b"{"), letter)],
        stored=40,
        duplicates=2,
        detector_seconds={"pii": 0.2, "drift": 0.01},
        detector_failures=["drift"],
    )
    metrics.observe(outcome, 0.3)
    metrics.observe(Outcome([], [], 10, 0), 0.1)
    assert _value(metrics, "riskwatch_events_total") == 50
    assert _value(metrics, "riskwatch_duplicate_events_total") == 2
    assert _value(metrics, "riskwatch_dead_letters_total", reason="invalid_json") == 1
    assert (
        _value(
            metrics,
            "riskwatch_findings_total",
            category="legal",
            subcategory="data_privacy",
            severity="high",
        )
        == 2
    )
    assert _value(metrics, "riskwatch_batches_total") == 2
    assert _value(metrics, "riskwatch_batch_seconds_count") == 2
    assert _value(metrics, "riskwatch_detector_seconds_sum", detector="pii") == pytest.approx(0.2)
    assert _value(metrics, "riskwatch_detector_failures_total", detector="drift") == 1
    metrics.set_lag([("ev", 0, 120), ("ev", 1, -3)])
    assert _value(metrics, "riskwatch_consumer_lag", topic="ev", partition="0") == 120
    assert _value(metrics, "riskwatch_consumer_lag", topic="ev", partition="1") == 0


def test_metrics_are_served_over_http() -> None:
    metrics = WorkerMetrics(CollectorRegistry())
    metrics.observe(Outcome([], [], 7, 0), 0.05)
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    metrics.serve(port, host="127.0.0.1")
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert "riskwatch_events_total 7.0" in body


def test_json_logs_are_one_object_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json")
    try:
        logging.getLogger("riskwatch.test").warning("batch of %d events", 3)
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("riskwatch.test").exception("failed")
    finally:
        configure_logging("warning", "text")
    lines = [orjson.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert lines[0]["message"] == "batch of 3 events" and lines[0]["level"] == "warning"
    assert lines[0]["logger"] == "riskwatch.test" and lines[0]["ts"].endswith("+00:00")
    assert "ValueError: boom" in lines[1]["exception"]
    assert isinstance(JsonFormatter().format(logging.makeLogRecord({"msg": "x"})), str)
