"""Fault tests share the integration suite's broker and pipeline harness."""

from tests.integration.conftest import kafka_bootstrap, kafka_broker, pipeline  # noqa: F401
