"""Group commit of reports (kpi.batch.GroupCommit under Ledger.record_report), on SQLite and
PostgreSQL: reports that arrive together share one transaction, each in its own savepoint; a
failing report rejects only itself; a failed commit fails the whole batch and stores none of it.

Batches are observed from outside: the engine's ``commit`` and ``savepoint`` events count the
transactions and the savepoints, and the ledger's reads show what was stored."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core import Command
from bot.settings import Settings
from kpi.batch import BatchStats
from kpi.errors import StorageError
from kpi.ledger import Ledger, ReportResult
from kpi.model import Deal, Side
from tests.conftest import APPLIED_AT
from tests.reliability.conftest import AGENCY_CHANNEL, AGENCY_PERSON, demo_core
from tests.test_ledger_concurrency import assert_linear_chains

D = Decimal
DAY = dt.date(2026, 11, 5)
AT = dt.datetime(2026, 11, 5, 20, 0, tzinfo=dt.UTC)


class Transactions:
    """What the engine did: commits of transactions that wrote, savepoints, rollbacks to a
    savepoint."""

    def __init__(self) -> None:
        self.commits = 0
        self.savepoints = 0
        self.rolled_back_to = 0
        self.writing: set[int] = set()


@contextmanager
def watched(engine: AsyncEngine) -> Iterator[Transactions]:
    """Count the engine's commits of writes (reads commit too, and are not counted) and its
    savepoints while the block runs."""
    seen = Transactions()

    def statement(conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        if sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            seen.writing.add(id(conn))

    def commit(conn: Any) -> None:
        if id(conn) in seen.writing:
            seen.writing.discard(id(conn))
            seen.commits += 1

    def rollback(conn: Any) -> None:
        seen.writing.discard(id(conn))

    def savepoint(_conn: Any, _name: Any) -> None:
        seen.savepoints += 1

    def rollback_savepoint(_conn: Any, _name: Any, _context: Any) -> None:
        seen.rolled_back_to += 1

    hooks: list[tuple[str, Callable[..., None]]] = [
        ("before_cursor_execute", statement),
        ("commit", commit),
        ("rollback", rollback),
        ("savepoint", savepoint),
        ("rollback_savepoint", rollback_savepoint),
    ]
    for name, hook in hooks:
        event.listen(engine.sync_engine, name, hook)
    try:
        yield seen
    finally:
        for name, hook in hooks:
            event.remove(engine.sync_engine, name, hook)


@contextmanager
def failing_commits(
    engine: AsyncEngine, failure: Callable[[], Exception], *, after: int, times: int = 1
) -> Iterator[None]:
    """After ``after`` commits, the next ``times`` fail with ``failure()`` before they reach
    the database."""
    passed = [after]
    left = [times]

    def commit(_conn: Any) -> None:
        if passed[0] > 0:
            passed[0] -= 1
        elif left[0] > 0:
            left[0] -= 1
            raise failure()

    event.listen(engine.sync_engine, "commit", commit)
    try:
        yield
    finally:
        event.remove(engine.sync_engine, "commit", commit)


async def report(
    ledger: Ledger,
    deal_id: str,
    key: str,
    *values: tuple[str, Decimal],
    side: Side = "agency",
    day: dt.date = DAY,
    person: str = "slack:U-AGENCY",
    skip_unchanged: bool = False,
) -> ReportResult:
    return await ledger.record_report(
        deal_id=deal_id,
        day=day,
        values=values,
        side=side,
        person=person,
        person_name="reporter",
        chat="slack:C0AGENCY",
        message_key=key,
        at=AT,
        skip_unchanged=skip_unchanged,
    )


async def day_report(ledger: Ledger, deal_id: str, n: int, metric: str = "gmv") -> ReportResult:
    """Report ``n`` for day ``DAY + n`` under key ``m{n}``: a new head each, no chain."""
    return await report(ledger, deal_id, f"m{n}", (metric, D(n)), day=DAY + dt.timedelta(days=n))


async def together(*calls: Any) -> list[Any]:
    """Run the calls concurrently; each one's result, or the exception it raised."""
    return list(await asyncio.gather(*calls, return_exceptions=True))


async def behind_an_opener(ledger: Ledger, deal_id: str, *calls: Any) -> list[Any]:
    """Run the calls while a first report (on the day before ``DAY``) is committing: it
    found its lane idle and commits alone; the calls queue up meanwhile and meet in the next
    batch. Returns the calls' results (or exceptions)."""
    opener = report(ledger, deal_id, "opener", ("viewers", D(1)), day=DAY - dt.timedelta(1))
    first, *rest = await together(opener, *calls)
    assert isinstance(first, ReportResult), first
    return rest


@pytest.fixture
async def lane(
    engine: AsyncEngine, parse_deal: Callable[[str], Deal], deal: Deal, deal_text: str
) -> Ledger:
    """A ledger with the deal applied whose reports all take one lane (SQLite's default; on
    PostgreSQL, where reports on other heads take other lanes, one of them): reports sent
    together then meet in one batch."""
    ledger = Ledger(engine, parse_deal, batch_lanes=1)
    await ledger.apply_deal(deal, deal_text, effective=deal.starts, applied_at=APPLIED_AT)
    return ledger


# ------------------------------------------------------------------------------ batching


async def test_reports_that_arrive_together_share_one_transaction(
    lane: Ledger, deal: Deal, engine: AsyncEngine
) -> None:
    days = [DAY + dt.timedelta(days=n) for n in range(12)]
    with watched(engine) as seen:
        results = await behind_an_opener(
            lane, deal.id, *(day_report(lane, deal.id, n) for n in range(len(days)))
        )

    assert seen.commits == 2  # the opener alone, then the twelve together
    # Stored together (one insert of twelve rows) as the transaction's first statements: no
    # savepoint needed (had it failed, the batch would run again, each in its own).
    assert seen.savepoints == 0
    assert lane.report_batches == BatchStats(batches=2, writes=13, largest=12)
    assert all(isinstance(r, ReportResult) and not r.duplicate for r in results)
    current = await lane.current_entries(deal.id, days[0], days[-1])
    assert [(e.day, e.value) for e in current] == [(d, D(n)) for n, d in enumerate(days)]


async def test_each_report_reads_its_metrics_earlier_days_in_its_own_transaction(
    lane: Ledger, deal: Deal
) -> None:
    # What the reply's unusual-figure check reads comes with the write: in a shared batch
    # (one statement for all), each report sees the days before its own, as one after another
    # would (an earlier day of the same batch included); a lone report the same.
    reports = (day_report(lane, deal.id, n) for n in range(6))
    results = await behind_an_opener(lane, deal.id, *reports)
    assert lane.report_batches.largest == 6
    for n, result in enumerate(results):
        assert result.recent is not None
        assert sorted((d, side, v) for d, side, v in result.recent["gmv"]) == [
            (DAY + dt.timedelta(days=k), "agency", D(k)) for k in range(n)
        ]
    alone = await day_report(lane, deal.id, 10)
    assert alone.recent is not None
    assert sorted(v for _, _, v in alone.recent["gmv"]) == [D(k) for k in range(6)]
    # A redelivery stored nothing and reads nothing.
    again = await day_report(lane, deal.id, 10)
    assert again.duplicate and again.recent is None


async def test_what_a_report_reads_is_its_metrics_latest_fourteen_days_within_ninety(
    lane: Ledger, deal: Deal
) -> None:
    for n in range(20):
        await day_report(lane, deal.id, n)
    later = await day_report(lane, deal.id, 25)
    assert later.recent is not None
    assert [d for d, _, _ in later.recent["gmv"]] == [
        DAY + dt.timedelta(days=k) for k in range(19, 5, -1)
    ]
    # Day 110: its 90 days before start at day 20, so of the days reported only day 25 counts.
    far = await day_report(lane, deal.id, 110)
    assert far.recent is not None
    assert [d for d, _, _ in far.recent["gmv"]] == [DAY + dt.timedelta(days=25)]


async def test_a_batch_never_holds_more_than_max_batch_reports(
    engine: AsyncEngine, parse_deal: Callable[[str], Deal], deal: Deal, deal_text: str
) -> None:
    ledger = Ledger(engine, parse_deal, max_batch=3, batch_lanes=1)
    await ledger.apply_deal(deal, deal_text, effective=deal.starts, applied_at=APPLIED_AT)
    with watched(engine) as seen:
        results = await together(*(day_report(ledger, deal.id, n) for n in range(10)))

    assert all(isinstance(r, ReportResult) for r in results)
    assert seen.commits == 4  # the first alone, then three batches of three
    assert ledger.report_batches == BatchStats(batches=4, writes=10, largest=3)
    assert len(await ledger.history(deal.id, limit=100)) == 10


async def test_reports_on_the_same_heads_meet_in_one_lane_in_arrival_order(
    engine: AsyncEngine, parse_deal: Callable[[str], Deal], deal: Deal, deal_text: str
) -> None:
    # Four lanes, but ten corrections of one figure: they lock the same head, so they take
    # the same lane (the first alone, then batches of three) and chain in the order sent.
    ledger = Ledger(engine, parse_deal, batch_lanes=4, max_batch=3)
    await ledger.apply_deal(deal, deal_text, effective=deal.starts, applied_at=APPLIED_AT)
    with watched(engine) as seen:
        results = await together(
            *(report(ledger, deal.id, f"c{n}", ("gmv", D(n))) for n in range(10))
        )

    assert seen.commits == 4
    assert ledger.report_batches == BatchStats(batches=4, writes=10, largest=3)
    assert results[0].superseded == (None,)
    for before, after in itertools.pairwise(results):
        assert after.superseded == before.entries
    (head,) = await ledger.current_entries(deal.id, DAY, DAY)
    assert head.value == D(9)


async def test_by_default_every_report_takes_one_lane_and_a_batch_is_stored_in_bulk(
    deal_ledger: Ledger, deal: Deal, engine: AsyncEngine
) -> None:
    with watched(engine) as seen:
        results = await together(*(day_report(deal_ledger, deal.id, n) for n in range(6)))

    assert all(isinstance(r, ReportResult) and not r.duplicate for r in results), results
    # Six days, six heads, on either database: the first alone, then the rest in one bulk.
    assert seen.commits == 2
    assert seen.savepoints == 0
    assert deal_ledger.report_batches == BatchStats(batches=2, writes=6, largest=5)


async def test_a_lone_report_commits_at_once_whatever_the_window(
    engine: AsyncEngine, parse_deal: Callable[[str], Deal], deal: Deal, deal_text: str
) -> None:
    # The window only keeps a running batch open to newcomers: nobody waits for company.
    ledger = Ledger(engine, parse_deal, batch_window=30.0)
    await ledger.apply_deal(deal, deal_text, effective=deal.starts, applied_at=APPLIED_AT)
    started = time.perf_counter()
    with watched(engine) as seen:
        first = await report(ledger, deal.id, "m1", ("gmv", D(1)))
        second = await report(ledger, deal.id, "m2", ("gmv", D(2)))

    assert time.perf_counter() - started < 10.0
    assert seen.commits == 2
    assert second.superseded == first.entries


async def test_reports_arriving_during_a_commit_form_the_next_batch(
    lane: Ledger, deal: Deal, engine: AsyncEngine
) -> None:
    first_commit = asyncio.Event()
    more: list[asyncio.Task[ReportResult]] = []

    def commit(_conn: Any) -> None:
        if not first_commit.is_set():
            first_commit.set()

    async def late_comers() -> None:
        await first_commit.wait()
        more.extend(
            asyncio.create_task(day_report(lane, deal.id, n, "orders")) for n in range(4)
        )

    event.listen(engine.sync_engine, "commit", commit)
    try:
        with watched(engine) as seen:
            waiting = asyncio.create_task(late_comers())
            await report(lane, deal.id, "early", ("gmv", D(1)), day=DAY - dt.timedelta(1))
            await waiting
            await asyncio.gather(*more)
    finally:
        event.remove(engine.sync_engine, "commit", commit)

    assert seen.commits == 2  # the lone early report, then the four late ones together
    assert len(await lane.history(deal.id, limit=100)) == 5


# ------------------------------------------------------------------------------ failures


async def test_a_failing_report_rejects_only_itself(
    lane: Ledger, deal: Deal, engine: AsyncEngine
) -> None:
    with watched(engine) as seen:
        good1, too_big, unknown, good2 = await behind_an_opener(
            lane,
            deal.id,
            report(lane, deal.id, "good1", ("gmv", D(100))),
            # gmv fits, orders overflows the column: a database (or bind-time) refusal.
            report(
                lane, deal.id, "big", ("gmv", D(5)), ("orders", D(10) ** 17), side="seller"
            ),
            # The deal's foreign key refuses it; PostgreSQL aborts the statement's transaction.
            report(lane, "no-such-deal", "lost", ("gmv", D(7))),
            report(lane, deal.id, "good2", ("orders", D(340))),
        )

    assert seen.commits == 2  # the opener, then the four together
    assert seen.rolled_back_to >= 2
    assert isinstance(too_big, ValueError)
    assert isinstance(unknown, LookupError)
    assert isinstance(good1, ReportResult) and isinstance(good2, ReportResult)
    assert await lane.entries_for_message(deal.id, "big") == []
    current = await lane.current_entries(deal.id, DAY, DAY)
    assert {(e.metric, e.side, e.value) for e in current} == {
        ("gmv", "agency", D(100)),
        ("orders", "agency", D(340)),
    }
    # The refused message, sent again corrected, is stored whole.
    fixed = await report(
        lane, deal.id, "big", ("gmv", D(5)), ("orders", D(9)), side="seller"
    )
    assert not fixed.duplicate


async def test_a_failed_commit_fails_every_report_of_the_batch_and_stores_none(
    lane: Ledger, deal: Deal, engine: AsyncEngine
) -> None:
    def disk_full() -> Exception:
        return sa_exc.OperationalError("COMMIT", {}, Exception("disk I/O error"))

    keys = [f"m{n}" for n in range(5)]
    with failing_commits(engine, disk_full, after=1):  # the opener's commit goes through
        results = await behind_an_opener(
            lane, deal.id, *(day_report(lane, deal.id, n) for n in range(5))
        )

    assert all(isinstance(r, StorageError) for r in results), results
    assert [e.message_key for e in await lane.history(deal.id, limit=100)] == ["opener"]
    # Nothing was acknowledged, so the senders retry: each is then stored once.
    again = await together(*(day_report(lane, deal.id, n) for n in range(5)))
    assert all(isinstance(r, ReportResult) and not r.duplicate for r in again)
    assert len(await lane.history(deal.id, limit=100)) == 1 + len(keys)


async def test_a_lost_connection_at_commit_runs_each_report_again_alone_and_stores_it_once(
    lane: Ledger, deal: Deal, engine: AsyncEngine
) -> None:
    def connection_lost() -> Exception:
        return sa_exc.OperationalError(
            "COMMIT", {}, Exception("server closed the connection"), connection_invalidated=True
        )

    with watched(engine) as seen, failing_commits(engine, connection_lost, after=1):
        results = await behind_an_opener(
            lane, deal.id, *(day_report(lane, deal.id, n) for n in range(4))
        )

    assert seen.commits == 1 + 1 + 4  # the opener, the refused batch, each report alone
    assert all(isinstance(r, ReportResult) and not r.duplicate for r in results), results
    stored = await lane.history(deal.id, limit=100)
    assert sorted(e.message_key for e in stored) == [*(f"m{n}" for n in range(4)), "opener"]


async def test_a_caller_that_gives_up_before_its_turn_stores_nothing(
    lane: Ledger, deal: Deal
) -> None:
    first = asyncio.create_task(report(lane, deal.id, "kept", ("gmv", D(1))))
    dropped = asyncio.create_task(report(lane, deal.id, "dropped", ("orders", D(2))))
    await asyncio.sleep(0)  # both are queued, the batch has not started
    dropped.cancel()

    assert not (await first).duplicate
    with pytest.raises(asyncio.CancelledError):
        await dropped
    assert await lane.entries_for_message(deal.id, "dropped") == []


# ------------------------------------------------------------------- ledger semantics


async def test_a_redelivery_inside_one_batch_is_stored_once(
    lane: Ledger, deal: Deal, engine: AsyncEngine
) -> None:
    values = (("gmv", D(12000)), ("orders", D(340)))
    with watched(engine) as seen:
        first, other, again = await behind_an_opener(
            lane,
            deal.id,
            report(lane, deal.id, "tg:1", *values),
            report(lane, deal.id, "tg:2", ("ad_spend", D(2100))),
            report(lane, deal.id, "tg:1", *values[::-1]),
        )

    assert seen.commits == 2  # the opener, then the three together
    assert not first.duplicate and not other.duplicate
    assert again.duplicate and not again.unchanged
    assert again.entries == first.entries[::-1]  # in the order the redelivery named them
    assert len(await lane.entries_for_message(deal.id, "tg:1")) == 2
    assert len(await lane.history(deal.id, limit=100)) == 1 + 3


async def test_corrections_within_a_batch_chain_in_arrival_order(
    lane: Ledger, deal: Deal, engine: AsyncEngine
) -> None:
    with watched(engine) as seen:
        results = await behind_an_opener(
            lane,
            deal.id,
            *(
                report(lane, deal.id, f"c{n}", ("gmv", D(1000 + n)), person=f"u:{n % 2}")
                for n in range(6)
            ),
        )

    assert seen.commits == 2
    assert results[0].superseded == (None,)
    for before, after in itertools.pairwise(results):
        assert after.superseded == before.entries
    (head,) = await lane.current_entries(deal.id, DAY, DAY)
    assert head == results[-1].entries[0] and head.value == D(1005)
    stored = await lane.history(deal.id, metric="gmv", limit=100)
    assert_linear_chains(stored, {(head.day, head.metric, head.side): head})


async def test_a_batch_stores_its_reports_as_one_after_another_would(
    lane: Ledger, deal: Deal, engine: AsyncEngine
) -> None:
    seller = {"side": "seller", "person": "telegram:5001"}
    with watched(engine) as seen:
        agency, theirs, orders, corrected, resent = await behind_an_opener(
            lane,
            deal.id,
            report(lane, deal.id, "k1", ("gmv", D(100))),
            report(lane, deal.id, "k2", ("gmv", D(90)), **seller),  # type: ignore[arg-type]
            report(lane, deal.id, "k3", ("orders", D(5))),
            # The agency's own gmv again: it supersedes k1, so it runs after the bulk, alone.
            report(lane, deal.id, "k4", ("gmv", D(110))),
            # The seller's figure re-sent unchanged: nothing is stored.
            report(lane, deal.id, "k5", ("gmv", D(90)), skip_unchanged=True, **seller),  # type: ignore[arg-type]
        )

    assert seen.commits == 2
    assert seen.savepoints == 2  # k1-k3 together, then k4 and k5 each in its own
    assert agency.others == (None,)
    assert theirs.others == agency.entries  # the agency's figure stored just before it
    assert orders.superseded == (None,) and orders.others == (None,)
    assert corrected.superseded == agency.entries and corrected.others == theirs.entries
    assert resent.duplicate and resent.unchanged and resent.entries == theirs.entries
    assert resent.others == corrected.entries
    current = await lane.current_entries(deal.id, DAY, DAY)
    assert {(e.metric, e.side, e.value, e.message_key) for e in current} == {
        ("gmv", "agency", D(110), "k4"),
        ("gmv", "seller", D(90), "k2"),
        ("orders", "agency", D(5), "k3"),
    }
    stored = await lane.history(deal.id, limit=100)
    heads = await lane.current_entries(deal.id, DAY - dt.timedelta(1), DAY)
    assert_linear_chains(stored, {(e.day, e.metric, e.side): e for e in heads})


async def test_an_unchanged_resend_within_a_batch_stores_nothing(
    lane: Ledger, deal: Deal
) -> None:
    first, same, changed = await behind_an_opener(
        lane,
        deal.id,
        report(lane, deal.id, "u1", ("gmv", D(500)), skip_unchanged=True),
        report(lane, deal.id, "u2", ("gmv", D(500)), skip_unchanged=True),
        report(lane, deal.id, "u3", ("gmv", D(600)), skip_unchanged=True),
    )

    assert not first.duplicate
    assert same.duplicate and same.unchanged and same.entries == first.entries
    assert changed.superseded == first.entries
    stored = await lane.history(deal.id, limit=10)
    assert [e.message_key for e in stored] == ["u3", "u1", "opener"]


async def test_two_ledgers_batching_the_same_heads_in_opposite_orders_store_each_once(
    db_url: str,
    engine: AsyncEngine,
    parse_deal: Callable[[str], Deal],
    deal: Deal,
    deal_text: str,
) -> None:
    """Two processes' batches, locking the same heads in opposite orders, may deadlock on
    PostgreSQL: the one chosen to break it is rolled back whole and run again."""
    from kpi.db import make_engine

    other_engine = make_engine(db_url)
    try:
        one = Ledger(engine, parse_deal)
        two = Ledger(other_engine, parse_deal)
        await one.apply_deal(deal, deal_text, effective=deal.starts, applied_at=APPLIED_AT)
        metrics = ["gmv", "orders"]

        def batch(ledger: Ledger, name: str, order: list[str]) -> list[Any]:
            return [
                report(ledger, deal.id, f"{name}{n}", (order[n % 2], D(n)), side="seller")
                for n in range(6)
            ]

        results = await together(*batch(one, "a", metrics), *batch(two, "b", metrics[::-1]))
    finally:
        await other_engine.dispose()

    assert all(isinstance(r, ReportResult) and not r.duplicate for r in results), results
    stored = await one.history(deal.id, limit=100)
    assert len(stored) == 12
    current = await one.current_entries(deal.id, DAY, DAY)
    assert_linear_chains(stored, {(e.day, e.metric, e.side): e for e in current})


# ------------------------------------------------------------------------- whole core


async def test_sixteen_reporters_through_the_core_are_each_answered_after_one_shared_commit(
    db_url: str, tmp_path: Any
) -> None:
    now = dt.datetime(2026, 11, 20, 20, 0, tzinfo=dt.UTC)
    core = await demo_core(Settings(_env_file=None, database_url=db_url), now)  # type: ignore[call-arg]
    try:
        commands = [
            Command(
                chat=f"slack:{AGENCY_CHANNEL}",
                user=f"slack:{AGENCY_PERSON}",
                text=f"/report gmv {1000 + n} 2026-11-05",  # one head: they meet in one lane
                at=now,
                message_id=f"ev{n}",
            )
            for n in range(16)
        ]
        redelivered = commands[3]
        with watched(core.ledger.engine) as seen:
            answers = await together(*(core.handle(cmd) for cmd in [*commands, redelivered]))
        again = await core.handle(commands[5])
    finally:
        await core.aclose()

    texts = [replies[0].text for replies in answers]
    assert sum("Saved" in text for text in texts) == 16, texts
    assert sum("Already recorded" in text for text in texts) == 1, texts
    assert "Already recorded" in again[0].text
    assert seen.commits < len(commands)
