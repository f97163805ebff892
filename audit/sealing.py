"""Texts at rest, sealed per data subject: erasure destroys the key (crypto-shredding).

Every text the store keeps (the redacted ``input.text``/``output.text`` of an event, and any
string of a finding's evidence that quotes the event's texts) is sealed with AES-256-GCM under a
*data key* of its data subject:

* an event with ``context.user_ref``: the subject's key (scope ``subject:<ref HMAC>``);
* an event without one: a key per tenant and UTC day (scope ``day:<YYYY-MM-DD>|<tenant>``).

Data keys live in ``data_keys``, each wrapped (AES-256-GCM, the key id and scope as associated
data) by a key-encryption key (KEK) of the key file (audit/keys.py), which is never in the
database. A sealed value is the JSON object ``{"_sealed": "A256GCM", "dk": key id, "ct": base64
of nonce | ciphertext | tag}``; its associated data names the event (or finding) and field, so a
sealed text cannot be moved to another row. Findings are chained with their evidence as stored,
ciphertext included, so the chain never needs the clear text.

An erasure deletes the subject's data keys (:func:`shred`): every copy of what was sealed under
them (a free page, the WAL, a backup, an export) is unreadable from then on. Readers see
:data:`PLACEHOLDER` (:func:`conceal`); :func:`reveal_event` opens an event's texts for a role that
may read content, and records each reveal as a chained ``text_reveals`` row (who, which event,
when, why).
"""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from audit import chain
from audit.keys import KeyRing
from audit.models import DataKeyRecord, EventRecord, FindingRecord, TextReveal, as_utc, table_of

DATA_KEYS = table_of(DataKeyRecord)
REVEALS = table_of(TextReveal)
REVEAL_FIELDS = tuple(c.name for c in REVEALS.columns)
REVEAL_KIND = "reveal"
MARK = "_sealed"
ALG = "A256GCM"
PLACEHOLDER = "<sealed>"  # what a reader without the reveal role sees
ERASED_TEXT = "<erased>"  # a sealed text whose data key was destroyed
#: evidence strings at least this long that occur in the event's texts are sealed as quotes
#: (shorter ones are labels: a layer name such as "canary" is also a word a text may hold)
MIN_QUOTE = 12
_CHUNK = 500
_CACHE_MAX = 100_000  # unwrapped data keys kept per process


def subject_scope(ref_hash: str) -> str:
    return f"subject:{ref_hash}"


def day_scope(tenant: str | None, at: datetime) -> str:
    name = tenant or ""
    if len(name) > 120:
        name = "sha256:" + hashlib.sha256(name.encode()).hexdigest()
    return f"day:{as_utc(at):%Y-%m-%d}|{name}"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _wrap(keys: KeyRing, key_id: str, scope: str, dk: bytes, kek: AESGCM | None = None) -> str:
    nonce = os.urandom(12)
    kek = kek or AESGCM(keys.kek())
    return _b64(nonce + kek.encrypt(nonce, dk, f"{key_id}|{scope}".encode()))


def _unwrap(keys: KeyRing, row: Any, kek: AESGCM | None = None) -> bytes:
    raw = base64.b64decode(row.wrapped)
    aad = f"{row.key_id}|{row.scope}".encode()
    return (kek or AESGCM(keys.kek(row.kek_kid))).decrypt(raw[:12], raw[12:], aad)


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and value.get(MARK) == ALG and "ct" in value


class DataKeys:
    """The data keys of a store, unwrapped on first use and kept by key id (a key id is never
    reused, so a cached key cannot outlive its row into another scope)."""

    def __init__(self, keys: KeyRing, reload: Callable[[], KeyRing] | None = None) -> None:
        self.keys = keys
        self._reload = reload
        self._aead: dict[str, AESGCM] = {}
        self._keks: dict[str, AESGCM] = {}

    def _kek(self, kid: str) -> AESGCM:
        if (kek := self._keks.get(kid)) is None:
            try:
                key = self.keys.kek(kid)
            except KeyError:
                if self._reload is None:
                    raise
                # `riskwatch keys rotate` re-wrapped the data keys under a KEK this process
                # has not loaded yet: read the key file again (new keys are wrapped with it too)
                self.keys = self._reload()
                self._keks.clear()
                key = self.keys.kek(kid)
            kek = self._keks[kid] = AESGCM(key)
        return kek

    def _ciphers(self, rows: Iterable[Any]) -> dict[str, tuple[str, AESGCM]]:
        out = {}
        for row in rows:
            aead = self._aead.get(row.key_id)
            if aead is None:
                dk = _unwrap(self.keys, row, self._kek(row.kek_kid))
                aead = self._aead[row.key_id] = AESGCM(dk)
            out[row.scope] = (row.key_id, aead)
        return out

    def for_scopes(
        self, conn: Connection, scopes: Iterable[str], now: datetime
    ) -> dict[str, tuple[str, AESGCM]]:
        """scope → (key id, cipher), creating the data keys that do not exist yet (a concurrent
        writer's key for the same scope wins; both then use it)."""
        wanted = sorted(set(scopes))
        if len(self._aead) > _CACHE_MAX:  # a long-running worker sees ever new subjects
            self._aead.clear()
        found: dict[str, tuple[str, AESGCM]] = {}
        for i in range(0, len(wanted), _CHUNK):
            found |= self._ciphers(
                conn.execute(select(DATA_KEYS).where(DATA_KEYS.c.scope.in_(wanted[i : i + _CHUNK])))
            )
        missing = [s for s in wanted if s not in found]
        if missing:
            rows, kid = [], self.keys.kek_kid
            for scope in missing:
                key_id, dk = uuid.uuid4().hex, AESGCM.generate_key(256)
                # ours unless a concurrent writer's key for the scope wins (read back below)
                self._aead[key_id] = AESGCM(dk)
                rows.append(
                    {
                        "key_id": key_id,
                        "scope": scope,
                        "kek_kid": kid,
                        "wrapped": _wrap(self.keys, key_id, scope, dk, self._kek(kid)),
                        "created_at": now,
                    }
                )
            dialect: Any = postgresql if conn.dialect.name == "postgresql" else sqlite
            conn.execute(
                dialect.insert(DATA_KEYS).on_conflict_do_nothing(index_elements=["scope"]), rows
            )
            for i in range(0, len(missing), _CHUNK):
                found |= self._ciphers(
                    conn.execute(
                        select(DATA_KEYS).where(DATA_KEYS.c.scope.in_(missing[i : i + _CHUNK]))
                    )
                )
        return found

    def by_ids(self, conn: Connection, key_ids: Iterable[str]) -> dict[str, AESGCM]:
        """key id → cipher, for the keys that still exist (an erased key is absent)."""
        ids = sorted(set(key_ids))
        out = {k: self._aead[k] for k in ids if k in self._aead}
        todo = [k for k in ids if k not in out]
        for i in range(0, len(todo), _CHUNK):
            rows = conn.execute(
                select(DATA_KEYS).where(DATA_KEYS.c.key_id.in_(todo[i : i + _CHUNK]))
            )
            for row in rows:
                dk = _unwrap(self.keys, row, self._kek(row.kek_kid))
                out[row.key_id] = self._aead[row.key_id] = AESGCM(dk)
        return out

    def forget(self) -> None:
        self._aead.clear()


def seal(key: tuple[str, AESGCM], plaintext: str, aad: str) -> dict[str, str]:
    key_id, aead = key
    nonce = os.urandom(12)
    ct = aead.encrypt(nonce, plaintext.encode("utf-8"), aad.encode("utf-8"))
    return {MARK: ALG, "dk": key_id, "ct": _b64(nonce + ct)}


def open_sealed(ciphers: dict[str, AESGCM], blob: dict[str, Any], aad: str) -> str | None:
    """The clear text, or None when its data key was destroyed (an erasure)."""
    aead = ciphers.get(blob["dk"])
    if aead is None:
        return None
    raw = base64.b64decode(blob["ct"])
    try:
        return aead.decrypt(raw[:12], raw[12:], aad.encode("utf-8")).decode("utf-8")
    except InvalidTag:
        raise ValueError(
            f"sealed value under data key {blob['dk']} does not open ({aad})"
        ) from None


def seal_quotes(value: Any, texts: list[str], key: tuple[str, AESGCM], aad: str) -> Any:
    """``value`` (evidence) with every string that quotes one of ``texts`` sealed."""
    if isinstance(value, str):
        if len(value) >= MIN_QUOTE and any(value in t for t in texts):
            return seal(key, value, aad)
        return value
    if isinstance(value, dict):
        return {k: seal_quotes(v, texts, key, aad) for k, v in value.items()}
    if isinstance(value, list):
        return [seal_quotes(v, texts, key, aad) for v in value]
    return value


def quotes(value: Any, texts: list[str]) -> bool:
    if isinstance(value, str):
        return len(value) >= MIN_QUOTE and any(value in t for t in texts)
    if isinstance(value, dict):
        return any(quotes(v, texts) for v in value.values())
    if isinstance(value, list):
        return any(quotes(v, texts) for v in value)
    return False


def conceal(value: Any) -> Any:
    """``value`` with every sealed object replaced by :data:`PLACEHOLDER`: what a reader who may
    not reveal content sees."""
    if is_sealed(value):
        return PLACEHOLDER
    if isinstance(value, dict):
        return {k: conceal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [conceal(v) for v in value]
    return value


def _sealed_ids(value: Any, out: set[str]) -> set[str]:
    if is_sealed(value):
        out.add(value["dk"])
    elif isinstance(value, dict):
        for v in value.values():
            _sealed_ids(v, out)
    elif isinstance(value, list):
        for v in value:
            _sealed_ids(v, out)
    return out


def _opened(value: Any, ciphers: dict[str, AESGCM], aad: str) -> Any:
    if is_sealed(value):
        clear = open_sealed(ciphers, value, aad)
        return ERASED_TEXT if clear is None else clear
    if isinstance(value, dict):
        return {k: _opened(v, ciphers, aad) for k, v in value.items()}
    if isinstance(value, list):
        return [_opened(v, ciphers, aad) for v in value]
    return value


def text_aad(event_id: str, field: str) -> str:
    return f"event:{event_id}|{field}"


def evidence_aad(finding_id: str) -> str:
    return f"finding:{finding_id}|evidence"


def reveal_hash(row: Any) -> str:
    return chain.content_hash(row, REVEAL_FIELDS)


def reveal_event(
    engine: Engine,
    keys: KeyRing,
    event_id: str,
    *,
    actor: str,
    reason: str,
    now: datetime,
) -> dict[str, Any] | None:
    """An event's stored texts and the evidence of its findings in the clear (``<erased>``
    where the data key was destroyed); the reveal is recorded and chained. None: no such event."""
    if not actor.strip() or len(actor) > 128:
        raise ValueError("reveal: the actor must be 1 to 128 characters")
    if not reason.strip():
        raise ValueError("reveal: the reason is empty (say why the text is read)")
    events, findings = table_of(EventRecord), table_of(FindingRecord)
    now = as_utc(now)
    data_keys = DataKeys(keys)
    with engine.begin() as conn:
        row = conn.execute(select(events.c.payload).where(events.c.event_id == event_id)).first()
        if row is None:
            return None
        payload = row.payload if isinstance(row.payload, dict) else {}
        found = conn.execute(
            select(findings.c.finding_id, findings.c.evidence).where(
                findings.c.event_id == event_id
            )
        ).all()
        ids: set[str] = set()
        for part in ("input", "output"):
            _sealed_ids(payload.get(part), ids)
        for f in found:
            _sealed_ids(f.evidence, ids)
        ciphers = data_keys.by_ids(conn, ids)
        texts: dict[str, str | None] = {}
        for part in ("input", "output"):
            section = payload.get(part)
            stored = section.get("text") if isinstance(section, dict) else None
            if isinstance(stored, dict) and is_sealed(stored.get("redacted")):
                clear = open_sealed(ciphers, stored["redacted"], text_aad(event_id, f"{part}.text"))
                texts[f"{part}.text"] = ERASED_TEXT if clear is None else clear
        evidence = {
            f.finding_id: _opened(f.evidence, ciphers, evidence_aad(f.finding_id))
            for f in found
            if _sealed_ids(f.evidence, set())
        }
        shown = sorted(texts) + [f"evidence:{fid}" for fid in sorted(evidence)]
        head = chain.lock_head(conn)
        record = {
            "event_id": event_id,
            "fields": shown,
            "actor": actor,
            "reason": reason,
            "at": now,
        }
        rid = conn.execute(insert(REVEALS).values(**record).returning(REVEALS.c.id)).scalar_one()
        record["id"] = rid
        link = chain.append(
            conn, [chain.Link(REVEAL_KIND, str(rid), reveal_hash(record))], now, head
        )[0]
    return {
        "event_id": event_id,
        "texts": texts,
        "evidence": evidence,
        "reveal": {"id": rid, "by": actor, "reason": reason, "at": now, "chain_seq": link["seq"]},
    }


def shred(conn: Connection, scopes: list[str]) -> int:
    """Delete the data keys of ``scopes``: what was sealed under them is unreadable from now on."""
    n = 0
    for i in range(0, len(scopes), _CHUNK):
        n += (
            conn.execute(
                delete(DATA_KEYS).where(DATA_KEYS.c.scope.in_(scopes[i : i + _CHUNK]))
            ).rowcount
            or 0
        )
    return n


def scrub(engine: Engine) -> None:
    """After a shred: leave no copy of a deleted wrapped key in the database files. SQLite
    (``secure_delete`` is on, audit/db.py) checkpoints and truncates the WAL, which holds the
    pages as they were; PostgreSQL vacuums ``data_keys`` so dead tuples are reclaimed."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    elif engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM data_keys"))


def rewrap(engine: Engine, keys: KeyRing) -> int:
    """Re-wrap every data key not under the current KEK with it; the number re-wrapped."""
    current, n = keys.kek_kid, 0
    with engine.begin() as conn:
        rows = conn.execute(select(DATA_KEYS).where(DATA_KEYS.c.kek_kid != current)).all()
        for row in rows:
            dk = _unwrap(keys, row)
            conn.execute(
                update(DATA_KEYS)
                .where(DATA_KEYS.c.key_id == row.key_id)
                .values(kek_kid=current, wrapped=_wrap(keys, row.key_id, row.scope, dk))
            )
            n += 1
    return n


def keks_in_use(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(DATA_KEYS.c.kek_kid).distinct()).scalars())
