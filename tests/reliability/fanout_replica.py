"""The single scheduler replica of the fan-out crash test (``test_fanout_crash.py``).

70 deals share a recap time, each linked to three chats: 210 messages (plus 70 recap jobs) come
due at once. ``child_main`` ticks one replica until the outbox is empty (lease 3 s, batches of
20, 4 chats at once). Each process records a send in its log *before* the simulated platform
latency, as a platform that accepts a message on receipt would: a kill during that latency is
exactly the "sent but not marked" case the lease exists for.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.core import Delivered, Outgoing
from bot.settings import Settings

DEALS = 70
CHATS_PER_DEAL = 3
LEASE_SECONDS = 3
TICK_SECONDS = 0.05
CONCURRENCY = 4
SEND_LATENCY = 0.1
BASE = dt.datetime.fromisoformat("2026-11-02T09:00:00-08:00")


def chats_of(i: int) -> tuple[tuple[str, str], ...]:
    return (
        (f"telegram:-100{i:04d}", "seller"),
        (f"slack:C{i:04d}AG", "agency"),
        (f"slack:C{i:04d}SH", "shared"),
    )


# ------------------------------------------------------------------------- the child


@dataclass
class LogPort:
    """Appends one JSON line per accepted message (O_APPEND: survives SIGKILL), then waits."""

    fd: int
    name: str
    platform: str = "*"

    async def send(self, message: Outgoing) -> Delivered:
        key = f"{message.to}|{message.text.splitlines()[0]}"
        line = json.dumps({"key": key, "proc": self.name, "t": time.time()}) + "\n"
        os.write(self.fd, line.encode())
        await asyncio.sleep(SEND_LATENCY)
        return Delivered(ok=True, message_id=f"{self.name}:{key}")


@dataclass
class OffsetClock:
    """Scenario time: ``base`` plus the wall-clock seconds since ``epoch`` (shared by all)."""

    base: dt.datetime
    epoch: float

    def now(self) -> dt.datetime:
        return (self.base + dt.timedelta(seconds=time.time() - self.epoch)).astimezone(dt.UTC)


async def child_main(url: str, name: str, log_path: str, start_at: float) -> None:
    """One replica: wait for the common start, tick until nothing is pending or claimed."""
    from sqlalchemy import func, select

    from bot.app import build_core, install_scheduler
    from scheduler.tables import outbox

    settings = Settings(  # type: ignore[call-arg]
        database_url=url, outbox_lease_seconds=LEASE_SECONDS, _env_file=None
    )
    clock = OffsetClock(BASE, start_at)
    core = await build_core(settings, clock=clock, migrate=False)
    install_scheduler(core, charts=False, batch=20, concurrency=CONCURRENCY, worker=name)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    core.add_port(LogPort(fd, name))
    await asyncio.sleep(max(0.0, start_at - time.time()))
    try:
        while True:
            await core.tick(clock.now())
            async with core.engine.connect() as conn:
                left = (
                    await conn.execute(
                        select(func.count())
                        .select_from(outbox)
                        .where(outbox.c.status.in_(("pending", "claimed")))
                    )
                ).scalar_one()
            if not left:
                break
            await asyncio.sleep(TICK_SECONDS)
    finally:
        os.close(fd)
        await core.aclose()


# -------------------------------------------------------------------------- the test


async def setup_deals(url: str) -> None:
    from bot.app import build_core
    from bot.core import VirtualClock
    from tests.test_scheduler_support import deal_yaml

    clock = VirtualClock(dt.datetime.fromisoformat("2026-11-01T00:00:00-07:00"))
    core = await build_core(Settings(database_url=url, _env_file=None), clock=clock)  # type: ignore[call-arg]
    try:
        for i in range(DEALS):
            await core.apply_deal_text(
                deal_yaml(
                    deal_id=f"deal-{i:04d}",
                    name=f"Deal {i:04d}",
                    chats=chats_of(i),
                    schedule="schedule:\n  recap: mon 09:00\n",
                )
            )
    finally:
        await core.aclose()


def read_log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
