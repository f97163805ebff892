"""docker-compose.yml cannot run here (no Docker); check what can be checked: it parses, has the
production-shaped services, and configures riskwatch only with variables the code reads."""

from __future__ import annotations

from typing import Any

import yaml

from core.settings import Settings
from tests.unit.paths import REPO


def _compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_services_and_health_checks() -> None:
    services = _compose()["services"]
    assert {"kafka", "postgres", "worker", "api"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert services["worker"]["deploy"]["replicas"] >= 2
    for name in ("kafka", "postgres", "worker", "api"):
        assert services[name]["healthcheck"]["test"], name
    assert services["worker"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert services["api"]["command"][:1] == ["api"]


def test_riskwatch_variables_are_settings_the_code_reads() -> None:
    compose = _compose()
    fields = {f"RISKWATCH_{name.upper()}" for name in Settings.model_fields}
    for name in ("worker", "api"):
        env = compose["services"][name]["environment"]
        unknown = {k for k in env if k.startswith("RISKWATCH_")} - fields
        assert not unknown, f"{name}: {sorted(unknown)} are read by no setting"
        settings = Settings(**{k.removeprefix("RISKWATCH_").lower(): v for k, v in env.items()})
        assert settings.kafka_bootstrap == "kafka:9092"
        assert settings.database_url.startswith("postgresql+psycopg://")
        assert "@postgres:5432/" in settings.database_url
    kafka_listeners = compose["services"]["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert kafka_listeners.endswith("kafka:9092")
    pg = compose["services"]["postgres"]["environment"]
    url = compose["services"]["worker"]["environment"]["RISKWATCH_DATABASE_URL"]
    assert (
        f"{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@postgres:5432/{pg['POSTGRES_DB']}" in url
    )


def test_ports_match_the_settings() -> None:
    services = _compose()["services"]
    env = services["worker"]["environment"]
    assert (
        str(Settings(metrics_port=int(env["RISKWATCH_METRICS_PORT"])).metrics_port)
        in services["worker"]["expose"]
    )
    api_port = services["api"]["command"][services["api"]["command"].index("--port") + 1]
    assert f"{api_port}:{api_port}" in services["api"]["ports"]
    assert api_port in services["api"]["healthcheck"]["test"][-1]
