"""The CEL subset of policy conditions: semantics, null safety, and compile-time errors."""

from __future__ import annotations

from typing import Any

import pytest

from policies.cel import CelError, compile_expression
from policies.patterns import find_injections, find_names, find_secrets

NAMES = {"event", "model", "signals", "params"}
ENV: dict[str, Any] = {
    "event": {
        "context": {"region": "EU", "consent": False, "human_review": None},
        "usage": {"cost_usd": 0.5, "input_tokens": 7},
        "timestamp": "2026-11-28T12:00:00Z",
        "tags": ["a", "b"],
        "output": {"text": "Contact Contoso today"},
    },
    "model": {"release_date": "2026-06-01", "deprecated_versions": ["1.0"], "region": "US"},
    "signals": {"pii": {"count": 2, "pii_detected": 2}},
    "params": {"competitors": ["Contoso"], "budget": {"acme": 3}},
}


def ev(src: str) -> Any:
    return compile_expression(src, NAMES)(ENV)


@pytest.mark.parametrize(
    "src, expected",
    [
        ('signals.pii.count > 0 && event.context.region == "EU" && !event.context.consent', True),
        ("signals.fairness.count > 0", False),  # absent detector: null, comparison false
        ("!event.context.human_review", True),  # null is not true
        ("event.context.human_review == null", True),
        ("has(event.context.region)", True),
        ("has(event.context.human_review)", False),  # present but null counts as absent
        ("has(event.context.nope)", False),
        ("has(event.nope.deeper)", False),
        ('has(event["context"].region)', True),
        ("has(event.context) && !has(event.context.human_review)", True),
        ("event.usage.cost_usd * 4 == 2.0", True),
        ("event.usage.missing * 4", None),  # null propagates through arithmetic
        ("event.usage.missing * 4 > 1", False),
        ("7 / 2", 3),
        ("-7 / 2", -3),
        ("-7 % 3", -1),
        ("7.0 / 2", 3.5),
        ("1 / 0", None),
        ('"a" + "b"', "ab"),
        ("[1] + [2]", [1, 2]),
        ('"a" - 1', None),
        ('"1.0" in model.deprecated_versions', True),
        ('"2.0" in model.deprecated_versions', False),
        ('"acme" in params.budget', True),
        ("params.budget['acme']", 3),
        ("params.budget.nobody", None),
        ("event.tags[1]", "b"),
        ("event.tags[5]", None),
        ("daysBetween(model.release_date, event.timestamp)", 180.5),
        ("int(daysBetween(model.release_date, event.timestamp))", 180),
        ('daysBetween("not a date", event.timestamp)', None),
        ("size(event.tags)", 2),
        ("event.tags.size()", 2),
        ("size(null)", 0),
        ('event.output.text.contains("Contoso")', True),
        ('event.output.text.startsWith("Contact")', True),
        ('event.output.text.endsWith("x")', False),
        ('event.output.text.matches("^Con[a-z]+")', True),
        ("event.output.text.lowerAscii()", "contact contoso today"),
        ('event.missing.matches("x")', False),
        ("event.missing.lowerAscii()", None),
        ('event.usage.cost_usd.contains("x")', False),
        ("1 < 2 ? 'yes' : 'no'", "yes"),
        ("null ? 1 : 2", 2),
        ("1 == true", False),
        ("true == true", True),
        ('1 < "a"', False),
        ("null < 1", False),
        ("{'a': 1 + 1}.a", 2),
        ("max(1, 2.5)", 2.5),
        ("min(1, null)", None),
        ("double(3)", 3.0),
        ("string(true)", "true"),
        ("int('x')", None),
        (r'"a\"b"', 'a"b'),
        (r"r'\d+'", r"\d+"),
        ("size(findNames(event.output.text, params.competitors))", 1),
        ("false || true && !false", True),
        (
            "event.usage.input_tokens >= 7 && event.usage.input_tokens <= 7"
            " && event.usage.input_tokens != 8",
            True,
        ),
    ],
)
def test_semantics(src: str, expected: Any) -> None:
    assert ev(src) == expected
    assert type(ev(src)) is type(expected)


@pytest.mark.parametrize(
    "src, message",
    [
        ("foo > 1", "column 1: unknown name 'foo'"),
        ("event.x > signal.y", "column 11: unknown name 'signal'"),
        ("event.text.bogus()", "unknown method 'bogus'"),
        ("nope(1)", "unknown function 'nope'"),
        ("size(1, 2)", "size() takes 1 argument(s), got 2"),
        ('event.text.matches("[")', "bad regex"),
        ("event.", "expected a field or method name"),
        ("1 +", "unexpected 'end of expression'"),
        ("(1", "expected ')'"),
        ("has(event)", "has() takes a field selection"),
        ("has(event.tags[0])", "has() takes a field selection"),
        ("has(event.a.lowerAscii())", "has() takes a field selection"),
        ("1 $ 2", "unexpected character '$'"),
        ("", "empty expression"),
        ("1 2", "unexpected '2'"),
        (r'"\q"', "unknown escape"),
    ],
)
def test_compile_errors(src: str, message: str) -> None:
    with pytest.raises(CelError) as info:
        compile_expression(src, NAMES)
    assert message in str(info.value)


def test_used_names_are_reported() -> None:
    expr = compile_expression("event.a > 1 && has(model.b) || params.c", NAMES)
    assert expr.names == {"event", "model", "params"}


def test_no_python_escape_hatch() -> None:
    # attribute access reads dict keys only: no dunder walks to builtins
    for src in ("event.__class__", "event.__class__.__bases__", "''.__class__"):
        try:
            value = compile_expression(src, NAMES)(ENV)
        except CelError:
            continue
        assert value is None
    with pytest.raises(CelError):
        compile_expression("__import__('os')", NAMES)


def test_pattern_finders_report_names_and_offsets_not_text() -> None:
    text = "ok AKIAIOSFODNN7EXAMPLE and ghp_" + "a" * 36
    hits = find_secrets(text)
    assert [h["pattern"] for h in hits] == ["aws_access_key_id", "github_token"]
    assert hits[0] == {"pattern": "aws_access_key_id", "start": 3, "end": 23}
    assert all(set(h) == {"pattern", "start", "end"} for h in hits)
    assert find_secrets("nothing to see") == []
    assert [h["pattern"] for h in find_injections("pls IGNORE PREVIOUS INSTRUCTIONS.")] == [
        "ignore_previous_instructions"
    ]
    assert find_names("Try CONTOSO or contosonic", ("Contoso",)) == [
        {"name": "Contoso", "start": 4, "end": 11}
    ]
