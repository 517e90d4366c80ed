"""Fresh-eyes findings on period views: what-if units, /kpi PERIOD, final wording, day counts."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.app import Core, build_core
from bot.core import VirtualClock
from bot.settings import Settings
from kpi.dealfile import load_deal
from kpi.statement_store import StatementStore
from scheduler.recap import build_recap
from tests.test_contracts_replay import deal as contract_deal
from tests.test_trust import (
    AGENCY_ADMIN,
    AGENCY_CHAT,
    DEAL,
    DEAL_TEXT,
    SELLER,
    SELLER_CHAT,
    local,
    say,
)

ROOT = Path(__file__).resolve().parents[1]
WANXIANG_TEXT = (ROOT / "bot" / "demo" / "shenzhen-wanxiang-cn.yaml").read_text(encoding="utf-8")
CN_CHAT = "telegram:-1003344556677"
CN_SELLER, CN_AGENCY = "telegram:710200301", "telegram:583920114"
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
async def core(db_url: str) -> AsyncIterator[Core]:
    clock = VirtualClock(local(3))
    settings = Settings(database_url=db_url, _env_file=None)  # type: ignore[call-arg]
    core = await build_core(settings, clock=clock)
    await core.apply_deal_text(DEAL_TEXT, "acme.yaml")
    await core.apply_deal_text(WANXIANG_TEXT, "wanxiang.yaml")
    yield core
    await core.aclose()


def cn(day: int, hour: int = 22, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, tzinfo=SHANGHAI)


# --- 1. what-if takes the same units /report does ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/fee if gmv ¥5000", "this deal counts money in USD"),
        ("/fee if orders 12.5", "orders is a count"),
    ],
)
async def test_a_what_if_figure_of_the_wrong_unit_is_refused_as_report_refuses_it(
    core: Core, text: str, expected: str
) -> None:
    answer = await say(core, SELLER_CHAT, SELLER, text)
    assert expected in answer
    assert "What if" not in answer


async def test_a_dollar_what_if_in_a_yuan_deal_is_refused(core: Core) -> None:
    answer = await say(core, CN_CHAT, CN_SELLER, "/fee 假设 成交额 $5万", at=cn(5))
    assert "CNY" in answer and "假设测算" not in answer


async def test_a_what_if_in_the_deals_own_currency_still_works(core: Core) -> None:
    answer = await say(core, SELLER_CHAT, SELLER, "/fee if gmv $40000 orders 12")
    assert "gmv 40,000" in answer


# --- 2. /kpi PERIOD ----------------------------------------------------------------------------


async def test_kpi_with_a_past_period_shows_that_period(core: Core) -> None:
    await say(core, SELLER_CHAT, SELLER, "/report gmv 40000", at=local(3))
    december = local(2, 10, month=12)
    now = await say(core, SELLER_CHAT, SELLER, "/kpi", at=december)
    past = await say(core, SELLER_CHAT, SELLER, "/kpi 2026-11", at=december)
    assert "40,000" in past and "40,000" not in now
    assert past != now


async def test_kpi_with_words_that_name_no_period_gives_the_right_form(core: Core) -> None:
    answer = await say(core, SELLER_CHAT, SELLER, "/kpi extra words")
    assert "“extra words” is not a period of this deal" in answer
    later = await say(core, SELLER_CHAT, SELLER, "/kpi 2027-05")
    assert "has not started yet" in later and "/kpi 2026-11" in later


# --- 3. an ended period's bonus is not met, not "not yet" --------------------------------------


async def test_an_ended_periods_unmet_bonus_says_not_met(core: Core) -> None:
    await say(core, SELLER_CHAT, SELLER, "/report gmv 100", at=local(3))
    during = await say(core, SELLER_CHAT, SELLER, "/fee", at=local(20))
    assert "bonus: not yet met" in during
    after = await say(core, SELLER_CHAT, SELLER, "/fee 2026-11", at=local(2, 10, month=12))
    assert "bonus: not met (" in after and "not yet met" not in after
    december = local(2, 11, month=12)
    await say(core, SELLER_CHAT, SELLER, "/statement confirm 2026-11", at=december)
    await say(core, AGENCY_CHAT, AGENCY_ADMIN, "/statement confirm 2026-11", at=december)
    locked = await say(core, SELLER_CHAT, SELLER, "/statement 2026-11", at=local(3, 9, month=12))
    assert "closed" in locked and "bonus: not met (" in locked and "not yet" not in locked


async def test_an_ended_chinese_periods_unmet_bonus_says_not_met(core: Core) -> None:
    await say(core, CN_CHAT, CN_SELLER, "/report 成交额 100", at=cn(3))
    after = await say(core, CN_CHAT, CN_SELLER, "/statement 2026-W45", at=cn(10, 10))
    assert "达成奖励（未达标：" in after and "暂未达标" not in after


# --- 4. a period nobody reported is not confirmed silently -------------------------------------


async def test_confirming_a_period_with_no_reports_is_refused_unless_anyway(core: Core) -> None:
    december = local(1, 10, month=12)
    refused = await say(core, SELLER_CHAT, SELLER, "/statement confirm 2026-11", at=december)
    assert "nothing was reported for 2026-11" in refused
    assert "/statement confirm 2026-11 anyway" in refused
    assert await StatementStore(core.engine).get(DEAL, "2026-11") is None

    await say(core, SELLER_CHAT, SELLER, "/statement confirm 2026-11 anyway", at=december)
    await say(core, AGENCY_CHAT, AGENCY_ADMIN, "/statement confirm 2026-11 anyway", at=december)
    record = await StatementStore(core.engine).get(DEAL, "2026-11")
    assert record is not None and record.closed


# --- 5. the recap after the period's last day shows its final fee once -------------------------


async def recap_text(core: Core, text: str, day: dt.date) -> str:
    deal = load_deal(text)
    built = await build_recap(core.ledger, core.services.platform, deal, day, chart=False)
    assert built is not None
    return built[0].text


async def test_the_recap_of_an_ended_week_shows_the_final_fee_once_with_who_owes_whom(
    core: Core,
) -> None:
    # The contract terms of issue 18 (base 5,000, guarantee on gmv 100,000, performance fee);
    # one day of gmv 20,000: the guarantee refund (80% of the base) is more than the fee.
    terms = contract_deal("zh")
    await core.apply_deal_text(terms, "contracts.yaml")
    figures = "/report gmv 20000 refunds 4000 ad_spend 10000 orders 100 viewers 5000 2026-11-03"
    await say(core, CN_CHAT, CN_SELLER, figures, at=cn(3))  # truth: agreed, so both sides
    await say(core, CN_CHAT, CN_AGENCY, figures, at=cn(3, 23))
    text = await recap_text(core, terms, dt.date(2026, 11, 9))
    assert "截至目前" not in text and "按当前进度预计" not in text
    # Not closed yet, so the period's fee is provisional (tests/test_open_figures.py: final
    # once closed).
    fee_line = next(line for line in text.splitlines() if "本期服务费（暂定" in line)
    # The note explains the fee, so it follows the amount, before the score.
    assert re.fullmatch(
        r"本期服务费（暂定，以锁定的结算单为准）：-¥[\d,.]+（服务商应退还卖家 ¥[\d,.]+）"
        r" · KPI 加权得分 [\d.]+%",
        fee_line,
    ), fee_line


async def test_the_recap_inside_a_period_still_shows_to_date_and_projected(core: Core) -> None:
    await say(core, SELLER_CHAT, SELLER, "/report gmv 1000", at=local(3))
    text = await recap_text(core, DEAL_TEXT, dt.date(2026, 11, 9))
    assert "Fee so far (provisional until the statement is closed): USD" in text
    assert "projected at this pace: USD" in text
    assert "(final)" not in text


# --- 6. the title's day count says what the pace counts ----------------------------------------


async def test_kpi_title_says_the_pace_counts_the_days_before_an_unreported_today(
    core: Core,
) -> None:
    for day in range(1, 9):
        await say(core, SELLER_CHAT, SELLER, f"/report gmv 1000 2026-11-{day:02}", at=local(day))
    morning = local(9, 10, 1)
    before = await say(core, SELLER_CHAT, SELLER, "/kpi", at=morning)
    assert "day 9 of 30 (paced over 8 day(s): 11-09 has no counted figure yet)" in before
    for command in ("/fee", "/statement"):  # their projections use the same 8 days
        fee = await say(core, SELLER_CHAT, SELLER, command, at=morning)
        assert "day 9 of 30 (paced over 8 day(s): 11-09 has no counted figure yet)" in fee
    # The 09:00 recap reads the period as of its own day, as /kpi does: the same 8 days.
    recap = await recap_text(core, DEAL_TEXT, dt.date(2026, 11, 9))
    assert "day 9 of 30 (paced over 8 day(s): 11-09 has no counted figure yet)" in recap

    await say(core, SELLER_CHAT, SELLER, "/report gmv 1000", at=local(9, 11))
    after = await say(core, SELLER_CHAT, SELLER, "/kpi", at=local(9, 11, 5))
    assert "day 9 of 30\n" in after and "paced over" not in after


async def test_the_chinese_title_says_the_same(core: Core) -> None:
    await say(core, CN_CHAT, CN_SELLER, "/report 成交额 1000 2026-11-02", at=cn(2))
    text = await say(core, CN_CHAT, CN_SELLER, "/kpi", at=cn(3, 10))
    assert "第 2/7 天（进度按 1 天计算，11-03 尚无计入的数据）" in text
