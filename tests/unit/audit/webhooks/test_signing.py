"""Signing deliveries and verifying them as a receiver does."""

from __future__ import annotations

import pytest

from audit.webhooks.signing import SignatureError, parse_header, sign, signature, verify

SECRET = "whsec_test-secret"
BODY = b'{"finding": {"finding_id": "f1"}}'
T = 1_790_000_000


def test_a_signed_body_verifies_and_returns_its_timestamp() -> None:
    header = sign(SECRET, BODY, T)
    assert header.startswith(f"t={T},v1=")
    assert verify(SECRET, BODY, header, now=T + 10) == T


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert signature(SECRET, BODY, T) == expected
    assert sign(SECRET, BODY, T) == f"t={T},v1={expected}"


@pytest.mark.parametrize("change", ["body", "secret", "timestamp"])
def test_any_change_breaks_the_signature(change: str) -> None:
    header = sign(SECRET, BODY, T)
    if change == "body":
        with pytest.raises(SignatureError, match="does not match"):
            verify(SECRET, BODY.replace(b"f1", b"f2"), header, now=T)
    elif change == "secret":
        with pytest.raises(SignatureError, match="does not match"):
            verify("whsec_other", BODY, header, now=T)
    else:  # an attacker moving the timestamp forward to pass the replay window
        forged = header.replace(f"t={T}", f"t={T + 600}")
        with pytest.raises(SignatureError, match="does not match"):
            verify(SECRET, BODY, forged, now=T + 600)


@pytest.mark.parametrize("age", [301, -301, 10_000])
def test_stale_or_future_timestamps_are_rejected(age: int) -> None:
    with pytest.raises(SignatureError, match="tolerance"):
        verify(SECRET, BODY, sign(SECRET, BODY, T), now=T + age)
    assert verify(SECRET, BODY, sign(SECRET, BODY, T), now=T + age, tolerance_s=abs(age) + 1) == T


@pytest.mark.parametrize("header", [None, "", "garbage", "t=abc,v1=00", "t=1", "v1=00", "t=1,v1"])
def test_malformed_headers_are_rejected(header: str | None) -> None:
    with pytest.raises(SignatureError):
        verify(SECRET, BODY, header, now=T)


def test_any_of_several_v1_values_may_match() -> None:
    good = signature(SECRET, BODY, T)
    assert verify(SECRET, BODY, f"t={T},v1={'0' * 64},v1={good}", now=T) == T
    assert parse_header(f"t={T},v1=a,v1=b") == (T, ["a", "b"])


def test_the_readme_receiver_snippet_accepts_riskwatch_signatures_and_rejects_replays() -> None:
    import re
    import time

    from tests.unit.paths import REPO

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    (snippet,) = [b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "def accept(" in b]
    scope: dict[str, object] = {}
    exec(snippet, scope)
    accept = scope["accept"]
    now = int(time.time())

    def headers(t: int, body: bytes = BODY, delivery: str = "d-1") -> dict[str, str]:
        return {"X-Riskwatch-Signature": sign(SECRET, body, t), "X-Riskwatch-Delivery": delivery}

    assert accept(SECRET, BODY, headers(now)) is True  # type: ignore[operator]
    assert accept(SECRET, BODY, headers(now)) is True  # type: ignore[operator]  # duplicate: 2xx
    assert accept(SECRET, BODY + b" ", headers(now)) is False  # type: ignore[operator]
    assert accept("whsec_other", BODY, headers(now)) is False  # type: ignore[operator]
    assert accept(SECRET, BODY, headers(now - 3600)) is False  # type: ignore[operator]
    assert scope["seen"] == {"d-1"}
