"""Number-shaped personal data for the PII detector: phone numbers (as people write them, and
Presidio's phonenumbers-based PhoneRecognizer run on those windows only) and payment cards."""

from __future__ import annotations

import re
from typing import ClassVar

import phonenumbers
from presidio_analyzer import RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import PhoneRecognizer

from detectors.pii.regex_recognizer import RegexRecognizer, ndigits


def _digits(s: str) -> str:
    return "".join(c for c in s if c.isdigit())


def luhn(number: str) -> bool:
    total, parity = 0, len(number) % 2
    for i, ch in enumerate(number):
        d = ord(ch) - 48
        if i % 2 == parity:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


class PhoneShapeRecognizer(RegexRecognizer):
    """Phone numbers as people write them: +CC, (0), area code in brackets, 00 prefix, separators,
    extensions. 7-15 digits; dates, IPs, SSNs and amounts are rejected."""

    PATTERNS = (
        (
            r"(?<![\w+/.-])(?P<v>(?:\+|00)?\d{1,4}(?:\s?\(0\))?(?:[\s.-]?\(?\d{1,5}\)?){1,6}"
            r"(?:\s?(?:x|ext\.?|#)\s?\d{1,6})?)(?![\w/.-]*\d)",
            0.4,
        ),
        (
            r"(?<![\w+/.-])(?P<v>\(\d{2,5}\)\s?\d[\d\s.-]{4,14}\d"
            r"(?:\s?(?:x|ext\.?)\s?\d{1,6})?)",
            0.4,
        ),
    )
    _NOT = re.compile(
        r"^(?:\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\d{1,3}(?:\.\d{1,3}){3}|"
        r"\d{3}-\d{2}-\d{4}|"
        r"\d+[.,]\d{1,2})$"
    )
    CONTEXT: ClassVar[list[str]] = """
        phone tel telephone mobile cell call number reach contact whatsapp sms text fax ring
        dial handy telefon téléphone telefono teléfono portable móvil cellulare
    """.split()

    def __init__(self) -> None:
        super().__init__("PHONE_NUMBER", self.CONTEXT)

    def gate(self, text: str) -> bool:
        return ndigits(text) >= 7

    def score(self, text: str, start: int, end: int, base: float) -> float:
        value = text[start:end]
        digits = _digits(re.split(r"\s?(?:x|ext\.?|#)\s?\d+$", value)[0])
        if not 7 <= len(digits) <= 15 or self._NOT.match(value):
            return 0.0
        if value.startswith(("+", "00")) or "(0)" in value or value.startswith("("):
            return 0.6
        if re.search(r"\d[\s.-]\d", value) and not re.fullmatch(r"\d{3}-\d{2}-\d{4}", value):
            return 0.45
        return base


class WindowedPhoneRecognizer(PhoneRecognizer):
    """Presidio's PhoneRecognizer (phonenumbers matching per configured region, its scores and
    context words), consulted only where neither the number's written form (+CC, (0), brackets)
    nor a context word in the text settles it; run on the phone-shaped windows
    PhoneShapeRecognizer finds instead of the whole text, stopping at the first region that
    validates a window. Otherwise phonenumbers dominates the analysis time."""

    _shapes = PhoneShapeRecognizer()

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        out: list[RecognizerResult] = []
        lower = text.lower()
        if any(w in lower for w in self.context):
            return out  # a context word settles every phone-shaped number here already
        leniency = self.leniency
        assert leniency is not None  # PhoneRecognizer's default is 1, phonenumbers' VALID
        for shape in self._shapes.analyze(text, entities):
            if shape.score >= 0.6:
                continue  # +CC / (0) / (area) forms: certain already, nothing to validate
            lo, hi = max(0, shape.start - 1), min(len(text), shape.end + 1)
            window = text[lo:hi]
            intl = text[shape.start] == "+" or text.startswith("00", shape.start)
            for region in self.supported_regions[:1] if intl else self.supported_regions:
                found = list(phonenumbers.PhoneNumberMatcher(window, region, leniency=leniency))
                for match in found:
                    result = self._get_recognizer_result(  # type: ignore[no-untyped-call]
                        match, window, region, None
                    )
                    result.start, result.end = result.start + lo, result.end + lo
                    out.append(result)
                if found:
                    break
        return out


class CardRecognizer(RegexRecognizer):
    """12-19 digit card numbers of any IIN range (Presidio's pattern misses 2-series Mastercard,
    15-digit JCB and 12-digit Maestro), grouped or not, Luhn-checked. Known IIN ranges score
    0.8; a 12-digit Maestro-range number only 0.4, so it needs a context word ("card")."""

    PATTERNS = ((r"(?<![\w-])(?P<v>[1-6]\d{3}(?:[ -]?\d{2,6}){2,4})(?![\w-])", 0.5),)
    CONTEXT: ClassVar[list[str]] = """
        card credit debit visa mastercard amex cc karte carte tarjeta carta kaart
    """.split()

    def __init__(self) -> None:
        super().__init__("CREDIT_CARD", self.CONTEXT)

    def gate(self, text: str) -> bool:
        return ndigits(text) >= 12

    def score(self, text: str, start: int, end: int, base: float) -> float:
        digits = _digits(text[start:end])
        if not 12 <= len(digits) <= 19 or not luhn(digits):
            return 0.0
        if len(digits) == 12:
            return 0.4 if digits[:2] == "50" or "56" <= digits[:2] <= "69" else 0.0
        known = digits[0] in "3456" or "22" <= digits[:2] <= "27" or digits[:4] in ("2131", "1800")
        return 0.8 if known else base
