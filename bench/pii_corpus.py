"""Labelled PII corpus for bench/pii.py: support-chat style sentences with Faker values (seven
locales) embedded at exactly recorded character spans, plus ~30% sentences with no PII.

Gold types: PERSON, LOCATION (a city), ADDRESS (a full street address), EMAIL_ADDRESS,
PHONE_NUMBER (national and international formats of the locale), CREDIT_CARD, IBAN_CODE, US_SSN,
IP_ADDRESS. Deterministic for a given (n, seed).

    .venv/bin/python bench/pii_corpus.py --n 5 --seed 7     # print a few samples
"""

from __future__ import annotations

import argparse
import random
import string
from dataclasses import dataclass, field

from faker import Faker

LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL")

#: placeholder → gold entity type
FIELD_TYPES = {
    "name": "PERSON",
    "first": "PERSON",
    "last": "PERSON",
    "city": "LOCATION",
    "address": "ADDRESS",
    "street": "ADDRESS",
    "email": "EMAIL_ADDRESS",
    "phone": "PHONE_NUMBER",
    "card": "CREDIT_CARD",
    "iban": "IBAN_CODE",
    "ssn": "US_SSN",
    "ip": "IP_ADDRESS",
}

PII_TEMPLATES = (
    "Hi, my name is {name} and I can't log in to my account.",
    "Please send the replacement to {address}.",
    "I moved to {city} last month, can you update my profile?",
    "You can reach me at {email} or on {phone}.",
    "My card {card} was charged twice for order #{order}.",
    "Refund it to {iban}, account holder {name}.",
    "My SSN is {ssn}, do you need it for the tax form?",
    "The failed login attempts came from {ip} yesterday.",
    "{name} ({email}) asked about invoice {order}.",
    "Dear {name}, your parcel to {address} was delivered.",
    "Thanks, {first}! We'll call you back on {phone}.",
    "Customer {name} from {city} reported a failed payment with card {card}.",
    "Kind regards,\n{name}",
    "Ship it to {name}, {address}",
    "Server {ip} rejected the request from {email}.",
    "Can you transfer 250 EUR to {iban} today?",
    "Contact: {name}, tel. {phone}, {city}",
    "Social security number: {ssn}",
    "I'm travelling to {city} next week; will my card {card} work there?",
    "Per {name}'s request, please change the billing address to {address}.",
    "{name} here. My number changed to {phone}.",
    "Mr. {last} called again about the delayed refund.",
    "Please ask Dr. {last} to confirm the appointment by email at {email}.",
    "Our office is at {street}, {city}. Opening hours are 9 to 5.",
    "The invoice was sent to {email}; the IBAN on file is {iban}.",
    "Update my phone number to {phone} please",
    "I am {name}, born in {city}, and my SSN is {ssn}.",
    "Why was my account locked? I only logged in from {ip} and {ip2}.",
    "hello, this is {name}. card number {card}, exp 09/27",
    "Delivery address: {address}. Recipient: {name}, phone {phone}.",
    "Signed, {name}",
    "Can {first} from your team call me? My email is {email}.",
    "We have a customer in {city} asking for a refund to {iban}.",
    "Please verify: name {name}, SSN {ssn}, address {address}.",
    "The device with IP {ip} keeps sending requests to the checkout API.",
    "Your technician {name} left without fixing the router.",
)

CLEAN_TEMPLATES = (
    "What is the status of order #{order}?",
    "Is the premium plan cheaper if I pay yearly?",
    "My invoice from {date} shows {amount} EUR, but I expected less.",
    "Reset my password please, the link expired.",
    "The app crashes on version {version} when I open the settings page.",
    "How do I export my data to CSV?",
    "Can I change the delivery date to Friday?",
    "Tracking number {tracking} shows no updates since Monday.",
    "I want to cancel my subscription at the end of the month.",
    "Do you ship to other countries, and how long does it take?",
    "The blue model is out of stock again. When will it be back?",
    "I was charged {amount} USD twice on {date}.",
    "Which payment methods do you accept?",
    "The discount code SPRING{year} does not work at checkout.",
    "Ticket {order} was closed but my problem is not solved.",
    "Can you explain the difference between the Basic and Pro plans?",
    "The battery lasts only 3 hours after the last update.",
    "Please upgrade me to the family plan with 4 seats.",
    "My order {order} arrived damaged, the box was open.",
    "Is there a student discount for the annual plan?",
)


@dataclass(frozen=True, slots=True)
class Sample:
    text: str
    #: (start, end, type) of every PII value in ``text``
    spans: tuple[tuple[int, int, str], ...] = field(default_factory=tuple)
    locale: str = ""


def _values(fake: Faker, rng: random.Random) -> dict[str, str]:
    us = _US
    return {
        "name": fake.name(),
        "first": fake.first_name(),
        "last": fake.last_name(),
        "city": fake.city(),
        "address": ", ".join(p.strip() for p in fake.address().splitlines() if p.strip()),
        "street": fake.street_address(),
        "email": fake.free_email() if rng.random() < 0.5 else fake.email(),
        "phone": fake.phone_number(),
        "card": fake.credit_card_number(),
        "iban": fake.iban() if rng.random() < 0.6 else _spaced(fake.iban()),
        "ssn": us.ssn(),
        "ip": fake.ipv4_public() if rng.random() < 0.85 else us.ipv6(),
        "ip2": fake.ipv4_public(),
        "order": f"{rng.choice('ABCDEFGH')}-{rng.randint(10000, 99999999)}",
        "date": f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(2019, 2026)}",
        "amount": f"{rng.randint(3, 900)}.{rng.randint(0, 99):02d}",
        "version": f"{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
        "tracking": f"1Z{rng.randint(10**9, 10**10 - 1)}{rng.randint(10**5, 10**6 - 1)}",
        "year": str(rng.randint(2020, 2030)),
    }


def _spaced(iban: str) -> str:
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


_US = Faker("en_US")


def _render(template: str, values: dict[str, str]) -> tuple[str, tuple[tuple[int, int, str], ...]]:
    out: list[str] = []
    spans: list[tuple[int, int, str]] = []
    pos = 0
    for literal, name, _spec, _conv in string.Formatter().parse(template):
        out.append(literal)
        pos += len(literal)
        if name is None:
            continue
        value = values[name]
        kind = FIELD_TYPES.get(name.rstrip("0123456789"))
        if kind is not None:
            spans.append((pos, pos + len(value), kind))
        out.append(value)
        pos += len(value)
    return "".join(out), tuple(spans)


def generate(n: int, seed: int = 13, clean_share: float = 0.3) -> list[Sample]:
    """``n`` samples; about ``clean_share`` of them without PII. Same (n, seed) → same corpus."""
    rng = random.Random(seed)
    fakers = {loc: Faker(loc) for loc in LOCALES}
    for i, loc in enumerate(LOCALES):
        fakers[loc].seed_instance(seed * 1000 + i)
        for provider in fakers[loc].providers:  # it_IT builds its city list from a set: fix
            if isinstance(getattr(provider, "cities", None), list):  # its order (hash seed)
                provider.cities = sorted(provider.cities)
    _US.seed_instance(seed * 1000 + 99)
    samples = []
    for _ in range(n):
        loc = rng.choice(LOCALES)
        values = _values(fakers[loc], rng)
        clean = rng.random() < clean_share
        template = rng.choice(CLEAN_TEMPLATES if clean else PII_TEMPLATES)
        text, spans = _render(template, values)
        samples.append(Sample(text, spans, loc))
    return samples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--seed", type=int, default=13)
    args = ap.parse_args()
    for s in generate(args.n, args.seed):
        print(repr(s.text), [(s.text[a:b], t) for a, b, t in s.spans])


if __name__ == "__main__":
    main()
