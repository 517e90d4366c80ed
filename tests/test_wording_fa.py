"""Wording found by a fresh-eyes user test: errors name the right fix, no empty slots (en, zh)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.app import Core, build_core
from bot.core import Command, VirtualClock
from bot.settings import Settings

DEMO = Path(__file__).resolve().parents[1] / "bot" / "demo"
LA, SH = ZoneInfo("America/Los_Angeles"), ZoneInfo("Asia/Shanghai")
EN_CHAT, EN_SELLER = "telegram:-1009999", "telegram:5001"
ZH_CHAT, ZH_USER = "telegram:-1003344556677", "telegram:710200301"
NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=SH)  # week 49; week 48 (11-23..29) has ended
ZH_AGENCY = "telegram:583920114"  # an agency admin of the Chinese demo deal

_ids = itertools.count(1)


@pytest.fixture
async def core(sqlite_url: str) -> AsyncIterator[Core]:
    settings = Settings(database_url=sqlite_url, _env_file=None)  # type: ignore[call-arg]
    core = await build_core(settings, clock=VirtualClock(NOW))
    for name in ("acme-linkstar-us.yaml", "shenzhen-wanxiang-cn.yaml"):
        await core.apply_deal_text((DEMO / name).read_text(encoding="utf-8"), name)
    yield core
    await core.aclose()


async def say(core: Core, chat: str, user: str, text: str) -> str:
    """Send one command now and return the text of the first reply."""
    replies = await core.handle(
        Command(chat=chat, user=user, text=text, at=NOW, message_id=f"fa{next(_ids)}")
    )
    return replies[0].text


async def test_confirm_without_a_date_says_recently_not_an_empty_date(core: Core) -> None:
    en = await say(core, EN_CHAT, EN_SELLER, "/confirm gmv")
    assert "  " not in en
    assert "has not reported gmv recently" in en
    zh = await say(core, ZH_CHAT, ZH_USER, "/confirm 成交额")
    assert "，）" not in zh and "（" not in zh.split("格式")[0]
    assert "近期没有上报 成交额" in zh


async def test_confirm_with_a_date_names_that_date_in_chinese(core: Core) -> None:
    zh = await say(core, ZH_CHAT, ZH_USER, "/confirm 成交额 11-19")
    assert zh == "暂无对方上报的 2026-11-19 成交额 数据可确认。格式：/confirm 指标 [日期]"
    # A dispute's form names the reason it needs.
    zh = await say(core, ZH_CHAT, ZH_USER, "/dispute 成交额 11-19")
    assert zh == "暂无对方上报的 2026-11-19 成交额 数据可提出异议。格式：/dispute 指标 [日期] 理由"


async def test_statement_refusal_lists_five_open_figures_whole_and_counts_the_rest(
    core: Core,
) -> None:
    for day in ("11-23", "11-24", "11-25", "11-26"):
        await say(core, ZH_CHAT, ZH_AGENCY, f"/report 成交额 10000 订单数 100 {day}")
    text = await say(core, ZH_CHAT, ZH_USER, "/statement confirm 2026-W48")
    assert text.startswith("未确认：2026年第48周 结算单仍有未确认的数据或未上报的日期。")
    assert "2026-11-25 成交额（待确认）……另有 3 条\n" in text
    assert "2026-W48" not in text
    assert "、20…" not in text


async def test_export_and_late_correction_name_the_week_in_chinese(core: Core) -> None:
    await say(core, ZH_CHAT, ZH_AGENCY, "/report 成交额 10000 11-23")
    export = await say(core, ZH_CHAT, ZH_USER, "/导出 2026-W48")
    assert "2026年第48周" in export and "W48" not in export
    await say(core, ZH_CHAT, ZH_USER, "/statement confirm 2026-W48 anyway")
    await say(core, ZH_CHAT, ZH_AGENCY, "/statement confirm 2026-W48 anyway")
    late = await say(core, ZH_CHAT, ZH_USER, "/report 成交额 12000 11-23")
    assert "🔒 2026年第48周 已锁定" in late


async def test_chinese_fee_says_what_a_percentage_is_of_and_spaces_amounts(core: Core) -> None:
    for person in (ZH_AGENCY, ZH_USER):  # truth: agreed, so both sides report
        await say(core, ZH_CHAT, person, "/report 成交额 20000 退款 4000 消耗 1000 12-01")
    text = await say(core, ZH_CHAT, ZH_USER, "/fee")
    assert "超出上限 8.0%，超出部分为上限的 150%，15 档 × 5% × 服务费合计 ¥8,900.00）" in text
    assert "低于保量 100,000，差额为保量的 30% → 退还基础服务费 ¥5,000.00 的 30%" in text
    assert "退款率：按当前进度期末预计 20.0%，超出上限 8.0% → " in text


async def test_dashboard_not_set_up_does_not_send_chat_users_to_the_readme(core: Core) -> None:
    for chat, user, command in ((ZH_CHAT, ZH_USER, "/看板"), (EN_CHAT, EN_SELLER, "/dashboard")):
        text = await say(core, chat, user, command)
        assert "SECRET_KEY" in text
        assert "README" not in text


async def test_a_mistyped_command_suggests_the_nearest_one(core: Core) -> None:
    text = await say(core, EN_CHAT, EN_SELLER, "/reprot gmv 5")
    assert text.startswith("Unknown command “/reprot”. Did you mean /report?")
    assert "Did you mean /kpi?" in await say(core, EN_CHAT, EN_SELLER, "/kip")
    assert "Did you mean" not in await say(core, EN_CHAT, EN_SELLER, "/xyzzy")
    zh = await say(core, ZH_CHAT, ZH_USER, "/statment")
    assert "是不是想输入 /statement？" in zh


async def test_link_accepts_the_deal_id_without_its_hash(core: Core) -> None:
    text = await say(core, "telegram:-1007777", EN_SELLER, "/link acme-linkstar-us seller")
    assert text.startswith("✅ This chat is now linked to #acme-linkstar-us")
    assert await core.ledger.deals_for_chat("telegram:-1007777") == [("acme-linkstar-us", "seller")]
    # A side word alone still lacks the deal: the form, not "no deal #seller".
    usage = await say(core, "telegram:-1008888", EN_SELLER, "/link seller")
    assert usage.startswith("Form: /link #deal-id")
