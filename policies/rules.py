"""A pack rule with its expressions compiled, and the names each kind of expression may use."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import orjson

from policies.cel import CelError, Expression, compile_expression
from policies.spec import Pack, Rule

#: every event-level expression sees the event document, the model's registry entry (null when
#: unregistered), whether it is registered, the event's signals by detector, and the registry's
#: ``policy_params``
EVENT_NAMES = frozenset({"event", "model", "model_registered", "signals", "params"})
#: a signal rule's condition also sees the signal (detector, kind, severity, evidence, context)
SIGNAL_NAMES = EVENT_NAMES | {"signal"}
#: a window rule's condition sees the aggregate and the event that updated it (a silence rule's:
#: the key's window at its last event, ``event`` null, and ``silent_s``, 0 in other rules)
WINDOW_NAMES = (EVENT_NAMES - {"signals"}) | {
    "value",
    "bucket_value",
    "previous",
    "baseline",
    "count",
    "key",
    "window",
    "elapsed_s",
    "window_s",
    "silent_s",
}
#: what a window's ``key``, ``of`` and ``where`` see: the event alone
WINDOW_INPUT_NAMES = EVENT_NAMES - {"signals"}


@dataclass(frozen=True, slots=True)
class CompiledRule:
    rule: Rule
    pack: Pack
    condition: Expression | None
    evidence: tuple[tuple[str, Expression], ...] = ()
    key: Expression | None = None
    of: Expression | None = None
    where: Expression | None = None
    #: changes whenever anything that shapes the rule's window state changes
    fingerprint: str = ""
    #: top-level names the condition and evidence use (the engine skips computing the others)
    names: frozenset[str] = field(default_factory=frozenset)

    @property
    def id(self) -> str:
        return self.rule.id


def _compile(what: str, source: str, names: frozenset[str]) -> Expression:
    try:
        return compile_expression(source, names)
    except CelError as exc:
        raise ValueError(f"{what}: {exc} in `{source}`") from exc


def compile_rule(rule: Rule, pack: Pack | None = None) -> CompiledRule:
    """Compile every expression of ``rule``; a ValueError names the expression and column."""
    names = {"signal": SIGNAL_NAMES, "event": EVENT_NAMES, "window": WINDOW_NAMES}[rule.kind]
    condition = _compile("condition", rule.condition, names) if rule.condition else None
    evidence = tuple(
        (name, _compile(f"evidence.{name}", src, names)) for name, src in rule.evidence.items()
    )
    key = of = where = None
    fingerprint = ""
    if rule.window is not None:
        w = rule.window
        key = _compile("window.key", w.key, WINDOW_INPUT_NAMES)
        of = _compile("window.of", w.of, WINDOW_INPUT_NAMES) if w.of else None
        where = _compile("window.where", w.where, WINDOW_INPUT_NAMES) if w.where else None
        # `silence` joins the fingerprint only when set, so older rules keep their saved state
        dumped = w.model_dump(exclude={"silence"} if w.silence is None else None)
        spec = orjson.dumps(dumped, option=orjson.OPT_SORT_KEYS)
        fingerprint = hashlib.sha256(rule.id.encode() + b"|" + spec).hexdigest()[:16]
    used = frozenset().union(*(e.names for e in (condition, *(x for _, x in evidence)) if e))
    return CompiledRule(
        rule,
        pack if pack is not None else Pack(pack="?", version="?", rules=[]),
        condition,
        evidence,
        key,
        of,
        where,
        fingerprint,
        used,
    )
