"""The ledger's pictures as SVG strings drawn on the server: grouped bars (spent beside avoided) per
month or per org. Pure functions; every text is escaped here, so the result is safe to insert as is.
Each chart has a <title> and <desc>, labelled axes, and a <title> per bar; a missing figure draws
no bar and says "unknown" (the page's table has every number)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

# Spent in the site's accent blue, avoided in green; both above 4.5:1 against white.
SERIES_FILLS = ("#2855c7", "#1d7a50")
TEXT = 'fill="#5b6473" font-size="11"'
HEIGHT, PLOT_TOP, PLOT_BOTTOM, LEFT, RIGHT = 260, 34, 210, 64, 12
BAR_W, BAR_GAP, GROUP_GAP = 16, 2, 18
LABEL_CHARS = 14
LEGEND_W = 120


@dataclass(frozen=True)
class Group:
    label: str  # a month or an org
    values: tuple[float | None, ...]  # one per series; None: unknown


def nice_max(value: float) -> float:
    """The smallest 1, 2 or 5 * 10^k at or above `value` (an axis' top)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def short(value: float) -> str:
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.3g}"


def bar_chart(
    *, key: str, title: str, description: str, series: tuple[str, ...], groups: list[Group], unit: str
) -> str:
    """Grouped vertical bars, one group per label, one bar per series."""
    bars = LEFT + RIGHT + max(1, len(groups)) * (len(series) * (BAR_W + BAR_GAP) + GROUP_GAP)
    width = max(bars, LEFT + RIGHT + LEGEND_W * len(series))  # the legend fits however few the bars
    top = nice_max(max((v for g in groups for v in g.values if v is not None), default=0.0))
    scale = (PLOT_BOTTOM - PLOT_TOP) / top
    ids = f"{escape(key)}-title {escape(key)}-desc"
    parts = [
        f'<svg class="ledger-chart" role="img" aria-labelledby="{ids}" viewBox="0 0 {width} {HEIGHT}" '
        f'width="{width}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{escape(key)}-title">{escape(title)}</title>',
        f'<desc id="{escape(key)}-desc">{escape(description)}</desc>',
    ]
    for tick in range(5):  # the value axis: 0 to the top in quarters
        value, y = top * tick / 4, PLOT_BOTTOM - (PLOT_BOTTOM - PLOT_TOP) * tick / 4
        parts.append(f'<line stroke="#dfe3ea" x1="{LEFT}" x2="{width - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text {TEXT} x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{short(value)}</text>')
    parts.append(
        f'<text {TEXT} x="14" y="{(PLOT_TOP + PLOT_BOTTOM) / 2:.0f}" text-anchor="middle" '
        f'transform="rotate(-90 14 {(PLOT_TOP + PLOT_BOTTOM) / 2:.0f})">{escape(unit)}</text>'
    )
    for i, name in enumerate(series):  # the legend
        legend_x = LEFT + i * LEGEND_W
        parts.append(f'<rect fill="{SERIES_FILLS[i % 2]}" x="{legend_x}" y="8" width="12" height="12"/>')
        parts.append(f'<text {TEXT} x="{legend_x + 16}" y="18">{escape(name)}</text>')
    x: float = LEFT + GROUP_GAP / 2
    for group in groups:
        for i, figure in enumerate(group.values):
            bar_x = x + i * (BAR_W + BAR_GAP)
            said = "unknown" if figure is None else f"{figure:,.6g} {unit}"
            if figure is None:
                parts.append(
                    f'<text {TEXT} x="{bar_x + BAR_W / 2:.1f}" y="{PLOT_BOTTOM - 4}" '
                    f'text-anchor="middle">?<title>{escape(group.label)}, {escape(series[i])}: {said}</title></text>'
                )
                continue
            height = figure * scale
            parts.append(
                f'<rect fill="{SERIES_FILLS[i % 2]}" x="{bar_x:.1f}" y="{PLOT_BOTTOM - height:.1f}" '
                f'width="{BAR_W}" height="{height:.1f}"><title>{escape(group.label)}, {escape(series[i])}: '
                f"{escape(said)}</title></rect>"
            )
        center = x + len(group.values) * (BAR_W + BAR_GAP) / 2
        label = group.label if len(group.label) <= LABEL_CHARS else group.label[: LABEL_CHARS - 1] + "…"
        parts.append(
            f'<text {TEXT} x="{center:.1f}" y="{PLOT_BOTTOM + 16}" text-anchor="middle">{escape(label)}</text>'
        )
        x += len(group.values) * (BAR_W + BAR_GAP) + GROUP_GAP
    parts.append(f'<line stroke="#5b6473" x1="{LEFT}" x2="{width - RIGHT}" y1="{PLOT_BOTTOM}" y2="{PLOT_BOTTOM}"/>')
    parts.append("</svg>")
    return "".join(parts)
