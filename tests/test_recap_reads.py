"""A recap reads the ledger once: ``Ledger.period_records`` answers what ``deal_for_period``,
``current_entries`` and ``verdicts`` answer, in one transaction, and ``snapshot_and_days``
gives the snapshot and the week's figures exactly as separate reads would (issue 21)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from kpi.ledger import Ledger
from kpi.model import Deal, Side
from kpi.platform.store import PlatformStore
from kpi.platform.truth import resolve_figures
from kpi.snapshot import snapshot, snapshot_and_days
from scheduler.jobs import Jobs
from scheduler.outbox import NewRow, Outbox, OutboxRow
from scheduler.recap import build_recap
from scheduler.tables import JOB_CHAT

D = Decimal
AT = dt.datetime(2026, 12, 7, 3, tzinfo=dt.UTC)
NOV_30, DEC_1, DEC_6 = dt.date(2026, 11, 30), dt.date(2026, 12, 1), dt.date(2026, 12, 6)


async def report(
    ledger: Ledger, deal: Deal, key: str, day: dt.date, side: Side, gmv: str
) -> list[int]:
    stored = await ledger.record_report(
        deal_id=deal.id,
        day=day,
        values=[("gmv", D(gmv)), ("orders", D(10))],
        side=side,
        person="telegram:5001" if side == "seller" else "slack:U0AGENCY1",
        person_name=side,
        chat="telegram:-1001234",
        message_key=key,
        at=AT,
    )
    return [entry.id for entry in stored.entries]


async def judge(ledger: Ledger, deal: Deal, key: str, entry_id: int, day: dt.date) -> None:
    """The seller's verdict on an agency entry: a dispute, or a confirmation (``ok``)."""
    await ledger.record_verdict(
        deal_id=deal.id,
        day=day,
        metric="gmv",
        kind="confirm" if key.startswith("ok") else "dispute",
        side="seller",
        person="telegram:5001",
        person_name="seller",
        entry_id=entry_id,
        reason="" if key.startswith("ok") else "our backend shows less",
        chat="telegram:-1001234",
        message_key=key,
        at=AT,
    )


@pytest.fixture
async def books(
    deal_ledger: Ledger, deal: Deal, deal_text: str, parse_deal: Callable[[str], Deal]
) -> Deal:
    """Two versions (the second from December), and figures from Nov 24 to Dec 8: both
    sides, a correction, a dispute and a confirmation. Returns the current version."""
    text = deal_text.replace("tolerance: 2%", "tolerance: 5%", 1)
    await deal_ledger.apply_deal(parse_deal(text), text, effective=DEC_1, applied_at=AT)
    for n in range(15):
        day = dt.date(2026, 11, 24) + dt.timedelta(days=n)
        await report(deal_ledger, deal, f"s{n}", day, "seller", str(1000 + n))
        agency = await report(deal_ledger, deal, f"a{n}", day, "agency", str(1000 + 7 * n))
        if n % 4 == 1:
            await judge(deal_ledger, deal, f"d{n}", agency[0], day)
        if n % 5 == 2:
            await judge(deal_ledger, deal, f"ok{n}", agency[0], day)
    await report(deal_ledger, deal, "fix", NOV_30, "seller", "999")  # a correction
    current = await deal_ledger.current_deal(deal.id)
    assert current is not None and current[1] == 2
    return current[0]


@pytest.mark.parametrize(
    ("period_start", "first", "last"),
    [
        (DEC_1, NOV_30, dt.date(2026, 12, 31)),  # a week reaching into the previous period
        (dt.date(2026, 11, 1), dt.date(2026, 11, 1), NOV_30),  # under version 1
        (dt.date(2026, 10, 1), dt.date(2026, 10, 1), dt.date(2026, 10, 31)),  # before both
    ],
)
async def test_period_records_answers_the_three_reads(
    deal_ledger: Ledger, books: Deal, period_start: dt.date, first: dt.date, last: dt.date
) -> None:
    terms, current, judged = await deal_ledger.period_records(books.id, period_start, first, last)

    assert terms == await deal_ledger.deal_for_period(books.id, period_start)
    assert current == await deal_ledger.current_entries(books.id, first, last)
    assert judged == await deal_ledger.verdicts(books.id, first, last)


async def test_period_records_of_an_unknown_deal_is_a_lookup_error(deal_ledger: Ledger) -> None:
    with pytest.raises(LookupError):
        await deal_ledger.period_records("no-such-deal", DEC_1, DEC_1, DEC_6)


@pytest.mark.parametrize(
    ("today", "first"),
    [(DEC_6, NOV_30), (dt.date(2026, 11, 29), dt.date(2026, 11, 23))],
    ids=["week across two periods", "week inside the period"],
)
async def test_snapshot_and_days_give_what_separate_reads_give(
    deal_ledger: Ledger, books: Deal, today: dt.date, first: dt.date
) -> None:
    snap, figures = await snapshot_and_days(deal_ledger, books, today, first, today)

    assert snap == await snapshot(deal_ledger, books, today)
    expected = await resolve_figures(
        deal_ledger,
        snap.deal,
        await deal_ledger.current_entries(books.id, first, today),
        await deal_ledger.verdicts(books.id, first, today),
        first,
        today,
    )
    assert list(figures.items()) == list(expected.items())
    assert any(f.disagreement for f in figures.values())


@contextmanager
def transactions(engine: AsyncEngine) -> Iterator[list[str]]:
    """The transactions begun on ``engine`` while inside (one item each)."""
    begun: list[str] = []

    def count(conn: object) -> None:
        begun.append("begin")

    event.listen(engine.sync_engine, "begin", count)
    try:
        yield begun
    finally:
        event.remove(engine.sync_engine, "begin", count)


async def test_a_recap_reads_the_ledger_in_one_transaction(
    deal_ledger: Ledger, books: Deal
) -> None:
    """The period, the week and the terms: one ledger transaction (the platform section's
    two reads of the imported exports are the others); it was five ledger reads before."""
    platform = PlatformStore(deal_ledger.engine)
    await build_recap(deal_ledger, platform, books, dt.date(2026, 12, 7))  # versions cached
    with transactions(deal_ledger.engine) as begun:
        built = await build_recap(deal_ledger, platform, books, dt.date(2026, 12, 7))
    assert built is not None
    assert len(begun) <= 3
    # The whole job: the missed slots (the outbox) and the linked chats are two more.
    jobs = Jobs(deal_ledger, Outbox(deal_ledger.engine, worker="test"), platform, charts=False)
    job = OutboxRow(
        1, books.id, "recap", "2026-12-07", JOB_CHAT, AT, "claimed", None, None, 1, "test",
        None, None, None, AT, None,
    )  # fmt: skip
    with transactions(deal_ledger.engine) as begun:
        outcome = await jobs.recap(job, books, dt.date(2026, 12, 7), AT)
    assert outcome.messages and len(begun) <= 5


async def test_the_missed_slots_are_what_the_two_outbox_reads_give(
    deal_ledger: Ledger, deal: Deal
) -> None:
    """``Jobs.missed_since_last_recap`` reads in one transaction what ``Outbox.previous_job``
    and ``Outbox.missed_between`` read in two: the same rows, in the same order."""
    store = Outbox(deal_ledger.engine, worker="test")
    jobs = Jobs(deal_ledger, store, PlatformStore(deal_ledger.engine), charts=False)

    def at(day: int, hour: int = 17) -> dt.datetime:
        return dt.datetime(2026, 11, day, hour, tzinfo=dt.UTC)

    def done(slot: str, upto: dt.datetime) -> NewRow:
        payload = json.dumps({"missed_upto": upto.isoformat()})
        return NewRow(deal.id, "recap", slot, JOB_CHAT, at(int(slot[-2:])), payload, "done")

    await store.enqueue(
        [
            done("2026-11-02", at(2)),
            done("2026-11-09", at(9)),
            NewRow(deal.id, "recap", "2026-11-16", JOB_CHAT, at(16), None, "missed"),
            NewRow(deal.id, "pace", "2026-11-10", JOB_CHAT, at(10, 18), None, "missed"),
            NewRow(deal.id, "reminder", "2026-11-05", JOB_CHAT, at(5), None, "missed"),
            NewRow(deal.id, "pace", "2026-11-20", JOB_CHAT, at(20), None, "pending"),
            NewRow(deal.id, "recap", "2026-11-12", "telegram:-1001234", at(12), "{}", "missed"),
            NewRow("another-deal", "pace", "2026-11-11", JOB_CHAT, at(11), None, "missed"),
        ],
        at(1),
    )
    for slot, now in [("2026-11-23", at(23)), ("2026-11-09", at(22)), ("2026-11-02", at(6))]:
        previous = await store.previous_job(deal.id, "recap", slot, status="done")
        since = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        if previous is not None:
            since = dt.datetime.fromisoformat(previous.result()["missed_upto"])
        missed = await jobs.missed_since_last_recap(deal.id, slot, now)
        assert missed == await store.missed_between(deal.id, since, now)
    assert [m.slot for m in missed] == ["2026-11-05"]  # before the first done recap
    late = await jobs.missed_since_last_recap(deal.id, "2026-11-23", at(23))
    assert [m.slot for m in late] == ["2026-11-10", "2026-11-16"]
