"""Wakes the bot on a timer with APScheduler 3.x; the outbox decides what is due.

This is the only module that imports APScheduler. Each process runs its own
``AsyncIOScheduler`` with the default in-memory job store: APScheduler's documentation forbids
sharing a persistent job store between processes (they would each run the job), and nothing
here needs one, because every tick asks the database what is due and claims it. A tick that is
still running when the next one is due is skipped (``max_instances=1``), missed wake-ups are
coalesced into one, and stopping lets a running tick finish its sends, so that a clean stop
never leaves a claimed row to wait for its lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

if TYPE_CHECKING:
    from bot.app import Core

__all__ = ["JOB_ID", "start"]

log = logging.getLogger("kpibot.scheduler")

JOB_ID = "kpibot-tick"
"""The wake-up job's stable id."""


async def start(
    core: Core, *, every: float = 30.0, stop_timeout: float = 60.0
) -> Callable[[], Awaitable[None]]:
    """Start waking ``core.tick(core.clock.now())`` every ``every`` seconds, at once first.

    Args:
        core: The bot core (with the scheduler installed in ``core.ticks``).
        every: Seconds between wake-ups.
        stop_timeout: How long stopping waits for a running tick to finish its sends.

    Returns:
        An async function that stops the timer and waits for a running tick.
    """
    running: set[asyncio.Task[None]] = set()

    async def tick() -> None:
        try:
            await core.tick(core.clock.now())
        except Exception:
            # A failed tick (database unreachable...) is retried by the next wake-up.
            log.exception("scheduled tick failed")

    async def wake() -> None:
        # Shielded: shutting APScheduler down cancels its job tasks, and a tick cancelled
        # between a send and its "sent" mark would leave a duplicate to the lease.
        task = asyncio.create_task(tick())
        running.add(task)
        task.add_done_callback(running.discard)
        await asyncio.shield(task)

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
        next_run_time=core.clock.now(),
    )
    scheduler.start()
    log.info("scheduler started", extra={"every": every})

    async def stop() -> None:
        scheduler.shutdown(wait=False)
        # shutdown() is posted to the loop; let it run before waiting on the tick.
        await asyncio.sleep(0)
        if running:
            done, _ = await asyncio.wait(set(running), timeout=stop_timeout)
            for task in set(running) - done:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        log.info("scheduler stopped")

    return stop
