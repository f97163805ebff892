"""Custom Presidio recognizers for detectors/pii.py: what vanilla Presidio misses.

Street addresses (US/UK/DE/FR/ES/IT/NL formats), names after a cue ("my name is", "Mr", "Dear",
a sign-off), places after a cue ("I live in"), phone numbers in the many written shapes
phonenumbers rejects and cards of every IIN range (detectors/pii_numbers.py), an e-mail
recognizer that never downloads the public suffix list, GDPR Art. 9 terms
(detectors/pii_special.py). Every recognizer
is general: vocabularies of street types, honorifics and cues, not lists of known values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import tldextract
from presidio_analyzer import AnalysisExplanation, LocalRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import EmailRecognizer

# tldextract's default extractor fetches the public suffix list over HTTP on first use. This one
# only ever reads the snapshot bundled with the package: no network, no cache directory.
OFFLINE_TLD = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's e-mail regex, validated against the bundled public-suffix snapshot."""

    def validate_result(self, pattern_text: str) -> bool:
        return OFFLINE_TLD(pattern_text).fqdn != ""


def ndigits(text: str) -> int:
    return sum(map(str.isdigit, text))


def gated(recognizer: Any, test: Callable[[str], bool]) -> Any:
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


def _alt(words: Iterable[str]) -> str:
    return "|".join(sorted((re.escape(w) for w in words), key=len, reverse=True))


_UP = "A-ZÀ-ÖØ-ÞŁŚŻŹĆŃ"  # capitals incl. Latin-1/Latin Extended
_LO = "a-zß-öø-ÿłśżźćńąęčřšžı"
CAP = rf"[{_UP}][{_LO}]+(?:[-'’][{_UP}{_LO}][{_LO}]+)*"  # capitalised word: O'Neil, Marie-Luise
_PARTICLE = (
    r"(?:van der|van den|van de|von der|de la|de los|del|della|van|von|de|der|den|di|da|"
    r"du|dos|le|la|y|zu|ten|ter)"
)
NAME = rf"{CAP}(?:\s+(?:{_PARTICLE}\s+)?{CAP}){{0,3}}"

# ---------------------------------------------------------------- addresses
# USPS street suffixes (each may take a plural "s") plus common British ones
_EN_TYPES = [
    "Street",
    "St",
    "Avenue",
    "Ave",
    "Road",
    "Rd",
    "Lane",
    "Ln",
    "Drive",
    "Dr",
    "Boulevard",
    "Blvd",
    "Court",
    "Ct",
    "Place",
    "Pl",
    "Way",
    "Terrace",
    "Close",
    "Crescent",
    "Square",
    "Sq",
    "Parkway",
    "Pkwy",
    "Highway",
    "Hwy",
    "Alley",
    "Circle",
    "Cir",
    "Trail",
    "Row",
    "Hill",
    "Gardens",
    "Mews",
    "Grove",
    "Park",
    "Walk",
    "Green",
    "Gate",
    "Rise",
    "View",
    "Vista",
    "Ridge",
    "Path",
    "Pike",
    "Plaza",
    "Heights",
    "Crossing",
    "Crossroad",
    "Loop",
    "Run",
    "Point",
    "Port",
    "Harbor",
    "Harbour",
    "Estate",
    "Village",
    "Junction",
    "Extension",
    "Expressway",
    "Freeway",
    "Throughway",
    "Turnpike",
    "Trafficway",
    "Light",
    "Ferry",
    "Ford",
    "Fork",
    "Falls",
    "Fall",
    "Field",
    "Glen",
    "Haven",
    "Island",
    "Isle",
    "Key",
    "Knoll",
    "Lake",
    "Landing",
    "Manor",
    "Meadow",
    "Mill",
    "Mission",
    "Mount",
    "Mountain",
    "Neck",
    "Orchard",
    "Oval",
    "Overpass",
    "Pass",
    "Passage",
    "Pine",
    "Plain",
    "Prairie",
    "Radial",
    "Ramp",
    "Ranch",
    "Rapid",
    "Rest",
    "River",
    "Route",
    "Shoal",
    "Shore",
    "Skyway",
    "Spring",
    "Spur",
    "Station",
    "Stravenue",
    "Stream",
    "Summit",
    "Trace",
    "Track",
    "Tunnel",
    "Underpass",
    "Union",
    "Valley",
    "Viaduct",
    "Ville",
    "Wall",
    "Well",
    "Burg",
    "Bypass",
    "Camp",
    "Canyon",
    "Cape",
    "Causeway",
    "Center",
    "Centre",
    "Cliff",
    "Club",
    "Common",
    "Corner",
    "Course",
    "Cove",
    "Creek",
    "Crest",
    "Curve",
    "Dale",
    "Dam",
    "Divide",
    "Flat",
    "Forest",
    "Forge",
    "Fort",
    "Garden",
    "Gateway",
    "Hollow",
    "Inlet",
    "Lock",
    "Lodge",
    "Loaf",
    "Mall",
    "Motorway",
    "Parade",
    "Bank",
    "Broadway",
    "Embankment",
    "Approach",
    "Wharf",
    "Yard",
    "Brook",
    "Bluff",
    "Bottom",
    "Branch",
    "Bridge",
    "Heath",
    "Drove",
    "Chase",
]
_UNIT = (
    r"(?:Apt\.?|Apartment|Suite|Ste\.?|Unit|Flat|Studio|Floor|Fl\.?|Piso|Puerta|Appartamento|"
    r"Piano|Scala|Interno|Int\.?|Etage|Stock|Bus|Bte|Bâtiment|Bât\.?)\s*\d{1,5}[A-Za-z]?"
)
_ROMANCE_TYPES = [
    "Via",
    "Viale",
    "Piazza",
    "Piazzale",
    "Corso",
    "Largo",
    "Vicolo",
    "Strada",
    "Borgo",
    "Contrada",
    "Rotonda",
    "Stretto",
    "Canale",
    "Incrocio",
    "Lungomare",
    "Calle",
    "Avenida",
    "Avda.",
    "Paseo",
    "Plaza",
    "Camino",
    "Carrer",
    "Carretera",
    "Ronda",
    "Rambla",
    "Travesía",
    "Callejón",
    "Glorieta",
    "Urbanización",
    "Cañada",
    "Alameda",
    "Acceso",
    "Vial",
    "Pasaje",
    "Pasadizo",
    "Cuesta",
    "Ruta",
    "Senda",
    "Partida",
    "Plazuela",
    "Praza",
    "Rúa",
]
_FR_TYPES = [
    "rue",
    "avenue",
    "av.",
    "boulevard",
    "bd",
    "chemin",
    "place",
    "allée",
    "impasse",
    "quai",
    "route",
    "cours",
    "square",
    "voie",
    "passage",
]
_GERMANIC = [
    "straße",
    "strasse",
    "str.",
    "weg",
    "gasse",
    "allee",
    "platz",
    "ring",
    "damm",
    "ufer",
    "chaussee",
    "steig",
    "pfad",
    "markt",
    "straat",
    "laan",
    "plein",
    "singel",
    "gracht",
    "kade",
    "dijk",
    "steeg",
    "hof",
    "pad",
    "dreef",
    "baan",
    "park",
    "plantsoen",
]
_NUM = r"\d{1,5}[A-Za-z]?(?:\s?[-/]\s?\d{1,5}[A-Za-z]?)?"
_CITY = (
    rf"{CAP}(?:[\s-](?:(?:sur|sous|en|le|la|les|am|an|der|im|di|de|del)[\s-])?{CAP}){{0,3}}"
    r"(?:\s\([A-Z]{2}\))?"
)
_EN, _FR, _GE = _alt(_EN_TYPES), _alt(_FR_TYPES), _alt(_GERMANIC)
_RO = _alt(_ROMANCE_TYPES + [w.capitalize() for w in _FR_TYPES])
_WORDS = rf"(?:[dl]'|{_PARTICLE}\s+)?{CAP}(?:\s+(?:[dl]'|{_PARTICLE}\s+)?{CAP})"  # + {{m,n}}
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
            rf"\b(?P<v>\d{{1,4}}(?:\s?(?:bis|ter))?,?\s+(?:{_FR})\s+(?:[dl]'|{_PARTICLE}\s+)?"
            rf"(?:{CAP}|{_PARTICLE})(?:\s+(?:[dl]'|{_PARTICLE}\s+)?{CAP}){{0,4}}{_tail})",
            0.7,
        ),
        # Via Roma, 12 / Calle de Florinda Pino 81 Apt. 66 / Rue de la Paix 4
        (
            rf"\b(?P<v>(?:{_RO})\s+(?:{_PARTICLE}\s+)?{CAP}(?:\s+(?:{_PARTICLE}\s+)?{CAP}){{0,3}}"
            rf",?\s+{_NUM}{_tail})",
            0.7,
        ),
        # Baker Street 2 (number after the street, as on the continent)
        (rf"\b(?P<v>(?:{CAP}\s+){{1,3}}(?:{_EN})s?\s+{_NUM}(?![\d.,]\d){_tail})", 0.6),
        # Hauptstraße 5, Wolfgang-Knappe-Weg 6867, Kerkstraat 12, Am Markt 3
        (rf"\b(?P<v>[{_UP}][\w'-]*(?i:{_GE})\.?\s+{_NUM}{_tail})", 0.7),
        # boulevard Aurélie Schmitt, 33519 Saint-Auguste (no house number, but a postcode)
        (rf"\b(?P<v>(?i:{_FR})\s+{_WORDS}{{0,4}},?\s+\d{{5}}\s+{_CITY})", 0.7),
        # UK style without number: Flat 7, Jones Light, North Holly, S6 7LJ
        (rf"\b(?P<v>{_UNIT},\s*(?:{CAP}\s+){{1,3}}(?:{_EN})s?\b)", 0.6),
        # US military: PSC 8795, Box 6464, APO AP 56828 / USNS Miller, FPO AE 12345
        (
            r"\b(?P<v>(?:(?:PSC|Unit|CMR|USNS|USS|USNV|USCGC)\s+[\w ]{1,30}?,\s*(?:Box\s+\d+,\s*)?)?"
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
    CONTEXT = [
        "address",
        "ship",
        "deliver",
        "delivery",
        "send",
        "live",
        "office",
        "located",
        "street",
        "adresse",
        "anschrift",
        "indirizzo",
        "dirección",
        "adres",
        "post",
    ]

    def __init__(self) -> None:
        super().__init__("ADDRESS", self.CONTEXT)


class PlaceCueRecognizer(RegexRecognizer):
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
        [
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
            "Sunday",
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
            "Settings",
            "Support",
            "The",
            "A",
            "An",
            "My",
            "Your",
            "Our",
            "This",
            "That",
            "It",
            "I",
            "Me",
            "We",
            "You",
            "They",
            "Customer",
            "Account",
            "Team",
        ]
    )

    def __init__(self) -> None:
        super().__init__("LOCATION")

    def score(self, text: str, start: int, end: int, base: float) -> float:
        first = text[start:end].split()[0]
        if first in self.STOP or (len(first) <= 4 and text.startswith(".", start + len(first))):
            return 0.0  # a common word, or an abbreviation ("Dott.", "Sig.")
        return base


# ---------------------------------------------------------------- people
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


class PersonCueRecognizer(RegexRecognizer):
    """A name right after an honorific, an introduction, a greeting or a sign-off, or a name
    followed by "here" ("Anna Berg here")."""

    PATTERNS = (
        (rf"\b{_HONORIFIC}\.?\s+(?P<v>{NAME})", 0.9),
        (rf"(?:^|(?<=[\s,(]))(?<![\w'])(?:{_STRONG_CUES})[ \t]*\n?[ \t]*(?P<v>{NAME})", 0.9),
        (rf"(?:^|(?<=[\s,(]))(?<![\w'])(?:{_WEAK_CUES})[ \t]*\n?[ \t]*(?P<v>{NAME})", 0.7),
        (rf"(?:^|(?<=[.!?]\s))(?P<v>{NAME})\s+here\b", 0.7),
    )
    STOP = frozenset(
        [
            "Mr",
            "Mrs",
            "Ms",
            "Miss",
            "Mx",
            "Dr",
            "Prof",
            "Sir",
            "Dame",
            "Herr",
            "Frau",
            "Mme",
            "Mlle",
            "Madame",
            "Monsieur",
            "The",
            "A",
            "An",
            "I",
            "I'm",
            "It",
            "Is",
            "Are",
            "Was",
            "Please",
            "Thanks",
            "Thank",
            "Hello",
            "Hi",
            "Hey",
            "Dear",
            "Team",
            "Support",
            "Sir",
            "Madam",
            "Everyone",
            "All",
            "There",
            "Again",
            "Customer",
            "Customers",
            "Service",
            "Sales",
            "Billing",
            "Account",
            "Order",
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
            "Sunday",
            "What",
            "When",
            "Why",
            "How",
            "Where",
            "Which",
            "Who",
            "Can",
            "Could",
            "Would",
            "Will",
            "Do",
            "Does",
            "Did",
            "Is",
            "Yes",
            "No",
            "Ok",
            "Okay",
            "Sorry",
            "Good",
            "Great",
            "Your",
            "My",
            "Our",
            "We",
            "You",
            "They",
            "He",
            "She",
            "This",
            "That",
            "Unfortunately",
            "Also",
            "Just",
            "Still",
            "Here",
            "Now",
            "Today",
            "Tomorrow",
            "Yesterday",
        ]
    )

    def __init__(self) -> None:
        super().__init__("PERSON")

    def score(self, text: str, start: int, end: int, base: float) -> float:
        first = text[start:end].split()[0]
        if first in self.STOP or (len(first) <= 4 and text.startswith(".", start + len(first))):
            return 0.0  # a common word, or an abbreviation ("Dott.", "Sig.")
        return base


def custom_recognizers() -> list[LocalRecognizer]:
    from detectors.pii_numbers import CardRecognizer, PhoneShapeRecognizer
    from detectors.pii_special import SpecialCategoryRecognizer

    return [
        AddressRecognizer(),
        PlaceCueRecognizer(),
        PersonCueRecognizer(),
        PhoneShapeRecognizer(),
        CardRecognizer(),
        OfflineEmailRecognizer(),
        SpecialCategoryRecognizer(),
    ]
