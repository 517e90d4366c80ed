"""Figures both sides can trust (issue 11): every numbered item through the core (SQLite and PG)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.app import Core, build_core
from bot.core import Command, Outgoing, VirtualClock
from bot.settings import Settings
from kpi.commands import Units, check_unit, parse_report
from kpi.dealfile import load_deal
from kpi.errors import DealFileError, UserError
from kpi.platform.parse import load_export
from kpi.platform.store import PlatformStore, Uploader
from kpi.snapshot import snapshot
from kpi.statement_store import StatementStore
from tests.platform_files import LIVE, TERMS

ROOT = Path(__file__).resolve().parents[1]
DEAL_TEXT = (ROOT / "bot" / "demo" / "acme-linkstar-us.yaml").read_text(encoding="utf-8")
DEAL = "acme-linkstar-us"
LA = ZoneInfo("America/Los_Angeles")

SELLER_CHAT, SELLER, SELLER2 = "telegram:-1001234", "telegram:5001", "telegram:5002"
AGENCY_CHAT, AGENCY, AGENCY_ADMIN = "slack:C0AGENCY", "slack:U0AGENCY1", "slack:U0AGENCY2"
AGENCY_TG = "telegram:7001"  # listed under members.agency

# The same deal under truth: agreed, in chats of its own.
AGREED = "acme-agreed"
AGREED_TEXT = (
    DEAL_TEXT.replace("truth: seller", "truth: agreed")
    .replace(f"id: {DEAL}", f"id: {AGREED}")
    .replace("telegram:-1001234", "telegram:-2001")
    .replace("slack:C0AGENCY", "slack:C2")
    .replace("telegram:-1009999", "telegram:-2009")
)
A_SELLER_CHAT, A_AGENCY_CHAT = "telegram:-2001", "slack:C2"
IMPORTER = Uploader(SELLER, "Mia", SELLER_CHAT)


def local(
    day: int, hour: int = 22, minute: int = 0, second: int = 0, month: int = 11
) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, second, tzinfo=LA)


@pytest.fixture
async def core(db_url: str) -> AsyncIterator[Core]:
    clock = VirtualClock(local(3))
    settings = Settings(database_url=db_url, _env_file=None)  # type: ignore[call-arg]
    core = await build_core(settings, clock=clock)
    await core.apply_deal_text(DEAL_TEXT, "acme.yaml")
    await core.apply_deal_text(AGREED_TEXT, "agreed.yaml")
    yield core
    await core.aclose()


_counter = iter(range(1, 10**6))


async def say(
    core: Core,
    chat: str,
    user: str,
    text: str,
    *,
    at: dt.datetime | None = None,
    name: str = "",
    now: dt.datetime | None = None,
) -> str:
    """Send one command (``at``: the message's own time; ``now``: when it arrives) and return
    the text of the first reply."""
    when = at or local(3)
    assert isinstance(core.clock, VirtualClock)
    core.clock.set(now or when)
    replies: list[Outgoing] = await core.handle(
        Command(
            chat=chat, user=user, text=text, at=when, name=name, message_id=f"m{next(_counter)}"
        )
    )
    return replies[0].text


async def heads(core: Core, deal: str = DEAL, day: int = 3) -> dict[tuple[str, str], Decimal]:
    d = dt.date(2026, 11, day)
    return {(e.metric, e.side): e.value for e in await core.ledger.current_entries(deal, d, d)}


# --- lost and phantom entries ------------------------------------------------------------------


async def test_an_unchanged_figure_sent_with_another_metric_is_not_a_correction(core: Core) -> None:
    await say(core, SELLER_CHAT, SELLER, "/report gmv 12000")
    text = await say(core, SELLER_CHAT, SELLER, "/report gmv 12,000.00 orders 340")
    assert "unchanged: already on record" in text
    assert "corrects" not in text
    history = await core.ledger.history(DEAL)
    assert [(e.metric, e.value, e.supersedes) for e in history] == [
        ("orders", Decimal(340), None),
        ("gmv", Decimal(12000), None),
    ]
    assert "superseded" not in await say(core, SELLER_CHAT, SELLER, "/history gmv")


async def test_a_second_reporter_of_one_side_is_named_in_the_correction(core: Core) -> None:
    await say(core, SELLER_CHAT, SELLER, "/report gmv 5000", at=local(3, 20, 10), name="Lily")
    text = await say(core, SELLER_CHAT, SELLER2, "/report gmv 5200", at=local(3, 21), name="Wei")
    assert "corrects 5,000 reported by Lily at 11-03 20:10" in text
    assert await heads(core) == {("gmv", "seller"): Decimal(5200)}


# --- who speaks for a side ---------------------------------------------------------------------


async def test_a_member_of_the_other_side_is_refused_in_a_one_side_chat(core: Core) -> None:
    text = await say(core, SELLER_CHAT, AGENCY_TG, "/report gmv 9999")
    assert "you are on the agency side" in text and "agency chat or the shared chat" in text
    assert await heads(core) == {}
    await say(core, AGENCY_CHAT, AGENCY, "/report gmv 1000")
    refused = await say(core, SELLER_CHAT, AGENCY_TG, "/dispute gmv wrong")
    assert "you are on the agency side" in refused
    assert await core.ledger.verdicts(DEAL, dt.date(2026, 11, 3), dt.date(2026, 11, 3)) == []


async def test_members_only_refuses_an_unlisted_person_and_history_marks_them_otherwise(
    core: Core,
) -> None:
    # Default: an unlisted person in a one-side chat speaks for the chat's side, marked.
    await say(core, SELLER_CHAT, "telegram:5999", "/report gmv 100", name="Temp")
    assert await heads(core) == {("gmv", "seller"): Decimal(100)}
    assert "Temp" in (history := await say(core, SELLER_CHAT, SELLER, "/history"))
    assert "not in members" in history
    assert (
        "not in members"
        not in (
            await say(core, SELLER_CHAT, SELLER, "/report gmv 200")
            and await say(core, SELLER_CHAT, SELLER, "/history gmv 2026-11-03")
        ).splitlines()[1]
    )

    await core.apply_deal_text(DEAL_TEXT + "members_only: true\n", "acme.yaml")
    text = await say(core, SELLER_CHAT, "telegram:5999", "/report gmv 300")
    assert "only from people listed under members" in text
    assert await heads(core) == {("gmv", "seller"): Decimal(200)}


async def test_an_unlisted_person_overwriting_a_colleagues_figure_is_warned(core: Core) -> None:
    await say(core, SELLER_CHAT, SELLER, "/report gmv 12000", name="Lily")
    text = await say(core, SELLER_CHAT, "telegram:8888", "/report gmv 100", name="Temp")
    assert "corrects 12,000 reported by Lily" in text
    assert "not listed in this deal's members; your figure replaced Lily's" in text
    assert "members_only" in text
    # A listed member correcting is not warned.
    again = await say(core, SELLER_CHAT, SELLER2, "/report gmv 12500", name="Wei")
    assert "not listed" not in again


async def test_a_figure_the_imported_platform_export_contradicts_is_flagged_and_shown(
    core: Core,
) -> None:
    data = LIVE.read_bytes()
    parsed = load_export(data, LIVE.name, TERMS)
    await PlatformStore(core.engine).import_export(
        DEAL, parsed, data=data, file_name=LIVE.name, uploader=IMPORTER, now=local(9)
    )
    before = await say(core, SELLER_CHAT, SELLER, "/history gmv 2026-11-05", at=local(9))
    assert "Platform (imported export) 2026-11-05 gmv: 3,364.02" in before
    text = await say(core, SELLER_CHAT, SELLER, "/report gmv 1000 2026-11-05", at=local(9))
    assert (
        "⚠ The platform's gmv for 2026-11-05 is 3,364.02; you reported 1,000 (more than 2.0% apart)"
        in text
    )
    history = await say(core, SELLER_CHAT, SELLER, "/history gmv 2026-11-05", at=local(9))
    assert "Platform (imported export) 2026-11-05 gmv: 3,364.02" in history


async def test_reports_stored_together_are_each_checked_against_the_platform_export(
    core: Core,
) -> None:
    data = LIVE.read_bytes()
    parsed = load_export(data, LIVE.name, TERMS)
    await PlatformStore(core.engine).import_export(
        DEAL, parsed, data=data, file_name=LIVE.name, uploader=IMPORTER, now=local(9)
    )
    for chat, person in ((SELLER_CHAT, SELLER), (AGENCY_CHAT, AGENCY)):  # links looked up
        await say(core, chat, person, "/history gmv 2026-11-05", at=local(9))
    # Sent at once: the first is stored alone, the other three together in one bulk batch.
    opener, seller, agency, other_day = await asyncio.gather(
        say(core, SELLER_CHAT, SELLER, "/report orders 3 2026-11-04", at=local(9)),
        say(core, SELLER_CHAT, SELLER, "/report gmv 1000 2026-11-05", at=local(9)),
        say(core, AGENCY_CHAT, AGENCY, "/report gmv 3364.02 2026-11-05", at=local(9)),
        say(core, AGENCY_CHAT, AGENCY, "/report gmv 8872.44 2026-11-03", at=local(9)),
    )
    assert core.ledger.report_batches.largest == 3
    assert "⚠ The platform's gmv for 2026-11-05 is 3,364.02; you reported 1,000" in seller
    assert "platform's" not in agency  # it agrees with the export
    assert "platform's" not in other_day and "⚠" not in opener
    # A figure within the tolerance of the platform's is not flagged.
    close = await say(core, SELLER_CHAT, SELLER, "/report gmv 3364 2026-11-05", at=local(9))
    assert "platform" not in close


# --- units -------------------------------------------------------------------------------------


def units(currency: str) -> Units:
    return Units(
        kinds={"gmv": "money", "orders": "count", "live_hours": "number"}, currency=currency
    )


def parse(text: str, currency: str = "USD") -> tuple[tuple[str, Decimal], ...]:
    return parse_report(
        text,
        reportable=("gmv", "orders", "live_hours"),
        derived={},
        today=dt.date(2026, 11, 3),
        starts=dt.date(2026, 11, 1),
        units=units(currency),
    ).values


@pytest.mark.parametrize(
    ("text", "currency"),
    [
        ("gmv ¥12000", "USD"),
        ("gmv 12000元", "USD"),
        ("gmv 9000 CNY", "USD"),
        ("gmv $12000", "CNY"),
        ("gmv 12000 USD", "CNY"),
        ("gmv 12000元", "JPY"),
        ("gmv 12000円", "CNY"),
        ("gmv $12000", "GBP"),
    ],
)
def test_a_currency_mark_of_another_currency_is_refused(text: str, currency: str) -> None:
    with pytest.raises(UserError) as info:
        parse(text, currency)
    assert info.value.code == "trust.wrong_currency"
    assert info.value.params["currency"] == currency


@pytest.mark.parametrize(
    ("text", "currency"),
    [
        ("gmv $12,000", "USD"),
        ("gmv 12000 USD", "USD"),
        ("gmv 1.2万美元", "USD"),
        ("gmv ¥12000", "CNY"),
        ("gmv 1.2万元", "CNY"),
        ("gmv 9000 CNY", "CNY"),
        ("gmv ¥12000", "JPY"),
        ("gmv 12000円", "JPY"),
        ("gmv 12000", "GBP"),
    ],
)
def test_the_deals_own_currency_marks_are_accepted(text: str, currency: str) -> None:
    assert parse(text, currency)[0][0] == "gmv"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("orders 12.5", "trust.count_whole"),
        ("orders $12", "trust.not_money"),
        ("orders 12元", "trust.not_money"),
        ("live_hours $2", "trust.not_money"),
    ],
)
def test_a_figure_not_of_its_metrics_kind_is_refused(text: str, code: str) -> None:
    with pytest.raises(UserError) as info:
        parse(text)
    assert info.value.code == code


def test_counts_take_whole_numbers_and_numbers_take_fractions() -> None:
    assert parse("orders 12.0 live_hours 2.5") == (
        ("orders", Decimal("12.0")),
        ("live_hours", Decimal("2.5")),
    )
    check_unit("orders", Decimal("1.2E+4"), None, "1.2万", units("USD"))  # 12000 is whole


@pytest.mark.parametrize(
    ("text", "currency", "code"),
    [
        # A dot that may group thousands is never guessed for money or counts: 12.000 is
        # twelve thousand in much of Europe and 12 elsewhere.
        ("gmv 12.000", "USD", "trust.dot_thousands"),
        ("gmv ¥12.000", "CNY", "trust.dot_thousands"),
        ("orders 1.000", "USD", "trust.dot_thousands"),
        # More decimals than the currency's minor unit: not an amount anyone is paid.
        ("gmv 12.5", "JPY", "trust.money_digits"),
        ("gmv 100.005", "USD", "trust.dot_thousands"),
        ("gmv 100.0051", "USD", "trust.money_digits"),
        # No group of thousands starts with 0: 0.001 has three decimals (it suggested 0001).
        ("gmv 0.001", "USD", "trust.money_digits"),
        ("orders 0.001", "USD", "trust.count_whole"),
    ],
)
def test_an_ambiguous_or_over_precise_amount_is_refused(
    text: str, currency: str, code: str
) -> None:
    with pytest.raises(UserError) as info:
        parse(text, currency)
    assert info.value.code == code


@pytest.mark.parametrize(
    ("text", "currency", "rounded"),
    [
        ("gmv 12000.555", "USD", "12000.56"),
        ("gmv 12.5", "JPY", "13"),
        ("gmv ¥99.9951", "CNY", "100.00"),
    ],
)
def test_an_over_precise_amount_is_answered_with_itself_rounded_half_up(
    text: str, currency: str, rounded: str
) -> None:
    with pytest.raises(UserError) as info:
        parse(text, currency)
    assert info.value.code == "trust.money_digits"
    assert info.value.params["rounded"] == rounded


@pytest.mark.parametrize(
    ("text", "currency", "value"),
    [
        ("gmv 12.50", "USD", Decimal("12.50")),
        ("gmv 1.2万", "JPY", Decimal("12000")),
        ("gmv 1.250k", "USD", Decimal("1250")),
        ("gmv 12,000.00", "USD", Decimal("12000")),
        ("live_hours 1.000", "USD", Decimal("1")),  # a plain number may have any decimals
    ],
)
def test_amounts_with_a_unit_or_within_the_minor_unit_are_accepted(
    text: str, currency: str, value: Decimal
) -> None:
    assert parse(text, currency)[0][1] == value


def test_metric_kinds_come_from_the_deal_file_with_defaults() -> None:
    text = DEAL_TEXT.replace(
        '  viewers: {description: "Live room unique viewers", kind: count}',
        '  viewers: {description: "Live room unique viewers", kind: count}\n'
        "  live_hours: {description: Hours live}\n"
        "  samples: {description: Samples sent, kind: count}\n"
        "  bonus_paid: {description: Creator bonuses, kind: money}",
    )
    deal = load_deal(text)
    kinds = {name: m.kind for name, m in deal.metrics.items() if not m.derived}
    assert kinds == {
        "gmv": "money",
        "orders": "count",
        "ad_spend": "money",
        "refunds": "money",
        "viewers": "count",
        "live_hours": "number",
        "samples": "count",
        "bonus_paid": "money",
    }
    assert deal.members_only is False


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("  x: {description: X, kind: weight}", "metrics.x.kind"),
        ("  x: {formula: gmv - refunds, kind: money}", "only a reported metric has a kind"),
    ],
)
def test_a_bad_metric_kind_is_a_deal_file_problem(line: str, problem: str) -> None:
    with pytest.raises(DealFileError) as info:
        load_deal(DEAL_TEXT.replace("metrics:", "metrics:\n" + line, 1))
    assert problem in str(info.value)


async def test_currency_and_kind_refusals_reach_the_chat_and_store_nothing(core: Core) -> None:
    text = await say(core, SELLER_CHAT, SELLER, "/report gmv ¥12000")
    assert "this deal counts money in USD" in text
    text = await say(core, SELLER_CHAT, SELLER, "/report orders 12.5")
    assert "orders is a count" in text
    text = await say(core, SELLER_CHAT, SELLER, "/report 成交额 12000元 订单 5")
    assert "gmv 12000元 is marked 元" in text
    assert await heads(core) == {}


# --- confirm and dispute -----------------------------------------------------------------------


async def test_confirm_with_a_value_confirms_only_that_value(core: Core) -> None:
    await say(core, A_AGENCY_CHAT, AGENCY, "/report gmv 20000")
    await say(core, A_AGENCY_CHAT, AGENCY, "/report gmv 50000")
    text = await say(core, A_SELLER_CHAT, SELLER, "/confirm gmv 2026-11-03 20000")
    assert "The agency side's gmv for 2026-11-03 is now 50,000, not 20,000" in text
    assert "nothing confirmed" in text
    day = dt.date(2026, 11, 3)
    assert await core.ledger.verdicts(AGREED, day, day) == []
    text = await say(core, A_SELLER_CHAT, SELLER, "/confirm gmv 2026-11-03 looks right")
    assert "/confirm takes the figure you agree with" in text
    text = await say(core, A_SELLER_CHAT, SELLER, "/confirm gmv 2026-11-03 $50,000")
    assert "Confirmed the agency side's gmv 50,000 for 2026-11-03" in text


async def test_confirm_without_a_value_names_it_and_confirm_by_entry_number(core: Core) -> None:
    await say(core, A_AGENCY_CHAT, AGENCY, "/report gmv 20000 orders 300")
    text = await say(core, A_SELLER_CHAT, SELLER, "/confirm gmv")
    assert "gmv 20,000" in text
    orders = next(e for e in await core.ledger.history(AGREED) if e.metric == "orders")
    text = await say(core, A_SELLER_CHAT, SELLER, f"/confirm #{orders.id}")
    assert f"orders 300 for 2026-11-03 (#{orders.id})" in text
    disputed = await say(core, A_SELLER_CHAT, SELLER, f"/dispute ＃{orders.id} 少了退款，请核对")
    assert "少了退款，请核对" in disputed
    own = await say(core, A_AGENCY_CHAT, AGENCY, f"/confirm #{orders.id}")
    assert "your own side's" in own
    assert "no entry #99999" in await say(core, A_SELLER_CHAT, SELLER, "/confirm #99999")
    await say(core, A_AGENCY_CHAT, AGENCY, "/report orders 310")
    stale = await say(core, A_SELLER_CHAT, SELLER, f"/confirm #{orders.id}")
    assert "has been corrected" in stale and "310" in stale


async def test_a_second_confirm_is_a_no_op_and_a_dispute_replaces_it(core: Core) -> None:
    await say(core, A_AGENCY_CHAT, AGENCY, "/report gmv 20000")
    await say(core, A_SELLER_CHAT, SELLER, "/confirm gmv", name="Lily")
    again = await say(core, A_SELLER_CHAT, SELLER, "/confirm gmv", name="Lily")
    assert "already confirmed by Lily" in again
    day = dt.date(2026, 11, 3)
    assert len(await core.ledger.verdicts(AGREED, day, day)) == 1
    await say(core, A_SELLER_CHAT, SELLER, "/dispute gmv refunds not deducted", name="Lily")
    verdicts = await core.ledger.verdicts(AGREED, day, day)
    assert [v.kind for v in verdicts] == ["confirm", "dispute"]
    history = await say(core, A_SELLER_CHAT, SELLER, "/history gmv")
    assert "confirmed by Lily (replaced by the later verdict below)" in history
    assert "disputed by Lily: refunds not deducted" in history
    snap = await snapshot(core.ledger, (await core.ledger.current_deal(AGREED))[0], day)  # type: ignore[index]
    assert snap.figures[(day, "gmv")].status == "pending"


async def test_a_confirmed_disagreement_is_settled_and_not_raised_again(core: Core) -> None:
    await say(core, A_SELLER_CHAT, SELLER, "/report gmv 18000")
    await say(core, A_AGENCY_CHAT, AGENCY, "/report gmv 20000")
    day = dt.date(2026, 11, 3)
    deal = (await core.ledger.current_deal(AGREED))[0]  # type: ignore[index]
    before = await snapshot(core.ledger, deal, day)
    assert [f.metric for f in before.disagreements] == ["gmv"]
    await say(core, A_SELLER_CHAT, SELLER, "/confirm gmv 20000")

    after = await snapshot(core.ledger, deal, day)
    figure = after.figures[(day, "gmv")]
    assert figure.settled and figure.value == Decimal(20000)
    assert after.disagreements == []  # what warnings, recaps and escalations read
    kpi = await say(core, A_SELLER_CHAT, SELLER, "/kpi")
    assert "gmv 20,000 (target" in kpi
    assert "vs agency" not in kpi and "Pending" not in kpi


async def test_disputing_a_figure_whose_side_accepted_yours_is_refused_and_changes_nothing(
    core: Core,
) -> None:
    await say(core, A_AGENCY_CHAT, AGENCY, "/report gmv 21000")
    await say(core, A_SELLER_CHAT, SELLER, "/report gmv 20500")
    day = dt.date(2026, 11, 3)
    # Before the seller accepted anything, the agency's dispute is taken.
    await say(core, A_SELLER_CHAT, SELLER, "/confirm gmv 21000", name="Lily", at=local(3, 23))
    before = await core.ledger.verdicts(AGREED, day, day)
    answer = await say(
        core, A_AGENCY_CHAT, AGENCY, "/dispute gmv platform shows 21000", now=local(3, 23, 5)
    )
    assert answer == (
        "Nothing to dispute: Lily (seller side) accepted your gmv 21,000 for 2026-11-03 (#1) at "
        "11-03 23:00, so yours is the figure that counts and their 20,500 (#2) does not. "
        "Nothing was recorded."
    )
    assert await core.ledger.verdicts(AGREED, day, day) == before  # no dispute stored


async def test_a_dispute_stands_while_the_other_side_has_not_accepted_yours(core: Core) -> None:
    await say(core, A_AGENCY_CHAT, AGENCY, "/report gmv 21000")
    await say(core, A_SELLER_CHAT, SELLER, "/report gmv 20500")
    answer = await say(core, A_AGENCY_CHAT, AGENCY, "/dispute gmv platform shows 21000")
    assert answer.startswith("⚠ Disputed the seller side's gmv 20,500 for 2026-11-03 (#2)")
    # The seller side accepting the agency's figure after the dispute settles it.
    settled = await say(core, A_SELLER_CHAT, SELLER, "/confirm gmv 21000", name="Lily")
    assert settled.startswith("✅")
    again = await say(core, A_AGENCY_CHAT, AGENCY, "/dispute gmv still wrong")
    assert again.startswith("Nothing to dispute: Lily (seller side) accepted your gmv 21,000")


async def test_confirming_back_a_figure_whose_side_accepted_yours_is_refused_not_crossed(
    core: Core,
) -> None:
    await say(core, A_AGENCY_CHAT, AGENCY, "/report gmv 21000")
    await say(core, A_SELLER_CHAT, SELLER, "/report gmv 20500")
    await say(core, A_SELLER_CHAT, SELLER, "/confirm gmv", name="Lily", at=local(3, 23))
    day = dt.date(2026, 11, 3)
    before = await core.ledger.verdicts(AGREED, day, day)
    crossed = await say(core, A_AGENCY_CHAT, AGENCY, "/confirm gmv", now=local(3, 23, 5))
    assert crossed == (
        "Nothing to confirm: Lily (seller side) accepted your gmv 21,000 for 2026-11-03 (#1) at "
        "11-03 23:00, so yours is the figure that counts. To let their 20,500 (#2) count "
        "instead, report it as yours: /report gmv 20500 2026-11-03. Nothing was recorded."
    )
    assert await core.ledger.verdicts(AGREED, day, day) == before
    history = await say(core, A_AGENCY_CHAT, AGENCY, "/history gmv")
    assert history.splitlines()[-1] == (
        "✓ 2026-11-03 gmv: seller 20,500 vs agency 21,000 → counts 21,000, the agency side's "
        "figure, accepted by the seller side"
    )
    # Following the advice: the agency reports the seller's figure as its own; they agree.
    await say(core, A_AGENCY_CHAT, AGENCY, "/report gmv 20500 2026-11-03")
    assert (await heads(core, AGREED))[("gmv", "agency")] == Decimal(20500)
    deal = (await core.ledger.current_deal(AGREED))[0]  # type: ignore[index]
    snap = await snapshot(core.ledger, deal, day)
    assert snap.figures[(day, "gmv")].value == Decimal(20500)


async def test_a_bare_confirm_lists_what_waits_for_this_side_with_the_command_for_each(
    core: Core,
) -> None:
    await say(core, A_AGENCY_CHAT, AGENCY, "/report gmv 21000 orders 300", at=local(2))
    await say(core, A_SELLER_CHAT, SELLER, "/report gmv 20500 refunds 800", at=local(2, 23))
    answer = await say(core, A_SELLER_CHAT, SELLER, "/confirm")
    assert answer.splitlines() == [
        "Which figure? These wait for the seller side's confirmation:",
        "  2026-11-02 gmv 21,000 (agency side, #1): /confirm gmv 2026-11-02",
        "  2026-11-02 orders 300 (agency side, #2): /confirm orders 2026-11-02",
        "Or: /confirm METRIC [YYYY-MM-DD] [VALUE], or /confirm #ID (numbers as /history shows "
        "them).",
    ]
    day = dt.date(2026, 11, 2)
    assert await core.ledger.verdicts(AGREED, day, day) == []  # asking changes nothing
    await say(core, A_SELLER_CHAT, SELLER, "/confirm gmv 2026-11-02")
    await say(core, A_SELLER_CHAT, SELLER, "/confirm orders 2026-11-02")
    agency = await say(core, A_AGENCY_CHAT, AGENCY, "/confirm")
    assert agency.startswith("Which figure? These wait for the agency side's confirmation:\n")
    assert "refunds 800 (seller side, #4): /confirm refunds 2026-11-02" in agency
    # gmv is settled by the seller's confirmation: nothing of it waits for the agency.
    assert "gmv" not in agency.splitlines()[1:-1][0] and len(agency.splitlines()) == 3
    nothing = await say(core, A_SELLER_CHAT, SELLER, "/confirm")
    assert nothing.startswith("Nothing waits for the seller side's confirmation now.")


async def test_sending_a_disputed_figure_again_says_the_dispute_stands_and_what_ends_it(
    core: Core,
) -> None:
    await say(core, SELLER_CHAT, SELLER, "/report gmv 2000")
    await say(core, AGENCY_CHAT, AGENCY, "/report gmv 2500")
    await say(core, AGENCY_CHAT, AGENCY, "/dispute gmv late orders missing", name="Ken")
    again = await say(core, SELLER_CHAT, SELLER, "/report gmv 2000")
    assert again.splitlines() == [
        "Already recorded for 2026-11-03: gmv 2,000. Nothing new was stored.",
        "⚠ Sending it again settles nothing: Ken (agency side) disputes your gmv 2,000: late "
        "orders missing. It stays disputed until they confirm it, or you correct it with /report.",
    ]
    # Once the agency confirms it instead, the dispute no longer stands: nothing to add.
    await say(core, AGENCY_CHAT, AGENCY, "/confirm gmv 2000")
    assert await say(core, SELLER_CHAT, SELLER, "/report gmv 2000") == (
        "Already recorded for 2026-11-03: gmv 2,000. Nothing new was stored."
    )


async def test_whatif_is_the_fee_what_if_under_its_own_name(core: Core) -> None:
    await say(core, SELLER_CHAT, SELLER, "/report gmv 12000")
    via_fee = await say(core, SELLER_CHAT, SELLER, "/fee if gmv 60000")
    assert "if the period ended with gmv 60,000" in via_fee
    assert await say(core, SELLER_CHAT, SELLER, "/whatif gmv 60000") == via_fee
    assert await say(core, SELLER_CHAT, SELLER, "/fee What if gmv 60k") == via_fee
    refused = await say(core, SELLER_CHAT, SELLER, "/whatif")
    assert "/fee if gmv 60000" in refused


async def test_kpi_lists_pending_figures_with_values_and_who_must_confirm(core: Core) -> None:
    await say(core, A_AGENCY_CHAT, AGENCY, "/report gmv 20000")
    await say(core, A_SELLER_CHAT, SELLER, "/report orders 300", at=local(2))
    await say(core, A_AGENCY_CHAT, AGENCY, "/report orders 350", at=local(2))
    kpi = await say(core, A_SELLER_CHAT, SELLER, "/kpi")
    assert (
        "2026-11-03 gmv: agency 20,000; waiting for the seller side: /confirm gmv 2026-11-03" in kpi
    )
    assert "2026-11-02 orders: seller 300, agency 350; the sides differ" in kpi


# --- closed periods ----------------------------------------------------------------------------


async def _close_november(core: Core, *, at: dt.datetime, anyway: bool = True) -> list[str]:
    # These tests report a few days of November only: closing it takes "anyway" (the refusal
    # itself is tested below and in tests/test_open_figures.py).
    word = " anyway" if anyway else ""
    return [
        await say(core, SELLER_CHAT, SELLER, f"/statement confirm 2026-11{word}", at=at),
        await say(core, AGENCY_CHAT, AGENCY_ADMIN, f"/statement confirm 2026-11{word}", at=at),
    ]


async def test_a_report_into_a_closed_period_says_so_with_its_effect_on_the_fee(
    core: Core,
) -> None:
    await say(core, SELLER_CHAT, SELLER, "/report gmv 40000")
    await _close_november(core, at=local(1, 10, month=12))
    assert (await StatementStore(core.engine).get(DEAL, "2026-11")).closed  # type: ignore[union-attr]
    text = await say(
        core, SELLER_CHAT, SELLER, "/report gmv 60000 2026-11-03", at=local(2, 9, month=12)
    )
    assert "2026-11 is closed" in text
    assert "late correction" in text and "the fee would be USD" in text
    assert await heads(core) == {("gmv", "seller"): Decimal(60000)}


async def test_late_entries_are_found_by_ledger_order_and_add_up(core: Core) -> None:
    for day, value in ((3, 1000), (4, 2000)):
        await say(core, SELLER_CHAT, SELLER, f"/report gmv {value}", at=local(day))
    close = local(1, 10, month=12)
    await _close_november(core, at=close)
    # A correction stamped in the same second as the close, and a Telegram message dated a
    # minute before the close that arrives after it: both are late.
    await say(core, SELLER_CHAT, SELLER, "/report gmv 1500 2026-11-03", at=close)
    await say(
        core,
        SELLER_CHAT,
        SELLER,
        "/report gmv 2500 2026-11-04",
        at=close - dt.timedelta(minutes=1),
        now=close + dt.timedelta(minutes=5),
    )
    # A dispute in the same second as the close is a late change too.
    await say(core, AGENCY_CHAT, AGENCY, "/dispute gmv 2026-11-04 export says 2,400", at=close)
    text = await say(core, SELLER_CHAT, SELLER, "/statement 2026-11", at=local(2, month=12))
    assert "2026-11-03 gmv 1,500" in text and "2026-11-04 gmv 2,500" in text
    assert "2026-11-04 gmv: disputed by" in text and "export says 2,400" in text
    assert "gmv for the period would be 4,000 instead of 3,000 (+1,000" in text


async def test_a_pending_late_correction_is_listed_as_not_counted_and_the_sums_add_up(
    core: Core,
) -> None:
    await say(core, A_SELLER_CHAT, SELLER, "/report gmv 2000 2026-11-05", at=local(5))
    await say(core, A_AGENCY_CHAT, AGENCY, "/report gmv 2000 2026-11-05", at=local(5))
    await say(core, A_SELLER_CHAT, SELLER, "/report gmv 1000 2026-11-06", at=local(6))
    await say(core, A_AGENCY_CHAT, AGENCY, "/confirm gmv 2026-11-06", at=local(6))
    close = local(1, 10, month=12)
    for chat, user in ((A_SELLER_CHAT, SELLER), (A_AGENCY_CHAT, AGENCY_ADMIN)):
        await say(core, chat, user, "/statement confirm 2026-11 anyway", at=close)
    late = local(2, 9, month=12)
    reply = await say(core, A_SELLER_CHAT, SELLER, "/report gmv 9000 2026-11-05", at=late)
    assert "2026-11 is closed" in reply and "the fee would be" not in reply
    text = await say(core, A_SELLER_CHAT, SELLER, "/statement 2026-11", at=late)
    assert "2026-11-05 gmv 9,000" in text
    assert "pending, not counted until the agency side confirms; 2,000 still counts" in text
    assert "would be" not in text  # nothing counted changed: no sum that does not add up
    # Once confirmed, the change counts and the sum is the listed change.
    await say(core, A_AGENCY_CHAT, AGENCY, "/confirm gmv 2026-11-05", at=late)
    text = await say(core, A_SELLER_CHAT, SELLER, "/statement 2026-11", at=late)
    assert "pending" not in text
    assert "gmv for the period would be 10,000 instead of 3,000 (+7,000" in text


async def test_statement_confirm_is_refused_while_figures_are_open_unless_anyway(
    core: Core,
) -> None:
    await say(core, SELLER_CHAT, SELLER, "/report gmv 1000")
    await say(core, AGENCY_CHAT, AGENCY, "/dispute gmv 2026-11-03 missing the live-room sales")
    refused = await say(
        core, SELLER_CHAT, SELLER, "/statement confirm 2026-11", at=local(1, 10, month=12)
    )
    assert (
        "⚠ Not agreed yet (pending counts nothing): 2026-11-03 gmv (disputed; counts as it stands)"
        in refused
    )
    assert refused.endswith("by sending exactly: /statement confirm 2026-11 anyway")
    assert await StatementStore(core.engine).get(DEAL, "2026-11") is None

    replies = await _close_november(core, at=local(1, 11, month=12), anyway=True)
    record = await StatementStore(core.engine).get(DEAL, "2026-11")
    assert record is not None and record.closed
    assert [(f.day.day, f.metric, f.why) for f in record.open_figures] == [(3, "gmv", "disputed")]
    assert (
        "Closed with figures still open: 2026-11-03 gmv (disputed; counts as it stands)"
        in replies[1]
    )


async def test_the_seller_accepting_the_agency_figure_makes_it_count_under_truth_seller(
    core: Core,
) -> None:
    # truth: seller. The agency disputes the seller's 12,000 and is told the seller may accept
    # its 13,000 with /confirm: doing so makes 13,000 count, and the disagreement is settled.
    await say(core, SELLER_CHAT, SELLER, "/report gmv 12000", at=local(2, 21))
    await say(core, AGENCY_CHAT, AGENCY, "/report gmv 13000 2026-11-02", at=local(2, 21, 30))
    await say(core, AGENCY_CHAT, AGENCY, "/dispute gmv 2026-11-02 late orders", at=local(2, 22))
    before = await say(core, SELLER_CHAT, SELLER, "/kpi", at=local(2, 22, 5))
    assert "• gmv 12,000" in before and "seller 12,000 vs agency 13,000" in before
    done = await say(core, SELLER_CHAT, SELLER, "/confirm gmv 2026-11-02", at=local(2, 22, 10))
    assert done.splitlines()[1] == (
        "13,000 now counts for 2026-11-02 instead of the seller side's 12,000. A new report of "
        "yours for that day would count again."
    )
    after = await say(core, SELLER_CHAT, SELLER, "/kpi", at=local(2, 22, 15))
    assert "• gmv 13,000" in after and "vs agency" not in after and "late orders" not in after
    # The seller's own later report counts again.
    await say(core, SELLER_CHAT, SELLER, "/report gmv 12500 2026-11-02", at=local(2, 23))
    again = await say(core, SELLER_CHAT, SELLER, "/kpi", at=local(2, 23, 5))
    assert "• gmv 12,500" in again
