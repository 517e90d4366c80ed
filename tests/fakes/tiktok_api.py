"""A fake TikTok Shop: token get/refresh, authorized shops and the LIVE sessions list.

It runs on 127.0.0.1 (port 0); the real aiohttp client of ``bot.tiktok.api`` talks to it. Every
Open API request's signature is recomputed here (independently of ``bot.tiktok.sign``) and its
timestamp checked against the fake's clock (5 minutes, as TikTok does); a bad one is answered
106001 and recorded in ``refused``. Results are paged with ``page_token``. Cues: ``fail`` (HTTP
statuses to answer next, e.g. 429 or 503), ``expire`` (answer 105002 to the next N requests),
``refresh_broken`` (the refresh endpoint refuses), ``down`` (which LIVE list requests fail).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiohttp import web

APP_KEY = "29a39d"
APP_SECRET = "e59af819cc"
AUTH_CODE = "TTP_code_1"
SHOP_CIPHER = "ROW_fake_cipher"


def _expected_sign(path: str, query: dict[str, str]) -> str:
    keys = sorted(k for k in query if k not in ("sign", "access_token"))
    text = APP_SECRET + path + "".join(k + query[k] for k in keys) + APP_SECRET
    return hmac.new(APP_SECRET.encode(), text.encode(), hashlib.sha256).hexdigest()


@dataclass
class FakeTikTokShop:
    """The fake server's state: its clock, sessions per day, cues and what it received."""

    now: Callable[[], dt.datetime]
    sessions: dict[dt.date, list[dict[str, Any]]] = field(default_factory=dict)
    latest_available: dt.date | None = None
    page_size: int = 2
    fail: list[int] = field(default_factory=list)
    expire: int = 0
    refresh_broken: bool = False
    down: Callable[[dict[str, str]], bool] | None = None
    hang: Callable[[dict[str, str]], bool] | None = None
    """LIVE list requests this is true of get no answer until the fake stops (``hung`` is set
    when one arrives): the client is killed there."""
    hung: asyncio.Event = field(default_factory=asyncio.Event)
    _release: asyncio.Event = field(default_factory=asyncio.Event)
    """LIVE list requests this is true of are answered 503 (a service down mid-sync)."""
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    access_tokens: set[str] = field(default_factory=set)
    refresh_tokens: set[str] = field(default_factory=set)
    port: int = 0
    _runner: web.AppRunner | None = None
    _serial: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def start(self) -> FakeTikTokShop:
        """Serve on a free port."""
        app = web.Application()
        app.router.add_get("/api/v2/token/get", self._token_get)
        app.router.add_get("/api/v2/token/refresh", self._token_refresh)
        app.router.add_get("/authorization/202309/shops", self._shops)
        app.router.add_get("/analytics/202509/shop_lives/performance", self._lives)
        app.router.add_get("/analytics/202405/shop/performance", self._shop)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def aclose(self) -> None:
        """Stop serving (answering the requests left hanging first)."""
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base(self) -> str:
        """The server's address (both the API and the auth URL)."""
        return f"http://127.0.0.1:{self.port}"

    def _cue(self, request: web.Request) -> web.Response | None:
        self.requests.append((request.path, dict(request.query)))
        if self.fail:
            return web.json_response({"code": 0, "message": "busy"}, status=self.fail.pop(0))
        return None

    def _tokens(self) -> dict[str, Any]:
        n = next(self._serial)
        access, refresh = f"TTP_access_{n}", f"TTP_refresh_{n}"
        self.access_tokens.add(access)
        self.refresh_tokens.add(refresh)
        now = int(self.now().timestamp())
        data = {
            "access_token": access,
            "access_token_expire_in": now + 7 * 86400,
            "refresh_token": refresh,
            "refresh_token_expire_in": now + 180 * 86400,
            "seller_name": "Acme US",
        }
        return {"code": 0, "message": "success", "data": data}

    async def _token_get(self, request: web.Request) -> web.Response:
        cued = self._cue(request)
        if cued is not None:
            return cued
        q = request.query
        ok = q.get("app_secret") == APP_SECRET and q.get("auth_code") == AUTH_CODE
        if not ok or q.get("grant_type") != "authorized_code" or q.get("app_key") != APP_KEY:
            return web.json_response({"code": 36004009, "message": "invalid auth code"})
        return web.json_response(self._tokens())

    async def _token_refresh(self, request: web.Request) -> web.Response:
        cued = self._cue(request)
        if cued is not None:
            return cued
        q = request.query
        token = q.get("refresh_token", "")
        if self.refresh_broken or token not in self.refresh_tokens:
            return web.json_response({"code": 36004010, "message": "refresh token is invalid"})
        self.refresh_tokens.discard(token)
        return web.json_response(self._tokens())

    def _check(self, request: web.Request) -> web.Response | None:
        """A signed, timely request with a valid token; else the API's refusal."""
        q = dict(request.query)
        if q.get("app_key") != APP_KEY or q.get("sign") != _expected_sign(request.path, q):
            self.refused.append("sign")
            return web.json_response({"code": 106001, "message": "sign is invalid"}, status=401)
        stamp = int(q.get("timestamp", "0"))
        if abs(stamp - self.now().timestamp()) > 300:
            self.refused.append("timestamp")
            return web.json_response({"code": 106002, "message": "timestamp expired"}, status=401)
        token = request.headers.get("x-tts-access-token", "")
        if self.expire > 0 or token not in self.access_tokens:
            self.expire = max(0, self.expire - 1)
            self.access_tokens.discard(token)
            return web.json_response({"code": 105002, "message": "access token expired"})
        return None

    async def _shops(self, request: web.Request) -> web.Response:
        refused = self._cue(request) or self._check(request)
        if refused is not None:
            return refused
        shop = {"id": "7000001", "name": "Acme US", "region": "US", "cipher": SHOP_CIPHER}
        return web.json_response({"code": 0, "message": "success", "data": {"shops": [shop]}})

    async def _lives(self, request: web.Request) -> web.Response:
        refused = self._cue(request) or self._check(request)
        if refused is not None:
            return refused
        q = request.query
        if self.hang is not None and self.hang(dict(q)):
            self.hung.set()
            await self._release.wait()
        if self.down is not None and self.down(dict(q)):
            return web.json_response({"code": 0, "message": "unavailable"}, status=503)
        if q.get("shop_cipher") != SHOP_CIPHER:
            return web.json_response({"code": 106011, "message": "shop_cipher is invalid"})
        first = dt.date.fromisoformat(q["start_date_ge"])
        last = dt.date.fromisoformat(q["end_date_lt"])
        days = sorted(self.sessions.items())
        found = [s for d, items in days if first <= d < last for s in items]
        start = int(q.get("page_token") or 0)
        size = min(int(q.get("page_size", "10")), self.page_size)
        page = found[start : start + size]
        more = start + size < len(found)
        data = {
            "live_stream_sessions": page,
            "next_page_token": str(start + size) if more else "",
            "total_count": len(found),
            "latest_available_date": (self.latest_available or first).isoformat(),
        }
        return web.json_response({"code": 0, "message": "success", "data": data})

    async def _shop(self, request: web.Request) -> web.Response:
        """The shop's daily performance: here, the day's sessions added up."""
        refused = self._cue(request) or self._check(request)
        if refused is not None:
            return refused
        q = request.query
        first = dt.date.fromisoformat(q["start_date_ge"])
        last = dt.date.fromisoformat(q["end_date_lt"])
        intervals = []
        for day, items in sorted(self.sessions.items()):
            if not first <= day < last:
                continue
            gmv = sum(Decimal(s["sales_performance"]["gmv"]["amount"]) for s in items)
            intervals.append(
                {
                    "start_date": day.isoformat(),
                    "end_date": (day + dt.timedelta(days=1)).isoformat(),
                    "gmv": [{"amount": str(gmv), "currency": "USD"}],
                    "orders": [{"amount": len(items)}],
                    "units_sold": [{"amount": 4 * len(items)}],
                    "buyers": [{"amount": 2 * len(items)}],
                }
            )
        data = {
            "performance": {"intervals": intervals},
            "latest_available_date": (self.latest_available or first).isoformat(),
        }
        return web.json_response({"code": 0, "message": "success", "data": data})


def session(
    ident: str, start: dt.datetime, minutes: int, gmv: str, viewers: int, *, user: str = "acme"
) -> dict[str, Any]:
    """One LIVE session as the performance list gives it (GMV in USD)."""
    begin = int(start.timestamp())
    return {
        "id": ident,
        "title": f"LIVE {ident}",
        "username": user,
        "start_time": begin,
        "end_time": begin + minutes * 60,
        "sales_performance": {
            "gmv": {"amount": gmv, "currency": "USD"},
            "sku_orders": 3,
            "items_sold": 4,
            "customers": 2,
        },
        "interaction_performance": {"viewers": viewers, "views": viewers * 2},
    }
