"""The key file: riskwatch's secrets, kept outside the audit store.

One JSON file (RISKWATCH_KEY_FILE, default ``$RISKWATCH_HOME/keys.json``, mode 0600) holds three
key lists, each entry with a key id (``kid``) and its creation time; the last entry of a list is
the current key, the earlier ones are kept after a rotation:

* ``hmac``: HMAC-SHA256 keys for subject references (``context.user_ref`` is stored as
  ``HMAC(current key, ref)``; erasure matches every key, and the legacy plain SHA-256);
* ``signing``: Ed25519 keys that sign chain checkpoints and export manifests (old public keys
  still verify what they signed);
* ``kek``: key-encryption keys that wrap the data keys under which stored texts are sealed
  (audit/sealing.py); a rotation re-wraps every data key under the new KEK, and
  ``riskwatch keys rotate --retire-old`` then drops the KEKs no data key uses.

A database writer who lacks this file can neither recompute a subject reference from an account
id, nor forge a signature, nor read a stored text. Losing it loses every stored text (by design),
erasure matching of past subjects and checkpoint signing: back it up apart from the database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

FORMAT = "riskwatch-keys/1"
INIT_HINT = "run `riskwatch keys init` to create one (and back it up apart from the database)"


class KeyFileError(Exception):
    """The key file is missing, unreadable or malformed; the message says what to do."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _kid(prefix: str) -> str:
    return f"{prefix}-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(4)}"


def legacy_ref_hash(user_ref: str) -> str:
    """How versions before keyed references stored ``context.user_ref``: a plain SHA-256
    (reversible by enumerating account-id patterns; only ever matched, never written)."""
    return hashlib.sha256(user_ref.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class PublicKey:
    """An Ed25519 public key with its key id: what offline verification needs."""

    kid: str
    key: Ed25519PublicKey

    def raw(self) -> bytes:
        return self.key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def to_dict(self) -> dict[str, str]:
        return {"kid": self.kid, "alg": "Ed25519", "public_key": _b64(self.raw())}

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            self.key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class KeyRing:
    """The loaded key file. Lists are oldest first; the last entry is the current key."""

    hmac_keys: tuple[tuple[str, bytes], ...]
    signing_keys: tuple[tuple[str, Ed25519PrivateKey], ...]
    keks: tuple[tuple[str, bytes], ...]
    created: Mapping[str, str] = field(default_factory=dict)

    # --- subject references ---
    @property
    def hmac_kid(self) -> str:
        return self.hmac_keys[-1][0]

    def ref_hash(self, user_ref: str) -> str:
        """How a ref is stored now: HMAC-SHA256 under the current key (64 hex digits)."""
        return _hmac(self.hmac_keys[-1][1], user_ref)

    def ref_candidates(self, user_ref: str) -> list[str]:
        """Every stored form the ref may have: one per HMAC key (newest first) and the legacy
        plain SHA-256 of stores written by older versions."""
        keyed = [_hmac(key, user_ref) for _, key in reversed(self.hmac_keys)]
        return [*keyed, legacy_ref_hash(user_ref)]

    # --- key-encryption keys ---
    @property
    def kek_kid(self) -> str:
        return self.keks[-1][0]

    def kek(self, kid: str | None = None) -> bytes:
        """The KEK ``kid`` (default: the current one); KeyError if it was retired."""
        if kid is None:
            return self.keks[-1][1]
        for k, key in self.keks:
            if k == kid:
                return key
        raise KeyError(f"no KEK {kid!r} in the key file (retired?)")

    def retiring_keks(self, keep: set[str]) -> KeyRing:
        """This ring without the KEKs outside ``keep`` (the current KEK always stays)."""
        keep = keep | {self.kek_kid}
        return KeyRing(
            self.hmac_keys,
            self.signing_keys,
            tuple((k, v) for k, v in self.keks if k in keep),
            {k: v for k, v in self.created.items() if not k.startswith("kek-") or k in keep},
        )

    # --- signatures ---
    @property
    def signing_kid(self) -> str:
        return self.signing_keys[-1][0]

    def sign(self, message: bytes) -> tuple[str, bytes]:
        """(key id, Ed25519 signature) under the current signing key."""
        kid, key = self.signing_keys[-1]
        return kid, key.sign(message)

    def public_keys(self) -> list[PublicKey]:
        return [PublicKey(kid, key.public_key()) for kid, key in self.signing_keys]

    def public_key(self, kid: str | None = None) -> PublicKey:
        for pk in reversed(self.public_keys()):
            if kid is None or pk.kid == kid:
                return pk
        raise KeyError(f"no signing key {kid!r} in the key file")

    # --- the file ---
    def to_dict(self) -> dict[str, Any]:
        def raw_private(key: Ed25519PrivateKey) -> bytes:
            return key.private_bytes(
                serialization.Encoding.Raw,
                serialization.PrivateFormat.Raw,
                serialization.NoEncryption(),
            )

        def entry(kid: str, **values: str) -> dict[str, str]:
            return {"kid": kid, "created": self.created.get(kid, ""), **values}

        return {
            "format": FORMAT,
            "hmac": [entry(k, key=_b64(v)) for k, v in self.hmac_keys],
            "signing": [
                entry(
                    k,
                    alg="Ed25519",
                    private_key=_b64(raw_private(v)),
                    public_key=_b64(PublicKey(k, v.public_key()).raw()),
                )
                for k, v in self.signing_keys
            ],
            "kek": [entry(k, key=_b64(v)) for k, v in self.keks],
        }

    def rotated(self) -> KeyRing:
        """A new current key of each kind; the old ones are kept."""
        fresh = generate()
        return KeyRing(
            self.hmac_keys + fresh.hmac_keys,
            self.signing_keys + fresh.signing_keys,
            self.keks + fresh.keks,
            {**self.created, **fresh.created},
        )


def _hmac(key: bytes, user_ref: str) -> str:
    return hmac.new(key, user_ref.encode("utf-8"), hashlib.sha256).hexdigest()


def generate() -> KeyRing:
    """A fresh key ring: one HMAC key, one Ed25519 signing key, one KEK."""
    now = _now()
    h, s, k = _kid("hmac"), _kid("sig"), _kid("kek")
    return KeyRing(
        ((h, secrets.token_bytes(32)),),
        ((s, Ed25519PrivateKey.generate()),),
        ((k, secrets.token_bytes(32)),),
        {h: now, s: now, k: now},
    )


def _write_new(path: Path, ring: KeyRing, *, replace: bool) -> None:
    """Write with mode 0600 from the start; ``replace`` swaps an existing file atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(ring.to_dict(), indent=2) + "\n").encode("utf-8")
    target = path.with_name(path.name + ".tmp") if replace else path
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    try:
        fd = os.open(target, flags, 0o600)
    except FileExistsError:
        raise KeyFileError(f"key file {target} already exists; refusing to overwrite it") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if replace:
            os.replace(target, path)
    except BaseException:
        if replace:
            target.unlink(missing_ok=True)
        raise


def init_key_file(path: Path) -> KeyRing:
    """Create the key file; an existing one is never overwritten."""
    if path.exists():
        raise KeyFileError(
            f"key file {path} already exists; refusing to overwrite it (its keys match past "
            "subjects and verify past signatures; use `riskwatch keys rotate` for new keys)"
        )
    ring = generate()
    _write_new(path, ring, replace=False)
    return ring


def rotate_key_file(path: Path) -> KeyRing:
    """Add a new current key of each kind to the key file, keeping the old ones."""
    ring = load_keys(path).rotated()
    _write_new(path, ring, replace=True)
    return ring


def write_key_file(path: Path, ring: KeyRing) -> None:
    """Replace the key file atomically (mode 0600) with ``ring``."""
    _write_new(path, ring, replace=True)


def load_keys(path: Path) -> KeyRing:
    """Read the key file, with errors that say what is wrong and what to do."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeyFileError(f"no key file at {path} (RISKWATCH_KEY_FILE): {INIT_HINT}") from None
    except OSError as exc:
        raise KeyFileError(f"cannot read the key file {path}: {exc.strerror}") from None
    try:
        doc = json.loads(text)
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} document")
        created: dict[str, str] = {}

        def entries(kind: str) -> list[dict[str, Any]]:
            items = doc.get(kind)
            if not isinstance(items, list) or not items:
                raise ValueError(f"{kind!r}: expected a non-empty list of keys")
            for item in items:
                if not isinstance(item, dict) or not isinstance(item.get("kid"), str):
                    raise ValueError(f"{kind!r}: every key needs a 'kid'")
                created[item["kid"]] = str(item.get("created", ""))
            return items

        hmac_keys = tuple((e["kid"], _unb64(e["key"])) for e in entries("hmac"))
        signing = tuple(
            (e["kid"], Ed25519PrivateKey.from_private_bytes(_unb64(e["private_key"])))
            for e in entries("signing")
        )
        keks = tuple((e["kid"], _unb64(e["key"])) for e in entries("kek"))
        if any(len(k) < 32 for _, k in hmac_keys + keks):
            raise ValueError("HMAC keys and KEKs must be at least 32 bytes")
        kids = [kid for kid, _ in hmac_keys] + [kid for kid, _ in signing] + [k for k, _ in keks]
        if len(set(kids)) != len(kids):
            raise ValueError("duplicate key ids")
    except (ValueError, KeyError, TypeError) as exc:
        raise KeyFileError(f"key file {path} is malformed: {exc}") from None
    return KeyRing(hmac_keys, signing, keks, created)


def load_public_key(path: Path) -> list[PublicKey]:
    """Public keys for offline verification: the JSON ``riskwatch keys show-public`` prints
    (one key object, or ``{"keys": [...]}``), or a key file itself."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"cannot read the public key {path}: {exc}") from None
    if isinstance(doc, dict) and doc.get("format") == FORMAT:
        return load_keys(path).public_keys()
    items = doc.get("keys", [doc]) if isinstance(doc, dict) else doc
    try:
        return [
            PublicKey(i["kid"], Ed25519PublicKey.from_public_bytes(_unb64(i["public_key"])))
            for i in items
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise KeyFileError(f"public key file {path} is malformed: {exc}") from None


def keys_from_settings() -> KeyRing:
    """The key file of RISKWATCH_KEY_FILE (default: keys.json under RISKWATCH_HOME)."""
    from core.settings import get_settings

    return load_keys(get_settings().key_path)
