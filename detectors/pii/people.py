"""Names after a cue for the PII detector: an honorific ("Mr", "Frau", "Dott.ssa"), an
introduction ("my name is"), a greeting ("Dear"), a sign-off ("Regards,"), or "<Name> here"."""

from __future__ import annotations

from detectors.pii.regex_recognizer import CueRecognizer
from detectors.pii.words import NAME

_HONORIFIC = (
    r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame|Herr|Frau|Mme|Mlle|Madame|Monsieur|M\.|"
    r"Sig\.(?:ra)?|Signor(?:a|e)?|Sra?\.?|Señora?|Dhr\.?|Mevr\.?|Mevrouw|Meneer|"
    r"Dott\.(?:ssa)?|Avv\.|Ing\.|Dipl\.-Ing\.|Univ\.Prof\.)"
)
_STRONG_CUES = (
    r"(?i:my name is|my name's|name:|i am|i'm|this is|call me|signed,?|regards,?|"
    r"sincerely,?|account holder|card ?holder|recipient:?|attn:?)"
)
_WEAK_CUES = (
    r"(?i:it's|best,|cheers,|thanks,?|thank you,?|dear|hi,?|hello,?|hey,?|customer|"
    r"client|patient|contact:?|technician|agent|colleague|manager|ask|cc:?)"
)


class PersonCueRecognizer(CueRecognizer):
    """A name right after an honorific, an introduction, a greeting or a sign-off, or a name
    followed by "here" ("Anna Berg here")."""

    PATTERNS = (
        (rf"\b{_HONORIFIC}\.?\s+(?P<v>{NAME})", 0.9),
        (rf"(?:^|(?<=[\s,(]))(?<![\w'])(?:{_STRONG_CUES})[ \t]*\n?[ \t]*(?P<v>{NAME})", 0.9),
        (rf"(?:^|(?<=[\s,(]))(?<![\w'])(?:{_WEAK_CUES})[ \t]*\n?[ \t]*(?P<v>{NAME})", 0.7),
        (rf"(?:^|(?<=[.!?]\s))(?P<v>{NAME})\s+here\b", 0.7),
    )
    STOP = frozenset(
        """
            Mr Mrs Ms Miss Mx Dr Prof Sir Dame Herr Frau Mme Mlle Madame Monsieur The A An I
            I'm It Is Are Was Please Thanks Thank Hello Hi Hey Dear Team Support Sir Madam
            Everyone All There Again Customer Customers Service Sales Billing Account Order
            Monday Tuesday Wednesday Thursday Friday Saturday Sunday What When Why How Where
            Which Who Can Could Would Will Do Does Did Is Yes No Ok Okay Sorry Good Great
            Your My Our We You They He She This That Unfortunately Also Just Still Here Now
            Today Tomorrow Yesterday
        """.split()
    )

    def __init__(self) -> None:
        super().__init__("PERSON")
