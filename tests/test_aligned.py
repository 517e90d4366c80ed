"""Ratios over the days both figures exist: a non-linear derived metric (roi = gmv / ad_spend)
over a period or a week is evaluated on the days all its inputs were reported, and every answer
that shows it says when days were left out. Linear metrics (net_gmv) stay on the totals."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal

import pytest

from bot.app import Core, build_core, dashboard_sources
from bot.core import VirtualClock
from bot.core.i18n import translator
from bot.core.views.aligned import aligned_note
from bot.dashboard.page import page_context
from bot.settings import Settings
from kpi.dealfile import load_deal
from kpi.errors import DealFileError
from kpi.formula import Formula
from kpi.model import Deal, Metric
from kpi.pace import Aligned, aligned_values, period_totals, project
from kpi.periods import Period
from kpi.sides import Figure, Status
from tests.test_trust import DEAL_TEXT, SELLER, SELLER_CHAT, local, say
from tests.test_views_fresh_eyes import (
    CN_AGENCY,
    CN_CHAT,
    CN_SELLER,
    WANXIANG_TEXT,
    cn,
    recap_text,
)
from tests.test_wording_replay import SHARED, play, texts

ACME = load_deal(DEAL_TEXT)
WANXIANG = load_deal(WANXIANG_TEXT)


# --- Formula.linear ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("deal", "metric", "linear"),
    [
        (ACME, "net_gmv", True),
        (ACME, "roi", False),
        (ACME, "aov", False),
        (ACME, "refund_rate", False),
        (WANXIANG, "refund_rate", False),
        (WANXIANG, "roi", False),
        (WANXIANG, "cvr", False),
    ],
)
def test_the_demo_deals_formulas_say_whether_they_are_linear(
    deal: Deal, metric: str, linear: bool
) -> None:
    formula = deal.metrics[metric].formula
    assert formula is not None
    assert formula.linear is linear


@pytest.mark.parametrize(
    "text",
    [
        "gmv",
        "gmv - refunds",
        "-gmv + 3 * refunds",
        "(gmv - refunds) * 0.9",
        "gmv / 2",
        "gmv / (2 * 5)",
        "0.5 * (gmv + orders) - refunds / 4",
        "gmv + 100",
    ],
)
def test_sums_differences_and_constant_multiples_are_linear(text: str) -> None:
    assert Formula.parse(text).linear


@pytest.mark.parametrize(
    "text",
    [
        "gmv / ad_spend",
        "2 / gmv",
        "gmv * orders",
        "gmv * gmv",
        "(gmv - refunds) / ad_spend",
        "gmv / (ad_spend - 0)",
        "gmv * (orders / viewers) * 100",
    ],
)
def test_ratios_and_products_of_metrics_are_not_linear(text: str) -> None:
    assert not Formula.parse(text).linear


# --- aligned values (pure) ---------------------------------------------------------------------

NOV = Period(
    kind="month",
    index=0,
    start=dt.date(2026, 11, 1),
    end=dt.date(2026, 11, 30),
    calendar_start=dt.date(2026, 11, 1),
    calendar_end=dt.date(2026, 11, 30),
    label="2026-11",
)
LATE = dt.datetime(2026, 11, 8, 23, 30, tzinfo=cn(8).tzinfo)


def figure(day: int, metric: str, value: str | None, status: Status = "counted") -> Figure:
    return Figure(
        day=dt.date(2026, 11, day),
        metric=metric,
        seller=None,
        agency=None,
        value=None if value is None else Decimal(value),
        status="pending" if value is None else status,
        counted_side=None if value is None else "seller",
        disagreement=False,
        confirmed_by=None,
        disputes=(),
    )


def week(gmv_days: int = 7, spend_days: int = 5, refund_days: tuple[int, ...] = ()) -> list[Figure]:
    """GMV 10,000 on days 1..gmv_days, ad spend 5,000 on days 1..spend_days, refunds 300."""
    return [
        *(figure(d, "gmv", "10000") for d in range(1, gmv_days + 1)),
        *(figure(d, "ad_spend", "5000") for d in range(1, spend_days + 1)),
        *(figure(d, "refunds", "300") for d in refund_days),
    ]


def test_roi_over_seven_days_of_sales_and_five_of_spend_uses_the_five_days() -> None:
    totals = period_totals(week(), ACME.metrics, NOV, dt.date(2026, 11, 7))
    assert totals.values["gmv"] == 70000 and totals.values["ad_spend"] == 25000
    # 50,000 / 25,000, not 70,000 / 25,000 = 2.80 (which would meet the 2.5 target).
    assert totals.values["roi"] == 2
    roi = totals.aligned["roi"]
    assert (roi.days, roi.of_days, roi.left_out, roi.inputs) == (5, 7, 2, ("gmv", "ad_spend"))


def test_net_gmv_keeps_every_day_when_refunds_come_only_on_days_with_refunds() -> None:
    figures = week(spend_days=7, refund_days=(2, 5))
    totals = period_totals(figures, ACME.metrics, NOV, dt.date(2026, 11, 7))
    assert totals.values["net_gmv"] == 70000 - 600
    assert "net_gmv" not in totals.aligned
    assert totals.values["roi"] == Decimal(70000) / Decimal(35000)
    assert totals.aligned["roi"].left_out == 0


def test_a_ratio_of_a_difference_needs_only_one_term_of_the_difference_each_day() -> None:
    metrics = {
        "gmv": Metric("gmv", ""),
        "refunds": Metric("refunds", ""),
        "ad_spend": Metric("ad_spend", ""),
        "net_roi": Metric("net_roi", "", Formula.parse("(gmv - refunds) / ad_spend")),
    }
    found = aligned_values(week(refund_days=(1,)), metrics, NOV.start, NOV.end)["net_roi"]
    assert (found.days, found.of_days) == (5, 7)
    assert found.value == Decimal(50000 - 300) / Decimal(25000)


def test_a_linear_metric_of_a_ratio_is_aligned_through_it() -> None:
    metrics = {
        **ACME.metrics,
        "roi_pct": Metric("roi_pct", "", Formula.parse("roi * 100")),
    }
    totals = period_totals(week(), metrics, NOV, dt.date(2026, 11, 7))
    assert totals.values["roi_pct"] == 200
    assert totals.aligned["roi_pct"].left_out == 2


def test_a_pending_figure_does_not_make_a_day_aligned_and_a_provisional_one_does() -> None:
    figures = [
        *week(spend_days=4),
        figure(5, "ad_spend", None),
        figure(6, "ad_spend", "5000", "provisional"),
    ]
    roi = aligned_values(figures, ACME.metrics, NOV.start, NOV.end)["roi"]
    assert (roi.days, roi.of_days) == (5, 7)


def test_the_projection_of_a_ratio_is_its_aligned_value() -> None:
    totals = period_totals(week(), ACME.metrics, NOV, dt.date(2026, 11, 7))
    projected = project(totals, ACME.metrics, NOV)
    assert projected["roi"] == 2
    # Each input paced on its own days would give 300,000 / 125,000 = 2.40.
    assert (projected["gmv"], projected["ad_spend"]) == (300000, 125000)


def test_a_what_if_setting_an_input_of_a_ratio_takes_it_on_the_figures_it_shows() -> None:
    totals = period_totals(week(), ACME.metrics, NOV, dt.date(2026, 11, 7))
    what_if = project(totals, ACME.metrics, NOV, {"gmv": Decimal(250000)})
    assert what_if["roi"] == 2 and what_if["ad_spend"] == 125000
    other = project(totals, ACME.metrics, NOV, {"orders": Decimal(5000)})
    assert other["roi"] == 2 and other["aov"] == Decimal(300000) / 5000
    # No refunds all week: even with unreported: zero they may be forgotten, so refund_rate
    # has no value, in the what-if as without it (never 0% and full credit).
    assert project(totals, ACME.metrics, NOV)["refund_rate"] is None
    assert what_if["refund_rate"] is None


def test_an_input_reported_on_no_day_leaves_no_day_out() -> None:
    # No ad spend at all: roi had no value on the totals either; nothing to say about days.
    roi = aligned_values(week(spend_days=0), ACME.metrics, NOV.start, NOV.end)["roi"]
    assert (roi.value, roi.days, roi.of_days, roi.left_out) == (None, 0, 0, 0)


def test_no_input_reported_on_a_common_day_gives_no_value() -> None:
    figures = [figure(1, "gmv", "10000"), figure(2, "ad_spend", "5000")]
    roi = aligned_values(figures, ACME.metrics, NOV.start, NOV.end)["roi"]
    assert (roi.value, roi.days, roi.of_days) == (None, 0, 2)


# --- through the bot: /kpi, /fee, the recap, on SQLite and PostgreSQL --------------------------


@pytest.fixture
async def core(db_url: str) -> AsyncIterator[Core]:
    settings = Settings(database_url=db_url, _env_file=None)  # type: ignore[call-arg]
    core = await build_core(settings, clock=VirtualClock(local(3)))
    await core.apply_deal_text(DEAL_TEXT, "acme.yaml")
    await core.apply_deal_text(WANXIANG_TEXT, "wanxiang.yaml")
    yield core
    await core.aclose()


async def acme_week(core: Core, spend_days: int = 5, refund_days: int = 1) -> None:
    """Nov 1-7: GMV 10,000 a day; ad spend 5,000 on the first ``spend_days``; refunds 300 on
    the first ``refund_days`` (one by default: refunds come on days with refunds)."""
    for day in range(1, 8):
        text = f"/report gmv 10000 orders 100 2026-11-{day:02d}"
        if day <= spend_days:
            text += " ad_spend 5000"
        if day <= refund_days:
            text += " refunds 300"
        await say(core, SELLER_CHAT, SELLER, text, at=local(day))


EN_NOTE = "roi over 5 of 7 days (the days both gmv and ad_spend have counted figures)"


async def test_kpi_judges_roi_over_the_days_both_figures_exist_and_says_so(core: Core) -> None:
    await acme_week(core)
    text = await say(core, SELLER_CHAT, SELLER, "/kpi", at=local(7, 23))
    assert "• roi 2.00 (target ≥ 2.50)" in text and "behind" in text.split("• roi")[1]
    assert EN_NOTE in text
    # Linear: every day's GMV less the one day's refunds, no note about it.
    assert "net_gmv 69,700" in text and "net_gmv over" not in text


async def test_fee_withholds_the_roi_bonus_the_inflated_ratio_would_pay(core: Core) -> None:
    await acme_week(core)
    text = await say(core, SELLER_CHAT, SELLER, "/fee", at=local(7, 23))
    to_date = text.split("At this pace")[0]
    assert "bonus: not yet met (roi): USD 0.00" in to_date
    assert text.count("The fee uses ") == 1
    assert f"The fee uses {EN_NOTE}." in text
    assert "roi 2.00" in text.split("At this pace")[1]


async def test_the_recap_gives_the_weeks_roi_over_its_aligned_days(core: Core) -> None:
    await acme_week(core)
    text = await recap_text(core, DEAL_TEXT, dt.date(2026, 11, 9))
    totals = next(line for line in text.splitlines() if line.startswith("Week total"))
    assert "roi 2.00" in totals
    # The week (Nov 2-8): GMV on 6 days, ad spend on 4; the period (Nov 1-7): 7 and 5.
    assert "roi over 4 of 6 days (the days both gmv and ad_spend have counted figures)" in text
    assert text.count(EN_NOTE) == 1


async def test_when_every_day_has_both_figures_nothing_is_said(core: Core) -> None:
    await acme_week(core, spend_days=7, refund_days=7)
    kpi = await say(core, SELLER_CHAT, SELLER, "/kpi", at=local(7, 23))
    fee = await say(core, SELLER_CHAT, SELLER, "/fee", at=local(7, 23))
    recap = await recap_text(core, DEAL_TEXT, dt.date(2026, 11, 9))
    assert "roi 2.00" in kpi
    for text in (kpi, fee, recap):
        assert " days (the days " not in text and "The fee uses" not in text


async def cn_week(core: Core, spend_days: int = 5) -> None:
    """W45 (Nov 2-8), both sides (truth: agreed): GMV 22,000 a day, ad spend 8,000 on the
    first ``spend_days``; ROI 110,000 / 40,000 = 2.75 against a target of 3 (inflated: 3.85)."""
    for day in range(2, 9):
        text = f"/report gmv 22000 refunds 500 2026-11-{day:02d}"
        if day < 2 + spend_days:
            text += " ad_spend 8000"
        await say(core, CN_CHAT, CN_SELLER, text, at=cn(day))
        await say(core, CN_CHAT, CN_AGENCY, text, at=cn(day, 23))


ZH_NOTE = "ROI 按 7 天中 5 天计算（成交额与广告消耗都已计入的日子）"


async def test_chinese_kpi_fee_and_recap_say_which_days_roi_covers(core: Core) -> None:
    await cn_week(core)
    at = LATE
    kpi = await say(core, CN_CHAT, CN_SELLER, "/kpi", at=at)
    assert "ROI 2.75" in kpi and ZH_NOTE in kpi
    fee = await say(core, CN_CHAT, CN_SELLER, "/fee", at=at)
    assert fee.count("计费依据") == 1 and f"计费依据：{ZH_NOTE}。" in fee
    assert "达成奖励（暂未达标" in fee
    recap = await recap_text(core, WANXIANG_TEXT, dt.date(2026, 11, 9))
    assert recap.count(ZH_NOTE) == 2 and "ROI 2.75" in recap


async def test_chinese_answers_say_nothing_when_the_days_align(core: Core) -> None:
    await cn_week(core, spend_days=7)
    at = LATE
    kpi = await say(core, CN_CHAT, CN_SELLER, "/kpi", at=at)
    fee = await say(core, CN_CHAT, CN_SELLER, "/fee", at=at)
    recap = await recap_text(core, WANXIANG_TEXT, dt.date(2026, 11, 9))
    for text in (kpi, fee, recap):
        assert "天中" not in text and "计费依据" not in text


async def test_the_dashboard_notes_the_days_a_ratio_covers(core: Core) -> None:
    await acme_week(core)
    deal = await core.ledger.current_deal("acme-linkstar-us")
    assert deal is not None
    page = await page_context(dashboard_sources(core), deal[0], "shared", None, "en", local(7, 23))
    assert EN_NOTE in page["aligned"]
    assert next(row for row in page["glance"] if row["metric"] == "roi")["actual"] == "2.00"


@pytest.mark.parametrize(
    ("locale", "note"),
    [
        ("en", "roi over 3 of 4 days (the days both gmv and ad_spend have counted figures)"),
        ("zh", "ROI 按 4 天中 3 天计算（成交额与广告消耗都已计入的日子）"),
    ],
)
async def test_a_pace_warning_on_a_ratio_says_which_days_it_covers(locale: str, note: str) -> None:
    # Friday's check counts Monday to Thursday; Wednesday's gmv is pending (the two sides
    # disagree), so roi runs over Monday, Tuesday and Thursday: 42,000 / 18,000, 78% of pace.
    spend = {2: 3000, 3: 3000, 4: 3000, 5: 12000, 6: 5000, 7: 8000, 8: 8000}
    sent = await play(locale, [], spend=spend)
    warning = texts(sent, "2026-11-06T11:00", SHARED)[0]
    roi = "• ROI 2.33" if locale == "zh" else "• roi 2.33"
    assert roi in warning and f"   {note}" in warning


async def test_a_what_if_notes_the_days_only_for_ratios_it_did_not_set(core: Core) -> None:
    await acme_week(core)
    at = local(7, 23)
    set_gmv = await say(core, SELLER_CHAT, SELLER, "/fee if gmv 300000", at=at)
    # gmv 300,000 / the ad_spend shown (125,000): the ratio of the figures on the same line.
    assert "ad_spend 125,000" in set_gmv and "roi 2.40" in set_gmv
    assert "The fee uses" not in set_gmv
    set_orders = await say(core, SELLER_CHAT, SELLER, "/fee if orders 5000", at=at)
    assert "roi 2.00" in set_orders and f"The fee uses {EN_NOTE}." in set_orders


async def test_an_ended_periods_fee_and_statement_say_which_days_roi_covers(core: Core) -> None:
    await acme_week(core)
    december = local(2, 10, month=12)
    note = "roi over 5 of 7 days (the days both gmv and ad_spend have counted figures)"
    fee = await say(core, SELLER_CHAT, SELLER, "/fee 2026-11", at=december)
    statement = await say(core, SELLER_CHAT, SELLER, "/statement 2026-11", at=december)
    for text in (fee, statement):
        assert "roi 2.00" in text and f"The fee uses {note}." in text


def test_the_notes_read_in_both_languages_for_no_common_day_and_for_three_inputs() -> None:
    apart = aligned_values(
        [figure(1, "gmv", "10000"), figure(2, "ad_spend", "5000")], ACME.metrics, NOV.start, NOV.end
    )["roi"]
    assert aligned_note(translator("en"), ACME, apart) == (
        "roi has no value: none of the 2 days with figures has both gmv and ad_spend counted"
    )
    assert aligned_note(translator("zh"), WANXIANG, apart) == (
        "ROI 无法计算：有数据的 2 天中，没有一天成交额与广告消耗都已计入"
    )
    three = Aligned("aov", Decimal(2), 5, 7, ("gmv", "refunds", "orders"), {})
    assert aligned_note(translator("en"), ACME, three) == (
        "aov over 5 of 7 days (the days gmv, refunds, orders all have counted figures)"
    )
    assert aligned_note(translator("zh"), WANXIANG, three) == (
        "客单价 按 7 天中 5 天计算（成交额、退款金额、订单数都已计入的日子）"
    )
    assert aligned_note(translator("en"), ACME, replace(three, days=7)) is None


# --- unreported: zero (refunds typed only on days with refunds) --------------------------------

WANXIANG_MISSING = WANXIANG_TEXT.replace(", unreported: zero}", "}", 1)


def refund_week(refund_days: tuple[int, ...] = (2, 5)) -> list[Figure]:
    """GMV 10,000 and ad spend 5,000 on Nov 1-7; refunds 3,000 only on ``refund_days``."""
    return week(spend_days=7, refund_days=()) + [figure(d, "refunds", "3000") for d in refund_days]


@pytest.fixture
async def cn_core(db_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Core]:
    """A database with the Chinese demo deal as written (``refunds: unreported: zero``), or,
    parametrized with ``WANXIANG_MISSING``, without the setting."""
    settings = Settings(database_url=db_url, _env_file=None)  # type: ignore[call-arg]
    core = await build_core(settings, clock=VirtualClock(cn(2)))
    await core.apply_deal_text(getattr(request, "param", WANXIANG_TEXT), "wanxiang.yaml")
    yield core
    await core.aclose()


async def cn_refund_week(core: Core, refund_days: tuple[int, ...] = (3, 6)) -> None:
    """W45 (Nov 2-8), both sides: GMV 22,000, ad spend 8,000 and 260 orders a day; refunds
    6,000 only on ``refund_days``: 12,000 / 154,000 = 7.8%, within the 8% target (over the
    two refund days alone: 12,000 / 44,000 = 27.3%)."""
    for day in range(2, 9):
        text = f"/report gmv 22000 ad_spend 8000 2026-11-{day:02d}"
        if day in refund_days:
            text += " refunds 6000"
        await say(core, CN_CHAT, CN_SELLER, text, at=cn(day))
        await say(core, CN_CHAT, CN_AGENCY, text, at=cn(day, 23))


def test_refund_rate_over_refunds_on_2_of_7_days_with_unreported_zero_is_total_over_total() -> None:
    assert WANXIANG.metrics["refunds"].unreported == "zero"
    totals = period_totals(refund_week(), WANXIANG.metrics, NOV, dt.date(2026, 11, 7))
    # 6,000 / 70,000 = 8.6%, not 6,000 / 20,000 = 30% over the two refund days alone.
    rate = totals.values["refund_rate"]
    assert rate is not None and abs(rate - Decimal(6000) / Decimal(70000)) < Decimal("1e-20")
    found = totals.aligned["refund_rate"]
    assert (found.days, found.of_days, found.left_out) == (7, 7, 0)
    assert found.inputs == ("gmv",)
    # Linear totals are what they were: refunds counted on 2 days, 6,000 in all.
    assert totals.values["refunds"] == 6000 and totals.days_reported["refunds"] == 2
    assert totals.values["roi"] == 2


def test_without_the_setting_refund_rate_runs_over_the_refund_days_and_says_so() -> None:
    metrics = {
        **WANXIANG.metrics,
        "refunds": replace(WANXIANG.metrics["refunds"], unreported="missing"),
    }
    assert load_deal(WANXIANG_MISSING).metrics == metrics
    totals = period_totals(refund_week(), metrics, NOV, dt.date(2026, 11, 7))
    assert totals.values["refund_rate"] == Decimal(6000) / Decimal(20000)
    found = totals.aligned["refund_rate"]
    assert (found.days, found.of_days, found.inputs) == (2, 7, ("gmv", "refunds"))
    assert aligned_note(translator("zh"), WANXIANG, found) == (
        "退款率 按 7 天中 2 天计算（成交额与退款金额都已计入的日子）"
    )


def test_no_refunds_reported_at_all_is_no_refund_rate_even_with_the_setting() -> None:
    # unreported: zero fills the days around reported refunds; refunds nobody reported all
    # period may be forgotten: no value, no credit, no note (no day was left out by aligning).
    figures = week(spend_days=7)
    zero = aligned_values(figures, WANXIANG.metrics, NOV.start, NOV.end)["refund_rate"]
    assert (zero.value, zero.left_out) == (None, 0)
    one = aligned_values(
        [*figures, figure(3, "refunds", "0")], WANXIANG.metrics, NOV.start, NOV.end
    )
    assert (one["refund_rate"].value, one["refund_rate"].days) == (0, 7)
    missing = aligned_values(figures, load_deal(WANXIANG_MISSING).metrics, NOV.start, NOV.end)
    assert (missing["refund_rate"].value, missing["refund_rate"].left_out) == (None, 0)


def test_a_pending_refunds_figure_counts_nothing_and_leaves_no_day_out() -> None:
    # Day 4's refunds wait for the other side: like any pending figure they count nothing
    # yet (the pending list says so); refunds enter whole, so no day of GMV is left out.
    figures = [*refund_week(), figure(4, "refunds", None)]
    found = aligned_values(figures, WANXIANG.metrics, NOV.start, NOV.end)["refund_rate"]
    assert (found.days, found.of_days, found.left_out, found.inputs) == (7, 7, 0, ("gmv",))
    assert found.sums == {"gmv": 70000, "refunds": 6000}


def test_refunds_on_a_day_without_gmv_still_count_against_the_period_gmv() -> None:
    # A refund is of an earlier order, not of the day's sales: 3,000 refunded on a day
    # without a GMV figure is 3,000 of the period's refunds (it was dropped, giving 0.0%).
    figures = [*week(gmv_days=6, spend_days=7), figure(7, "refunds", "3000")]
    found = aligned_values(figures, WANXIANG.metrics, NOV.start, NOV.end)["refund_rate"]
    assert found.sums["refunds"] == 3000 and found.sums["gmv"] == Decimal(60000)
    assert (found.days, found.of_days, found.left_out, found.inputs) == (6, 6, 0, ("gmv",))
    # The seller's case: GMV 50,000 one day, refunds 10,000 the next: 20%, not 0%.
    both = [figure(1, "gmv", "50000"), figure(2, "refunds", "10000")]
    rate = aligned_values(both, WANXIANG.metrics, NOV.start, NOV.end)["refund_rate"]
    assert (rate.value, rate.left_out) == (Decimal("0.2"), 0)


def test_a_ratio_reading_one_metric_has_one_input_notes() -> None:
    metrics = {**ACME.metrics, "roi_pct": Metric("roi_pct", "", Formula.parse("roi * 100"))}
    apart = [figure(1, "gmv", "10000"), figure(2, "ad_spend", "5000")]
    found = aligned_values(apart, metrics, NOV.start, NOV.end)["roi_pct"]
    assert aligned_note(translator("en"), ACME, found) == (
        "roi_pct has no value: none of the 2 days with figures has roi counted"
    )
    assert aligned_note(translator("zh"), WANXIANG, found) == (
        "roi_pct 无法计算：有数据的 2 天中，没有一天ROI已计入"
    )


def test_a_zero_when_unreported_input_fills_only_days_all_other_inputs_count() -> None:
    metrics = {
        **WANXIANG.metrics,
        "net_roi": Metric("net_roi", "", Formula.parse("(gmv - refunds) / ad_spend")),
        "refund_per_spend": Metric("refund_per_spend", "", Formula.parse("refunds / ad_spend")),
    }
    # GMV on 7 days, ad spend on 5, refunds on day 2: days 6 and 7 have no ad spend.
    figures = [*week(), figure(2, "refunds", "3000")]
    found = aligned_values(figures, metrics, NOV.start, NOV.end)
    assert (found["net_roi"].days, found["net_roi"].of_days) == (5, 7)
    assert found["net_roi"].value == Decimal(50000 - 3000) / Decimal(25000)
    assert found["net_roi"].inputs == ("gmv", "ad_spend")
    # refunds / ad_spend: days with ad spend count (refunds 0 but on day 2); days 6 and 7
    # (GMV only) are not days of this ratio at all.
    per_spend = found["refund_per_spend"]
    assert (per_spend.value, per_spend.days, per_spend.left_out) == (Decimal(3000) / 25000, 5, 0)


async def test_every_answer_takes_the_refund_rate_over_every_gmv_day(cn_core: Core) -> None:
    await cn_refund_week(cn_core)
    kpi = await say(cn_core, CN_CHAT, CN_SELLER, "/kpi", at=LATE)
    assert "• 退款率 7.8%（目标 ≤ 8.0%）" in kpi and "预计达标 ✓" in kpi.split("• 退款率")[1]
    fee = await say(cn_core, CN_CHAT, CN_SELLER, "/fee", at=LATE)
    assert "退款率 期末 7.8%，未超出上限 8.0%，不扣减" in fee and "预计期末合计：¥14,174.00" in fee
    recap = await recap_text(cn_core, WANXIANG_TEXT, dt.date(2026, 11, 9))
    assert "退款率 7.8%" in recap and "本期服务费（暂定，以锁定的结算单为准）：¥14,174.00" in recap
    # refunds is unreported: zero: a day without it is 0, not a gap to note or to settle
    assert "未上报天数" not in recap and "未上报天数" not in kpi and "未上报天数" not in fee
    statement = await say(cn_core, CN_CHAT, CN_SELLER, "/statement 2026-W45", at=cn(2, 10, 12))
    assert "合计：¥14,174.00" in statement
    deal = await cn_core.ledger.current_deal("shenzhen-wanxiang-cn")
    assert deal is not None
    sources = dashboard_sources(cn_core)
    page = await page_context(sources, deal[0], "shared", None, "zh", LATE)
    glance = next(row for row in page["glance"] if row["key"] == "refund_rate")
    assert glance["actual"] == "7.8%" and page["aligned"] == []
    for text in (kpi, fee, recap, statement):
        assert "天中" not in text and "计费依据" not in text


@pytest.mark.parametrize("cn_core", [WANXIANG_MISSING], indirect=True)
async def test_without_the_setting_refund_days_alone_make_the_rate_and_a_note_says_so(
    cn_core: Core,
) -> None:
    await cn_refund_week(cn_core)
    note = "退款率 按 7 天中 2 天计算（成交额与退款金额都已计入的日子）"
    kpi = await say(cn_core, CN_CHAT, CN_SELLER, "/kpi", at=LATE)
    assert "• 退款率 27.3%（目标 ≤ 8.0%）" in kpi and note in kpi
    fee = await say(cn_core, CN_CHAT, CN_SELLER, "/fee", at=LATE)
    assert "（按合同封顶 ¥2,000.00）：-¥2,000.00" in fee and "预计期末合计：¥11,734.00" in fee
    assert fee.count("计费依据") == 1 and f"计费依据：{note}。" in fee
    recap = await recap_text(cn_core, WANXIANG_MISSING, dt.date(2026, 11, 9))
    assert "退款率 27.3%" in recap and note in recap
    assert "本期服务费（暂定，以锁定的结算单为准）：¥11,734.00" in recap
    statement = await say(cn_core, CN_CHAT, CN_SELLER, "/statement 2026-W45", at=cn(2, 10, 12))
    assert "合计：¥11,734.00" in statement and f"计费依据：{note}。" in statement


async def test_the_english_demo_deal_takes_refunds_as_zero_on_days_without_them(core: Core) -> None:
    await acme_week(core)  # refunds 300 on Nov 1 only
    text = await say(core, SELLER_CHAT, SELLER, "/kpi", at=local(7, 23))
    # 300 / 70,000, not 300 / 10,000 = 3.0% over the one refund day.
    assert "• refund_rate 0.4% (target ≤ 8.0%)" in text and "refund_rate over" not in text


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        (
            "  refunds: {description: Refunds, unreported: nil}",
            "metrics.refunds.unreported: 'nil' is not an allowed value of unreported for "
            "metric refunds; allowed: missing (the default",
        ),
        ("  refunds: {description: Refunds, unreported: }", "metrics.refunds.unreported: a value"),
        (
            "  refund_rate: {formula: refunds / gmv, unreported: zero}",
            "metrics.refund_rate.unreported: only a reported metric has 'unreported'; "
            "refund_rate is derived",
        ),
    ],
)
def test_a_bad_unreported_value_is_refused_naming_the_metric_and_the_allowed_values(
    field: str, expected: str
) -> None:
    name = field.split(":")[0]
    line = next(line for line in WANXIANG_TEXT.splitlines() if line.startswith(name + ":"))
    with pytest.raises(DealFileError) as refused:
        load_deal(WANXIANG_TEXT.replace(line, field))
    assert expected in str(refused.value)
    # Only that problem: the metric is still read, so nothing naming it is refused too.
    assert len(refused.value.problems) == 1
