"""Signing webhook deliveries, and verifying them as a receiver would.

Header ``X-Riskwatch-Signature: t=<unix seconds>,v1=<hex>`` where ``hex`` is
HMAC-SHA256(key = the subscription's secret, UTF-8; message = ``<t>.`` + the raw body bytes).
Binding the timestamp into the MAC lets a receiver reject replays older than its tolerance.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Riskwatch-Signature"
DELIVERY_HEADER = "X-Riskwatch-Delivery"
DEFAULT_TOLERANCE_S = 300


class SignatureError(ValueError):
    """The signature header is missing, malformed, stale or does not match the body."""


def signature(secret: str, body: bytes, timestamp: int) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The value of the signature header for ``body`` sent at ``timestamp`` (default: now)."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={t},v1={signature(secret, body, t)}"


def parse_header(header: str) -> tuple[int, list[str]]:
    """(timestamp, v1 signatures); several v1 values are allowed (secret rotation)."""
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise SignatureError(f"malformed signature header element {part.strip()!r}")
        if key == "t":
            if not value.isdigit():
                raise SignatureError("signature timestamp is not an integer")
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        raise SignatureError("signature header needs t=<unix seconds> and v1=<hex>")
    return timestamp, signatures


def verify(
    secret: str,
    body: bytes,
    header: str | None,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> int:
    """Check a delivery as a receiver does; returns its timestamp or raises SignatureError."""
    if not header:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    timestamp, candidates = parse_header(header)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise SignatureError(f"timestamp {timestamp} is outside the {tolerance_s}s tolerance")
    expected = signature(secret, body, timestamp)
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise SignatureError("signature does not match the body")
    return timestamp
