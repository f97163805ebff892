"""Named text patterns for security rules: secrets in outputs, prompt injection in inputs.

Every finder returns ``[{"pattern": name, "start": i, "end": j}]``: the pattern's name and the
match's offsets, never the matched text, so a finding's evidence cannot leak a secret.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from core.secrets import SECRET_PATTERNS

#: instructions that try to override the system prompt or lift the model's rules
INJECTION_PATTERNS: dict[str, re.Pattern[str]] = {
    "ignore_previous_instructions": re.compile(
        r"(?i)\b(?:ignore|disregard|forget)\s+(?:all\s+|any\s+|the\s+)?(?:previous|prior|above|earlier)\s+"
        r"(?:instructions|prompts?|rules|directions)"
    ),
    "reveal_system_prompt": re.compile(
        r"(?i)\b(?:print|reveal|show|repeat|output)\s+(?:me\s+)?(?:your|the)\s+(?:system|hidden|initial)\s+prompt"
    ),
    "role_override": re.compile(
        r"(?i)\byou\s+are\s+now\s+(?:an?\s+)?(?:\w+\s+){0,3}(?:without\s+(?:any\s+)?(?:rules|restrictions|filters)"
        r"|unrestricted|unfiltered|jailbroken)"
    ),
    "dan_jailbreak": re.compile(
        r"(?i)\b(?:do\s+anything\s+now|DAN\s+mode|developer\s+mode\s+enabled)\b"
    ),
    "pretend_no_rules": re.compile(
        r"(?i)\bpretend\s+(?:that\s+)?you\s+(?:have|had)\s+no\s+(?:rules|restrictions|guidelines)"
    ),
}


#: abusive or toxic language in a model's output: insults aimed at the user, threats, slurs,
#: telling the user to harm themselves. Aimed phrases, not single swear words, keep false alarms
#: low ("that bug is stupid" is not abuse; "you are stupid" is).
ABUSE_PATTERNS: dict[str, re.Pattern[str]] = {
    "insult_at_user": re.compile(
        r"(?i)\byou(?:'re|\s+are)\s+(?:a\s+|an\s+|so\s+|such\s+an?\s+)?(?:\w+\s+)?"
        r"(?:idiot|moron|stupid|dumb|imbecile|loser|pathetic|worthless|useless|retard(?:ed)?)\b"
    ),
    "dismissive_abuse": re.compile(r"(?i)\b(?:shut\s+up|get\s+lost|piss\s+off|go\s+to\s+hell)\b"),
    "profanity_at_user": re.compile(r"(?i)\b(?:fuck|screw)\s+(?:you|off)\b"),
    "threat": re.compile(
        r"(?i)\bi(?:'ll|\s+will|\s+am\s+going\s+to)\s+(?:hurt|kill|destroy|find)\s+you\b"
    ),
    "self_harm_incitement": re.compile(r"(?i)\b(?:go\s+)?kill\s+yourself\b|\bkys\b"),
}


def _scan(text: str, patterns: dict[str, re.Pattern[str]]) -> list[dict[str, Any]]:
    hits = [
        {"pattern": name, "start": m.start(), "end": m.end()}
        for name, rx in patterns.items()
        for m in rx.finditer(text)
    ]
    hits.sort(key=lambda h: (h["start"], h["pattern"]))
    return hits


@lru_cache(maxsize=2048)  # a rule's condition and its evidence scan the same text
def _secrets(text: str) -> tuple[tuple[str, int, int], ...]:
    return tuple((h["pattern"], h["start"], h["end"]) for h in _scan(text, SECRET_PATTERNS))


@lru_cache(maxsize=2048)
def _injections(text: str) -> tuple[tuple[str, int, int], ...]:
    return tuple((h["pattern"], h["start"], h["end"]) for h in _scan(text, INJECTION_PATTERNS))


def _as_dicts(hits: tuple[tuple[str, int, int], ...]) -> list[dict[str, Any]]:
    return [{"pattern": p, "start": s, "end": e} for p, s, e in hits]


@lru_cache(maxsize=2048)
def _abuse(text: str) -> tuple[tuple[str, int, int], ...]:
    return tuple((h["pattern"], h["start"], h["end"]) for h in _scan(text, ABUSE_PATTERNS))


def find_abuse(text: str) -> list[dict[str, Any]]:
    return _as_dicts(_abuse(text))


def find_secrets(text: str) -> list[dict[str, Any]]:
    return _as_dicts(_secrets(text))


def find_injections(text: str) -> list[dict[str, Any]]:
    return _as_dicts(_injections(text))


@lru_cache(maxsize=64)
def _names_regex(names: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(rf"(?i)(?<!\w)(?:{alternatives})(?!\w)")


def find_names(text: str, names: tuple[str, ...]) -> list[dict[str, Any]]:
    """Whole-word, case-insensitive mentions of ``names`` (e.g. competitors): name and offsets.
    The name reported is the configured one (not the text's spelling)."""
    if not names:
        return []
    lowered = {n.lower(): n for n in names}
    return [
        {"name": lowered.get(m.group().lower(), m.group()), "start": m.start(), "end": m.end()}
        for m in _names_regex(names).finditer(text)
    ]
