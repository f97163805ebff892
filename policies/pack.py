"""Loading policy packs: YAML files of rules, validated (policies/spec.py) and compiled
(policies/rules.py); every error names the file, the rule's line and its id."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from policies.rules import compile_rule
from policies.spec import Pack

BUILTIN_PACKS = Path(__file__).parent / "packs"


class PackError(ValueError):
    """A policy pack is invalid; the message names the file and, where known, the rule."""


def _rule_lines(text: str) -> tuple[int, list[int]]:
    """Line (1-based) of the ``rules`` key and of each item of the rules list."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return 1, []
    if not isinstance(root, yaml.MappingNode):
        return 1, []
    for key, value in root.value:
        if isinstance(key, yaml.ScalarNode) and key.value == "rules":
            items = value.value if isinstance(value, yaml.SequenceNode) else []
            return key.start_mark.line + 1, [item.start_mark.line + 1 for item in items]
    return 1, []


def load_pack(path: Path) -> Pack:
    """Read, validate and compile a pack; any error names the file, the rule's line and its id."""
    try:
        text = path.read_text(encoding="utf-8")
        raw: Any = yaml.safe_load(text)
    except OSError as exc:
        raise PackError(f"{path}: {exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"{mark.line + 1}:" if mark is not None else ""
        raise PackError(f"{path}:{at} not valid YAML: {exc}") from exc
    rules_line, item_lines = _rule_lines(text)
    if isinstance(raw, dict) and raw.keys() & {"path", "lines"}:
        raise PackError(f"{path}:1: 'path' and 'lines' are set by the loader, not in a pack")
    try:
        pack = Pack.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = err["loc"]
            where = f"{path}:1: " + ".".join(str(p) for p in loc)
            if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
                rules = raw.get("rules") if isinstance(raw, dict) else None
                line = item_lines[loc[1]] if loc[1] < len(item_lines) else rules_line
                rule_id = "?"
                if (
                    isinstance(rules, list)
                    and loc[1] < len(rules)
                    and isinstance(rules[loc[1]], dict)
                ):
                    rule_id = str(rules[loc[1]].get("id", "?"))
                field = ".".join(str(p) for p in loc[2:])
                where = f"{path}:{line}: rule {rule_id!r}: {field}"
            elif loc and loc[0] == "rules":
                where = f"{path}:{rules_line}: rules"
            problems.append(f"{where}: {err['msg']}")
        raise PackError("; ".join(problems)) from exc
    lines: dict[str, int] = {}
    for rule, line in zip(pack.rules, item_lines, strict=False):
        lines.setdefault(rule.id, line)
    pack = pack.model_copy(update={"path": str(path), "lines": lines})
    seen: set[str] = set()
    for rule in pack.rules:
        if rule.id in seen:
            raise PackError(f"{pack.where(rule.id)} is defined twice")
        seen.add(rule.id)
        try:
            compile_rule(rule)
        except ValueError as exc:
            raise PackError(f"{pack.where(rule.id)}: {exc}") from exc
    return pack


def pack_files(directory: Path) -> list[Path]:
    """The pack files of a folder: ``*.yaml`` beside it, not ``*_test.yaml`` nor sub-folders."""
    return [p for p in sorted(directory.glob("*.yaml")) if not p.stem.endswith("_test")]


def load_packs(directory: Path = BUILTIN_PACKS) -> list[Pack]:
    """Every pack in a folder (tests, in ``tests/`` or named ``*_test.yaml``, are skipped)."""
    if not directory.is_dir():
        raise PackError(f"{directory}: not a folder of policy packs")
    packs = [load_pack(p) for p in pack_files(directory)]
    check_incident_ends(packs)
    return packs


def check_incident_ends(packs: list[Pack]) -> None:
    """An ``incident: {ends: RULE}`` must name a loaded rule that files incidents of its own,
    keyed by the same evidence names (or the two could never meet)."""
    rules = {r.id: r for p in packs for r in p.rules}
    for pack in packs:
        for rule in pack.rules:
            target_id = rule.incident.ends
            if target_id is None:
                continue
            target = rules.get(target_id)
            if target is None:
                raise PackError(f"{pack.where(rule.id)}: incident.ends names no rule {target_id!r}")
            if target.incident.ends is not None or target_id == rule.id:
                raise PackError(
                    f"{pack.where(rule.id)}: incident.ends {target_id!r} must be a rule that "
                    "opens incidents, not one that ends them"
                )
            if target.incident.key != rule.incident.key:
                raise PackError(
                    f"{pack.where(rule.id)}: incident.key {rule.incident.key} differs from "
                    f"{target_id}'s {target.incident.key}: its findings could not find the "
                    "incident they end"
                )
