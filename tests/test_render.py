"""How figures are written in replies: money at the minor unit, counts whole, others ≤ 2 places;
periods and capped lists as each language writes them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from bot.core.i18n import translator, user_params, zh_period_label
from bot.core.render import capped_list, fmt_value, period_name
from kpi.dealfile import load_deal
from kpi.model import Deal
from kpi.periods import period_by_label, period_containing

ROOT = Path(__file__).resolve().parents[1]
US = load_deal((ROOT / "bot" / "demo" / "acme-linkstar-us.yaml").read_text(encoding="utf-8"))
JP = load_deal(
    (ROOT / "bot" / "demo" / "acme-linkstar-us.yaml")
    .read_text(encoding="utf-8")
    .replace("currency: USD", "currency: JPY", 1)
)


@pytest.mark.parametrize(
    ("deal", "metric", "value", "shown"),
    [
        (US, "gmv", Decimal("1950"), "1,950"),  # a whole amount as typed
        (US, "gmv", Decimal("101062.5"), "101,062.50"),  # a projection: cents, never one digit
        (US, "gmv", Decimal("32727.272727"), "32,727.27"),
        (US, "gmv", Decimal("0.005"), "0.01"),  # half-up at the minor unit
        (JP, "gmv", Decimal("372201.5"), "372,202"),  # yen have no minor unit
        (US, "orders", Decimal("2366.25"), "2,366"),  # counts are whole
        (US, "gmv", None, "—"),  # nothing reported is not 0
        (US, "net_gmv", Decimal("89362.5"), "89,362.50"),  # gmv - refunds is money too
        (US, "aov", Decimal("42.7"), "42.70"),  # a ratio: 2 places
    ],
)
def test_figures_show_no_more_digits_than_they_mean(
    deal: object, metric: str, value: Decimal | None, shown: str
) -> None:
    assert fmt_value(deal, metric, value) == shown  # type: ignore[arg-type]


# -- periods as people say them ---------------------------------------------------------------

CN_TEXT = (ROOT / "bot" / "demo" / "shenzhen-wanxiang-cn.yaml").read_text(encoding="utf-8")


def _cn(kind: str, starts: str = "2026-11-02") -> Deal:
    """The Chinese demo deal with periods of ``kind`` starting on ``starts``."""
    text = CN_TEXT.replace("period: week", f"period: {kind}", 1)
    return load_deal(text.replace("starts: 2026-11-02", f"starts: {starts}", 1))


@pytest.mark.parametrize(
    ("kind", "starts", "day", "plain", "titled"),
    [
        ("week", "2026-11-02", "2026-11-04", "2026年第45周", "2026年第45周（11-02 至 11-08）"),
        # ISO week 2026-W01 starts on 2025-12-29: the name keeps the label's year.
        ("week", "2025-12-01", "2025-12-30", "2026年第1周", "2026年第1周（12-29 至 01-04）"),
        ("month", "2026-11-01", "2026-11-04", "2026年11月", "2026年11月"),
        ("quarter", "2026-10-01", "2026-11-04", "2026年Q4", "2026年Q4"),
    ],
)
def test_a_chinese_period_name_reads_as_chinese_and_parses_back_to_the_same_period(
    kind: str, starts: str, day: str, plain: str, titled: str
) -> None:
    deal = _cn(kind, starts)
    period = period_containing(deal.starts, deal.period, dt.date.fromisoformat(day))
    assert period_name(deal, period) == plain
    assert period_name(deal, period, dates=True) == titled
    # Typed back into /kpi, /fee or /statement, the name is the same period.
    assert period_by_label(deal.starts, deal.period, plain).label == period.label


def test_an_english_period_name_keeps_the_label_and_says_the_days_in_titles() -> None:
    deal = load_deal(CN_TEXT.replace("locale: zh", "locale: en", 1))
    period = period_containing(deal.starts, deal.period, dt.date(2026, 11, 4))
    assert period_name(deal, period) == "2026-W45"
    assert period_name(deal, period, dates=True) == "week 45 (Nov 2–8)"


def test_a_capped_list_runs_into_chinese_ellipsis_without_a_space() -> None:
    items = [f"11-0{day} 成交额（待确认）" for day in (3, 4, 5)]
    zh = capped_list(translator("zh"), _cn("week"), items, 2)
    assert zh == "11-03 成交额（待确认）、11-04 成交额（待确认）……另有 1 条"
    en = capped_list(translator("en"), US, ["a", "b", "c"], 2)
    assert en == "a, b … and 1 more"


def test_a_bad_period_in_chinese_shows_the_chinese_form_as_its_example() -> None:
    params = {"label": "2026-13", "form": "YYYY-Www", "example": "2026-W45"}
    shown = user_params(params, "zh", str)
    assert shown["form"] == "2026-W45 或 2026年第45周"
    assert shown["example"] == "2026年第45周"
    english = user_params(params, "en", str)
    assert (english["form"], english["example"]) == ("YYYY-Www", "2026-W45")


@pytest.mark.parametrize(
    ("label", "shown"),
    [("2026-W01", "2026年第1周"), ("2026-11", "2026年11月"), ("2026-Q4", "2026年Q4"), ("x", "x")],
)
def test_zh_period_label(label: str, shown: str) -> None:
    assert zh_period_label(label) == shown
