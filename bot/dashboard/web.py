"""The dashboard's HTTP side: its routes on the bot's one aiohttp server.

Every response carries the security headers (a Content-Security-Policy without inline
scripts, no sniffing, no referrer, no caching). A link that fails its check gets one 403 page
that names no deal, whatever the reason. The token is a credential: it is never logged (the
server's access log is off and our own lines carry the deal and outcome only).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from aiohttp import web
from jinja2 import Environment, PackageLoader, select_autoescape

from bot.core import Clock
from bot.core.i18n import LOCALES
from bot.dashboard.links import Grant, LinkRefused, Links
from bot.dashboard.page import Sources, T, page_context
from bot.web import Route
from kpi.errors import UserError
from kpi.export import jsonl_lines, xlsx_bytes
from kpi.model import Deal
from kpi.periods import business_day

log = logging.getLogger("kpibot.dashboard")

SECURITY_HEADERS = {
    # No script at all; styles only from our own stylesheet; nothing may frame the page.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store, max-age=0",
    "Pragma": "no-cache",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PAGE_SECONDS = 5.0
"""How long a rendered page is reused (the router caches deals as long): when a whole meeting
opens the link at once, one render serves everyone."""


class _Pages:
    """Rendered pages kept for a few seconds; concurrent viewers of one page share one render.

    A page is stored with a placeholder where the viewer's token goes (each viewer may hold a
    different link to the same page); a failed render is not kept."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._items: dict[tuple[str, ...], tuple[float, asyncio.Future[str]]] = {}

    async def get(self, key: tuple[str, ...], render: Callable[[], Awaitable[str]]) -> str:
        now = time.monotonic()
        hit = self._items.get(key)
        if hit is not None and hit[0] > now:
            return await asyncio.shield(hit[1])
        if len(self._items) > 256:  # drop what has expired, so the dict stays small
            self._items = {k: v for k, v in self._items.items() if v[0] > now}
        future = asyncio.ensure_future(render())
        if self.seconds > 0:
            self._items[key] = (now + self.seconds, future)
        try:
            return await asyncio.shield(future)
        except BaseException:
            self._items.pop(key, None)
            raise


def _secured(handler: Handler) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException:
            raise
        except Exception:
            # Logged here, without the request: aiohttp's own error line would not name the
            # token, but an exception's text might; the traceback is what a developer needs.
            log.exception("dashboard request failed", extra={"outcome": "failed"})
            response = web.Response(text="500: the page failed; it has been logged.", status=500)
        response.headers.update(SECURITY_HEADERS)
        return response

    return wrapped


class Dashboard:
    """The dashboard pages and downloads over one deal store and one link service."""

    def __init__(
        self,
        links: Links,
        sources: Sources,
        clock: Clock,
        current_deal: Callable[[str], Awaitable[tuple[Deal, int] | None]],
        page_seconds: float = PAGE_SECONDS,
    ) -> None:
        """Create the dashboard.

        Args:
            links: Checks the links.
            sources: The stores pages read.
            clock: The time links are judged by and pages are "as of".
            current_deal: A deal's current version (the router's cached lookup will do).
            page_seconds: How long a rendered page is reused (0: never).
        """
        self.links = links
        self.sources = sources
        self.clock = clock
        self.current_deal = current_deal
        self._pages = _Pages(page_seconds)
        self._slot = f"token-{secrets.token_hex(16)}"  # where each viewer's token goes
        self.env = Environment(
            loader=PackageLoader("bot.dashboard", "templates"),
            autoescape=select_autoescape(default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def routes(self) -> list[Route]:
        """The ``(method, path, handler)`` triples to mount on the bot's server."""
        return [
            ("GET", "/d/{token}", _secured(self.page)),
            ("GET", "/d/{token}/export.xlsx", _secured(self.download_xlsx)),
            ("GET", "/d/{token}/export.jsonl", _secured(self.download_jsonl)),
            ("GET", "/dashboard.css", _secured(self.stylesheet)),
        ]

    async def _grant(self, request: web.Request) -> tuple[Grant, Deal] | None:
        try:
            grant = await self.links.check(request.match_info["token"], self.clock.now())
        except LinkRefused as exc:
            log.info("dashboard link refused: %s", exc.reason, extra={"outcome": "refused"})
            return None
        current = await self.current_deal(grant.deal_id)
        if current is None:
            log.info("dashboard link for a deal not stored", extra={"outcome": "refused"})
            return None
        return grant, current[0]

    def _locale(self, request: web.Request, deal: Deal) -> str:
        asked = request.query.get("lang", "")
        return asked if asked in LOCALES else deal.locale

    def _html(self, name: str, **context: Any) -> str:
        return self.env.get_template(name).render(**context)

    def _render(self, name: str, status: int = 200, **context: Any) -> web.Response:
        html = self._html(name, **context)
        return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")

    def refused(self) -> web.Response:
        """The one answer to a tampered, expired or revoked link: 403, naming no deal."""
        return self._render("refused.html", status=403, en=T("en"), zh=T("zh"))

    async def page(self, request: web.Request) -> web.Response:
        """``GET /d/{token}[?period=LABEL][&lang=en|zh]``: the dashboard."""
        found = await self._grant(request)
        if found is None:
            return self.refused()
        grant, deal = found
        locale = self._locale(request, deal)
        label = request.query.get("period") or None
        key = (deal.id, grant.side, label or "", locale)

        async def render() -> str:
            context = await page_context(
                self.sources, deal, grant.side, label, locale, self.clock.now()
            )
            query = {"lang": locale, "period": context["period"].label}
            return self._html("dashboard.html", token=self._slot, q=query, **context)

        try:
            html = await self._pages.get(key, render)
        except UserError as exc:
            t = T(locale)
            return self._render("problem.html", status=400, t=t, text=t(exc.code, **exc.params))
        log.info("dashboard page", extra={"deal": deal.id, "outcome": "ok"})
        html = html.replace(self._slot, request.match_info["token"])
        return web.Response(text=html, content_type="text/html", charset="utf-8")

    async def _sheets(self, request: web.Request) -> tuple[Deal, str, list[Any]] | web.Response:
        found = await self._grant(request)
        if found is None:
            return self.refused()
        _grant, deal = found
        from handlers.export import chosen_period, export_filename, period_sheets

        t = T(self._locale(request, deal))
        today = business_day(self.clock.now(), deal.timezone)
        try:
            period = chosen_period(deal, today, request.query.get("period"), command="export")
        except UserError as exc:
            return self._render("problem.html", status=400, t=t, text=t(exc.code, **exc.params))
        sheets = await period_sheets(
            self.sources.ledger, self.sources.statements, deal, today, period, t
        )
        log.info("dashboard download", extra={"deal": deal.id, "outcome": "ok"})
        return deal, export_filename(deal, period, "{ext}"), sheets

    async def download_xlsx(self, request: web.Request) -> web.Response:
        """``GET /d/{token}/export.xlsx[?period=LABEL]``: the period's workbook."""
        got = await self._sheets(request)
        if isinstance(got, web.Response):
            return got
        _deal, name, sheets = got
        from handlers.export import XLSX_MIME

        return _attachment(xlsx_bytes(sheets), name.format(ext="xlsx"), XLSX_MIME)

    async def download_jsonl(self, request: web.Request) -> web.Response:
        """``GET /d/{token}/export.jsonl[?period=LABEL]``: the same rows as JSON lines."""
        got = await self._sheets(request)
        if isinstance(got, web.Response):
            return got
        _deal, name, sheets = got
        body = "".join(line + "\n" for line in jsonl_lines(sheets)).encode("utf-8")
        return _attachment(body, name.format(ext="jsonl"), "application/x-ndjson")

    async def stylesheet(self, _request: web.Request) -> web.Response:
        """``GET /dashboard.css``."""
        css = (resources.files("bot.dashboard") / "static" / "dashboard.css").read_text("utf-8")
        return web.Response(text=css, content_type="text/css", charset="utf-8")


def _attachment(body: bytes, filename: str, mime: str) -> web.Response:
    response = web.Response(body=body, content_type=mime)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
