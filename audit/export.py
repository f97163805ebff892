"""Export a period of the audit store as files an auditor can check offline.

The period selects the chain links appended in ``[since, until)`` (a contiguous run of seq);
``findings.jsonl``, ``actions.jsonl``, ``incidents.jsonl`` (incident state changes) and
``removals.jsonl`` hold the rows those links cover, one canonical JSON document per line, so
``sha256(line)`` equals the link's ``content_hash``; ``batches.jsonl`` holds, per batch link
(events, feedback labels: audit/batchchain.py), the sorted ``[event_id, row hash, event time]``
list it covers, whose SHA-256 is likewise its ``content_hash``; a finding's line carries
``evidence_sha256``, and ``evidence.jsonl`` holds ``{"finding_id", "evidence"}`` per finding, where
the SHA-256 of the evidence as compact JSON with sorted keys is that ``evidence_sha256`` (an erased
finding's evidence is the erasure stub that kept the hash); ``chain.jsonl`` holds the links.
``manifest.json`` gives each file's SHA-256 and row count, the period, the segment's first
``prev_hash`` and last ``entry_hash``, and the store's chain head at export time; ``manifest.sig``
signs manifest.json's bytes with the key file's Ed25519 key (audit/keys.py), so ``verify_export``
checks the whole export with the public key alone.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.engine import Engine

from audit import batchchain, chain
from audit.incidents.records import CHAIN_KIND as INCIDENT_KIND
from audit.incidents.records import EVENT_FIELDS, EVENTS
from audit.keys import KeyRing, PublicKey
from audit.models import as_utc

FORMAT = "riskwatch.audit-export/v2"
SIGNATURE_FILE = "manifest.sig"
CHAIN_FIELDS = ("seq", "kind", "subject", "content_hash", "prev_hash", "entry_hash", "at")


def _write_lines(path: Path, lines: Iterable[bytes]) -> dict[str, Any]:
    digest, rows = hashlib.sha256(), 0
    with path.open("wb") as fh:
        for line in lines:
            data = line + b"\n"
            fh.write(data)
            digest.update(data)
            rows += 1
    return {"sha256": digest.hexdigest(), "rows": rows}


def export(
    engine: Engine,
    *,
    since: datetime,
    until: datetime,
    out: Path,
    keys: KeyRing | None = None,
) -> dict[str, Any]:
    """Write the files under ``out`` (created if needed); returns the manifest. With ``keys``,
    ``manifest.sig`` holds the Ed25519 signature of manifest.json's exact bytes by the key file's
    signing key (``riskwatch audit verify-export`` checks it with the public key alone)."""
    since, until = as_utc(since), as_utc(until)
    out.mkdir(parents=True, exist_ok=True)
    c = chain.CHAIN
    with engine.connect() as conn:
        links = (
            conn.execute(select(c).where(c.c.at >= since, c.c.at < until).order_by(c.c.seq))
            .mappings()
            .all()
        )
        finding_ids = [r["subject"] for r in links if r["kind"] == "finding"]
        action_ids = [int(r["subject"]) for r in links if r["kind"] == "lifecycle"]
        incident_ids = [int(r["subject"]) for r in links if r["kind"] == INCIDENT_KIND]
        removal_ids = [
            int(r["subject"])
            for r in links
            if r["kind"] in chain.REMOVAL_KINDS and r["subject"].isdigit()
        ]
        findings = chain.rows_by_id(conn, chain.FINDINGS, "finding_id", finding_ids)
        actions = chain.rows_by_id(conn, chain.ACTIONS, "id", action_ids)
        incident_events = chain.rows_by_id(conn, EVENTS, "id", incident_ids)
        removals = chain.rows_by_id(conn, chain.REMOVALS, "id", removal_ids)
        recorded = batchchain.recorded_leaves(
            conn, [r["subject"] for r in links if r["kind"] in batchchain.KINDS]
        )
        batch_lines = [
            batchchain.batch_line(recorded.get(r["subject"], []))
            for r in links
            if r["kind"] in batchchain.KINDS
        ]
        head = chain.read_head(conn)
    files = {
        "findings.jsonl": _write_lines(
            out / "findings.jsonl",
            (chain.finding_json(findings[i]) for i in finding_ids if i in findings),
        ),
        "evidence.jsonl": _write_lines(
            out / "evidence.jsonl",
            (
                orjson.dumps(
                    {"finding_id": i, "evidence": findings[i]["evidence"]},
                    option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
                )
                for i in finding_ids
                if i in findings
            ),
        ),
        "actions.jsonl": _write_lines(
            out / "actions.jsonl",
            (
                chain.canonical_json(actions[str(i)], chain.ACTION_FIELDS)
                for i in action_ids
                if str(i) in actions
            ),
        ),
        "incidents.jsonl": _write_lines(
            out / "incidents.jsonl",
            (
                chain.canonical_json(incident_events[str(i)], EVENT_FIELDS)
                for i in incident_ids
                if str(i) in incident_events
            ),
        ),
        "removals.jsonl": _write_lines(
            out / "removals.jsonl",
            (
                chain.canonical_json(removals[str(i)], chain.removal_fields(removals[str(i)]))
                for i in removal_ids
                if str(i) in removals
            ),
        ),
        "batches.jsonl": _write_lines(out / "batches.jsonl", batch_lines),
        "chain.jsonl": _write_lines(
            out / "chain.jsonl", (chain.canonical_json(r, CHAIN_FIELDS) for r in links)
        ),
    }
    manifest = {
        "format": FORMAT,
        "exported_at": chain.canonical_time(datetime.now(UTC)),
        "period": {"since": chain.canonical_time(since), "until": chain.canonical_time(until)},
        "files": files,
        "segment": None
        if not links
        else {
            "first_seq": links[0]["seq"],
            "last_seq": links[-1]["seq"],
            "prev_hash": links[0]["prev_hash"],
            "last_entry_hash": links[-1]["entry_hash"],
        },
        "chain_head": {"seq": head.seq, "entry_hash": head.entry_hash},
        "signed_by": keys.signing_kid if keys is not None else None,
        "hashes": "content_hash = sha256(findings/actions/incidents/removals/batches line "
        "without its newline); "
        "evidence_sha256 = sha256(evidence as compact JSON, keys sorted, UTF-8); "
        "entry_hash = sha256(prev_hash|content_hash|kind|subject|seq)",
    }
    body = orjson.dumps(manifest, option=orjson.OPT_INDENT_2)
    (out / "manifest.json").write_bytes(body)
    if keys is not None:
        kid, signature = keys.sign(body)
        sig = {"alg": "Ed25519", "kid": kid, "signature": base64.b64encode(signature).decode()}
        (out / SIGNATURE_FILE).write_bytes(orjson.dumps(sig, option=orjson.OPT_INDENT_2))
    return manifest


def verify_export(path: Path, public_keys: Sequence[PublicKey]) -> list[str]:
    """Check an export offline: manifest.sig verifies manifest.json's bytes with one of
    ``public_keys``, and every file listed has the manifest's SHA-256 and row count. ``path`` is
    the export folder or its manifest.json. Returns the problems (empty: the export is intact)."""
    folder = path if path.is_dir() else path.parent
    try:
        body = (folder / "manifest.json").read_bytes()
        sig = orjson.loads((folder / SIGNATURE_FILE).read_bytes())
        signature = base64.b64decode(str(sig["signature"]), validate=True)
        kid = str(sig["kid"])
    except FileNotFoundError as exc:
        return [f"missing {Path(exc.filename).name}: the export is not signed or incomplete"]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        return [f"{SIGNATURE_FILE} is malformed: {exc}"]
    keys = [pk for pk in public_keys if pk.kid == kid]
    if not keys:
        return [f"signed by key {kid!r}, which is not among the public keys given"]
    if not any(pk.verify(signature, body) for pk in keys):
        return ["manifest.json does not match its signature (the manifest was changed)"]
    problems = []
    manifest = orjson.loads(body)
    for name, expected in manifest["files"].items():
        file = folder / Path(name).name
        if not file.is_file():
            problems.append(f"{name}: missing")
            continue
        data = file.read_bytes()
        if hashlib.sha256(data).hexdigest() != expected["sha256"]:
            problems.append(f"{name}: SHA-256 differs from the signed manifest (file changed)")
        elif data.count(b"\n") != expected["rows"]:
            problems.append(f"{name}: row count differs from the signed manifest")
    return problems
