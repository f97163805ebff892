"""Waiting for new topics' metadata and leaders before producing (no broker: a fake admin)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from kafka.errors import KafkaConnectionError

from streams.topics import not_ready, wait_for_topics

NAMES = ["inference-events", "risk-findings"]


def topic(name: str, *leaders: int, error_code: int = 0) -> dict[str, Any]:
    return {
        "name": name,
        "error_code": error_code,
        "partitions": [
            {"partition_index": i, "error_code": 0, "leader_id": leader}
            for i, leader in enumerate(leaders)
        ],
    }


class FakeAdmin:
    """Answers describe_topics with the next of its scripted answers (the last one repeats)."""

    def __init__(self, *answers: list[dict[str, Any]] | Exception) -> None:
        self.answers = list(answers)
        self.calls: list[list[str] | None] = []

    def describe_topics(self, topics: list[str] | None = None) -> Sequence[Mapping[str, Any]]:
        self.calls.append(topics)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_not_ready_names_what_is_missing() -> None:
    assert not_ready([topic("inference-events", 1, 1), topic("risk-findings", 1)], NAMES) == {}
    assert not_ready([topic("inference-events", 1, -1)], NAMES) == {
        "inference-events": "no leader yet for partitions 1",
        "risk-findings": "not in the metadata",
    }
    assert not_ready([topic("risk-findings", error_code=3)], ["risk-findings"]) == {
        "risk-findings": "error code 3"
    }
    assert not_ready([topic("risk-findings")], ["risk-findings"]) == {
        "risk-findings": "no partitions"
    }


def test_waits_until_every_partition_has_a_leader() -> None:
    clock = Clock()
    admin = FakeAdmin(
        KafkaConnectionError("broker starting"),
        [topic("inference-events", 1, -1)],  # created, no leader for partition 1 yet
        [topic("inference-events", 1, 1), topic("risk-findings", -1)],
        [topic("inference-events", 1, 1), topic("risk-findings", 1)],
    )
    wait_for_topics(admin, NAMES, timeout_s=10, interval_s=0.5, clock=clock, sleep=clock.sleep)
    assert len(admin.calls) == 4 and admin.calls[0] == NAMES
    assert clock.now == 1.5


def test_gives_up_after_the_timeout_naming_the_topic() -> None:
    clock = Clock()
    admin = FakeAdmin([topic("inference-events", 1), topic("risk-findings", -1)])
    with pytest.raises(TimeoutError, match=r"risk-findings: no leader yet for partitions 0"):
        wait_for_topics(admin, NAMES, timeout_s=2, interval_s=0.5, clock=clock, sleep=clock.sleep)
    assert clock.now == 2.0


def test_nothing_to_wait_for_asks_nothing() -> None:
    admin = FakeAdmin([])
    wait_for_topics(admin, [])
    assert admin.calls == []
