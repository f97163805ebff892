"""The base of the PII detector's own recognizers: regex patterns with a per-match score, behind a
cheap whole-text gate; and the helpers that gate Presidio's recognizers the same way."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from presidio_analyzer import AnalysisExplanation, LocalRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts


def ndigits(text: str) -> int:
    return sum(map(str.isdigit, text))


def gated(recognizer: Any, test: Callable[[str], object]) -> Any:
    """Skip ``recognizer`` on texts that fail ``test``, a cheap check of something every one
    of its matches needs (digits, an "@"...)."""
    inner = recognizer.analyze

    def analyze(text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
        return inner(text, entities, nlp_artifacts) if test(text) else []

    recognizer.analyze = analyze
    return recognizer


class RegexRecognizer(LocalRecognizer):
    """Patterns whose named group ``v`` (or the whole match) is the entity; optional validation.
    ``gate`` is a cheap test on the whole text that skips the regexes when it fails."""

    name: str  # set by Presidio's EntityRecognizer (our class name)
    PATTERNS: tuple[tuple[str, float], ...] = ()
    FLAGS = 0
    #: indexes of the PATTERNS that can match a text without digits (None: all of them)
    DIGITLESS: tuple[int, ...] | None = None

    def __init__(self, entity: str, context: list[str] | None = None) -> None:
        self._compiled = [(re.compile(p, self.FLAGS), s) for p, s in self.PATTERNS]
        self._digitless = (
            self._compiled
            if self.DIGITLESS is None
            else [self._compiled[i] for i in self.DIGITLESS]
        )
        super().__init__(
            supported_entities=[entity],
            supported_language="en",
            context=context,
            name=type(self).__name__,
        )

    def load(self) -> None:
        pass

    def gate(self, text: str) -> bool:
        return True

    def score(self, text: str, start: int, end: int, base: float) -> float:
        """Final score of a match (0 drops it); default: the pattern's score."""
        return base

    def span(self, m: re.Match[str]) -> tuple[int, int]:
        return m.span("v") if "v" in m.re.groupindex else m.span()

    def entity(self, m: re.Match[str]) -> str:
        return self.supported_entities[0]

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if not self.gate(text):
            return []
        out: list[RecognizerResult] = []
        compiled = self._compiled if self.DIGITLESS is None or ndigits(text) else self._digitless
        for regex, base in compiled:
            for m in regex.finditer(text):
                start, end = self.span(m)
                while end > start and text[end - 1] in " ,.;:-":  # trailing punctuation
                    end -= 1
                score = self.score(text, start, end, base) if end > start else 0.0
                if score > 0:
                    out.append(self._result(self.entity(m), start, end, score))
        return out

    def _result(self, entity: str, start: int, end: int, score: float) -> RecognizerResult:
        return RecognizerResult(
            entity,
            start,
            end,
            score,
            AnalysisExplanation(self.name, score, pattern_name=self.name),
            {
                RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
            },
        )


class CueRecognizer(RegexRecognizer):
    """A capitalised name after a cue word ("Dear X", "I live in X"); a match whose first word is
    in ``STOP`` (a common capitalised word) or is a short abbreviation is dropped."""

    STOP: frozenset[str] = frozenset()

    def score(self, text: str, start: int, end: int, base: float) -> float:
        first = text[start:end].split()[0]
        if first in self.STOP or (len(first) <= 4 and text.startswith(".", start + len(first))):
            return 0.0  # a common word, or an abbreviation ("Dott.", "Sig.")
        return base
