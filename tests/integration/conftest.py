"""Integration fixtures: one real KRaft broker for the session, on a private port."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from riskwatch.local_kafka import LocalKafka
from tests.integration.harness import Pipeline

TEST_PORT = int(os.environ.get("RISKWATCH_TEST_KAFKA_PORT", "19092"))


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    broker = LocalKafka(home=tmp_path_factory.mktemp("broker") / "kafka", port=TEST_PORT)
    already_running = broker.is_up()
    bootstrap = broker.up(timeout=180)
    yield bootstrap
    if not already_running:
        broker.down()


def make_pipeline(bootstrap: str, workdir: Path) -> Pipeline:
    workdir.mkdir(parents=True, exist_ok=True)
    return Pipeline(bootstrap=bootstrap, workdir=workdir)


@pytest.fixture
def pipeline(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Pipeline]:
    pipe = make_pipeline(kafka_bootstrap, tmp_path)
    yield pipe
    pipe.stop_workers()
