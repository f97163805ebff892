"""GET /chain/verify: walk the hash chain and report the first break (auditor)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from audit.api.deps import AuditorToken, EngineDep
from audit.api.schemas.chain import ChainReportPublic
from audit.verify import verify as verify_chain

router = APIRouter(prefix="/chain", tags=["chain"])


@router.get("/verify", response_model=ChainReportPublic)
def verify(engine: EngineDep, _token: AuditorToken) -> dict[str, Any]:
    """Recomputes every link from the current rows; reads the whole chain."""
    return verify_chain(engine).to_dict()
