"""Mid-command crash: the bot process is killed with SIGKILL at every point of a ``/report``.

The bot runs in its own process (``tests/reliability/crash_child.py``: the real core behind
the Telegram adapter, polling the fake Bot API that runs here). A three-metric report is sent,
and the bot is frozen and killed at crash point 1, then (in a new run, for a new day) at point
2, and so on until a run gets through the whole command: every SQL statement, every commit,
before and after the answer. After each kill the ledger and the chat are inspected, then the
bot is restarted and Telegram redelivers the unconfirmed update.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bot.adapters.telegram import TelegramAdapter
from bot.app import build_core
from bot.core import VirtualClock
from bot.settings import Settings
from kpi.model import Entry
from tests.conftest import ROOT
from tests.fakes.telegram_api import TOKEN, FakeTelegram
from tests.reliability.conftest import DEAL, SELLER, SELLER_GROUP, demo_core

# About 20 s per backend on a busy 2-core machine (one run per crash point).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

NOW = dt.datetime(2027, 1, 31, 20, 0, tzinfo=dt.UTC)
FIRST_DAY = dt.date(2026, 11, 1)
VALUES = {"gmv": Decimal("12000.50"), "orders": Decimal(340), "ad_spend": Decimal(2100)}
MAX_POINTS = 80
"""More crash points than a report has: the sweep must end with a run that finishes."""
WAIT = 30.0  # a safety net for a broken run; a passing run never waits for it


@dataclass
class Zygote:
    """The parent of the bot runs (see ``crash_child``), and the lines they printed."""

    proc: asyncio.subprocess.Process
    lines: list[list[str]] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    runs: set[int] = field(default_factory=set)

    async def read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            async with self.changed:
                self.lines.append(raw.decode().rstrip("\n").split(" ", 3))
                self.changed.notify_all()

    async def line(self, wanted: Callable[[list[str]], bool]) -> list[str]:
        """The first line printed so far or from now on that satisfies ``wanted``."""
        async with asyncio.timeout(WAIT), self.changed:
            await self.changed.wait_for(lambda: any(wanted(line) for line in self.lines))
        return next(line for line in self.lines if wanted(line))

    async def fork(self, run: str, **spec: Any) -> int:
        """Start one bot; returns its pid."""
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps({"id": run, **spec}) + "\n").encode())
        await self.proc.stdin.drain()
        forked = await self.line(lambda line: line[:2] == ["FORK", run])
        pid = int(forked[2])
        self.runs.add(pid)
        return pid

    async def kill(self, pid: int) -> None:
        """SIGKILL one bot and wait until it is gone."""
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        exited = await self.line(lambda line: line[:2] == ["EXIT", str(pid)])
        assert exited[2] == str(-signal.SIGKILL)
        self.runs.discard(pid)


@pytest.fixture
async def zygote(tmp_path: Path) -> AsyncIterator[Zygote]:
    with (tmp_path / "bots.log").open("wb") as errors:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.reliability.crash_child",
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=errors,
        )
    zygote = Zygote(proc)
    reader = asyncio.create_task(zygote.read())
    try:
        await zygote.line(lambda line: line[0] == "ZYGOTE")
        yield zygote
    finally:
        for pid in zygote.runs:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        assert proc.stdin is not None
        proc.stdin.close()  # the zygote kills what is left and exits
        try:
            async with asyncio.timeout(10):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()
        await reader


def telegram_settings(url: str, tg: FakeTelegram) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=url,
        telegram_bot_token=SecretStr(TOKEN),
        telegram_base_url=tg.base_url,
    )


@dataclass
class Outcome:
    """What one run left behind."""

    point: int
    what: str
    stored: bool
    told_saved: bool


async def test_killed_at_every_point_of_a_report_leaves_all_or_nothing(
    db_url: str, zygote: Zygote, tmp_path: Path
) -> None:
    """Proves, for a kill at every crash point of ``/report gmv … orders … ad_spend …``
    (each SQL statement, each commit, before and after the answer): the message's entries are
    all stored or none is, the head of each metric is the stored entry or nothing, the person
    was told "Saved" only if it was stored, and after a restart Telegram's redelivery of the
    unconfirmed update leaves the message stored exactly once, answered "Saved" if it was not
    stored before and "Already recorded" if it was."""
    async with FakeTelegram() as tg:
        settings = telegram_settings(db_url, tg)
        inspector = await demo_core(settings, NOW)
        outcomes: list[Outcome] = []
        try:
            for point in range(1, MAX_POINTS + 1):
                day = FIRST_DAY + dt.timedelta(days=point)
                outcome = await crash_once(zygote, tg, settings, inspector.ledger, point, day)
                outcomes.append(outcome)
                if outcome.what == "DONE":
                    break
            total = await inspector.ledger.history(DEAL, limit=10_000)
        finally:
            await inspector.aclose()

    *crashes, finished = outcomes
    assert finished.what == "DONE", "the sweep ran out of points before the command ended"
    assert len(crashes) >= 10
    # Every message ends up stored once: three entries per run, nothing else.
    assert len(total) == 3 * len(outcomes)
    # The sweep went through both outcomes: killed before the commit and after it.
    assert any(not o.stored for o in crashes) and any(o.stored for o in crashes)
    assert any(o.told_saved for o in crashes)  # killed after answering, before confirming
    report = "\n".join(f"{o.point:3d} {o.what[:70]:70} stored={o.stored}" for o in outcomes)
    (tmp_path / "crash-points.txt").write_text(report)


async def crash_once(
    zygote: Zygote,
    tg: FakeTelegram,
    settings: Settings,
    ledger: Any,
    point: int,
    day: dt.date,
) -> Outcome:
    """One run: send the report, kill the bot at ``point``, inspect, restart, inspect."""
    figures = " ".join(f"{m} {v}" for m, v in VALUES.items())
    update = tg.push_message(
        SELLER_GROUP, f"/report {figures} {day.isoformat()}", user_id=SELLER, date=NOW
    )
    message_id = update["message"]["message_id"]
    key = f"telegram:{SELLER_GROUP}:{SELLER_GROUP}:{message_id}"
    pid = await zygote.fork(
        f"run-{point}", db=settings.database_url, tg=tg.base_url, now=NOW.isoformat(), kill_at=point
    )
    stop = await zygote.line(lambda line: line[0] in ("PAUSE", "DONE") and line[1] == str(pid))
    if stop[0] == "DONE":
        # Past the last point: let it confirm the update, as a bot that lived on would.
        await tg.wait_for(lambda: tg.confirmed_offset > update["update_id"], within=WAIT)
        what = "DONE"
    else:
        what = stop[3]
    await zygote.kill(pid)

    stored = await ledger.entries_for_message(DEAL, key)
    answers = replies_to(tg, message_id)
    told_saved = any("Saved" in text for text in answers)
    check_all_or_nothing(stored, await ledger.current_entries(DEAL, day, day), what)
    assert stored or not told_saved, f"told saved, but nothing stored (killed at {what})"
    assert len(answers) <= 1

    # Restart: a new process (a fresh core and adapter) polls the same Bot API.
    redelivered = tg.confirmed_offset <= update["update_id"]
    assert redelivered or what == "DONE"
    core = await build_core(settings, clock=VirtualClock(NOW), migrate=False)
    adapter = TelegramAdapter(core, settings, rate_limiter=None, poll_timeout=1, typing_after=600)
    core.add_port(adapter.port)
    await adapter.start()
    try:
        await tg.wait_for(lambda: tg.confirmed_offset > update["update_id"], within=WAIT)
    finally:
        await adapter.stop()
        await core.aclose()

    after = await ledger.entries_for_message(DEAL, key)
    check_all_or_nothing(after, await ledger.current_entries(DEAL, day, day), what)
    assert {e.metric: e.value for e in after} == VALUES, f"not stored once (killed at {what})"
    if stored:
        assert [e.id for e in after] == [e.id for e in stored]
    later = replies_to(tg, message_id)[len(answers) :]
    if redelivered:
        [answer] = later
        expected = "Already recorded" if stored else "✅ Saved"
        assert expected in answer, (what, answer)
    else:
        assert later == []
    return Outcome(point, what, bool(stored), told_saved)


def check_all_or_nothing(stored: list[Entry], heads: list[Entry], what: str) -> None:
    """The message's entries are all there or none; the day's heads are exactly them."""
    assert {e.metric for e in stored} in (set(), set(VALUES)), f"half-written at {what}"
    if stored:
        assert {e.metric: e.value for e in stored} == VALUES
    assert sorted(e.id for e in heads) == sorted(e.id for e in stored), f"heads at {what}"


def replies_to(tg: FakeTelegram, message_id: int) -> list[str]:
    """The bot's answers threaded under one message, in order."""
    texts = []
    for call, text in zip(tg.sent(SELLER_GROUP), tg.texts(SELLER_GROUP), strict=True):
        threaded = json.loads(call.params.get("reply_parameters", "{}"))
        if threaded.get("message_id") == message_id:
            texts.append(text)
    return texts
