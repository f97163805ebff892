"""The PII detector's engine: one Presidio AnalyzerEngine on a spaCy NER, batch analysis and
redaction. Heavy (the spaCy model, Presidio): built once per process and set of phone regions
(``PIIEngine.shared``), on the first batch that carries text.

Batch path: every distinct text of the batch is tokenized (``make_doc``) and run through the
recognizers with those NlpArtifacts; then a single ``ner.pipe`` pass runs the NER (the fine-tuned
one, ``entities.NER_MODEL``) over the texts that still hold a word no recognizer explained (the NER
is most of the cost; user text writes names in lower case too, so any word counts); its
PERSON/LOCATION findings are added, and
``spans.resolve`` turns the raw results into the final, non-overlapping spans.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, cast

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

from detectors.pii.entities import DEFAULT_REGIONS, ENTITIES, NER_IGNORE, NER_MAPPING, NER_MODEL
from detectors.pii.numbers import WindowedPhoneRecognizer
from detectors.pii.recognizers import custom_recognizers
from detectors.pii.regex_recognizer import gated, ndigits
from detectors.pii.spans import Span, needs_ner, resolve

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.pipeline import Pipe


def _use_numpy_blas(pipe: Any) -> None:
    """Run the model's matrix products through numpy's BLAS instead of thinc's bundled blis,
    which was measured 5-6x slower for the NER's layer shapes on the project's machines (blis
    picks a generic kernel there). Only this model's layers change; the weights are the same."""
    from thinc.api import NumpyOps

    ops = NumpyOps(use_blis=False)
    for node in pipe.model.walk():
        node.ops = ops


class NerOnlyNlpEngine(SpacyNlpEngine):
    """The spaCy model with only its NER running (it has its own tok2vec; tagger, parser,
    lemmatizer are not loaded). Lemmas are the lower-cased tokens, so context words are matched
    in their surface forms."""

    #: the loaded spaCy pipeline (Presidio's ``nlp`` holds it too, keyed by language)
    pipeline: Language
    #: the recognizers' context words, which stay out of the stop words (set by PIIEngine)
    keep_words: frozenset[str] = frozenset()

    def load(self) -> None:
        import spacy
        from spacy.lang.en.stop_words import STOP_WORDS

        nlp = spacy.load(
            self.models[0]["model_name"],
            exclude=["tagger", "parser", "attribute_ruler", "lemmatizer", "senter"],
        )
        if "tok2vec" in nlp.pipe_names:  # only the tagger and parser listen to it
            nlp.disable_pipe("tok2vec")
        _use_numpy_blas(nlp.get_pipe("ner"))
        self.pipeline = nlp
        self.nlp = {"en": nlp}  # type: ignore[assignment]  # Presidio annotates it as None
        # spaCy's stop words include "call", "name", "back"...: keep_words (the recognizers'
        # context words) must stay keywords
        self.stop_words = set(STOP_WORDS) - self.keep_words

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
            tokens=[t[0] for t in toks],  # type: ignore[arg-type]  # see above
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
            models=[{"lang_code": "en", "model_name": str(NER_MODEL)}],
            ner_model_configuration=ner_conf,
        )
        self.nlp_engine.load()
        self.nlp = self.nlp_engine.pipeline
        registry = RecognizerRegistry(supported_languages=["en"])
        phone_context = """
            phone tel telephone mobile cell call number reach contact whatsapp sms fax
        """.split()
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
        self.nlp_engine.keep_words = frozenset(
            w.lower() for r in registry.recognizers for w in (r.context or [])
        )
        self.nlp_engine.stop_words -= self.nlp_engine.keep_words
        self.analyzer = AnalyzerEngine(
            registry=registry,
            nlp_engine=self.nlp_engine,
            supported_languages=["en"],
            default_score_threshold=0.0,
            context_aware_enhancer=InPlaceEnhancer(),
        )
        self.anonymizer = AnonymizerEngine()  # type: ignore[no-untyped-call]  # unannotated
        self._seen = 0

    def analyze(self, texts: Sequence[str], threshold: float = 0.5) -> list[list[Span]]:
        """Findings for each text. The distinct texts are tokenized and run through the
        recognizers; then one ``ner.pipe`` pass runs the NER over those that still hold a word
        no recognizer explained, and its PERSON/LOCATION findings are added."""
        unique = list(dict.fromkeys(t for t in texts if t))
        docs = [self.nlp.make_doc(t) for t in unique]
        raw: list[list[Any]] = []
        arts: list[Any] = []
        for text, doc in zip(unique, docs, strict=True):
            arts.append(self.nlp_engine._doc_to_nlp_artifact(doc, "en"))
            raw.append(
                self.analyzer.analyze(text, "en", entities=list(ENTITIES), nlp_artifacts=arts[-1])
            )
        todo = [
            i
            for i, (t, r) in enumerate(zip(unique, raw, strict=True))
            if needs_ner(t, r, threshold)
        ]
        ner = cast("Pipe", self.nlp.get_pipe("ner"))  # typed by spaCy as a plain callable
        tagged = ner.pipe((docs[i] for i in todo), batch_size=256)
        for i, doc in zip(todo, tagged, strict=True):
            art = arts[i]  # same tokens: only the entities are new
            art.entities, art.scores = self.nlp_engine._get_updated_entities(
                list(doc.ents), self.nlp_engine._get_scores_for_entities(doc)
            )
            raw[i] += self.spacy_recognizer.analyze(unique[i], ["PERSON", "LOCATION"], art)
        found = {t: resolve(t, r, threshold) for t, r in zip(unique, raw, strict=True)}
        self._seen += len(unique)
        if self._seen >= self.reload_every:
            self.nlp_engine.load()  # a fresh vocabulary (same weights)
            self.nlp, self._seen = self.nlp_engine.pipeline, 0
        return [found.get(t, []) if t else [] for t in texts]

    def redact(self, text: str, spans: Sequence[Span]) -> str:
        """``text`` with every span replaced by ``<ENTITY_TYPE>`` (presidio-anonymizer)."""
        if not spans:
            return text
        results = [AnonymizerResult(s.type, s.start, s.end, s.score) for s in spans]
        return self.anonymizer.anonymize(text, results, {"DEFAULT": _REPLACE}).text


_REPLACE = OperatorConfig("replace")  # default new_value: <ENTITY_TYPE>
_IBAN_HINT = re.compile(r"[A-Za-z]{2}\s?\d\d")
