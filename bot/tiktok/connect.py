"""Shop authorization: the link a seller opens, and the callback that links the shop."""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from bot.core.i18n import t
from bot.settings import Settings
from bot.tiktok.api import ApiError, TikTokShopApi
from bot.tiktok.store import LinkStore, Vault
from bot.web import Route
from kpi.model import Deal

__all__ = ["STATE_SECONDS", "Connector", "authorize_url", "open_api"]

log = logging.getLogger(__name__)

STATE_SECONDS = 3600
"""How long an authorization link stays usable."""
_PARTNER_AUTHORIZE = "https://services.tiktokshop.com/open/authorize"


def authorize_url(settings: Settings, vault: Vault, deal_id: str, now: dt.datetime) -> str:
    """The link the seller opens to authorize the agency's app for the deal's shop.

    ``state`` carries the deal id, sealed and time-stamped, so the callback knows the deal and
    refuses a forged or stale one.
    """
    state = vault.seal(deal_id, now)
    if settings.tiktok_shop_service_id:
        query = {"service_id": settings.tiktok_shop_service_id, "state": state}
        return f"{_PARTNER_AUTHORIZE}?{urlencode(query)}"
    query = {"app_key": settings.tiktok_shop_app_key or "", "state": state}
    return f"{settings.tiktok_shop_auth_url.rstrip('/')}/oauth/authorize?{urlencode(query)}"


@contextlib.asynccontextmanager
async def open_api(
    settings: Settings, now: Callable[[], dt.datetime]
) -> AsyncIterator[TikTokShopApi]:
    """A client of the configured API, over its own HTTP session (closed on exit)."""
    assert settings.tiktok_shop_app_key and settings.tiktok_shop_app_secret
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        yield TikTokShopApi(
            session,
            app_key=settings.tiktok_shop_app_key,
            app_secret=settings.tiktok_shop_app_secret.get_secret_value(),
            api_url=settings.tiktok_shop_api_url,
            auth_url=settings.tiktok_shop_auth_url,
            now=now,
        )


class Connector:
    """``GET /tiktok/callback``: exchange the code, list the shops, link the shop to the deal."""

    def __init__(
        self,
        settings: Settings,
        links: LinkStore,
        vault: Vault,
        deals: Callable[[str], Awaitable[tuple[Deal, int] | None]],
        now: Callable[[], dt.datetime],
    ) -> None:
        """Create the callback over the link store and the deals."""
        self._settings = settings
        self._links = links
        self._vault = vault
        self._deals = deals
        self._now = now

    def routes(self) -> list[Route]:
        """The callback's route for the bot's HTTP server."""
        return [("GET", "/tiktok/callback", self.callback)]

    async def callback(self, request: web.Request) -> web.Response:
        """Link the authorized shop; a page says what happened, in the deal's language."""
        code = request.query.get("code", "")
        try:
            deal_id = self._vault.open(request.query.get("state", ""), self._now(), STATE_SECONDS)
        except ValueError:
            return _page(t("tiktok.callback_bad_state", "en"), 400)
        current = await self._deals(deal_id)
        if current is None or not code:
            return _page(t("tiktok.callback_bad_state", "en"), 400)
        deal = current[0]
        try:
            async with open_api(self._settings, self._now) as api:
                tokens = await api.token_get(code)
                shops = await api.shops(tokens.access_token)
        except (ApiError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("tiktok authorization failed", extra={"deal": deal_id, "error": str(exc)})
            return _page(t("tiktok.callback_failed", deal.locale, error=str(exc)), 502)
        if not shops:
            return _page(t("tiktok.callback_no_shop", deal.locale), 400)
        await self._links.link(deal_id, shops[0], tokens, self._now())
        log.info("tiktok shop linked", extra={"deal": deal_id, "shop": shops[0].id})
        text = t("tiktok.callback_linked", deal.locale, shop=shops[0].name,
                 region=shops[0].region, deal=deal_id)  # fmt: skip
        return _page(text, 200)


def _page(text: str, status: int) -> web.Response:
    body = f"<!doctype html><meta charset=utf-8><title>kpibot</title><p>{html.escape(text)}</p>"
    return web.Response(text=body, status=status, content_type="text/html")
