"""Producing inference events to Kafka (the demo simulator and `riskwatch produce --file`)."""

from __future__ import annotations

from collections.abc import Iterable

from kafka import KafkaProducer


def make_producer(bootstrap_servers: list[str], **overrides: object) -> KafkaProducer:
    options: dict[str, object] = {
        "bootstrap_servers": bootstrap_servers,
        "acks": "all",
        "linger_ms": 5,
        "batch_size": 256 * 1024,
        "max_request_size": 4 * 1024 * 1024,
        "retries": 5,
    }
    options.update(overrides)
    return KafkaProducer(**options)


def send_all(
    producer: KafkaProducer, topic: str, messages: Iterable[tuple[bytes | None, bytes]]
) -> int:
    """Send (key, value) pairs and wait until the broker has every one; returns how many."""
    futures = [producer.send(topic, key=key, value=value) for key, value in messages]
    producer.flush()
    for fut in futures:
        fut.get(timeout=60)  # raises if the broker refused one
    return len(futures)
