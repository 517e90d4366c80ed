"""The one HTTP server (aiohttp): platform endpoints plus ``/healthz`` and ``/metrics``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import prometheus_client
from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
"""An aiohttp request handler."""

Route = tuple[str, str, Handler]
"""``(method, path, handler)``, e.g. ``("POST", "/slack/events", handle)``."""


async def healthz(_request: web.Request) -> web.Response:
    """Liveness: the process serves HTTP. It does not touch the database, so a slow database
    never makes a load balancer kill healthy replicas."""
    return web.json_response({"ok": True})


async def metrics(_request: web.Request) -> web.Response:
    """The default prometheus-client registry in the text exposition format."""
    body = prometheus_client.generate_latest(prometheus_client.REGISTRY)
    # aiohttp refuses a charset inside content_type, so the exposition type is split in two.
    return web.Response(body=body, content_type="text/plain", charset="utf-8")


def build_web_app(routes: Sequence[Route] = ()) -> web.Application:
    """The aiohttp application every platform shares.

    Args:
        routes: ``(method, path, handler)`` triples from the adapters (Slack's
            ``/slack/events``, Telegram's webhook).

    Returns:
        An application with ``/healthz``, ``/metrics`` and the given routes.
    """
    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
    return app


async def serve(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Start serving ``app`` on ``host``:``port`` (port 0 picks a free port).

    Args:
        app: The application from :func:`build_web_app`.
        host: Interface to listen on (``HTTP_HOST``).
        port: Port to listen on (``HTTP_PORT``).

    Returns:
        The started runner; ``await runner.cleanup()`` stops it. :func:`bound_port` tells the
        port actually bound.
    """
    # access_log=None: a busy Slack workspace would otherwise log every event; our own logs
    # carry the command and the deal instead.
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner


def bound_port(runner: web.AppRunner) -> int:
    """The TCP port a started runner listens on (useful after ``serve(..., port=0)``)."""
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    raise RuntimeError("the runner is not listening on a TCP port")
