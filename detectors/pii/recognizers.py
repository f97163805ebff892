"""The PII detector's own recognizers, what vanilla Presidio misses: street addresses, names and
places after a cue, phone numbers in the many written shapes phonenumbers rejects and cards of
every IIN range, an e-mail recognizer that never downloads the public suffix list, and GDPR
Art. 9 terms. Every recognizer is general: vocabularies of street types, honorifics and cues,
not lists of known values.
"""

from __future__ import annotations

from presidio_analyzer import LocalRecognizer

from detectors.pii.addresses import AddressRecognizer, PlaceCueRecognizer
from detectors.pii.emails import OfflineEmailRecognizer
from detectors.pii.numbers import CardRecognizer, PhoneShapeRecognizer
from detectors.pii.people import PersonCueRecognizer
from detectors.pii.special import SpecialCategoryRecognizer


def custom_recognizers() -> list[LocalRecognizer]:
    return [
        AddressRecognizer(),
        PlaceCueRecognizer(),
        PersonCueRecognizer(),
        PhoneShapeRecognizer(),
        CardRecognizer(),
        OfflineEmailRecognizer(),
        SpecialCategoryRecognizer(),
    ]
