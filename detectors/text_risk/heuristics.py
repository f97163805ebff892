"""Precise, rule-based layers beside the learned scorers: instruction-override phrasing (also
inside base64 blobs that decode to text), extreme repetition (divergence and extraction attacks),
planted canary tokens, and the abuse type lexicon that maps a flagged text to a hazard category.
Every function returns names, never the matched text."""

from __future__ import annotations

import base64
import binascii
import re
from collections import Counter

#: instruction-override and jailbreak phrasing (English; the learned scorer covers the rest)
OVERRIDE_PATTERNS: dict[str, re.Pattern[str]] = {
    "ignore_previous": re.compile(
        r"(?i)\b(?:ignore|disregard|forget|override|bypass)\s+(?:all\s+|any\s+|the\s+|your\s+|of\s+)*"
        r"(?:previous|prior|above|earlier|preceding|original|system)\s+"
        r"(?:instructions?|prompts?|rules|directions|guidelines|messages?)"
    ),
    "reveal_system_prompt": re.compile(
        r"(?i)\b(?:print|reveal|show|repeat|output|display|leak|dump|tell\s+me)\s+(?:me\s+)?"
        r"(?:your|the)\s+(?:(?:full|entire|exact|original)\s+)?(?:system|hidden|initial|secret)\s+"
        r"(?:prompt|instructions|message)"
    ),
    "mode_switch": re.compile(
        r"(?i)\b(?:developer|DAN|god|jailbreak|unrestricted)\s+mode\b|\bdo\s+anything\s+now\b"
    ),
    "role_override": re.compile(
        r"(?i)\byou\s+are\s+now\s+(?:an?\s+)?(?:\w+\s+){0,3}(?:without\s+(?:any\s+)?"
        r"(?:rules|restrictions|filters|limits)|unrestricted|unfiltered|jailbroken|uncensored)"
    ),
    "chat_template_injection": re.compile(
        r"(?i)<\|im_start\|>\s*system|\[/?INST\]|<</?SYS>>|</?system>"
    ),
}
_B64 = re.compile(r"[A-Za-z0-9+/]{24,}={0,2}")
_WORD = re.compile(r"\w+")
REPEAT_MIN_TOKENS = 200
REPEAT_MAX_DISTINCT_SHARE = 0.05


def overrides(text: str) -> list[str]:
    """Names of the override patterns ``text`` matches."""
    return [name for name, rx in OVERRIDE_PATTERNS.items() if rx.search(text)]


def decoded_blobs(text: str, limit: int = 4) -> list[str]:
    """Base64 blobs in ``text`` that decode to printable UTF-8 text (at most ``limit``)."""
    out = []
    for m in _B64.finditer(text):
        blob = m.group(0)
        try:
            raw = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True)
            decoded = raw.decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
        printable = sum(ch.isprintable() or ch.isspace() for ch in decoded)
        if decoded and printable / len(decoded) > 0.95 and " " in decoded:
            out.append(decoded)
            if len(out) >= limit:
                break
    return out


def extreme_repetition(text: str) -> bool:
    """At least 200 words of which at most 5% are distinct ("poem poem poem ...")."""
    words = _WORD.findall(text.lower())
    if len(words) < REPEAT_MIN_TOKENS:
        return False
    return len(Counter(words)) / len(words) <= REPEAT_MAX_DISTINCT_SHARE


def canaries_in(text: str, canaries: tuple[str, ...]) -> int:
    """How many of the planted canary tokens appear in ``text`` (exact, case-sensitive)."""
    return sum(1 for c in canaries if c and c in text)


# ---- abuse types ------------------------------------------------------------------------------

#: abuse type → MLCommons AI Safety hazard (the categories Llama Guard 3 uses); an insult or
#: profanity with none of these has no hazard code (MLCommons v1.0 has no harassment category)
HAZARDS: dict[str, str] = {
    "violent_threat": "S1",  # violent crimes: threats of violence against a person
    "hate": "S10",  # demeaning people by protected characteristics (race, sex, orientation, ...)
    "self_harm": "S11",  # suicide & self-harm: urging someone to hurt or kill themselves
    "sexual": "S12",  # sexual content, sexual harassment
}
#: groups protected by the hate category (religion, ethnicity, nationality, sex, orientation)
_GROUPS = (
    r"(?:women|men|girls|muslims|jews|christians|blacks|whites|asians|arabs|gays|lesbians|"
    r"trans(?:\s+people)?|immigrants|migrants|refugees|mexicans|africans|foreigners|feminists)"
)
_TYPE_PATTERNS: dict[str, re.Pattern[str]] = {
    "self_harm": re.compile(
        r"(?i)\b(?:kill|hang|hurt|shoot)\s+(?:your\s*self|urself|yourselves)\b|\bkys\b"
        r"|\bend\s+your\s+(?:own\s+)?life\b|\bslit\s+your\s+wrists?\b|\bgo\s+die\b"
    ),
    "violent_threat": re.compile(
        r"(?i)\bi(?:'ll|\s+will|\s+am\s+going\s+to|'m\s+going\s+to|\s+gonna)\s+"
        r"(?:hurt|kill|stab|shoot|beat|murder|destroy|find)\s+(?:you|u)\b"
    ),
    "sexual": re.compile(
        r"(?i)\b(?:suck\s+my|fuck\s+me|sex\s+with|have\s+sex|horny|naked|nudes?|blowjob|dick|cock|"
        r"pussy|tits|boobs|penis|vagina|cum|orgasm|masturbat\w*|porn\w*)\b"
    ),
    "hate": re.compile(
        r"(?i)\b(?:fag(?:got)?s?|dykes?|tranny|trannies|nigg(?:er|a)s?|kikes?|spics?|chinks?|"
        r"retard(?:ed|s)?|whores?|sluts?|hoes|bitch(?:es)?|cunts?|towelheads?|wetbacks?)\b"
        rf"|\b(?:all|those|these|fucking|damn|filthy|stupid)\s+{_GROUPS}\s+(?:are|should|must)\b"
        rf"|\b(?:hate|kill|deport|ban|exterminate)\s+(?:all\s+|the\s+)?{_GROUPS}\b"
        rf"|\b{_GROUPS}\s+(?:should|must|need\s+to)\s+(?:die|leave|go\s+back|be\s+"
        r"(?:killed|deported|banned|shot|gassed))\b"
    ),
}
_TYPE_ORDER = ("self_harm", "violent_threat", "hate", "sexual")


def abuse_types(text: str) -> list[str]:
    """The abuse types the text shows by lexicon, most severe first; ``["insult"]`` if none."""
    found = [t for t in _TYPE_ORDER if _TYPE_PATTERNS[t].search(text)]
    return found or ["insult"]


_AIMED_PROFANITY = re.compile(
    r"(?i)\b(?:fuck\s+(?:you|u|off)|stfu|shut\s+the\s+fuck\s+up|piss\s+off|screw\s+you"
    r"|go\s+to\s+hell|suck\s+my\s+\w+)\b"
)


def precise_abuse(text: str) -> list[str]:
    """Layers precise enough to flag a text on their own: threats, self-harm incitement, slurs
    (the hate lexicon) and profanity aimed at someone."""
    found = [t for t in ("self_harm", "violent_threat", "hate") if _TYPE_PATTERNS[t].search(text)]
    if _AIMED_PROFANITY.search(text):
        found.append("aimed_profanity")
    return found
