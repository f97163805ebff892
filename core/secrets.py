"""Credentials by shape: what the security rules look for in model outputs and what the store
masks in every text it keeps, so that a leaked key is never stored readable."""

from __future__ import annotations

import re
from typing import Any

MASK = "<SECRET>"

#: credentials that must never appear in a model's output (nor in what riskwatch stores)
SECRET_PATTERNS: dict[str, re.Pattern[str]] = {
    "aws_access_key_id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "github_token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "slack_token": re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b"),
    "stripe_secret_key": re.compile(r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}\b"),
    "openai_api_key": re.compile(r"\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}\b"),
    "google_api_key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    "private_key_block": re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH |DSA |PGP )?PRIVATE KEY-----"),
    "jwt": re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    "generic_api_key_assignment": re.compile(
        r"(?i)\b(?:api[_-]?key|secret|access[_-]?token|password)\b\s*[:=]\s*['\"]?[A-Za-z0-9_\-/+]{16,}"
    ),
}
# a private key's body follows its header line: everything up to the END line goes
_PRIVATE_KEY = re.compile(
    r"-----BEGIN (?:RSA |EC |OPENSSH |DSA |PGP )?PRIVATE KEY-----.*?"
    r"(?:-----END (?:RSA |EC |OPENSSH |DSA |PGP )?PRIVATE KEY-----|\Z)",
    re.S,
)


def mask_secrets(text: str) -> str:
    """``text`` with every credential-shaped span replaced by ``<SECRET>``."""
    text = _PRIVATE_KEY.sub(MASK, text)
    for rx in SECRET_PATTERNS.values():
        text = rx.sub(MASK, text)
    return text


def mask_secrets_in(value: Any) -> Any:
    """A JSON-like value with credentials masked in every string it holds (evidence)."""
    if isinstance(value, str):
        return mask_secrets(value)
    if isinstance(value, dict):
        return {k: mask_secrets_in(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_secrets_in(v) for v in value]
    return value


def has_secret(text: str) -> bool:
    return any(rx.search(text) for rx in SECRET_PATTERNS.values())
