"""Server-rendered SVG charts: no JavaScript library, works offline, prints, and is testable.

Each builder returns a ``SafeString`` holding one ``<svg>`` element, ready for a template
(``{{ chart }}``). Every text passed in is escaped. The SVG has ``role="img"``, a ``<title>`` and a
``<desc>`` (screen readers announce them), axis labels and a legend, and inherits the page font.

Stable API (other pages reuse it; add keyword arguments, never change these):

``bar_chart(*, title, bars, chart_id="", description="", value_axis_label="", category_axis_label="",
value_format=format_number, width=640, bar_height=28) -> SafeString``
    Horizontal bars, one per ``Bar(label, value, key="", note="")``, in the given order (a funnel
    reads top to bottom). ``note`` is printed after the value (e.g. "42% of treatment"). Each bar's
    ``<rect>`` carries ``data-key`` (``key`` or the label) and ``data-value``.

``line_chart(*, title, series, chart_id="", description="", x_axis_label="", y_axis_label="",
x_format=format_number, y_format=format_number, width=640, height=300, y_min=None, y_max=None,
zero_line=True) -> SafeString``
    One polyline per ``Series(label, points, key="", dashed=False, color=None)``; ``points`` are
    ``(x, y)`` pairs with numeric or ``date`` x (dates are spaced by day) and ``y`` a number or
    ``None`` (a gap). Each series' ``<g>`` has ``data-series`` = ``key`` (or the label) and, when
    ``chart_id`` is given, ``id="<chart_id>-<key>"`` so tests and CSS can find it. A horizontal
    rule marks y = 0 when the range crosses it.

``format_number(value)``, ``format_percent(value, digits=0)`` (0.25 → "25%") and
``format_date(value)`` (ISO month-day) are
ready-made formatters for axis ticks and bar values. ``PALETTE`` is the colour order used for series
without an explicit colour.

Example::

    from config.charts import Bar, Series, bar_chart, line_chart, format_percent
    funnel = bar_chart(title="Funnel", bars=[Bar("Members", 1000), Bar("Reached", 420)])
    trend = line_chart(
        title="Repurchase", series=[Series("Treatment", [(0, 0.0), (1, 0.02)])],
        y_format=format_percent,
    )
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

Number = int | float | Decimal
XValue = Number | date

PALETTE = ("#1f6feb", "#8b949e", "#1a7f37", "#9a6700", "#cf222e", "#8250df", "#0a7ea4", "#bf3989")
TEXT_COLOUR = "#1d2330"
MUTED_COLOUR = "#5b6477"
GRID_COLOUR = "#d9dee8"


@dataclass(frozen=True)
class Bar:
    label: str
    value: Number
    key: str = ""
    note: str = ""
    color: str | None = None


@dataclass(frozen=True)
class Series:
    label: str
    points: Sequence[tuple[XValue, Number | None]] = field(default_factory=list)
    key: str = ""
    dashed: bool = False
    color: str | None = None


# --- formatters ---------------------------------------------------------------------------------


def format_number(value: object) -> str:
    if isinstance(value, date):
        return format_date(value)
    if not isinstance(value, int | float | Decimal):
        return str(value)
    number = float(value)
    if number.is_integer():
        return f"{int(number):,}"
    if abs(number) >= 100:
        return f"{number:,.0f}"
    return f"{number:,.2f}".rstrip("0").rstrip(".")


def format_percent(value: object, digits: int = 0) -> str:
    if not isinstance(value, int | float | Decimal):
        return str(value)
    return f"{float(value) * 100:.{digits}f}%"


def format_date(value: object) -> str:
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.strftime("%m-%d")
    return str(value)


# --- helpers --------------------------------------------------------------------------------------


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (1, 2, 2.5, 5 × 10ⁿ steps)."""
    if not math.isfinite(low) or not math.isfinite(high):
        return [0.0]
    if high < low:
        low, high = high, low
    if high == low:
        high = low + (abs(low) or 1.0)
    raw_step = (high - low) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = magnitude
    for multiple in (1, 2, 2.5, 5, 10):
        step = multiple * magnitude
        if step >= raw_step:
            break
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 12))
    return ticks


def _x_number(x: XValue) -> float:
    if isinstance(x, datetime):
        return float(x.date().toordinal())
    if isinstance(x, date):
        return float(x.toordinal())
    return float(x)


def _attr(value: object) -> str:
    return escape(str(value))


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in text).strip("-") or "s"


def _svg_open(
    *, width: int, height: int, title: str, description: str, chart_id: str, kind: str
) -> tuple[str, str]:
    ident = _slug(chart_id) if chart_id else f"chart-{zlib.crc32((kind + title).encode()):08x}"
    title_id, desc_id = f"{ident}-title", f"{ident}-desc"
    id_attr = f' id="{_attr(ident)}"' if chart_id else ""
    return (
        ident,
        f'<svg xmlns="http://www.w3.org/2000/svg"{id_attr} class="chart chart-{kind}" '
        f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet" '
        f'role="img" aria-labelledby="{title_id} {desc_id}" data-chart="{kind}" '
        f'font-family="inherit" font-size="12" style="max-width:{width}px">'
        f'<title id="{title_id}">{escape(title)}</title>'
        f'<desc id="{desc_id}">{escape(description or title)}</desc>',
    )


# --- bar chart ------------------------------------------------------------------------------------


def bar_chart(
    *,
    title: str,
    bars: Sequence[Bar],
    chart_id: str = "",
    description: str = "",
    value_axis_label: str = "",
    category_axis_label: str = "",
    value_format: Callable[[object], str] = format_number,
    width: int = 640,
    bar_height: int = 28,
) -> SafeString:
    """Horizontal bar chart (see the module docstring)."""
    label_width = min(220, max(80, 8 * max((len(b.label) for b in bars), default=8)))
    right = 150  # room for the value and the note
    top, gap = 8, 8
    bottom = 34 if value_axis_label else 14
    plot_width = max(width - label_width - right, 60)
    height = top + len(bars) * (bar_height + gap) + bottom
    maximum = max((float(b.value) for b in bars), default=0.0)
    scale = plot_width / maximum if maximum > 0 else 0.0
    _ident, head = _svg_open(
        width=width,
        height=height,
        title=title,
        description=description,
        chart_id=chart_id,
        kind="bar",
    )
    parts = [head]
    if category_axis_label:
        parts.append(
            f'<text x="0" y="{top - 1}" fill="{MUTED_COLOUR}" font-size="11">'
            f"{escape(category_axis_label)}</text>"
        )
    parts.append(
        f'<line x1="{label_width}" y1="{top}" x2="{label_width}" '
        f'y2="{top + len(bars) * (bar_height + gap)}" stroke="{GRID_COLOUR}"/>'
    )
    for index, bar in enumerate(bars):
        y = top + index * (bar_height + gap)
        value = float(bar.value)
        length = max(value * scale, 0.0)
        colour = bar.color or PALETTE[0]
        key = bar.key or bar.label
        text_y = y + bar_height / 2 + 4
        parts.append(
            f'<text x="{label_width - 6}" y="{text_y:.1f}" text-anchor="end" '
            f'fill="{TEXT_COLOUR}">{escape(bar.label)}</text>'
        )
        parts.append(
            f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{bar_height}" '
            f'rx="2" fill="{colour}" data-key="{_attr(key)}" data-value="{_attr(bar.value)}">'
            f"<title>{escape(bar.label)}: {escape(value_format(bar.value))}</title></rect>"
        )
        note = f" · {bar.note}" if bar.note else ""
        parts.append(
            f'<text x="{label_width + length + 6:.1f}" y="{text_y:.1f}" fill="{TEXT_COLOUR}">'
            f"{escape(value_format(bar.value))}"
            f'<tspan fill="{MUTED_COLOUR}">{escape(note)}</tspan></text>'
        )
    if value_axis_label:
        parts.append(
            f'<text x="{label_width + plot_width / 2:.1f}" y="{height - 8}" text-anchor="middle" '
            f'fill="{MUTED_COLOUR}" font-size="11">{escape(value_axis_label)}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped


# --- line chart -----------------------------------------------------------------------------------


def line_chart(
    *,
    title: str,
    series: Sequence[Series],
    chart_id: str = "",
    description: str = "",
    x_axis_label: str = "",
    y_axis_label: str = "",
    x_format: Callable[[object], str] = format_number,
    y_format: Callable[[object], str] = format_number,
    width: int = 640,
    height: int = 300,
    y_min: float | None = None,
    y_max: float | None = None,
    zero_line: bool = True,
) -> SafeString:
    """Multi-series line chart with legend (see the module docstring)."""
    left, right, top = 64, 16, 12
    legend_height = 22 * math.ceil(len(series) / 3) if series else 0
    bottom = 28 + (18 if x_axis_label else 0) + legend_height
    plot_w, plot_h = width - left - right, height - top - bottom

    xs = [_x_number(x) for s in series for x, _y in s.points]
    ys = [float(y) for s in series for _x, y in s.points if y is not None]
    dates = any(isinstance(x, date) for s in series for x, _y in s.points)
    x_low, x_high = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if x_high == x_low:
        x_high = x_low + 1
    y_low = y_min if y_min is not None else min([*ys, 0.0])
    y_high = y_max if y_max is not None else max([*ys, 0.0])
    y_ticks = nice_ticks(y_low, y_high)
    y_low, y_high = min(y_ticks[0], y_low), max(y_ticks[-1], y_high)
    if y_high == y_low:
        y_high = y_low + 1

    def px(x: float) -> float:
        return left + (x - x_low) / (x_high - x_low) * plot_w

    def py(y: float) -> float:
        return top + plot_h - (y - y_low) / (y_high - y_low) * plot_h

    ident, head = _svg_open(
        width=width,
        height=height,
        title=title,
        description=description,
        chart_id=chart_id,
        kind="line",
    )
    parts = [head]
    # Grid and y ticks.
    for tick in y_ticks:
        y = py(tick)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
            f'stroke="{GRID_COLOUR}" stroke-width="1"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED_COLOUR}" '
            f'font-size="11">{escape(y_format(tick))}</text>'
        )
    if zero_line and y_low < 0 < y_high:
        parts.append(
            f'<line class="zero" x1="{left}" y1="{py(0):.1f}" x2="{left + plot_w}" '
            f'y2="{py(0):.1f}" stroke="{MUTED_COLOUR}" stroke-width="1"/>'
        )
    # X ticks.
    x_ticks = nice_ticks(x_low, x_high, count=min(6, max(int(x_high - x_low), 1)))
    x_ticks = [t for t in x_ticks if x_low - 1e-9 <= t <= x_high + 1e-9]
    for tick in x_ticks:
        x = px(tick)
        label = x_format(date.fromordinal(int(tick)) if dates else tick)
        parts.append(
            f'<line x1="{x:.1f}" y1="{top + plot_h}" x2="{x:.1f}" y2="{top + plot_h + 4}" '
            f'stroke="{MUTED_COLOUR}"/><text x="{x:.1f}" y="{top + plot_h + 16}" '
            f'text-anchor="middle" fill="{MUTED_COLOUR}" font-size="11">{escape(label)}</text>'
        )
    parts.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        f'stroke="{MUTED_COLOUR}"/><line x1="{left}" y1="{top}" x2="{left}" '
        f'y2="{top + plot_h}" stroke="{MUTED_COLOUR}"/>'
    )
    if x_axis_label:
        parts.append(
            f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h + 34}" text-anchor="middle" '
            f'fill="{MUTED_COLOUR}" font-size="11">{escape(x_axis_label)}</text>'
        )
    if y_axis_label:
        cy = top + plot_h / 2
        parts.append(
            f'<text x="12" y="{cy:.1f}" text-anchor="middle" fill="{MUTED_COLOUR}" '
            f'font-size="11" transform="rotate(-90 12 {cy:.1f})">{escape(y_axis_label)}</text>'
        )
    # Series.
    for index, one in enumerate(series):
        colour = one.color or PALETTE[index % len(PALETTE)]
        key = one.key or _slug(one.label)
        id_attr = f' id="{_attr(ident)}-{_attr(key)}"' if chart_id else ""
        dash = ' stroke-dasharray="6 4"' if one.dashed else ""
        parts.append(
            f'<g class="series"{id_attr} data-series="{_attr(key)}" '
            f'data-points="{sum(1 for _x, y in one.points if y is not None)}">'
            f"<title>{escape(one.label)}</title>"
        )
        segment: list[str] = []
        segments: list[list[str]] = []
        for x, y in one.points:
            if y is None:
                if segment:
                    segments.append(segment)
                segment = []
                continue
            segment.append(f"{px(_x_number(x)):.1f},{py(float(y)):.1f}")
        if segment:
            segments.append(segment)
        for points in segments:
            if len(points) == 1:
                cx, cy = points[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="{colour}"/>')
            else:
                parts.append(
                    f'<polyline fill="none" stroke="{colour}" stroke-width="2"{dash} '
                    f'stroke-linejoin="round" points="{" ".join(points)}"/>'
                )
        parts.append("</g>")
    # Legend.
    legend_top = height - legend_height + 6
    column = (width - left) / 3
    for index, one in enumerate(series):
        colour = one.color or PALETTE[index % len(PALETTE)]
        lx = left + (index % 3) * column
        ly = legend_top + (index // 3) * 22
        dash = ' stroke-dasharray="6 4"' if one.dashed else ""
        parts.append(
            f'<g class="legend-item"><line x1="{lx:.1f}" y1="{ly + 6}" x2="{lx + 22:.1f}" '
            f'y2="{ly + 6}" stroke="{colour}" stroke-width="3"{dash}/>'
            f'<text x="{lx + 28:.1f}" y="{ly + 10}" fill="{TEXT_COLOUR}">'
            f"{escape(one.label)}</text></g>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped
