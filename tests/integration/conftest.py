"""Integration fixtures: one real KRaft broker for the session, on a private port."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from riskwatch.local_kafka import LocalKafka
from tests.integration.harness import Pipeline

TEST_PORT = int(os.environ.get("RISKWATCH_TEST_KAFKA_PORT", "19092"))


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    broker = LocalKafka(home=tmp_path_factory.mktemp("broker") / "kafka", port=TEST_PORT)
    already_running = broker.is_up()
    broker.up(timeout=180)
    yield broker
    if not already_running:
        broker.down()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: LocalKafka) -> str:
    return kafka_broker.bootstrap


def make_pipeline(bootstrap: str, workdir: Path) -> Pipeline:
    workdir.mkdir(parents=True, exist_ok=True)
    return Pipeline(bootstrap=bootstrap, workdir=workdir)


@pytest.fixture
def pipeline(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Pipeline]:
    pipe = make_pipeline(kafka_bootstrap, tmp_path)
    yield pipe
    pipe.stop_workers()
