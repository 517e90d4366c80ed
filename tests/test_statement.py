"""Period statements: closing by an admin of each side, stored statements, late corrections, CLI.

Every test runs through the real core (router, handlers, ledger, statements) on SQLite and on
PostgreSQL. The deal is the example deal: November 2026 is its trial period (base 1,500, no
deduction, minimum 3,000). The seller reports gmv 2,000, refunds 100 and ad_spend 500 for each
of Nov 1-10, so the final November statement is: base (trial) 1,500.00 + commission 5% of
net_gmv 19,000 = 950.00 + bonus 0.00 (gmv 20,000 < 50,000), then the minimum tops 2,450.00 up
by 550.00 to a total of 3,000.00.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from bot.app import Core, build_core
from bot.cli import app
from bot.core import Command, Outgoing, VirtualClock
from bot.settings import Settings
from kpi.db import make_engine, upgrade
from kpi.fees import FeeStatement, compute_fee
from kpi.model import Band, Bonus, Commission, Deduction, FeePlan, Target
from kpi.statement_store import StatementStore, statement_confirmations, statements
from kpi.statements import (
    StoredStatement,
    decode_statement,
    encode_statement,
    statement_digest,
)
from kpi.storage import metadata

ROOT = Path(__file__).resolve().parents[1]
DEAL_PATH = ROOT / "bot" / "demo" / "acme-linkstar-us.yaml"
DEAL_TEXT = DEAL_PATH.read_text(encoding="utf-8")
DEAL_ID = "acme-linkstar-us"
LA = ZoneInfo("America/Los_Angeles")

SELLER_CHAT, AGENCY_CHAT, SHARED_CHAT = "telegram:-1001234", "slack:C0AGENCY", "telegram:-1009999"
SELLER_ADMIN = "telegram:5001"  # admin and seller member
AGENCY_ADMIN = "slack:U0AGENCY2"  # admin, in no side's members; the agency's level-2 contact
AGENCY_MEMBER = "slack:U0AGENCY1"  # agency member, not an admin


def local(month: int, day: int, hour: int = 22, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=LA)


@pytest.fixture
async def core(db_url: str) -> AsyncIterator[Core]:
    """The real core on a fresh database, with the seller's Nov 1-10 figures reported."""
    clock = VirtualClock(local(11, 1, 8))
    settings = Settings(database_url=db_url, _env_file=None)  # type: ignore[call-arg]
    built = await build_core(settings, clock=clock)
    await built.apply_deal_text(DEAL_TEXT, "acme.yaml")
    for day in range(1, 11):
        replies = await say(
            built,
            SELLER_CHAT,
            SELLER_ADMIN,
            "/report gmv 2000 refunds 100 ad_spend 500",
            at=local(11, day),
            msg_id=f"report-{day}",
            name="Lily",
        )
        assert replies[0].kind == "reply", replies[0].text
    yield built
    await built.aclose()


async def say(
    core: Core,
    chat: str,
    user: str,
    text: str,
    *,
    at: dt.datetime,
    msg_id: str,
    name: str = "",
) -> list[Outgoing]:
    assert isinstance(core.clock, VirtualClock)
    core.clock.set(at)
    return await core.handle(
        Command(chat=chat, user=user, text=text, at=at, name=name, message_id=msg_id)
    )


# Only Nov 1-10 are reported: the admins close November as it stands ("anyway"); the refusal
# without it is tested in tests/test_open_figures.py.
CONFIRM = "/statement confirm 2026-11 anyway"


async def seller_confirms(core: Core, at: dt.datetime, msg_id: str = "c-seller") -> list[Outgoing]:
    return await say(
        core,
        SELLER_CHAT,
        SELLER_ADMIN,
        CONFIRM,
        at=at,
        msg_id=msg_id,
        name="Lily",
    )


async def agency_confirms(core: Core, at: dt.datetime, msg_id: str = "c-agency") -> list[Outgoing]:
    return await say(
        core,
        AGENCY_CHAT,
        AGENCY_ADMIN,
        CONFIRM,
        at=at,
        msg_id=msg_id,
        name="Ops head",
    )


async def record(core: Core) -> StoredStatement | None:
    return await StatementStore(core.engine).get(DEAL_ID, "2026-11")


async def raw_row(core: Core) -> dict[str, Any]:
    async with core.engine.connect() as conn:
        row = (await conn.execute(select(statements))).one()
    return dict(row._mapping)


async def confirmation_rows(core: Core) -> list[dict[str, Any]]:
    async with core.engine.connect() as conn:
        rows = await conn.execute(
            select(statement_confirmations).order_by(statement_confirmations.c.id)
        )
        return [dict(r._mapping) for r in rows]


# ------------------------------------------------------------------------------ closing


async def test_an_admin_of_each_side_closes_the_period(core: Core) -> None:
    first = await seller_confirms(core, local(12, 2, 9))
    assert first[0].to == SELLER_CHAT and first[0].kind == "reply"
    # November has days nobody reported: the seller confirmed it as it stands, and the agency
    # is given the command that closes it so (a plain one would be refused).
    assert (
        "Lily confirmed the 2026-11 statement for the seller side as it stands (total USD "
        "3,000.00)" in first[0].text
    )
    # The agency's chats are asked to confirm too.
    assert {m.to for m in first[1:]} == {AGENCY_CHAT, SHARED_CHAT}
    assert all("/statement confirm 2026-11 anyway" in m.text for m in first[1:])
    opened = await record(core)
    assert opened is not None and opened.status == "open" and opened.statement is None

    second = await agency_confirms(core, local(12, 2, 10))
    assert (
        "🔒 The 2026-11 statement is closed: confirmed by Lily (seller) and Ops head (agency)"
        in second[0].text
    )
    assert "Total: USD 3,000.00" in second[0].text
    assert {m.to for m in second[1:]} == {SELLER_CHAT, SHARED_CHAT}

    closed = await record(core)
    assert closed is not None and closed.closed
    assert closed.closed_at == local(12, 2, 10)
    assert closed.statement is not None
    assert closed.statement.total == Decimal("3000.00")
    assert [(line.kind, line.amount) for line in closed.statement.lines] == [
        ("base", Decimal("1500.00")),
        ("commission", Decimal("950.00")),
        ("bonus", Decimal("0.00")),
        ("minimum", Decimal("550.00")),
    ]
    assert closed.statement.values["net_gmv"] == Decimal(19000)
    # The figures used: 10 days x 3 metrics, each the seller's.
    assert len(closed.figures) == 30
    assert closed.figure(dt.date(2026, 11, 5), "gmv") is not None
    assert {f.side for f in closed.figures} == {"seller"}
    assert [(c.side, c.person) for c in closed.confirmations] == [
        ("seller", SELLER_ADMIN),
        ("agency", AGENCY_ADMIN),
    ]
    # Stored as JSON with every amount as an exact string.
    row = await raw_row(core)
    assert row["status"] == "closed"
    assert row["statement"]["total"] == "3000.00"
    assert row["statement"]["lines"][1]["amount"] == "950.00"
    assert row["statement"]["lines"][1]["detail"]["bands"] == [["19000", "0.05", "950.00"]]

    shown = await say(
        core, SELLER_CHAT, SELLER_ADMIN, "/statement", at=local(12, 3, 9), msg_id="s1"
    )
    assert "statement for 2026-11 🔒 closed 2026-12-02 10:00" in shown[0].text
    assert (
        "✓ agency: confirmed by Ops head on 2026-12-02 10:00 (total USD 3,000.00)" in shown[0].text
    )
    assert "Recorded after the close" not in shown[0].text

    again = await seller_confirms(core, local(12, 3, 10), msg_id="c-seller-again")
    assert "was closed on 2026-12-02 10:00 and does not change" in again[0].text


async def test_a_non_admin_is_refused_and_nothing_is_stored(core: Core) -> None:
    # The right form to pass on to an admin is the command as typed: with "anyway" kept
    # (without it, an admin would be refused while anything is open).
    for form in ("/statement confirm 2026-11", "/statement confirm 2026-11 anyway"):
        replies = await say(
            core, AGENCY_CHAT, AGENCY_MEMBER, form, at=local(12, 2, 9), msg_id=f"x {form}"
        )
        assert len(replies) == 1 and replies[0].kind == "error"
        assert "Only a deal admin can confirm a statement" in replies[0].text
        assert replies[0].text.endswith(f": {form}")
        assert await record(core) is None


async def test_a_non_admin_is_told_first_that_the_period_has_not_ended(core: Core) -> None:
    replies = await say(
        core,
        AGENCY_CHAT,
        AGENCY_MEMBER,
        "/statement confirm 2026-11 anyway",
        at=local(11, 20, 9),
        msg_id="early",
    )
    assert replies[0].kind == "error"
    assert "Only a deal admin" not in replies[0].text
    assert "runs until 2026-11-30" in replies[0].text
    assert await record(core) is None


async def test_an_admin_in_the_shared_chat_confirms_for_the_side_the_deal_lists(
    core: Core,
) -> None:
    # The agency admin is in no side's members, but the deal lists them as the agency's
    # contact (a deal file must give every admin a side): the shared chat takes that side,
    # by the one side rule /report, /confirm and /dispute follow (kpi.sides.acting_side).
    # Before, the shared chat asked them to confirm from their side's chat.
    replies = await say(
        core,
        SHARED_CHAT,
        AGENCY_ADMIN,
        "/statement confirm 2026-11 anyway",  # November has days nobody reported
        at=local(12, 2, 9),
        msg_id="x",
    )
    assert replies[0].kind != "error", replies[0].text
    assert [(r["side"], r["person"]) for r in await confirmation_rows(core)] == [
        ("agency", AGENCY_ADMIN)
    ]


async def test_one_admin_cannot_confirm_for_both_sides(core: Core) -> None:
    await agency_confirms(core, local(12, 2, 9))
    # The same admin, now in the seller's chat (which speaks for the seller side): the deal
    # lists them on the agency side (a contact), so the one side rule refuses them there.
    replies = await say(
        core,
        SELLER_CHAT,
        AGENCY_ADMIN,
        CONFIRM,
        at=local(12, 2, 10),
        msg_id="x",
    )
    assert replies[0].kind == "error"
    assert "you are on the agency side of this deal, and this is the seller chat" in (
        replies[0].text
    )
    stored = await record(core)
    assert stored is not None and stored.status == "open"
    assert len(await confirmation_rows(core)) == 1


async def test_only_an_ended_period_can_be_confirmed(core: Core) -> None:
    replies = await say(
        core, SELLER_CHAT, SELLER_ADMIN, "/statement confirm", at=local(11, 10, 23), msg_id="x"
    )
    assert replies[0].kind == "error"
    assert "No period of this deal has ended yet" in replies[0].text
    replies = await say(
        core,
        SELLER_CHAT,
        SELLER_ADMIN,
        "/statement confirm 2026-12",
        at=local(12, 2, 9),
        msg_id="y",
    )
    assert "2026-12 has not ended yet (it runs until 2026-12-31)" in replies[0].text
    assert "/statement confirm 2026-11" in replies[0].text
    assert await record(core) is None


async def test_one_side_only_leaves_it_open_and_confirmations_are_idempotent(core: Core) -> None:
    await seller_confirms(core, local(12, 2, 9))
    # A redelivery of the same message, then a second message from the same side.
    duplicate = await seller_confirms(core, local(12, 2, 9, 1))
    assert duplicate[0].text.startswith("(already recorded)")
    repeated = await seller_confirms(core, local(12, 2, 9, 2), msg_id="c-seller-2")
    assert "The seller side already confirmed the 2026-11 statement (Lily" in repeated[0].text
    assert len(await confirmation_rows(core)) == 1

    stored = await record(core)
    assert stored is not None and stored.status == "open" and stored.closed_at is None
    shown = await say(
        core, AGENCY_CHAT, AGENCY_MEMBER, "/statement", at=local(12, 2, 11), msg_id="s"
    )
    text = shown[0].text
    assert "statement for 2026-11 (ended 2026-11-30; not closed yet)" in text
    assert "✓ seller: confirmed by Lily on 2026-12-02 09:00 (total USD 3,000.00)" in text
    assert "… agency: waiting for an admin of the agency side" in text
    assert "Total: USD 3,000.00" in text


async def test_two_admins_confirming_at_once_close_it_once(core: Core) -> None:
    results = await asyncio.gather(
        seller_confirms(core, local(12, 2, 9)), agency_confirms(core, local(12, 2, 9))
    )
    texts = [replies[0].text for replies in results]
    assert sum("is closed" in text for text in texts) == 1
    assert sum("confirmed the 2026-11 statement for the" in text for text in texts) == 1
    stored = await record(core)
    assert stored is not None and stored.closed
    assert len(await confirmation_rows(core)) == 2


async def test_figures_changed_between_confirmations_ask_the_first_side_again(core: Core) -> None:
    await seller_confirms(core, local(12, 2, 9))
    # Nov 5 corrected to 40,000: gmv 58,000, net_gmv 57,000, roi 11.6 → the worked example's
    # projected fee: 1,500 + 3,060 + bonus 1,000 = 5,560.00.
    await say(
        core,
        SELLER_CHAT,
        SELLER_ADMIN,
        "/report gmv 40000 2026-11-05",
        at=local(12, 2, 9, 30),
        msg_id="fix",
    )
    replies = await agency_confirms(core, local(12, 2, 10))
    assert replies[0].kind == "warning"
    assert "their total USD 3,000.00, now USD 5,560.00" in replies[0].text
    assert {m.to for m in replies[1:]} == {SELLER_CHAT, SHARED_CHAT}
    stored = await record(core)
    assert stored is not None and stored.status == "open"
    assert stored.confirmation("seller") is None  # voided, kept in the audit trail
    rows = await confirmation_rows(core)
    assert [(r["side"], r["voided_at"] is not None) for r in rows] == [
        ("seller", True),
        ("agency", False),
    ]

    closing = await seller_confirms(core, local(12, 2, 11), msg_id="c-seller-2")
    assert "is closed" in closing[0].text
    stored = await record(core)
    assert stored is not None and stored.closed and stored.statement is not None
    assert stored.statement.total == Decimal("5560.00")


async def test_a_closed_statement_never_changes_and_later_corrections_are_flagged(
    core: Core,
) -> None:
    await seller_confirms(core, local(12, 2, 9))
    await agency_confirms(core, local(12, 2, 10))
    before = await raw_row(core)

    fix = await say(
        core,
        SELLER_CHAT,
        SELLER_ADMIN,
        "/report gmv 40000 2026-11-05",
        at=local(12, 3, 9),
        msg_id="late-fix",
        name="Lily",
    )
    assert fix[0].kind == "reply"
    entries = await core.ledger.current_entries(DEAL_ID, dt.date(2026, 11, 5), dt.date(2026, 11, 5))
    assert any(e.metric == "gmv" and e.value == 40000 for e in entries)  # the ledger has it

    assert await raw_row(core) == before  # the stored statement did not move
    for command in ("/statement 2026-11", "/fee 2026-11"):
        shown = await say(
            core, AGENCY_CHAT, AGENCY_MEMBER, command, at=local(12, 4, 9), msg_id=command
        )
        text = shown[0].text
        assert "🔒 closed 2026-12-02 10:00" in text, command
        assert "Total: USD 3,000.00" in text
        assert "⚠ Recorded after the close (not applied)" in text
        assert (
            "2026-11-05 gmv 40,000 (seller, Lily, 2026-12-03 09:00); at the close it counted 2,000"
            in text
        )
        assert "On today's figures the total would be USD 5,560.00 (USD +2,560.00" in text

    stored = await record(core)
    assert stored is not None and stored.statement is not None
    assert stored.statement.total == Decimal("3000.00")
    assert stored.figure(dt.date(2026, 11, 5), "gmv").value == 2000  # type: ignore[union-attr]

    # A late figure for a day nothing counted at the close says so in words.
    await say(
        core,
        SELLER_CHAT,
        SELLER_ADMIN,
        "/report gmv 1000 2026-11-25",
        at=local(12, 3, 10),
        msg_id="late-new",
        name="Lily",
    )
    shown = await say(
        core, AGENCY_CHAT, AGENCY_MEMBER, "/statement 2026-11", at=local(12, 4, 9), msg_id="s2"
    )
    assert (
        "• 2026-11-25 gmv 1,000 (seller, Lily, 2026-12-03 10:00); at the close nothing counted "
        "for it" in shown[0].text
    )

    # A confirmation of a closed period's figure says the closed statement stands, too.
    confirmed = await say(
        core, AGENCY_CHAT, AGENCY_MEMBER, "/confirm gmv 2026-11-25", at=local(12, 4, 10), msg_id="v"
    )
    closed_line = confirmed[0].text.splitlines()[1]
    assert closed_line.startswith(
        "🔒 2026-11 is closed (locked 2026-12-02 10:00, total USD 3,000.00). The closed "
        "statement does not change: /statement 2026-11 lists this as recorded after the close."
    )


async def test_statement_of_the_current_period_is_marked_not_final(core: Core) -> None:
    shown = await say(
        core, SELLER_CHAT, SELLER_ADMIN, "/statement", at=local(11, 10, 23), msg_id="s"
    )
    text = shown[0].text
    assert text.startswith(
        "ACME Home x Linkstar (TikTok Shop US) — statement for 2026-11: NOT FINAL, day 10 of 30"
    )
    assert "These are the to-date and projected views" in text
    assert "Total to date: USD 2,450.00" in text
    assert "Projected at period end: USD 5,560.00" in text


async def test_statement_of_a_future_period_is_refused_with_the_right_form(core: Core) -> None:
    shown = await say(
        core, SELLER_CHAT, SELLER_ADMIN, "/statement 2027-02", at=local(12, 2, 9), msg_id="s"
    )
    assert shown[0].kind == "error"
    assert "2027-02 has not started yet" in shown[0].text
    assert "/statement 2026-12" in shown[0].text
    bad = await say(
        core, SELLER_CHAT, SELLER_ADMIN, "/statement nov", at=local(12, 2, 9), msg_id="t"
    )
    assert bad[0].kind == "error" and "YYYY-MM" in bad[0].text


# ------------------------------------------------------------------------------ CLI


def _cli(args: list[str]) -> Any:
    return CliRunner().invoke(app, args)


async def test_cli_prints_the_same_total_and_writes_csv(
    core: Core, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    await seller_confirms(core, local(12, 2, 9))
    await agency_confirms(core, local(12, 2, 10))
    chat = await say(
        core, SELLER_CHAT, SELLER_ADMIN, "/statement 2026-11", at=local(12, 3, 9), msg_id="s"
    )

    out = tmp_path / "nov.csv"
    args = ["statement", "--deal", DEAL_ID, "--period", "2026-11", "--csv", str(out)]
    # The CLI runs its own event loop, so it runs in a thread.
    result = await asyncio.to_thread(_cli, [*args, "--db", db_url, "--today", "2026-12-03"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == chat[0].text.strip()  # the same statement as in the chat
    assert "Total: USD 3,000.00" in result.stdout
    with out.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["view"], r["kind"], r["amount"], r["currency"]) for r in rows] == [
        ("final", "base", "1500.00", "USD"),
        ("final", "commission", "950.00", "USD"),
        ("final", "bonus", "0.00", "USD"),
        ("final", "minimum", "550.00", "USD"),
        ("final", "total", "3000.00", "USD"),
    ]
    assert {r["period"] for r in rows} == {"2026-11"}
    assert rows[1]["description"] == "commission on net_gmv 19,000: 19,000 × 5%"
    assert sum(Decimal(r["amount"]) for r in rows[:-1]) == Decimal(rows[-1]["amount"])

    # The current period: both views, each with its own total.
    now = tmp_path / "dec.csv"
    result = await asyncio.to_thread(
        _cli,
        [
            "statement",
            "--deal",
            DEAL_ID,
            "--period",
            "2026-11",
            "--csv",
            str(now),
            "--db",
            db_url,
            "--today",
            "2026-11-10",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "NOT FINAL" in result.output
    with now.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    totals = {r["view"]: r["amount"] for r in rows if r["kind"] == "total"}
    assert totals == {"to_date": "2450.00", "projected": "5560.00"}


async def test_cli_refuses_an_unknown_deal_and_a_bad_period(
    core: Core, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = await asyncio.to_thread(_cli, ["statement", "--deal", "nope", "--db", db_url])
    assert result.exit_code == 1
    assert "unknown deal 'nope'" in result.output
    result = await asyncio.to_thread(
        _cli, ["statement", "--deal", DEAL_ID, "--period", "november", "--db", db_url]
    )
    assert result.exit_code == 2
    assert "YYYY-MM" in result.output


# ------------------------------------------------------------------------------ storage


def _statement() -> FeeStatement:
    plan = FeePlan(
        base=Decimal(3000),
        commission=Commission(
            "net_gmv", (Band(Decimal("0.05"), Decimal(50000)), Band(Decimal("0.08"))), "graduated"
        ),
        bonus=Bonus(("gmv", "roi"), amount=Decimal(1000)),
        deduction=Deduction("gmv", Decimal("0.1"), Decimal("0.1"), "base", Decimal("0.5")),
        minimum=Decimal(3000),
        cap=Decimal(20000),
    )
    targets = (Target("gmv", "at_least", Decimal(50000)), Target("roi", "at_least", Decimal("2.5")))
    values = {"gmv": Decimal(41300), "net_gmv": Decimal(39000), "roi": Decimal("4.13"), "aov": None}
    return compute_fee(
        plan,
        targets=targets,
        values=values,
        view="final",
        currency="USD",
        base_fraction=Decimal(20) / Decimal(30),
    )


def test_a_statement_round_trips_through_json_exactly() -> None:
    statement = _statement()
    document = encode_statement(statement)
    # What the database stores: JSON text.
    decoded = decode_statement(json.loads(json.dumps(document)))
    assert decoded == statement
    for line, back in zip(statement.lines, decoded.lines, strict=True):
        assert dict(back.detail) == dict(line.detail)
        assert str(back.amount) == str(line.amount)  # the scale survives too
    assert statement_digest(encode_statement(decoded)) == statement_digest(document)
    assert decoded.line("deduction") is not None


def test_the_digest_changes_with_any_amount() -> None:
    document = encode_statement(_statement())
    changed = json.loads(json.dumps(document))
    changed["values"]["gmv"] = "41301"
    assert statement_digest(changed) != statement_digest(document)


async def test_the_migration_creates_exactly_the_modelled_tables(db_url: str) -> None:
    await upgrade(db_url)
    engine: AsyncEngine = make_engine(db_url)
    try:

        def diff(sync_conn: Any) -> list[Any]:
            context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
            # The shared metadata (our tables reference the ledger's); only our tables' diffs
            # are ours to check.
            return [d for d in compare_metadata(context, metadata) if _ours(d)]

        async with engine.connect() as conn:
            problems = await conn.run_sync(diff)
        assert problems == []
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert {"statements", "statement_confirmations"} <= names
    finally:
        await engine.dispose()


def _ours(d: Any) -> bool:
    ours = ("statements", "statement_confirmations")
    if isinstance(d, list):  # column modifications come grouped
        return any(_ours(x) for x in d)
    for part in d:
        if part in ours:
            return True
        name = getattr(part, "name", None)
        table = getattr(part, "table", None)
        if name in ours or getattr(table, "name", None) in ours:
            return True
    return False
