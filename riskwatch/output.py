"""Rendering query results for the terminal: table, JSON or CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, (list, dict)):
        return orjson.dumps(value).decode()
    return str(value)


def to_json(value: Any) -> str:
    return orjson.dumps(
        value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str
    ).decode()


def to_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return buf.getvalue()


def to_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], width: int = 48) -> str:
    cells = [[_cell(r.get(c))[:width] for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(out)


def render(
    rows: Sequence[dict[str, Any]],
    fmt: str,
    *,
    columns: Sequence[str],
    table_columns: Sequence[str] | None = None,
) -> str:
    """Rows as ``json``, ``csv`` (every column in ``columns``) or a table (``table_columns``,
    default ``columns``); the text ends without a newline."""
    if fmt == "json":
        return to_json(rows)
    if fmt == "csv":
        return to_csv(rows, columns).rstrip("\n")
    return to_table(rows, table_columns or columns)


def summary_table(summary: dict[str, Any]) -> str:
    lines = [
        f"events stored      {summary['events']}",
        f"feedback labels    {summary.get('feedback', 0)}",
        f"dead letters       {summary['dead_letters']}",
    ]
    for title, key in (
        ("findings by category", "findings"),
        ("findings by subcategory", "findings_by_subcategory"),
        ("findings by severity", "findings_by_severity"),
        ("incidents by status", "incidents_by_status"),
        ("open incidents by subcategory", "open_incidents_by_subcategory"),
        ("dead letters by reason", "dead_letters_by_reason"),
    ):
        lines.append(f"{title}:")
        entries = summary.get(key) or {}
        lines += [f"  {name:<22} {n}" for name, n in entries.items()] or ["  (none)"]
    return "\n".join(lines)
