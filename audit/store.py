"""Writing to the audit store: one transaction per batch, idempotent on replay."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from audit import batchchain, chain
from audit.db import create_schema, make_engine
from audit.incidents.grouping import Filed, file_findings
from audit.incidents.records import INCIDENTS
from audit.keys import KeyRing, keys_from_settings
from audit.models import (
    DeadLetterRecord,
    DetectorStateEntryRecord,
    DetectorStateRecord,
    EventRecord,
    FeedbackRecord,
    FindingRecord,
    as_utc,
    table_of,
)
from audit.sealing import (
    DataKeys,
    day_scope,
    evidence_aad,
    quotes,
    seal,
    seal_quotes,
    subject_scope,
    text_aad,
)
from audit.webhooks import outbox
from core.findings import Finding
from core.secrets import mask_secrets, mask_secrets_in
from core.signals import ObservedEvent, ObservedFeedback, StateEntries

_ID_CHUNK = 500
_ENTRY_CHUNK = 500  # keys per DELETE: below any backend's limit on bound parameters


@dataclass(frozen=True, slots=True)
class DeadLetter:
    source_topic: str
    source_partition: int
    source_offset: int
    reason: str
    detail: str
    size_bytes: int
    sha256: str

    @classmethod
    def of(
        cls, raw: bytes | None, *, topic: str, partition: int, offset: int, reason: str, detail: str
    ) -> DeadLetter:
        data = raw or b""
        return cls(
            topic,
            partition,
            offset,
            reason,
            detail[:2000],
            len(data),
            hashlib.sha256(data).hexdigest(),
        )


@dataclass(frozen=True, slots=True)
class DetectorState:
    detector: str
    version: str
    state: dict[str, Any]
    scope: str = "global"
    #: keyed entries: to write, those changed in the batch; loaded, every saved entry (upserts)
    entries: StateEntries | None = None


@dataclass(slots=True)
class AuditBatch:
    events: list[ObservedEvent] = field(default_factory=list)
    feedback: list[ObservedFeedback] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    states: list[DetectorState] = field(default_factory=list)
    #: event_id → {"input.text": redacted, "output.text": redacted}, from the PII detector
    redactions: dict[str, dict[str, str]] = field(default_factory=dict)


def text_digest(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    return {"length": len(text), "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}


Sealer = Any  # (key id, AESGCM) of an event's data key (audit/sealing.py)


def _redacted_payload(
    observed: ObservedEvent,
    redacted: dict[str, str] | None,
    ref_hash: str | None = None,
    kid: str | None = None,
    key: Sealer | None = None,
) -> dict[str, Any]:
    """The event as received, each input/output text replaced by its redacted form (PII replaced
    by ``<ENTITY_TYPE>``, credentials by ``<SECRET>``), sealed under the event's data key ``key``
    (audit/sealing.py), and length, or, where no redaction was made, by its length and hash;
    ``context.user_ref`` by its keyed hash (HMAC-SHA256 under the key file's current key, what an
    erasure request is matched by) and that key's id."""
    if observed.document is not None:
        payload = dict(observed.document)
    else:
        payload = observed.event.model_dump(mode="json", by_alias=True, exclude_none=True)
    for part in ("input", "output"):
        section = payload.get(part)
        if isinstance(section, dict) and section.get("text") is not None:
            clean = (redacted or {}).get(f"{part}.text")
            if clean is not None:
                clean = mask_secrets(clean)  # credentials the PII redaction does not know
            text = section["text"]
            if clean is None:
                stored = text_digest(text)
            else:
                if key is None:
                    raise ValueError("a redacted text is stored sealed: it needs its data key")
                aad = text_aad(observed.event.event_id, f"{part}.text")
                stored = {"redacted": seal(key, clean, aad), "length": len(text)}
            payload[part] = {**section, "text": stored}
    context = payload.get("context")
    if ref_hash is not None and isinstance(context, dict) and "user_ref" in context:
        payload["context"] = {**context, "user_ref": {"hmac_sha256": ref_hash, "kid": kid}}
    return payload


def _event_row(
    observed: ObservedEvent,
    stored_at: datetime,
    redacted: dict[str, str] | None = None,
    keys: KeyRing | None = None,
    key: Sealer | None = None,
) -> dict[str, Any]:
    event, source = observed.event, observed.source
    usage, output = event.usage, event.output
    ref_hash = kid = None
    if event.context and event.context.user_ref:
        if keys is None:
            raise ValueError("an event with context.user_ref needs the key file (KeyRing)")
        ref_hash, kid = keys.ref_hash(event.context.user_ref), keys.hmac_kid
    return {
        "event_id": event.event_id,
        "schema_name": event.schema_,
        "timestamp": _utc(event.timestamp),
        "model_id": event.model.id,
        "model_version": event.model.version,
        "service": event.service,
        "tenant": event.tenant,
        "user_ref_hash": ref_hash,
        "latency_ms": usage.latency_ms if usage else None,
        "input_tokens": usage.input_tokens if usage else None,
        "output_tokens": usage.output_tokens if usage else None,
        "cost_usd": usage.cost_usd if usage else None,
        "error": usage.error if usage else None,
        "prediction": output.prediction if output else None,
        "score": output.score if output else None,
        "payload": _redacted_payload(observed, redacted, ref_hash, kid, key),
        "source_topic": source.topic,
        "source_partition": source.partition,
        "source_offset": source.offset,
        "kafka_timestamp_ms": source.timestamp_ms,
        "stored_at": stored_at,
    }


def _feedback_row(observed: ObservedFeedback, stored_at: datetime) -> dict[str, Any]:
    fb, source = observed.feedback, observed.source
    payload = (
        dict(observed.document)
        if observed.document is not None
        else fb.model_dump(mode="json", by_alias=True, exclude_none=True)
    )
    return {
        "event_id": fb.event_id,
        "timestamp": _utc(fb.timestamp),
        "model_id": fb.model.id,
        "model_version": fb.model.version,
        "label": fb.label,
        "payload": payload,
        "source_topic": source.topic,
        "source_partition": source.partition,
        "source_offset": source.offset,
        "kafka_timestamp_ms": source.timestamp_ms,
        "stored_at": stored_at,
    }


def _utc(value: datetime) -> datetime:
    """Aware times are stored in UTC (SQLite keeps the wall clock, not the offset)."""
    return value.astimezone(UTC) if value.tzinfo is not None else value


def _finding_row(f: Finding) -> dict[str, Any]:
    row = f.to_dict()
    row.pop("source")
    row["evidence"] = mask_secrets_in(row["evidence"])  # evidence may quote the event
    row["title"] = mask_secrets(row["title"])
    row.update(
        source_topic=f.source_topic,
        source_partition=f.source_partition,
        source_offset=f.source_offset,
        detected_at=_utc(f.detected_at),
    )
    return row


class AuditStore:
    """Idempotent batch writes: replaying a batch inserts nothing twice."""

    def __init__(
        self,
        engine: Engine,
        keys: KeyRing | None = None,
        reload_keys: Callable[[], KeyRing] | None = None,
    ) -> None:
        self.engine = engine
        self._keys = keys
        # how to read the key file again when a data key is wrapped by a KEK not yet loaded
        self._reload_keys = reload_keys if keys is not None else keys_from_settings
        self._data_keys: DataKeys | None = None

    @property
    def data_keys(self) -> DataKeys:
        """The store's data keys; with the key file of the settings, a KEK it lacks (a rotation
        since it was read) makes it read the file again."""
        if self._data_keys is None:
            self._data_keys = DataKeys(self.keys, self._reload_keys)
        return self._data_keys

    @property
    def keys(self) -> KeyRing:
        """The key file that keys subject references: the one given, else RISKWATCH_KEY_FILE's
        (read when first needed; the worker loads it at start to fail fast)."""
        if self._keys is None:
            self._keys = keys_from_settings()
        return self._keys

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        create: bool = True,
        keys: KeyRing | None = None,
        reload_keys: Callable[[], KeyRing] | None = None,
    ) -> AuditStore:
        store = cls(make_engine(url), keys, reload_keys)
        if create:
            create_schema(store.engine)
        return store

    def _insert_ignore(self, table: Table, conflict_cols: list[str]) -> Any:
        dialect = self.engine.dialect.name
        if dialect == "postgresql":
            return postgresql.insert(table).on_conflict_do_nothing(index_elements=conflict_cols)
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=conflict_cols)

    def known_event_ids(self, event_ids: Iterable[str]) -> set[str]:
        ids = list(dict.fromkeys(event_ids))
        found: set[str] = set()
        table = table_of(EventRecord)
        with self.engine.connect() as conn:
            for i in range(0, len(ids), _ID_CHUNK):
                chunk = ids[i : i + _ID_CHUNK]
                found.update(
                    conn.execute(
                        select(table.c.event_id).where(table.c.event_id.in_(chunk))
                    ).scalars()
                )
        return found

    def erased_event_ids(self, event_ids: Iterable[str]) -> set[str]:
        """The events among ``event_ids`` whose content an erasure removed: a label that arrives
        for one afterwards is neither stored nor given to the detectors."""
        with self.engine.connect() as conn:
            return _erased_in(conn, event_ids)

    def write(self, batch: AuditBatch) -> None:
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            self._write(conn, batch, now)

    def _sealing_keys(
        self, conn: Connection, batch: AuditBatch, rows: list[dict[str, Any]], now: datetime
    ) -> tuple[dict[str, Sealer], dict[str, list[str]]]:
        """event_id → its data key, for the events of the batch with a text to seal (a redacted
        text, or a finding's evidence quoting the event); and event_id → the event's texts."""
        events = {e.event.event_id: e.event for e in batch.events}
        texts: dict[str, list[str]] = {
            eid: [s.text for s in (ev.input, ev.output) if s is not None and s.text]
            for eid, ev in events.items()
        }
        need = {eid for eid, red in batch.redactions.items() if red and texts.get(eid)}
        need |= {
            r["event_id"]
            for r in rows
            if texts.get(r["event_id"]) and quotes(r["evidence"], texts[r["event_id"]])
        }
        if not need:
            return {}, texts
        scopes = {}
        for eid, ev in events.items():  # batch order: data keys are made in a stable order
            if eid not in need:
                continue
            ref = ev.context.user_ref if ev.context else None
            scopes[eid] = (
                subject_scope(self.keys.ref_hash(ref))
                if ref
                else day_scope(ev.tenant, ev.timestamp)
            )
        ciphers = self.data_keys.for_scopes(conn, scopes.values(), now)
        return {eid: ciphers[scope] for eid, scope in scopes.items()}, texts

    def _write(self, conn: Connection, batch: AuditBatch, now: datetime) -> None:
        finding_rows = [_finding_row(f) for f in batch.findings]
        sealers, texts = (
            self._sealing_keys(conn, batch, finding_rows, now) if batch.events else ({}, {})
        )
        for r in finding_rows:
            if (key := sealers.get(r["event_id"])) is not None:
                r["evidence"] = seal_quotes(
                    r["evidence"], texts[r["event_id"]], key, evidence_aad(r["finding_id"])
                )
        batch_links = []  # one link per table written in bulk, appended last (audit/batchchain.py)
        if batch.events:
            keys = self._ref_keys(batch)
            link = batchchain.insert_batch(
                conn,
                batchchain.EVENTS_KIND,
                self._insert_ignore(table_of(EventRecord), ["event_id"]),
                [
                    _event_row(
                        e,
                        now,
                        batch.redactions.get(e.event.event_id),
                        keys,
                        sealers.get(e.event.event_id),
                    )
                    for e in batch.events
                ],
            )
            batch_links += [link] if link else []
        if batch.feedback:
            erased = _erased_in(conn, (f.feedback.event_id for f in batch.feedback))
            batch.feedback = [f for f in batch.feedback if f.feedback.event_id not in erased]
        if batch.feedback:
            link = batchchain.insert_batch(
                conn,
                batchchain.FEEDBACK_KIND,
                self._insert_ignore(table_of(FeedbackRecord), ["event_id"]),
                [_feedback_row(f, now) for f in batch.feedback],
            )
            batch_links += [link] if link else []
        if batch.findings:
            table = table_of(FindingRecord)
            rows = finding_rows
            # RETURNING names only the rows inserted now: a replayed finding is not chained twice.
            inserted = (
                conn.execute(
                    self._insert_ignore(table, ["finding_id"]).returning(table.c.finding_id), rows
                )
                .scalars()
                .all()
            )
            chain.append(conn, chain.finding_links(rows, inserted), now)
            # Alert deliveries commit with their findings (the outbox); only new findings
            # get them, so a replayed batch alerts nobody twice.
            fresh = set(inserted)
            outbox.enqueue(conn, [r for r in rows if r["finding_id"] in fresh], now)
        self._file_incidents(conn, batch, fresh if batch.findings else set(), now)
        if batch.dead_letters:
            conn.execute(
                self._insert_ignore(
                    table_of(DeadLetterRecord),
                    ["source_topic", "source_partition", "source_offset"],
                ),
                [{**_dl_row(d), "received_at": now} for d in batch.dead_letters],
            )
        for st in batch.states:
            self._upsert_state(conn, st, now)
            if st.entries:
                self._write_entries(conn, st)
        chain.append(conn, batch_links, now)

    @staticmethod
    def _file_incidents(
        conn: Connection, batch: AuditBatch, fresh: set[str], now: datetime
    ) -> None:
        """Group the new findings into incidents (a finding's time is its event's; one with no
        event in the batch, a window's or a late label's, takes the batch's latest event time)
        and enqueue the alerts of the incidents' state changes."""
        times = {e.event.event_id: as_utc(e.event.timestamp) for e in batch.events}
        watermark = max(times.values(), default=None)
        new = {f.finding_id: f for f in batch.findings if f.finding_id in fresh}  # each once
        filed = [
            Filed(f, times.get(f.event_id or "") or watermark or as_utc(f.detected_at))
            for f in new.values()
        ]
        events = file_findings(conn, filed, watermark, now)
        if events:
            ids = sorted({e["incident_id"] for e in events})
            incidents = {
                r["incident_id"]: dict(r)
                for r in conn.execute(
                    select(INCIDENTS).where(INCIDENTS.c.incident_id.in_(ids))
                ).mappings()
            }
            outbox.enqueue_incident_events(conn, events, incidents, now)

    def _ref_keys(self, batch: AuditBatch) -> KeyRing | None:
        needed = any(e.event.context and e.event.context.user_ref for e in batch.events)
        return self.keys if needed else None

    def _upsert_state(self, conn: Connection, st: DetectorState, now: datetime) -> None:
        table = table_of(DetectorStateRecord)
        values = {
            "detector": st.detector,
            "scope": st.scope,
            "version": st.version,
            "state": st.state,
            "updated_at": now,
        }
        ins: Any = (postgresql if self.engine.dialect.name == "postgresql" else sqlite).insert(
            table
        )
        conn.execute(
            ins.values(**values).on_conflict_do_update(
                index_elements=["detector", "scope"],
                set_={"version": st.version, "state": st.state, "updated_at": now},
            )
        )

    def _write_entries(self, conn: Connection, st: DetectorState) -> None:
        assert st.entries is not None
        table = table_of(DetectorStateEntryRecord)
        mine = (table.c.detector == st.detector) & (table.c.scope == st.scope)
        gone = sorted(st.entries.deletes - set(st.entries.upserts))
        for i in range(0, len(gone), _ENTRY_CHUNK):
            conn.execute(delete(table).where(mine, table.c.key.in_(gone[i : i + _ENTRY_CHUNK])))
        if st.entries.upserts:
            ins: Any = (postgresql if self.engine.dialect.name == "postgresql" else sqlite).insert(
                table
            )
            conn.execute(
                ins.on_conflict_do_update(
                    index_elements=["detector", "scope", "key"],
                    set_={"version": ins.excluded.version, "value": ins.excluded.value},
                ),
                [
                    {
                        "detector": st.detector,
                        "scope": st.scope,
                        "key": key,
                        "version": st.version,
                        "value": value,
                    }
                    for key, value in st.entries.upserts.items()
                ],
            )

    def load_states(self, scope: str = "global") -> dict[str, DetectorState]:
        table, entries = table_of(DetectorStateRecord), table_of(DetectorStateEntryRecord)
        with self.engine.connect() as conn:
            rows = conn.execute(select(table).where(table.c.scope == scope)).mappings().all()
            saved: dict[tuple[str, str], dict[str, Any]] = defaultdict(dict)
            for detector, version, key, value in conn.execute(
                select(entries.c.detector, entries.c.version, entries.c.key, entries.c.value).where(
                    entries.c.scope == scope
                )
            ):
                saved[(detector, version)][key] = value
        out = {}
        for r in rows:
            # entries saved by another version of the detector are not its entries
            found = saved.get((r["detector"], r["version"]))
            out[r["detector"]] = DetectorState(
                r["detector"],
                r["version"],
                r["state"],
                r["scope"],
                StateEntries(found) if found else None,
            )
        return out

    def load_state_of(self, detector: str, scopes: Sequence[str]) -> dict[str, dict[str, Any]]:
        """One detector's saved state in each of ``scopes`` (scope → state; absent: none)."""
        table = table_of(DetectorStateRecord)
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(table.c.scope, table.c.state).where(
                    table.c.detector == detector, table.c.scope.in_(list(scopes))
                )
            ).all()
        return {scope: state for scope, state in rows}


def _erased_in(conn: Connection, event_ids: Iterable[str]) -> set[str]:
    ids = list(dict.fromkeys(event_ids))
    found: set[str] = set()
    t = table_of(EventRecord)
    for i in range(0, len(ids), _ID_CHUNK):
        rows = conn.execute(
            select(t.c.event_id, t.c.payload).where(
                t.c.event_id.in_(ids[i : i + _ID_CHUNK]),
                # what an erasure clears (its payload is then read to be sure)
                t.c.user_ref_hash.is_(None),
                t.c.score.is_(None),
            )
        )
        found.update(
            r.event_id
            for r in rows
            if isinstance(r.payload, dict) and isinstance(r.payload.get("erased"), dict)
        )
    return found


def _dl_row(d: DeadLetter) -> dict[str, Any]:
    return {
        "source_topic": d.source_topic,
        "source_partition": d.source_partition,
        "source_offset": d.source_offset,
        "reason": d.reason,
        "detail": d.detail,
        "size_bytes": d.size_bytes,
        "sha256": d.sha256,
    }
