"""Wakes the bot on a timer with APScheduler 3.x; the outbox decides what is due.

This is the only module that imports APScheduler. Each process runs its own
``AsyncIOScheduler`` with the default in-memory job store: APScheduler's documentation forbids
sharing a persistent job store between processes (they would each run the job), and nothing
here needs one, because every tick asks the database what is due and claims it. A tick that is
still running when the next one is due is skipped (``max_instances=1``), missed wake-ups are
coalesced into one. Stopping (SIGTERM) stops the timer, gives every claimed row not yet started
back at once and lets the sends under way finish and be marked, within a grace period: a clean
stop leaves no claim to wait for its lease (README, "Running several replicas on PostgreSQL").
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.core import Clock
from scheduler.service import SchedulerService, StopReport

__all__ = ["JOB_ID", "Stop", "start"]

Tick = Callable[[dt.datetime], Awaitable[None]]
"""Runs the scheduled work due up to an instant."""
Stop = Callable[[], Awaitable[StopReport]]
"""Stops the timer and the running tick; returns what became of the claimed rows."""

log = logging.getLogger("kpibot.scheduler")

JOB_ID = "kpibot-tick"
"""The wake-up job's stable id."""


async def start(
    tick: Tick,
    clock: Clock,
    service: SchedulerService | None,
    *,
    every: float = 30.0,
    grace: float = 30.0,
) -> Stop:
    """Start waking ``tick(clock.now())`` every ``every`` seconds, at once first.

    Args:
        tick: The scheduled work to run up to an instant (the core's ``tick``).
        clock: The time source the work runs on.
        service: The scheduler service, asked to give its claims back when stopping (``None``
            when only other ticks run).
        every: Seconds between wake-ups.
        grace: How long stopping waits for the sends under way to finish
            (``SHUTDOWN_GRACE_SECONDS``).

    Returns:
        An async function that stops: no new tick, no new claim, unstarted claims given back at
        once, the running tick's sends under way finished (or, after ``grace``, cancelled and
        left to their lease).
    """
    running: set[asyncio.Task[None]] = set()

    async def run_tick() -> None:
        try:
            await tick(clock.now())
        except Exception:
            # A failed tick (database unreachable...) is retried by the next wake-up.
            log.exception("scheduled tick failed")

    async def wake() -> None:
        # Shielded: shutting APScheduler down cancels its job tasks, and a tick cancelled
        # between a send and its "sent" mark would leave a duplicate to the lease.
        task = asyncio.create_task(run_tick())
        running.add(task)
        task.add_done_callback(running.discard)
        await asyncio.shield(task)

    scheduler = _timer(wake, every)
    log.info("scheduler started", extra={"every": every})

    async def stop() -> StopReport:
        scheduler.shutdown(wait=False)
        return await _stop(service, running, grace)

    return stop


def _timer(wake: Callable[[], Awaitable[None]], every: float) -> AsyncIOScheduler:
    """APScheduler's timer calling ``wake`` every ``every`` seconds, at once first."""
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(
        wake,
        IntervalTrigger(seconds=every, timezone="UTC"),
        id=JOB_ID,
        name="outbox tick",
        replace_existing=True,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=max(int(every), 1),
        # APScheduler keeps wall-clock time, whatever clock the core's work runs on.
        next_run_time=dt.datetime.now(dt.UTC),
    )
    scheduler.start()
    return scheduler


async def _stop(
    service: SchedulerService | None, running: set[asyncio.Task[None]], grace: float
) -> StopReport:
    """After the timer stopped: give back unstarted claims, let the running tick finish
    within ``grace`` (else cancel it, its claims left to their lease), report."""
    report = StopReport()
    if service is not None:
        report = await service.begin_stop()
    # shutdown() is posted to the loop; let it run before waiting on the tick.
    await asyncio.sleep(0)
    left = 0
    if running:
        done, _ = await asyncio.wait(set(running), timeout=grace)
        left = 0 if service is None else service.in_flight()
        for task in set(running) - done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if service is not None:
        report = await service.end_stop(report, left)
    log.info("scheduler stopped", extra=dataclasses.asdict(report))
    return report
