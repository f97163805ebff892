"""The worker's checkpoint thread (audit/checkpoints.py Checkpointer) and its Kafka publisher
(streams/checkpoints.py): a moved head is signed, stored and published once; a failed publish is
retried at the next round."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from audit.checkpoints import Checkpoint, Checkpointer, verify_checkpoints
from audit.keys import keys_from_settings
from streams.checkpoints import KafkaCheckpointPublisher
from tests.unit.audit.audit_helpers import filled, make_handler, messages


class _Witness:
    def __init__(self, fail: int = 0) -> None:
        self.seen: list[Checkpoint] = []
        self.fail = fail

    def publish(self, checkpoint: Checkpoint) -> None:
        if self.fail:
            self.fail -= 1
            raise ConnectionError("broker away")
        self.seen.append(checkpoint)


def test_a_moved_head_is_signed_stored_and_published_once(tmp_path: Path) -> None:
    keys = keys_from_settings()
    handler = filled(tmp_path / "a.db", n=200)
    witness = _Witness(fail=1)
    cpr = Checkpointer(handler.store.engine, keys, witness, every_s=3600)
    first = cpr.run_once(datetime(2026, 12, 1, 6, 0, tzinfo=UTC))
    assert first is None and witness.seen == []  # the publish failed: retried next round
    again = cpr.run_once(datetime(2026, 12, 1, 6, 1, tzinfo=UTC))
    assert again is not None and witness.seen == [again]
    cpr.run_once(datetime(2026, 12, 1, 6, 2, tzinfo=UTC))
    assert witness.seen == [again]  # head unchanged: nothing new
    msgs, _ = messages(400, seed=9)
    make_handler(tmp_path / "a.db").handle(msgs)
    moved = cpr.run_once(datetime(2026, 12, 1, 6, 3, tzinfo=UTC))
    assert moved is not None and moved.seq > again.seq and witness.seen == [again, moved]
    assert verify_checkpoints(handler.store.engine, keys.public_keys(), witness.seen).ok


def test_thread_start_and_stop_sign_the_last_head(tmp_path: Path) -> None:
    handler = filled(tmp_path / "a.db", n=200)
    witness = _Witness()
    Checkpointer(handler.store.engine, keys_from_settings(), witness, every_s=3600).start().stop()
    assert witness.seen and witness.seen[-1].seq > 0


def test_kafka_publisher_sends_json_keyed_by_seq_and_waits() -> None:
    sent: list[tuple[str, bytes, bytes]] = []

    class Future:
        def get(self, timeout: float) -> None:
            assert timeout > 0

    class Producer:
        def send(self, topic: str, key: bytes, value: bytes) -> Any:
            sent.append((topic, key, value))
            return Future()

    cp = Checkpoint(7, "ab" * 32, "2026-12-01T06:00:00.000000Z", "sig-1", "c2ln")
    KafkaCheckpointPublisher(Producer(), "rw-checkpoints").publish(cp)
    made: list[Producer] = []
    lazy = KafkaCheckpointPublisher(lambda: made.append(Producer()) or made[-1], "rw-checkpoints")
    assert made == []  # no broker needed to start
    lazy.publish(cp)
    lazy.publish(cp)
    assert len(made) == 1 and len(sent) == 3
    (topic, key, value) = sent[0]
    assert (topic, key) == ("rw-checkpoints", b"7")
    assert Checkpoint.from_dict(json.loads(value)) == cp
