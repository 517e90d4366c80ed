"""The command router: from a neutral ``Command`` to a handler, with deal and side resolved.

Commands map to handlers in one registry (``handlers.REGISTRY``); the router finds the deal the
chat may see, the person's side and the language, and turns errors into clear replies. A chat
sees only the deals linked to it: anything else gets the same answer as a deal that does not
exist, so nothing leaks.
"""

from __future__ import annotations

import difflib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, TypeVar

from cachetools import TTLCache

from bot.core import Clock, Command, Outgoing, platform_of
from bot.core.context import Context, Route, person_locale
from bot.core.i18n import join_list, quote, user_params
from bot.core.ports import LedgerPort, Services
from kpi.commands import extract_deal_tag, split_command
from kpi.errors import StorageError, UserError
from kpi.model import Deal

log = logging.getLogger("kpibot.router")

_CJK = re.compile(r"[\u4e00-\u9fff]")
UMBRELLA = "kpibot"
"""``/kpibot COMMAND ...`` is ``/COMMAND ...`` on every platform (Slack registers it)."""


V = TypeVar("V")


_SHOWN = 64
"""A word of the input that an error quotes back is shown at most this long: it is whatever
was typed, and a webhook update can carry a 100,000-character word (once 25 messages back)."""
_LISTS = frozenset({"known", "chats", "formula", "inputs", "pairs", "items"})
"""Error parameters the bot itself composes (lists of metrics or chats, a formula): whole."""


def _shortened(params: Mapping[str, Any]) -> dict[str, Any]:
    """An error's parameters with every quoted input cut to :data:`_SHOWN` characters."""
    return {
        key: value[: _SHOWN - 1] + "…"
        if isinstance(value, str) and len(value) > _SHOWN and key not in _LISTS
        else value
        for key, value in params.items()
    }


class _Expiring(Generic[V]):
    """Values loaded by key, kept for ``seconds`` and at most ``size`` of them.

    Keys are chat and deal ids, which anyone who can message the bot chooses: the least
    recently used go first, so the cache never grows past ``size``."""

    def __init__(
        self, seconds: float, size: int = 10_000, timer: Callable[[], float] = time.monotonic
    ) -> None:
        self.seconds = seconds
        self._items: TTLCache[str, V] = TTLCache(size, seconds, timer=timer)

    def __len__(self) -> int:
        return len(self._items)

    async def get(self, key: str, load: Callable[[str], Awaitable[V]]) -> V:
        try:
            return self._items[key]
        except KeyError:
            pass
        value = await load(key)
        self._items[key] = value
        return value

    def clear(self) -> None:
        self._items.clear()


class Router:
    """Dispatches commands to handlers."""

    def __init__(
        self,
        routes: Mapping[str, Route],
        *,
        ledger: LedgerPort,
        clock: Clock,
        services: Services,
        aliases: Mapping[str, str] | None = None,
        bot_names: tuple[str, ...] = (),
        default_locale: str = "en",
        cache_seconds: float = 5.0,
        cache_size: int = 10_000,
        cache_timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.routes = dict(routes)
        self.aliases = dict(aliases or {})
        self.ledger = ledger
        self.clock = clock
        self.services = services
        self.bot_names = bot_names
        self.default_locale = default_locale
        # Chat links and current deal versions are read on every command; a short-lived cache
        # keeps them off the hot path. Changes made in this process clear it at once; a change
        # made by another replica is seen within ``cache_seconds``.
        self._links: _Expiring[list[tuple[str, str]]] = _Expiring(
            cache_seconds, cache_size, cache_timer
        )
        self._deals: _Expiring[tuple[Deal, int] | None] = _Expiring(
            cache_seconds, cache_size, cache_timer
        )

    def forget(self) -> None:
        """Drop cached links and deals (after a deal is applied or a chat is (un)linked)."""
        self._links.clear()
        self._deals.clear()

    def cached(self) -> tuple[int, int]:
        """How many chats' links and deals' versions the cache holds now (bounded by
        ``cache_size``: anyone who can message the bot chooses the keys)."""
        return len(self._links), len(self._deals)

    async def links(self, chat: str) -> list[tuple[str, str]]:
        """The deals linked to ``chat`` (cached briefly)."""
        return await self._links.get(chat, self.ledger.deals_for_chat)

    async def current_deal(self, deal_id: str) -> tuple[Deal, int] | None:
        """A deal's current version (cached briefly)."""
        return await self._deals.get(deal_id, self.ledger.current_deal)

    def _guess_locale(self, text: str) -> str:
        return "zh" if _CJK.search(text) else self.default_locale

    async def handle(self, cmd: Command) -> list[Outgoing]:
        """Answer one command. User and storage errors become replies; nothing is raised.

        Every command is logged once at INFO (``kpibot.router``) with the fields ``deal``,
        ``command`` (its name), ``chat``, ``platform``, ``outcome`` and ``ms``; the command's
        text only at DEBUG, since arguments may carry what a user should not have typed.
        """
        split = split_command(cmd.text, self.bot_names)
        if split is None:
            return []
        started = time.perf_counter()
        name, args = split
        if name == UMBRELLA:
            # Slack's umbrella form works everywhere: "/kpibot report gmv 1" is "/report gmv 1".
            words = args.split(maxsplit=1)
            name = words[0].lstrip("/").lower() if words else "help"
            args = words[1] if len(words) > 1 else ""
        name = self.aliases.get(name, name)
        ctx = Context(
            cmd=cmd,
            name=name,
            args=args,
            ledger=self.ledger,
            clock=self.clock,
            locale=self._guess_locale(cmd.text),
            services=self.services,
            forget=self.forget,
        )
        # _dispatch answers every Exception; only a cancellation (shutdown) gets past it.
        outcome = "interrupted"
        try:
            outcome, replies = await self._dispatch(ctx)
            if outcome == "ok" and any(r.kind == "error" for r in replies):
                outcome = "rejected"  # a handler that answered with an error itself
            return replies
        finally:
            fields = {
                "deal": ctx.deal.id if ctx.deal is not None else None,
                "command": name,
                "chat": cmd.chat,
                "platform": platform_of(cmd.chat),
                "outcome": outcome,
                "ms": round((time.perf_counter() - started) * 1000, 1),
            }
            log.info("command %s: %s", name, outcome, extra=fields)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("command text", extra={**fields, "text": cmd.text})

    def _unknown_text(self, ctx: Context, name: str) -> str:
        """An unknown command's reply, with the nearest command when one is close (``/reprot``:
        did you mean ``/report``?)."""
        near = difflib.get_close_matches(name, [*self.routes, *self.aliases], n=1, cutoff=0.6)
        if near:
            return ctx.t("router.unknown_command_near", command=quote(name), near=near[0])
        return ctx.t("router.unknown_command", command=quote(name))

    async def _dispatch(self, ctx: Context) -> tuple[str, list[Outgoing]]:
        """Run one command's route; returns its outcome and replies.

        Outcomes: ``ok``, ``unknown`` (no such command), ``refused`` (no deal this chat may
        see, or not an admin), ``rejected`` (a ``UserError``: the input or the state refused
        it), ``storage_failed``, ``failed`` (a bug; logged with its traceback).
        """
        name = ctx.name
        route = self.routes.get(name)
        if route is None:
            await self._chat_locale(ctx)
            return "unknown", [ctx.reply(self._unknown_text(ctx, name), kind="error")]
        try:
            if route.needs_deal:
                refusal = await self._resolve_deal(ctx)
                if refusal is not None:
                    return "refused", [refusal]
                if route.admin and not ctx.is_admin:
                    return "refused", [
                        ctx.reply(ctx.t("router.admin_only", command=name), kind="error")
                    ]
            return "ok", await route.handler(ctx)
        except UserError as exc:
            if ctx.deal is None:
                await self._chat_locale(ctx)
            params = user_params(_shortened(exc.params), ctx.locale, ctx.metric_label)
            return "rejected", [ctx.reply(ctx.t(exc.code, **params), kind="error")]
        except StorageError:
            from bot.core import metrics

            metrics.STORE_FAILURES.inc()
            log.exception("storage failure", extra={"command": name, "chat": ctx.cmd.chat})
            return "storage_failed", [ctx.reply(ctx.t("router.storage_failed"), kind="error")]
        except Exception:
            # A bug must not leave the person without an answer (nor a platform redelivering
            # forever): say it failed; a resent report is never counted twice.
            log.exception("command failed", extra={"command": name, "chat": ctx.cmd.chat})
            return "failed", [ctx.reply(ctx.t("router.internal_error"), kind="error")]

    async def _chat_locale(self, ctx: Context) -> None:
        """Before a deal is resolved, answer in the language of the chat's only deal (a guess
        from the command's characters otherwise): /foo in a Chinese group is answered in
        Chinese."""
        linked = await self.links(ctx.cmd.chat)
        if len({deal_id for deal_id, _ in linked}) == 1:
            current = await self.current_deal(linked[0][0])
            if current is not None:
                ctx.locale = current[0].locale
        elif not linked and ctx.locale != "zh":
            # No deal here yet (a group just joined): the person's deals know their language.
            ctx.locale = await person_locale(self.ledger, ctx.cmd.user) or ctx.locale

    async def _resolve_deal(self, ctx: Context) -> Outgoing | None:
        """Pick the deal this chat may see; a refusal message when there is none."""
        tag, rest = extract_deal_tag(ctx.args)
        ctx.args = rest
        linked = await self.links(ctx.cmd.chat)
        if ctx.cmd.is_direct and not linked:
            linked = await self._deals_of_person(ctx.cmd.user)
        ctx.linked = linked
        if not linked:
            await self._chat_locale(ctx)
            return ctx.reply(ctx.t("router.not_linked"), kind="error")
        if tag is not None:
            chosen = [(d, s) for d, s in linked if d == tag]
            if not chosen:
                return ctx.reply(ctx.t("router.not_linked_tag", tag=tag), kind="error")
        elif len(linked) > 1:
            names = join_list((f"#{d}" for d, _ in linked), ctx.locale)
            return ctx.reply(ctx.t("router.which_deal", deals=names), kind="error")
        else:
            chosen = linked
        deal_id, side = chosen[0]
        current = await self.current_deal(deal_id)
        if current is None:
            return ctx.reply(ctx.t("router.not_linked"), kind="error")
        ctx.deal = current[0]
        ctx.chat_side = side  # type: ignore[assignment]
        ctx.locale = ctx.deal.locale
        return None

    async def _deals_of_person(self, person: str) -> list[tuple[str, str]]:
        """In a direct message, the deals where the person is a member, admin or contact."""
        found: list[tuple[str, str]] = []
        for deal_id in await self.ledger.list_deals():
            current = await self.ledger.current_deal(deal_id)
            if current is None:
                continue
            deal = current[0]
            side = deal.listed_side(person)  # members, else their one contacts side
            if side is not None or person in deal.admins:
                found.append((deal_id, side or "shared"))
        return found
