"""A worker process against the real local broker, each test on its own topics and database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import func, select

from audit.models import DeadLetterRecord, EventRecord, FindingRecord
from audit.store import AuditStore
from riskwatch.demo import stop_process
from streams.producer import make_producer, send_all
from tests.dburl import db_url

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(
    predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.25
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@dataclass
class Pipeline:
    bootstrap: str
    workdir: Path
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    config: Path = REPO / "riskwatch.yaml"
    metrics_port: int = 0  # 0: off, so that several workers can run side by side
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def events_topic(self) -> str:
        return f"it-{self.tag}-events"

    @property
    def findings_topic(self) -> str:
        return f"it-{self.tag}-findings"

    @property
    def dlq_topic(self) -> str:
        return f"it-{self.tag}-dlq"

    @property
    def checkpoints_topic(self) -> str:
        return f"it-{self.tag}-checkpoints"

    database_url: str | None = None  # default: the suite's store for workdir/audit.db

    @property
    def db_url(self) -> str:
        return self.database_url or db_url(self.workdir / "audit.db")

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "RISKWATCH_KAFKA_BOOTSTRAP": self.bootstrap,
            "RISKWATCH_DATABASE_URL": self.db_url,
            "RISKWATCH_EVENTS_TOPIC": self.events_topic,
            "RISKWATCH_FINDINGS_TOPIC": self.findings_topic,
            "RISKWATCH_DLQ_TOPIC": self.dlq_topic,
            "RISKWATCH_CHECKPOINTS_TOPIC": self.checkpoints_topic,
            "RISKWATCH_CHECKPOINT_EVERY_S": "1",
            "RISKWATCH_APP_ID": f"rw-it-{self.tag}",
            "RISKWATCH_HOME": str(self.workdir / "home"),
            # the suite's key file (tests/conftest.py): the test erases by the worker's keys
            "RISKWATCH_KEY_FILE": os.environ["RISKWATCH_KEY_FILE"],
            "RISKWATCH_CONFIG": str(self.config),
            "RISKWATCH_PARTITIONS": "3",
            "RISKWATCH_METRICS_PORT": str(self.metrics_port),
        }

    def start_worker(self) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"worker-{len(self.procs)}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "riskwatch.cli", "worker"],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=self.workdir,
        )
        self.procs.append(proc)
        return proc

    def stop_workers(self) -> None:
        for proc in self.procs:
            stop_process(proc)

    def worker_log(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-4000:] for p in self.workdir.glob("worker-*.log")
        )

    def produce(self, messages: Iterable[tuple[bytes | None, bytes]]) -> int:
        producer = make_producer([self.bootstrap])
        try:
            return send_all(producer, self.events_topic, messages)
        finally:
            producer.close()

    _store: AuditStore | None = None

    @property
    def store(self) -> AuditStore:
        if self._store is None:
            self._store = AuditStore.from_url(self.db_url)
        return self._store

    def count(self, table: type) -> int:
        with self.store.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table.__table__)).scalar_one())

    def counts(self) -> tuple[int, int, int]:
        return self.count(EventRecord), self.count(FindingRecord), self.count(DeadLetterRecord)

    def read_topic(self, topic: str, expected: int, timeout: float = 60.0) -> list:  # type: ignore[type-arg]
        consumer = KafkaConsumer(
            bootstrap_servers=[self.bootstrap],
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            consumer_timeout_ms=2000,
        )
        try:
            parts = consumer.partitions_for_topic(topic) or set()
            consumer.assign([TopicPartition(topic, p) for p in parts])
            consumer.seek_to_beginning()
            records: list = []  # type: ignore[type-arg]
            deadline = time.monotonic() + timeout
            while len(records) < expected and time.monotonic() < deadline:
                for batch in consumer.poll(timeout_ms=1000).values():
                    records.extend(batch)
            return records
        finally:
            consumer.close()

    def read_at(self, topic: str, partition: int, offset: int):  # type: ignore[no-untyped-def]
        consumer = KafkaConsumer(bootstrap_servers=[self.bootstrap], enable_auto_commit=False)
        try:
            tp = TopicPartition(topic, partition)
            consumer.assign([tp])
            consumer.seek(tp, offset)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                for batch in consumer.poll(timeout_ms=1000).values():
                    for record in batch:
                        if record.offset == offset:
                            return record
            raise AssertionError(f"no record at {topic}/{partition}/{offset}")
        finally:
            consumer.close()
