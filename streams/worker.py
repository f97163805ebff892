"""Assembling and running a worker: settings → store, detectors, policies → Faust app."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING

import faust
from faust.types import RecordMetadata

from audit.keys import KeyRing, load_keys
from audit.store import AuditStore
from core.model_registry import RegistryWatcher, load_registry
from core.settings import Settings
from policies.engine import PolicyEngine
from policies.pack import BUILTIN_PACKS, load_packs
from streams.agent import AuditSink, register_agents
from streams.app import create_app
from streams.codec import EventPolicy
from streams.metrics import WorkerMetrics
from streams.partitioned import MARK, PartitionedProcessor
from streams.pipeline import BatchHandler, BatchProcessor
from streams.retry import retry_sync
from streams.runner import ProcessRunner, Runner, ThreadRunner
from streams.topics import declare_topics, ensure_topics

if TYPE_CHECKING:
    from audit.removal.retention import RetentionPurger
    from audit.webhooks.dispatcher import Dispatcher

log = logging.getLogger(__name__)


def open_store(
    settings: Settings, *, wait_s: float = 3600.0, keys: KeyRing | None = None
) -> AuditStore:
    """Connect and create the schema, waiting for a database that is not up yet; subject
    references are keyed with ``keys`` (default: the key file of RISKWATCH_KEY_FILE, which must
    exist: ``KeyFileError`` otherwise)."""
    ring = keys if keys is not None else load_keys(settings.key_path)
    # after `riskwatch keys rotate` the data keys are wrapped by a KEK loaded by reading it again
    reload = None if keys is not None else (lambda: load_keys(settings.key_path))
    return retry_sync(
        "opening the audit store",
        lambda: AuditStore.from_url(settings.database_url, keys=ring, reload_keys=reload),
        first_delay=0.5,
        give_up_after=wait_s,
    )


def build_handler(settings: Settings, keys: KeyRing | None = None) -> BatchHandler:
    # Imported here: detector modules load torch, spaCy and Evidently, which only the process
    # that runs the batches needs.
    from detectors.catalog import build_detectors

    # riskwatch.yaml is watched like the packs: every unit asks for the current registry before
    # each batch; a broken file is logged and the last good registry kept
    watcher = RegistryWatcher(settings.config, every_s=settings.config_reload_s)
    pack_dir = settings.policy_packs or BUILTIN_PACKS
    store = open_store(settings, keys=keys)

    def unit() -> BatchProcessor:  # detectors and policies of one partition
        registry = watcher.registry
        policies = PolicyEngine(
            load_packs(pack_dir),
            registry,
            pack_dir=pack_dir,
            reload_every_s=settings.policy_reload_s,
        )
        return BatchProcessor(build_detectors(registry), policies, registry=watcher.poll)

    # reads of partition state wait out a database outage, like the batch's other reads
    processor = PartitionedProcessor(
        unit,
        lambda scope: retry_sync("loading partition state", lambda: store.load_states(scope)),
        lambda scopes: retry_sync(
            "reading partition marks", lambda: store.load_state_of(MARK, scopes)
        ),
    )
    return BatchHandler(store, processor, EventPolicy(max_bytes=settings.max_event_bytes))


def build_worker_app(settings: Settings) -> faust.App:
    # fail fast, in the parent, without a key file: never store subject references under a key
    # nobody kept (see README: the key file is created by `riskwatch keys init`, not here)
    keys = load_keys(settings.key_path)
    load_registry(settings.config)  # fail fast, in the parent, on a bad registry
    PolicyEngine(
        load_packs(settings.policy_packs or BUILTIN_PACKS),  # fail fast on bad packs
        load_registry(settings.config),
    )
    runner: Runner
    if settings.processor == "process":
        # create the schema (or wait for the database) before starting
        open_store(settings, keys=keys)
        runner = ProcessRunner(settings.model_dump_json(), build_handler)
    else:
        runner = ThreadRunner(build_handler(settings, keys))
    ensure_topics(settings)
    app = create_app(settings)
    topics = declare_topics(app, settings)

    async def publish(
        topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
    ) -> Awaitable[RecordMetadata]:
        return await app.producer.send(topic, key, value, None, None, headers)

    metrics = WorkerMetrics()
    if settings.metrics_port:
        metrics.serve(settings.metrics_port, host=settings.metrics_host)
        log.info("metrics on :%d/metrics", settings.metrics_port)
    sink = AuditSink(
        runner,
        publish,
        findings_topic=settings.findings_topic,
        dlq_topic=settings.dlq_topic,
        metrics=metrics,
    )
    register_agents(app, topics, sink, settings)

    app._riskwatch_runner = runner  # type: ignore[attr-defined]
    app._riskwatch_metrics = metrics  # type: ignore[attr-defined]
    return app


def start_webhook_dispatcher(
    settings: Settings, metrics: WorkerMetrics | None = None
) -> Dispatcher | None:
    """The alert webhook dispatcher, in a thread of this process (off the event path), or None
    when RISKWATCH_WEBHOOK_DISPATCH is false."""
    if not settings.webhook_dispatch:
        return None
    from audit.db import make_engine
    from audit.webhooks.dispatcher import Dispatcher, DispatcherConfig

    return Dispatcher(
        make_engine(settings.database_url),
        DispatcherConfig.from_settings(settings),
        on_failure=metrics.webhook_failures.inc if metrics else None,
    ).start()


def start_retention_purger(settings: Settings) -> RetentionPurger | None:
    """Hourly event retention (RISKWATCH_EVENT_RETENTION_DAYS), in a thread; None when 0."""
    if settings.event_retention_days <= 0:
        return None
    from audit.db import make_engine
    from audit.removal.retention import RetentionPurger

    return RetentionPurger(
        make_engine(settings.database_url), settings.event_retention_days
    ).start()


def run_worker(settings: Settings) -> None:
    app = build_worker_app(settings)
    dispatcher = start_webhook_dispatcher(settings, app._riskwatch_metrics)  # type: ignore[attr-defined]
    purger = start_retention_purger(settings)
    from streams.checkpoints import start_checkpointer

    checkpointer = start_checkpointer(settings, load_keys(settings.key_path))
    # Our own log setup (core/logs.py, text or JSON) stays; Faust's would replace it.
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True, override_logging=False)
    try:
        worker.execute_from_commandline()
    finally:
        if dispatcher is not None:
            dispatcher.stop()
        if purger is not None:
            purger.stop()
        checkpointer.stop()
        app._riskwatch_runner.close()  # type: ignore[attr-defined]
