"""The recap chart: daily figures of one metric against the daily line its target needs.

matplotlib is imported inside the function (it takes a good fraction of a second to import)
and only its object-oriented API is used with the Agg canvas: no pyplot, no global backend, so
charts can be drawn in a worker thread while the event loop keeps sending.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Any

__all__ = ["cjk_font", "daily_chart", "wan"]

_CJK_HINTS = (
    "cjk",
    "wenquanyi",
    "wqy",
    "heiti",
    "simhei",
    "simsun",
    "yahei",
    "pingfang",
    "source han",
)


def _preference(name: str) -> tuple[bool, bool]:
    """Sort key: Simplified Chinese first (Noto's ``… CJK SC``), then sans-serif faces."""
    lowered = name.lower()
    return (not lowered.endswith(" sc"), "sans" not in lowered)


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The family name of an installed font with Chinese glyphs, if there is one.

    Debian's ``fonts-noto-cjk`` (installed by ``.ci/run`` and the README's set-up) gives
    ``Noto Sans CJK SC``, preferred here: Simplified Chinese glyph forms, sans-serif like the
    rest of the chart. Any other CJK family found is used otherwise.
    """
    from matplotlib import font_manager

    names = {
        str(entry.name)
        for entry in font_manager.fontManager.ttflist
        if any(hint in entry.name.lower() for hint in _CJK_HINTS)
    }
    return min(sorted(names), key=_preference) if names else None


def wan(value: float, _position: object = None) -> str:
    """An axis figure as a Chinese reader glances at it: ``1.5万`` from 15,000 (10,000 and up;
    smaller figures as they are). Only for the chart's axis: text keeps exact figures."""
    if abs(value) < 10_000:
        return f"{value:,.0f}"
    shown = f"{value / 10_000:.2f}".rstrip("0").rstrip(".")
    return f"{shown}万"


def _chinese_axis(axes: Any, family: str | None) -> None:
    """Axis figures in 万, drawn with the CJK font."""
    from matplotlib.ticker import FuncFormatter

    axes.yaxis.set_major_formatter(FuncFormatter(wan))
    if family is not None:
        axes.tick_params(labelfontfamily=family)


def daily_chart(
    days: Sequence[dt.date],
    values: Sequence[Decimal | None],
    needed_per_day: Decimal | None,
    *,
    title: str,
    bars_label: str,
    line_label: str,
    locale: str = "en",
) -> bytes:
    """Draw the chart as PNG bytes.

    Args:
        days: The days on the x axis.
        values: Each day's figure (None: not reported; drawn as no bar).
        needed_per_day: The daily figure that meets the target (None: no target line).
        title: The chart title (ASCII unless a Chinese font is installed).
        bars_label: Legend text of the bars.
        line_label: Legend text of the target line.
        locale: ``zh`` writes the axis figures in 万 (``1.5万``).

    Returns:
        A PNG image.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.0, 3.2), dpi=90)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    family = cjk_font()
    positions = list(range(len(days)))
    # Pixels, not money: the figures become floats only here, to be drawn.
    heights = [float(v) if v is not None else 0.0 for v in values]
    colours = [
        "#2f7ed8" if needed_per_day is None or v is None or v >= needed_per_day else "#e4572e"
        for v in values
    ]
    axes.bar(positions, heights, color=colours, label=bars_label)
    if needed_per_day is not None:
        axes.axhline(float(needed_per_day), color="#333333", linestyle="--", label=line_label)
    step = max(1, len(days) // 10)
    axes.set_xticks(positions[::step], [d.strftime("%m-%d") for d in days][::step])
    if family is not None:
        axes.set_title(title, fontsize=10, fontfamily=family)
    else:
        axes.set_title(title, fontsize=10)
    axes.legend(loc="upper left", fontsize=8, prop={"family": family} if family else None)
    axes.spines[["top", "right"]].set_visible(False)
    axes.tick_params(labelsize=8)
    if locale == "zh":
        _chinese_axis(axes, family)
    # Fixed margins: tight_layout would draw the whole figure a second time.
    figure.subplots_adjust(left=0.1, right=0.98, top=0.9, bottom=0.12)
    out = io.BytesIO()
    # No "Software" metadata: the same figures make the same bytes.
    figure.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()
