"""Inline SVG charts for the HTML report, drawn server-side (no JavaScript). Every label is
escaped here because the SVG text is inserted into the page as markup."""

from __future__ import annotations

from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def stacked_bars(
    days: list[str], series: dict[str, list[int]], *, width: int = 720, height: int = 220
) -> str:
    """One bar per day, stacked by series (e.g. finding category); a legend below."""
    if not days:
        return '<p class="empty">no data</p>'
    totals = [sum(s[i] for s in series.values()) for i in range(len(days))]
    top = max(max(totals), 1)
    plot_h, left, bar_w = height - 40, 40, max(2.0, (width - 50) / len(days) - 2)
    svg_h = height + 20 * ((len(series) + 3) // 4)  # room for the legend, four names a row
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{svg_h}" role="img">',
        f'<text x="2" y="12" font-size="10">{top}</text>',
        f'<line x1="{left}" y1="{plot_h}" x2="{width}" y2="{plot_h}" stroke="#999"/>',
    ]
    for i, day in enumerate(days):
        x, y = left + i * (bar_w + 2), float(plot_h)
        for j, (name, values) in enumerate(sorted(series.items())):
            h = values[i] / top * (plot_h - 10)
            if h:
                y -= h
                parts.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                    f'fill="{PALETTE[j % len(PALETTE)]}"><title>{escape(day)} '
                    f"{escape(name)}: {values[i]}</title></rect>"
                )
    parts.append(f'<text x="{left}" y="{plot_h + 14}" font-size="10">{escape(days[0])}</text>')
    parts.append(
        f'<text x="{width - 70}" y="{plot_h + 14}" font-size="10">{escape(days[-1])}</text>'
    )
    for j, name in enumerate(sorted(series)):
        x, y = left + (j % 4) * 170, height + 20 * (j // 4)
        parts.append(
            f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{PALETTE[j % len(PALETTE)]}"/>'
            f'<text x="{x + 14}" y="{y}" font-size="11">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def horizontal_bars(
    values: dict[str, float], *, limit: float | None = None, width: int = 720, fmt: str = "{:.4g}"
) -> str:
    """One labelled bar per key; ``limit`` draws a red reference line (a threshold or budget)."""
    if not values:
        return '<p class="empty">no data</p>'
    top = max(max(values.values()), limit or 0, 1e-12)
    row, left = 18, 200
    svg_h = row * len(values) + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{svg_h}" role="img">'
    ]
    for i, (name, value) in enumerate(values.items()):
        w = value / top * (width - left - 80)
        y = i * row + 4
        parts.append(
            f'<text x="0" y="{y + 11}" font-size="11">{escape(name[:32])}</text>'
            f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{row - 4}" fill="{PALETTE[0]}"/>'
            f'<text x="{left + w + 4:.1f}" y="{y + 11}" font-size="11">'
            f"{escape(fmt.format(value))}</text>"
        )
    if limit is not None:
        x = left + limit / top * (width - left - 80)
        parts.append(
            f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{row * len(values) + 10}" '
            f'stroke="#d62728" stroke-dasharray="4 2"><title>limit {limit:g}</title></line>'
        )
    parts.append("</svg>")
    return "".join(parts)
