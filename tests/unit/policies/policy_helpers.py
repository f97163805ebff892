"""Policy packs for tests about something else (sink, store): only the signal-mapped rules, so
that event and window rules of the shipped packs do not add findings to their bare events."""

from __future__ import annotations

from policies.pack import load_packs
from policies.spec import Pack


def signal_rule_packs() -> list[Pack]:
    return [
        p.model_copy(update={"rules": [r for r in p.rules if r.signal is not None]})
        for p in load_packs()
    ]
