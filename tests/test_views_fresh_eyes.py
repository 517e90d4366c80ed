"""Fresh-eyes findings on period views: what-if units, /kpi PERIOD, final wording, day counts."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.app import Core, build_core
from bot.core import VirtualClock
from bot.settings import Settings
from kpi.statements import StatementStore
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
CN_CHAT, CN_SELLER = "telegram:-1003344556677", "telegram:710200301"
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
    assert await StatementStore(core.ledger.engine).get(DEAL, "2026-11") is None

    await say(core, SELLER_CHAT, SELLER, "/statement confirm 2026-11 anyway", at=december)
    await say(core, AGENCY_CHAT, AGENCY_ADMIN, "/statement confirm 2026-11 anyway", at=december)
    record = await StatementStore(core.ledger.engine).get(DEAL, "2026-11")
    assert record is not None and record.closed
