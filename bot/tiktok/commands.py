"""What ``kpibot tiktok connect`` and ``kpibot tiktok sync`` do, over a built core."""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Literal, Protocol
from zoneinfo import ZoneInfo

import aiohttp

from bot.core import Outgoing
from bot.core.i18n import t
from bot.settings import Settings
from bot.tiktok.api import ApiError
from bot.tiktok.connect import STATE_SECONDS, Connector, authorize_url, open_api
from bot.tiktok.store import LinkStore, Vault
from bot.tiktok.sync import NotLinked, RefreshFailed, Syncer, WrongCurrency
from bot.web import Route
from kpi.model import Deal
from kpi.platform.store import PlatformStore

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from bot.core import Clock, Delivered


class Core(Protocol):
    """What the TikTok Shop connection needs of the running bot (``bot.app.Core``), said
    structurally so that this adapter never imports the wiring."""

    settings: Settings
    engine: AsyncEngine
    clock: Clock

    async def current_deal(self, deal_id: str) -> tuple[Deal, int] | None: ...

    async def list_deals(self) -> list[str]: ...

    async def deliver(self, msg: Outgoing) -> Delivered: ...

__all__ = ["DailySync", "connect_text", "sync_outcome", "sync_text", "tiktok_routes", "vault_of"]

log = logging.getLogger(__name__)

Outcome = Literal["ok", "not_linked", "refresh_failed", "failed"]


def vault_of(settings: Settings) -> Vault:
    """The token vault of the configured ``SECRET_KEY``."""
    assert settings.secret_key is not None
    return Vault(settings.secret_key.get_secret_value())


def tiktok_routes(core: Core) -> list[Route]:
    """``/tiktok/callback`` for the bot's HTTP server (none while the connection is off)."""
    settings = core.settings
    if not settings.tiktok_enabled:
        return []
    vault = vault_of(settings)
    links = LinkStore(core.engine, vault)
    return Connector(settings, links, vault, core.current_deal, core.clock.now).routes()


async def connect_text(core: Core, deal_id: str) -> str:
    """The authorization link for the deal's seller, with what to do with it.

    Raises:
        LookupError: The deal is unknown.
    """
    current = await core.current_deal(deal_id)
    if current is None:
        raise LookupError(deal_id)
    url = authorize_url(core.settings, vault_of(core.settings), deal_id, core.clock.now())
    return t("tiktok.connect_link", current[0].locale, deal=deal_id,
             minutes=STATE_SECONDS // 60, url=url)  # fmt: skip


async def sync_outcome(core: Core, deal: Deal, since: dt.date | None) -> tuple[Outcome, str]:
    """Sync the deal's shop; what happened and the line saying so, in the deal's language."""
    links = LinkStore(core.engine, vault_of(core.settings))
    deal_id = deal.id
    try:
        async with open_api(core.settings, core.clock.now) as api:
            syncer = Syncer(api, links, PlatformStore(core.engine), core.clock.now)
            result = await syncer.sync(deal, since=since)
    except NotLinked:
        return "not_linked", t("tiktok.not_linked", deal.locale, deal=deal_id)
    except RefreshFailed as exc:
        text = t("tiktok.refresh_failed", deal.locale, deal=deal_id, error=str(exc))
        return "refresh_failed", text
    except WrongCurrency as exc:
        return "failed", t("tiktok.wrong_currency", deal.locale, deal=deal_id,
                           currency=exc.currency, expected=deal.currency)  # fmt: skip
    except (ApiError, aiohttp.ClientError, TimeoutError) as exc:
        error = str(exc) or type(exc).__name__
        return "failed", t("tiktok.api_failed", deal.locale, deal=deal_id, error=error)
    if not result.fetched:
        return "ok", t("tiktok.nothing_to_sync", deal.locale, deal=deal_id)
    latest = result.latest.isoformat() if result.latest else "?"
    return "ok", t("tiktok.synced", deal.locale, deal=deal_id, days=len(result.fetched),
                   final=len(result.final), rows=result.rows, stored=result.stored,
                   shop=result.days_stored, latest=latest)  # fmt: skip


async def sync_text(core: Core, deal_id: str, since: dt.date | None) -> tuple[int, str]:
    """``kpibot tiktok sync``: the exit status and the line to print.

    Raises:
        LookupError: The deal is unknown.
    """
    current = await core.current_deal(deal_id)
    if current is None:
        raise LookupError(deal_id)
    outcome, text = await sync_outcome(core, current[0], since)
    return (0 if outcome == "ok" else 1), text


class DailySync:
    """The scheduled sync: each deal with ``schedule: platform_sync`` once a day, at that time.

    Runs in ``core.tick`` (so replay drives it too). Which deals ran today is kept in memory:
    after a restart a deal may sync twice that day, which stores nothing new. A refresh that
    fails is escalated to the deal's admins in each of its chats.
    """

    def __init__(self, core: Core) -> None:
        """Create the job over the running core."""
        self._core = core
        self._done: dict[str, dt.date] = {}

    async def tick(self, now: dt.datetime) -> None:
        """Sync every deal whose sync time has come today and that has not synced today."""
        for deal_id in await self._core.list_deals():
            current = await self._core.current_deal(deal_id)
            deal = current[0] if current else None
            if deal is None or deal.schedule.platform_sync is None:
                continue
            local = now.astimezone(ZoneInfo(deal.timezone))
            if (
                local.time() < deal.schedule.platform_sync
                or self._done.get(deal_id) == local.date()
            ):
                continue
            self._done[deal_id] = local.date()
            await self._run(deal)

    async def _run(self, deal: Deal) -> None:
        outcome, text = await sync_outcome(self._core, deal, None)
        log.info("tiktok daily sync", extra={"deal": deal.id, "outcome": outcome})
        if outcome != "refresh_failed":
            return
        for chat in deal.chats:
            sent = await self._core.deliver(
                Outgoing(to=chat.id, text=text, kind="escalation", mentions=deal.admins)
            )
            if not sent.ok:
                log.warning(
                    "tiktok escalation not sent", extra={"chat": chat.id, "error": sent.error}
                )
