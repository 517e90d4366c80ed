"""The one wiring module: builds settings, engine, ledger, router, adapters and scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import os
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.core import (
    Clock,
    Command,
    Delivered,
    DeliveryPort,
    Outgoing,
    SystemClock,
    VirtualClock,
    platform_of,
)
from bot.core.ports import Services
from bot.router import Router
from bot.settings import Settings
from kpi.db import make_engine, upgrade
from kpi.dealfile import load_deal
from kpi.ledger import Ledger
from kpi.model import Deal
from kpi.periods import business_day, period_containing

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.ext.asyncio import AsyncEngine

    from bot.dashboard.links import Links
    from bot.dashboard.page import Sources
    from bot.replay import Step
    from bot.web import Route
    from scheduler.runner import Stop
    from scheduler.service import SchedulerService

log = logging.getLogger("kpibot")

Tick = Callable[[dt.datetime], Awaitable[None]]
NextDue = Callable[[dt.datetime], Awaitable[dt.datetime | None]]


class Core:
    """The running bot without any platform: ledger, router, clock and delivery ports."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        engine: AsyncEngine,
        ledger: Ledger,
        services: Services,
    ) -> None:
        from handlers.registry import ALIASES, ROUTES

        self.settings = settings
        self.clock = clock
        self.engine = engine
        self.ledger = ledger
        self.services = services
        self.router = Router(ROUTES, ledger=ledger, clock=clock, services=services, aliases=ALIASES)
        self.ports: dict[str, DeliveryPort] = {}
        self.ticks: list[Tick] = []
        """Scheduled work to run when the (virtual) clock moves; replay calls ``tick``."""
        self.next_due: list[NextDue] = []
        """When each scheduled part next has something due (strictly after an instant)."""
        self.scheduler: SchedulerService | None = None
        """The scheduler service, once :func:`install_scheduler` ran."""
        services.mention = self.mention

    def add_port(self, port: DeliveryPort) -> None:
        """Register a platform's delivery port (``"*"`` catches every platform: replay)."""
        self.ports[port.platform] = port

    async def handle(self, cmd: Command) -> list[Outgoing]:
        """Answer one command; see ``Router.handle``."""
        from bot.core import metrics

        replies = await self.router.handle(cmd)
        metrics.COMMANDS.labels(
            platform=platform_of(cmd.chat),
            outcome="error" if any(r.kind == "error" for r in replies) else "ok",
        ).inc()
        return replies

    def mention(self, chat: str) -> str:
        """How to address the bot before a command word in ``chat``: its platform's port
        knows (``@username`` on Telegram, ``/kpibot`` on Slack); ``@kpibot`` otherwise."""
        return str(getattr(self.port_for(chat), "mention", "@kpibot"))

    def port_for(self, to: str) -> DeliveryPort | None:
        target = to.removeprefix("dm:")
        return self.ports.get(platform_of(target)) or self.ports.get("*")

    async def deliver(self, msg: Outgoing) -> Delivered:
        """Send ``msg`` through the port of its platform."""
        port = self.port_for(msg.to)
        if port is None:
            return Delivered(
                ok=False, error=f"no adapter for {platform_of(msg.to.removeprefix('dm:'))}"
            )
        return await port.send(msg)

    async def tick(self, now: dt.datetime) -> None:
        """Let scheduled work run up to ``now``."""
        for job in self.ticks:
            await job(now)

    async def next_due_after(self, at: dt.datetime) -> dt.datetime | None:
        """The earliest instant strictly after ``at`` when scheduled work comes due.

        Replay moves its virtual clock to each such instant in turn, so that scheduled work
        happens at its own time between two script lines. ``None``: nothing is scheduled.
        """
        found = [await next_due(at) for next_due in self.next_due]
        return min((due for due in found if due is not None), default=None)

    async def apply_deal(self, deal: Deal, text: str) -> tuple[str, int]:
        """Store a deal version. A new deal takes effect on its start date; a change takes
        effect on ``effective:`` if the file says, otherwise at the start of the current
        period (earlier periods keep their terms)."""
        existing = await self.ledger.current_deal(deal.id)
        if deal.effective is not None:
            effective = deal.effective
        elif existing is None:
            effective = deal.starts
        else:
            today = business_day(self.clock.now(), deal.timezone)
            effective = period_containing(deal.starts, deal.period, max(today, deal.starts)).start
        version = await self.ledger.apply_deal(
            deal, text, effective=effective, applied_at=self.clock.now()
        )
        self.router.forget()
        return deal.id, version

    async def current_deal(self, deal_id: str) -> tuple[Deal, int] | None:
        """A deal's current version and its number (``None``: no such deal); read through
        the router's short-lived cache, which applying a deal here clears."""
        return await self.router.current_deal(deal_id)

    async def migrate_chat(self, old_chat: str, new_chat: str, at: dt.datetime) -> None:
        """A chat changed its id (Telegram's group to supergroup): its links follow."""
        await self.ledger.migrate_chat(old_chat, new_chat, at)
        self.router.forget()

    async def list_deals(self) -> list[str]:
        """Every deal's id."""
        return await self.ledger.list_deals()

    async def apply_deal_text(self, text: str, source: str = "<deal>") -> str:
        """Parse and store a deal file's text; returns the deal id."""
        deal = load_deal(text, source)
        deal_id, _ = await self.apply_deal(deal, text)
        return deal_id

    async def apply_deal_file(self, path: str | Path) -> str:
        path = Path(path)
        text = await asyncio.to_thread(path.read_text, encoding="utf-8")
        return await self.apply_deal_text(text, str(path))

    async def aclose(self) -> None:
        await self.engine.dispose()


async def build_core(
    settings: Settings,
    *,
    clock: Clock | None = None,
    migrate: bool = True,
    scheduler: Mapping[str, Any] | None = None,
) -> Core:
    """The one bootstrap (``kpibot run``, ``chat``, ``replay``, ``demo``, ``web``, the CLI):
    migrate, then build the engine, the ledger and its stores, the router and the scheduler,
    and apply ``DEALS_DIR``.

    Args:
        settings: The configuration.
        clock: The time source (the system clock by default; replay passes a virtual one).
        migrate: Whether to upgrade the database first.
        scheduler: Options for :class:`scheduler.service.SchedulerService` (replay:
            ``concurrency=1``; tests: ``pacer``, ``sleep``, ``charts``...).
    """
    from kpi.platform.store import PlatformStore
    from kpi.statement_store import StatementStore

    clock = clock or SystemClock()
    if migrate:
        await upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    ledger = Ledger(engine, lambda text: load_deal(text, "<stored deal>"))
    services = Services(
        statements=StatementStore(engine),
        platform=PlatformStore(engine),
        dashboard=_dashboard_links(settings, engine),
        import_max_bytes=settings.import_max_bytes,
    )
    core = Core(settings, clock, engine, ledger, services)
    install_scheduler(core, **(scheduler or {}))
    if settings.deals_dir:
        folder = Path(settings.deals_dir)
        for path in await asyncio.to_thread(lambda: sorted(folder.glob("*.yaml"))):
            await core.apply_deal_file(path)
    return core


def install_scheduler(core: Core, **options: Any) -> SchedulerService:
    """Build the scheduler service over the core's ledger and ports, and hook it in.

    Its ``tick`` joins ``core.ticks`` (replay calls it as the script's time passes;
    ``scheduler.runner`` every 30 seconds), its ``next_due`` joins ``core.next_due`` (replay
    moves its clock to each due instant), and its escalation desk serves ``/ack`` and
    ``/escalations``. Installing again replaces the previous service.

    Args:
        core: The bot core.
        **options: Passed to :class:`scheduler.service.SchedulerService` (``pacer``,
            ``sleep``, ``batch``, ``concurrency``, ``charts``...), and ``worker``: this
            replica's claim name.
    """
    from scheduler.outbox import Outbox
    from scheduler.service import SchedulerConfig, SchedulerService, default_worker

    previous = core.scheduler
    if previous is not None:
        core.ticks.remove(previous.tick)
        core.next_due.remove(previous.next_due)
    worker = options.pop("worker", None) or default_worker()
    settings = core.settings
    service = SchedulerService(
        ledger=core.ledger,
        platform=core.services.platform,
        outbox=Outbox(core.engine, worker=worker),
        delivery=core,
        clock=core.clock,
        config=SchedulerConfig(
            lease_seconds=settings.outbox_lease_seconds,
            missed_grace_hours=settings.missed_grace_hours,
            replicas=settings.replicas,
        ),
        **options,
    )
    core.ticks.append(service.tick)
    core.next_due.append(service.next_due)
    core.scheduler = service
    core.services.escalations = service.escalations
    core.services.notices = service.notices
    return service


@contextlib.asynccontextmanager
async def local_core(
    db: str | None, clock: Clock, *, scheduler: Mapping[str, Any] | None = None, prefix: str
) -> AsyncIterator[Core]:
    """A core on ``db``, or on a fresh SQLite file in a temporary folder, closed on exit: what
    ``kpibot chat``, ``replay`` and ``demo`` run on."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        url = db or f"sqlite:///{Path(tmp) / 'kpibot.db'}"
        settings = Settings(database_url=url, _env_file=None)  # type: ignore[call-arg]
        core = await build_core(settings, clock=clock, scheduler=scheduler)
        try:
            yield core
        finally:
            await core.aclose()


async def run_replay(
    deal_texts: Sequence[tuple[str, str]],
    steps: Sequence[Step],
    *,
    db_url: str | None = None,
    on_event: Any = None,
) -> list[dict[str, Any]]:
    """Play ``steps`` through the real core on a virtual clock; returns what the bot sent.

    ``deal_texts`` are ``(source name, YAML text)``. Without ``db_url`` a fresh temporary
    SQLite database is used. ``on_event(kind, payload)`` sees inputs and outputs as they happen
    (the demo prints a transcript from it)."""
    from bot.replay import first_instant, play

    clock = VirtualClock(first_instant(steps))
    # One chat at a time: messages due at one instant are then recorded in the outbox's
    # order, so a script's output is the same on every run.
    async with local_core(
        db_url, clock, scheduler={"concurrency": 1}, prefix="kpibot-replay-"
    ) as core:
        return await play(core, clock, deal_texts, steps, on_event=on_event)


async def run_chat(
    deal_texts: Sequence[tuple[str, str]], chat: str, user: str, name: str, db: str | None
) -> int:
    """``kpibot chat``: the console adapter on a core with the system clock."""
    from bot.adapters.console import interactive

    async with local_core(db, SystemClock(), prefix="kpibot-chat-") as core:
        return await interactive(core, deal_texts, chat, user, name)


class StopSignals:
    """SIGTERM and SIGINT: the first asks for a clean stop, a second one exits at once.

    ``docker stop`` and Kubernetes send SIGTERM, then SIGKILL after their own grace period
    (10 s and 30 s by default); Ctrl-C sends SIGINT. The handlers run on the event loop, so a
    signal never interrupts a send between the platform's answer and its ``sent`` mark.
    """

    def __init__(self) -> None:
        self.received = asyncio.Event()
        self.name: str | None = None

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        """Handle SIGTERM and SIGINT on ``loop`` (the running loop of the main thread)."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        if self.received.is_set():
            log.warning("second signal: exiting at once", extra={"signal": sig.name})
            for handler in logging.getLogger().handlers:
                handler.flush()
            sys.stderr.flush()
            # The shell convention for "killed by this signal"; nothing is waited for.
            os._exit(128 + sig.value)
        self.name = sig.name
        log.info("stopping", extra={"signal": sig.name})
        self.received.set()

    async def wait(self) -> str | None:
        """Wait for the first signal; returns its name."""
        await self.received.wait()
        return self.name


async def shut_down(
    core: Core,
    scheduler_stop: Stop | None,
    closers: list[Callable[[], Awaitable[None]]],
) -> dict[str, Any]:
    """Stop in order: the scheduler (its sends in flight finish, unstarted claims go back),
    then ``closers`` (HTTP server, platform clients), then the database; log ``stopped``.

    Returns:
        The counts logged with ``stopped``.
    """
    started = time.monotonic()
    counts: dict[str, Any] = {}
    if scheduler_stop is not None:
        counts.update(dataclasses.asdict(await scheduler_stop()))
    for close in closers:
        try:
            await close()
        except Exception:
            # A client that fails to close must not keep the others (or the database) open.
            log.exception("error while stopping")
    await core.aclose()
    counts["seconds"] = round(time.monotonic() - started, 3)
    log.info("stopped", extra=counts)
    return counts


async def run(settings: Settings) -> int:
    """``kpibot run``: start the configured platforms, the HTTP server and the scheduler, and
    run until SIGTERM or SIGINT (see :class:`StopSignals` and :func:`shut_down`)."""
    if not (settings.slack_enabled or settings.telegram_enabled):
        return 2
    signals = StopSignals()
    signals.install(asyncio.get_running_loop())
    core = await build_core(settings)
    stoppers: list[Callable[[], Awaitable[None]]] = []
    routes: list[Route] = []
    if settings.slack_enabled:
        from bot.adapters.slack import SlackAdapter

        slack = SlackAdapter(core, settings)
        core.add_port(slack.port)
        if settings.slack_app_token is not None:
            await slack.start_socket_mode()
        else:
            routes.extend(slack.web_routes())
        stoppers.append(slack.stop)
    if settings.telegram_enabled:
        from bot.adapters.telegram import TelegramAdapter

        telegram = TelegramAdapter(core, settings)
        core.add_port(telegram.port)
        await telegram.start()
        routes.extend(telegram.web_routes())
        stoppers.append(telegram.stop)
    from bot.web import build_web_app, serve

    routes.extend(dashboard_routes(core))
    routes.extend(_tiktok_routes(core))
    _install_daily_sync(core)
    runner = await serve(build_web_app(routes, settings), settings.http_host, settings.http_port)
    log.info("kpibot running", extra={"host": settings.http_host, "port": settings.http_port})
    scheduler_stop = await _start_scheduler(core)
    try:
        await signals.wait()
    finally:
        # The scheduler's sends in flight still need the platform clients; stop taking
        # requests next, then let the adapters finish what is in flight and close.
        await shut_down(core, scheduler_stop, [runner.cleanup, *reversed(stoppers)])
    return 0


async def _start_scheduler(core: Core) -> Stop:
    """Wake the core's scheduled work on a timer (``scheduler.runner``)."""
    from scheduler.runner import start

    return await start(
        core.tick, core.clock, core.scheduler, grace=core.settings.shutdown_grace_seconds
    )


def _dashboard_links(settings: Settings, engine: AsyncEngine) -> Links | None:
    """With ``SECRET_KEY`` set, ``/dashboard`` signs links; without, it says it is off."""
    if settings.secret_key is None:
        log.debug("dashboard off: SECRET_KEY is not set")
        return None
    from bot.dashboard.links import Links

    return Links(
        settings.secret_key.get_secret_value(),
        engine,
        settings.public_url,
        settings.dashboard_link_days,
    )


def _tiktok_routes(core: Core) -> list[Route]:
    """``/tiktok/callback`` when the TikTok Shop connection is configured (issue 17)."""
    if not core.settings.tiktok_enabled:
        return []
    from bot.tiktok.commands import tiktok_routes

    return tiktok_routes(core)


def _install_daily_sync(core: Core) -> None:
    """The deals' daily TikTok Shop sync, in the scheduler's tick (issue 17)."""
    if core.settings.tiktok_enabled:
        from bot.tiktok.commands import DailySync

        core.ticks.append(DailySync(core).tick)


def dashboard_routes(core: Core, *, page_seconds: float | None = None) -> list[Route]:
    """The dashboard's routes for the bot's HTTP server (none without ``SECRET_KEY``).

    ``page_seconds`` overrides how long a rendered page is reused (benchmarks measure 0)."""
    from bot.dashboard.links import Links
    from bot.dashboard.web import Dashboard

    links = core.services.dashboard
    if not isinstance(links, Links):
        return []
    sources = dashboard_sources(core)
    extra = {} if page_seconds is None else {"page_seconds": page_seconds}
    return Dashboard(links, sources, core.clock, core.router.current_deal, **extra).routes()


def dashboard_sources(core: Core) -> Sources:
    """What a dashboard page reads: the ledger, the statements and the escalations (the
    scheduler's desk, or one over the same outbox tables when no scheduler runs here)."""
    from bot.dashboard.page import Sources
    from scheduler.escalation import Escalations
    from scheduler.outbox import Outbox

    desk = core.services.escalations or Escalations(Outbox(core.engine, worker="dashboard"))
    return Sources(core.ledger, core.services.statements, desk)


async def run_web(settings: Settings, *, ready: Callable[[int], None] | None = None) -> int:
    """``kpibot web``: serve only the HTTP side (dashboard, ``/healthz``, ``/metrics``).

    No platform and no scheduler run: for looking at the dashboard locally.
    """
    if settings.secret_key is None:
        return 2
    from bot.web import bound_port, build_web_app, serve

    core = await build_core(settings)
    runner = await serve(
        build_web_app([*dashboard_routes(core), *_tiktok_routes(core)]),
        settings.http_host,
        settings.http_port,
    )
    log.info("kpibot web serving", extra={"host": settings.http_host, "port": settings.http_port})
    if ready is not None:
        ready(bound_port(runner))
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        await core.aclose()
    return 0


def all_tables() -> list[Table]:
    """Every kpibot table, in foreign-key order: what a backup holds."""
    import importlib

    from kpi.storage import metadata

    # Each of these modules puts its tables on the shared metadata when imported.
    tables = ("kpi.statement_store", "scheduler.tables", "bot.dashboard.links", "bot.tiktok.store")
    for module in tables:
        importlib.import_module(module)
    return list(metadata.sorted_tables)
