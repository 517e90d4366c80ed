"""What ``kpibot tiktok connect`` and ``kpibot tiktok sync`` do, over a built core."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import aiohttp

from bot.i18n import t
from bot.settings import Settings
from bot.tiktok.api import ApiError
from bot.tiktok.connect import STATE_SECONDS, Connector, authorize_url, open_api
from bot.tiktok.store import LinkStore, Vault
from bot.tiktok.sync import NotLinked, RefreshFailed, Syncer, WrongCurrency
from bot.web import Route
from kpi.platform.store import PlatformStore

if TYPE_CHECKING:
    from bot.app import Core

__all__ = ["connect_text", "sync_text", "tiktok_routes", "vault_of"]


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
    links = LinkStore(core.ledger.engine, vault)
    return Connector(settings, links, vault, core.router.current_deal, core.clock.now).routes()


async def connect_text(core: Core, deal_id: str) -> str:
    """The authorization link for the deal's seller, with what to do with it.

    Raises:
        LookupError: The deal is unknown.
    """
    current = await core.ledger.current_deal(deal_id)
    if current is None:
        raise LookupError(deal_id)
    url = authorize_url(core.settings, vault_of(core.settings), deal_id, core.clock.now())
    return t("tiktok.connect_link", current[0].locale, deal=deal_id,
             minutes=STATE_SECONDS // 60, url=url)  # fmt: skip


async def sync_text(core: Core, deal_id: str, since: dt.date | None) -> tuple[int, str]:
    """Sync the deal's shop; the exit status and the line to print, in the deal's language.

    Raises:
        LookupError: The deal is unknown.
    """
    current = await core.ledger.current_deal(deal_id)
    if current is None:
        raise LookupError(deal_id)
    deal = current[0]
    links = LinkStore(core.ledger.engine, vault_of(core.settings))
    try:
        async with open_api(core.settings, core.clock.now) as api:
            syncer = Syncer(api, links, PlatformStore(core.ledger.engine), core.clock.now)
            result = await syncer.sync(deal, since=since)
    except NotLinked:
        return 1, t("tiktok.not_linked", deal.locale, deal=deal_id)
    except RefreshFailed as exc:
        return 1, t("tiktok.refresh_failed", deal.locale, deal=deal_id, error=str(exc))
    except WrongCurrency as exc:
        return 1, t("tiktok.wrong_currency", deal.locale, deal=deal_id,
                    currency=exc.currency, expected=deal.currency)  # fmt: skip
    except (ApiError, aiohttp.ClientError) as exc:
        return 1, t("tiktok.api_failed", deal.locale, deal=deal_id, error=str(exc) or "timeout")
    if not result.fetched:
        return 0, t("tiktok.nothing_to_sync", deal.locale, deal=deal_id)
    latest = result.latest.isoformat() if result.latest else "?"
    return 0, t("tiktok.synced", deal.locale, deal=deal_id, days=len(result.fetched),
                final=len(result.final), rows=result.rows, stored=result.stored,
                latest=latest)  # fmt: skip
