"""The JSON body of a delivery, rendered from the stored finding row.

A finding alert's body depends only on the finding, the subscription and the delivery id, so
every attempt of a delivery sends the same bytes (the signature's timestamp is what changes). An
incident alert carries the state change it is about (fixed) and the incident's summary as it is
when the attempt is made.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from audit.sealing import conceal
from audit.webhooks.spec import WebhookFormat

SCHEMA = "riskwatch.alert/v1"
_SLACK_TEXT_LIMIT = 3000  # Slack rejects section texts longer than this
_SEVERITY_MARK = {
    "info": ":information_source:",
    "low": ":large_blue_circle:",
    "medium": ":large_yellow_circle:",
    "high": ":large_orange_circle:",
    "critical": ":red_circle:",
}


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:  # SQLite gives stored UTC times back naive
            value = value.replace(tzinfo=UTC)
        aware = value.astimezone(UTC)
        return aware.isoformat().replace("+00:00", "Z")
    return value


def finding_document(row: Mapping[str, Any]) -> dict[str, Any]:
    """The finding as the API shows it: taxonomy, regulation refs and Kafka source included."""
    return {
        "finding_id": row["finding_id"],
        "detected_at": _iso(row["detected_at"]),
        "model_id": row["model_id"],
        "model_version": row["model_version"],
        "severity": row["severity"],
        "taxonomy": {"category": row["category"], "subcategory": row["subcategory"]},
        "regulation_refs": list(row["regulation_refs"] or []),
        "detector": row["detector"],
        "rule": {"id": row["rule_id"], "pack": row["pack"], "pack_version": row["pack_version"]},
        "title": row["title"],
        "remediation": row["remediation"],
        "evidence": conceal(row["evidence"]),  # sealed quotes never leave
        "event_id": row["event_id"],
        "source": {
            "topic": row["source_topic"],
            "partition": row["source_partition"],
            "offset": row["source_offset"],
        },
    }


def generic_body(
    row: Mapping[str, Any], *, delivery_id: str, subscription_id: int
) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "type": "finding",
        "delivery_id": delivery_id,
        "subscription_id": subscription_id,
        "finding": finding_document(row),
    }


def incident_document(incident: Mapping[str, Any]) -> dict[str, Any]:
    """The incident as the API shows it, with the state change that is being alerted on."""
    event = incident.get("event") or {}
    return {
        "incident_id": incident["incident_id"],
        "status": incident["status"],
        "resolution": incident["resolution"],
        "model_id": incident["model_id"],
        "rule_id": incident["rule_id"],
        "key": incident["key"],
        "title": incident["title"],
        "taxonomy": {"category": incident["category"], "subcategory": incident["subcategory"]},
        "severity": incident["severity"],
        "escalated": bool(incident["escalated"]),
        "count": incident["count"],
        "first_seen": _iso(incident["first_seen"]),
        "last_seen": _iso(incident["last_seen"]),
        "opened_at": _iso(incident["opened_at"]),
        "closed_at": _iso(incident["closed_at"]),
        "serious_incident": incident["serious"],
        "report_deadline": _iso(incident["report_deadline"]),
        "event": {
            "id": event.get("id"),
            "type": event.get("event"),
            "actor": event.get("actor"),
            "reason": event.get("reason"),
            "severity": event.get("severity"),
            "count": event.get("count"),
            "at": _iso(event.get("at")),
        },
    }


def incident_body(
    incident: Mapping[str, Any],
    row: Mapping[str, Any],
    *,
    delivery_id: str,
    subscription_id: int,
) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "type": "incident",
        "delivery_id": delivery_id,
        "subscription_id": subscription_id,
        "incident": incident_document(incident),
        "finding": finding_document(row),  # the finding that caused the state change
    }


_INCIDENT_VERB = {
    "opened": "opened",
    "escalated": "escalated",
    "resolved": "resolved",
    "recovered": "recovered",
}


def slack_incident_body(
    incident: Mapping[str, Any], row: Mapping[str, Any], *, delivery_id: str
) -> dict[str, Any]:
    """An incident's state change for Slack; every value from the store is escaped."""
    e = slack_escape
    event = incident.get("event") or {}
    verb = _INCIDENT_VERB.get(str(event.get("event")), str(event.get("event")))
    severity = str(event.get("severity") or incident["severity"])
    headline = (
        f"[{e(severity.upper())}] Incident {e(verb)}: {e(incident['model_id'])}: "
        f"{e(incident['title'])}"
    )
    fields = [
        f"*Model*\n{e(incident['model_id'])}",
        f"*Severity*\n{_SEVERITY_MARK.get(severity, '')} {e(severity)}".strip(),
        f"*Category*\n{e(incident['category'])} / {e(incident['subcategory'])}",
        f"*Rule*\n{e(incident['rule_id'])}",
        f"*Findings*\n{e(event.get('count', incident['count']))}",
        f"*Incident*\n`{e(incident['incident_id'])}`",
    ]
    if incident["report_deadline"] is not None:
        fields.append(f"*Art. 73 report due*\n{e(_iso(incident['report_deadline']))}")
    reason = f"*Why*\n{e(event.get('reason') or '')} ({e(event.get('actor') or '')})"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(headline, 150)}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": _clip(f, 2000)} for f in fields]},
        {"type": "section", "text": {"type": "mrkdwn", "text": _clip(reason)}},
    ]
    if row["remediation"] and verb in ("opened", "escalated"):
        text = _clip(f"*Remediation*\n{e(row['remediation'])}")
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"riskwatch delivery `{e(delivery_id)}`"}],
        }
    )
    return {"text": _clip(headline), "blocks": blocks}


def _clip(text: str, limit: int = _SLACK_TEXT_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_escape(value: Any) -> str:
    """Slack's control characters escaped (``&`` ``<`` ``>``), so a value from an event or a
    finding (a model id of ``<!channel>``, a title with ``<https://evil|click>``) is shown as
    text and never becomes a mention, a link or a command."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(row: Mapping[str, Any], *, delivery_id: str) -> dict[str, Any]:
    """Slack incoming-webhook shape: ``text`` (notifications, fallback) and Block Kit ``blocks``.
    Every value taken from the finding is escaped (``slack_escape``)."""
    e = slack_escape
    severity = str(row["severity"])
    headline = f"[{e(severity.upper())}] {e(row['model_id'])}: {e(row['title'])}"
    refs = e("; ".join(row["regulation_refs"] or []) or "none")
    fields = [
        f"*Model*\n{e(row['model_id'])} {e(row['model_version'] or '')}".rstrip(),
        f"*Severity*\n{_SEVERITY_MARK.get(severity, '')} {e(severity)}".strip(),
        f"*Category*\n{e(row['category'])} / {e(row['subcategory'])}",
        f"*Rule*\n{e(row['rule_id'])} ({e(row['pack'])} {e(row['pack_version'])})",
        f"*Detected*\n{e(_iso(row['detected_at']))}",
        f"*Finding*\n`{e(row['finding_id'])}`",
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(headline, 150)}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": _clip(f, 2000)} for f in fields]},
        {"type": "section", "text": {"type": "mrkdwn", "text": _clip(f"*Regulation*\n{refs}")}},
    ]
    if row["remediation"]:
        text = _clip(f"*Remediation*\n{e(row['remediation'])}")
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"riskwatch delivery `{e(delivery_id)}`"}],
        }
    )
    return {"text": _clip(headline), "blocks": blocks}


def render(
    fmt: WebhookFormat | str,
    row: Mapping[str, Any],
    *,
    delivery_id: str,
    subscription_id: int,
    incident: Mapping[str, Any] | None = None,
) -> bytes:
    """The body of a finding alert, or of an incident alert when ``incident`` is given (``row``
    is then the finding that caused its state change)."""
    fmt = WebhookFormat(fmt)
    if incident is not None:
        doc = (
            slack_incident_body(incident, row, delivery_id=delivery_id)
            if fmt is WebhookFormat.SLACK
            else incident_body(
                incident, row, delivery_id=delivery_id, subscription_id=subscription_id
            )
        )
    elif fmt is WebhookFormat.SLACK:
        doc = slack_body(row, delivery_id=delivery_id)
    else:
        doc = generic_body(row, delivery_id=delivery_id, subscription_id=subscription_id)
    return orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS)
