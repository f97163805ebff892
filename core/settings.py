"""Process-wide settings, read once from RISKWATCH_* environment variables."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
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
    checkpoints_topic: str = Field(
        "riskwatch-checkpoints",
        description="RISKWATCH_CHECKPOINTS_TOPIC: signed chain checkpoints, published by the "
        "worker: the append-only witness `riskwatch audit verify --witness` checks against.",
    )
    checkpoint_every_s: float = Field(
        60.0,
        gt=0,
        description="RISKWATCH_CHECKPOINT_EVERY_S: how often the worker signs the chain head "
        "(when it moved), stores the checkpoint and publishes it.",
    )
    config: Path = Field(
        Path("riskwatch.yaml"), description="RISKWATCH_CONFIG: the model registry file."
    )
    config_reload_s: float = Field(
        2.0,
        gt=0,
        description="RISKWATCH_CONFIG_RELOAD_S: how often the worker looks for a "
        "changed registry file (RISKWATCH_CONFIG), between batches.",
    )
    policy_packs: Path | None = Field(
        None,
        description="RISKWATCH_POLICY_PACKS: folder of policy packs (*.yaml), watched for "
        "changes; default: the packs shipped in policies/packs/.",
    )
    policy_reload_s: float = Field(
        2.0,
        gt=0,
        description="RISKWATCH_POLICY_RELOAD_S: how often the worker looks for "
        "changed policy packs.",
    )
    app_id: str = Field("riskwatch", description="RISKWATCH_APP_ID: Faust app id = consumer group.")
    partitions: int = Field(4, ge=1, description="RISKWATCH_PARTITIONS: partitions of new topics.")
    batch_size: int = Field(2000, ge=1, description="RISKWATCH_BATCH_SIZE: events per batch.")
    batch_within_s: float = Field(
        0.25, gt=0, description="RISKWATCH_BATCH_WITHIN_S: longest wait to fill a batch."
    )
    max_event_bytes: int = Field(
        512 * 1024,
        ge=1024,
        description="RISKWATCH_MAX_EVENT_BYTES: larger messages are dead-lettered.",
    )
    batches_in_flight: int = Field(
        2,
        ge=1,
        description="RISKWATCH_BATCHES_IN_FLIGHT: batches being processed while the next "
        "is consumed.",
    )
    processor: Literal["process", "thread"] = Field(
        "process",
        description="RISKWATCH_PROCESSOR: run detectors and database writes in a child "
        "process (own core) or in a thread of the worker.",
    )
    home: Path = Field(
        Path(".riskwatch"), description="RISKWATCH_HOME: local state (broker data, worker data)."
    )
    key_file: Path | None = Field(
        None,
        description="RISKWATCH_KEY_FILE: the key file (HMAC keys for subject references, "
        "Ed25519 keys that sign chain checkpoints and exports), created by `riskwatch keys "
        "init`; default: keys.json under RISKWATCH_HOME. Keep it outside the database.",
    )
    log_level: str = Field("info", description="RISKWATCH_LOG_LEVEL")
    log_format: Literal["text", "json"] = Field(
        "text", description="RISKWATCH_LOG_FORMAT: text, or json (one JSON object per line)."
    )
    metrics_port: int = Field(
        9464,
        ge=0,
        le=65535,
        description="RISKWATCH_METRICS_PORT: the worker's Prometheus "
        "endpoint (/metrics); 0 turns it off.",
    )
    metrics_host: str = Field(
        "127.0.0.1",
        min_length=1,
        description="RISKWATCH_METRICS_HOST: the address the worker's Prometheus endpoint "
        "binds to; 0.0.0.0 (or ::) exposes it beyond this machine.",
    )
    webhook_allow_cidrs: str = Field(
        "",
        description="RISKWATCH_WEBHOOK_ALLOW_CIDRS: comma-separated CIDRs (10.20.0.0/16, "
        "fd12::/16) that alert webhooks may reach although they are not public addresses; "
        "default empty: loopback, private, link-local and other internal addresses are refused "
        "(cloud metadata addresses always are).",
    )
    chromium: str | None = Field(
        None,
        description="RISKWATCH_CHROMIUM: the browser that prints PDF reports (a path or a "
        "name on PATH); default: chromium, chromium-browser or google-chrome, the first found.",
    )
    api_max_body_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="RISKWATCH_API_MAX_BODY_BYTES: larger API request bodies are refused with "
        "413 before they are parsed or authenticated.",
    )
    webhook_dispatch: bool = Field(
        True,
        description="RISKWATCH_WEBHOOK_DISPATCH: the worker runs the alert webhook "
        "dispatcher in a thread; false when `riskwatch alerts run` delivers instead.",
    )
    webhook_timeout_s: float = Field(
        5.0, gt=0, le=60, description="RISKWATCH_WEBHOOK_TIMEOUT_S: HTTP timeout of one delivery."
    )
    webhook_max_attempts: int = Field(
        8,
        ge=1,
        le=100,
        description="RISKWATCH_WEBHOOK_MAX_ATTEMPTS: failed attempts before a delivery is dead.",
    )
    webhook_backoff_base_s: float = Field(
        2.0,
        gt=0,
        description="RISKWATCH_WEBHOOK_BACKOFF_BASE_S: ceiling of the first retry "
        "wait; doubles per attempt (full jitter).",
    )
    webhook_backoff_max_s: float = Field(
        600.0, gt=0, description="RISKWATCH_WEBHOOK_BACKOFF_MAX_S: largest retry wait."
    )
    webhook_poll_s: float = Field(
        1.0,
        gt=0,
        le=60,
        description="RISKWATCH_WEBHOOK_POLL_S: how often an idle dispatcher "
        "looks for due deliveries.",
    )
    webhook_concurrency: int = Field(
        4, ge=1, le=64, description="RISKWATCH_WEBHOOK_CONCURRENCY: deliveries sent at once."
    )
    webhook_lease_s: float = Field(
        60.0,
        gt=0,
        description="RISKWATCH_WEBHOOK_LEASE_S: how long a claimed delivery is "
        "reserved for its dispatcher; must exceed twice the timeout.",
    )
    event_retention_days: int = Field(
        365,
        ge=0,
        le=36500,
        description="RISKWATCH_EVENT_RETENTION_DAYS: `riskwatch audit purge` "
        "deletes events older than this (findings are kept); 0 keeps events forever.",
    )

    @field_validator("webhook_allow_cidrs")
    @classmethod
    def _cidrs(cls, value: str) -> str:
        for item in value.split(","):
            if item.strip():
                try:
                    ipaddress.ip_network(item.strip(), strict=False)
                except ValueError as exc:
                    raise ValueError(f"RISKWATCH_WEBHOOK_ALLOW_CIDRS: {exc}") from None
        return value

    @model_validator(mode="after")
    def _webhook_limits(self) -> Settings:
        if self.webhook_backoff_max_s < self.webhook_backoff_base_s:
            raise ValueError(
                "RISKWATCH_WEBHOOK_BACKOFF_MAX_S must be >= RISKWATCH_WEBHOOK_BACKOFF_BASE_S"
            )
        if self.webhook_lease_s <= 2 * self.webhook_timeout_s:
            raise ValueError(
                "RISKWATCH_WEBHOOK_LEASE_S must exceed twice "
                "RISKWATCH_WEBHOOK_TIMEOUT_S (a claim must outlive its attempt)"
            )
        return self

    @property
    def key_path(self) -> Path:
        """RISKWATCH_KEY_FILE, or keys.json under RISKWATCH_HOME."""
        return self.key_file if self.key_file is not None else self.home / "keys.json"

    @property
    def bootstrap_servers(self) -> list[str]:
        return [s.strip() for s in self.kafka_bootstrap.split(",") if s.strip()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
