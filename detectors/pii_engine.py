"""The PII detector's engine: one Presidio AnalyzerEngine on a spaCy NER, batch analysis, span
resolution and redaction. Heavy (the spaCy model, Presidio): built once per process and set of
phone regions (``PIIEngine.shared``), on the first batch that carries text.

Batch path: every distinct text of the batch is tokenized (``make_doc``) and run through the
recognizers with those NlpArtifacts; then a single ``ner.pipe`` pass runs the NER, only over the
texts that still hold a capitalised word no recognizer explained (the NER is most of the cost and
only finds capitalised names and places); its PERSON/LOCATION findings are added, and
``resolve`` turns the raw results into the final, non-overlapping spans.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
from presidio_analyzer.nlp_engine import NerModelConfiguration, NlpArtifacts, SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    IbanRecognizer,
    IpRecognizer,
    SpacyRecognizer,
    UsSsnRecognizer,
)
from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import OperatorConfig
from presidio_anonymizer.entities import RecognizerResult as AnonymizerResult

from detectors.pii import DEFAULT_REGIONS, ENTITIES, NER_IGNORE, NER_MAPPING, SPACY_MODEL
from detectors.pii_numbers import WindowedPhoneRecognizer
from detectors.pii_recognizers import custom_recognizers, gated, ndigits
from detectors.pii_special import personal_context

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


def _use_numpy_blas(model: Any) -> None:
    """Run the model's matrix products through numpy's BLAS instead of thinc's bundled blis,
    which was measured 5-6x slower for the NER's layer shapes on the project's machines (blis
    picks a generic kernel there). Only this model's layers change; the weights are the same."""
    from thinc.api import NumpyOps

    ops = NumpyOps(use_blis=False)
    for node in model.walk():
        node.ops = ops


class NerOnlyNlpEngine(SpacyNlpEngine):
    """The spaCy model with only its NER running (it has its own tok2vec; tagger, parser,
    lemmatizer are not loaded). Lemmas are the lower-cased tokens, so context words are matched
    in their surface forms."""

    def load(self) -> None:
        import spacy
        from spacy.lang.en.stop_words import STOP_WORDS

        nlp = spacy.load(
            self.models[0]["model_name"],
            exclude=["tagger", "parser", "attribute_ruler", "lemmatizer", "senter"],
        )
        nlp.disable_pipe("tok2vec")  # only the tagger and parser listen to it
        _use_numpy_blas(nlp.get_pipe("ner").model)
        self.nlp = {"en": nlp}
        # spaCy's stop words include "call", "name", "back"...: keep_words (the recognizers'
        # context words) must stay keywords
        self.stop_words = set(STOP_WORDS) - getattr(self, "keep_words", set())

    # Presidio asks these for every token; a vocab lookup would add a lexeme per new word
    def is_stopword(self, word: str, language: str) -> bool:
        return word.lower() in self.stop_words

    def is_punct(self, word: str, language: str) -> bool:
        return not any(c.isalnum() for c in word)

    def _doc_to_nlp_artifact(self, doc: Any, language: str) -> NlpArtifacts:
        entities, scores = self._get_updated_entities(doc.ents, self._get_scores_for_entities(doc))
        # one pass over the tokens; the context enhancer only needs their lengths, so plain
        # strings stand in for spaCy tokens
        toks = [(t.text, t.idx, t.lower_) for t in doc]
        return NlpArtifacts(
            entities=entities,
            tokens=[t[0] for t in toks],
            scores=scores,
            tokens_indices=[t[1] for t in toks],
            nlp_engine=self,
            lemmas=[t[2] for t in toks],
            language=language,
        )


class _NoCopy(list):  # type: ignore[type-arg]
    def __deepcopy__(self, memo: Any) -> _NoCopy:
        return self


class InPlaceEnhancer(LemmaContextAwareEnhancer):
    """Presidio's context enhancer without its defensive deep copy of every result (ours are
    fresh objects of this very call): a fifth of the analysis time otherwise."""

    def enhance_using_context(  # type: ignore[no-untyped-def]
        self, text, raw_results, nlp_artifacts, recognizers, context=None
    ):
        return super().enhance_using_context(
            text, _NoCopy(raw_results), nlp_artifacts, recognizers, context
        )


class PIIEngine:
    """The heavy part: spaCy pipeline, analyzer and anonymizer. Build with ``PIIEngine.shared``."""

    _cache: ClassVar[dict[tuple[str, ...], PIIEngine]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()
    #: spaCy's vocabulary keeps every string it ever saw (~1 KB per distinct text measured): the
    #: model is reloaded (~1 s) after this many distinct texts, which bounds that growth
    reload_every: int = 100_000

    @classmethod
    def shared(cls, regions: Sequence[str] = DEFAULT_REGIONS) -> PIIEngine:
        key = tuple(regions)
        with cls._lock:
            if key not in cls._cache:
                cls._cache[key] = cls(key)
            return cls._cache[key]

    def __init__(self, regions: Sequence[str] = DEFAULT_REGIONS) -> None:
        ner_conf = NerModelConfiguration(
            model_to_presidio_entity_mapping=NER_MAPPING,
            labels_to_ignore=NER_IGNORE,
            default_score=0.85,
        )
        self.nlp_engine = NerOnlyNlpEngine(
            models=[{"lang_code": "en", "model_name": SPACY_MODEL}],
            ner_model_configuration=ner_conf,
        )
        self.nlp_engine.load()
        self.nlp = self.nlp_engine.nlp["en"]
        registry = RecognizerRegistry(supported_languages=["en"])
        phone_context = [
            "phone",
            "tel",
            "telephone",
            "mobile",
            "cell",
            "call",
            "number",
            "reach",
            "contact",
            "whatsapp",
            "sms",
            "fax",
        ]
        self.spacy_recognizer = SpacyRecognizer(supported_entities=["PERSON", "LOCATION"])
        ssn_context = ["ssn", "social", "security", "ssns", "ss#", "ssid", "tax"]
        for rec in (
            self.spacy_recognizer,
            WindowedPhoneRecognizer(context=phone_context, supported_regions=list(regions)),
            gated(CreditCardRecognizer(), lambda t: ndigits(t) >= 12),
            gated(IbanRecognizer(), _IBAN_HINT.search),
            gated(IpRecognizer(), lambda t: t.count(".") >= 3 or t.count(":") >= 2),
            gated(UsSsnRecognizer(context=ssn_context), lambda t: ndigits(t) >= 9),
            *custom_recognizers(),
        ):
            registry.add_recognizer(rec)
        self.nlp_engine.keep_words = {
            w.lower() for r in registry.recognizers for w in (r.context or [])
        }
        self.nlp_engine.stop_words -= self.nlp_engine.keep_words
        self.analyzer = AnalyzerEngine(
            registry=registry,
            nlp_engine=self.nlp_engine,
            supported_languages=["en"],
            default_score_threshold=0.0,
            context_aware_enhancer=InPlaceEnhancer(),
        )
        self.anonymizer = AnonymizerEngine()
        self._seen = 0

    def analyze(self, texts: Sequence[str], threshold: float = 0.5) -> list[list[Span]]:
        """Findings for each text. The distinct texts are tokenized and run through the
        recognizers; then one ``ner.pipe`` pass runs the NER over those that still hold a
        capitalised word no recognizer explained (the NER is most of the cost, and only finds
        capitalised names and places), and its PERSON/LOCATION findings are added."""
        unique = list(dict.fromkeys(t for t in texts if t))
        docs = [self.nlp.make_doc(t) for t in unique]
        raw: list[list[Any]] = []
        arts: list[Any] = []
        for text, doc in zip(unique, docs):
            arts.append(self.nlp_engine._doc_to_nlp_artifact(doc, "en"))
            raw.append(
                self.analyzer.analyze(text, "en", entities=list(ENTITIES), nlp_artifacts=arts[-1])
            )
        todo = [i for i, (t, r) in enumerate(zip(unique, raw)) if needs_ner(t, r, threshold)]
        ner = self.nlp.get_pipe("ner")
        for i, doc in zip(todo, ner.pipe((docs[i] for i in todo), batch_size=256)):
            art = arts[i]  # same tokens: only the entities are new
            art.entities, art.scores = self.nlp_engine._get_updated_entities(
                doc.ents, self.nlp_engine._get_scores_for_entities(doc)
            )
            raw[i] += self.spacy_recognizer.analyze(unique[i], ["PERSON", "LOCATION"], art)
        found = {t: resolve(t, r, threshold) for t, r in zip(unique, raw)}
        self._seen += len(unique)
        if self._seen >= self.reload_every:
            self.nlp_engine.load()  # a fresh vocabulary (same weights)
            self.nlp, self._seen = self.nlp_engine.nlp["en"], 0
        return [found.get(t, []) if t else [] for t in texts]

    def redact(self, text: str, spans: Sequence[Span]) -> str:
        """``text`` with every span replaced by ``<ENTITY_TYPE>`` (presidio-anonymizer)."""
        if not spans:
            return text
        results = [AnonymizerResult(s.type, s.start, s.end, s.score) for s in spans]
        return self.anonymizer.anonymize(text, results, {"DEFAULT": _REPLACE}).text


_REPLACE = OperatorConfig("replace")  # default new_value: <ENTITY_TYPE>
_IBAN_HINT = re.compile(r"[A-Za-z]{2}\s?\d\d")
_CAPWORD = re.compile(r"[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ]+(?:[-'’][A-Za-zÀ-ÖØ-öø-ÿ]+)*")
_CALENDAR = frozenset(
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
    ]
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
