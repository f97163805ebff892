"""Signed chain checkpoints: what a database writer cannot rewrite.

The hash chain (audit/chain.py) shows that rows changed unless whoever changed them also re-hashed
every later link, which anyone with write access to the database can do. A checkpoint pins the
chain's head (seq, entry_hash, time) with an Ed25519 signature by the key file's signing key
(audit/keys.py, kept outside the database), and the worker publishes each checkpoint to the
checkpoints topic (RISKWATCH_CHECKPOINTS_TOPIC), an append-only witness outside the store.

``verify_checkpoints`` checks every stored checkpoint's signature and that the chain still holds
its (seq, entry_hash); given the witness, also that the latest witnessed checkpoint does. Cutting
the tail, re-chaining the table, or editing a finding and re-hashing everything after it changes
or removes a checkpointed link (or, if the checkpoints table is emptied too, the witnessed one),
and nobody without the key file can sign a new checkpoint.

Signed message: ``riskwatch-checkpoint/1|<seq>|<entry_hash>|<at>`` (UTF-8; ``at`` in UTC, "Z").
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from audit.chain import CHAIN, canonical_time, read_head
from audit.keys import KeyRing, PublicKey
from audit.models import ChainCheckpoint, as_utc, table_of
from audit.periodic import PeriodicJob

log = logging.getLogger(__name__)
CHECKPOINTS = table_of(ChainCheckpoint)
MESSAGE_FORMAT = "riskwatch-checkpoint/1"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    seq: int
    entry_hash: str
    at: str
    kid: str
    signature: str  # base64

    def message(self) -> bytes:
        return checkpoint_message(self.seq, self.entry_hash, self.at)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Checkpoint:
        return cls(
            int(doc["seq"]), str(doc["entry_hash"]), str(doc["at"]), str(doc["kid"]),
            str(doc["signature"]),
        )  # fmt: skip


class CheckpointPublisher(Protocol):
    """Where checkpoints go beyond the store (the worker's: a Kafka topic, streams/)."""

    def publish(self, checkpoint: Checkpoint) -> None: ...


def checkpoint_message(seq: int, entry_hash: str, at: str) -> bytes:
    return f"{MESSAGE_FORMAT}|{seq}|{entry_hash}|{at}".encode()


def sign_checkpoint(keys: KeyRing, seq: int, entry_hash: str, at: str) -> Checkpoint:
    kid, signature = keys.sign(checkpoint_message(seq, entry_hash, at))
    return Checkpoint(seq, entry_hash, at, kid, base64.b64encode(signature).decode("ascii"))


def latest_checkpoint(engine: Engine) -> Checkpoint | None:
    with engine.connect() as conn:
        row = conn.execute(select(CHECKPOINTS).order_by(CHECKPOINTS.c.id.desc()).limit(1)).first()
    return _from_row(row._mapping) if row else None


def _from_row(row: Any) -> Checkpoint:
    at = canonical_time(as_utc(row["at"]))
    return Checkpoint(int(row["seq"]), row["entry_hash"], at, row["kid"], row["signature"])


def write_checkpoint(
    engine: Engine, keys: KeyRing, now: datetime, *, force: bool = False
) -> Checkpoint | None:
    """Sign the chain's current head and store it; None when the chain is empty or the head is
    already checkpointed (unless ``force``)."""
    now = as_utc(now).replace(microsecond=0)
    with engine.begin() as conn:
        head = read_head(conn)
        if head.seq == 0:
            return None
        last = conn.execute(
            select(CHECKPOINTS.c.seq, CHECKPOINTS.c.entry_hash)
            .order_by(CHECKPOINTS.c.id.desc())
            .limit(1)
        ).first()
        if (
            not force
            and last is not None
            and (last.seq, last.entry_hash) == (head.seq, head.entry_hash)
        ):
            return None
        cp = sign_checkpoint(keys, head.seq, head.entry_hash, canonical_time(now))
        conn.execute(
            insert(CHECKPOINTS).values(
                seq=cp.seq, entry_hash=cp.entry_hash, at=now, kid=cp.kid, signature=cp.signature
            )
        )
    return cp


def signature_ok(cp: Checkpoint, public_keys: Sequence[PublicKey]) -> bool:
    try:
        signature = base64.b64decode(cp.signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    return any(pk.kid == cp.kid and pk.verify(signature, cp.message()) for pk in public_keys)


def read_witness(path: Path) -> list[Checkpoint]:
    """Checkpoints exported from the checkpoints topic: JSON lines (or one JSON list)."""
    text = path.read_text(encoding="utf-8").strip()
    if not text:
        return []
    try:
        if text.startswith("["):
            docs = json.loads(text)
        else:
            docs = [json.loads(line) for line in text.splitlines() if line.strip()]
        return [Checkpoint.from_dict(d) for d in docs]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"witness {path}: not checkpoints ({exc})") from None


@dataclass(frozen=True, slots=True)
class CheckpointReport:
    checkpoints: int
    witnessed: int
    latest: Checkpoint | None
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checkpoints": self.checkpoints,
            "witnessed": self.witnessed,
            "latest": self.latest.to_dict() if self.latest else None,
            "problem": self.problem,
        }


def _chain_holds(engine: Engine, cp: Checkpoint) -> str | None:
    with engine.connect() as conn:
        found = conn.execute(select(CHAIN.c.entry_hash).where(CHAIN.c.seq == cp.seq)).scalar()
        head = read_head(conn)
    if found is None:
        return (
            f"the chain no longer holds checkpointed seq {cp.seq} (head is seq {head.seq}): "
            "entries were cut from the end"
        )
    if found != cp.entry_hash:
        return (
            f"chain entry seq {cp.seq} is {found}, but checkpoint signed at {cp.at} says "
            f"{cp.entry_hash}: the chain was rewritten"
        )
    return None


def verify_checkpoints(
    engine: Engine,
    public_keys: Sequence[PublicKey],
    witness: Iterable[Checkpoint] | None = None,
) -> CheckpointReport:
    """Every stored checkpoint signed by a known key and still in the chain; and, given the
    witness, its latest checkpoint (by seq) validly signed and in the chain."""
    with engine.connect() as conn:
        rows = conn.execute(select(CHECKPOINTS).order_by(CHECKPOINTS.c.id)).mappings().all()
    stored = [_from_row(r) for r in rows]
    witnessed = list(witness) if witness is not None else []
    latest = stored[-1] if stored else None

    def report(problem: str | None) -> CheckpointReport:
        return CheckpointReport(len(stored), len(witnessed), latest, problem)

    for cp in stored:
        if not signature_ok(cp, public_keys):
            return report(
                f"checkpoint seq {cp.seq} at {cp.at}: signature does not verify with key "
                f"{cp.kid!r} (forged, edited, or signed by a key not given)"
            )
        if problem := _chain_holds(engine, cp):
            return report(problem)
    if witness is not None:
        valid = [cp for cp in witnessed if signature_ok(cp, public_keys)]
        if witnessed and not valid:
            return report("no checkpoint of the witness verifies with the public keys given")
        if valid:
            top = max(valid, key=lambda c: (c.seq, c.at))
            if problem := _chain_holds(engine, top):
                return report(f"witnessed checkpoint: {problem}")
            if latest is None or latest.seq < top.seq:
                return report(
                    f"the witness holds a checkpoint at seq {top.seq} ({top.at}) that the store's "
                    "checkpoints table lacks: checkpoints were deleted"
                )
    return report(None)


class Checkpointer(PeriodicJob):
    """The worker's periodic checkpoint: a daemon thread, off the event path, that every
    ``every_s`` seconds (and once at start) signs the chain head if it moved, stores it and hands
    it to ``publisher`` (the witness). A checkpoint that could not be published is published
    again at the next round; failures are logged and retried, never raised into the worker."""

    thread_name = "riskwatch-checkpoints"

    def __init__(
        self,
        engine: Engine,
        keys: KeyRing,
        publisher: CheckpointPublisher | None,
        *,
        every_s: float = 60.0,
    ) -> None:
        super().__init__()
        self.engine, self.keys, self.publisher, self.every_s = engine, keys, publisher, every_s
        self._published: Checkpoint | None = None

    def run_once(self, now: datetime | None = None) -> Checkpoint | None:
        try:
            write_checkpoint(self.engine, self.keys, now or datetime.now(UTC))
            latest = latest_checkpoint(self.engine)
            if latest is not None and latest != self._published and self.publisher is not None:
                self.publisher.publish(latest)
                self._published = latest
            return latest
        except Exception as exc:  # the database or the broker may be away: next round
            log.warning("chain checkpoint failed: %s", str(exc)[:300])
            return None

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        self.run_once()  # the last head this worker wrote, signed before it exits
