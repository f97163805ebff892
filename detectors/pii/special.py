"""GDPR Art. 9 special categories of personal data for the PII detector: health, religion, ethnic
origin, sexual orientation, political opinion (and trade-union membership, counted as political
opinion). Term lists matched in one regex pass; a term counts only in a sentence about a person
("I", "my", "she", "patient"...), so "does the plan cover diabetes?" is not flagged.
"""

from __future__ import annotations

import re

from detectors.pii.entities import SPECIAL_CATEGORIES
from detectors.pii.regex_recognizer import RegexRecognizer

#: category → comma-separated regex terms (spaces match any whitespace)
SPECIAL_TERMS: dict[str, str] = {
    "HEALTH_DATA": """diabetes, diabetic, cancer, tumou?r, leuka?emia, chemo(?:therapy)?, HIV,
        (?-i:AIDS), hepatitis, tuberculosis, depression, depressed, anxiety(?: disorder)?, bipolar,
        schizophreni\\w*, ADHD, autism, autistic, dementia, alzheimer'?s, parkinson'?s, epilepsy,
        epileptic, asthma, heart attack, pregnant, pregnancy, miscarriage, abortion, IVF,
        infertility, (?-i:STDs?|STIs?), chlamydia, herpes, syphilis, insulin, metformin,
        sertraline, fluoxetine, prozac, xanax, antidepressants?, antipsychotics?, methadone,
        rehab, addiction, alcoholism, overdose, suicidal, self-harm, anorexia, bulimia, eating
        disorder, disability, wheelchair user, diagnosed(?: with)?, psychiatrist, chronic illness,
        multiple sclerosis, long covid, HIV-positive""",
    "RELIGION": """muslim, islam, islamic, christianity,
        (?-i:(?:a|practising|practicing) Christian),
        catholic, protestant, evangelical, jewish, jew, judaism, hindu, hinduism, buddhist,
        buddhism, sikh, atheist, agnostic, mormon, jehovah'?s witness, mosque, synagogue,
        ramadan""",
    "ETHNICITY": """ethnicity, ethnic (?:origin|background|minority|group),
        racial (?:background|origin), romani, aboriginal, indigenous,
        (?:i am|i'm|we are|she is|he is)
        (?:black|white|asian|hispanic|latin[oa]|arab)""",
    "SEXUAL_ORIENTATION": """gay, lesbian, bisexual, homosexual, transgender, queer, LGBT\\w*,
        non-binary, same-sex (?:partner|couple|marriage), coming out""",
    "POLITICAL_OPINION": """democrats?, republicans?, labour party, tory, tories,
        conservative party,
        green party, communist, socialist, (?-i:AfD|CDU|SPD), political (?:views|opinion|beliefs),
        (?:i|we)
        (?:vote|voted) (?:for|against), party member, member of the \\w+ party, trade union, union
        member""",
}
_PERSONAL = re.compile(
    r"(?i)\b(?:i|i'm|i've|i'd|my|me|mine|we|our|us|he|she|his|her|him|they|"
    r"their|son|daughter|wife|husband|partner|mother|father|mum|mom|dad|"
    r"patient|employee|customer|client|applicant|candidate)\b"
)
_NAMED_SUBJECT = re.compile(r"\b[A-Z][a-z]+ (?:is|has|was|had)\b")


def personal_context(text: str, start: int, end: int) -> bool:
    """Whether the sentence around text[start:end] (80 characters at most either side) is about
    a person: a first/third-person pronoun, a relative, a role, or "<Name> is/has"."""
    lo = (
        max(
            text.rfind(".", 0, start),
            text.rfind("?", 0, start),
            text.rfind("!", 0, start),
            start - 80,
            -1,
        )
        + 1
    )
    ends = [i for i in (text.find(".", end), text.find("?", end), text.find("!", end)) if i >= 0]
    window = text[lo:start] + " " + text[end : min([*ends, end + 80])]
    return bool(_PERSONAL.search(window) or _NAMED_SUBJECT.search(window))


def _terms(category: str) -> str:
    terms = [
        " ".join(t.split()).replace(" ", r"\s+")
        for t in SPECIAL_TERMS[category].split(",")
        if t.strip()
    ]
    return "|".join(sorted(terms, key=len, reverse=True))


class SpecialCategoryRecognizer(RegexRecognizer):
    """GDPR Art. 9 categories from term lists, one regex pass for all of them (a named group per
    category). A term near a personal cue ("I", "my", "she", "patient", ...) in its sentence
    scores 0.85; a bare mention ("does the plan cover diabetes?") 0.3, below the threshold."""

    PATTERNS = (
        (
            r"(?i)\b(?:"
            + "|".join(f"(?P<{c}>{_terms(c)})" for c in SPECIAL_CATEGORIES)
            + r")(?![\w-])",
            0.85,
        ),
    )

    def __init__(self) -> None:
        super().__init__(SPECIAL_CATEGORIES[0])
        self.supported_entities = list(SPECIAL_CATEGORIES)

    def span(self, m: re.Match[str]) -> tuple[int, int]:
        return m.span(m.lastgroup or 0)

    def entity(self, m: re.Match[str]) -> str:
        return m.lastgroup or SPECIAL_CATEGORIES[0]

    def score(self, text: str, start: int, end: int, base: float) -> float:
        return base if personal_context(text, start, end) else 0.3
