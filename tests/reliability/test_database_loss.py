"""Database loss: PostgreSQL becomes unreachable during commands, then comes back.

The shared server is never stopped: the core reaches it through :class:`CuttableProxy`, a
TCP proxy on 127.0.0.1 that the test cuts (every connection dropped at once, new ones
refused) and restores. The cut happens at an exact point of a command, from the engine's own
events, so every run is the same.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url

from bot.app import Core
from bot.core import Command, Outgoing
from bot.core.i18n import t
from bot.settings import Settings
from tests.reliability.conftest import DEAL, SELLER, SELLER_GROUP, demo_core

NOW = dt.datetime(2026, 11, 20, 20, 0, tzinfo=dt.UTC)  # 12:00 in Los Angeles
DAY = dt.date(2026, 11, 20)
FIGURES = "gmv 12000 orders 340 ad_spend 2100"
VALUES = {"gmv": Decimal(12000), "orders": Decimal(340), "ad_spend": Decimal(2100)}
NOT_SAVED = t("router.storage_failed", "en")
ANSWER_WITHIN = 30.0
"""A failure must be answered, not hang: a safety net far above what a passing run takes."""


class CuttableProxy:
    """A TCP proxy on 127.0.0.1 (port 0) in front of a server, that a test can cut and restore.

    ``cut()`` is synchronous, so it can be called from inside a SQLAlchemy event: it stops
    listening (new connections are refused) and drops every open connection at once.
    ``cut_after(marker)`` cuts as soon as a client message containing ``marker`` has been
    passed on to the server, so the server acts on it but the client never hears back.
    """

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self.connections = 0
        """Connections accepted since the start (each one is a new server session)."""
        self._server: asyncio.Server | None = None
        self._pipes: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._marker: bytes | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> CuttableProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def up(self) -> bool:
        return self._server is not None

    def cut(self) -> None:
        """Refuse new connections and drop every open one (both ends reset)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for client, upstream in list(self._pipes):
            client.transport.abort()
            upstream.transport.abort()
        self._pipes.clear()

    def cut_after(self, marker: bytes) -> None:
        """Cut right after the next client message containing ``marker`` reaches the server."""
        self._marker = marker

    async def restore(self) -> None:
        """Listen again, on the same port."""
        if self._server is None:
            await self.start()

    async def aclose(self) -> None:
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._server is None:  # accepted just before a cut
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.connections += 1
        pipe = (writer, up_writer)
        self._pipes.add(pipe)
        for task in (
            asyncio.create_task(self._pump(reader, up_writer, pipe, watch=True)),
            asyncio.create_task(self._pump(up_reader, writer, pipe, watch=False)),
        ):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        pipe: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
        *,
        watch: bool,
    ) -> None:
        with suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
                if watch and self._marker is not None and self._marker in data:
                    self._marker = None
                    # The server has the whole message: close its side in order (FIN after
                    # the data), so it acts on it, and reset the client, who never hears back.
                    self._cut_leaving_server_the_last_word(pipe)
                    return
        if pipe in self._pipes:
            writer.transport.abort()

    def _cut_leaving_server_the_last_word(
        self, pipe: tuple[asyncio.StreamWriter, asyncio.StreamWriter]
    ) -> None:
        client, upstream = pipe
        upstream.close()
        self._pipes.discard(pipe)
        client.transport.abort()
        self.cut()


@pytest.fixture
async def proxy(pg_url: str) -> AsyncIterator[CuttableProxy]:
    url = make_url(pg_url)
    started = await CuttableProxy(url.host or "127.0.0.1", url.port or 5432).start()
    try:
        yield started
    finally:
        await started.aclose()


@pytest.fixture
async def core(pg_url: str, proxy: CuttableProxy) -> AsyncIterator[Core]:
    """The core on the test database, through the proxy."""
    through = make_url(pg_url).set(host="127.0.0.1", port=proxy.port)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=through.render_as_string(hide_password=False),
    )
    built = await demo_core(settings, NOW)
    try:
        yield built
    finally:
        await built.aclose()


_ids = itertools.count(1)


def command(text: str, message_id: str | None = None) -> Command:
    """A command from a seller in the seller's Telegram group."""
    return Command(
        chat=f"telegram:{SELLER_GROUP}",
        user=f"telegram:{SELLER}",
        name="Xiao Lin",
        text=text,
        at=NOW,
        message_id=message_id or f"m{next(_ids)}",
    )


async def ask(core: Core, cmd: Command) -> Outgoing:
    """The one answer to ``cmd``, which must come promptly, outage or not."""
    async with asyncio.timeout(ANSWER_WITHIN):
        [answer] = await core.handle(cmd)
    return answer


def before_commit_of_a_write(core: Core, action: Callable[[], None]) -> Callable[[], None]:
    """Run ``action`` once, when the first transaction that wrote something is about to
    commit: every row is sent, nothing is committed yet.

    Returns a function that removes the hooks."""
    engine = core.engine.sync_engine
    wrote: set[int] = set()
    fired: list[bool] = []

    def statement(conn: Any, *args: Any) -> None:
        if str(args[1]).lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            wrote.add(id(conn))

    def commit(conn: Any) -> None:
        if not fired and id(conn) in wrote:
            fired.append(True)
            action()
        wrote.discard(id(conn))

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)

    def remove() -> None:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)

    return remove


async def stored(core: Core, cmd: Command) -> dict[str, Decimal]:
    key = f"{cmd.chat}:{cmd.message_id}"
    return {e.metric: e.value for e in await core.ledger.entries_for_message(DEAL, key)}


async def heads(core: Core) -> dict[str, Decimal]:
    return {e.metric: e.value for e in await core.ledger.current_entries(DEAL, DAY, DAY)}


async def test_cut_in_the_middle_of_a_write_says_not_saved_and_service_resumes(
    core: Core, proxy: CuttableProxy
) -> None:
    """Proves that when the database connection is cut inside the write transaction of a
    three-metric report (every row sent, the commit not yet), the person gets the clear "Not
    saved" answer promptly, no entry and no head of that message exists, every command
    during the outage (reports, a redelivery, /kpi, /history, /fee) gets a clear failure
    answer instead of hanging or crashing, and once the server is reachable again the same
    core, without a restart, stores the re-sent message exactly once and answers normally."""
    first = command(f"/report {FIGURES} yesterday")
    assert "Saved" in (await ask(core, first)).text

    cut_report = command(f"/report {FIGURES}")
    unhook = before_commit_of_a_write(core, proxy.cut)
    answer = await ask(core, cut_report)
    unhook()
    assert not proxy.up
    assert (answer.kind, answer.text) == ("error", NOT_SAVED)
    assert "Not saved" in answer.text

    during = [
        command("/report gmv 1 orders 2"),
        cut_report,  # the person sends it again too early
        command(f"/report {FIGURES} yesterday", first.message_id),  # a redelivery
        command("/kpi"),
        command("/history gmv"),
        command("/fee"),
    ]
    for cmd in during:
        answer = await ask(core, cmd)
        assert (answer.kind, answer.text) == ("error", NOT_SAVED), cmd.text

    await proxy.restore()
    assert await stored(core, cut_report) == {}
    assert await heads(core) == {}  # nothing half-written: no head points anywhere

    again = await ask(core, cut_report)
    assert again.kind == "reply" and again.text.startswith("✅ Saved"), again.text
    assert await stored(core, cut_report) == VALUES
    assert await heads(core) == VALUES
    assert "Already recorded" in (await ask(core, cut_report)).text
    assert "Already recorded" in (await ask(core, first)).text
    kpi = await ask(core, command("/kpi"))
    assert kpi.kind == "reply" and "gmv 24,000" in kpi.text  # yesterday and today
    assert len(await core.ledger.history(DEAL, limit=100)) == 2 * len(VALUES)


async def test_outage_between_commands_is_invisible_once_the_server_is_back(
    core: Core, proxy: CuttableProxy
) -> None:
    """Proves that pooled connections killed while idle (a database restart between two
    commands) cost nothing: the next command after the server is back succeeds at the first
    attempt, on new connections, in the same process."""
    assert "Saved" in (await ask(core, command("/report gmv 100 yesterday"))).text
    before = proxy.connections
    proxy.cut()
    await proxy.restore()

    answer = await ask(core, command("/report gmv 12000"))

    assert answer.kind == "reply" and answer.text.startswith("✅ Saved"), answer.text
    assert proxy.connections > before  # the dead pooled connections were replaced
    assert await heads(core) == {"gmv": Decimal(12000)}


async def test_connection_lost_while_committing_is_never_half_written_or_counted_twice(
    core: Core, proxy: CuttableProxy
) -> None:
    """Proves the one ambiguous case: the COMMIT reaches the server but the connection dies
    before the answer. The client cannot know the outcome and says "Not saved" (the reply
    asks to send the command again); the server committed the whole message, never a part;
    and the re-sent command, once the database is back, is recognised ("Already recorded")
    and stored once."""
    cmd = command(f"/report {FIGURES}")
    unhook = before_commit_of_a_write(core, lambda: proxy.cut_after(b"COMMIT"))
    answer = await ask(core, cmd)
    unhook()
    assert not proxy.up
    assert (answer.kind, answer.text) == ("error", NOT_SAVED)

    await proxy.restore()
    assert await stored(core, cmd) == VALUES  # all of it: the server had the whole COMMIT
    assert await heads(core) == VALUES
    again = await ask(core, cmd)
    assert "Already recorded" in again.text, again.text
    assert len(await core.ledger.history(DEAL, limit=100)) == len(VALUES)
