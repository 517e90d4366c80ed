"""The weekly recap reads the period as of its own day (a Monday), through the real scheduled
job: its pace and days not reported are the pace check's and ``/kpi``'s at the same data, and
its fee line says why the projection is below the fee so far."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.core.i18n import translator
from bot.core.views.fee import why_lower
from kpi.dealfile import load_deal
from kpi.fees import FeeStatement, FeeView, compute_fee
from tests.test_scheduler_support import (
    SELLER,
    SELLER_CHAT,
    deal_yaml,
    of_kind,
    replay,
    say,
    tick,
)

MINIMUM = "  deduction: {on: gmv, step: 10%, per_step: 10%, of: base, cap: 50%}\n  minimum: 3000\n"


def _deal(locale: str = "en", *, minimum: bool = True) -> str:
    text = deal_yaml(starts="2026-12-01", locale=locale)
    if minimum:
        text = text.replace(
            "  deduction: {on: gmv, step: 10%, per_step: 10%, of: base, cap: 50%}\n", MINIMUM
        )
    return text


def _script() -> list[dict[str, Any]]:
    """Reports on Dec 1 to 3 only (gmv 1,000 a day), nothing on Dec 4, 5, 6 (Fri to Sun);
    the Monday recap at 09:00, the pace check at 10:00, then /kpi at 10:15."""
    lines = [tick("2026-12-01T00:00:00-08:00")]
    for day in (1, 2, 3):
        text = "/report gmv 1000 ad_spend 300 orders 25 refunds 20"
        lines.append(say(f"2026-12-0{day}T21:00:00-08:00", SELLER, text))
    lines.append(tick("2026-12-07T10:10:00-08:00"))
    lines.append(say("2026-12-07T10:15:00-08:00", SELLER, "/kpi"))
    return lines


def _in_seller_chat(sent: list[dict[str, Any]], kind: str, at: str = "2026-12-07T") -> str:
    """The text of ``kind`` sent to the seller's chat at ``at`` (a prefix: Monday by default)."""
    return next(
        m["text"]
        for m in of_kind(sent, kind)
        if m["to"] == SELLER_CHAT and m["at"].startswith(at)
    )


def _gmv_pace(text: str) -> str:
    line = next(line for line in text.splitlines() if line.startswith("• gmv"))
    found = re.search(r"pace (\d+)% · at this pace ends at ([\d,.]+)", line)
    assert found is not None, line
    return found.group(0)


async def test_the_monday_recap_and_the_pace_check_agree_on_pace_and_days_not_reported() -> None:
    sent = await replay(_deal(), _script())
    recap = _in_seller_chat(sent, "recap", "2026-12-07T09:00")
    warning = _in_seller_chat(sent, "warning", "2026-12-07T10:00")
    kpi = next(
        m["text"]
        for m in sent
        if m["at"].startswith("2026-12-07T10:15") and m["to"] == SELLER_CHAT
    )
    # Sunday 12-06 ended before the recap went out: a past day nobody reported, paced as 0.
    assert _gmv_pace(recap) == _gmv_pace(warning) == _gmv_pace(kpi)
    assert _gmv_pace(recap) == "pace 31% · at this pace ends at 15,500"
    assert "day 7 of 31 (paced over 6 day(s): 12-07 has no counted figure yet)" in recap
    assert "Days not reported (count as 0 for pace): gmv 3 day(s)" in recap
    assert "Days not reported (count as 0 for pace): gmv 3 day(s)" in kpi
    # The "last week" section stays the week: Tuesday 12-01 (the deal's start) to Sunday.
    assert "12-01 to 12-06" in recap and "Sun 12-06: gmv —" in recap
    assert "12-07" not in recap.split("Week totals")[0]


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        (
            "en",
            "Fee so far (provisional until the statement is closed): USD 3,147.00 · projected "
            "at this pace: USD 3,000.00 (below the fee so far because the period's end brings"
            " a USD 1,500.00 deduction for gmv off target, then the minimum fee of "
            "USD 3,000.00)",
        ),
        (
            "zh",
            "服务费（暂定，以锁定的结算单为准）：截至目前 US$3,147.00 · 按当前进度预计 "
            "US$3,000.00（低于截至目前，因期末成交额未达标，绩效扣减 US$1,500.00，"
            "再按保底补至 US$3,000.00）",
        ),
    ],
)
async def test_a_projected_fee_below_the_fee_so_far_says_why(locale: str, expected: str) -> None:
    sent = await replay(_deal(locale), _script())
    assert expected in _in_seller_chat(sent, "recap").splitlines()


async def test_without_a_minimum_the_reason_is_the_deduction_alone() -> None:
    sent = await replay(_deal(minimum=False), _script())
    fee = next(
        line for line in _in_seller_chat(sent, "recap").splitlines() if line.startswith("Fee")
    )
    assert fee.endswith(
        "USD 3,147.00 · projected at this pace: USD 2,259.50 (below the fee so far because the "
        "period's end brings a USD 1,500.00 deduction for gmv off target)"
    )


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        (
            "en",
            "Projected at period end: USD 3,000.00 (below the fee so far because the period's "
            "end brings a USD 1,500.00 deduction for gmv off target, then the minimum fee of "
            "USD 3,000.00)",
        ),
        (
            "zh",
            "预计期末合计：US$3,000.00（低于截至目前，因期末成交额未达标，绩效扣减 US$1,500.00，"
            "再按保底补至 US$3,000.00）",
        ),
    ],
)
async def test_fee_says_why_its_projection_is_below_the_fee_so_far(
    locale: str, expected: str
) -> None:
    # /fee gives the same reason as the recap: its two totals read as a fee that shrinks.
    lines = [*_script(), say("2026-12-07T10:20:00-08:00", SELLER, "/fee")]
    sent = await replay(_deal(locale), lines)
    fee = next(
        m["text"]
        for m in sent
        if m["at"].startswith("2026-12-07T10:20") and m["to"] == SELLER_CHAT
    )
    assert expected in fee.splitlines()


async def test_a_projection_above_the_fee_so_far_gives_no_reason() -> None:
    lines = [tick("2026-12-01T00:00:00-08:00")]
    for day in range(1, 7):  # on pace: 1,700 a day
        lines.append(
            say(f"2026-12-0{day}T21:00:00-08:00", SELLER, "/report gmv 1700 ad_spend 400")
        )
    lines.append(tick("2026-12-07T09:30:00-08:00"))
    recap = _in_seller_chat(await replay(_deal(), lines), "recap")
    assert "projected at this pace: USD" in recap
    assert "below the fee so far" not in recap



def _several(locale: str) -> str:
    """The Chinese demo deal's plan (deduction on refund_rate of the total, capped at 2,000; a
    gmv guarantee of 100,000 refunding the base in proportion; minimum 4,000), its fee so far
    against a projection that misses both."""
    text = Path("bot/demo/shenzhen-wanxiang-cn.yaml").read_text(encoding="utf-8")
    deal = load_deal(text.replace("locale: zh", f"locale: {locale}"))
    assert deal.locale == locale

    def fee(view: FeeView, gmv: str) -> FeeStatement:
        values = {"gmv": Decimal(gmv), "roi": Decimal(4), "refund_rate": Decimal("0.12")}
        return compute_fee(
            deal.fees, targets=deal.targets, values=values, view=view, currency=deal.currency
        )

    return why_lower(translator(locale), deal, fee("to_date", "60000"), fee("projected", "80000"))


def test_several_reasons_are_listed_as_clauses() -> None:
    assert _several("en") == (
        " (below the fee so far because the period's end brings a CNY 2,000.00 deduction "
        "for refund_rate off target; a CNY 1,000.00 guarantee refund for gmv below 100,000)"
    )
    assert _several("zh") == (
        "（低于截至目前，因期末退款率未达标，绩效扣减 ¥2,000.00；成交额低于保量 100,000，"
        "对赌退款 ¥1,000.00）"
    )
