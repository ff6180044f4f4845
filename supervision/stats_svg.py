"""Small server-rendered SVG charts for the statistics page (no script, no
external library): bars per month or day, and horizontal share bars by topic
or channel.

Safe by construction: every text (titles, labels, values) goes through
:func:`_text` (XML-escaped, quotes included), numbers are formatted by this
module, colours come from its own palette; nothing the caller gives is
written into the markup unescaped. The result is a :class:`markupsafe.Markup`
for the Jinja2 template.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Final

from markupsafe import Markup

__all__ = ["Series", "bar_chart", "share_chart"]

PALETTE: Final = ("#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#c53030", "#718096")
FONT: Final = 'font-family="sans-serif" font-size="11"'


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: Sequence[float]


def _text(value: object) -> str:
    return escape(str(value), quote=True)


def _num(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


COUNT_STEPS: Final = tuple(
    int(m * 10**n) for n in range(13) for m in (1, 2, 2.5, 5) if m * 10**n == int(m * 10**n)
)
"""Tick steps of counts: 1, 2, 5, 10, 20, 25, 50, 100 … — whole numbers."""
TIME_STEPS: Final = (5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400)
"""Tick steps of durations in seconds: 0:15, 0:30, 1:00, 2:00, 5:00 …"""
TICKS: Final = 4


def _axis_top(value: float, *, time: bool) -> float:
    """The axis top: :data:`TICKS` equal steps of the first step at or above
    ``value`` (beyond the list: the largest step's multiple)."""
    steps = TIME_STEPS if time else COUNT_STEPS
    for step in steps:
        if step * TICKS >= value:
            return float(step * TICKS)
    return float(math.ceil(value / (steps[-1] * TICKS)) * steps[-1] * TICKS)


def _plain(v: float) -> str:
    return str(round(v)) if v == round(v) else f"{v:.1f}".replace(".", ",")


def bar_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    fmt: Callable[[float], str] = _plain,
    time: bool = False,
    width: int = 760,
    height: int = 260,
    chart_id: str = "",
) -> Markup:
    """Grouped vertical bars: one group per label, one bar per series
    (``time``: the values are seconds, the axis ticks whole minutes or parts)."""
    left, right, top, bottom = 56, 10, 28, 48
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = _axis_top(max((v for s in series for v in s.values), default=0.0), time=time)
    groups = max(1, len(labels))
    group_w = plot_w / groups
    bar_w = max(1.0, group_w * 0.8 / max(1, len(series)))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="stats-chart" role="img"'
        f' viewBox="0 0 {width} {height}" width="{width}" height="{height}"'
        + (f' id="{_text(chart_id)}"' if chart_id else "")
        + f' aria-label="{_text(title)}">',
        f"<title>{_text(title)}</title>",
        f'<text x="{left}" y="16" {FONT} font-weight="bold">{_text(title)}</text>',
    ]
    for k in range(TICKS + 1):
        value = top_value * k / TICKS
        y = top + plot_h - plot_h * k / TICKS
        parts.append(
            f'<line x1="{left}" y1="{_num(y)}" x2="{width - right}" y2="{_num(y)}"'
            ' stroke="#e2e8f0"/>'
        )
        parts.append(
            f'<text x="{left - 4}" y="{_num(y + 4)}" {FONT} text-anchor="end">'
            f"{_text(fmt(value))}</text>"
        )
    step = max(1, math.ceil(groups / 16))  # at most 16 labels under the axis
    for g, label in enumerate(labels):
        x0 = left + g * group_w + group_w * 0.1
        for s_index, s in enumerate(series):
            v = s.values[g] if g < len(s.values) else 0.0
            h = plot_h * v / top_value if top_value else 0.0
            x = x0 + s_index * bar_w
            parts.append(
                f'<rect class="bar" x="{_num(x)}" y="{_num(top + plot_h - h)}"'
                f' width="{_num(bar_w)}" height="{_num(h)}"'
                f' fill="{PALETTE[s_index % len(PALETTE)]}">'
                f"<title>{_text(label)}: {_text(s.name)} — {_text(fmt(v))}</title></rect>"
            )
        if g % step == 0:
            cx = left + g * group_w + group_w / 2
            parts.append(
                f'<text x="{_num(cx)}" y="{top + plot_h + 14}" {FONT} text-anchor="middle">'
                f"{_text(label[:10])}</text>"
            )
    legend_x = left
    for s_index, s in enumerate(series):
        parts.append(
            f'<rect x="{legend_x}" y="{height - 14}" width="10" height="10"'
            f' fill="{PALETTE[s_index % len(PALETTE)]}"/>'
            f'<text x="{legend_x + 14}" y="{height - 5}" {FONT}>{_text(s.name)}</text>'
        )
        legend_x += 24 + 7 * len(s.name)
    parts.append("</svg>")
    return Markup("".join(parts))


def share_chart(
    title: str,
    items: Sequence[tuple[str, int]],
    *,
    width: int = 760,
    chart_id: str = "",
) -> Markup:
    """Horizontal bars: each item's share of the total, with its count."""
    total = sum(n for _, n in items)
    row_h, top, label_w = 22, 28, 360
    height = top + row_h * max(1, len(items)) + 8
    bar_room = width - label_w - 100
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="stats-chart" role="img"'
        f' viewBox="0 0 {width} {height}" width="{width}" height="{height}"'
        + (f' id="{_text(chart_id)}"' if chart_id else "")
        + f' aria-label="{_text(title)}">',
        f"<title>{_text(title)}</title>",
        f'<text x="0" y="16" {FONT} font-weight="bold">{_text(title)}</text>',
    ]
    for i, (label, n) in enumerate(items):
        share = n / total if total else 0.0
        y = top + i * row_h
        shown = label if len(label) <= 50 else label[:49] + "…"
        pct = f"{share * 100:.1f}".replace(".", ",")
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" {FONT} text-anchor="end">{_text(shown)}</text>'
            f'<rect class="bar" x="{label_w}" y="{y + 3}" width="{_num(bar_room * share)}"'
            f' height="{row_h - 6}" fill="{PALETTE[i % len(PALETTE)]}">'
            f"<title>{_text(label)}: {n}</title></rect>"
            f'<text x="{_num(label_w + bar_room * share + 6)}" y="{y + 14}" {FONT}>'
            f"{_text(f'{pct} % ({n})')}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
