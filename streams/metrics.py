"""Prometheus metrics of one worker, served on RISKWATCH_METRICS_PORT (``/metrics``).

Counted in the worker process from each committed batch's Outcome (the batch process measures
its detectors and sends the timings back with the outcome), so one endpoint covers both.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from streams.batch import Outcome

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.events = Counter(
            "riskwatch_events", "Valid events stored (rate: events/s)", registry=r
        )
        self.duplicates = Counter(
            "riskwatch_duplicate_events", "Events received again and not stored twice", registry=r
        )
        self.dead_letters = Counter(
            "riskwatch_dead_letters",
            "Messages sent to the dead-letter topic, by reason",
            ["reason"],
            registry=r,
        )
        self.findings = Counter(
            "riskwatch_findings",
            "Findings filed, by taxonomy and severity",
            ["category", "subcategory", "severity"],
            registry=r,
        )
        self.batches = Counter("riskwatch_batches", "Batches committed", registry=r)
        self.batch_seconds = Histogram(
            "riskwatch_batch_seconds",
            "Batch time from hand-off to commit and publish",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.detector_seconds = Histogram(
            "riskwatch_detector_seconds",
            "Time one detector spent on one batch",
            ["detector"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.detector_failures = Counter(
            "riskwatch_detector_failures",
            "Batches a detector failed on (the others and the events went on)",
            ["detector"],
            registry=r,
        )
        self.consumer_lag = Gauge(
            "riskwatch_consumer_lag",
            "Messages in the partition not yet committed by this worker",
            ["topic", "partition"],
            registry=r,
        )
        self.webhook_failures = Counter(
            "riskwatch_webhook_failures", "Failed webhook delivery attempts", registry=r
        )

    def observe(self, outcome: Outcome, seconds: float) -> None:
        self.batches.inc()
        self.batch_seconds.observe(seconds)
        self.events.inc(outcome.stored)
        self.duplicates.inc(outcome.duplicates)
        for _, letter in outcome.rejected:
            self.dead_letters.labels(letter.reason).inc()
        for f in outcome.findings:
            self.findings.labels(str(f.category), str(f.subcategory), str(f.severity)).inc()
        for name, spent in outcome.detector_seconds.items():
            self.detector_seconds.labels(name).observe(spent)
        for name in outcome.detector_failures:
            self.detector_failures.labels(name).inc()

    def set_lag(self, lags: Iterable[tuple[str, int, int]]) -> None:
        for topic, partition, lag in lags:
            self.consumer_lag.labels(topic, str(partition)).set(max(lag, 0))

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        start_http_server(port, addr=host, registry=self.registry)
