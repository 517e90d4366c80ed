"""The recap chart drawn with Pillow looks as matplotlib drew it (issue 21): same size, bars,
target line, ticks, labels, legend and title, within a pixel or two of text rendering."""

from __future__ import annotations

import datetime as dt
import io
import threading
import warnings
from collections.abc import Sequence
from decimal import Decimal

import numpy as np
import pytest
from PIL import Image

from scheduler.chart import Scale, cjk_font, daily_chart, missing_glyphs, wan, y_ticks

DAYS_8 = tuple(dt.date(2026, 11, 1) + dt.timedelta(days=i) for i in range(8))
DAYS_30 = tuple(dt.date(2026, 11, 1) + dt.timedelta(days=i) for i in range(30))
LABELS = {
    "en": ("gmv by day, 2026-11", "gmv per day", "needed per day for the target"),
    "zh": ("2026年11月 每日 成交额", "每日 成交额", "达标所需日均"),
}


def figures(days: Sequence[dt.date], base: int) -> tuple[Decimal | None, ...]:
    return tuple(
        Decimal(base + base // 16 * (i % 4)) if i % 5 != 3 else None for i in range(len(days))
    )


CASES = {
    "a week": (DAYS_8, figures(DAYS_8, 14000), Decimal(15000)),
    "a month": (DAYS_30, figures(DAYS_30, 14000), Decimal(15000)),
    "millions (1e6 above the axis)": (DAYS_8, figures(DAYS_8, 1_250_000), Decimal(1_300_000)),
    "nothing reported": (DAYS_8[:5], (None,) * 5, Decimal(500)),
    "all zero, no target": (DAYS_8[:5], (Decimal(0),) * 5, None),
    "losses": (DAYS_8[:7], tuple(Decimal(300 - 120 * i) for i in range(7)), None),
}
LOCALES = ["en", pytest.param("zh", marks=pytest.mark.skipif(cjk_font() is None, reason="no CJK"))]


def matplotlib_chart(
    days: Sequence[dt.date],
    values: Sequence[Decimal | None],
    needed: Decimal | None,
    locale: str,
) -> bytes:
    """The chart as matplotlib drew it before Pillow did (``Figure`` on the Agg canvas)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    title, bars_label, line_label = LABELS[locale]
    family = cjk_font()
    figure = Figure(figsize=(7.0, 3.2), dpi=90)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = list(range(len(days)))
    heights = [float(v) if v is not None else 0.0 for v in values]
    colours = [
        "#2f7ed8" if needed is None or v is None or v >= needed else "#e4572e" for v in values
    ]
    axes.bar(positions, heights, color=colours, label=bars_label)
    if needed is not None:
        axes.axhline(float(needed), color="#333333", linestyle="--", label=line_label)
    step = max(1, len(days) // 10)
    axes.set_xticks(positions[::step], [d.strftime("%m-%d") for d in days][::step])
    axes.set_title(title, fontsize=10, **({"fontfamily": family} if family else {}))
    axes.legend(loc="upper left", fontsize=8, prop={"family": family} if family else None)
    axes.spines[["top", "right"]].set_visible(False)
    axes.tick_params(labelsize=8)
    if locale == "zh":
        axes.yaxis.set_major_formatter(FuncFormatter(wan))
        axes.tick_params(labelfontfamily=family)
    figure.subplots_adjust(left=0.1, right=0.98, top=0.9, bottom=0.12)
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def ink_box(image: np.ndarray, left: int, top: int, right: int, bottom: int) -> tuple[int, ...]:
    """The bounding box of the text in a region: grey to black pixels (the bars are coloured,
    and light where they show through the legend's box)."""
    region = image[top:bottom, left:right]
    grey = region.max(axis=2) - region.min(axis=2) < 24
    rows, cols = np.nonzero(grey & (region.mean(axis=2) < 170))
    assert rows.size, "nothing drawn there"
    return (left + cols.min(), top + rows.min(), left + cols.max(), top + rows.max())


REGIONS = {
    "title": (150, 0, 630, 27),
    "y labels": (0, 30, 58, 270),
    "x labels": (63, 259, 630, 288),
    "legend text": (100, 36, 180, 110),
}


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("case", list(CASES))
def test_the_chart_looks_as_matplotlib_drew_it(case: str, locale: str) -> None:
    days, values, needed = CASES[case]
    title, bars_label, line_label = LABELS[locale]
    drawn = daily_chart(
        days, values, needed, title=title, bars_label=bars_label, line_label=line_label,
        locale=locale,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # matplotlib's own deprecations are not the point
        reference = pixels(matplotlib_chart(days, values, needed, locale))
    ours = pixels(drawn)

    assert ours.shape == reference.shape == (288, 630, 3)
    # Bars, line, axes, legend box: the same pixels; text differs by its rasterizer only.
    assert (abs(ours - reference) > 8).mean() < 0.04
    for name, region in REGIONS.items():
        mine, theirs = ink_box(ours, *region), ink_box(reference, *region)
        assert max(abs(a - b) for a, b in zip(mine, theirs, strict=True)) <= 2, (name, mine, theirs)


def test_drawing_in_threads_gives_the_same_bytes_as_one_at_a_time() -> None:
    """Charts are drawn in worker threads: each thread's fonts are its own."""
    jobs = [(case, locale) for case in CASES for locale in ("en", "zh")]

    def draw(case: str, locale: str) -> bytes:
        days, values, needed = CASES[case]
        title, bars, line = LABELS[locale if cjk_font() else "en"]
        return daily_chart(
            days, values, needed, title=title, bars_label=bars, line_label=line, locale=locale
        )

    alone = [draw(*job) for job in jobs]
    together: dict[int, bytes] = {}

    def worker(offset: int) -> None:
        for i in range(offset, len(jobs), 4):
            together[i] = draw(*jobs[i])

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [together[i] for i in range(len(jobs))] == alone


def test_the_y_axis_reads_in_wan_in_chinese_and_scales_millions_in_english() -> None:
    scale = Scale.of(8, [1_650_000.0], 1_300_000.0)
    ticks, offset = y_ticks(scale, "en")
    assert offset == "1e6" and [label for _, label in ticks][:3] == ["0.0", "0.2", "0.4"]
    ticks, offset = y_ticks(scale, "zh")
    assert offset == "" and [label for _, label in ticks][:3] == ["0", "20万", "40万"]
    assert ticks[-1][0] <= scale.y1


def test_a_missing_glyph_is_found_before_it_is_drawn_as_a_box() -> None:
    assert missing_glyphs("每日 gmv", None) == ["每", "日"]  # DejaVu Sans has no Chinese
    if cjk_font() is not None:
        assert missing_glyphs("2026年11月 每日 成交额 1.5万", cjk_font()) == []
