"""Tokens (admin): list, create (the token is returned once), revoke."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, status

from audit.api.deps import AdminToken, EngineDep, RowId
from audit.api.schemas.tokens import TokenCreate, TokenCreated, TokenPublic, TokensPublic
from audit.tokens import TokenError, TokenNameTaken, create_token, list_tokens, revoke_token

router = APIRouter(prefix="/tokens", tags=["tokens"])


@router.get("", response_model=TokensPublic)
def read_tokens(engine: EngineDep, _token: AdminToken) -> dict[str, Any]:
    items = [t.to_dict() for t in list_tokens(engine)]
    return {"items": items, "count": len(items)}


@router.post(
    "",
    response_model=TokenCreated,
    status_code=status.HTTP_201_CREATED,
    responses={
        409: {"description": "A token with this name exists"},
        422: {"description": "Invalid role, name or expiry (expires_at must be in the future)"},
    },
)
def new_token(body: TokenCreate, engine: EngineDep, _token: AdminToken) -> dict[str, Any]:
    try:
        info, token = create_token(
            engine, role=body.role, name=body.name, expires_at=body.expires_at
        )
    except TokenNameTaken as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except TokenError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return {**info.to_dict(), "token": token}


@router.delete("/{token_id}", response_model=TokenPublic)
def revoke(token_id: RowId, engine: EngineDep, _token: AdminToken) -> dict[str, Any]:
    info = revoke_token(engine, token_id=token_id)
    if info is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no token {token_id}")
    return info.to_dict()
