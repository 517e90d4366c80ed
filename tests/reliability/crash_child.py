"""The bot process the crash test kills: a zygote that forks one Telegram bot per run.

``python -m tests.reliability.crash_child`` imports everything a bot needs once, prints
``ZYGOTE <pid>``, then reads one JSON run description per line on stdin and forks a bot for
each: the real core on the given database behind the Telegram adapter, polling the given fake
Bot API. A fork starts in milliseconds where a new interpreter takes seconds, so the test can
crash the bot at every point of a command.

Inside a run, each point of the command where a crash can happen is a numbered step: the
command entering the core, every SQL statement, every commit (just before it reaches the
database), the core returning, the answer about to be sent, and the answer sent. At step
``kill_at`` the bot prints ``PAUSE <pid> <n> <what>`` and freezes there until the test kills
it with SIGKILL. A run that gets past its last step prints ``DONE <pid> <steps>``.

Lines on stdout (each written whole, so they never interleave): ``FORK <run id> <pid>``,
``READY <pid>``, ``STEP <pid> <n> <what>``, ``PAUSE <pid> <n> <what>``, ``DONE <pid> <n>``,
``EXIT <pid> <exit code>`` (``-9`` after SIGKILL). Closing stdin ends the zygote and kills its
runs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import selectors
import signal
import sys
import time
import traceback
from typing import Any

FROZEN_FOR = 120.0
"""How long a paused bot waits to be killed before it gives up (a test that died)."""


def emit(*words: object) -> None:
    """One whole line on stdout (a single ``write``: lines from many processes never mix)."""
    os.write(1, (" ".join(str(w) for w in words) + "\n").encode())


class Steps:
    """Numbers the crash points of one command and freezes the process at ``kill_at``."""

    def __init__(self, kill_at: int | None) -> None:
        self.kill_at = kill_at
        self.count = 0
        self.active = False

    def step(self, what: str) -> None:
        """Mark a crash point; at ``kill_at``, say so and wait for SIGKILL."""
        if not self.active:
            return
        self.count += 1
        emit("STEP", os.getpid(), self.count, what)
        if self.count == self.kill_at:
            emit("PAUSE", os.getpid(), self.count, what)
            # Block the whole process, event loop included: nothing after this point runs.
            time.sleep(FROZEN_FOR)
            os._exit(3)


def install(core: Any, adapter: Any, steps: Steps) -> None:
    """Put the crash points into a built core and adapter."""
    from sqlalchemy import event

    engine = core.engine.sync_engine

    @event.listens_for(engine, "before_cursor_execute")
    def _statement(*args: Any) -> None:
        statement = str(args[2])
        steps.step("sql " + " ".join(statement.split())[:80])

    @event.listens_for(engine, "commit")
    def _commit(_conn: Any) -> None:
        steps.step("commit")

    handle = core.handle

    async def traced_handle(cmd: Any) -> Any:
        steps.active = True
        steps.step("handle " + cmd.text)
        replies = await handle(cmd)
        steps.step("handled")
        return replies

    core.handle = traced_handle
    send = adapter.port.send

    async def traced_send(message: Any, **kwargs: Any) -> Any:
        steps.step("send " + message.text.splitlines()[0])
        delivered = await send(message, **kwargs)
        steps.step("sent")
        steps.active = False
        emit("DONE", os.getpid(), steps.count)
        return delivered

    adapter.port.send = traced_send


async def run(spec: dict[str, Any]) -> None:
    """One bot: the core on ``spec["db"]`` behind a polling Telegram adapter, until killed."""
    from pydantic import SecretStr

    from bot.adapters.telegram import TelegramAdapter
    from bot.app import build_core
    from bot.core import VirtualClock
    from bot.settings import Settings
    from tests.fakes.telegram_api import TOKEN

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=spec["db"],
        telegram_bot_token=SecretStr(TOKEN),
        telegram_base_url=spec["tg"],
    )
    now = dt.datetime.fromisoformat(spec["now"])
    core = await build_core(settings, clock=VirtualClock(now), migrate=False)
    adapter = TelegramAdapter(core, settings, rate_limiter=None, poll_timeout=1, typing_after=600)
    core.add_port(adapter.port)
    install(core, adapter, Steps(spec.get("kill_at")))
    await adapter.start()
    emit("READY", os.getpid())
    await asyncio.Event().wait()


def _fork(spec: dict[str, Any], children: set[int], closing: list[int]) -> None:
    pid = os.fork()
    if pid:
        children.add(pid)
        emit("FORK", spec["id"], pid)
        return
    code = 0
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in closing:
            os.close(fd)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        asyncio.run(run(spec))
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        sys.stderr.flush()
        os._exit(code)


def _reap(children: set[int]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        children.discard(pid)
        emit("EXIT", pid, os.waitstatus_to_exitcode(status))


def warm_up() -> None:
    """Do once, before forking, the slow first-use work every run would repeat: the message
    catalog (YAML) and the imports python-telegram-bot makes when an application is built."""
    from pydantic import SecretStr

    from bot.adapters.telegram import TelegramAdapter
    from bot.core.i18n import catalog
    from bot.settings import Settings
    from tests.fakes.telegram_api import TOKEN

    catalog()
    settings = Settings(_env_file=None, telegram_bot_token=SecretStr(TOKEN))  # type: ignore[call-arg]
    TelegramAdapter(object(), settings, rate_limiter=None)  # type: ignore[arg-type]


def main() -> None:
    """The zygote's loop: fork a bot per line on stdin, report every child's exit."""
    # Everything a bot imports, imported once before any fork (and before any thread).
    import aiosqlite  # noqa: F401
    import asyncpg  # noqa: F401
    import sqlalchemy.dialects.postgresql.asyncpg
    import sqlalchemy.dialects.sqlite.aiosqlite  # noqa: F401

    import bot.adapters.telegram
    import bot.app  # noqa: F401
    import handlers.registry  # noqa: F401
    import scheduler  # noqa: F401
    import tests.fakes.telegram_api  # noqa: F401

    warm_up()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(0, selectors.EVENT_READ, "stdin")
    selector.register(wake_r, selectors.EVENT_READ, "children")
    children: set[int] = set()
    pending = b""
    emit("ZYGOTE", os.getpid())
    while True:
        for key, _ in selector.select():
            if key.data == "children":
                while True:
                    try:
                        if not os.read(wake_r, 4096):
                            break
                    except BlockingIOError:
                        break
                _reap(children)
                continue
            data = os.read(0, 65536)
            if not data:
                # The test is gone: take every run down with the zygote.
                for pid in list(children):
                    os.kill(pid, signal.SIGKILL)
                return
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                _fork(json.loads(line), children, [wake_r, wake_w, selector.fileno()])


if __name__ == "__main__":
    main()
