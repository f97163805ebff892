"""GET /chain/verify: walk the hash chain, check the signed checkpoints, and report the first
break (auditor)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from audit.api.deps import AuditorToken, EngineDep
from audit.api.schemas.chain import ChainReportPublic
from audit.checkpoints import verify_checkpoints
from audit.keys import KeyFileError, keys_from_settings
from audit.verify import verify as verify_chain

router = APIRouter(prefix="/chain", tags=["chain"])


@router.get("/verify", response_model=ChainReportPublic)
def verify(engine: EngineDep, _token: AuditorToken) -> dict[str, Any]:
    """Recomputes every link from the current rows (reads the whole chain), then checks every
    stored checkpoint's Ed25519 signature with the key file's public keys and that the chain
    still holds it: a database writer who cut the tail or re-chained the table fails here.
    ``ok`` is both. The checkpoints topic (the witness outside the store) is compared by
    ``riskwatch audit verify --witness-topic``."""
    report = verify_chain(engine).to_dict()
    try:
        public_keys = keys_from_settings().public_keys()
    except KeyFileError as exc:
        checkpoints: dict[str, Any] = {
            "ok": False,
            "checkpoints": 0,
            "witnessed": 0,
            "latest": None,
            "problem": f"checkpoint signatures cannot be checked: {exc}",
        }
    else:
        checkpoints = verify_checkpoints(engine, public_keys).to_dict()
    return {**report, "ok": report["ok"] and checkpoints["ok"], "checkpoints": checkpoints}
