"""Policy packs: YAML files of rules, validated with pydantic; errors name file and rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from policies.taxonomy import SUBCATEGORIES, Category, Severity, Subcategory
from riskwatch.registry import RiskTier

BUILTIN_PACKS = Path(__file__).parent / "packs"


class PackError(ValueError):
    """A policy pack is invalid; the message names the file and, where known, the rule."""


class RegulationRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ref: str = Field(min_length=1)
    tiers: list[RiskTier] | None = None  # None: applies to every model
    #: applies only when every key equals the signal's context value (e.g. {region: EU, consent: false})
    when: dict[str, Any] = Field(default_factory=dict)


class Escalation(BaseModel):
    """Raise the severity by ``steps`` when every key of ``when`` equals the signal's context."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    when: dict[str, Any]
    steps: int = Field(1, ge=1, le=4)


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    signal: str = Field(pattern=r"^[a-z0-9_]+\.[a-z0-9_]+$")
    title: str
    description: str = ""
    category: Category
    subcategory: Subcategory
    severity: Severity | None = None  # None: keep the detector's severity
    escalate: dict[RiskTier, int] = Field(default_factory=dict)
    escalate_when: list[Escalation] = Field(default_factory=list)
    regulation: list[RegulationRef] = Field(default_factory=list)
    remediation: str = ""

    @model_validator(mode="after")
    def _subcategory_in_category(self) -> Rule:
        if self.subcategory not in SUBCATEGORIES[self.category]:
            raise ValueError(
                f"subcategory {self.subcategory.value!r} is not in category {self.category.value!r}"
            )
        return self


class Pack(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pack: str
    version: str
    rules: list[Rule]


def load_pack(path: Path) -> Pack:
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PackError(f"{path}: {exc}") from exc
    try:
        pack = Pack.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = err["loc"]
            where = ".".join(str(p) for p in loc)
            if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
                rules = raw.get("rules") if isinstance(raw, dict) else None
                if isinstance(rules, list) and loc[1] < len(rules) and isinstance(rules[loc[1]], dict):
                    where = f"rule {rules[loc[1]].get('id', '?')!r}: " + ".".join(str(p) for p in loc[2:])
            problems.append(f"{where}: {err['msg']}")
        raise PackError(f"{path}: " + "; ".join(problems)) from exc
    seen: set[str] = set()
    for rule in pack.rules:
        if rule.id in seen:
            raise PackError(f"{path}: rule {rule.id!r} is defined twice")
        seen.add(rule.id)
    return pack


def load_packs(directory: Path = BUILTIN_PACKS) -> list[Pack]:
    """Every ``*.yaml`` pack in a folder (tests beside packs, ``*_test.yaml``, are skipped)."""
    return [load_pack(p) for p in sorted(directory.glob("*.yaml")) if not p.stem.endswith("_test")]
