"""Regex fragments the address and person recognizers share: capitalised words (Latin-1 and Latin
Extended letters), name particles ("van der", "de la"), names, and an alternation of words."""

from __future__ import annotations

import re
from collections.abc import Iterable


def any_of(words: Iterable[str]) -> str:
    return "|".join(sorted((re.escape(w) for w in words), key=len, reverse=True))


UPPER = "A-ZÀ-ÖØ-ÞŁŚŻŹĆŃ"  # capitals incl. Latin-1/Latin Extended
LOWER = "a-zß-öø-ÿłśżźćńąęčřšžı"
#: a capitalised word: O'Neil, Marie-Luise
CAP = rf"[{UPPER}][{LOWER}]+(?:[-'’][{UPPER}{LOWER}][{LOWER}]+)*"
PARTICLE = (
    r"(?:van der|van den|van de|von der|de la|de los|del|della|van|von|de|der|den|di|da|"
    r"du|dos|le|la|y|zu|ten|ter)"
)
NAME = rf"{CAP}(?:\s+(?:{PARTICLE}\s+)?{CAP}){{0,3}}"
