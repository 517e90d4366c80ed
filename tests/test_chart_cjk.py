"""A Chinese recap chart draws its Chinese title, legend and 万 axis with a CJK font."""

from __future__ import annotations

import datetime as dt
import warnings
from decimal import Decimal

import pytest

from scheduler.chart import cjk_font, daily_chart, wan
from scheduler.recap import ChartData, render_chart

DAYS = tuple(dt.date(2026, 11, d) for d in range(2, 9))
VALUES = tuple(
    None if v is None else Decimal(v) for v in (14000, 14000, None, 14000, 15000, 15000, 15000)
)

needs_font = pytest.mark.skipif(
    cjk_font() is None, reason="no CJK font installed (Debian: fonts-noto-cjk; see README)"
)


def test_axis_figures_read_in_wan_from_ten_thousand() -> None:
    assert wan(150_000) == "15万"
    assert wan(15_000) == "1.5万"
    assert wan(12_345) == "1.23万"
    assert wan(12_500) == "1.25万"
    assert wan(9_000) == "9,000"
    assert wan(0) == "0"


@needs_font
def test_the_cjk_font_is_simplified_chinese_sans_when_noto_is_installed() -> None:
    name = cjk_font()
    assert name is not None and "CJK" in name
    if "Noto Sans CJK SC" in _families():
        assert name == "Noto Sans CJK SC"


def _families() -> set[str]:
    from matplotlib import font_manager

    return {str(f.name) for f in font_manager.fontManager.ttflist}


@needs_font
def test_a_chinese_chart_renders_every_glyph_without_a_missing_glyph_warning() -> None:
    data = ChartData(
        "gmv", DAYS, VALUES, Decimal(150000) / 7, "2026-W45", {}, {"zh": "2026年第45周"}
    )
    with warnings.catch_warnings():
        # matplotlib warns "Glyph 25104 (\\N{CJK ...}) missing from font(s) DejaVu Sans" for a
        # character it can only draw as a box: an error here.
        warnings.simplefilter("error")
        chart = render_chart(data, "zh")
    assert chart.content.startswith(b"\x89PNG")
    assert chart.title == "2026年第45周 每日 成交额"


def test_without_the_cjk_font_the_same_chart_would_warn_about_missing_glyphs() -> None:
    """The check above has teeth: Chinese drawn in the default font warns of missing glyphs."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        figure = Figure()
        FigureCanvasAgg(figure)
        figure.suptitle("每日 成交额", fontfamily="DejaVu Sans")
        figure.canvas.draw()
    assert any("missing from font" in str(w.message) for w in caught)


@needs_font
def test_daily_chart_in_chinese_differs_from_the_ascii_fallback() -> None:
    """Chinese text is drawn (glyphs, not boxes): the zh and en charts differ in pixels."""
    common = {"title": "x", "bars_label": "x", "line_label": "x"}
    zh = daily_chart(DAYS, VALUES, None, **{**common, "title": "每日 成交额"}, locale="zh")
    en = daily_chart(DAYS, VALUES, None, **common)
    assert zh != en
