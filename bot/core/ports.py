"""The ports: what each layer needs, said as small Protocols, not who provides it.

``bot.app`` builds the concrete providers once (the ledger and the stores in ``kpi``, the
scheduler's escalation desk, the dashboard's link service, the platform adapters) and hands
them down; handlers and the scheduler only ever see these types. A test passes a fake or a real
SQLite-backed provider.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Protocol

from bot.core import Clock, Command, Delivered, DeliveryPort, Outgoing

if TYPE_CHECKING:
    from kpi.fees import FeeStatement
    from kpi.ledger import DealVersion, ReportResult
    from kpi.model import ChatSide, Deal, Entry, Side, Verdict
    from kpi.periods import Period
    from kpi.platform.parse import ParsedExport
    from kpi.platform.store import ImportRecord, ImportResult, Session, Uploader
    from kpi.sides import Figure
    from kpi.statements import ConfirmResult, StoredStatement

__all__ = [
    "AdapterCore",
    "Clock",
    "CommandSink",
    "DashboardLinks",
    "Delivery",
    "DeliveryPort",
    "Driver",
    "EscalationDesk",
    "EscalationRecord",
    "LedgerPort",
    "LedgerReader",
    "LedgerWriter",
    "Notices",
    "PlatformData",
    "Progress",
    "Services",
    "StatementStore",
]


class CommandSink(Protocol):
    """Where an adapter hands a platform's command: the answers come back to send."""

    async def handle(self, cmd: Command) -> list[Outgoing]: ...


class AdapterCore(CommandSink, Protocol):
    """What a platform adapter needs of the running bot (``bot.app.Core``): commands in, a
    message out through its port, the clock, and following a chat that changed its id."""

    clock: Clock

    async def deliver(self, msg: Outgoing) -> Delivered: ...

    async def migrate_chat(self, old_chat: str, new_chat: str, at: dt.datetime) -> None: ...


class Delivery(Protocol):
    """Sends an outgoing message through the port of its platform (the scheduler's outlet)."""

    def port_for(self, to: str) -> DeliveryPort | None: ...

    async def deliver(self, msg: Outgoing) -> Delivered: ...


class Driver(CommandSink, Delivery, Protocol):
    """The whole bot in one process, as the console and replay drive it: commands in, replies
    out through the registered ports, scheduled work as the (virtual) clock moves."""

    clock: Clock

    def add_port(self, port: DeliveryPort) -> None: ...

    async def tick(self, now: dt.datetime) -> None: ...

    async def next_due_after(self, at: dt.datetime) -> dt.datetime | None: ...

    async def apply_deal_text(self, text: str, source: str = "<deal>") -> str: ...

    async def current_deal(self, deal_id: str) -> tuple[Deal, int] | None: ...


class LedgerReader(Protocol):
    """The ledger's read side: deals, chat links, entries and verdicts."""

    async def current_deal(self, deal_id: str) -> tuple[Deal, int] | None: ...

    async def deal_versions(self, deal_id: str) -> list[DealVersion]: ...

    async def deal_for_period(self, deal_id: str, period_start: dt.date) -> Deal: ...

    async def period_records(
        self, deal_id: str, period_start: dt.date, first: dt.date, last: dt.date
    ) -> tuple[Deal, list[Entry], list[Verdict]]: ...

    async def list_deals(self) -> list[str]: ...

    async def deals_for_chat(self, chat_id: str) -> list[tuple[str, str]]: ...

    async def chats_of_deal(self, deal_id: str) -> list[tuple[str, str]]: ...

    async def deal_heads(self) -> list[tuple[str, int, dt.datetime]]: ...

    async def platform_days(
        self, deal_id: str, first: dt.date, last: dt.date
    ) -> dict[dt.date, dict[str, Decimal]]: ...

    async def current_entries(self, deal_id: str, start: dt.date, end: dt.date) -> list[Entry]: ...

    async def verdicts(self, deal_id: str, start: dt.date, end: dt.date) -> list[Verdict]: ...

    async def history(
        self,
        deal_id: str,
        *,
        metric: str | None = None,
        day: dt.date | None = None,
        limit: int = 50,
    ) -> list[Entry]: ...

    async def entry(self, entry_id: int) -> Entry | None: ...

    async def last_report_day(self, deal_id: str, side: Side) -> dt.date | None: ...

    async def ledger_position(self, deal_id: str) -> tuple[int, int]: ...

    async def entries_between(self, deal_id: str, start: dt.date, end: dt.date) -> list[Entry]: ...


class LedgerWriter(Protocol):
    """The ledger's write side: reports, verdicts and chat links."""

    async def record_report(
        self,
        *,
        deal_id: str,
        day: dt.date,
        values: Sequence[tuple[str, Decimal]],
        side: Side,
        person: str,
        person_name: str,
        chat: str,
        message_key: str,
        at: dt.datetime,
        skip_unchanged: bool = False,
        ended_period: str | None = None,
    ) -> ReportResult: ...

    async def record_verdict(
        self,
        *,
        deal_id: str,
        day: dt.date,
        metric: str,
        kind: Literal["confirm", "dispute"],
        side: Side,
        person: str,
        person_name: str,
        entry_id: int | None,
        reason: str,
        chat: str,
        message_key: str,
        at: dt.datetime,
    ) -> tuple[Verdict, bool]: ...

    async def link_chat(self, chat_id: str, deal_id: str, side: ChatSide) -> None: ...

    async def unlink_chat(self, chat_id: str, deal_id: str) -> bool: ...


class LedgerPort(LedgerReader, LedgerWriter, Protocol):
    """Both sides of the ledger: what a chat command may read and write."""


class StatementStore(Protocol):
    """Confirmed and closed period statements."""

    async def get(self, deal_id: str, period: str) -> StoredStatement | None: ...

    async def closed(self, deal_id: str) -> list[StoredStatement]: ...

    async def confirm(
        self,
        *,
        deal_id: str,
        period: Period,
        side: Side,
        person: str,
        person_name: str,
        chat: str,
        message_key: str,
        at: dt.datetime,
        statement: FeeStatement,
        figures: Iterable[Figure],
        position: tuple[int, int] | None = None,
    ) -> ConfirmResult: ...


class PlatformData(Protocol):
    """The platform's own figures: imported Seller Center exports and synced sessions."""

    async def import_export(
        self,
        deal_id: str,
        parsed: ParsedExport,
        *,
        data: bytes,
        file_name: str,
        uploader: Uploader,
        now: dt.datetime,
        record_unchanged: bool = True,
    ) -> ImportResult: ...

    async def day_figures(
        self, deal_id: str, first: dt.date, last: dt.date
    ) -> dict[dt.date, dict[str, Decimal]]: ...

    async def sessions(self, deal_id: str, first: dt.date, last: dt.date) -> list[Session]: ...

    async def imports(self, deal_id: str, limit: int = 20) -> list[ImportRecord]: ...


@dataclass(frozen=True)
class EscalationRecord:
    """One escalation as stored (what the desk answers with).

    ``status`` is ``open``, ``acked`` (a contact acknowledged it) or ``resolved`` (a pace check
    ended it by itself, at ``resolved_at``; ``resolution`` says what that check found:
    ``check``, its slot day, and ``pace``, the metric's pace then, when its target was back on
    pace, or ``period_over``, the period's name, when its period had ended unacknowledged).
    """

    id: int
    deal_id: str
    reason: str
    origin: str
    status: str
    detail: dict[str, Any]
    started_at: dt.datetime
    acked_by: str | None
    acked_name: str | None
    ack_note: str | None
    acked_at: dt.datetime | None
    resolved_at: dt.datetime | None = None
    resolution: dict[str, Any] | None = None

    @property
    def ended_at(self) -> dt.datetime | None:
        """When it stopped being open: acknowledged or resolved (``None`` while open)."""
        return self.acked_at or self.resolved_at


@dataclass(frozen=True)
class Progress:
    """How far an escalation has gone."""

    sent: int
    levels_told: tuple[int, ...]
    next_due: dt.datetime | None
    remaining: int



class EscalationDesk(Protocol):
    """The scheduler's escalations, as chat commands see them (``/ack``, ``/escalations``)."""

    async def of_deal(
        self, deal_id: str, *, since: dt.datetime | None = None
    ) -> Sequence[EscalationRecord]: ...

    async def ack(
        self,
        deal_id: str,
        *,
        person: str,
        name: str,
        note: str,
        at: dt.datetime,
        reason: str | None = None,
    ) -> Sequence[EscalationRecord]: ...

    async def progress(self, escalation_id: int) -> Progress: ...

    async def cancelled_notices(self, escalation_id: int) -> int: ...


class Notices(Protocol):
    """Messages a command leaves for other chats, sent through the scheduler's outbox: once,
    whichever replica sends them, and again only if a sender died mid-send (the outbox's rule).
    """

    async def post(
        self, deal_id: str, *, kind: str, key: str, messages: Sequence[Outgoing], at: dt.datetime
    ) -> None:
        """Queue ``messages`` (each to its ``to``) to be sent from ``at``. The same ``kind``,
        ``key`` and chat queue one message however often they are posted (a retried command
        posts again, harmlessly)."""
        ...


class DashboardLinks(Protocol):
    """Issues and revokes signed dashboard links (present when ``SECRET_KEY`` is set)."""

    days: int

    def token(
        self, deal_id: str, side: ChatSide, now: dt.datetime, days: int | None = None
    ) -> str: ...

    def url(self, token: str) -> str: ...

    async def revoke(self, deal_id: str, now: dt.datetime) -> None: ...


def _no_mention(chat: str) -> str:
    return "@kpibot"


@dataclass
class Services:
    """What handlers may use besides the ledger, built once by ``bot.app``.

    A part that is not running in this process is ``None`` (no scheduler: ``/ack`` says so;
    no ``SECRET_KEY``: ``/dashboard`` says so)."""

    statements: StatementStore
    platform: PlatformData
    escalations: EscalationDesk | None = None
    notices: Notices | None = None
    """Messages for other chats (a dispute told to the other side); ``None`` without a
    scheduler in this process."""
    dashboard: DashboardLinks | None = None
    mention: Callable[[str], str] = _no_mention
    """How to address the bot before a command word in a chat (``@username`` on Telegram,
    ``/kpibot`` on Slack): the chat's platform adapter knows."""
    import_max_bytes: int | None = None
    """``IMPORT_MAX_BYTES``: the largest export ``/import`` takes."""
