"""What a new alert webhook subscription asks for (URL, format, filters), validated before
anything is stored, and which findings its filters match. No database here: the API's request
models and the delivery payloads use these too."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from core.taxonomy import SUBCATEGORIES, Category, Severity, Subcategory

MAX_URL_LENGTH = 2048


class WebhookFormat(StrEnum):
    GENERIC = "generic"
    SLACK = "slack"


class AlertOn(StrEnum):
    """What a subscription is sent: incident state changes (opened, escalated, resolved), or
    every finding."""

    INCIDENTS = "incidents"
    FINDINGS = "findings"


class SubscriptionError(ValueError):
    """A subscription that cannot be created: the message says which field and why."""


def _enum_tuple(kind: type[StrEnum], values: Iterable[str], what: str) -> tuple[Any, ...]:
    out = []
    for value in values:
        try:
            member = kind(value)
        except ValueError:
            raise SubscriptionError(
                f"unknown {what} {value!r}; one of: {', '.join(m.value for m in kind)}"
            ) from None
        if member not in out:
            out.append(member)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Filters:
    """Which findings a subscription receives; an empty tuple means "any"."""

    models: tuple[str, ...] = ()
    categories: tuple[Category, ...] = ()
    subcategories: tuple[Subcategory, ...] = ()
    min_severity: Severity = Severity.INFO

    @classmethod
    def of(
        cls,
        *,
        models: Iterable[str] = (),
        categories: Iterable[str] = (),
        subcategories: Iterable[str] = (),
        min_severity: str = "info",
    ) -> Filters:
        """Validated filters; raises SubscriptionError on an unknown value or a filter that
        could never match (a subcategory outside every given category)."""
        model_ids = tuple(dict.fromkeys(m.strip() for m in models))
        if any(not m or len(m) > 256 for m in model_ids):
            raise SubscriptionError("a model filter must be a model id of 1-256 characters")
        cats = _enum_tuple(Category, categories, "category")
        subs = _enum_tuple(Subcategory, subcategories, "subcategory")
        (severity,) = _enum_tuple(Severity, [min_severity], "severity")
        if cats and subs:
            allowed = {s for c in cats for s in SUBCATEGORIES[c]}
            stray = [s.value for s in subs if s not in allowed]
            if stray:
                raise SubscriptionError(
                    f"subcategory {', '.join(stray)} is not in category "
                    f"{', '.join(c.value for c in cats)}: the subscription would never match"
                )
        return cls(model_ids, cats, subs, severity)

    def matches(self, finding: Mapping[str, Any]) -> bool:
        """``finding``: a finding row (model_id, category, subcategory, severity as strings)."""
        if self.models and finding["model_id"] not in self.models:
            return False
        if self.categories and finding["category"] not in self.categories:
            return False
        if self.subcategories and finding["subcategory"] not in self.subcategories:
            return False
        return Severity(finding["severity"]).rank >= self.min_severity.rank

    def to_dict(self) -> dict[str, Any]:
        return {
            "models": list(self.models),
            "categories": [c.value for c in self.categories],
            "subcategories": [s.value for s in self.subcategories],
            "min_severity": self.min_severity.value,
        }


def validate_url(url: str) -> str:
    """An absolute http(s) URL with a host, no credentials, at most 2048 characters."""
    url = url.strip()
    if not url or len(url) > MAX_URL_LENGTH:
        raise SubscriptionError(f"url must be 1-{MAX_URL_LENGTH} characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise SubscriptionError("url must not contain control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise SubscriptionError(f"url {url!r} is malformed: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SubscriptionError(f"url must be an absolute http:// or https:// URL, got {url!r}")
    if parts.username or parts.password:
        raise SubscriptionError("url must not carry credentials; deliveries are signed instead")
    return url


@dataclass(frozen=True, slots=True)
class NewSubscription:
    url: str
    name: str | None = None
    format: WebhookFormat = WebhookFormat.GENERIC
    filters: Filters = field(default_factory=Filters)
    alert_on: AlertOn = AlertOn.INCIDENTS

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", validate_url(self.url))
        try:
            object.__setattr__(self, "alert_on", AlertOn(self.alert_on))
        except ValueError:
            raise SubscriptionError(
                f"unknown alert_on {self.alert_on!r}; one of: incidents, findings"
            ) from None
        try:
            object.__setattr__(self, "format", WebhookFormat(self.format))
        except ValueError:
            raise SubscriptionError(
                f"unknown format {self.format!r}; one of: generic, slack"
            ) from None
        if self.name is not None and not 1 <= len(self.name.strip()) <= 128:
            raise SubscriptionError("name must be 1-128 characters")
