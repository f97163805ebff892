"""From the recognizers' raw results to the PII detector's findings: whether the NER still has
something to find in a text, and ``resolve``, which merges address pieces, applies the threshold
and settles overlaps."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from detectors.pii.entities import SPECIAL_CATEGORIES

LOCATION_CLASS = ("ADDRESS", "LOCATION")
#: type precedence when two findings cover exactly the same characters
_PRIORITY = {
    t: i
    for i, t in enumerate(
        (
            "CREDIT_CARD",
            "IBAN_CODE",
            "US_SSN",
            "EMAIL_ADDRESS",
            "IP_ADDRESS",
            "PHONE_NUMBER",
            *SPECIAL_CATEGORIES,  # "Green Party" is a political opinion before it is a place
            "ADDRESS",
            "PERSON",
            "LOCATION",
        )
    )
}


@dataclass(frozen=True, slots=True)
class Span:
    type: str
    start: int
    end: int
    score: float
    ner: bool = False  # found by the spaCy NER (not by a pattern)


_CALENDAR = frozenset(
    """
        Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March
        April May June July August September October November December
    """.split()
)


_WORD = re.compile(r"[^\W\d_]{2,}")


def needs_ner(text: str, results: Sequence[Any], threshold: float) -> bool:
    """Whether the NER could add anything: a word of two letters or more (any case: user text
    writes names in lower case) outside every finding and not a weekday or month name."""
    covered = [(r.start, r.end) for r in results if r.score >= threshold]
    return any(
        m.group() not in _CALENDAR and not any(a <= m.start() < b for a, b in covered)
        for m in _WORD.finditer(text)
    )


def _from_ner(result: Any) -> bool:
    meta = result.recognition_metadata or {}
    return meta.get("recognizer_name") == "SpacyRecognizer"


def _plausible(text: str, entity: str, start: int, end: int, ner: bool) -> bool:
    """Names and places hold no digits (the NER sometimes tags order or ticket ids); a pattern's
    start with a capital (the NER's may be lower case, as user text writes them)."""
    if entity not in ("PERSON", "LOCATION"):
        return True
    value = text[start:end]
    return (ner or value[:1].isupper()) and not any(c.isdigit() for c in value)


def resolve(text: str, results: Sequence[Any], threshold: float) -> list[Span]:
    """Merge adjacent address/location pieces into one span, apply the threshold, drop spans
    contained in another, and settle partial overlaps by score."""
    spans = [
        Span(r.entity_type, r.start, r.end, float(r.score), _from_ner(r))
        for r in results
        if r.score > 0 and _plausible(text, r.entity_type, r.start, r.end, _from_ner(r))
    ]
    spans = _merge_locations(text, spans)
    spans = [s for s in spans if s.score >= threshold]
    # every name and place the NER finds is kept, a bare one too ("Do you ship to Berlin?"):
    # the fine-tuned model tells names and places from products and teams in real user text, and
    # a rule that a place counts only near a personal cue missed most places (WNUT 2017)
    spans.sort(key=lambda s: (-(s.end - s.start), -s.score, _PRIORITY.get(s.type, 99)))
    kept: list[Span] = []
    for s in spans:  # longest first: a container beats what it contains
        if any(k.start <= s.start and s.end <= k.end for k in kept):
            continue
        clash = [k for k in kept if k.start < s.end and s.start < k.end]
        if clash and all(s.score > k.score for k in clash):
            kept = [k for k in kept if k not in clash]
        elif clash:
            continue
        kept.append(s)
    return sorted(kept, key=lambda s: s.start)


def _merge_locations(text: str, spans: list[Span]) -> list[Span]:
    # a name the NER found that runs into an address ("Hans Jörg-Noack-Weg 861") is part of it
    addresses = [s for s in spans if s.type == "ADDRESS"]
    spans = [
        Span("LOCATION", s.start, s.end, s.score, s.ner)
        if s.ner
        and s.type == "PERSON"
        and any(
            a.start < s.end and s.start < a.end and not (a.start <= s.start and s.end <= a.end)
            for a in addresses
        )
        else s
        for s in spans
    ]
    loc = sorted((s for s in spans if s.type in LOCATION_CLASS), key=lambda s: (s.start, -s.end))
    if len(loc) < 2:
        return spans
    merged: list[Span] = []
    for s in loc:
        gap = text[merged[-1].end : s.start] if merged else ""
        if merged and s.start <= merged[-1].end + 3 and not gap.strip(" ,\n"):
            p = merged[-1]
            kind = "ADDRESS" if "ADDRESS" in (p.type, s.type) else "LOCATION"
            # an address piece next to another place reaches at least the threshold of either
            merged[-1] = Span(
                kind, p.start, max(p.end, s.end), max(p.score, s.score, min(0.7, p.score + s.score))
            )
        else:
            merged.append(s)
    return [s for s in spans if s.type not in LOCATION_CLASS] + merged
