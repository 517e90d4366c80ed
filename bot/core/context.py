"""What a handler is given for one command (:class:`Context`) and how a command names its
handler (:class:`Route`): the chat kernel's side of the router, below handlers and scheduler."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.core import Clock, Command, MessageKind, Outgoing
from bot.core.i18n import metric_label, t
from bot.core.ports import LedgerPort, LedgerReader, Services
from bot.core.rich import Rich
from kpi.errors import UserError
from kpi.model import ChatSide, Deal, Side
from kpi.periods import business_day
from kpi.sides import Acting, acting_side


@dataclass
class Context:
    """Everything a handler needs for one command."""

    cmd: Command
    name: str
    args: str
    ledger: LedgerPort
    clock: Clock
    locale: str
    services: Services
    deal: Deal | None = None
    chat_side: ChatSide | None = None
    linked: list[tuple[str, str]] = field(default_factory=list)
    forget: Callable[[], None] = lambda: None
    """Clears the router's cache of links and deals (after /link, /unlink)."""

    def t(self, key: str, /, **params: Any) -> str:
        return t(key, self.locale, **params)

    def metric_label(self, name: str) -> str:
        """A metric's display name in this reply's language (the deal's label if it set one)."""
        metric = self.deal.metrics.get(name) if self.deal is not None else None
        return metric_label(name, self.locale, metric.labels if metric is not None else None)

    def reply(
        self, text: str, *, kind: MessageKind = "reply", rich: Rich | None = None
    ) -> Outgoing:
        return Outgoing(to=self.cmd.chat, text=text, kind=kind, rich=rich)

    @property
    def today(self) -> dt.date:
        """The business day in the deal's time zone (UTC without a deal)."""
        tz = self.deal.timezone if self.deal else "UTC"
        return business_day(self.cmd.at, tz)

    @property
    def acting(self) -> Acting | None:
        """Whom the person speaks for in this chat (:func:`kpi.sides.acting_side`, the one
        rule); ``None`` before a deal is resolved."""
        if self.deal is None:
            return None
        return acting_side(self.deal, self.cmd.user, self.chat_side)

    @property
    def side(self) -> Side | None:
        """The side the person acts for here, or ``None`` when :attr:`acting` refuses."""
        acting = self.acting
        return acting.side if acting is not None else None

    def refusal(self, acting: Acting) -> UserError:
        """The error that says why ``acting`` may not speak for a side here, and where to
        go instead (the same words for every command that writes for a side)."""
        chat_side = self.chat_side if self.chat_side in ("seller", "agency") else None
        side = self.t(f"side.{acting.listed or chat_side or 'none'}")
        if acting.refusal == "other_side":
            return UserError(
                "guards.other_side", side=side, chat_side=self.t(f"side.{chat_side}")
            )
        if acting.refusal == "members_only":
            wanted = self.t(f"side.{chat_side}") if chat_side else side
            return UserError("trust.members_only", person=self.cmd.user, side=wanted)
        return UserError("side.unknown", person=self.cmd.user)

    @property
    def is_admin(self) -> bool:
        return self.deal is not None and self.cmd.user in self.deal.admins

    @property
    def message_key(self) -> str:
        """The unique source key of this message in the ledger."""
        if self.cmd.message_id:
            return f"{self.cmd.chat}:{self.cmd.message_id}"
        # No platform id (console typing): every message is new.
        return f"{self.cmd.chat}:local-{uuid.uuid4().hex}"


Handler = Callable[[Context], Awaitable[list[Outgoing]]]


async def person_locale(ledger: LedgerReader, person: str) -> str | None:
    """The language of the deals ``person`` belongs to (member, admin or contact), when they
    all use one; ``None`` otherwise.

    For a chat no deal is linked to yet: an admin who adds the bot to a new Chinese group and
    sends /whoami or /link is answered in Chinese, before any deal can say so.
    """
    locales = set()
    for deal_id in await ledger.list_deals():
        current = await ledger.current_deal(deal_id)
        if current is None:
            continue
        deal = current[0]
        listed = deal.side_of_member(person) is not None or person in deal.admins
        if listed or any(c.who == person for c in deal.contacts):
            locales.add(deal.locale)
    return next(iter(locales)) if len(locales) == 1 else None


@dataclass(frozen=True)
class Route:
    """A command's handler and what it needs."""

    handler: Handler
    needs_deal: bool = True
    admin: bool = False
    help_key: str | None = None


