"""The one HTTP server (aiohttp): platform endpoints plus ``/healthz`` and ``/metrics``."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

import prometheus_client
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from bot.settings import Settings

log = logging.getLogger("kpibot.web")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
"""An aiohttp request handler."""

Route = tuple[str, str, Handler]
"""``(method, path, handler)``, e.g. ``("POST", "/slack/events", handle)``."""

HEADER_TIMEOUT = 75.0
"""Seconds a new connection has to send a complete request head, and an idle keep-alive
connection stays open (``HTTP_HEADER_TIMEOUT``; aiohttp has one timer for both). Slow-header
connections are closed instead of held forever; it stays above the 60-second idle timeout of
common load balancers, which would otherwise reuse a connection just as kpibot closes it (502)."""
BODY_TIMEOUT = 10.0
"""Seconds a request body may take to arrive once its head is in (:func:`read_body`)."""
MAX_BODY = 1024 * 1024
"""The largest body any route accepts; each route reads with its own, smaller, limit."""

_SETTINGS = web.AppKey("settings", Settings)
_METRICS_SETTINGS = web.AppKey("metrics_settings", Settings)
_METRICS_RUNNER = web.AppKey("metrics_runner", web.AppRunner)


class BodyRefused(Exception):
    """A request body that is too large (413) or too slow (408); carries the response."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason

    def response(self) -> web.Response:
        """The short plain answer (no detail an attacker could use)."""
        return web.Response(status=self.status, text=self.reason)


async def read_body(request: web.Request, limit: int, seconds: float | None = None) -> bytes:
    """The raw request body, at most ``limit`` bytes, read within ``seconds`` (default
    :data:`BODY_TIMEOUT`).

    A declared ``Content-Length`` over the limit is refused before a byte is read; a chunked
    body is refused as soon as it passes the limit.

    Raises:
        BodyRefused: 413 over the limit, 408 too slow.
    """
    declared = request.content_length
    if declared is not None and declared > limit:
        raise BodyRefused(413, "too large")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(BODY_TIMEOUT if seconds is None else seconds):
            async for chunk in request.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if size > limit:
                    raise BodyRefused(413, "too large")
                chunks.append(chunk)
    except TimeoutError:
        raise BodyRefused(408, "too slow") from None
    return b"".join(chunks)


class RateLimitedWarning:
    """One short WARNING line per ``interval`` seconds for requests refused for one reason.

    Refusals of unauthenticated requests are what an attacker controls: each would otherwise
    be a log line (or a whole body) of their making. Only fixed words are logged, never request
    data, and the lines suppressed since the last one are counted in ``suppressed``.
    """

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = 60.0,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._interval = interval
        self._monotonic = monotonic
        self._next: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def __call__(self, reason: str) -> None:
        """Count a refusal for ``reason`` (a fixed word chosen by the code, never input)."""
        now = self._monotonic()
        if now < self._next.get(reason, 0.0):
            self._suppressed[reason] = self._suppressed.get(reason, 0) + 1
            return
        self._next[reason] = now + self._interval
        suppressed = self._suppressed.pop(reason, 0)
        self._log.warning(
            "request refused: %s", reason, extra={"reason": reason, "suppressed": suppressed}
        )


class _QuietBadHttp(logging.Filter):
    """On ``aiohttp.server``: a request that is not even valid HTTP (a garbage request line,
    an 8 KB header) becomes one rate-limited WARNING line instead of an ERROR with a traceback
    quoting the bytes sent. Errors of kpibot's own handlers still pass through whole."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = RateLimitedWarning(log)

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            self.refused("malformed HTTP")
            return False
        return True


_QUIET_BAD_HTTP = _QuietBadHttp()


async def healthz(_request: web.Request) -> web.Response:
    """Liveness: the process serves HTTP. It does not touch the database, so a slow database
    never makes a load balancer kill healthy replicas. It says ok and nothing more."""
    return web.json_response({"ok": True})


async def metrics(_request: web.Request) -> web.Response:
    """The default prometheus-client registry in the text exposition format."""
    body = prometheus_client.generate_latest(prometheus_client.REGISTRY)
    # aiohttp refuses a charset inside content_type, so the exposition type is split in two.
    return web.Response(body=body, content_type="text/plain", charset="utf-8")


def bearer_metrics(token: str) -> Handler:
    """``/metrics`` answered only with ``Authorization: Bearer <token>`` (401 otherwise)."""
    expected = f"Bearer {token}".encode()

    async def guarded(request: web.Request) -> web.StreamResponse:
        given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(given, expected):
            return web.Response(
                status=401, text="unauthorized", headers={"WWW-Authenticate": "Bearer"}
            )
        return await metrics(request)

    return guarded


def _metrics_handler(settings: Settings) -> Handler:
    token = settings.metrics_token
    if token is not None and token.get_secret_value().strip():
        return bearer_metrics(token.get_secret_value().strip())
    return metrics


def build_web_app(
    routes: Sequence[Route] = (), settings: Settings | None = None
) -> web.Application:
    """The aiohttp application every platform shares.

    Args:
        routes: ``(method, path, handler)`` triples from the adapters (Slack's
            ``/slack/events``, Telegram's webhook).
        settings: Where ``/metrics`` goes. With ``METRICS_PORT`` it is served only on its own
            server (``METRICS_HOST``:``METRICS_PORT``, started by :func:`serve`); otherwise
            it is on this app only when ``METRICS_TOKEN`` is set, and then only with that
            bearer token. Without settings (tests, embedding) it is served here, open.

    Returns:
        An application with ``/healthz``, ``/metrics`` as configured and the given routes.
    """
    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_get("/healthz", healthz)
    if settings is not None:
        app[_SETTINGS] = settings
    if settings is None:
        app.router.add_get("/metrics", metrics)
    elif settings.metrics_port is not None:
        app[_METRICS_SETTINGS] = settings
    elif settings.metrics_token is not None and settings.metrics_token.get_secret_value().strip():
        app.router.add_get("/metrics", _metrics_handler(settings))
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
    return app


async def _start_runner(
    app: web.Application, host: str, port: int, header_timeout: float
) -> web.AppRunner:
    # access_log=None: a busy Slack workspace would otherwise log every event; our own logs
    # carry the command and the deal instead. keepalive_timeout also closes a new connection
    # that has not sent a whole request head in time (aiohttp arms it at connection start).
    server_log = logging.getLogger("aiohttp.server")
    if _QUIET_BAD_HTTP not in server_log.filters:
        server_log.addFilter(_QUIET_BAD_HTTP)
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=header_timeout)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner


async def serve(
    app: web.Application, host: str, port: int, *, header_timeout: float | None = None
) -> web.AppRunner:
    """Start serving ``app`` on ``host``:``port`` (port 0 picks a free port).

    Args:
        app: The application from :func:`build_web_app`.
        host: Interface to listen on (``HTTP_HOST``).
        port: Port to listen on (``HTTP_PORT``).
        header_timeout: Seconds a connection may take to send a request head, or stay idle
            (default: the app's ``HTTP_HEADER_TIMEOUT``, else :data:`HEADER_TIMEOUT`).

    Returns:
        The started runner; ``await runner.cleanup()`` stops it (and the metrics server
        :func:`build_web_app` asked for). :func:`bound_port` tells the port actually bound.
    """
    if header_timeout is None:
        configured = app.get(_SETTINGS)
        header_timeout = configured.http_header_timeout if configured else HEADER_TIMEOUT
    settings = app.get(_METRICS_SETTINGS)
    if settings is not None:
        metrics_app = web.Application(client_max_size=1024)
        metrics_app.router.add_get("/metrics", _metrics_handler(settings))
        assert settings.metrics_port is not None
        metrics_runner = await _start_runner(
            metrics_app, settings.metrics_host, settings.metrics_port, header_timeout
        )
        app[_METRICS_RUNNER] = metrics_runner

        async def stop_metrics(_app: web.Application) -> None:
            await metrics_runner.cleanup()

        app.on_cleanup.append(stop_metrics)
    return await _start_runner(app, host, port, header_timeout)


def metrics_runner(app: web.Application) -> web.AppRunner | None:
    """The separate ``/metrics`` server :func:`serve` started for ``app`` (``METRICS_PORT``)."""
    return app.get(_METRICS_RUNNER)


def bound_port(runner: web.AppRunner) -> int:
    """The TCP port a started runner listens on (useful after ``serve(..., port=0)``)."""
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    raise RuntimeError("the runner is not listening on a TCP port")
