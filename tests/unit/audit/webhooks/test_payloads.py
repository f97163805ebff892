"""Slack payloads escape &, < and > in every value that comes from an event or a finding."""

from __future__ import annotations

from typing import Any

import orjson

from audit.webhooks.payloads import render, slack_escape
from tests.unit.audit.webhooks.webhook_helpers import T0

HOSTILE = "<!channel> & <https://evil.example|click> <@U123>"


def _row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "finding_id": "f-1",
        "detected_at": T0,
        "model_id": "m",
        "model_version": "1",
        "severity": "high",
        "category": "technical",
        "subcategory": "model_reliability",
        "regulation_refs": ["ref"],
        "detector": "d",
        "rule_id": "r",
        "pack": "p",
        "pack_version": "1",
        "title": "t",
        "remediation": "fix",
        "evidence": {},
        "event_id": "e",
        "source_topic": "ev",
        "source_partition": 0,
        "source_offset": 0,
    }
    row.update(overrides)
    return row


def _texts(doc: Any) -> list[str]:
    if isinstance(doc, dict):
        return [t for v in doc.values() for t in _texts(v)]
    if isinstance(doc, list):
        return [t for v in doc for t in _texts(v)]
    return [doc] if isinstance(doc, str) else []


def test_slack_escape() -> None:
    assert slack_escape("a&b<c>d") == "a&amp;b&lt;c&gt;d"
    assert slack_escape("&lt;") == "&amp;lt;"


def test_no_value_from_a_finding_reaches_slack_unescaped() -> None:
    fields = [
        "model_id", "model_version", "title", "remediation", "rule_id", "pack",
        "pack_version", "finding_id", "severity", "category", "subcategory",
    ]  # fmt: skip
    for name in fields:
        body = render("slack", _row(**{name: HOSTILE}), delivery_id="d<1>", subscription_id=1)
        texts = _texts(orjson.loads(body))
        joined = "\n".join(texts)
        assert "<" not in joined and ">" not in joined, name
        assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" in joined, name
    body = render("slack", _row(regulation_refs=[HOSTILE]), delivery_id="d", subscription_id=1)
    assert "<!channel>" not in body.decode()


def test_the_generic_format_keeps_values_as_they_are() -> None:
    body = orjson.loads(
        render("generic", _row(model_id=HOSTILE), delivery_id="d", subscription_id=1)
    )
    assert body["finding"]["model_id"] == HOSTILE
