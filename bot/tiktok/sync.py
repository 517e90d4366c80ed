"""The daily sync: the shop's LIVE sessions and daily performance into the platform source."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from bot.tiktok.api import (
    LIVES_PATH,
    SHOP_PERFORMANCE_PATH,
    ApiError,
    JsonValue,
    TikTokShopApi,
    TokenExpired,
)
from bot.tiktok.store import Link, LinkStore
from kpi.model import Deal
from kpi.periods import business_day
from kpi.platform.parse import ParsedExport, PlatformRow, live_key
from kpi.platform.store import ImportResult, PlatformStore, Uploader

__all__ = ["API_UPLOADER", "NotLinked", "RefreshFailed", "SyncResult", "Syncer", "WrongCurrency"]

API_UPLOADER = Uploader("tiktok-api", "TikTok Shop API", "api")
"""Who stored the rows a sync brings (as /history shows it)."""
_REFRESH_AHEAD = dt.timedelta(hours=12)
_PAGE_SIZE = "100"


class NotLinked(LookupError):
    """The deal has no TikTok shop linked (``kpibot tiktok connect`` first)."""


class RefreshFailed(Exception):
    """The tokens could not be refreshed: the seller has to authorize the app again."""


class WrongCurrency(ValueError):
    """The API answered in another currency than the deal's."""

    def __init__(self, currency: str) -> None:
        """Keep the currency the API used."""
        super().__init__(currency)
        self.currency = currency


@dataclass
class SyncResult:
    """What one sync did: days fetched, days now final, sessions seen and newly stored."""

    fetched: list[dt.date] = field(default_factory=list)
    final: list[dt.date] = field(default_factory=list)
    rows: int = 0
    stored: int = 0
    days_stored: int = 0
    """Days whose shop performance was new or changed."""
    latest: dt.date | None = None


def _count(value: JsonValue) -> Decimal:
    return Decimal(str(value if value not in (None, "") else 0))


def session_row(deal: Deal, item: dict[str, Any], number: int) -> PlatformRow:
    """One session of the LIVE performance list as an import's row (the same natural key).

    Raises:
        WrongCurrency: Its GMV is not in the deal's currency.
    """
    zone = ZoneInfo(deal.timezone)
    start = dt.datetime.fromtimestamp(int(item["start_time"]), zone)
    end = dt.datetime.fromtimestamp(int(item.get("end_time") or item["start_time"]), zone)
    # The export gives launch times to the minute; so does the key.
    local = start.replace(tzinfo=None, second=0, microsecond=0)
    sales = item.get("sales_performance") or {}
    seen = item.get("interaction_performance") or {}
    gmv = sales.get("gmv") or {}
    if gmv.get("currency", deal.currency) != deal.currency:
        raise WrongCurrency(str(gmv["currency"]))
    values = {
        "live_gmv": _count(gmv.get("amount")),
        "live_orders": _count(sales.get("sku_orders")),
        "items_sold": _count(sales.get("items_sold")),
        "customers": _count(sales.get("customers")),
        "viewers": _count(seen.get("viewers")),
        "views": _count(seen.get("views")),
        "sessions": Decimal(1),
    }
    creator = str(item.get("username", ""))
    detail = {
        "creator_id": creator,
        "creator": creator,
        "nickname": "",
        "duration": str(int((end - start).total_seconds())),
    }
    key = live_key(creator, local)
    return PlatformRow("live", key, number, local, zone, local.date(), values, detail)


def _amount(value: JsonValue) -> Decimal:
    """A figure as the shop performance gives it: a number, ``{"amount": ...}`` or a list
    of those (a breakdown whose first entry is the total)."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("amount")
    return _count(value)


def shop_row(deal: Deal, interval: dict[str, Any]) -> PlatformRow:
    """One day of the shop performance as a ``shop`` row (key: the day).

    Raises:
        WrongCurrency: Its GMV is not in the deal's currency.
    """
    gmv = interval.get("gmv")
    first = (gmv[0] if gmv else {}) if isinstance(gmv, list) else (gmv or {})
    if isinstance(first, dict) and first.get("currency", deal.currency) != deal.currency:
        raise WrongCurrency(str(first["currency"]))
    day = dt.date.fromisoformat(str(interval["start_date"]))
    values = {
        "shop_gmv": _amount(gmv),
        "shop_orders": _amount(interval.get("orders")),
        "shop_items_sold": _amount(interval.get("units_sold")),
        "shop_customers": _amount(interval.get("buyers")),
    }
    local = dt.datetime.combine(day, dt.time())
    return PlatformRow("shop", day.isoformat(), 1, local, ZoneInfo(deal.timezone), day, values, {})


class Syncer:
    """Pulls a deal's days that are not final yet, page by page, through refreshed tokens."""

    def __init__(
        self,
        api: TikTokShopApi,
        links: LinkStore,
        platform: PlatformStore,
        now: Callable[[], dt.datetime],
    ) -> None:
        """Create the syncer over the API client and the stores."""
        self._api = api
        self._links = links
        self._platform = platform
        self._now = now

    async def _refresh(self, link: Link) -> Link:
        try:
            tokens = await self._api.token_refresh(link.tokens.refresh_token)
        except ApiError as exc:
            raise RefreshFailed(str(exc)) from exc
        await self._links.save_tokens(link.deal_id, tokens, self._now())
        return Link(link.deal_id, link.shop, tokens)

    async def _tokens(self, deal_id: str) -> Link:
        link = await self._links.get(deal_id)
        if link is None:
            raise NotLinked(deal_id)
        if link.tokens.access_expires - self._now() < _REFRESH_AHEAD:
            link = await self._refresh(link)  # refreshed before it expires
        return link

    async def _page(self, link: Link, path: str, params: dict[str, str]) -> tuple[Link, Any]:
        """One page; an expired token is refreshed once, then the failure is reported."""
        try:
            data = await self._api.get(
                path, params, access_token=link.tokens.access_token, cipher=link.shop.cipher
            )
            return link, data
        except TokenExpired:
            link = await self._refresh(link)
        try:
            data = await self._api.get(
                path, params, access_token=link.tokens.access_token, cipher=link.shop.cipher
            )
        except TokenExpired as exc:
            raise RefreshFailed(str(exc)) from exc
        return link, data

    async def sync(self, deal: Deal, *, since: dt.date | None = None) -> SyncResult:
        """Fetch every day not final from ``since`` to yesterday (or the deal's last day).

        ``since`` defaults to the deal's start (and is never before it).

        Each page is stored as it arrives (one import per page), so a sync stopped halfway
        keeps what it stored; the next one fetches the unfinished day again and stores only
        what is new. A day becomes final once ``latest_available_date`` has reached it.

        Raises:
            NotLinked: No shop is linked to the deal.
            RefreshFailed: The tokens could not be refreshed.
            WrongCurrency: The API's figures are not in the deal's currency.
            ApiError: Any other refusal (after the retries).
        """
        result = SyncResult()
        link = await self._tokens(deal.id)
        yesterday = business_day(self._now(), deal.timezone) - dt.timedelta(days=1)
        if deal.ends is not None:
            yesterday = min(yesterday, deal.ends)  # an ended deal's shop is not fetched on
        first = max(since or deal.starts, deal.starts)
        final = await self._links.final_days(deal.id, first, yesterday)
        day = first
        while day <= yesterday:
            if day not in final:
                link = await self._sync_day(deal, link, day, result)
            day += dt.timedelta(days=1)
        return result

    async def _sync_day(self, deal: Deal, link: Link, day: dt.date, result: SyncResult) -> Link:
        params = {
            "start_date_ge": day.isoformat(),
            "end_date_lt": (day + dt.timedelta(days=1)).isoformat(),
            "page_size": _PAGE_SIZE,
            "currency": "LOCAL",
            "sort_field": "gmv",
            "sort_order": "DESC",
        }
        latest: dt.date | None = None
        page = 0
        while True:
            link, data = await self._page(link, LIVES_PATH, params)
            sessions = data.get("live_stream_sessions") or []
            rows = [session_row(deal, s, i + 1) for i, s in enumerate(sessions)]
            if data.get("latest_available_date"):
                latest = dt.date.fromisoformat(str(data["latest_available_date"]))
            if rows:
                name = f"LIVE sessions {day.isoformat()} page {page + 1}"
                stored = await self._store(deal, ParsedExport("live", rows), data, name)
                result.rows += stored.rows
                result.stored += stored.stored
            page += 1
            token = data.get("next_page_token")
            if not token:
                break
            params["page_token"] = str(token)
        link, shop_latest = await self._shop_day(deal, link, day, result)
        # Final only when both lists have the day for good.
        latest = min(latest, shop_latest) if latest and shop_latest else None
        result.fetched.append(day)
        result.latest = latest or result.latest
        done = latest is not None and day <= latest
        await self._links.mark_day(deal.id, day, done, self._now())
        if done:
            result.final.append(day)
        return link

    async def _store(
        self, deal: Deal, parsed: ParsedExport, data: dict[str, Any], name: str
    ) -> ImportResult:
        """Store one API answer like an imported file (its JSON is the file's bytes)."""
        return await self._platform.import_export(
            deal.id,
            parsed,
            data=json.dumps(data, sort_keys=True).encode(),
            file_name=name,
            uploader=API_UPLOADER,
            now=self._now(),
            record_unchanged=False,
        )

    async def _shop_day(
        self, deal: Deal, link: Link, day: dt.date, result: SyncResult
    ) -> tuple[Link, dt.date | None]:
        """The shop performance of one day, stored as one ``shop`` row."""
        params = {
            "start_date_ge": day.isoformat(),
            "end_date_lt": (day + dt.timedelta(days=1)).isoformat(),
            "granularity": "1D",
            "currency": "LOCAL",
        }
        link, data = await self._page(link, SHOP_PERFORMANCE_PATH, params)
        intervals = (data.get("performance") or {}).get("intervals") or []
        rows = [shop_row(deal, i) for i in intervals if i.get("start_date") == day.isoformat()]
        if rows:
            name = f"shop performance {day.isoformat()}"
            stored = await self._store(deal, ParsedExport("shop", rows), data, name)
            result.days_stored += stored.stored
        latest = data.get("latest_available_date")
        return link, dt.date.fromisoformat(str(latest)) if latest else None
