"""The dashboard: links from the chat (/dashboard, revoke), the pages' security, /export."""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from openpyxl import load_workbook
from pydantic import SecretStr

from bot.app import Core, build_core, dashboard_routes
from bot.core import Command, Outgoing, VirtualClock
from bot.dashboard.links import LinkRefused, Links
from bot.settings import Settings
from bot.web import bound_port, build_web_app, serve

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "bot" / "demo"
LA = ZoneInfo("America/Los_Angeles")
SELLER_CHAT, SELLER_ADMIN, SELLER = "telegram:-1001234", "telegram:5001", "telegram:5002"
AGENCY_CHAT, AGENCY = "slack:C0AGENCY", "slack:U0AGENCY1"
ZH_CHAT, ZH_ADMIN = "telegram:-1003344556677", "telegram:710200301"
URL_RE = re.compile(r"https?://\S+/d/(\S+)")


def local(day: int, hour: int = 22) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, tzinfo=LA)


@pytest.fixture
async def core(db_url: str) -> AsyncIterator[Core]:
    settings = Settings(  # type: ignore[call-arg]
        database_url=db_url,
        secret_key=SecretStr("test-secret"),
        public_url="https://kpi.example.com/",
        _env_file=None,
    )
    core = await build_core(settings, clock=VirtualClock(local(3)))
    for name in ("acme-linkstar-us.yaml", "shenzhen-wanxiang-cn.yaml"):
        await core.apply_deal_file(DEMO / name)
    yield core
    await core.aclose()


async def say(
    core: Core, chat: str, user: str, text: str, at: dt.datetime, name: str = ""
) -> list[Outgoing]:
    assert isinstance(core.clock, VirtualClock)
    core.clock.set(at)
    return await core.handle(
        Command(
            chat=chat, user=user, text=text, at=at, name=name, message_id=f"{text}@{at.isoformat()}"
        )
    )


def token_of(replies: list[Outgoing]) -> str:
    found = URL_RE.search(replies[0].text)
    assert found is not None, replies[0].text
    return found.group(1)


async def test_dashboard_answers_a_link_scoped_to_the_deal_and_the_chats_side(core: Core) -> None:
    replies = await say(core, SELLER_CHAT, SELLER, "/dashboard", local(3))
    assert replies[0].kind == "reply"
    assert "https://kpi.example.com/d/" in replies[0].text
    assert "2026-11-10" in replies[0].text  # valid for DASHBOARD_LINK_DAYS (7) from Nov 3
    links = core.services.dashboard
    assert isinstance(links, Links)
    grant = await links.check(token_of(replies), core.clock.now())
    assert (grant.deal_id, grant.side) == ("acme-linkstar-us", "seller")


async def test_the_chinese_command_answers_in_chinese_with_the_shared_side(core: Core) -> None:
    replies = await say(core, ZH_CHAT, ZH_ADMIN, "/看板", local(3))
    assert "看板" in replies[0].text and "双方共用" in replies[0].text
    links = core.services.dashboard
    grant = await links.check(token_of(replies), core.clock.now())
    assert (grant.deal_id, grant.side) == ("shenzhen-wanxiang-cn", "shared")


async def test_a_link_expires_after_its_days(core: Core) -> None:
    replies = await say(core, SELLER_CHAT, SELLER, "/dashboard", local(3))
    links = core.services.dashboard
    await links.check(token_of(replies), local(10, 21))
    with pytest.raises(LinkRefused, match="expired"):
        await links.check(token_of(replies), local(10, 23))


async def test_only_an_admin_revokes_and_revoking_refuses_every_earlier_link(core: Core) -> None:
    old = token_of(await say(core, SELLER_CHAT, SELLER, "/dashboard", local(3)))
    refused = await say(core, SELLER_CHAT, SELLER, "/dashboard revoke", local(4))
    assert refused[0].kind == "error" and "admin" in refused[0].text
    links = core.services.dashboard
    await links.check(old, local(4))  # a refused revoke changed nothing
    done = await say(core, SELLER_CHAT, SELLER_ADMIN, "/dashboard revoke", local(4))
    assert "revoked" in done[0].text
    with pytest.raises(LinkRefused, match="revoked"):
        await links.check(old, local(5))
    new = token_of(await say(core, SELLER_CHAT, SELLER, "/dashboard", local(5)))
    await links.check(new, local(5))


async def test_a_tampered_token_or_another_secret_is_refused(core: Core) -> None:
    token = token_of(await say(core, SELLER_CHAT, SELLER, "/dashboard", local(3)))
    links = core.services.dashboard
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(LinkRefused):
        await links.check(flipped, local(3))
    other = Links("another-secret", core.engine, "http://x", 7)
    with pytest.raises(LinkRefused):
        await other.check(token, local(3))


async def test_an_unknown_word_after_dashboard_is_refused_with_the_right_forms(core: Core) -> None:
    replies = await say(core, SELLER_CHAT, SELLER, "/dashboard please", local(3))
    assert replies[0].kind == "error"
    assert "/dashboard revoke" in replies[0].text


async def test_without_a_secret_key_dashboard_says_how_to_set_it_up(db_url: str) -> None:
    settings = Settings(database_url=db_url, _env_file=None)  # type: ignore[call-arg]
    core = await build_core(settings, clock=VirtualClock(local(3)))
    try:
        await core.apply_deal_file(DEMO / "acme-linkstar-us.yaml")
        replies = await say(core, SELLER_CHAT, SELLER, "/dashboard", local(3))
        assert replies[0].kind == "error" and "SECRET_KEY" in replies[0].text
        assert dashboard_routes(core) == []
    finally:
        await core.aclose()


async def test_export_sends_the_periods_workbook_into_the_chat(core: Core) -> None:
    await say(core, SELLER_CHAT, SELLER, "/report gmv 2100 orders 52", local(2))
    await say(core, AGENCY_CHAT, AGENCY, "/report gmv =SUM(1) orders 50", local(2))
    await say(core, AGENCY_CHAT, AGENCY, "/report gmv 2000 orders 50", local(2, 23))
    replies = await say(core, SELLER_CHAT, SELLER, "/export", local(3))
    [reply] = replies
    [attachment] = reply.files
    assert attachment.filename == "acme-linkstar-us-2026-11.xlsx"
    assert attachment.mime.endswith("spreadsheetml.sheet")
    book = load_workbook(io.BytesIO(attachment.content))
    assert book.sheetnames == ["ledger", "verdicts", "daily", "statement"]
    daily = {(r[0], r[1]): r for r in book["daily"].iter_rows(min_row=2, values_only=True)}
    assert daily[("2026-11-02", "gmv")][2:5] == ("2100", "2000", "2100")
    assert daily[("2026-11-02", "gmv")][7] == "yes"  # 5% apart: a disagreement
    ledger = list(book["ledger"].iter_rows(min_row=2, values_only=True))
    assert [r[3] for r in ledger if r[2] == "gmv"] == ["2100", "2000"]


async def test_export_of_a_future_period_is_refused_with_an_example(core: Core) -> None:
    replies = await say(core, SELLER_CHAT, SELLER, "/export 2027-01", local(3))
    assert replies[0].kind == "error" and "/export 2026-11" in replies[0].text


# ------------------------------------------------------------------------------ HTTP


@pytest.fixture
async def server(core: Core) -> AsyncIterator[str]:
    runner = await serve(build_web_app(dashboard_routes(core)), "127.0.0.1", 0)
    yield f"http://127.0.0.1:{bound_port(runner)}"
    await runner.cleanup()


async def get(url: str) -> tuple[int, dict[str, str], str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        body = (await response.read()).decode("utf-8", errors="replace")
        return response.status, dict(response.headers), body


async def test_a_page_carries_the_security_headers_and_no_inline_script(
    core: Core, server: str
) -> None:
    token = token_of(await say(core, SELLER_CHAT, SELLER, "/dashboard", local(3)))
    status, headers, body = await get(f"{server}/d/{token}")
    assert status == 200
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp and "script-src" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "no-store" in headers["Cache-Control"]
    assert "<script" not in body and " style=" not in body
    assert "ACME Home x Linkstar" in body


async def test_tampered_expired_and_revoked_links_get_one_403_naming_no_deal(
    core: Core, server: str
) -> None:
    token = token_of(await say(core, SELLER_CHAT, SELLER, "/dashboard", local(3)))
    answers = [await get(f"{server}/d/{token[:-1]}x")]
    assert isinstance(core.clock, VirtualClock)
    core.clock.set(local(11))
    answers.append(await get(f"{server}/d/{token}"))
    core.clock.set(local(4))
    await say(core, SELLER_CHAT, SELLER_ADMIN, "/dashboard revoke", local(4))
    answers.append(await get(f"{server}/d/{token}"))
    answers.append(await get(f"{server}/d/{token}/export.xlsx"))
    assert [status for status, _h, _b in answers] == [403, 403, 403, 403]
    bodies = {body for _s, _h, body in answers}
    assert len(bodies) == 1  # the same page whatever the reason
    [body] = bodies
    assert "ACME" not in body and "acme" not in body and "此链接无法打开" in body
    assert all(h["Referrer-Policy"] == "no-referrer" for _s, h, _b in answers)


async def test_a_link_for_one_deal_never_shows_another(core: Core, server: str) -> None:
    token = token_of(await say(core, ZH_CHAT, ZH_ADMIN, "/看板", local(3)))
    _status, _h, body = await get(f"{server}/d/{token}")
    assert "深圳万象家居" in body and "ACME" not in body


async def test_the_token_never_appears_in_the_logs(
    core: Core, server: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = token_of(await say(core, SELLER_CHAT, SELLER, "/dashboard", local(3)))
    await get(f"{server}/d/{token}")
    await get(f"{server}/d/{token}/export.xlsx")
    await get(f"{server}/d/{token}x")
    assert caplog.records
    leaks = [r for r in caplog.records if token[-20:] in r.getMessage() + str(r.__dict__)]
    assert [f"{r.name}: {r.getMessage()[:200]}" for r in leaks] == []


async def test_the_jsonl_download_holds_the_periods_rows_by_sheet(core: Core, server: str) -> None:
    import json

    await say(core, SELLER_CHAT, SELLER, "/report gmv 2100 orders 52", local(2))
    token = token_of(await say(core, SELLER_CHAT, SELLER, "/dashboard", local(3)))
    status, headers, body = await get(f"{server}/d/{token}/export.jsonl?period=2026-11")
    assert status == 200 and "attachment" in headers["Content-Disposition"]
    rows = [json.loads(line) for line in body.splitlines()]
    assert {r["sheet"] for r in rows} == {"ledger", "daily", "statement"}
    assert [r["value"] for r in rows if r["sheet"] == "ledger" and r["metric"] == "gmv"] == ["2100"]


async def test_a_bad_period_on_the_page_says_why_in_the_deals_language(
    core: Core, server: str
) -> None:
    token = token_of(await say(core, ZH_CHAT, ZH_ADMIN, "/看板", local(3)))
    status, headers, body = await get(f"{server}/d/{token}?period=2030-W01")
    assert status == 400 and "尚未开始" in body
    assert headers["Content-Security-Policy"].startswith("default-src 'none'")


async def test_a_rendered_page_is_reused_briefly_with_each_viewers_own_token(core: Core) -> None:
    import asyncio

    from bot.app import dashboard_sources
    from bot.dashboard.web import Dashboard

    links = core.services.dashboard
    dashboard = Dashboard(
        links, dashboard_sources(core), core.clock, core.ledger.current_deal, page_seconds=3.0
    )
    runner = await serve(build_web_app(dashboard.routes()), "127.0.0.1", 0)
    base = f"http://127.0.0.1:{bound_port(runner)}"
    try:
        first = token_of(await say(core, SELLER_CHAT, SELLER, "/dashboard", local(3)))
        second = token_of(await say(core, SELLER_CHAT, SELLER_ADMIN, "/dashboard", local(3, 23)))
        assert first != second
        _s, _h, before = await get(f"{base}/d/{first}")
        await say(core, SELLER_CHAT, SELLER, "/report gmv 4321", local(3))
        _s, _h, reused = await get(f"{base}/d/{second}")
        assert "4,321" not in reused  # the page rendered a moment ago
        assert f"/d/{second}/export.xlsx" in reused and first not in reused
        assert f"/d/{first}/export.xlsx" in before
        await asyncio.sleep(3.1)
        _s, _h, fresh = await get(f"{base}/d/{second}")
        assert "4,321" in fresh
    finally:
        await runner.cleanup()


# ------------------------------------------------------------------------------ as the chat says it

AGENCY_ADMIN, ZH_AGENCY = "slack:U0AGENCY2", "telegram:583920114"


def dec(day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, tzinfo=LA)


def shanghai(day: int, hour: int = 22) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, tzinfo=ZoneInfo("Asia/Shanghai"))


def text_of(body: str) -> str:
    """The page's text as a reader sees it (tags dropped, entities decoded)."""
    import html

    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def chat_lines(replies: list[Outgoing]) -> list[str]:
    return [line.strip() for r in replies for line in r.text.splitlines() if line.strip()]


async def test_a_closed_page_shows_the_locked_figures_and_what_was_recorded_after(
    core: Core, server: str
) -> None:
    await say(core, SELLER_CHAT, SELLER, "/report gmv 12500", local(21))
    await say(core, SELLER_CHAT, SELLER_ADMIN, "/statement confirm 2026-11 anyway", dec(1))
    await say(core, AGENCY_CHAT, AGENCY_ADMIN, "/statement confirm 2026-11 anyway", dec(1, 11))
    await say(core, SELLER_CHAT, SELLER, "/report gmv 20000 2026-11-21", dec(2))
    chat = chat_lines(await say(core, SELLER_CHAT, SELLER, "/statement 2026-11", dec(2, 11)))
    token = token_of(await say(core, SELLER_CHAT, SELLER, "/dashboard", dec(2, 11)))
    _s, _h, body = await get(f"{server}/d/{token}?period=2026-11")
    page = text_of(body)
    # The locked line names the locked figure (12,500), never today's (20,000), as the chat.
    line = "commission on net_gmv 12,500: 12,500 × 5% (refunds not reported, counted as 0)"
    assert line in page and any(line in c for c in chat)
    assert "net_gmv 20,000" not in page
    # What was recorded after the close: the chat's own lines, under the chat's heading.
    late = chat[chat.index("⚠ Recorded after the close (not applied)") + 1 :][:2]
    assert late == [
        "• 2026-11-21 gmv 20,000 (seller, telegram:5002, 2026-12-02 10:00); at the close it"
        " counted 12,500",
        "• gmv for the period would be 20,000 instead of 12,500 (+7,500, the sum of the counted"
        " changes above)",
    ]
    assert "⚠ Recorded after the close (not applied)" in page
    assert all(text in page for text in late)
    # Closed anyway: the page says what it closed as nothing, with the chat's own line.
    gaps = next(c for c in chat if c.startswith("⚠ Closed with days nobody reported"))
    assert "gmv 29 day(s)" in gaps and gaps in page


async def test_the_chinese_page_says_the_fee_as_the_chat_does(core: Core, server: str) -> None:
    for day in (2, 3):
        for hour, who in ((20, ZH_ADMIN), (21, ZH_AGENCY)):
            await say(core, ZH_CHAT, who, "/report gmv 21000 ad_spend 6000", shanghai(day, hour))
    chat = chat_lines(await say(core, ZH_CHAT, ZH_ADMIN, "/fee", shanghai(3, 23)))
    token = token_of(await say(core, ZH_CHAT, ZH_ADMIN, "/看板", shanghai(3, 23)))
    _s, _h, body = await get(f"{server}/d/{token}")
    page = text_of(body)
    # Each fee line reads as in /fee: its words beside its amount, to date and projected.
    fee_lines = [line[2:].rsplit("：", 1) for line in chat if line.startswith("• ")]
    fee_lines = [(words, amount) for words, amount in fee_lines if amount.startswith("¥")]
    assert len(fee_lines) == 10
    assert all(f"{words}  {amount}" in page for words, amount in fee_lines)
    assert "成交额 147,000 提成（全额按所达档位计：147,000 × 4%）" in page
    assert "成交额 42,000 提成（全额按所达档位计：147,000" not in page
    # Metrics by their Chinese names, money as the chat writes yuan (the rounding note alone
    # names the currency's code).
    shown = text_of(re.sub(r'<td class="source">[^<]*</td>', "", body))
    assert "每日 成交额 与日目标" in shown and "累计 成交额 与目标进度" in shown
    assert re.findall(r"\b(?:gmv|roi|refund_rate|ad_spend)\b", shown) == []
    assert "¥13,344.00" in shown and re.findall(r"CNY [-\d]", shown) == []


async def test_a_closed_chinese_page_lists_late_figures_as_the_chat(
    core: Core, server: str
) -> None:
    for hour, who in ((20, ZH_ADMIN), (21, ZH_AGENCY)):
        await say(core, ZH_CHAT, who, "/report gmv 21000", shanghai(2, hour))
    for hour, who in ((10, ZH_ADMIN), (11, ZH_AGENCY)):
        await say(core, ZH_CHAT, who, "/statement confirm 2026-W45 仍然确认", shanghai(9, hour))
    await say(core, ZH_CHAT, ZH_ADMIN, "/report gmv 30000 2026-11-02", shanghai(9, 12))
    chat = chat_lines(await say(core, ZH_CHAT, ZH_ADMIN, "/statement 2026-W45", shanghai(9, 13)))
    token = token_of(await say(core, ZH_CHAT, ZH_ADMIN, "/看板", shanghai(9, 13)))
    _s, _h, body = await get(f"{server}/d/{token}?period=2026-W45")
    page = text_of(body)
    late = [line for line in chat if line.startswith("• 2026-11-02 成交额 30,000")]
    assert len(late) == 1 and "待服务商确认，确认前不计入" in late[0]
    assert "⚠ 锁定后录入（未计入）" in page and late[0] in page


# ------------------------------------------------------------------------------ confirmations

DANA, SAM = "Dana Ruiz", "Sam Okafor"
"""Display names of the acme deal's seller admin and agency admin."""


@pytest.fixture
async def fresh(core: Core) -> AsyncIterator[str]:
    """A server that renders every request anew (these tests look again after a change)."""
    runner = await serve(build_web_app(dashboard_routes(core, page_seconds=0)), "127.0.0.1", 0)
    yield f"http://127.0.0.1:{bound_port(runner)}"
    await runner.cleanup()


def confirmations_of(body: str) -> list[str]:
    """The lines of the page's Confirmations block, as a reader sees them."""
    found = re.search(r'<div id="confirmations">(.*?)</div>', body, re.S)
    assert found is not None, body
    lines = re.split(r"(?=<(?:h3|li|p)\b)", found.group(1))
    return [" ".join(text_of(line).split()) for line in lines if text_of(line).strip()]


async def page_of(core: Core, server: str, period: str, lang: str, at: dt.datetime) -> str:
    token = token_of(await say(core, SELLER_CHAT, SELLER, "/dashboard", at))
    _s, _h, body = await get(f"{server}/d/{token}?period={period}&lang={lang}")
    return body


async def close_november(core: Core) -> None:
    await say(core, SELLER_CHAT, SELLER, "/report gmv 40000", local(21))
    await say(core, SELLER_CHAT, SELLER_ADMIN, "/statement confirm 2026-11 anyway", dec(1), DANA)
    await say(core, AGENCY_CHAT, AGENCY_ADMIN, "/statement confirm 2026-11 anyway", dec(1, 11), SAM)


async def test_a_closed_page_says_who_confirmed_for_each_side_and_when_as_the_chat(
    core: Core, fresh: str
) -> None:
    await close_november(core)
    chat = chat_lines(await say(core, SELLER_CHAT, SELLER, "/statement 2026-11", dec(2)))
    en = confirmations_of(await page_of(core, fresh, "2026-11", "en", dec(2)))
    zh = confirmations_of(await page_of(core, fresh, "2026-11", "zh", dec(2)))
    print("\n".join(["", *en, "", *zh]))
    seller = "✓ seller: confirmed by Dana Ruiz on 2026-12-01 10:00 (total USD 3,500.00)"
    agency = "✓ agency: confirmed by Sam Okafor on 2026-12-01 11:00 (total USD 3,500.00)"
    assert en[:3] == ["Confirmations", seller, agency]
    assert seller in chat and agency in chat  # the chat's own lines
    # Closed anyway: said so, then what it was closed with, in the chat's words.
    gaps = next(c for c in chat if c.startswith("⚠ Closed with days nobody reported"))
    assert en[3:] == ["Both sides confirmed it anyway, as it stood, with these still open:", gaps]
    assert zh[:3] == [
        "确认情况",
        "✓ 卖家：Dana Ruiz 于 2026-12-01 10:00 确认（合计 US$3,500.00）",
        "✓ 服务商：Sam Okafor 于 2026-12-01 11:00 确认（合计 US$3,500.00）",
    ]
    assert zh[3] == "以下事项仍未决时，双方已按当时数据确认锁定："
    assert zh[4].startswith("⚠ 锁定时无人上报的日期（按无数据计）：")


async def test_a_closed_chinese_page_names_both_confirmers_in_the_deals_time(
    core: Core, fresh: str
) -> None:
    for hour, who in ((20, ZH_ADMIN), (21, ZH_AGENCY)):
        await say(core, ZH_CHAT, who, "/report gmv 21000", shanghai(2, hour))
    for hour, who, name in ((10, ZH_ADMIN, "王总"), (11, ZH_AGENCY, "林晓")):
        await say(
            core, ZH_CHAT, who, "/statement confirm 2026-W45 仍然确认", shanghai(9, hour), name
        )
    chat = chat_lines(await say(core, ZH_CHAT, ZH_ADMIN, "/statement 2026-W45", shanghai(9, 13)))
    token = token_of(await say(core, ZH_CHAT, ZH_ADMIN, "/看板", shanghai(9, 13)))
    _s, _h, body = await get(f"{fresh}/d/{token}?period=2026-W45")
    lines = confirmations_of(body)
    assert lines[0] == "确认情况"
    assert lines[1].startswith("✓ 卖家：王总 于 2026-11-09 10:00 确认（合计 ¥")
    assert lines[2].startswith("✓ 服务商：林晓 于 2026-11-09 11:00 确认（合计 ¥")
    assert lines[1] in chat and lines[2] in chat


async def test_an_ended_period_nobody_closed_says_whose_admin_it_waits_for(
    core: Core, fresh: str
) -> None:
    await say(core, SELLER_CHAT, SELLER, "/report gmv 40000", local(21))
    nobody = confirmations_of(await page_of(core, fresh, "2026-11", "en", dec(1)))
    assert nobody[1:3] == [
        "… seller: waiting for an admin of the seller side",
        "… agency: waiting for an admin of the agency side",
    ]
    assert "/statement confirm 2026-11 anyway" in nobody[3]  # how to close, as the chat says
    await say(core, SELLER_CHAT, SELLER_ADMIN, "/statement confirm 2026-11 anyway", dec(1), DANA)
    chat = chat_lines(await say(core, SELLER_CHAT, SELLER, "/statement 2026-11", dec(1, 11)))
    en = confirmations_of(await page_of(core, fresh, "2026-11", "en", dec(1, 11)))
    zh = confirmations_of(await page_of(core, fresh, "2026-11", "zh", dec(1, 11)))
    assert en[1:3] == [
        "✓ seller: confirmed by Dana Ruiz on 2026-12-01 10:00 (total USD 3,500.00)",
        "… agency: waiting for an admin of the agency side",
    ]
    assert all(line in chat for line in en[1:])
    assert zh[2] == "… 服务商：待服务商管理员确认"
    # The figures change: the seller's confirmation is of other figures and closes nothing.
    await say(core, SELLER_CHAT, SELLER, "/report gmv 50000 2026-11-21", dec(1, 12))
    chat = chat_lines(await say(core, SELLER_CHAT, SELLER, "/statement 2026-11", dec(1, 13)))
    en = confirmations_of(await page_of(core, fresh, "2026-11", "en", dec(1, 13)))
    assert en[1].startswith("⚠ seller: Dana Ruiz confirmed a total of USD 3,500.00 on 2026-12-01")
    assert "outdated" in en[1] and en[1] in chat


async def test_a_voided_confirmation_is_shown_with_why(core: Core, fresh: str) -> None:
    await say(core, SELLER_CHAT, SELLER, "/report gmv 40000", local(21))
    await say(core, SELLER_CHAT, SELLER_ADMIN, "/statement confirm 2026-11 anyway", dec(1), DANA)
    await say(core, SELLER_CHAT, SELLER, "/report gmv 50000 2026-11-21", dec(1, 10))
    await say(core, AGENCY_CHAT, AGENCY_ADMIN, "/statement confirm 2026-11 anyway", dec(1, 11), SAM)
    await say(
        core, SELLER_CHAT, SELLER_ADMIN, "/statement confirm 2026-11 anyway", dec(1, 12), DANA
    )
    en = confirmations_of(await page_of(core, fresh, "2026-11", "en", dec(2)))
    zh = confirmations_of(await page_of(core, fresh, "2026-11", "zh", dec(2)))
    print("\n".join(["", *en, "", *zh]))
    assert en[1:4] == [
        "✓ seller: confirmed by Dana Ruiz on 2026-12-01 12:00 (total USD 4,000.00)",
        "✗ seller: Dana Ruiz's confirmation of 2026-12-01 10:00 (total USD 3,500.00) was voided"
        " on 2026-12-01 11:00: the figures changed after it, and Sam Okafor confirmed the new"
        " ones for the agency side (total USD 4,000.00)",
        "✓ agency: confirmed by Sam Okafor on 2026-12-01 11:00 (total USD 4,000.00)",
    ]
    assert zh[2] == (
        "✗ 卖家：Dana Ruiz 于 2026-12-01 10:00 的确认（合计 US$3,500.00）已于 2026-12-01 11:00"
        " 作废：此后数据有变动，Sam Okafor 已代表服务商确认新数据（合计 US$4,000.00）"
    )


async def test_a_confirmers_chosen_name_is_shown_as_text_never_as_markup(
    core: Core, fresh: str
) -> None:
    hostile = '<script>alert(1)</script><img src=x onerror="alert(2)">&amp;'
    await say(core, SELLER_CHAT, SELLER, "/report gmv 40000", local(21))
    await say(core, SELLER_CHAT, SELLER_ADMIN, "/statement confirm 2026-11 anyway", dec(1), hostile)
    for lang in ("en", "zh"):
        body = await page_of(core, fresh, "2026-11", lang, dec(1, 11))
        assert "<script" not in body and "<img" not in body and 'onerror="' not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=" in body
        assert "&amp;amp;" in body  # even an entity the person typed reads as typed
        assert hostile in confirmations_of(body)[1]


async def test_the_running_period_says_in_one_line_that_nothing_is_confirmed_yet(
    core: Core, fresh: str
) -> None:
    en = confirmations_of(await page_of(core, fresh, "2026-11", "en", local(3)))
    zh = confirmations_of(await page_of(core, fresh, "2026-11", "zh", local(3)))
    assert en == [
        "Confirmations",
        "Nothing to confirm yet: once the period ends on 2026-11-30, an admin of each side"
        " confirms its statement in the chat, and who did and when shows here.",
    ]
    assert zh[0] == "确认情况" and zh[1].startswith("本期尚未结束，暂无需确认：2026-11-30 结束后")
