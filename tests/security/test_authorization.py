"""The authorization matrix: every chat command × five kinds of person, each cell's outcome written.

Each row of :data:`MATRIX` is one command as a person would type it; each column one kind of
person (see :data:`PERSONAS`). A cell names the expected outcome; :func:`expected_text` turns a
refusal into the exact catalog message, and a write row says what an allowed cell adds to (or
removes from) the ledger — every other cell must leave the ledger exactly as it was.

Every cell runs through the real core (``bot.app.build_core``: router, handlers, ledger) on a
copy of one prepared database, so cells never see each other's writes: SQLite for every row,
and PostgreSQL too for the rows that write. The rows are checked against
``handlers.registry.ROUTES`` itself, so a command added without a row fails here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import shutil
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr

from bot.app import Core, build_core
from bot.core import Command, Outgoing, VirtualClock
from bot.core.i18n import t
from bot.settings import Settings
from handlers.registry import ROUTES
from kpi.statement_store import StatementStore
from tests.conftest import _fresh_pg_database

ROOT = Path(__file__).resolve().parents[2]
DEAL_TEXT = (ROOT / "bot" / "demo" / "acme-linkstar-us.yaml").read_text(encoding="utf-8")
DEAL = "acme-linkstar-us"
LA = ZoneInfo("America/Los_Angeles")
NOW = dt.datetime(2026, 12, 3, 10, 0, tzinfo=LA)
"""December is the deal's second month; November (the trial month) has ended."""
TODAY, YESTERDAY, NOV_20 = dt.date(2026, 12, 3), dt.date(2026, 12, 2), dt.date(2026, 11, 20)

SELLER_CHAT, AGENCY_CHAT, SHARED_CHAT = "telegram:-1001234", "slack:C0AGENCY", "telegram:-1009999"
UNLINKED_CHAT = "telegram:-1007777"
SELLER_ADMIN, SELLER_MEMBER = "telegram:5001", "telegram:5002"
AGENCY_MEMBER_TG, AGENCY_MEMBER_SLACK = "telegram:7001", "slack:U0AGENCY1"
NOBODY = "telegram:9999"


# ------------------------------------------------------------------------------ the columns


@dataclass(frozen=True)
class Persona:
    """Who types the command, and where."""

    chat: str
    user: str
    side: str | None
    """The side a figure from this person counts for (``None``: refused)."""
    name: str


PERSONAS: dict[str, Persona] = {
    # A seller member (not an admin) in the seller's own chat: the chat decides the side.
    "member": Persona(SELLER_CHAT, SELLER_MEMBER, "seller", "Wei (seller ops)"),
    # The deal's own admin, in a chat that is not linked: knowing the deal must not help.
    "unlinked": Persona(UNLINKED_CHAT, SELLER_ADMIN, None, "Mia (seller admin)"),
    # An agency member who is not an admin, in the shared chat: membership decides the side.
    "non_admin": Persona(SHARED_CHAT, AGENCY_MEMBER_TG, "agency", "Leo (agency host)"),
    # Somebody on neither side who is in the shared chat (a guest, a new hire not yet listed).
    "outsider": Persona(SHARED_CHAT, NOBODY, None, "Guest"),
    # The seller's admin (also a seller member and contact) in the shared chat. Last: an
    # admin's /link or /unlink changes what the shared chat sees (see the PostgreSQL test).
    "admin": Persona(SHARED_CHAT, SELLER_ADMIN, "seller", "Mia (seller admin)"),
}


# ------------------------------------------------------------------------------ ledger state


@dataclass(frozen=True)
class State:
    """What the commands can change: entries, verdicts, chat links, statement confirmations."""

    entries: frozenset[tuple[dt.date, str, str, Decimal, str]] = frozenset()
    verdicts: frozenset[tuple[dt.date, str, str, str, str]] = frozenset()
    links: frozenset[tuple[str, str, str]] = frozenset()
    confirmations: frozenset[tuple[str, str, str]] = frozenset()


@dataclass(frozen=True)
class Delta:
    """What a cell changed: per component, what was added and what was removed."""

    added: State = field(default_factory=State)
    removed: State = field(default_factory=State)


NO_CHANGE = Delta()
WATCHED_CHATS = (SELLER_CHAT, AGENCY_CHAT, SHARED_CHAT, UNLINKED_CHAT)


async def state_of(core: Core) -> State:
    ledger = core.ledger
    entries = await ledger.history(DEAL, limit=10_000)
    verdicts = await ledger.verdicts(DEAL, dt.date(2026, 11, 1), TODAY)
    links = {
        (chat, deal, side)
        for chat in WATCHED_CHATS
        for deal, side in await ledger.deals_for_chat(chat)
    }
    record = await StatementStore(ledger.engine).get(DEAL, "2026-11")
    confirmations = {
        (record.period, c.side, c.person) for c in (record.confirmations if record else ())
    }
    return State(
        entries=frozenset((e.day, e.metric, e.side, e.value, e.person) for e in entries),
        verdicts=frozenset((v.day, v.metric, v.kind, v.side, v.person) for v in verdicts),
        links=frozenset(links),
        confirmations=frozenset(confirmations),
    )


def delta(before: State, after: State) -> Delta:
    def part(a: State, b: State) -> State:
        return State(
            entries=a.entries - b.entries,
            verdicts=a.verdicts - b.verdicts,
            links=a.links - b.links,
            confirmations=a.confirmations - b.confirmations,
        )

    return Delta(added=part(after, before), removed=part(before, after))


# ------------------------------------------------------------------------------ the rows

Effect = Callable[[Persona], Delta]


def adds_entry(p: Persona) -> Delta:
    assert p.side is not None
    return Delta(added=State(entries=frozenset({(TODAY, "gmv", p.side, Decimal(12000), p.user)})))


def adds_verdict(kind: str) -> Effect:
    def effect(p: Persona) -> Delta:
        assert p.side is not None
        return Delta(added=State(verdicts=frozenset({(YESTERDAY, "gmv", kind, p.side, p.user)})))

    return effect


def adds_confirmation(p: Persona) -> Delta:
    assert p.side is not None
    return Delta(added=State(confirmations=frozenset({("2026-11", p.side, p.user)})))


def links_as_seller(p: Persona) -> Delta:
    removed = frozenset({(p.chat, DEAL, "shared")}) if p.chat == SHARED_CHAT else frozenset()
    return Delta(
        added=State(links=frozenset({(p.chat, DEAL, "seller")})), removed=State(links=removed)
    )


def removes_link(p: Persona) -> Delta:
    return Delta(removed=State(links=frozenset({(p.chat, DEAL, "shared")})))


@dataclass(frozen=True)
class Row:
    """One command as typed, the outcome for each persona, and what an allowed cell writes."""

    command: str
    """The key in ``handlers.registry.ROUTES``."""
    text: str
    cells: dict[str, str]
    ok_says: str
    """A phrase every allowed answer contains (proves the command really ran)."""
    effect: Effect | None = None
    """For a row that writes: what an ``ok`` cell changes (all other cells change nothing)."""

    @property
    def confirms_statement(self) -> bool:
        return self.text.startswith("/statement confirm")

    @property
    def id(self) -> str:
        return self.command + ("-confirm" if self.confirms_statement else "")


def cells(member: str, unlinked: str, non_admin: str, admin: str, outsider: str) -> dict[str, str]:
    return {
        "member": member,
        "unlinked": unlinked,
        "non_admin": non_admin,
        "admin": admin,
        "outsider": outsider,
    }


# Outcomes:
#   ok               the command ran (``reply``), and a write row wrote exactly its effect
#   not_linked       router.not_linked: the same answer as for a deal that does not exist
#   told_not_linked  /whoami answers who you are, then router.not_linked, and nothing else
#   admin_only       the admin refusal of that command (router.admin_only, or the statement's)
#   link_refused     link.refused: the same answer whether the deal exists or not
#   link_no_deal     guards.link_no_deal: to a person no deal lists, whether it exists or not
#   not_on_a_side    side.unknown: a person on neither side cannot put figures or verdicts
#   not_contact      escalation.not_contact: only a designated contact can acknowledge
#   import_usage     platform.import_usage: /import without a file says how to send one
#   not_member       platform.not_member: only a listed member of a side may import
#
# cells(member, unlinked, non_admin, admin, outsider), in this order in every row below.
MATRIX: tuple[Row, ...] = (
    Row("report", "/report gmv 12000",
        cells("ok", "not_linked", "ok", "ok", "not_on_a_side"),
        "Saved for 2026-12-03", adds_entry),
    Row("kpi", "/kpi",
        cells("ok", "not_linked", "ok", "ok", "ok"), "ACME Home x Linkstar"),
    Row("fee", "/fee",
        cells("ok", "not_linked", "ok", "ok", "ok"), "USD"),
    Row("whatif", "/whatif gmv 60000",
        cells("ok", "not_linked", "ok", "ok", "ok"), "if the period ended with gmv 60,000"),
    Row("statement", "/statement 2026-11",
        cells("ok", "not_linked", "ok", "ok", "ok"), "2026-11"),
    # November has one reported day: closing it as it stands takes "anyway".
    Row("statement", "/statement confirm 2026-11 anyway",
        cells("admin_only", "not_linked", "admin_only", "ok", "admin_only"),
        "confirmed the 2026-11 statement", adds_confirmation),
    Row("history", "/history gmv",
        cells("ok", "not_linked", "ok", "ok", "ok"), "1,800"),
    Row("confirm", "/confirm gmv 2026-12-02",
        cells("ok", "not_linked", "ok", "ok", "not_on_a_side"),
        "Confirmed the", adds_verdict("confirm")),
    Row("dispute", "/dispute gmv 2026-12-02 does not match Seller Center",
        cells("ok", "not_linked", "ok", "ok", "not_on_a_side"),
        "Disputed the", adds_verdict("dispute")),
    Row("help", "/help",
        cells("ok", "ok", "ok", "ok", "ok"), "/report"),
    Row("start", "/start",
        cells("ok", "ok", "ok", "ok", "ok"), "/report"),
    Row("whoami", "/whoami",
        cells("ok", "told_not_linked", "ok", "ok", "ok"), "#acme-linkstar-us"),
    Row("link", f"/link #{DEAL} seller",
        cells("link_refused", "ok", "link_refused", "ok", "link_no_deal"),
        "now linked to #acme-linkstar-us", links_as_seller),
    Row("unlink", "/unlink",
        cells("admin_only", "not_linked", "admin_only", "ok", "admin_only"),
        "no longer linked", removes_link),
    # The scheduler's commands: with no escalation open, the contact's /ack has nothing to stop.
    Row("ack", "/ack on it",
        cells("not_contact", "not_linked", "not_contact", "ok", "not_contact"),
        "Nothing to acknowledge"),
    Row("escalations", "/escalations",
        cells("ok", "not_linked", "ok", "ok", "ok"), "ACME Home x Linkstar"),
    # Issue 16: whoever may read the deal in a chat may open its dashboard and export it; only
    # an admin revokes the links (revocations are not ledger state: nothing else changes).
    Row("dashboard", "/dashboard",
        cells("ok", "not_linked", "ok", "ok", "ok"), "https://kpi.example.com/d/"),
    Row("dashboard", "/dashboard revoke",
        cells("admin_only", "not_linked", "admin_only", "ok", "admin_only"), "revoked"),
    Row("export", "/export 2026-11",
        cells("ok", "not_linked", "ok", "ok", "ok"), "daily figures by side"),
    # Issue 15: anyone who may read the deal may list its sessions; only a listed member of a
    # side may bring in platform data (here without a file: the member is told how).
    Row("sessions", "/sessions",
        cells("ok", "not_linked", "ok", "ok", "ok"), "No livestream sessions"),
    Row("import", "/import",
        cells("import_usage", "not_linked", "import_usage", "import_usage", "not_member"),
        "Seller Center"),
)  # fmt: skip

ROWS_BY_COMMAND: dict[str, list[Row]] = {}
for _row in MATRIX:
    ROWS_BY_COMMAND.setdefault(_row.command, []).append(_row)

WRITE_ROWS = [row for row in MATRIX if row.effect is not None]


def expected_text(outcome: str, row: Row, persona: Persona) -> str | None:
    """The exact reply a refusal gives (``None`` for outcomes checked otherwise)."""
    name = row.text.split()[0].lstrip("/")
    if outcome == "not_linked":
        return t("router.not_linked", "en")
    if outcome == "told_not_linked":
        you = t("whoami.you", "en", who=persona.user, name=persona.name)
        return f"{you}\n{t('router.not_linked', 'en')}"
    if outcome == "admin_only":
        if row.confirms_statement:
            return t("statement.confirm_admin_only", "en", command=row.text)
        if row.text.startswith("/dashboard revoke"):
            return t("dashboard.revoke_admin_only", "en")
        return t("router.admin_only", "en", command=name)
    if outcome == "link_refused":
        return t("link.refused", "en", tag=DEAL)
    if outcome == "link_no_deal":
        return t("guards.link_no_deal", "en", tag=DEAL)
    if outcome == "not_on_a_side":
        return t("side.unknown", "en", person=persona.user)
    if outcome == "import_usage":
        return t("platform.import_usage", "en")
    if outcome == "not_member":
        return t("platform.not_member", "en", person=persona.user)
    if outcome == "not_contact":
        contacts = "Seller ops lead, Agency account manager, Agency head of ops"
        return t("escalation.not_contact", "en", person=persona.name, contacts=contacts)
    assert outcome == "ok", outcome
    return None


# What a chat that is not linked must never be told: the deal's id and name, its figures and
# terms (as whole numbers, so "12,000" in a help example is not "2,000"), contacts, members, chats.
DEAL_SECRETS = re.compile(
    r"acme|linkstar|tiktok shop us"
    r"|(?<![\d.,])(?:1,?800|2,?000|50,?000|3,?000|1,?500)(?![\d,])"
    r"|seller ops lead|agency account manager|agency head of ops"
    r"|telegram:5002|telegram:7001|slack:u0agency|telegram:-1001234|slack:c0agency"
    r"|telegram:-1009999",
    re.IGNORECASE,
)


def assert_nothing_leaks(replies: list[Outgoing], persona: Persona, typed: str) -> None:
    """A chat that is not linked learns nothing: not the deal, a figure, a contact or a member.

    A reply may echo what the person typed (a refusal that quotes ``#tag`` reads the same for
    a deal that does not exist) and who they are (/whoami), so those are taken out first."""
    for reply in replies:
        assert reply.to == persona.chat, f"a reply went elsewhere: {reply.to}"
        text = reply.text.replace(persona.user, " ")
        for word in typed.split():
            if len(word) > 3:
                text = text.replace(word, " ")
        found = DEAL_SECRETS.search(text)
        assert found is None, f"{found[0]!r} leaked to a chat not linked: {reply.text!r}"


# ------------------------------------------------------------------------------ the world


async def prepare_world(url: str) -> State:
    """Migrate ``url``, apply the demo deal and report both sides' GMV for two days; dispose.

    Returns the ledger state every cell starts from."""
    settings = Settings(database_url=url, _env_file=None)  # type: ignore[call-arg]
    core = await build_core(settings, clock=VirtualClock(NOW))
    try:
        await core.apply_deal_text(DEAL_TEXT, "acme.yaml")
        seeds = [
            (SELLER_CHAT, SELLER_MEMBER, "/report gmv 1800 2026-11-20"),
            (AGENCY_CHAT, AGENCY_MEMBER_SLACK, "/report gmv 2000 2026-11-20"),
            (SELLER_CHAT, SELLER_MEMBER, "/report gmv 1800 yesterday"),
            (AGENCY_CHAT, AGENCY_MEMBER_SLACK, "/report gmv 2000 yesterday"),
        ]
        for number, (chat, user, text) in enumerate(seeds):
            [reply] = await core.handle(
                Command(chat=chat, user=user, text=text, at=NOW, message_id=f"seed-{number}")
            )
            assert "Saved" in reply.text, reply.text
        return await state_of(core)
    finally:
        await core.aclose()


def settings_for(url: str) -> Settings:
    """The cells' settings: the dashboard is on (issue 16), so /dashboard answers with a link."""
    return Settings(  # type: ignore[call-arg]
        database_url=url,
        secret_key=SecretStr("authorization-matrix"),
        public_url="https://kpi.example.com",
        _env_file=None,
    )


async def run_cell(url: str, row: Row, persona_key: str) -> tuple[list[Outgoing], State]:
    """One command by one persona through a core on ``url``: the replies and the state after."""
    persona = PERSONAS[persona_key]
    settings = settings_for(url)
    core = await build_core(settings, clock=VirtualClock(NOW), migrate=False)
    try:
        replies = await core.handle(
            Command(
                chat=persona.chat,
                user=persona.user,
                text=row.text,
                at=NOW,
                name=persona.name,
                message_id=f"{row.id}-{persona_key}",
            )
        )
        return replies, await state_of(core)
    finally:
        await core.aclose()


def check_cell(
    row: Row, persona_key: str, replies: list[Outgoing], before: State, after: State
) -> list[str]:
    """Every way the cell differs from what the table says (empty: as written)."""
    persona = PERSONAS[persona_key]
    outcome = row.cells[persona_key]
    where = f"{row.text!r} by {persona_key}"
    if not replies:
        return [f"{where}: no reply"]
    problems: list[str] = []
    first = replies[0]
    if first.to != persona.chat:
        problems.append(f"{where}: the answer went to {first.to}")
    if outcome == "ok":
        if first.kind != "reply" or row.ok_says not in first.text:
            problems.append(f"{where}: expected ok, got {first.kind}: {first.text!r}")
    else:
        kind = "reply" if outcome == "told_not_linked" else "error"
        expected = expected_text(outcome, row, persona)
        if (first.kind, first.text) != (kind, expected):
            problems.append(f"{where}: expected {outcome}, got {first.kind}: {first.text!r}")
        if len(replies) != 1:
            problems.append(f"{where}: a refusal sent {len(replies)} messages")
    wanted = row.effect(persona) if row.effect is not None and outcome == "ok" else NO_CHANGE
    got = delta(before, after)
    if got != wanted:
        problems.append(f"{where}: the ledger changed by {got}, expected {wanted}")
    if persona_key == "unlinked" and outcome != "ok":
        try:
            assert_nothing_leaks(replies, persona, row.text)
        except AssertionError as exc:
            problems.append(f"{where}: {exc}")
    return problems


@dataclass(frozen=True)
class World:
    """The prepared SQLite database every cell copies, and its ledger state."""

    path: Path
    state: State

    def copy(self, folder: Path) -> str:
        copy = folder / f"cell-{uuid.uuid4().hex[:8]}.db"
        shutil.copyfile(self.path, copy)
        return f"sqlite:///{copy}"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """Prepared once per module (migrating is most of a cell's cost); cells copy the file.

    Built on a thread with its own event loop: a module-scoped fixture must not touch the
    tests' loops."""
    path = tmp_path_factory.mktemp("authorization") / "world.db"
    with ThreadPoolExecutor(1) as pool:
        state = pool.submit(asyncio.run, prepare_world(f"sqlite:///{path}")).result()
    # The core was closed, so the WAL was checkpointed into the file: one file to copy.
    assert not path.with_name(path.name + "-wal").exists()
    return World(path, state)


# ------------------------------------------------------------------------------ the tests


def test_every_routed_command_has_a_row_and_every_row_a_cell_per_persona() -> None:
    """A command added to the registry without a row here fails, and so does a short row."""
    missing = sorted(set(ROUTES) - set(ROWS_BY_COMMAND))
    assert not missing, f"commands without a row in the authorization matrix: {missing}"
    outcomes = {"ok", "not_linked", "told_not_linked", "admin_only", "link_refused", "link_no_deal",
                "not_on_a_side", "not_contact", "import_usage", "not_member"}  # fmt: skip
    for row in MATRIX:
        assert set(row.cells) == set(PERSONAS), row.text
        assert set(row.cells.values()) <= outcomes, row.text


@pytest.mark.parametrize("command", sorted(ROUTES))
async def test_matrix_on_sqlite(command: str, world: World, tmp_path: Path) -> None:
    """Every cell of the command's rows, each on its own copy of the prepared world: the
    written outcome with the exact refusal text, exactly the row's effect on the ledger when
    allowed, nothing at all otherwise, and nothing about the deal in a chat not linked."""
    rows = ROWS_BY_COMMAND.get(command)
    assert rows, f"/{command} has no row in the authorization matrix"
    problems: list[str] = []
    for row in rows:
        for persona_key in PERSONAS:
            replies, after = await run_cell(world.copy(tmp_path), row, persona_key)
            problems += check_cell(row, persona_key, replies, world.state, after)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("row", [r for r in WRITE_ROWS if r.command in ROUTES], ids=lambda r: r.id)
async def test_write_cells_on_postgres(row: Row, pg_url: str) -> None:
    """The rows that write give the same outcomes and ledger changes on PostgreSQL.

    Here a row's cells run one after another in one database (a copy per cell would cost half
    a second each), each judged by the change it alone made. The order of :data:`PERSONAS`
    puts the admin last, so no allowed cell changes what a later one sees: the outcomes are
    the ones a fresh copy would give."""
    before = await prepare_world(pg_url)
    problems: list[str] = []
    for persona_key in PERSONAS:
        if row.command in ("confirm", "dispute"):
            # A verdict changes what a later one sees: a side's verdict on an entry stands for
            # the side (issue 11), so the seller admin's same verdict after the seller member's
            # is a no-op; and once the seller accepted the agency's figure, the agency confirming
            # the seller's back is refused as crossed. Each persona gets a world of its own.
            async for url in _fresh_pg_database():
                fresh = await prepare_world(url)
                replies, after = await run_cell(url, row, persona_key)
                problems += check_cell(row, persona_key, replies, fresh, after)
            continue
        replies, after = await run_cell(pg_url, row, persona_key)
        problems += check_cell(row, persona_key, replies, before, after)
        before = after
    assert not problems, "\n".join(problems)


async def test_a_chat_not_linked_learns_nothing_from_any_command(
    world: World, tmp_path: Path
) -> None:
    """Every routed command, typed in a chat not linked by a deal member who is not an admin
    (so /link is refused too), as in the matrix and again naming the deal with ``#tag``: no
    deal id, name, figure, contact or member in any answer, and nothing stored."""
    persona = Persona(UNLINKED_CHAT, SELLER_MEMBER, None, "Wei (seller ops)")
    core = await build_core(
        settings_for(world.copy(tmp_path)), clock=VirtualClock(NOW), migrate=False
    )
    try:
        for command in sorted(ROUTES):
            for row in ROWS_BY_COMMAND[command]:
                for number, text in enumerate((row.text, f"{row.text} #{DEAL}")):
                    replies = await core.handle(
                        Command(
                            chat=persona.chat,
                            user=persona.user,
                            text=text,
                            at=NOW,
                            name=persona.name,
                            message_id=f"probe-{row.id}-{number}",
                        )
                    )
                    assert replies, text
                    assert_nothing_leaks(replies, persona, text)
        assert await state_of(core) == world.state
    finally:
        await core.aclose()
