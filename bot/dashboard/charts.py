"""Charts drawn on the server as SVG: daily figures against the daily target, cumulative
against the target pace. No script runs in the browser; colours come from the stylesheet."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from markupsafe import Markup, escape

from kpi.money import format_figure

WIDTH, HEIGHT = 960, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 12, 28


@dataclass(frozen=True)
class Series:
    """What one chart shows: a value per day (None: nothing counted) and a reference line."""

    title: str
    days: Sequence[dt.date]
    values: Sequence[Decimal | None]
    reference: Sequence[Decimal]
    labels: tuple[str, str]
    """Legend texts: the bars or line of ``values``, then the reference line."""


def _scale(top: Decimal) -> tuple[Decimal, list[Decimal]]:
    """A round upper bound at or above ``top`` and four evenly spaced ticks up to it."""
    if top <= 0:
        return Decimal(1), [Decimal(0), Decimal(1)]
    step = Decimal(10) ** (len(str(int(top))) - 1)
    for multiple in (1, 2, 5, 10):
        if step * multiple * 4 >= top:
            step *= multiple
            break
    ticks = [step * i for i in range(5)]
    return ticks[-1], ticks


def _frame(series: Series, top: Decimal, ticks: list[Decimal]) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [f"<title>{escape(series.title)}</title>"]
    for tick in ticks:
        y = TOP + plot_h - float(tick / top) * plot_h
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(format_figure(tick))}</text>"
        )
    count = len(series.days)
    for i, day in enumerate(series.days):
        if count <= 14 or i in (0, count - 1) or (i % 7 == 0 and count - 1 - i >= 3):
            x = LEFT + (i + 0.5) * (WIDTH - LEFT - RIGHT) / count
            parts.append(
                f'<text class="axis" x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="middle">'
                f"{day.strftime('%m-%d')}</text>"
            )
    return parts


def _points(values: Sequence[Decimal], top: Decimal, count: int) -> str:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    return " ".join(
        f"{LEFT + (i + 0.5) * plot_w / count:.1f},{TOP + plot_h - float(v / top) * plot_h:.1f}"
        for i, v in enumerate(values)
    )


def _svg(series: Series, body: list[str]) -> Markup:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(series.title)}">'
    )
    return Markup(head + "".join(body) + "</svg>")


def bars(series: Series) -> Markup:
    """Daily values as bars, the daily target as a line."""
    known = [v for v in series.values if v is not None]
    top, ticks = _scale(max([*known, *series.reference, Decimal(0)]))
    parts = _frame(series, top, ticks)
    count = max(len(series.days), 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    width = plot_w / count * 0.7
    for i, value in enumerate(series.values):
        if value is None or value <= 0:
            continue
        h = float(value / top) * plot_h
        x = LEFT + (i + 0.15) * plot_w / count
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{TOP + plot_h - h:.1f}" '
            f'width="{width:.1f}" height="{h:.1f}"><title>{series.days[i].isoformat()}: '
            f"{escape(format_figure(value))}</title></rect>"
        )
    parts.append(f'<polyline class="ref" points="{_points(series.reference, top, count)}"/>')
    return _svg(series, parts)


def lines(series: Series) -> Markup:
    """Cumulative values as a line (up to the last day counted), the target pace as another."""
    known = [v for v in series.values if v is not None]
    top, ticks = _scale(max([*known, *series.reference, Decimal(0)]))
    parts = _frame(series, top, ticks)
    count = max(len(series.days), 1)
    parts.append(f'<polyline class="ref" points="{_points(series.reference, top, count)}"/>')
    if known:
        parts.append(f'<polyline class="actual" points="{_points(known, top, count)}"/>')
    return _svg(series, parts)


def cumulative(values: Sequence[Decimal | None], upto: int) -> list[Decimal | None]:
    """Running sums of ``values`` over the first ``upto`` days (None after them)."""
    out: list[Decimal | None] = []
    running = Decimal(0)
    for i, value in enumerate(values):
        if i >= upto:
            out.append(None)
            continue
        running += value or 0
        out.append(running)
    return out
