"""The APScheduler wake-up: ticks at once and then on its interval, survives a failing tick,
and stopping lets a running tick finish instead of cancelling it mid-send."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

from bot.core import SystemClock
from scheduler import runner


@dataclass
class FakeCore:
    """What the runner needs: a clock and ``tick`` (no scheduler service)."""

    clock: SystemClock = field(default_factory=SystemClock)
    ticks: list[dt.datetime] = field(default_factory=list)
    ticked: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event | None = None
    fail_first: bool = False
    finished: int = 0

    async def tick(self, now: dt.datetime) -> None:
        self.ticks.append(now)
        self.ticked.set()
        if self.fail_first and len(self.ticks) == 1:
            raise RuntimeError("database unreachable")
        if self.release is not None:
            await self.release.wait()
        self.finished += 1


async def test_ticks_at_start_and_again_after_a_failure() -> None:
    core = FakeCore(fail_first=True)
    stop = await runner.start(core.tick, core.clock, None, every=0.05)
    try:
        async with asyncio.timeout(10):
            while len(core.ticks) < 3:
                core.ticked.clear()
                await core.ticked.wait()
    finally:
        await stop()
    assert core.finished >= 2
    assert all(t.tzinfo is not None for t in core.ticks)


async def test_stop_waits_for_the_running_tick() -> None:
    core = FakeCore(release=asyncio.Event())
    stop = await runner.start(core.tick, core.clock, None, every=60)
    async with asyncio.timeout(10):
        await core.ticked.wait()
    stopping = asyncio.ensure_future(stop())
    await asyncio.sleep(0)
    assert not stopping.done()  # the tick is still sending
    assert core.release is not None
    core.release.set()
    async with asyncio.timeout(10):
        await stopping
    assert core.finished == 1  # finished, not cancelled
    assert len(core.ticks) == 1


def test_only_the_runner_imports_apscheduler() -> None:
    root = Path(__file__).resolve().parents[1]
    importers = sorted(
        str(path.relative_to(root))
        for folder in ("bot", "handlers", "kpi", "scheduler")
        for path in (root / folder).rglob("*.py")
        if re.search(r"^\s*(from|import) apscheduler", path.read_text(encoding="utf-8"), re.M)
    )
    assert importers == ["scheduler/runner.py"]
