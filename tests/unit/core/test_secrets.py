"""Secrets by shape: found, and masked in stored text."""

from __future__ import annotations

from core.secrets import MASK, has_secret, mask_secrets

AWS = "AKIAIOSFODNN7EXAMPLE"
KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\nabc\n-----END RSA PRIVATE KEY-----"


def test_every_credential_shape_is_masked_and_the_rest_kept() -> None:
    text = (
        f"use {AWS} with ghp_{'a' * 36} or sk-proj-{'b' * 24}; api_key = {'c' * 20}\n{KEY}\nthanks"
    )
    masked = mask_secrets(text)
    assert has_secret(text) and not has_secret(masked)
    for raw in (AWS, "ghp_", "sk-proj-", "c" * 20, "MIIEowIBAAKCAQEA"):
        assert raw not in masked
    assert masked.startswith("use <SECRET> with <SECRET>") and masked.endswith("\nthanks")
    assert masked.count(MASK) == 5


def test_text_without_secrets_is_unchanged() -> None:
    text = "The admin password must be changed every 90 days; see the key rotation policy."
    assert not has_secret(text) and mask_secrets(text) == text


def test_mask_secrets_in_masks_every_string_of_evidence() -> None:
    from core.secrets import mask_secrets_in

    key = "AKIAIOSFODNN7EXAMPLQ"
    evidence = {"quote": f"use {key}", "hits": [{"text": key, "start": 4}], "n": 1}
    assert mask_secrets_in(evidence) == {
        "quote": "use <SECRET>",
        "hits": [{"text": "<SECRET>", "start": 4}],
        "n": 1,
    }
