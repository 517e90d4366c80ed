"""python-telegram-bot's HTTP transport on aiohttp, the HTTP client kpibot already uses.

python-telegram-bot sends every Bot API call through a ``BaseRequest``; its default,
``HTTPXRequest``, costs about as much CPU per call as everything else the adapter does for an
update: httpcore scans its whole connection pool (a system call per connection) before each
request, and goes through anyio's locks and streams for each read and write. In the adapter's
profile the aiohttp transport below halves the adapter's own CPU per update. It behaves as
``HTTPXRequest`` does where the bot can tell: the same timeouts (a pool wait counts against
``connect``), the same errors (``TimedOut`` for any timeout, ``NetworkError`` for any other
failure of the connection), no redirects followed, the proxy from
``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY`` unless ``NO_PROXY`` names the host, and certifi's
certificates (httpx's). It reads the proxy settings once per host where aiohttp's
``trust_env`` would read them (and ``.netrc``) in a worker thread on every request.

Bodies differ in one way: a call without files goes as a JSON object (``application/json``,
which the Bot API accepts as it does a form), where ``HTTPXRequest`` URL-encodes a form whose
every nested value is a JSON string; the JSON body costs a fifth of the form's CPU per call. A
call with files goes as multipart, as in ``HTTPXRequest``. The four timeouts of a call are
turned into aiohttp's once per combination, not on every request.
"""

from __future__ import annotations

import json
import ssl
import urllib.request
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

if TYPE_CHECKING:
    from telegram._utils.types import ODVInput

__all__ = ["AiohttpRequest"]

_DEFAULT = type(BaseRequest.DEFAULT_NONE)
"""python-telegram-bot's marker type for "not given, use the default" (``DefaultValue``)."""


def _ssl_context() -> ssl.SSLContext:
    """The certificates httpx trusts (certifi's bundle, installed with it), else the system's."""
    try:
        import certifi
    except ImportError:  # pragma: no cover - httpx, and so certifi, comes with python-telegram-bot
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


def _seconds(value: ODVInput[float], default: float | None) -> float | None:
    return default if isinstance(value, _DEFAULT) else value  # type: ignore[return-value]


class AiohttpRequest(BaseRequest):
    """A ``BaseRequest`` on one pooled ``aiohttp.ClientSession`` (opened by :meth:`initialize`).

    Args:
        connection_pool_size: Connections kept open at most (``HTTPXRequest``'s default: 256;
            python-telegram-bot uses 1 for ``getUpdates``).
        read_timeout: Seconds to wait for the answer (``getUpdates`` adds its long-poll time).
        write_timeout: Seconds a request may take to send.
        connect_timeout: Seconds to connect.
        pool_timeout: Seconds to wait for a free connection.
        media_write_timeout: ``write_timeout`` for requests that upload files.
    """

    __slots__ = ("_limits", "_pool_size", "_proxies", "_session", "_ssl", "_timeouts")

    def __init__(
        self,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._limits: dict[str, float | None] = {
            "read": read_timeout,
            "write": write_timeout,
            "connect": connect_timeout,
            "pool": pool_timeout,
            "media_write": media_write_timeout,
        }
        self._session: aiohttp.ClientSession | None = None
        self._ssl: ssl.SSLContext | None = None
        self._proxies: dict[tuple[str, str], str | None] = {}
        self._timeouts: dict[tuple[Any, ...], aiohttp.ClientTimeout] = {}
        """aiohttp's timeouts by (files, read, write, connect, pool) as python-telegram-bot
        passes them: a handful of combinations (getUpdates' long poll, plain calls, uploads)."""

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout (``getUpdates`` adds its long-poll time to it)."""
        return self._limits["read"]

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._ssl = self._ssl or _ssl_context()
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size, ssl=self._ssl),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
            self._proxies.clear()

    def _proxy(self, url: str) -> str | None:
        """The proxy for ``url``'s host from the environment, looked up once per host."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        if key not in self._proxies:
            self._proxies[key] = env_proxy(parts.scheme, parts.hostname or "")
        return self._proxies[key]

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    def _timeout(
        self,
        files: bool,
        read: ODVInput[float],
        write: ODVInput[float],
        connect: ODVInput[float],
        pool: ODVInput[float],
    ) -> aiohttp.ClientTimeout:
        """httpx's four timeouts in aiohttp's terms: waiting for a pooled connection counts
        against ``connect``, as it does in httpx; aiohttp has no write timeout of its own, so
        the whole request is bounded by the sum of the four (none when any is unlimited).
        Built once per combination of values, as every request asks for one."""
        # The default marker is one shared object; plain values (floats, None) hash as values.
        key = (files, read, write, connect, pool)
        timeout = self._timeouts.get(key)
        if timeout is not None:
            return timeout
        limits = self._limits
        parts = (
            _seconds(read, limits["read"]),
            _seconds(write, limits["media_write" if files else "write"]),
            _seconds(connect, limits["connect"]),
            _seconds(pool, limits["pool"]),
        )
        read_s, _, connect_s, pool_s = parts
        waiting = None if connect_s is None or pool_s is None else connect_s + pool_s
        total = None if any(p is None for p in parts) else sum(p or 0.0 for p in parts)
        timeout = self._timeouts[key] = aiohttp.ClientTimeout(
            total=total, connect=waiting, sock_connect=connect_s, sock_read=read_s
        )
        return timeout

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """See ``BaseRequest.do_request``: the status and the body of Telegram's answer."""
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        body, content_type = _body(request_data)
        files = isinstance(body, aiohttp.FormData)
        timeout = self._timeout(files, read_timeout, write_timeout, connect_timeout, pool_timeout)
        headers = {"User-Agent": self.USER_AGENT}
        if content_type is not None:
            headers["Content-Type"] = content_type
        try:
            async with self._session.request(
                method,
                url,
                data=body,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
                proxy=self._proxy(url),
            ) as response:
                return response.status, await response.read()
        except TimeoutError as exc:  # aiohttp's own timeouts are TimeoutErrors too
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc


def env_proxy(scheme: str, host: str) -> str | None:
    """The proxy httpx takes from the environment for ``scheme://host``: ``<SCHEME>_PROXY``,
    else ``ALL_PROXY``; none when ``NO_PROXY`` names the host."""
    proxies = urllib.request.getproxies_environment()
    if host and urllib.request.proxy_bypass(host):
        return None
    return proxies.get(scheme) or proxies.get("all") or None


def _body(request_data: RequestData | None) -> tuple[Any, str | None]:
    """The body and its content type when aiohttp would not set it: the parameters as one JSON
    object, or multipart with the files (their fields as form parts, as httpx sends them)."""
    if request_data is None:
        return None, None
    files = request_data.multipart_data
    if not files:
        # ``parameters`` holds the values as JSON-ready objects (a ReplyParameters as its
        # dict), so nested values go as JSON, not as JSON strings inside JSON.
        fields = request_data.parameters
        if not fields:
            return None, None
        return json.dumps(fields, ensure_ascii=False).encode(), "application/json"
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mime) in files.items():
        form.add_field(name, content, filename=filename, content_type=mime)
    return form, None
