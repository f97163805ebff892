"""Scale out: two workers in one consumer group share the partitions; one is killed mid-stream
and the other takes its partitions over, with their detector and window state from the store.
The store ends with every event once and exactly the findings of one uninterrupted worker."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from audit.models import EventRecord
from tests.faults.test_faults import (
    _kill9,
    _traffic,
    assert_exactly_once,
    expected_findings,
)
from tests.integration.harness import Pipeline, wait_for

pytestmark = pytest.mark.faults


@pytest.mark.timeout(900)
def test_two_workers_one_killed_the_other_takes_over(pipeline: Pipeline, tmp_path: Path) -> None:
    traffic = _traffic(pipeline, 24_000, seed=35)
    sent = pipeline.produce((m.key, m.value) for m in traffic.messages)
    first, second = pipeline.start_worker(), pipeline.start_worker()
    total = len(traffic.valid_event_ids)
    try:
        wait_for(lambda: pipeline.counts()[0] >= total // 3, 300, "a third of the events")
        with pipeline.store.engine.connect() as conn:
            partitions = set(
                conn.execute(select(EventRecord.__table__.c.source_partition).distinct()).scalars()
            )
        print(
            f"\n[scale out] partitions stored so far: {sorted(partitions)}; "
            f"killing one worker at {pipeline.counts()[0]} events"
        )
        _kill9(first)
        wait_for(
            lambda: (
                pipeline.counts()[0] >= total
                and pipeline.counts()[2] >= sum(traffic.malformed.values())
            ),
            400,
            "every event",
        )
        assert second.poll() is None, "the surviving worker must still run"
    except AssertionError:
        print(pipeline.worker_log())
        raise
    pipeline.stop_workers()
    assert_exactly_once(
        pipeline, traffic, "two workers, one killed", expected_findings(pipeline, sent, tmp_path)
    )
