"""From the recognizers' raw results to the PII detector's findings: whether the NER still has
something to find in a text, and ``resolve``, which merges address pieces, applies the threshold,
drops place and lone-name findings that are not about a person, and settles overlaps."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from detectors.pii.special import personal_context

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


_CAPWORD = re.compile(r"[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ]+(?:[-'’][A-Za-zÀ-ÖØ-öø-ÿ]+)*")
_CALENDAR = frozenset(
    """
        Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March
        April May June July August September October November December
    """.split()
)


def needs_ner(text: str, results: Sequence[Any], threshold: float) -> bool:
    """Whether the NER could add anything: a Capitalised word (not ALLCAPS, not a weekday or
    month) outside every finding and not the title right before one ("Dr. <PERSON>"), which is
    not just the first word of a sentence (that one counts only when the next word is an
    unexplained capitalised word too: "Anna Berg called")."""
    kept = [r for r in results if r.score >= threshold]
    covered = [(r.start, r.end) for r in kept]
    names = [r.start for r in kept if r.entity_type == "PERSON"]

    def explained(start: int, end: int) -> bool:  # inside a finding, or a title before a name
        return any(a <= start < b for a, b in covered) or (
            end - start <= 5 and any(end <= a <= end + 2 for a in names)
        )

    for m in _CAPWORD.finditer(text):
        if m.group() in _CALENDAR or explained(m.start(), m.end()):
            continue
        before = text[max(0, m.start() - 6) : m.start()].rstrip(" \t\"'(“‘")
        if not before or before[-1] in ".!?:;\n":
            nxt = _CAPWORD.match(text, m.end() + 1)
            if nxt is None or text[m.end()] not in " \t" or explained(nxt.start(), nxt.end()):
                continue
        return True
    return False


_LINKING = frozenset(
    ("PERSON", "ADDRESS", "EMAIL_ADDRESS", "PHONE_NUMBER", "IBAN_CODE", "CREDIT_CARD", "US_SSN")
)


_VOCATIVE = re.compile(r"\s*[!.?,;]")


def _vocative(text: str, s: Span) -> bool:
    """ ", Anna!" / ", Anna." - someone addressed by name."""
    return text[: s.start].rstrip().endswith(",") and bool(_VOCATIVE.match(text, s.end))


def _single_ner(text: str, s: Span) -> bool:
    """A one-word PERSON from the NER (its least reliable output)."""
    return s.ner and s.type == "PERSON" and " " not in text[s.start : s.end].strip()


def _from_ner(result: Any) -> bool:
    meta = result.recognition_metadata or {}
    return meta.get("recognizer_name") == "SpacyRecognizer"


def _plausible(text: str, entity: str, start: int, end: int) -> bool:
    """Names and places start with a capital and hold no digits (the small NER model sometimes
    tags order or ticket ids)."""
    if entity not in ("PERSON", "LOCATION"):
        return True
    value = text[start:end]
    return value[:1].isupper() and not any(c.isdigit() for c in value)


def resolve(text: str, results: Sequence[Any], threshold: float) -> list[Span]:
    """Merge adjacent address/location pieces into one span, apply the threshold, drop spans
    contained in another, and settle partial overlaps by score."""
    spans = [
        Span(r.entity_type, r.start, r.end, float(r.score), _from_ner(r))
        for r in results
        if r.score > 0 and _plausible(text, r.entity_type, r.start, r.end)
    ]
    spans = _merge_locations(text, spans)
    spans = [s for s in spans if s.score >= threshold]
    # a bare place name ("Do you ship to Berlin?") is personal data only when it is about someone:
    # a personal cue in its sentence, or other personal data in the same text
    # so is a lone capitalised word the NER calls a person ("Do you ship to Lyon?" → PERSON)
    # unless it is addressed ("Thanks for waiting, Anna!")
    linked = any(s.type in _LINKING and not _single_ner(text, s) for s in spans)
    spans = [
        s
        for s in spans
        if linked
        or personal_context(text, s.start, s.end)
        or not (s.type == "LOCATION" or (_single_ner(text, s) and not _vocative(text, s)))
    ]
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
