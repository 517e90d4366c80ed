"""Figures not agreed yet are never shown as settled: pending days leave the pace base, /fee and
the recap give the exact /confirm, the recap's fee is provisional until the statement is
closed, and /statement lists what is open and refuses to confirm without ``anyway``."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from bot.app import Core, build_core
from bot.core import Command, VirtualClock
from bot.settings import Settings
from handlers.statement import split_anyway
from kpi.dealfile import load_deal
from kpi.pace import pace_days, pending_before, period_totals, project, unreported_days
from kpi.statement_store import StatementStore
from scheduler.recap import build_recap
from tests.test_pace import NOV, TWO, days, fig
from tests.test_scheduler_support import AGENCY_HEAD as AGENCY_HEAD_S
from tests.test_scheduler_support import SELLER as SELLER_S
from tests.test_scheduler_support import deal_yaml, of_kind, replay, report_days, tick
from tests.test_scheduler_support import say as support_say
from tests.test_trust import (
    A_AGENCY_CHAT,
    A_SELLER_CHAT,
    AGENCY,
    AGENCY_ADMIN,
    AGREED,
    AGREED_TEXT,
    SELLER,
    local,
    say,
)
from tests.test_views_fresh_eyes import CN_AGENCY, CN_CHAT, CN_SELLER, WANXIANG_TEXT, cn

D = dt.date
WANXIANG = "shenzhen-wanxiang-cn"


# --- the pace leaves pending days out (pure) ---------------------------------------------------


def test_a_pending_day_is_neither_paced_as_zero_nor_counted_as_not_reported() -> None:
    # gmv 1,000 counted on Nov 1-5 except Nov 3, which waits for a confirmation; today Nov 6.
    figures = [fig(d, "gmv", "1000") for d in days(D(2026, 11, 1), D(2026, 11, 5)) if d.day != 3]
    figures.append(fig(D(2026, 11, 3), "gmv", None))
    totals = period_totals(figures, TWO, NOV, D(2026, 11, 6))
    assert totals.pending_days == {"gmv": (D(2026, 11, 3),)}
    assert pending_before(totals, NOV, "gmv") == 1
    # Paced over the 4 days that count (not 5 with a zero): 4,000 x 30 / 4 = 30,000.
    assert project(totals, TWO, NOV)["gmv"] == Decimal(30000)
    assert unreported_days(totals, NOV) == {}


def test_a_pending_today_changes_nothing_and_a_real_gap_still_paces_as_zero() -> None:
    figures = [fig(D(2026, 11, 1), "gmv", "1000"), fig(D(2026, 11, 3), "gmv", "1000")]
    figures.append(fig(D(2026, 11, 4), "gmv", None))  # today's, pending: not paced yet anyway
    totals = period_totals(figures, TWO, NOV, D(2026, 11, 4))
    assert pending_before(totals, NOV, "gmv") == 0
    # Nov 1-3 elapsed, Nov 2 nobody reported: 2,000 x 30 / 3 = 20,000.
    assert project(totals, TWO, NOV)["gmv"] == Decimal(20000)
    assert unreported_days(totals, NOV) == {"gmv": 1}
    assert pace_days(NOV, D(2026, 11, 4), D(2026, 11, 3), pending=1) == 2


# --- the words that confirm anyway -------------------------------------------------------------


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("2026-11", ("2026-11", False)),
        ("2026-11 anyway", ("2026-11", True)),
        ("2026年第48周 仍然确认", ("2026年第48周", True)),
        ("2026年第48周 强制确认", ("2026年第48周", True)),
        ("仍确认 2026年第48周", ("2026年第48周", True)),
        ("2026年第48周 仍然 确认", ("2026年第48周", True)),
        ("2026年第48周 强制", ("2026年第48周", True)),
        ("", ("", False)),
    ],
)
def test_the_anyway_words_are_taken_out_of_the_period_label(
    words: str, expected: tuple[str, bool]
) -> None:
    assert split_anyway(words.split()) == expected


# --- through the bot (SQLite and PostgreSQL) ---------------------------------------------------


@pytest.fixture
async def core(db_url: str) -> AsyncIterator[Core]:
    clock = VirtualClock(local(6))
    settings = Settings(database_url=db_url, _env_file=None)  # type: ignore[call-arg]
    core = await build_core(settings, clock=clock)
    await core.apply_deal_text(AGREED_TEXT, "agreed.yaml")
    await core.apply_deal_text(WANXIANG_TEXT, "wanxiang.yaml")
    yield core
    await core.aclose()


async def agreed_week(core: Core) -> None:
    """truth: agreed. Both sides report gmv 1,000 on Nov 1, 2 and 4; on Nov 3 only the seller
    reports (pending: waits for the agency). Today is Nov 5, not reported yet."""
    for day in (1, 2, 3, 4):
        await say(core, A_SELLER_CHAT, SELLER, "/report gmv 1000", at=local(day))
        if day != 3:
            await say(core, A_AGENCY_CHAT, AGENCY, "/report gmv 1000", at=local(day, 23))


async def test_kpi_paces_without_the_pending_day_and_does_not_call_it_unreported(
    core: Core,
) -> None:
    await agreed_week(core)
    kpi = await say(core, A_SELLER_CHAT, SELLER, "/kpi", at=local(5, 9))
    # 3,000 over the 3 days that count (Nov 1, 2, 4) x 30 = 30,000; as 4 days with a zero it
    # would have been 22,500.
    assert "at this pace ends at 30,000" in kpi
    assert "Days not reported" not in kpi
    assert "left out of the pace (not taken as 0): gmv 1 day(s)" in kpi
    assert "/confirm gmv 2026-11-03" in kpi


async def test_a_target_whose_figures_all_wait_is_awaiting_confirmation_not_no_data(
    core: Core,
) -> None:
    await say(core, A_SELLER_CHAT, SELLER, "/report gmv 1000", at=local(3))
    kpi = await say(core, A_SELLER_CHAT, SELLER, "/kpi", at=local(4, 9))
    lines = {line.split()[1]: line for line in kpi.splitlines() if line.startswith("• ")}
    assert lines["gmv"].endswith("awaiting confirmation"), lines["gmv"]
    # roi also reads ad_spend, which nobody reported: that is no data, not a confirmation.
    assert lines["roi"].endswith("no figures yet"), lines["roi"]


async def test_fee_says_how_many_figures_wait_and_the_exact_confirm(core: Core) -> None:
    await agreed_week(core)
    await say(core, A_AGENCY_CHAT, AGENCY, "/report orders 40", at=local(4, 23))
    fee = await say(core, A_SELLER_CHAT, SELLER, "/fee", at=local(5, 9))
    assert (
        "⏳ 1 figure(s) wait for the seller's confirmation and count nothing until then: "
        "/confirm orders 2026-11-04"
    ) in fee
    assert (
        "⏳ 1 figure(s) wait for the agency's confirmation and count nothing until then: "
        "/confirm gmv 2026-11-03"
    ) in fee


async def test_chinese_fee_names_the_waiting_side_and_the_confirm_with_labels(
    core: Core,
) -> None:
    for day in (2, 3):
        await say(core, CN_CHAT, CN_SELLER, f"/report 成交额 20000 2026-11-0{day}", at=cn(4))
    fee = await say(core, CN_CHAT, CN_SELLER, "/fee", at=cn(4))
    assert (
        "⏳ 2 项数据待服务商确认，确认前不计入："
        "/confirm 成交额 2026-11-02、/confirm 成交额 2026-11-03"
    ) in fee


# --- the recap's fee is provisional until the statement is closed ------------------------------


async def test_the_recap_fee_is_provisional_until_the_statement_is_closed(core: Core) -> None:
    figures = "/report 成交额 20000 退款 1000 消耗 5000 订单 100 观看 5000 2026-11-03"
    await say(core, CN_CHAT, CN_SELLER, figures, at=cn(3))
    await say(core, CN_CHAT, CN_AGENCY, figures, at=cn(3, 23))
    deal = load_deal(WANXIANG_TEXT)
    statements = StatementStore(core.engine)

    async def recap() -> str:
        built = await build_recap(
            core.ledger, core.services.platform, deal, D(2026, 11, 9), chart=False,
            statements=statements,
        )  # fmt: skip
        assert built is not None
        return built[0].text

    assert "本期服务费（暂定，以锁定的结算单为准）：" in await recap()
    inside = await build_recap(
        core.ledger, core.services.platform, deal, D(2026, 11, 6), chart=False
    )
    assert inside is not None
    assert "服务费（暂定，以锁定的结算单为准）：截至目前" in inside[0].text

    for who in (CN_SELLER, CN_AGENCY):
        await say(core, CN_CHAT, who, "/statement confirm 2026-W45 仍然确认", at=cn(10, 10))
    record = await statements.get(WANXIANG, "2026-W45")
    assert record is not None and record.closed
    text = await recap()
    assert "本期服务费（最终）：" in text and "暂定" not in text


# --- /statement: what is open comes first, and confirming it takes anyway ----------------------


async def test_statement_lists_open_figures_and_unreported_days_before_the_totals(
    core: Core,
) -> None:
    await agreed_week(core)
    text = await say(core, A_SELLER_CHAT, SELLER, "/statement 2026-11", at=local(1, 9, month=12))
    open_line = "⚠ Not agreed yet (pending counts nothing): 2026-11-03 gmv (pending)"
    missing = "⚠ Days nobody reported (counted as nothing): gmv 26 day(s): 11-05 to 11-30"
    assert open_line in text and missing in text
    assert text.index(open_line) < text.index(missing) < text.index("figures: gmv 3,000")
    # Its footer gives the command that closes it as it stands: a plain one would be refused.
    assert (
        "Settle what is open above first, or an admin of each side closes the period as it "
        "stands by sending exactly: /statement confirm 2026-11 anyway"
    ) in text
    fee = await say(core, A_SELLER_CHAT, SELLER, "/fee 2026-11", at=local(1, 9, month=12))
    assert open_line in fee and missing in fee
    assert fee.index(missing) < fee.index("figures: gmv 3,000")


async def test_a_statement_nobody_reported_says_so_before_its_fixed_terms(core: Core) -> None:
    # No figure at all: the fee of the fixed terms is not what the period earned.
    text = await say(core, A_SELLER_CHAT, SELLER, "/statement 2026-11", at=local(1, 9, month=12))
    banner = "⚠ Nobody has reported any figure for 2026-11: the lines below are the contract's"
    assert text.index(banner) < text.index("Lines")
    zh = await say(core, CN_CHAT, CN_SELLER, "/statement 2026年第45周", at=cn(10))
    assert "⚠ 2026年第45周 尚无任何上报数据：以下仅按合同固定条款计算，并非本期实际应得。" in zh


async def test_a_statement_with_open_figures_shows_the_total_as_each_side_reported(
    core: Core,
) -> None:
    # A disputed GMV counts nothing: the guarantee (对赌) refund it would trigger is not in the
    # total. Both sides see what the total would be with the seller's figure.
    await say(core, CN_CHAT, CN_SELLER, "/report 成交额 20000 广告消耗 5000 2026-11-16", at=cn(16))
    await say(core, CN_CHAT, CN_AGENCY, "/dispute 成交额 2026-11-16 数据待核对", at=cn(17))
    text = await say(core, CN_CHAT, CN_SELLER, "/statement 2026年第47周", at=cn(24))
    line = next(x for x in text.splitlines() if x.startswith("如以上数据按上报值计入"))
    assert line.startswith("如以上数据按上报值计入，合计将为：按卖家数据 ¥"), line
    assert line.endswith("（按当前已计入的数据：¥5,000.00）。") and "按服务商数据" not in line
    assert "合计：¥5,000.00" in text


async def test_confirming_with_open_figures_is_refused_with_exactly_what_to_type(
    core: Core,
) -> None:
    await agreed_week(core)
    december = local(1, 9, month=12)
    refused = await say(core, A_SELLER_CHAT, SELLER, "/statement confirm 2026-11", at=december)
    assert refused.startswith(
        "Not confirmed: the 2026-11 statement still has figures not agreed or days not reported."
    )
    assert "2026-11-03 gmv (pending)" in refused and "gmv 26 day(s)" in refused
    assert refused.endswith("by sending exactly: /statement confirm 2026-11 anyway")
    assert await StatementStore(core.engine).get(AGREED, "2026-11") is None

    # Confirmed as it stands: both sides read what is still open, and the other side is given
    # the command that works (a plain /statement confirm would be refused the same way).
    replies = await core.handle(
        Command(
            chat=A_SELLER_CHAT,
            user=SELLER,
            text="/statement confirm 2026-11 anyway",
            at=december,
            name="Lily",
            message_id="anyway-seller",
        )
    )
    mine, *notices = replies
    assert mine.text.startswith(
        "✅ Lily confirmed the 2026-11 statement for the seller side as it stands (total USD"
    )
    assert "gmv 26 day(s)" in mine.text and "2026-11-03 gmv (pending)" in mine.text
    assert mine.text.endswith(
        "It closes when an admin of the agency side confirms it as it stands too, by sending "
        "exactly: /statement confirm 2026-11 anyway"
    )
    to_agency = next(n for n in notices if n.to == A_AGENCY_CHAT)
    assert to_agency.text.startswith("📝 Lily (seller side) confirmed the 2026-11 statement as it")
    assert "gmv 26 day(s)" in to_agency.text
    assert "by sending exactly: /statement confirm 2026-11 anyway" in to_agency.text
    await say(core, A_AGENCY_CHAT, AGENCY_ADMIN, "/statement confirm 2026-11 anyway", at=december)
    record = await StatementStore(core.engine).get(AGREED, "2026-11")
    assert record is not None and record.closed
    # The closed statement still says what it closed as nothing, and what was still open.
    closed = await say(core, A_SELLER_CHAT, SELLER, "/statement 2026-11", at=local(2, 9, month=12))
    assert "⚠ Closed with figures still open: 2026-11-03 gmv (pending)" in closed
    assert (
        "⚠ Closed with days nobody reported (counted as nothing): gmv 26 day(s): 11-05 to 11-30"
        in closed
    )


@pytest.mark.parametrize("word", ["仍然确认", "强制确认", "仍然", "仍确认"])
async def test_each_chinese_word_confirms_anyway_and_the_refusal_names_one(
    core: Core, word: str
) -> None:
    await say(core, CN_CHAT, CN_SELLER, "/report 成交额 20000 2026-11-03", at=cn(3))
    refused = await say(core, CN_CHAT, CN_SELLER, "/statement confirm 2026年第45周", at=cn(10))
    assert refused.startswith("未确认：2026年第45周 结算单仍有未确认的数据或未上报的日期。")
    assert "⚠ 尚未确认的数据（待确认的不计入）：2026-11-03 成交额（待确认）" in refused
    assert "⚠ 无人上报的日期（按无数据计）：成交额 6 天：11-02、11-04 至 11-08\n" in refused
    assert refused.endswith("请发送：/statement confirm 2026年第45周 仍然确认")
    done = await say(core, CN_CHAT, CN_SELLER, f"/statement confirm 2026年第45周 {word}", at=cn(10))
    assert "已代表卖家按当前数据确认 2026年第45周 结算单" in done, done
    assert done.endswith(
        "待服务商管理员同样按当前数据确认后锁定，请发送：/statement confirm 2026年第45周 仍然确认"
    )


async def test_a_confirmation_made_before_the_figures_changed_is_shown_outdated(
    core: Core,
) -> None:
    await agreed_week(core)
    await say(core, A_AGENCY_CHAT, AGENCY, "/confirm gmv 2026-11-03", at=local(5))
    december = local(1, 9, month=12)
    await say(core, A_SELLER_CHAT, SELLER, "/statement confirm 2026-11 anyway", at=december)
    shown = await say(core, A_SELLER_CHAT, SELLER, "/statement 2026-11", at=december)
    assert "✓ seller: confirmed by" in shown and "outdated" not in shown
    # A late report for November changes its total after the seller confirmed.
    await say(
        core, A_SELLER_CHAT, SELLER, "/report gmv 90000 2026-11-20", at=local(1, 10, month=12)
    )
    await say(core, A_AGENCY_CHAT, AGENCY, "/confirm gmv 2026-11-20", at=local(1, 10, month=12))
    shown = await say(core, A_SELLER_CHAT, SELLER, "/statement 2026-11", at=local(1, 11, month=12))
    line = next(x for x in shown.splitlines() if x.startswith("⚠ seller:"))
    assert "confirmed a total of USD" in line and "the figures changed since" in line
    assert "That confirmation is outdated and closes nothing" in line
    # November still has days nobody reported: confirming again takes the anyway word.
    assert line.endswith("/statement confirm 2026-11 anyway")


# --- the scheduled recap reads whether the statement is closed ---------------------------------


@pytest.mark.parametrize("close", [False, True])
async def test_the_scheduled_recap_of_a_closed_week_says_final_and_of_an_open_one_provisional(
    close: bool,
) -> None:
    """A weekly deal: the recap on Monday 09:00 covers the week that just ended. Closed by
    both admins at 08:00, its fee is final; otherwise provisional."""
    text = deal_yaml(schedule="schedule:\n  recap: mon 09:00\n", starts="2026-11-02").replace(
        "period: month", "period: week"
    )
    closing = [
        support_say(f"2026-11-09T08:0{n}:00-08:00", who, "/statement confirm 2026-W45")
        for n, who in enumerate((SELLER_S, AGENCY_HEAD_S))
    ]
    lines = [
        tick("2026-11-01T00:00:00-07:00"),
        *report_days(D(2026, 11, 2), 7, 1700),
        *(closing if close else []),
        tick("2026-11-09T09:00:00-08:00"),
    ]
    sent = await replay(text, lines)
    recap = next(m for m in of_kind(sent, "recap") if m["at"] == "2026-11-09T09:00:00-08:00")
    if close:
        assert any("statement is closed" in m["text"] for m in sent)
        assert "Fee for the period (final): USD" in recap["text"]
    else:
        assert (
            "Fee for the period (provisional until the statement is closed): USD" in recap["text"]
        )


async def test_confirming_a_settled_statement_asks_the_other_side_for_the_plain_command(
    core: Core,
) -> None:
    # Every day of week 45 reported alike by both sides: nothing open, so the confirmation is
    # not "as it stands" and the other side is asked for the plain command.
    for day in range(2, 9):
        text = f"/report gmv 20000 ad_spend 5000 orders 100 viewers 3000 2026-11-{day:02d}"
        await say(core, CN_CHAT, CN_SELLER, text, at=cn(day))
        await say(core, CN_CHAT, CN_AGENCY, text, at=cn(day, 23))
    shown = await say(core, CN_CHAT, CN_SELLER, "/statement 2026年第45周", at=cn(10))
    assert "双方管理员各发送一次即可确认并锁定：/statement confirm 2026年第45周" in shown
    assert "仍然确认" not in shown
    done = await say(core, CN_CHAT, CN_SELLER, "/statement confirm 2026年第45周", at=cn(10))
    assert done.startswith("✅ telegram:710200301 已代表卖家确认 2026年第45周 结算单（合计 ¥"), done
    assert done.endswith("待服务商管理员确认后锁定：/statement confirm 2026年第45周")
    assert "仍未处理" not in done and "仍然确认" not in done


@pytest.mark.parametrize(
    ("words", "title"),
    [
        ("上周", "2026年第46周（11-09 至 11-15）"),
        ("上期", "2026年第46周（11-09 至 11-15）"),
        ("last", "2026年第46周（11-09 至 11-15）"),
        ("本周", "2026年第47周（11-16 至 11-22）"),
    ],
)
async def test_a_period_in_words_names_the_current_or_the_previous_one(
    core: Core, words: str, title: str
) -> None:
    text = await say(core, CN_CHAT, CN_SELLER, f"/kpi {words}", at=cn(18))
    assert text.splitlines()[0].startswith(f"深圳万象家居 × 联星出海 周度代运营 — {title}"), text


async def test_the_period_before_the_first_in_words_is_refused_as_not_there_yet(
    core: Core,
) -> None:
    text = await say(core, CN_CHAT, CN_SELLER, "/kpi 上周", at=cn(4))
    assert text == "还没有上一期：本项目 2026-11-02 开始，2026年第45周 是第一个考核期。"
    # A word of another period kind is not taken: a weekly deal has no "last month".
    text = await say(core, CN_CHAT, CN_SELLER, "/kpi 上月", at=cn(18))
    assert text.startswith("“上月”不是本项目的考核期。")


async def test_a_period_nobody_reported_is_named_as_the_deal_names_it(core: Core) -> None:
    text = await say(core, CN_CHAT, CN_SELLER, "/statement confirm 2026年第45周", at=cn(10))
    assert text.startswith("未确认：2026年第45周 没有任何数据上报。"), text
    assert "/statement confirm 2026年第45周 仍然确认" in text and "2026-W45" not in text
