"""The recap chart: daily figures of one metric against the daily line its target needs.

The chart is drawn with Pillow on a fixed layout: a 7 x 3.2 inch figure at 90 dpi (630 x 288
pixels) with the axes, ticks, title and legend where matplotlib's Agg backend put them when it
drew this chart (``Figure``, ``bar``, ``axhline``, ``legend``, ``subplots_adjust``). matplotlib
still supplies what is not drawing: the tick positions and their labels (``matplotlib.ticker``,
pure arithmetic on the axis limits) and the font files (its font manager, which found the CJK
font). Building and drawing a matplotlib figure cost 60-140 ms a chart, most of it laying out
and rendering its text glyph by glyph; Pillow draws the same chart in a few milliseconds.

Drawing needs no global state: fonts are opened once per thread (a FreeType face must not be
used by two threads at once), so charts can be drawn in worker threads while the event loop
keeps sending.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL.ImageDraw import ImageDraw
    from PIL.ImageFont import FreeTypeFont

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


# ----------------------------------------------------------------------------- layout

WIDTH, HEIGHT = 630, 288
"""7.0 x 3.2 inches at 90 dpi."""
PT = 90 / 72
"""Pixels per point."""
LEFT, RIGHT, TOP, BOTTOM = 0.1 * WIDTH, 0.98 * WIDTH, (1 - 0.9) * HEIGHT, (1 - 0.12) * HEIGHT
"""The axes' edges in pixels from the top left (margins 0.1, 0.98, 0.9, 0.12 of the figure)."""
TICK = 3.5 * PT
"""Tick marks: 3.5 points long, outward; their labels 3.5 points beyond."""
BLUE, RED, INK, LINE = "#2f7ed8", "#e4572e", (0, 0, 0), (0x33, 0x33, 0x33)
BAR_WIDTH = 0.8
"""A bar's width in days."""
MARGIN = 0.05
"""The space left beyond the data on either side of an axis, as a share of its span."""


@dataclass(frozen=True)
class Scale:
    """The axes' data limits and their mapping to pixels."""

    x0: float
    x1: float
    y0: float
    y1: float

    @classmethod
    def of(cls, count: int, heights: Sequence[float], needed: float | None) -> Scale:
        """Limits as matplotlib's autoscaling set them: the bars (``count`` days, 0.8 wide)
        and the target line, plus 5% on each side, except at 0, where the bars start."""
        left, right = -BAR_WIDTH / 2, count - 1 + BAR_WIDTH / 2
        span = right - left
        ys = [0.0, *heights, *([needed] if needed is not None else [])]
        low, high = min(ys), max(ys)
        x0, x1 = left - span * MARGIN, right + span * MARGIN
        if high == low:  # every figure 0: matplotlib widens the axis to ±0.05, then pads it
            return cls(x0, x1, -0.05 * (1 + 2 * MARGIN), 0.05 * (1 + 2 * MARGIN))
        pad = (high - low) * MARGIN
        return cls(x0, x1, low if low == 0 else low - pad, high if high == 0 else high + pad)

    def x(self, value: float) -> float:
        return LEFT + (value - self.x0) / (self.x1 - self.x0) * (RIGHT - LEFT)

    def y(self, value: float) -> float:
        return BOTTOM - (value - self.y0) / (self.y1 - self.y0) * (BOTTOM - TOP)


def y_ticks(scale: Scale, locale: str) -> tuple[list[tuple[float, str]], str]:
    """The y axis' ticks within its limits with their labels, and the offset text
    (``1e6`` above the axis when the labels are scaled; usually empty).

    matplotlib's own locator (at most 9 intervals of 1, 2, 2.5 or 5 times a power of ten)
    and formatter: plain figures, or 万 for Chinese."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator, ScalarFormatter

    locator = MaxNLocator(nbins=_bins(), steps=[1, 2, 2.5, 5, 10])
    locs = [v for v in locator.tick_values(scale.y0, scale.y1) if _within(v, scale)]
    formatter: Any = FuncFormatter(wan) if locale == "zh" else ScalarFormatter()
    formatter.create_dummy_axis()
    formatter.axis.set_view_interval(scale.y0, scale.y1)
    labels = formatter.format_ticks(locs)
    return list(zip(locs, labels, strict=True)), formatter.get_offset()


def _bins() -> int:
    """matplotlib's ``nbins="auto"``: the axis' height over twice the labels' size (8 pt),
    at most 9."""
    return max(1, min(9, int((BOTTOM - TOP) / PT // 16)))


def _within(value: float, scale: Scale) -> bool:
    slack = (scale.y1 - scale.y0) * 1e-10
    return scale.y0 - slack <= value <= scale.y1 + slack


# ------------------------------------------------------------------------------ fonts


@dataclass(frozen=True)
class Face:
    """A font at a size, with the height matplotlib gave a line of it: the font's typographic
    ascender and descender (its OS/2 table), whatever the text's own glyphs reach."""

    font: FreeTypeFont
    family: str | None
    ascent: float
    descent: float


@dataclass(frozen=True)
class Fonts:
    """The chart's faces: tick labels at 8 points (DejaVu Sans, or the CJK font in Chinese);
    the title at 10 points and the legend at 10 points in the CJK font when one is installed
    (the legend at 8 points in DejaVu Sans otherwise), as matplotlib drew them."""

    ticks: Face
    title: Face
    legend: Face
    offset: Face
    """The y axis' scale (``1e6``) above it: 10 points, like the tick labels' font."""


_THREAD = threading.local()


def fonts(locale: str) -> Fonts:
    """This thread's fonts for a chart in ``locale`` (opened on first use)."""
    cache: dict[tuple[str, str | None], Fonts] = _THREAD.__dict__.setdefault("fonts", {})
    family = cjk_font()
    key = (locale, family)
    if key not in cache:
        ticks = family if locale == "zh" else None
        cache[key] = Fonts(
            ticks=_face(ticks, 8),
            title=_face(family, 10),
            legend=_face(family, 10) if family is not None else _face(None, 8),
            offset=_face(ticks, 10),
        )
    return cache[key]


def _face(family: str | None, points: float) -> Face:
    from PIL import ImageFont

    path, index = font_file(family)
    pixels = points * PT
    font = ImageFont.truetype(path, pixels, index=index, layout_engine=ImageFont.Layout.BASIC)
    ascender, descender = _line_metrics(family)
    return Face(font, family, ascender * pixels, descender * pixels)


@lru_cache(maxsize=8)
def _line_metrics(family: str | None) -> tuple[float, float]:
    """The font's typographic ascender and descender, in ems (OS/2; FreeType's otherwise)."""
    from matplotlib.font_manager import get_font

    face = get_font(_found(family))
    per_em = face.units_per_EM
    typo = face.get_sfnt_table("OS/2")
    if typo is not None:
        return typo["sTypoAscender"] / per_em, -typo["sTypoDescender"] / per_em
    return face.ascender / per_em, -face.descender / per_em


@lru_cache(maxsize=8)
def _found(family: str | None) -> Any:
    """What matplotlib's font manager picks for ``family`` (``None``: its default
    sans-serif, DejaVu Sans): a path, with the face's index in a collection (3.11 on)."""
    from matplotlib import font_manager

    return font_manager.findfont(font_manager.FontProperties(family=[family or "sans-serif"]))


def font_file(family: str | None) -> tuple[str, int]:
    """The font file for ``family`` and the face's index in it (0 but in a collection)."""
    found = _found(family)
    return os.fspath(found), int(getattr(found, "face_index", 0))


def missing_glyphs(text: str, family: str | None) -> list[str]:
    """The characters of ``text`` that ``family``'s font has no glyph for (drawn as boxes)."""
    from matplotlib.font_manager import get_font

    face = get_font(_found(family))
    return [c for c in dict.fromkeys(text) if not c.isspace() and face.get_char_index(ord(c)) == 0]


def _warn_missing(text: str, family: str | None) -> None:
    """Warn, as matplotlib did, of each character the font cannot draw."""
    for ch in missing_glyphs(text, family):
        warnings.warn(
            f"Glyph {ord(ch)} ({ch!r}) missing from font {family or 'DejaVu Sans'}",
            RuntimeWarning,
            stacklevel=3,
        )


# ---------------------------------------------------------------------------- drawing


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
        locale: ``zh`` writes the axis figures in 万 (``1.5万``) in the CJK font.

    Returns:
        A PNG image.
    """
    from PIL import Image, ImageDraw

    # Pixels, not money: the figures become floats only here, to be drawn.
    heights = [float(v) if v is not None else 0.0 for v in values]
    colours = [
        BLUE if needed_per_day is None or v is None or v >= needed_per_day else RED
        for v in values
    ]
    needed = None if needed_per_day is None else float(needed_per_day)
    scale = Scale.of(len(days), heights, needed)
    face = fonts(locale)
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image, "RGBA")
    _bars(draw, scale, heights, colours)
    _axes(draw, scale, days, locale, face)
    if needed is not None:
        _dashes(draw, LEFT, RIGHT, round(scale.y(needed)))
    _spines(draw)
    rows = [(None, line_label)] if needed is not None else []
    _legend(draw, [*rows, (colours[0] if colours else BLUE, bars_label)], face.legend)
    _warn_missing(title, face.title.family)
    _text(draw, ((LEFT + RIGHT) / 2, TOP - 6 * PT), title, face.title, "m", "baseline")
    out = io.BytesIO()
    image.save(out, format="png")
    return out.getvalue()


def _bars(draw: ImageDraw, scale: Scale, heights: Sequence[float], colours: Sequence[str]) -> None:
    """The bars, their edges on whole pixels (as Agg snaps a rectangle)."""
    zero = round(scale.y(0))
    for day, (height, colour) in enumerate(zip(heights, colours, strict=True)):
        top = round(scale.y(height))
        if top == zero:
            continue
        left, right = round(scale.x(day - BAR_WIDTH / 2)), round(scale.x(day + BAR_WIDTH / 2))
        draw.rectangle((left, min(top, zero), right - 1, max(top, zero) - 1), fill=colour)


def _axes(
    draw: ImageDraw, scale: Scale, days: Sequence[dt.date], locale: str, faces: Fonts
) -> None:
    """Tick marks and labels: a day every tenth of the days, and the y axis' figures."""
    step = max(1, len(days) // 10)
    below = BOTTOM + 2 * TICK
    font = faces.ticks
    for day in range(0, len(days), step):
        x = int(scale.x(day))
        _box(draw, x, int(BOTTOM) + 0.5, x + 1, int(BOTTOM) + 4.5, INK)
        _text(draw, (scale.x(day), below), f"{days[day]:%m-%d}", font, "m", "top")
    ticks, offset = y_ticks(scale, locale)
    _warn_missing("".join(label for _, label in ticks), font.family)
    for value, label in ticks:
        y = int(scale.y(value))
        _box(draw, int(LEFT) - 4.5, y, int(LEFT) + 0.5, y + 1, INK)
        _text(draw, (LEFT - 2 * TICK, scale.y(value)), label, font, "r", "center_baseline")
    if offset:
        _text(draw, (LEFT, TOP - 3 * PT), offset, faces.offset, "l", "baseline")


def _spines(draw: ImageDraw) -> None:
    """The left and bottom axis lines (0.8 points: one pixel); no top or right one."""
    left, bottom = int(LEFT), int(BOTTOM)
    draw.rectangle((left, int(TOP), left, bottom), fill=INK)
    draw.rectangle((left, bottom, int(RIGHT), bottom), fill=INK)


def _dashes(draw: ImageDraw, start: float, end: float, y: int) -> None:
    """A dashed line 1.5 points thick centred on the pixel boundary ``y`` (dashes of 3.7 and
    gaps of 1.6 line widths, matplotlib's ``--``)."""
    width = 1.5 * PT
    on, off = 3.7 * width, 1.6 * width
    x = start
    while x < end:
        _box(draw, x, y - width / 2, min(x + on, end), y + width / 2, LINE)
        x += on + off


def _legend(draw: ImageDraw, rows: Sequence[tuple[str | None, str]], face: Face) -> None:
    """The legend in the upper left corner: a dashed-line handle (colour ``None``) or a bar's
    swatch beside each label, in a white box with rounded corners (80% opaque, over the bars).

    Sizes in units of the legend's font size, as matplotlib's defaults: 0.5 from the axes, 0.4
    inside the box, 0.5 between rows, handles 2 long and 0.7 high, 0.8 before the text."""
    size = face.font.size
    _warn_missing("".join(label for _, label in rows), face.family)
    line = face.ascent + face.descent
    x0 = LEFT + 0.5 * size
    y0 = TOP + 0.5 * size
    x1 = x0 + 3.6 * size + max(face.font.getlength(label) for _, label in rows)
    y1 = y0 + 0.8 * size + line * len(rows) + 0.5 * size * (len(rows) - 1)
    _frame(draw, x0, y0, x1, y1, 0.2 * size)
    left = x0 + 0.4 * size
    for row, (colour, label) in enumerate(rows):
        baseline = y0 + 0.4 * size + row * (line + 0.5 * size) + face.ascent
        if colour is None:
            _dashes(draw, left, left + 2.0 * size, round(baseline - 0.35 * size))
        else:
            _box(draw, left, baseline - 0.7 * size, left + 2.0 * size, baseline, _rgb(colour))
        _text(draw, (left + 2.8 * size, baseline), label, face, "l", "baseline")


def _frame(draw: ImageDraw, x0: float, y0: float, x1: float, y1: float, radius: float) -> None:
    """The legend's box: white at 80%, edged in light grey at 80%, corners rounded."""
    box = (int(x0), int(y0), int(x1), int(y1))
    draw.rounded_rectangle(box, round(radius), fill=(255, 255, 255, 204))
    draw.rounded_rectangle(box, round(radius), outline=(204, 204, 204, 204), width=1)


def _text(
    draw: ImageDraw, at: tuple[float, float], text: str, face: Face, align: str, valign: str
) -> None:
    """Draw ``text`` placed as matplotlib places it: ``align`` ``l``, ``m`` or ``r`` of the
    point; ``valign`` ``baseline``, ``top`` (the line's ascent below the point) or
    ``center_baseline`` (the middle of the ascent at the point)."""
    x, y = at
    if valign == "top":
        y += face.ascent
    elif valign == "center_baseline":
        y += face.ascent / 2
    draw.text((x, y), text, font=face.font, fill=INK, anchor=align + "s")


def _box(
    draw: ImageDraw, x0: float, y0: float, x1: float, y1: float, colour: tuple[int, ...]
) -> None:
    """Fill the rectangle from ``(x0, y0)`` to ``(x1, y1)``: a pixel it partly covers is
    blended in by how much it covers (antialiased edges)."""
    for left, right, wide in _spans(x0, x1):
        for top, bottom, high in _spans(y0, y1):
            alpha = round(255 * wide * high)
            if alpha:
                draw.rectangle((left, top, right - 1, bottom - 1), fill=(*colour[:3], alpha))


def _spans(start: float, end: float) -> list[tuple[int, int, float]]:
    """The pixels from ``start`` to ``end``: runs ``(first, past the last, coverage)``."""
    first, last = int(start // 1), int(-(-end // 1))
    if last - first <= 1:
        return [(first, first + 1, end - start)] if end > start else []
    runs = [(first, first + 1, first + 1 - start), (first + 1, last - 1, 1.0)]
    runs.append((last - 1, last, end - (last - 1)))
    return [run for run in runs if run[1] > run[0] and run[2] > 0]


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)
