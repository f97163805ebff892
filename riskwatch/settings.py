"""Process-wide settings, read once from RISKWATCH_* environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """riskwatch configuration; every field is read from ``RISKWATCH_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="RISKWATCH_", frozen=True, extra="ignore")

    kafka_bootstrap: str = Field(
        "127.0.0.1:9092", description="RISKWATCH_KAFKA_BOOTSTRAP: comma-separated host:port list."
    )
    database_url: str = Field(
        "sqlite:///./riskwatch.db",
        description="RISKWATCH_DATABASE_URL: SQLAlchemy URL of the audit store "
        "(sqlite:///path or postgresql+psycopg://user:pw@host/db).",
    )
    events_topic: str = Field("inference-events", description="RISKWATCH_EVENTS_TOPIC")
    findings_topic: str = Field("risk-findings", description="RISKWATCH_FINDINGS_TOPIC")
    dlq_topic: str = Field("inference-events-dlq", description="RISKWATCH_DLQ_TOPIC")
    config: Path = Field(
        Path("riskwatch.yaml"), description="RISKWATCH_CONFIG: the model registry file."
    )
    app_id: str = Field("riskwatch", description="RISKWATCH_APP_ID: Faust app id = consumer group.")
    partitions: int = Field(4, ge=1, description="RISKWATCH_PARTITIONS: partitions of new topics.")
    batch_size: int = Field(2000, ge=1, description="RISKWATCH_BATCH_SIZE: events per batch.")
    batch_within_s: float = Field(
        0.25, gt=0, description="RISKWATCH_BATCH_WITHIN_S: longest wait to fill a batch."
    )
    max_event_bytes: int = Field(
        512 * 1024, ge=1024, description="RISKWATCH_MAX_EVENT_BYTES: larger messages are dead-lettered."
    )
    batches_in_flight: int = Field(
        2, ge=1, description="RISKWATCH_BATCHES_IN_FLIGHT: batches being processed while the next "
        "is consumed.",
    )
    processor: Literal["process", "thread"] = Field(
        "process", description="RISKWATCH_PROCESSOR: run detectors and database writes in a child "
        "process (own core) or in a thread of the worker.",
    )
    home: Path = Field(
        Path(".riskwatch"), description="RISKWATCH_HOME: local state (broker data, worker data)."
    )
    log_level: str = Field("info", description="RISKWATCH_LOG_LEVEL")

    @property
    def bootstrap_servers(self) -> list[str]:
        return [s.strip() for s in self.kafka_bootstrap.split(",") if s.strip()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
