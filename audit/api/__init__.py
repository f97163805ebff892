"""The audit API (FastAPI): findings with their trails, lifecycle actions, summary, tokens."""

from audit.api.app import create_app

__all__ = ["create_app"]
