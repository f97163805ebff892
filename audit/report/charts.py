"""Inline SVG charts for the HTML report, drawn server-side (no JavaScript). Every label is
escaped here because the SVG text is inserted into the page as markup."""

from __future__ import annotations

from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def _ticks(n: int, most: int = 6) -> list[int]:
    """The bins that get a label under the axis: the first, then every ceil(n / most)th."""
    step = max(1, -(-n // most))
    return list(range(0, n, step))


def stacked_bars(
    labels: list[str],
    series: dict[str, list[float]],
    *,
    limit: float | None = None,
    width: int = 720,
    height: int = 220,
    fmt: str = "{:g}",
    legend: bool = True,
) -> str:
    """One bar per time bin, stacked by series (e.g. finding category), some bins labelled under
    the axis and each bar titled with its bin; ``limit`` draws a red reference line (a budget);
    a legend of the series below unless ``legend`` is false."""
    if not labels:
        return '<p class="empty">no data</p>'
    totals = [sum(s[i] for s in series.values()) for i in range(len(labels))]
    top = max(max(totals, default=0), limit or 0, 1e-12)
    plot_h, left = height - 40, 48
    step = (width - left - 4) / len(labels)
    bar_w = max(1.0, step - (2 if step > 6 else 0.5))
    legend = legend and bool(series)
    svg_h = height + (20 * ((len(series) + 3) // 4) if legend else 0)  # four names a row
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{svg_h}" role="img">',
        f'<text x="2" y="12" font-size="10">{escape(fmt.format(top))}</text>',
        f'<line x1="{left}" y1="{plot_h}" x2="{width}" y2="{plot_h}" stroke="#999"/>',
    ]
    for i, label in enumerate(labels):
        x, y = left + i * step, float(plot_h)
        for j, (name, values) in enumerate(sorted(series.items())):
            h = values[i] / top * (plot_h - 10)
            if h > 0:
                y -= h
                parts.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                    f'fill="{PALETTE[j % len(PALETTE)]}"><title>{escape(label)} '
                    f"{escape(name)}: {escape(fmt.format(values[i]))}</title></rect>"
                )
    for i in _ticks(len(labels)):
        x = left + i * step
        parts.append(
            f'<line x1="{x:.1f}" y1="{plot_h}" x2="{x:.1f}" y2="{plot_h + 4}" stroke="#999"/>'
            f'<text x="{x:.1f}" y="{plot_h + 16}" font-size="10">{escape(labels[i])}</text>'
        )
    if limit is not None:
        y = plot_h - limit / top * (plot_h - 10)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width}" y2="{y:.1f}" stroke="#d62728" '
            f'stroke-dasharray="4 2"><title>limit {escape(fmt.format(limit))}</title></line>'
        )
    for j, name in enumerate(sorted(series) if legend else []):
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
