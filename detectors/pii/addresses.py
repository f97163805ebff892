"""Street addresses (US/UK/DE/FR/ES/IT/NL formats) and places after a residence or travel cue ("I
live in X") for the PII detector."""

from __future__ import annotations

from typing import ClassVar

from detectors.pii.regex_recognizer import CueRecognizer, RegexRecognizer
from detectors.pii.street_types import EN_TYPES, FR_TYPES, GERMANIC_TYPES, ROMANCE_TYPES
from detectors.pii.words import CAP, PARTICLE, UPPER, any_of

_UNIT = (
    r"(?:Apt\.?|Apartment|Suite|Ste\.?|Unit|Flat|Studio|Floor|Fl\.?|Piso|Puerta|Appartamento|"
    r"Piano|Scala|Interno|Int\.?|Etage|Stock|Bus|Bte|Bâtiment|Bât\.?)\s*\d{1,5}[A-Za-z]?"
)
_NUM = r"\d{1,5}[A-Za-z]?(?:\s?[-/]\s?\d{1,5}[A-Za-z]?)?"
_CITY = (
    rf"{CAP}(?:[\s-](?:(?:sur|sous|en|le|la|les|am|an|der|im|di|de|del)[\s-])?{CAP}){{0,3}}"
    r"(?:\s\([A-Z]{2}\))?"
)
_EN, _FR, _GE = any_of(EN_TYPES), any_of(FR_TYPES), any_of(GERMANIC_TYPES)
_RO = any_of(ROMANCE_TYPES + [w.capitalize() for w in FR_TYPES])
_WORDS = rf"(?:[dl]'|{PARTICLE}\s+)?{CAP}(?:\s+(?:[dl]'|{PARTICLE}\s+)?{CAP})"  # + {{m,n}}
_END = r"(?=\s*(?:[.!?;]|$))"


class AddressRecognizer(RegexRecognizer):
    """Street + number (both orders), optional unit, optional postcode/city tail."""

    _tail = (
        rf"(?:,?\s+{_UNIT})?"
        rf"(?:,\s*{_CITY},\s*[A-Z]{{2}}\s+\d{{5}}(?:-\d{{4}})?"  # US: , City, ST 12345
        rf"|,?\s+\d{{5}},?\s+{_CITY}"  # DE/FR/IT: 12345 City
        rf"|,?\s+\d{{4}}\s?[A-Z]{{2}}(?:,?\s+{_CITY})?"  # NL: 1234 AB City
        rf"|,\s*{_CITY},\s*\d{{5}}"  # ES: City, 12345
        rf"|,\s*(?:{_CITY},\s*)?[A-Z]{{1,2}}\d[A-Z\d]?\s?\d[A-Z]{{2}}"  # UK postcode
        rf"|\s?,\s*{_CITY}{_END})?"
    )  # , City.
    PATTERNS = (
        # 12 Baker Street / 7631 Johnson Village Suite 690, Adamsbury, OR 13900
        (rf"\b(?P<v>\d{{1,5}}[A-Za-z]?\s+(?:{CAP}\s+){{1,4}}?(?:{_EN})s?\b\.?{_tail})", 0.7),
        # 12, rue de la Paix 75001 Paris
        (
            rf"\b(?P<v>\d{{1,4}}(?:\s?(?:bis|ter))?,?\s+(?:{_FR})\s+(?:[dl]'|{PARTICLE}\s+)?"
            rf"(?:{CAP}|{PARTICLE})(?:\s+(?:[dl]'|{PARTICLE}\s+)?{CAP}){{0,4}}{_tail})",
            0.7,
        ),
        # Via Roma, 12 / Calle de Florinda Pino 81 Apt. 66 / Rue de la Paix 4
        (
            rf"\b(?P<v>(?:{_RO})\s+(?:{PARTICLE}\s+)?{CAP}(?:\s+(?:{PARTICLE}\s+)?{CAP}){{0,3}}"
            rf",?\s+{_NUM}{_tail})",
            0.7,
        ),
        # Baker Street 2 (number after the street, as on the continent)
        (rf"\b(?P<v>(?:{CAP}\s+){{1,3}}(?:{_EN})s?\s+{_NUM}(?![\d.,]\d){_tail})", 0.6),
        # Hauptstraße 5, Wolfgang-Knappe-Weg 6867, Kerkstraat 12, Am Markt 3
        (rf"\b(?P<v>[{UPPER}][\w'-]*(?i:{_GE})\.?\s+{_NUM}{_tail})", 0.7),
        # boulevard Aurélie Schmitt, 33519 Saint-Auguste (no house number, but a postcode)
        (rf"\b(?P<v>(?i:{_FR})\s+{_WORDS}{{0,4}},?\s+\d{{5}}\s+{_CITY})", 0.7),
        # UK style without number: Flat 7, Jones Light, North Holly, S6 7LJ
        (rf"\b(?P<v>{_UNIT},\s*(?:{CAP}\s+){{1,3}}(?:{_EN})s?\b)", 0.6),
        # US military: PSC 8795, Box 6464, APO AP 56828 / USNS Miller, FPO AE 12345
        (
            r"\b(?P<v>(?:(?:PSC|Unit|CMR|USNS|USS|USNV|USCGC)\s+[\w ]{1,30}?,"
            r"\s*(?:Box\s+\d+,\s*)?)?"
            r"(?:APO|FPO|DPO)\s+(?:AA|AE|AP)\s+\d{5})\b",
            0.7,
        ),
        # rue Huet, Payet (French street without number: needs a context word, e.g. "office")
        (rf"(?<![\w,])\s(?P<v>(?:{_FR})\s+{_WORDS}{{0,3}}(?:,\s*{_CITY}{_END})?)", 0.45),
        # postcode alone next to a city: 66907 Werdau / 1234 AB Amsterdam / SW1A 1AA
        (rf"(?<![\w/.-])(?P<v>\d{{5}}\s+{_CITY})", 0.35),
        (rf"(?<![\w/.-])(?P<v>[1-9]\d{{3}}\s?[A-Z]{{2}}\s+{_CITY})", 0.35),
        (r"\b(?P<v>[A-Z]{1,2}\d[A-Z\d]?\s\d[A-Z]{2})\b", 0.5),
    )
    DIGITLESS = (8,)  # only "rue Huet, Payet" matches without a digit
    CONTEXT: ClassVar[list[str]] = """
        address ship deliver delivery send live office located street adresse anschrift
        indirizzo dirección adres post
    """.split()

    def __init__(self) -> None:
        super().__init__("ADDRESS", self.CONTEXT)


class PlaceCueRecognizer(CueRecognizer):
    """A capitalised place name after a residence/travel cue: "I live in X", "customer in X"."""

    _cue = (
        r"(?:live|lives|lived|living|moved|moving|relocated|relocating|based|located|born|"
        r"resides?|residing|staying|stay|travel(?:l)?ing|flying|trip|customers?|clients?|"
        r"office|shop|store|branch|arrived|come|comes|coming|visiting|visit)"
    )
    PATTERNS = (
        (rf"\b{_cue}\s+(?:[\w.'-]+\s+){{0,4}}?(?:in|to|from|at|near)\s+(?P<v>{_CITY})", 0.6),
    )
    STOP = frozenset(
        """
            Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March
            April May June July August September October November December Settings Support
            The A An My Your Our This That It I Me We You They Customer Account Team
        """.split()
    )

    def __init__(self) -> None:
        super().__init__("LOCATION")
