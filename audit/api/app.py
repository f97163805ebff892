"""The FastAPI application: ``create_app(settings)``; ``riskwatch api`` serves it with uvicorn."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, status
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from audit.api.limits import RequestLimits
from audit.api.routes import (
    chain,
    console,
    events,
    findings,
    incidents,
    models,
    removals,
    reports,
    summary,
    tokens,
    webhooks,
)
from audit.db import create_schema, make_engine
from core.settings import Settings, get_settings


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = engine or make_engine(settings.database_url)
    create_schema(engine)
    app = FastAPI(
        title="riskwatch audit API",
        version="1",
        description="Findings with their audit trail, incidents, lifecycle actions and summaries. "
        "Authenticate with `Authorization: Bearer <token>`; roles: auditor (read), "
        "operator (+ lifecycle actions, reading sealed texts: GET /events/{id}/text), "
        "admin (+ tokens, alert webhooks and erasures).",
    )
    # outermost: oversized bodies, NaN/Infinity and NUL never reach auth or a parser
    app.add_middleware(RequestLimits, max_body_bytes=settings.api_max_body_bytes)
    app.state.engine = engine
    app.state.settings = settings
    for module in (
        findings,
        incidents,
        models,
        summary,
        chain,
        tokens,
        webhooks,
        reports,
        removals,
        events,
        console,
    ):
        app.include_router(module.router)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, Any]:
        """Liveness and database reachability; no authentication."""
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, "database unreachable"
            ) from None
        return {"status": "ok", "database": engine.dialect.name}

    return app
