"""PII detector (detectors/pii/): recognizers, clean text,
redaction, evidence without values, GDPR context, batch behaviour, and no network access."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from core.events import InferenceEvent
from core.model_registry import load_registry
from core.signals import ObservedEvent, SourceRef
from core.taxonomy import Severity
from detectors.pii.detector import PIIDetector
from detectors.pii.engine import PIIEngine
from policies.engine import PolicyEngine
from policies.pack import load_packs
from tests.unit.paths import REPO

REGISTRY = load_registry(REPO / "riskwatch.yaml")


def _no_network(*_: Any, **__: Any) -> None:
    raise AssertionError("the PII detector tried to open a network connection")


@pytest.fixture(scope="module")
def guard() -> Iterator[None]:
    """Every socket connect fails (and fails the test) while this module runs."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", _no_network)
        mp.setattr(socket.socket, "connect_ex", _no_network)
        mp.setattr(socket, "create_connection", _no_network)
        mp.setattr(socket, "getaddrinfo", _no_network)
        yield


@pytest.fixture(scope="module")
def detector(guard: None) -> PIIDetector:
    det = PIIDetector(REGISTRY)
    det.engine  # noqa: B018 - load the model once for the module
    return det


def _found(det: PIIDetector, text: str) -> list[tuple[str, str]]:
    spans = det.engine.analyze([text], det.score_threshold)[0]
    return [(s.type, text[s.start : s.end]) for s in spans]


def _event(i: int, text: str | None, reply: str | None = None, **context: Any) -> ObservedEvent:
    doc: dict[str, Any] = {
        "event_id": f"p{i}",
        "timestamp": "2026-11-28T09:00:00Z",
        "model": {"id": "support-assistant", "version": "1"},
    }
    if text is not None:
        doc["input"] = {"text": text}
    if reply is not None:
        doc["output"] = {"text": reply}
    if context:
        doc["context"] = context
    return ObservedEvent(InferenceEvent.model_validate(doc), SourceRef("t", 0, i))


# (text, [(entity type, the value it must cover)])
CASES = [
    # street addresses, several countries' formats
    ("Please ship it to 221B Baker Street, London NW1 6XE.", [("ADDRESS", "221B Baker Street")]),
    ("Meine Adresse: Hauptstraße 5, 10115 Berlin", [("ADDRESS", "Hauptstraße 5, 10115 Berlin")]),
    ("Envoyez-le au 12, rue de la Paix, 75002 Paris", [("ADDRESS", "12, rue de la Paix")]),
    ("Send it to Calle de Alcalá 45, Madrid, 28014 please", [("ADDRESS", "Calle de Alcalá 45")]),
    ("Lives at Via Roma, 12, 00184 Roma (RM) since May", [("ADDRESS", "Via Roma, 12")]),
    ("New address: Kerkstraat 12, 1017 GC Amsterdam", [("ADDRESS", "Kerkstraat 12, 1017 GC")]),
    (
        "Our HQ is 1600 Pennsylvania Avenue NW, Washington, DC 20500.",
        [("ADDRESS", "1600 Pennsylvania Avenue")],
    ),
    ("Flat 7, Jones Road, Leeds, LS6 7LJ", [("ADDRESS", "Flat 7, Jones Road")]),
    # international phone numbers, with and without context
    ("Call me on +44 20 7946 0958 tomorrow.", [("PHONE_NUMBER", "+44 20 7946 0958")]),
    ("Meine Telefonnummer ist 030 12345678.", [("PHONE_NUMBER", "030 12345678")]),
    ("mon portable : 06 12 34 56 78", [("PHONE_NUMBER", "06 12 34 56 78")]),
    ("phone (212) 555-0198 ext. 12", [("PHONE_NUMBER", "(212) 555-0198")]),
    ("Numero: +39 06 6982 1234", [("PHONE_NUMBER", "+39 06 6982 1234")]),
    ("bel me op +31 20 555 1234", [("PHONE_NUMBER", "+31 20 555 1234")]),
    # financial identifiers, SSN, e-mail, IP
    ("IBAN DE89 3704 0044 0532 0130 00 please", [("IBAN_CODE", "DE89 3704 0044 0532 0130 00")]),
    ("Pay to GB82WEST12345698765432.", [("IBAN_CODE", "GB82WEST12345698765432")]),
    ("My SSN is 536-22-8719.", [("US_SSN", "536-22-8719")]),
    ("card 4111 1111 1111 1111 expired", [("CREDIT_CARD", "4111 1111 1111 1111")]),
    ("new card 2221000000000009 works", [("CREDIT_CARD", "2221000000000009")]),
    (
        "write to admin@example.org, login from 192.168.10.25",
        [("EMAIL_ADDRESS", "admin@example.org"), ("IP_ADDRESS", "192.168.10.25")],
    ),
    # names with context
    ("Hello, my name is Jonas Becker and I need help.", [("PERSON", "Jonas Becker")]),
    ("Kind regards,\nMaria Rossi", [("PERSON", "Maria Rossi")]),
    ("Mr. Okafor called about his refund.", [("PERSON", "Okafor")]),
    ("Dear Sofia Novak, your ticket is closed.", [("PERSON", "Sofia Novak")]),
    ("Signed, Lukas Schmidt", [("PERSON", "Lukas Schmidt")]),
    # GDPR Art. 9 special categories
    ("I was diagnosed with diabetes last year.", [("HEALTH_DATA", "diabetes")]),
    ("My wife is pregnant, can we move the delivery?", [("HEALTH_DATA", "pregnant")]),
    ("I'm a practising Muslim, so no pork in the meal box.", [("RELIGION", "Muslim")]),
    ("As a gay man I found the ad offensive.", [("SEXUAL_ORIENTATION", "gay")]),
    ("I voted for the Green Party last time.", [("POLITICAL_OPINION", "Green Party")]),
    ("My ethnic origin should not matter for this loan.", [("ETHNICITY", "ethnic origin")]),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0][:40] for c in CASES])
def test_recognizers(detector: PIIDetector, text: str, expected: list[tuple[str, str]]) -> None:
    spans = detector.engine.analyze([text], detector.score_threshold)[0]
    for etype, value in expected:
        at = text.index(value)
        assert any(s.type == etype and s.start <= at and at + len(value) <= s.end for s in spans), (
            f"{etype} {value!r} not covered; found {_found(detector, text)}"
        )


# Real user text (tweets, comments): lower-case names, bare places, no cue words. The NER is
# fine-tuned on WNUT 2017's train split; these sentences are not from it.
USER_TEXT = [
    (
        "omg just saw taylor swift at the airport in nashville!!",
        [("PERSON", "taylor swift"), ("LOCATION", "nashville")],
    ),
    (
        "lol did u see what obama said in chicago yesterday",
        [("PERSON", "obama"), ("LOCATION", "chicago")],
    ),
    (
        "@mike_88 Emma and I are flying to Lisbon tomorrow",
        [("PERSON", "Emma"), ("LOCATION", "Lisbon")],
    ),
]


@pytest.mark.parametrize(("text", "expected"), USER_TEXT, ids=[c[0][:40] for c in USER_TEXT])
def test_names_and_places_in_real_user_text_are_found_and_redacted(
    detector: PIIDetector, text: str, expected: list[tuple[str, str]]
) -> None:
    signals = detector.process([_event(40, text)])
    found = {(sp["type"], text[sp["start"] : sp["end"]]) for sp in signals[0].evidence["spans"]}
    assert set(expected) <= found
    redacted = detector.redactions()["p40"]["input.text"]
    for etype, value in expected:
        assert value not in redacted and f"<{etype}>" in redacted, redacted


CLEAN = [
    "What is the status of order #A-12345678?",
    "My invoice from 12/03/2024 shows 49.99 EUR, but I expected less.",
    "The app crashes on version 3.2.1 when I open the settings page.",
    "Can I change the delivery date to Friday?",
    "Tracking number 1Z9999999999999999 shows no updates since Monday.",
    "Is the Pro plan cheaper if I pay yearly?",
    "Do you ship to other countries? And how long does it take?",
    "The battery lasts only 3 hours after the last update.",
    "Please upgrade me to the family plan with 4 seats.",
    "Our support line is open from 9:00 to 17:00, Monday to Friday.",
    "Reference 2024-000123 was paid on 2024-03-01 for 1,250.00 EUR.",
    "Does the health plan cover dental care?",
    "The discount code SPRING2025 does not work at checkout.",
    "I ordered 2 boxes of 500 GB drives and 3 cables.",
]


@pytest.mark.parametrize("text", CLEAN)
def test_no_false_positives_on_clean_text(detector: PIIDetector, text: str) -> None:
    assert _found(detector, text) == []


def test_redaction_replaces_values_with_entity_types(detector: PIIDetector) -> None:
    text = "Hi, my name is Emma Larsen, mail emma.larsen@example.com or call +49 151 2345678."
    reply = "Thanks Emma Larsen, we will call +49 151 2345678."
    detector.process([_event(1, text, reply)])
    red = detector.redactions()["p1"]
    assert "<PERSON>" in red["input.text"] and "<EMAIL_ADDRESS>" in red["input.text"]
    assert "<PHONE_NUMBER>" in red["input.text"] and "<PHONE_NUMBER>" in red["output.text"]
    for value in ("Emma", "Larsen", "emma.larsen@example.com", "2345678"):
        assert value not in red["input.text"] and value not in red["output.text"]


def test_evidence_and_titles_never_hold_the_values(detector: PIIDetector) -> None:
    values = [
        "Mateo Garcia",
        "mateo.garcia@example.org",
        "DE89 3704 0044 0532 0130 00",
        "536-22-8719",
        "Via Roma, 12",
        "diabetes",
    ]
    text = (
        f"I am {values[0]} ({values[1]}), IBAN {values[2]}, SSN {values[3]}, "
        f"living at {values[4]}. I have {values[5]}."
    )
    signals = detector.process([_event(2, text)])
    assert {s.kind for s in signals} == {"pii_detected", "special_category_data"}
    blob = orjson.dumps([s for s in signals]).decode()
    for value in values:
        assert value not in blob
        for part in value.replace(",", " ").split():
            if len(part) > 3:
                assert part not in blob
    pii = next(s for s in signals if s.kind == "pii_detected")
    evidence = pii.evidence
    assert evidence["total"] == sum(evidence["entities"].values()) == len(evidence["spans"])
    expected = {"IBAN_CODE", "US_SSN", "PERSON", "EMAIL_ADDRESS", "ADDRESS"}
    assert expected <= set(evidence["entities"])
    assert all(
        sp["field"] == "input.text" and 0 <= sp["start"] < sp["end"] <= len(text)
        for sp in pii.evidence["spans"]
    )
    assert pii.severity == Severity.HIGH  # an SSN
    special = next(s for s in signals if s.kind == "special_category_data")
    assert special.evidence["categories"] == ["HEALTH_DATA"] and special.severity == Severity.HIGH


def test_severity_rises_with_sensitivity(detector: PIIDetector) -> None:
    def sev(text: str) -> Severity:
        signals = detector.process([_event(3, text)])
        return next(s for s in signals if s.kind == "pii_detected").severity

    assert sev("You can reach me at anna@example.com") == Severity.LOW
    assert sev("Refund to IBAN GB82WEST12345698765432") == Severity.MEDIUM
    assert sev("card 4111 1111 1111 1111 please") == Severity.HIGH


def test_eu_without_consent_is_carried_and_escalates(detector: PIIDetector) -> None:
    text = "My name is Lea Jansen, email lea.jansen@example.com."
    signals = detector.process(
        [
            _event(4, text, region="EU", consent=False),
            _event(5, text, region="US", consent=True),
            _event(6, text),
        ]
    )
    ctx = {s.event_id: s.context for s in signals}
    assert ctx == {
        "p4": {"region": "EU", "consent": False},
        "p5": {"region": "US", "consent": True},
        "p6": {},
    }
    findings = {f.event_id: f for f in PolicyEngine(load_packs(), REGISTRY).evaluate(signals)}
    assert "GDPR Art. 6(1)" in findings["p4"].regulation_refs
    assert "GDPR Art. 6(1)" not in findings["p5"].regulation_refs
    assert findings["p4"].severity.rank == findings["p5"].severity.rank + 1


def test_batch_signals_only_for_events_with_pii_and_every_text_redacted(
    detector: PIIDetector,
) -> None:
    batch = [
        _event(10, "How do I export my data to CSV?", "Use Settings > Export."),
        _event(11, "Please call me: +33 6 12 34 56 78", "Sure, Noah Dubois."),
        _event(12, None),
        _event(13, "Where is order A123456?", "It ships today."),
        _event(14, "How do I export my data to CSV?", "Use Settings > Export."),
    ]
    signals = detector.process(batch)
    assert {s.event_id for s in signals} == {"p11"}
    assert all(s.key == "" and s.detector == "pii" and s.source == batch[1].source for s in signals)
    red = detector.redactions()
    assert set(red) == {"p10", "p11", "p13", "p14"}  # p12 has no text
    assert red["p11"] == {
        "input.text": "Please call me: <PHONE_NUMBER>",
        "output.text": "Sure, <PERSON>.",
    }
    assert red["p13"] == {"input.text": "Where is order A123456?", "output.text": "It ships today."}
    assert detector.process([]) == [] and detector.redactions() == {}
    assert detector.state_dict() == {}


def test_the_model_is_reloaded_to_bound_vocabulary_growth(detector: PIIDetector) -> None:
    engine = detector.engine
    old_nlp = engine.nlp
    engine.reload_every = 3
    try:
        texts = [
            "Anna Novak lives at Hauptstraße 5, 10115 Berlin.",
            "call +44 20 7946 0958",
            "mail x@example.org",
            "Mr. Okafor called about his refund.",
        ]
        first = engine.analyze(texts)
        assert engine.nlp is not old_nlp and engine._seen == 0
        assert engine.analyze(texts) == first  # same findings after the reload
        assert engine.nlp_engine.is_stopword("the", "en")
        assert not engine.nlp_engine.is_stopword("call", "en")  # a context word stays a keyword
    finally:
        engine.reload_every = type(engine).reload_every


def test_no_network_while_loading_and_analysing(guard: None) -> None:
    """A fresh engine (model load, recognizers, e-mail validation against the public suffix
    list) runs with every socket connect patched to fail."""
    engine = PIIEngine(("US", "DE"))
    texts = [
        "mail me at someone@example.co.uk or someone@mail.example.com",
        "visit www.example.com, IP 10.0.0.1, +49 30 1234567",
    ]
    found = engine.analyze(texts)
    assert {s.type for s in found[0]} == {"EMAIL_ADDRESS"} and len(found[0]) == 2
    assert "PHONE_NUMBER" in {s.type for s in found[1]}


def test_the_guard_would_catch_the_default_suffix_list_download(guard: None) -> None:
    """Presidio's stock e-mail recognizer validates with tldextract's default extractor, which
    downloads the public suffix list: under the guard that fails, so the test above is real."""
    import tldextract

    with pytest.raises(AssertionError, match="network"):
        tldextract.TLDExtract(cache_dir=None)("someone.example.co.uk")


def test_a_misspelt_setting_is_an_error_not_a_silent_default() -> None:
    from core.model_registry import ConfigError, Registry

    with pytest.raises(ConfigError, match=r"detectors\.pii: unknown setting"):
        PIIDetector(Registry(detectors={"pii": {"score_treshold": 0.4}}))
    detector = PIIDetector(
        Registry(detectors={"pii": {"score_threshold": 0.7, "phone_regions": ["de"]}})
    )
    assert detector.score_threshold == 0.7 and detector.phone_regions == ("DE",)
