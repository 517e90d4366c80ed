"""Answers that cannot mislead about money or sides: the fee to date under the cap, unusual
figures, one side rule, disputes told to the other side, the first day of a period.

Pure rules are tested directly; whole answers go through the core (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.app import Core, build_core
from bot.core import Command, Outgoing, VirtualClock
from bot.core.i18n import t
from bot.replay import RecordingPort
from bot.settings import Settings
from kpi.model import FeePlan, Target
from kpi.money import quantize_money
from kpi.sides import acting_side
from kpi.snapshot import snapshot
from kpi.unusual import median, unusual, usual_days
from scheduler.recap import fee_lines
from tests.test_fees_props import CURRENCIES, PROPS, fractions, plans, run, targets, values

ROOT = Path(__file__).resolve().parents[1]
US_TEXT = (ROOT / "bot" / "demo" / "acme-linkstar-us.yaml").read_text(encoding="utf-8")
CN_TEXT = (ROOT / "bot" / "demo" / "shenzhen-wanxiang-cn.yaml").read_text(encoding="utf-8")
US, CN = "acme-linkstar-us", "shenzhen-wanxiang-cn"
LA = ZoneInfo("America/Los_Angeles")

SELLER_CHAT, SELLER, SELLER2 = "telegram:-1001234", "telegram:5001", "telegram:5002"
AGENCY_CHAT, AGENCY, AGENCY_ADMIN = "slack:C0AGENCY", "slack:U0AGENCY1", "slack:U0AGENCY2"
SHARED_CHAT = "telegram:-1009999"
SHANGHAI = ZoneInfo("Asia/Shanghai")
CN_SELLER_CHAT, CN_AGENCY_CHAT = "telegram:-1003344556677", "telegram:-1003344556688"
CN_SELLER, CN_AGENCY = "telegram:710200301", "telegram:583920114"


def local(day: int, hour: int = 22, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, 0, tzinfo=LA)


def cn_local(day: int, hour: int = 21, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, 0, tzinfo=SHANGHAI)


async def make_core(db_url: str, *texts: str) -> Core:
    clock = VirtualClock(local(3))
    settings = Settings(database_url=db_url, _env_file=None)  # type: ignore[call-arg]
    # No recap charts: a test that ticks would draw a month of them, for nothing it checks.
    core = await build_core(settings, clock=clock, scheduler={"charts": False})
    for index, text in enumerate(texts):
        await core.apply_deal_text(text, f"deal{index}.yaml")
    return core


@pytest.fixture
async def core(db_url: str) -> AsyncIterator[Core]:
    made = await make_core(db_url, US_TEXT)
    yield made
    await made.aclose()


_counter = iter(range(1, 10**6))


async def send(
    core: Core, chat: str, user: str, text: str, *, at: dt.datetime | None = None, name: str = ""
) -> list[Outgoing]:
    """One command at ``at`` (the virtual clock moves there); every reply."""
    when = at or local(3)
    assert isinstance(core.clock, VirtualClock)
    core.clock.set(when)
    return await core.handle(
        Command(
            chat=chat, user=user, text=text, at=when, name=name, message_id=f"g{next(_counter)}"
        )
    )


async def say(core: Core, chat: str, user: str, text: str, **kw: object) -> str:
    """The text of the first reply."""
    return (await send(core, chat, user, text, **kw))[0].text  # type: ignore[arg-type]


# --- 1. the fee to date never above the cap ----------------------------------------------------


@PROPS
@given(
    plan=plans(),
    goals=targets,
    figures=values,
    currency=st.sampled_from(CURRENCIES),
    fraction=fractions,
)
def test_the_fee_to_date_lies_between_zero_and_the_cap_the_projection_applies(
    plan: FeePlan,
    goals: tuple[Target, ...],
    figures: dict[str, Decimal | None],
    currency: str,
    fraction: Decimal,
) -> None:
    to_date = run(plan, goals, figures, "to_date", currency, fraction)
    assert to_date.total >= 0
    if plan.cap is not None:
        assert to_date.total <= quantize_money(plan.cap * fraction, currency)
    capped = to_date.line("cap")
    assert (capped is not None) == (
        to_date.total
        < sum((line.amount for line in to_date.lines if line.kind != "cap"), Decimal(0))
    )
    if plan.deduction is None:
        # Nothing the period's end may take away: the projection on the same figures (the
        # minimum on top, the same cap) is never below what is earned so far.
        projected = run(plan, goals, figures, "projected", currency, fraction)
        assert to_date.total <= projected.total


async def test_fee_to_date_says_the_cap_holds_it(core: Core) -> None:
    capped = US_TEXT.replace("cap: 20000", "cap: 5000")
    await core.apply_deal_text(capped, "capped.yaml")
    await say(core, SELLER_CHAT, SELLER, "/report gmv 150000 orders 300")
    text = await say(core, SELLER_CHAT, SELLER, "/fee")
    to_date = text.split("At this pace")[0]
    # November is the trial (base 1,500): 1,500 + 50,000 x 5% + 100,000 x 8% = 12,000 so far.
    assert (
        "capped at USD 5,000.00 by the contract (earned so far before the cap: "
        "USD 12,000.00): USD -7,000.00" in to_date
    )
    assert "Total to date: USD 5,000.00" in to_date
    deal = await core.ledger.current_deal(US)
    assert deal is not None
    snap = await snapshot(core.ledger, deal[0], dt.date(2026, 11, 3))
    recap = fee_lines(lambda key, **kw: t(key, "en", **kw), snap)
    assert recap[0].startswith(
        "Fee so far (provisional until the statement is closed): USD 5,000.00 "
        "(capped at USD 5,000.00 by the contract)"
    )


async def test_fee_to_date_under_the_cap_has_no_cap_line(core: Core) -> None:
    await say(core, SELLER_CHAT, SELLER, "/report gmv 15000")
    text = await say(core, SELLER_CHAT, SELLER, "/fee")
    assert "by the contract" not in text
    assert "Total to date: USD 2,250.00" in text


# --- 2. unusual figures ------------------------------------------------------------------------

D = Decimal
FIVE_DAYS = [D(100), D(90), D(110), D(100), D(105)]


@pytest.mark.parametrize(
    ("value", "usual", "expected"),
    [
        (D("1000"), FIVE_DAYS, None),  # exactly 10x the median 100: not more than 10x
        (D("1000.01"), FIVE_DAYS, "high"),
        (D("10"), FIVE_DAYS, None),  # exactly a tenth: not less than a tenth
        (D("9.99"), FIVE_DAYS, "low"),
        (D("0"), FIVE_DAYS, None),  # a 0 is typed on purpose (no live, no refunds): no warning
        (D("5000"), FIVE_DAYS[:4], None),  # four days are no usual level yet
        (D("5000"), [D(0)] * 10, None),  # a zero history never warns
        (D("0"), [D(0)] * 10, None),
        (D("5000"), [], None),
        # Even count: the median is the exact mean of the two middle values (100.5).
        (D("1005"), [D(1), D(2), D(100), D(101), D(500), D(600)], None),
        (
            D("1005.0000000000000000000000000001"),
            [D(1), D(2), D(100), D(101), D(500), D(600)],
            "high",
        ),
    ],
)
def test_the_unusual_rule_is_exact_at_its_bounds(
    value: Decimal, usual: list[Decimal], expected: str | None
) -> None:
    verdict = unusual(value, usual)
    assert (verdict.direction if verdict else None) == expected


def test_the_usual_level_is_the_latest_fourteen_reported_days_before_the_day() -> None:
    start = dt.date(2026, 10, 1)
    history = {start + dt.timedelta(days=i): D(1000) for i in range(20)}
    history.update({start + dt.timedelta(days=i): D(1) for i in range(10, 16)})  # 6 low days
    day = start + dt.timedelta(days=20)
    days = usual_days(history, day)
    assert len(days) == 14 and days.count(D(1)) == 6  # the 6 oldest days fall outside
    assert usual_days(history, start + dt.timedelta(days=3)) == [D(1000)] * 3
    assert median(days) == D(1000)


async def test_an_unusual_report_is_stored_and_warned_with_the_way_to_correct_it(
    core: Core,
) -> None:
    for day, gmv in zip(range(1, 6), (12000, 11000, 13000, 12500, 12000), strict=True):
        text = await say(core, SELLER_CHAT, SELLER, f"/report gmv {gmv}", at=local(day))
        assert "⚠" not in text
    text = await say(core, SELLER_CHAT, SELLER, "/report gmv 120001", at=local(6))
    assert "gmv 120,001  (#" in text  # stored as usual
    assert (
        "⚠ gmv 120,001 is more than 10× its usual level (12,000, the median of the last 5 "
        "reported days). It is stored; if it is a typo, send the right figure for the day: "
        "/report gmv [right figure] 2026-11-06 (it replaces this one)."
    ) in text
    heads = await core.ledger.current_entries(US, dt.date(2026, 11, 6), dt.date(2026, 11, 6))
    assert [e.value for e in heads] == [D(120001)]
    # The form the warning gives replaces the day's figure, and draws no warning itself.
    text = await say(core, SELLER_CHAT, SELLER, "/report gmv 12000 2026-11-06", at=local(6, 23))
    assert "corrects 120,001" in text and "⚠" not in text
    # Within range: no warning (exactly 10x is not "more than").
    assert "⚠" not in await say(core, SELLER_CHAT, SELLER, "/report gmv 120000", at=local(7))


async def test_the_unusual_warning_in_chinese(db_url: str) -> None:
    made = await make_core(db_url, CN_TEXT)
    try:
        chat, boss = CN_SELLER_CHAT, CN_SELLER
        # truth: agreed, nobody confirmed: the usual level is the seller's own pending figures.
        for day in range(2, 7):
            await say(made, chat, boss, "/report 成交额 2万", at=cn_local(day))
        text = await say(made, chat, boss, "/report 成交额 1000", at=cn_local(7))
        assert (
            "⚠ 成交额 1,000 不到平时水平的十分之一（最近 5 个上报日的中位数为 20,000）。"
            "数据已保存。如有误，请发送当天的正确数值："
            "/report 成交额 正确数值 2026-11-07（将替换本条）。"
        ) in text
    finally:
        await made.aclose()


# --- 3. one side rule --------------------------------------------------------------------------

UNLISTED = "telegram:5999"
PEOPLE = (SELLER, AGENCY, AGENCY_ADMIN, UNLISTED)
CHATS = (SELLER_CHAT, AGENCY_CHAT, SHARED_CHAT)
COUNT_AS = re.compile(r"you count as (seller|agency|no side)")


async def test_whoami_says_the_side_report_stores_for_every_person_in_every_chat(
    core: Core,
) -> None:
    """/whoami and /report follow one rule: the side /whoami names is the side the figure is
    stored under, and "no side" is exactly when /report refuses (with the rule stated)."""
    day = 1
    for chat in CHATS:
        for person in PEOPLE:
            day += 1
            whoami = await say(core, chat, person, "/whoami", at=local(day))
            found = COUNT_AS.search(whoami)
            assert found is not None, whoami
            said = found.group(1)
            text = await say(core, chat, person, "/report gmv 1000", at=local(day))
            stored = await core.ledger.current_entries(US, local(day).date(), local(day).date())
            if said == "no side":
                assert stored == [], (chat, person, text)
                assert text.startswith(("Not saved", "You (")), text
            else:
                assert [e.side for e in stored] == [said], (chat, person, text)


async def test_the_other_sides_chat_refuses_every_side_command_with_the_same_rule(
    core: Core,
) -> None:
    """The agency's head of ops is listed only as the agency's contact (not under members):
    in the seller's chat nothing they send may speak for the seller."""
    await say(core, AGENCY_CHAT, AGENCY, "/report gmv 1000", at=local(2))
    await say(core, SELLER_CHAT, SELLER, "/report gmv 1000", at=local(2))
    rule = (
        "Not saved: you are on the agency side of this deal, and this is the seller chat, where "
        "figures, confirmations and disputes speak for the seller. Send it from the agency chat "
        "or the shared chat."
    )
    for text in ("/report gmv 9999", "/confirm gmv 2026-11-02", "/dispute gmv 2026-11-02 no"):
        replies = await send(core, SELLER_CHAT, AGENCY_ADMIN, text, at=local(3))
        assert [(r.kind, r.text) for r in replies] == [("error", rule)], text
    refused = await say(
        core, SELLER_CHAT, AGENCY_ADMIN, "/statement confirm 2026-11", at=local(3, month=12)
    )
    assert refused == rule
    whoami = await say(core, SELLER_CHAT, AGENCY_ADMIN, "/whoami", at=local(3))
    assert "you count as no side" in whoami
    assert (
        "You are on the agency side, and this is the seller chat: here you cannot report, "
        "confirm or dispute. Use the agency chat or the shared chat."
    ) in whoami
    day = dt.date(2026, 11, 2)
    assert await core.ledger.verdicts(US, day, day) == []
    assert {e.side: e.value for e in await core.ledger.current_entries(US, day, day)} == {
        "seller": D(1000),
        "agency": D(1000),
    }
    # In the shared chat the same person speaks for the agency, as /whoami says there.
    assert "you count as agency" in await say(core, SHARED_CHAT, AGENCY_ADMIN, "/whoami")
    assert "Disputed" in await say(
        core, SHARED_CHAT, AGENCY_ADMIN, "/dispute gmv 2026-11-02 no", at=local(3)
    )


def test_acting_side_is_one_table() -> None:
    from kpi.dealfile import load_deal

    deal = load_deal(US_TEXT, "acme.yaml")
    strict = dataclasses.replace(deal, members_only=True)
    cases = [
        (deal, SELLER, "seller", "seller", None),
        (deal, SELLER, "agency", None, "other_side"),
        (deal, SELLER, "shared", "seller", None),
        (deal, AGENCY_ADMIN, "seller", None, "other_side"),  # listed by contacts
        (deal, AGENCY_ADMIN, "shared", "agency", None),
        (deal, UNLISTED, "seller", "seller", None),  # an unlisted person speaks for the chat
        (deal, UNLISTED, "shared", None, "no_side"),
        (strict, UNLISTED, "seller", None, "members_only"),
        (strict, AGENCY_ADMIN, "agency", None, "members_only"),  # a contact is no member
        (strict, AGENCY, "agency", "agency", None),
    ]
    for terms, person, chat_side, side, refusal in cases:
        acting = acting_side(terms, person, chat_side)  # type: ignore[arg-type]
        assert (acting.side, acting.refusal) == (side, refusal), (person, chat_side)


# --- 4. disputes reach the other side ----------------------------------------------------------


def notices_in(port: RecordingPort) -> list[tuple[str, str]]:
    return [(m["to"], m["text"]) for m in port.sent if "disputed your" in m["text"]]


async def test_a_dispute_is_sent_once_to_the_other_sides_chat_even_with_two_replicas(
    core: Core, db_url: str
) -> None:
    assert isinstance(core.clock, VirtualClock)
    other = await build_core(
        Settings(database_url=db_url, _env_file=None),  # type: ignore[call-arg]
        clock=core.clock,
        scheduler={"charts": False},
    )
    ports = [RecordingPort(core.clock), RecordingPort(core.clock)]
    core.add_port(ports[0])
    other.add_port(ports[1])
    try:
        await say(core, SELLER_CHAT, SELLER, "/report gmv 1800", at=local(4, 21))
        await say(core, AGENCY_CHAT, AGENCY, "/report gmv 2000", at=local(4, 22))
        dispute = Command(
            chat=AGENCY_CHAT,
            user=AGENCY,
            name="Ken",
            text="/dispute gmv 2026-11-04 five late orders missing",
            at=local(4, 22),
            message_id="d-1",
        )
        core.clock.set(local(4, 22))
        first = await core.handle(dispute)
        retried = await other.handle(dispute)  # the platform delivered it twice
        assert "Sent to the seller side's chats too: telegram:-1001234." in first[0].text
        assert "Sent to the seller side's chats too" in retried[0].text
        await core.tick(local(4, 22))
        await other.tick(local(4, 22))
        sent = notices_in(ports[0]) + notices_in(ports[1])
        assert sent == [
            (
                SELLER_CHAT,
                "⚠ Ken, agency side, disputed your gmv 1,800 for 2026-11-04 (#1): five late "
                "orders missing\n"
                "To answer with the right figure: /report gmv [right figure] 2026-11-04 (it "
                "replaces #1).\n"
                "To accept the agency side's figure (2,000) instead: /confirm gmv 2026-11-04",
            )
        ]
        for made in (core, other):  # later ticks of either replica send nothing again
            await made.tick(local(4, 23))
        assert len(notices_in(ports[0]) + notices_in(ports[1])) == 1
    finally:
        await other.aclose()


async def test_a_dispute_stored_without_its_notice_gets_it_when_typed_again(core: Core) -> None:
    """A crash between storing a dispute and posting its notice (Slack does not redeliver a
    command it acknowledged): the person types it again, and the notice goes, once."""
    assert isinstance(core.clock, VirtualClock)
    port = RecordingPort(core.clock)
    core.add_port(port)
    await say(core, SELLER_CHAT, SELLER, "/report gmv 1800", at=local(4, 21))
    await say(core, AGENCY_CHAT, AGENCY, "/report gmv 2000", at=local(4, 22))
    day = dt.date(2026, 11, 4)
    seller_entry = next(
        e for e in await core.ledger.current_entries(US, day, day) if e.side == "seller"
    )
    # What the first attempt stored before the crash: the dispute, no notice.
    await core.ledger.record_verdict(
        deal_id=US, day=day, metric="gmv", kind="dispute", side="agency", person=AGENCY,
        person_name="Ken", entry_id=seller_entry.id, reason="five late orders missing",
        chat=AGENCY_CHAT, message_key="slack:lost", at=local(4, 22),
    )  # fmt: skip
    again = await say(
        core, AGENCY_CHAT, AGENCY, "/dispute gmv 2026-11-04 five late orders missing",
        at=local(4, 23),
    )  # fmt: skip
    assert "Sent to the seller side's chats too: telegram:-1001234." in again
    await core.tick(local(4, 23))
    assert [chat for chat, _ in notices_in(port)] == [SELLER_CHAT]
    await say(
        core, AGENCY_CHAT, AGENCY, "/dispute gmv 2026-11-04 five late orders missing",
        at=local(5, 1),
    )  # fmt: skip
    await core.tick(local(5, 1))
    assert len(notices_in(port)) == 1  # typed a third time: still one notice


async def test_a_dispute_in_chinese_reaches_the_agency_chat(db_url: str) -> None:
    made = await make_core(db_url, CN_TEXT)
    assert isinstance(made.clock, VirtualClock)
    port = RecordingPort(made.clock)
    made.add_port(port)
    try:
        await say(made, CN_AGENCY_CHAT, CN_AGENCY, "/report 成交额 2万", at=cn_local(3))
        text = await say(
            made,
            CN_SELLER_CHAT,
            CN_SELLER,
            "/dispute 成交额 11-03 后台只有1.8万",
            at=cn_local(3, 22),
            name="王总",
        )
        assert "已通知服务商群：telegram:-1003344556688。" in text
        await made.tick(cn_local(3, 22))
        assert notices_in_zh(port) == [
            (
                CN_AGENCY_CHAT,
                "⚠ 王总（卖家）对您上报的 2026-11-03 成交额 20,000（#1）提出异议：后台只有1.8万\n"
                "如需更正，请发送 /report 成交额 正确数值 2026-11-03（将替换 #1）。",
            )
        ]
    finally:
        await made.aclose()


def notices_in_zh(port: RecordingPort) -> list[tuple[str, str]]:
    return [(m["to"], m["text"]) for m in port.sent if "提出异议" in m["text"]]


# --- 5. the first day of a period --------------------------------------------------------------


async def test_on_the_first_day_kpi_and_fee_show_the_new_period_and_point_to_the_last(
    core: Core,
) -> None:
    await say(core, SELLER_CHAT, SELLER, "/report gmv 12000", at=local(30))
    first_day = dt.datetime(2026, 12, 1, 9, tzinfo=LA)
    kpi = await say(core, SELLER_CHAT, SELLER, "/kpi", at=first_day)
    fee = await say(core, SELLER_CHAT, SELLER, "/fee", at=first_day)
    # One rule picks the period for both: the new month, day 1.
    assert kpi.startswith("ACME Home x Linkstar (TikTok Shop US) — 2026-12, day 1 of 31")
    assert fee.startswith("ACME Home x Linkstar (TikTok Shop US) — fee for 2026-12, day 1 of 31")
    note = (
        "Today is the first day of 2026-12, so it has almost no figures yet. 2026-11 ended "
        "yesterday: {} 2026-11 shows it."
    )
    assert kpi.splitlines()[1] == note.format("/kpi")
    assert fee.splitlines()[1] == note.format("/fee")
    # The command it names shows the month that ended.
    assert "2026-11" in (await say(core, SELLER_CHAT, SELLER, "/kpi 2026-11", at=first_day))
    # Not on the second day, and not for a past period asked by name.
    second_day = dt.datetime(2026, 12, 2, 9, tzinfo=LA)
    for text in ("/kpi", "/fee", "/kpi 2026-11"):
        assert "first day" not in await say(core, SELLER_CHAT, SELLER, text, at=second_day)


async def test_the_deals_first_day_has_no_period_before_it(core: Core) -> None:
    text = await say(core, SELLER_CHAT, SELLER, "/kpi", at=local(1, 9))
    assert "day 1 of 30" in text and "first day" not in text


async def test_the_first_day_of_a_week_in_chinese(db_url: str) -> None:
    made = await make_core(db_url, CN_TEXT)
    try:
        text = await say(made, CN_SELLER_CHAT, CN_SELLER, "/fee", at=cn_local(9, 9))
        assert text.splitlines()[1] == (
            "今天是 2026年第46周 的第一天，本期数据尚少。2026年第45周 已于昨天结束，"
            "发送 /fee 2026年第45周 查看。"
        )
        shown = await say(made, CN_SELLER_CHAT, CN_SELLER, "/kpi 2026年第45周", at=cn_local(9, 9))
        assert "2026年第45周（11-02 至 11-08）" in shown
    finally:
        await made.aclose()


async def test_a_side_without_its_own_chat_is_told_in_the_shared_chat(db_url: str) -> None:
    made = await make_core(db_url, CN_TEXT)  # the seller has only the shared chat
    assert isinstance(made.clock, VirtualClock)
    port = RecordingPort(made.clock)
    made.add_port(port)
    try:
        await say(made, CN_SELLER_CHAT, CN_SELLER, "/report 成交额 2万", at=cn_local(3))
        text = await say(
            made, CN_AGENCY_CHAT, CN_AGENCY, "/dispute 成交额 11-03 少了退款", at=cn_local(3, 22)
        )
        assert "卖家没有单独绑定的群，已在双方共用群通知：telegram:-1003344556677。" in text
        await made.tick(cn_local(3, 22))
        assert [to for to, _ in notices_in_zh(port)] == [CN_SELLER_CHAT]
    finally:
        await made.aclose()


async def test_without_a_scheduler_the_dispute_says_the_other_side_was_not_told(
    core: Core,
) -> None:
    core.services.notices = None
    await say(core, SELLER_CHAT, SELLER, "/report gmv 1800", at=local(4, 21))
    text = await say(core, AGENCY_CHAT, AGENCY, "/dispute gmv 2026-11-04 late orders", at=local(4))
    assert text.endswith(
        "The seller side's chats could not be told from here (no scheduler runs with this bot). "
        "Tell them, or ask them to look at /history gmv."
    )
