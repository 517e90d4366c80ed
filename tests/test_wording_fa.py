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
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=SH)

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
    assert zh.startswith("暂无对方上报的 2026-11-19 成交额 数据。")
