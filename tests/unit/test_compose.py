"""docker-compose.yml cannot run here (no Docker); check what can be checked: it parses, has the
production-shaped services, configures riskwatch only with variables the code reads, publishes
nothing but the API (on 127.0.0.1), and takes its credentials from an uncommitted .env."""

from __future__ import annotations

import subprocess
from typing import Any

import yaml

from core.settings import Settings
from tests.unit.paths import REPO


def _compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def _env_example() -> dict[str, str]:
    lines = (REPO / ".env.example").read_text().splitlines()
    pairs = [line.split("=", 1) for line in lines if line.strip() and not line.startswith("#")]
    return {k.strip(): v.strip() for k, v in pairs}


def _env_files(service: dict[str, Any]) -> list[str]:
    files = service.get("env_file", [])
    return [files] if isinstance(files, str) else list(files)


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
    dotenv = _env_example()
    fields = {f"RISKWATCH_{name.upper()}" for name in Settings.model_fields}
    for name in ("worker", "api"):
        env = {**compose["services"][name]["environment"]}
        assert ".env" in _env_files(compose["services"][name]), name
        env.update({k: v for k, v in dotenv.items() if k.startswith("RISKWATCH_")})
        unknown = {k for k in env if k.startswith("RISKWATCH_")} - fields
        assert not unknown, f"{name}: {sorted(unknown)} are read by no setting"
        settings = Settings(**{k.removeprefix("RISKWATCH_").lower(): v for k, v in env.items()})
        assert settings.kafka_bootstrap == "kafka:9092"
        assert settings.database_url.startswith("postgresql+psycopg://")
        assert "@postgres:5432/" in settings.database_url
    kafka_listeners = compose["services"]["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert kafka_listeners.endswith("kafka:9092")
    url = dotenv["RISKWATCH_DATABASE_URL"]
    assert (
        f"{dotenv['POSTGRES_USER']}:{dotenv['POSTGRES_PASSWORD']}@postgres:5432/"
        f"{dotenv['POSTGRES_DB']}" in url
    )


def test_credentials_come_from_an_uncommitted_env_file() -> None:
    text = (REPO / "docker-compose.yml").read_text()
    assert "POSTGRES_PASSWORD:" not in text and "POSTGRES_PASSWORD=" not in text
    assert "riskwatch:riskwatch@" not in text and "RISKWATCH_DATABASE_URL:" not in text
    for name in ("postgres", "worker", "api"):
        assert ".env" in _env_files(_compose()["services"][name]), name
    assert ".env" in (REPO / ".gitignore").read_text().splitlines()
    tracked = subprocess.run(
        ["git", "ls-files", ".env"], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert tracked.stdout.strip() == ""
    assert {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"} <= set(_env_example())


def test_only_the_api_is_published_and_only_on_loopback() -> None:
    services = _compose()["services"]
    for name in ("kafka", "postgres", "worker"):
        assert not services[name].get("ports"), f"{name} must not publish a host port"
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port} is not on 127.0.0.1"


def test_ports_match_the_settings() -> None:
    services = _compose()["services"]
    env = services["worker"]["environment"]
    assert (
        str(Settings(metrics_port=int(env["RISKWATCH_METRICS_PORT"])).metrics_port)
        in services["worker"]["expose"]
    )
    api_port = services["api"]["command"][services["api"]["command"].index("--port") + 1]
    assert f"127.0.0.1:{api_port}:{api_port}" in services["api"]["ports"]
    assert api_port in services["api"]["healthcheck"]["test"][-1]


def test_worker_metrics_bind_to_loopback_unless_configured() -> None:
    assert Settings().metrics_host == "127.0.0.1"
    assert Settings(metrics_host="0.0.0.0").metrics_host == "0.0.0.0"


def test_worker_and_api_read_the_key_file_from_a_secret_never_committed() -> None:
    compose = _compose()
    for name in ("worker", "api"):
        service = compose["services"][name]
        assert service["environment"]["RISKWATCH_KEY_FILE"] == "/run/secrets/riskwatch_keys"
        assert "riskwatch_keys" in service["secrets"], name
    source = compose["secrets"]["riskwatch_keys"]["file"]
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", source], cwd=REPO, check=False
    ).returncode
    assert ignored == 0, f"{source} must be git-ignored"
