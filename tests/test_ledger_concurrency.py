"""Concurrent reports and redeliveries: every message stored once, corrections chained linearly."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections import defaultdict
from decimal import Decimal

from kpi.ledger import Ledger, ReportResult
from kpi.model import Deal, Entry, Side, other_side

D = Decimal
AT = dt.datetime(2026, 11, 5, 20, 0, tzinfo=dt.UTC)

# The five (day, metric, side) keys the reports fall on, from both sides.
KEYS: list[tuple[dt.date, str, Side]] = [
    (dt.date(2026, 11, 5), "gmv", "agency"),
    (dt.date(2026, 11, 5), "gmv", "seller"),
    (dt.date(2026, 11, 5), "orders", "agency"),
    (dt.date(2026, 11, 6), "gmv", "agency"),
    (dt.date(2026, 11, 6), "ad_spend", "seller"),
]


def assert_linear_chains(stored: list[Entry], heads: dict[tuple[object, ...], Entry]) -> None:
    """Per (day, metric, side): one chain from a first report to the head, no forks, no gaps."""
    by_key: dict[tuple[object, ...], list[Entry]] = defaultdict(list)
    for entry in stored:
        by_key[(entry.day, entry.metric, entry.side)].append(entry)
    assert set(by_key) == set(heads)
    for key, chain in by_key.items():
        by_id = {entry.id: entry for entry in chain}
        superseded = [entry.supersedes for entry in chain if entry.supersedes is not None]
        assert len(superseded) == len(set(superseded)), f"forked chain for {key}"
        assert set(superseded) <= set(by_id), f"chain for {key} leaves its key"
        assert sum(entry.supersedes is None for entry in chain) == 1, f"two first reports {key}"
        # Walk back from the head: every entry of the key is reached exactly once.
        walked = []
        current: Entry | None = heads[key]
        while current is not None:
            walked.append(current.id)
            current = by_id.get(current.supersedes) if current.supersedes is not None else None
        assert sorted(walked) == sorted(by_id), f"head of {key} is not the end of its chain"
        # Corrections were locked in turn, so ids grow along the chain.
        assert walked == sorted(walked, reverse=True)


async def test_concurrent_reports_with_redeliveries(deal_ledger: Ledger, deal: Deal) -> None:
    # 30 distinct messages plus 20 redeliveries of some of them, in a shuffled order.
    messages = {f"msg-{n:02d}": (KEYS[n % len(KEYS)], D(1000 + n) + D("0.25")) for n in range(30)}
    rng = random.Random(20260105)
    calls = list(messages) + [f"msg-{rng.randrange(30):02d}" for _ in range(20)]
    rng.shuffle(calls)

    async def send(message_key: str) -> ReportResult:
        (day, metric, side), value = messages[message_key]
        return await deal_ledger.record_report(
            deal_id=deal.id,
            day=day,
            values=[(metric, value)],
            side=side,
            person=f"slack:U-{side}",
            person_name=side,
            chat="slack:C0AGENCY",
            message_key=message_key,
            at=AT,
        )

    results = await asyncio.gather(*(send(key) for key in calls))

    # Each message was stored by exactly one call; the others saw the same entry.
    by_message: dict[str, list[ReportResult]] = defaultdict(list)
    for key, result in zip(calls, results, strict=True):
        by_message[key].append(result)
    for key, seen in by_message.items():
        assert [r.duplicate for r in seen].count(False) == 1, key
        assert len({r.entries for r in seen}) == 1, key
        (entry,) = seen[0].entries
        (day, metric, side), value = messages[key]
        assert (entry.day, entry.metric, entry.side, entry.value) == (day, metric, side, value)
    # What each storing call said it superseded is what the entry records.
    for result in results:
        (entry,) = result.entries
        (previous,) = result.superseded
        assert entry.supersedes == (previous.id if previous is not None else None)

    stored = await deal_ledger.history(deal.id, limit=1000)
    assert sorted(e.message_key for e in stored) == sorted(messages)
    current = await deal_ledger.current_entries(deal.id, dt.date(2026, 11, 5), dt.date(2026, 11, 6))
    assert len(current) == len(KEYS)
    assert_linear_chains(stored, {(e.day, e.metric, e.side): e for e in current})


async def test_concurrent_multi_metric_reports_do_not_deadlock(
    deal_ledger: Ledger, deal: Deal
) -> None:
    # Two-metric messages naming their metrics in either order, all on the same two heads,
    # each sent twice: lock ordering must keep them from waiting on each other in a cycle.
    day = dt.date(2026, 11, 7)

    async def send(n: int) -> ReportResult:
        pair = [("gmv", D(100 + n)), ("orders", D(n))]
        return await deal_ledger.record_report(
            deal_id=deal.id,
            day=day,
            values=pair if n % 2 else pair[::-1],
            side="agency",
            person="slack:U-agency",
            person_name="agency",
            chat="slack:C0AGENCY",
            message_key=f"pair-{n}",
            at=AT,
        )

    results = await asyncio.gather(*(send(n % 12) for n in range(24)))

    assert sum(not r.duplicate for r in results) == 12
    stored = await deal_ledger.history(deal.id, limit=1000)
    assert len(stored) == 24
    for n in range(12):
        message = await deal_ledger.entries_for_message(deal.id, f"pair-{n}")
        assert sorted(e.metric for e in message) == ["gmv", "orders"]
    current = await deal_ledger.current_entries(deal.id, day, day)
    assert_linear_chains(stored, {(e.day, e.metric, e.side): e for e in current})
    # Both heads come from the same message: the one committed last.
    assert len({e.message_key for e in current}) == 1


async def test_racing_copies_of_a_figure_store_it_once(deal_ledger: Ledger, deal: Deal) -> None:
    # One person's double-submitted command (different message ids, the same figures) sent
    # eight times at once, on a day with no figures yet and on a day with an older figure,
    # while the other side reports the same metrics.
    fresh, known = dt.date(2026, 11, 8), dt.date(2026, 11, 9)
    await record(deal_ledger, deal, "old", known, "agency", [("gmv", D(1)), ("orders", D(1))])

    calls = [
        record(
            deal_ledger,
            deal,
            f"{day.day}-copy-{n}",
            day,
            "agency",
            [("gmv", D("12000.5")), ("orders", D(340))],
            skip_unchanged=True,
        )
        for day in (fresh, known)
        for n in range(8)
    ] + [
        record(deal_ledger, deal, f"{day.day}-seller", day, "seller", [("gmv", D(11900))])
        for day in (fresh, known)
    ]
    results = await asyncio.gather(*calls)

    copies = results[:16]
    for day, seen in ((fresh, copies[:8]), (known, copies[8:])):
        assert [r.unchanged for r in seen].count(False) == 1, day
        (stored,) = [r for r in seen if not r.unchanged]
        assert not stored.duplicate
        assert all(r.duplicate and r.entries == stored.entries for r in seen if r.unchanged)
    history = await deal_ledger.history(deal.id, limit=1000)
    # The older figures, one stored copy per day, the seller's figure per day.
    assert len(history) == 2 + 2 * 2 + 2
    current = await deal_ledger.current_entries(deal.id, fresh, known)
    assert_linear_chains(history, {(e.day, e.metric, e.side): e for e in current})
    # Whatever order the two sides took, a result names the other side's figure for the
    # same day and metric, or none if that side had not reported yet.
    for result in results:
        for entry, theirs in zip(result.entries, result.others, strict=True):
            if theirs is not None:
                assert theirs.side == other_side(entry.side)
                assert (theirs.day, theirs.metric) == (entry.day, entry.metric)


async def record(
    ledger: Ledger,
    deal: Deal,
    key: str,
    day: dt.date,
    side: Side,
    values: list[tuple[str, Decimal]],
    *,
    skip_unchanged: bool = False,
) -> ReportResult:
    """One report by the side's usual reporter."""
    return await ledger.record_report(
        deal_id=deal.id,
        day=day,
        values=values,
        side=side,
        person=f"slack:U-{side}",
        person_name=side,
        chat="slack:C0AGENCY",
        message_key=key,
        at=AT,
        skip_unchanged=skip_unchanged,
    )
