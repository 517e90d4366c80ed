"""An aiohttp client of the TikTok Shop Open API: signed requests, backoff, tokens."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

import aiohttp

from bot.tiktok.sign import ANALYTICS_LIVE, ANALYTICS_SHOP, AUTHORIZATION, sign

__all__ = [
    "ApiError",
    "JsonValue",
    "Shop",
    "TikTokShopApi",
    "TokenExpired",
    "Tokens",
]

SHOPS_PATH = f"/authorization/{AUTHORIZATION}/shops"
LIVES_PATH = f"/analytics/{ANALYTICS_LIVE}/shop_lives/performance"
SHOP_PERFORMANCE_PATH = f"/analytics/{ANALYTICS_SHOP}/shop/performance"
TOKEN_GET_PATH = "/api/v2/token/get"
TOKEN_REFRESH_PATH = "/api/v2/token/refresh"

JsonValue: TypeAlias = "str | int | float | bool | list[JsonValue] | dict[str, JsonValue] | None"
"""A value of a JSON answer, as :func:`json.loads` gives it."""

# Codes the Open API answers for an access token that is expired or not valid (any longer).
EXPIRED_CODES = frozenset({105002, 105003, 36004004})
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class ApiError(Exception):
    """The API refused a request: its ``code`` and ``message`` (or an HTTP status as code)."""

    def __init__(self, code: int, message: str) -> None:
        """Keep the API's code and message."""
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class TokenExpired(ApiError):
    """The access token is expired or revoked: refresh it (once) and try again."""


@dataclass(frozen=True)
class Tokens:
    """An authorization's tokens and when they expire (aware, UTC)."""

    access_token: str
    access_expires: dt.datetime
    refresh_token: str
    refresh_expires: dt.datetime
    seller_name: str


@dataclass(frozen=True)
class Shop:
    """One authorized shop: its id, name, region and the ``cipher`` shop requests carry."""

    id: str
    name: str
    region: str
    cipher: str


def _epoch(value: int | str) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(str(value)), dt.UTC)


class TikTokShopApi:
    """Signed calls to the Open API and the authorization server.

    429 and 5xx answers are retried with exponential backoff and full jitter (``attempts``
    in all); ``sleep`` and ``now`` are passed in so tests need not wait or read the wall.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        app_key: str,
        app_secret: str,
        api_url: str,
        auth_url: str,
        now: Callable[[], dt.datetime],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        attempts: int = 6,
        base_delay: float = 1.0,
    ) -> None:
        """Create the client over an open session."""
        self._session = session
        self._key = app_key
        self._secret = app_secret
        self._api = api_url.rstrip("/")
        self._auth = auth_url.rstrip("/")
        self._now = now
        self._sleep = sleep
        self._attempts = attempts
        self._base = base_delay

    async def _send(self, url: str, params: Mapping[str, str], headers: Mapping[str, str]) -> Any:
        for attempt in range(self._attempts):
            async with self._session.get(url, params=dict(params), headers=dict(headers)) as r:
                if r.status in _RETRY_STATUS and attempt + 1 < self._attempts:
                    # Full jitter: many replicas backing off together must not retry together.
                    await self._sleep(random.uniform(0, self._base * 2**attempt))
                    continue
                text = await r.text()
            try:
                answer = json.loads(text)
            except ValueError:
                raise ApiError(r.status, text[:200]) from None
            code = int(answer.get("code", r.status))
            if code in EXPIRED_CODES:
                raise TokenExpired(code, str(answer.get("message", "")))
            if code != 0 or r.status >= 400:
                raise ApiError(code or r.status, str(answer.get("message", "")))
            return answer.get("data") or {}
        raise AssertionError("unreachable")  # pragma: no cover

    async def get(
        self, path: str, params: Mapping[str, str], *, access_token: str, cipher: str | None = None
    ) -> Any:
        """A signed GET of an Open API path; the answer's ``data``.

        Raises:
            TokenExpired: The access token is no longer valid.
            ApiError: Any other refusal, or 429/5xx after the last attempt.
        """
        query = {**params, "app_key": self._key, "timestamp": str(int(self._now().timestamp()))}
        if cipher is not None:
            query["shop_cipher"] = cipher
        query["sign"] = sign(self._secret, path, query)
        headers = {"x-tts-access-token": access_token, "content-type": "application/json"}
        return await self._send(self._api + path, query, headers)

    async def _token(self, path: str, params: Mapping[str, str]) -> Tokens:
        query = {**params, "app_key": self._key, "app_secret": self._secret}
        data = await self._send(self._auth + path, query, {})
        return Tokens(
            data["access_token"],
            _epoch(data["access_token_expire_in"]),
            data["refresh_token"],
            _epoch(data["refresh_token_expire_in"]),
            str(data.get("seller_name", "")),
        )

    async def token_get(self, auth_code: str) -> Tokens:
        """Exchange an authorization code (from the callback) for tokens."""
        return await self._token(
            TOKEN_GET_PATH, {"auth_code": auth_code, "grant_type": "authorized_code"}
        )

    async def token_refresh(self, refresh_token: str) -> Tokens:
        """New tokens for a refresh token."""
        return await self._token(
            TOKEN_REFRESH_PATH, {"refresh_token": refresh_token, "grant_type": "refresh_token"}
        )

    async def shops(self, access_token: str) -> list[Shop]:
        """The shops the authorization covers, with their ciphers."""
        data = await self.get(SHOPS_PATH, {}, access_token=access_token)
        return [
            Shop(str(s["id"]), str(s.get("name", "")), str(s.get("region", "")), s["cipher"])
            for s in data.get("shops", [])
        ]
