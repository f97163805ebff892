"""Labelled text for training and measuring the PII detector's NER (``train.py``, bench/pii.py):
WNUT 2017 emerging entities (real YouTube, Reddit, Stack Overflow and Twitter text; CC-BY 4.0,
read from the shared data, never shipped) and generated support-chat sentences with Faker names,
places and street addresses of many locales (``templates``). Not used by the worker.
"""

from __future__ import annotations

import random
import re
import string
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from core.datasets import shared_data

WNUT_FILES = {
    "train": "wnut17train.conll",
    "dev": "emerging.dev.conll",
    "test": "emerging.test.annotated",
}
#: WNUT label → spaCy NER label the model learns (person and location are what the detector
#: keeps; the others teach it what is *not* a person or a place)
WNUT_TO_NER = {
    "person": "PERSON",
    "location": "GPE",
    "group": "ORG",
    "corporation": "ORG",
    "product": "PRODUCT",
    "creative-work": "WORK_OF_ART",
}
#: WNUT label → the detector's entity type, for scoring (the rest are not personal data)
WNUT_TO_PII = {"person": "PERSON", "location": "LOCATION"}


@dataclass(frozen=True, slots=True)
class Labelled:
    text: str
    #: (start, end, label) character spans
    spans: tuple[tuple[int, int, str], ...] = field(default_factory=tuple)


_NO_SPACE_BEFORE = re.compile(r"^(?:[.,!?;:)\]}%]+|'s|'re|'ve|'ll|'d|'m|n't)$", re.I)


@cache
def wnut(split: str) -> tuple[Labelled, ...]:
    """A WNUT 2017 split (``train``, ``dev`` or ``test``) as texts with WNUT-labelled spans; the
    tokens are joined with a space, none before closing punctuation and clitics."""
    path = shared_data() / "ner" / "wnut17" / WNUT_FILES[split]
    docs: list[Labelled] = []
    toks: list[tuple[str, str]] = []
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if line.strip():
            word, _, tag = line.partition("\t")
            toks.append((word.strip(), tag.strip() or "O"))
            continue
        if toks:
            docs.append(_join(toks))
        toks = []
    return tuple(d for d in docs if d.text.strip())


def _join(toks: list[tuple[str, str]]) -> Labelled:
    text = ""
    spans: list[tuple[int, int, str]] = []
    open_label = ""  # the label of the span the previous token belongs to ("" after an O)
    for word, tag in toks:
        if text and not _NO_SPACE_BEFORE.match(word):
            text += " "
        start = len(text)
        text += word
        label = tag[2:] if tag[:2] in ("B-", "I-") else ""
        if label and tag.startswith("I-") and label == open_label:
            a, _, t = spans[-1]
            spans[-1] = (a, len(text), t)
        elif label:
            spans.append((start, len(text), label))
        open_label = label
    return Labelled(text, tuple(spans))


# -- generated sentences ----------------------------------------------------------------------

#: many locales, so that names and places of every origin are seen in context
LOCALES = (
    "en_US en_GB en_IE en_AU en_CA en_IN de_DE de_AT de_CH fr_FR fr_CA es_ES es_MX it_IT nl_NL "
    "pt_BR pt_PT pl_PL sv_SE da_DK no_NO fi_FI cs_CZ tr_TR ro_RO hu_HU hr_HR id_ID fil_PH"
).split()

#: {name} a full name, {first}/{last} one part, {city}/{country}/{state} places, {street} a
#: street address; lower-cased copies of some sentences teach the model lower-case user text
TEMPLATES = (
    "{name} asked me to forward the contract before Friday.",
    "I met {first} at the conference in {city} last year.",
    "my brother {first} lives in {city} now",
    "lol {first} and {first2} are coming to {city} this weekend",
    "Flying from {city} to {city2} tomorrow, any tips?",
    "Can you send the documents to {name} at {street}, {city}?",
    "Thanks {first}, that fixed it!",
    "@{handle} is {name} still working at the {city} office?",
    "{last} said the delivery to {country} would take two weeks.",
    "We are moving from {state} to {city} in spring.",
    "Our new manager, {name}, starts on Monday.",
    "Greetings from {city}, {country}!",
    "talked to {name} yesterday, great guy",
    "Does anyone know if {name} still teaches at the school in {city}?",
    "Shoutout to {first} for helping me move to {city}",
    "Mrs. {last} from accounting approved the refund.",
    "{first}'s new flat in {city} is close to {street}.",
    "the weather in {city} is terrible today",
    "I grew up in {country} but I've been living in {city} for years.",
    "Please add {name} ({email}) to the mailing list.",
    "RT @{handle}: {name} wins the regional election in {state}",
    "Just landed in {city}!! #travel",
    "Ask {first} whether the {city} branch is open on Sundays.",
    "The parcel for {name} is stuck in {city} customs.",
    "{name} and {name2} will present the results.",
    "Visited my grandma in {city}, {state} over the holidays",
    "{first} here, I lost my card somewhere near {street}.",
    "Hi {first}, your booking for {city} is confirmed.",
    "Is {city} worth visiting in winter?",
    "my name is {name} and I live at {street}",
    "Sure, {name}.",
    "Thanks, {name}! Have a nice day.",
    "ok {first} thanks",
    "{name} wrote: the update broke my login",
    "cc {name}",
    "Noted, {first}. I will check with {name2}.",
    "Of course, {name}, we will call you back.",
    "{name} was my teacher in {city}",
    "who is {name}?",
    "Happy birthday {first}!!",
    "I think {last} is right about this",
    "Ticket assigned to {name}.",
)

#: sentences with capitalised words that are neither people nor places
NEGATIVES = (
    "The Pro plan includes Priority Support and Single Sign-On.",
    "Please reset my password, the link in the Welcome email expired.",
    "Does the Android app support Dark Mode yet?",
    "I bought the Galaxy Tab last week and the Bluetooth keeps dropping.",
    "Can I pay with PayPal or Apple Pay?",
    "Great video!! Subscribed and liked",
    "Which version of Python do I need for the SDK?",
    "The Premium Annual Bundle is cheaper on Black Friday.",
    "Error 500 when I click Export to Excel.",
    "Happy New Year everyone!",
    "Is the Family Plan available for Business accounts?",
    "Watching the Champions League final tonight",
    "My Order History page is blank since the last update.",
    "Microsoft Teams keeps crashing after the Windows update.",
    "Can I download the report as PDF or XLSX?",
    "Converting the file to JSON fails with an encoding error.",
    "Switch the endpoint to HTTPS and retry.",
    "The export to CSV drops the header row.",
    "Save it as PNG, then upload it to Drive.",
    "Go to Settings > Privacy > Download My Data.",
    "Sync with Outlook stopped working after the iOS update.",
    "Does the API support OAuth or only API keys?",
    "I voted in the Community Poll but my vote is missing.",
    "The Green Plan and the Blue Plan have the same storage.",
)


def templates(n: int, seed: int = 7) -> list[Labelled]:
    """``n`` generated sentences (a tenth without people or places), labelled like WNUT
    (``person``/``location``; a street address counts as a location). Deterministic."""
    from faker import Faker

    rng = random.Random(seed)
    fakers = []
    for i, loc in enumerate(LOCALES):
        fake = Faker(loc)
        fake.seed_instance(seed * 1000 + i)
        _fix_order(fake)
        fakers.append(fake)
    out: list[Labelled] = []
    for _ in range(n):
        if rng.random() < 0.1:
            out.append(Labelled(rng.choice(NEGATIVES)))
            continue
        fake = rng.choice(fakers)
        text, spans = _render(rng.choice(TEMPLATES), fake)
        if rng.random() < 0.25:  # user text is often lower case
            text = text.lower()
        out.append(Labelled(text, spans))
    return out


def _fix_order(fake: Any) -> None:
    """Sort every word list of the locale's providers: some are built from sets, whose order
    changes with the process's hash seed, and so would the sentences of a given seed."""
    for provider in fake.providers:
        for name in dir(provider):
            if name.startswith("_"):
                continue
            value = getattr(provider, name, None)
            if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
                setattr(provider, name, type(value)(sorted(value)))


def _value(fake: Any, key: str) -> tuple[str, str | None]:
    """A Faker value for the placeholder ``key`` and its WNUT label (None: not scored)."""
    base = key.rstrip("0123456789")
    if base == "state":  # a region where the locale has no states
        make = getattr(fake, "state", None) or getattr(fake, "region", None) or fake.city
        return str(make()), "location"
    method, label = _FAKER[base]
    return str(getattr(fake, method)()), label


_FAKER: dict[str, tuple[str, str | None]] = {
    "name": ("name", "person"),
    "first": ("first_name", "person"),
    "last": ("last_name", "person"),
    "city": ("city", "location"),
    "country": ("country", "location"),
    "street": ("street_address", "location"),
    "email": ("email", None),
    "handle": ("user_name", None),
}


def _render(template: str, fake: Any) -> tuple[str, tuple[tuple[int, int, str], ...]]:
    out: list[str] = []
    spans: list[tuple[int, int, str]] = []
    pos = 0
    for literal, key, _spec, _conv in string.Formatter().parse(template):
        out.append(literal)
        pos += len(literal)
        if key is None:
            continue
        value, label = _value(fake, key)
        value = " ".join(value.split())
        if label is not None:
            spans.append((pos, pos + len(value), label))
        out.append(value)
        pos += len(value)
    return "".join(out), tuple(spans)
