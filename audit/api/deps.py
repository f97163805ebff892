"""Dependencies of the audit API: the engine, and the bearer token with its role."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine

from audit.tokens import Role, TokenInfo, authenticate
from core.settings import Settings

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An API token from `riskwatch tokens create --role auditor|operator|admin`.",
)


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(get_engine)]


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def get_current_token(engine: EngineDep, credentials: Credentials) -> TokenInfo:
    """401 when the bearer token is missing, unknown, expired or revoked."""
    if credentials is None:
        raise _unauthorized("missing bearer token")
    token = authenticate(engine, credentials.credentials)
    if token is None:
        raise _unauthorized("invalid, expired or revoked token")
    return token


CurrentToken = Annotated[TokenInfo, Depends(get_current_token)]


def require(role: Role) -> Callable[[TokenInfo], TokenInfo]:
    """403 when the (valid) token's role does not include ``role``."""

    def check(token: CurrentToken) -> TokenInfo:
        if not token.role.includes(role):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"needs the {role.value} role; this token is {token.role.value}",
            )
        return token

    check.__name__ = f"require_{role.value}"
    return check


AuditorToken = Annotated[TokenInfo, Depends(require(Role.AUDITOR))]
OperatorToken = Annotated[TokenInfo, Depends(require(Role.OPERATOR))]
AdminToken = Annotated[TokenInfo, Depends(require(Role.ADMIN))]

# A row id in a path: bounded to a signed 64-bit integer, so an oversized id is a 422, not a
# database overflow.
#: the largest id an INTEGER key holds (PostgreSQL int4; SQLite's are wider)
MAX_ROW_ID = 2**31 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="Row id.")]
