"""riskwatch's risk taxonomy: three categories, nine subcategories, five severities."""

from __future__ import annotations

from enum import StrEnum


class Category(StrEnum):
    TECHNICAL = "technical"
    COMMERCIAL = "commercial"
    LEGAL = "legal"


class Subcategory(StrEnum):
    MODEL_RELIABILITY = "model_reliability"
    SECURITY = "security"
    TECHNOLOGY_UPDATE = "technology_update"
    MARKET_DEMAND = "market_demand"
    COMPETITION = "competition"
    COST_CONTROL = "cost_control"
    DATA_PRIVACY = "data_privacy"
    ETHICS = "ethics"
    REGULATION = "regulation"


class Severity(StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_ORDER.index(self)

    def raised(self, steps: int = 1) -> Severity:
        return _SEVERITY_ORDER[min(self.rank + steps, len(_SEVERITY_ORDER) - 1)]


_SEVERITY_ORDER = list(Severity)

SUBCATEGORIES: dict[Category, tuple[Subcategory, ...]] = {
    Category.TECHNICAL: (
        Subcategory.MODEL_RELIABILITY,
        Subcategory.SECURITY,
        Subcategory.TECHNOLOGY_UPDATE,
    ),
    Category.COMMERCIAL: (
        Subcategory.MARKET_DEMAND,
        Subcategory.COMPETITION,
        Subcategory.COST_CONTROL,
    ),
    Category.LEGAL: (Subcategory.DATA_PRIVACY, Subcategory.ETHICS, Subcategory.REGULATION),
}


def category_of(subcategory: Subcategory) -> Category:
    for category, subs in SUBCATEGORIES.items():
        if subcategory in subs:
            return category
    raise ValueError(f"unknown subcategory {subcategory!r}")  # pragma: no cover - enum is closed
