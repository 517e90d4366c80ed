"""Tests for the ledger repository, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from kpi.db import make_engine, upgrade
from kpi.dealfile import load_deal_file
from kpi.errors import StorageError
from kpi.ledger import DealVersion, Ledger, ReportResult
from kpi.model import ChatLink, Deal, Side, Verdict
from kpi.storage import entries, heads, value_fits

D = Decimal
DAY = dt.date(2026, 11, 5)
AT = dt.datetime(2026, 11, 5, 20, 0, tzinfo=dt.UTC)


async def report(
    ledger: Ledger,
    deal: Deal,
    key: str,
    *values: tuple[str, Decimal],
    side: Side = "agency",
    day: dt.date = DAY,
    at: dt.datetime = AT,
    person: str | None = None,
    skip_unchanged: bool = False,
) -> ReportResult:
    """Record a report with the usual defaults (one reporter per side)."""
    return await ledger.record_report(
        deal_id=deal.id,
        day=day,
        values=values,
        side=side,
        person=person or f"slack:U-{side.upper()}",
        person_name=f"{side} reporter",
        chat="slack:C0AGENCY",
        message_key=key,
        at=at,
        skip_unchanged=skip_unchanged,
    )


async def count_entries(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(entries))).scalar_one())


# --------------------------------------------------------------------------------- reports


async def test_report_is_stored_with_who_when_and_where(deal_ledger: Ledger, deal: Deal) -> None:
    at = dt.datetime(2026, 11, 6, 4, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    result = await report(deal_ledger, deal, "m1", ("gmv", D("12000")), at=at)

    assert not result.duplicate
    assert result.superseded == (None,)
    (entry,) = result.entries
    assert (entry.deal_id, entry.day, entry.metric, entry.value, entry.side) == (
        deal.id,
        DAY,
        "gmv",
        D("12000"),
        "agency",
    )
    assert (entry.person, entry.person_name, entry.chat, entry.message_key) == (
        "slack:U-AGENCY",
        "agency reporter",
        "slack:C0AGENCY",
        "m1",
    )
    assert entry.recorded_at == at
    assert entry.recorded_at.utcoffset() == dt.timedelta(0)
    assert entry.supersedes is None
    assert await deal_ledger.entry(entry.id) == entry
    assert await deal_ledger.current_entries(deal.id, DAY, DAY) == [entry]


async def test_correction_supersedes_and_keeps_history(deal_ledger: Ledger, deal: Deal) -> None:
    first = (await report(deal_ledger, deal, "m1", ("gmv", D("12000")))).entries[0]
    other_side = (
        await report(deal_ledger, deal, "m2", ("gmv", D("11800")), side="seller")
    ).entries[0]
    corrected = await report(deal_ledger, deal, "m3", ("gmv", D("12500")))

    (second,) = corrected.entries
    assert corrected.superseded == (first,)
    assert second.supersedes == first.id
    # The current figures: the correction for the agency, the seller's own figure untouched.
    assert await deal_ledger.current_entries(deal.id, DAY, DAY) == [second, other_side]
    # Nothing is erased: the superseded entry is still there, unchanged.
    assert await deal_ledger.entry(first.id) == first
    assert await deal_ledger.history(deal.id, metric="gmv") == [second, other_side, first]
    assert await deal_ledger.history(deal.id, metric="gmv", limit=1) == [second]
    assert await deal_ledger.history(deal.id, day=DAY + dt.timedelta(days=1)) == []


async def test_same_message_is_stored_once(
    deal_ledger: Ledger, deal: Deal, engine: AsyncEngine
) -> None:
    values = (("gmv", D("12000")), ("orders", D("340")), ("ad_spend", D("2100")))
    first = await report(deal_ledger, deal, "slack:Ev01", *values)
    again = await report(deal_ledger, deal, "slack:Ev01", *values)

    assert not first.duplicate
    assert again.duplicate
    assert again.entries == first.entries
    assert await count_entries(engine) == 3
    stored = await deal_ledger.entries_for_message(deal.id, "slack:Ev01")
    assert [e.metric for e in stored] == ["ad_spend", "gmv", "orders"]  # storage order
    # The reported order is kept in the result of the call that stored them.
    assert [e.metric for e in first.entries] == ["gmv", "orders", "ad_spend"]


async def test_retried_correction_reports_what_it_superseded(
    deal_ledger: Ledger, deal: Deal
) -> None:
    first = (await report(deal_ledger, deal, "m1", ("gmv", D("12000")))).entries[0]
    correction = await report(deal_ledger, deal, "m2", ("gmv", D("12500")))
    retried = await report(deal_ledger, deal, "m2", ("gmv", D("12500")))

    assert retried.duplicate
    assert retried.entries == correction.entries
    assert retried.superseded == (first,)


async def test_report_is_all_or_nothing(
    deal_ledger: Ledger, deal: Deal, engine: AsyncEngine
) -> None:
    before = (await report(deal_ledger, deal, "m1", ("gmv", D("12000")))).entries[0]

    # gmv fits, orders overflows the column: nothing of the message may be stored.
    with pytest.raises(ValueError):
        await report(deal_ledger, deal, "m2", ("gmv", D("13000")), ("orders", D(10) ** 17))

    assert await count_entries(engine) == 1
    assert await deal_ledger.entries_for_message(deal.id, "m2") == []
    assert await deal_ledger.current_entries(deal.id, DAY, DAY) == [before]
    # The message can be sent again, corrected, and is then stored whole.
    fixed = await report(deal_ledger, deal, "m2", ("gmv", D("13000")), ("orders", D(340)))
    assert not fixed.duplicate
    assert fixed.superseded == (before, None)


@pytest.mark.parametrize("value", [D("0.00001"), D("1E+16"), D("-1E+16"), D("NaN"), D("Infinity")])
async def test_values_that_do_not_fit_are_refused(
    deal_ledger: Ledger, deal: Deal, engine: AsyncEngine, value: Decimal
) -> None:
    assert not value_fits(value)
    with pytest.raises(ValueError):
        await report(deal_ledger, deal, "m1", ("gmv", value))
    assert await count_entries(engine) == 0


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (D("12000.5"), "12000.5"),
        (D("0.0001"), "0.0001"),
        (D("999999999999.9999"), "999999999999.9999"),
        (D("9999999999999999.9999"), "9999999999999999.9999"),
        (D("-42.25"), "-42.25"),
        (D("340"), "340"),
        (D("12000.50"), "12000.5"),
        (D("1.2E+4"), "12000"),
        (D("-0"), "0"),
    ],
)
async def test_decimals_round_trip_exactly(
    deal_ledger: Ledger, deal: Deal, value: Decimal, text: str
) -> None:
    assert value_fits(value)
    stored = (await report(deal_ledger, deal, "m1", ("gmv", value))).entries[0]
    (read,) = await deal_ledger.current_entries(deal.id, DAY, DAY)

    for got in (stored.value, read.value):
        assert isinstance(got, Decimal)
        assert got == value
        assert str(got) == text  # the same representation on both databases


async def test_report_rejects_malformed_calls(deal_ledger: Ledger, deal: Deal) -> None:
    with pytest.raises(ValueError):
        await report(deal_ledger, deal, "m1")
    with pytest.raises(ValueError):
        await report(deal_ledger, deal, "m1", ("gmv", D(1)), ("gmv", D(2)))
    with pytest.raises(ValueError):
        await report(deal_ledger, deal, "m1", ("gmv", D(1)), side="shared")  # type: ignore[arg-type]
    with pytest.raises(LookupError):
        await deal_ledger.record_report(
            deal_id="no-such-deal",
            day=DAY,
            values=[("gmv", D(1))],
            side="agency",
            person="p",
            person_name="p",
            chat="c",
            message_key="m1",
            at=AT,
        )


async def test_period_queries_and_last_report_day(deal_ledger: Ledger, deal: Deal) -> None:
    days = [dt.date(2026, 1, d) for d in (1, 15, 31)] + [dt.date(2026, 2, 1)]
    for n, day in enumerate(days):
        await report(deal_ledger, deal, f"a{n}", ("gmv", D(n + 1)), day=day)
    await report(deal_ledger, deal, "s0", ("gmv", D(7)), day=dt.date(2026, 1, 10), side="seller")

    january = await deal_ledger.current_entries(deal.id, dt.date(2026, 1, 1), dt.date(2026, 1, 31))
    assert [(e.day.day, e.side) for e in january] == [
        (1, "agency"),
        (10, "seller"),
        (15, "agency"),
        (31, "agency"),
    ]
    assert (
        await deal_ledger.current_entries(deal.id, dt.date(2025, 12, 1), dt.date(2025, 12, 31))
        == []
    )
    assert await deal_ledger.last_report_day(deal.id, "agency") == dt.date(2026, 2, 1)
    assert await deal_ledger.last_report_day(deal.id, "seller") == dt.date(2026, 1, 10)
    assert await deal_ledger.last_report_day("no-such-deal", "seller") is None


async def test_heads_point_at_the_latest_entries(
    deal_ledger: Ledger, deal: Deal, engine: AsyncEngine
) -> None:
    for n in range(4):
        await report(deal_ledger, deal, f"m{n}", ("gmv", D(n)), ("orders", D(n)))
    async with engine.connect() as conn:
        head_rows = (await conn.execute(select(heads.c.metric, heads.c.entry_id))).all()
    current = await deal_ledger.current_entries(deal.id, DAY, DAY)
    assert sorted(head_rows) == sorted((e.metric, e.id) for e in current)
    assert [e.value for e in current] == [D(3), D(3)]


async def test_entries_returned_are_the_stored_ones(deal_ledger: Ledger, deal: Deal) -> None:
    # A new head and a correction in one message, values in non-canonical spellings.
    await report(deal_ledger, deal, "m1", ("orders", D("340")))
    result = await report(deal_ledger, deal, "m2", ("orders", D("3.5E+2")), ("gmv", D("12000.50")))

    assert [e.metric for e in result.entries] == ["orders", "gmv"]
    assert [str(e.value) for e in result.entries] == ["350", "12000.5"]
    for entry in result.entries:
        assert await deal_ledger.entry(entry.id) == entry
    stored = await deal_ledger.current_entries(deal.id, DAY, DAY)
    assert sorted(stored, key=lambda e: e.id) == sorted(result.entries, key=lambda e: e.id)


async def test_result_carries_the_other_sides_figures(deal_ledger: Ledger, deal: Deal) -> None:
    seller = await report(
        deal_ledger, deal, "s1", ("gmv", D("11800")), ("orders", D("330")), side="seller"
    )
    assert seller.others == (None, None)  # the agency has not reported yet
    await report(deal_ledger, deal, "s2", ("gmv", D(1)), side="seller", day=DAY + dt.timedelta(1))

    agency = await report(
        deal_ledger, deal, "a1", ("ad_spend", D("2100")), ("gmv", D("12000")), ("orders", D(340))
    )
    seller_gmv, seller_orders = seller.entries
    # Aligned with the reported values; another day's figure is not the same day's.
    assert agency.others == (None, seller_gmv, seller_orders)

    corrected = await report(deal_ledger, deal, "s3", ("gmv", D("12000")), side="seller")
    again = await report(deal_ledger, deal, "a2", ("gmv", D("12100")))
    assert again.others == corrected.entries
    assert corrected.others == (agency.entries[1],)
    # A redelivery answers with the current figures of the other side too.
    redelivered = await report(
        deal_ledger, deal, "a1", ("ad_spend", D("2100")), ("gmv", D("12000")), ("orders", D(340))
    )
    assert redelivered.duplicate
    assert redelivered.others == (None, corrected.entries[0], seller_orders)


async def test_skip_unchanged_stores_nothing_for_the_same_figures(
    deal_ledger: Ledger, deal: Deal, engine: AsyncEngine
) -> None:
    first = (await report(deal_ledger, deal, "m1", ("gmv", D("12000")))).entries[0]
    current = await report(deal_ledger, deal, "m2", ("gmv", D("12500")), ("orders", D(340)))
    seller = await report(deal_ledger, deal, "s1", ("gmv", D("12400")), side="seller")
    stored = await count_entries(engine)

    # The same figures again, in another order and spelling, by the same person.
    result = await report(
        deal_ledger, deal, "m3", ("orders", D("340.00")), ("gmv", D("1.25E+4")), skip_unchanged=True
    )

    assert result.duplicate
    assert result.unchanged
    gmv, orders = current.entries
    assert result.entries == (orders, gmv)
    assert result.superseded == (None, first)
    assert result.others == (None, seller.entries[0])
    assert await count_entries(engine) == stored
    assert await deal_ledger.entries_for_message(deal.id, "m3") == []


@pytest.mark.parametrize(
    ("values", "person"),
    [
        ((("gmv", D("12500")), ("orders", D(341))), None),  # one figure differs
        ((("gmv", D("12500")), ("ad_spend", D(1))), None),  # one figure is new
        ((("gmv", D("12500.00")), ("orders", D(341))), None),  # another spelling
    ],
)
async def test_a_figure_on_record_sent_with_another_metric_is_not_a_correction(
    deal_ledger: Ledger,
    engine: AsyncEngine,
    deal: Deal,
    values: tuple[tuple[str, Decimal], ...],
    person: str | None,
) -> None:
    current = await report(deal_ledger, deal, "m1", ("gmv", D("12500")), ("orders", D(340)))
    stored = await count_entries(engine)

    result = await report(deal_ledger, deal, "m2", *values, person=person, skip_unchanged=True)

    assert not result.duplicate
    assert not result.unchanged
    # gmv is the figure on record: kept as it is (no new entry, nothing superseded) ...
    assert result.kept == (True, False)
    assert result.entries[0] == current.entries[0]
    assert result.superseded[0] is None
    # ... and only the changed or new figure is stored, from this message.
    assert result.entries[1].message_key == "m2"
    assert await count_entries(engine) == stored + 1
    assert [e.metric for e in await deal_ledger.entries_for_message(deal.id, "m2")] == [
        values[1][0]
    ]
    day_heads = await deal_ledger.current_entries(deal.id, DAY, DAY)
    assert next(e for e in day_heads if e.metric == "gmv").id == current.entries[0].id


async def test_the_same_figure_from_another_person_of_the_side_takes_it_over(
    deal_ledger: Ledger, deal: Deal
) -> None:
    first = await report(deal_ledger, deal, "m1", ("gmv", D("12500")), ("orders", D(340)))
    result = await report(
        deal_ledger, deal, "m2", ("gmv", D("12500")), person="slack:U-AGENCY2", skip_unchanged=True
    )
    assert not result.duplicate and result.kept == ()
    assert result.superseded == (first.entries[0],)
    assert result.entries[0].person == "slack:U-AGENCY2"


async def test_without_skip_unchanged_the_same_figure_is_a_correction(
    deal_ledger: Ledger, deal: Deal
) -> None:
    first = await report(deal_ledger, deal, "m1", ("gmv", D("12000")))
    again = await report(deal_ledger, deal, "m2", ("gmv", D("12000")))

    assert not again.duplicate
    assert not again.unchanged
    assert again.superseded == first.entries


# -------------------------------------------------------------------------------- verdicts


async def test_verdicts_are_stored_once(deal_ledger: Ledger, deal: Deal) -> None:
    entry = (await report(deal_ledger, deal, "m1", ("gmv", D("12000")))).entries[0]
    args: dict[str, Any] = {
        "deal_id": deal.id,
        "day": DAY,
        "metric": "gmv",
        "kind": "dispute",
        "side": "seller",
        "person": "slack:U-SELLER",
        "person_name": "Mei",
        "entry_id": entry.id,
        "reason": "our backend shows 11,800",
        "chat": "slack:C0AGENCY",
        "message_key": "v1",
        "at": AT,
    }
    verdict, duplicate = await deal_ledger.record_verdict(**args)
    again, duplicate_again = await deal_ledger.record_verdict(**args)

    assert not duplicate
    assert duplicate_again
    assert again == verdict
    assert (verdict.kind, verdict.entry_id, verdict.reason) == (
        "dispute",
        entry.id,
        "our backend shows 11,800",
    )
    confirm, _ = await deal_ledger.record_verdict(
        **{**args, "kind": "confirm", "message_key": "v2", "entry_id": None, "reason": ""}
    )
    assert await deal_ledger.verdicts(deal.id, DAY, DAY) == [verdict, confirm]
    assert await deal_ledger.verdicts(deal.id, DAY + dt.timedelta(days=1), DAY) == []
    with pytest.raises(ValueError):
        await deal_ledger.record_verdict(**{**args, "kind": "maybe", "message_key": "v3"})
    with pytest.raises(LookupError):
        await deal_ledger.record_verdict(**{**args, "entry_id": 999_999, "message_key": "v4"})


async def test_a_sides_confirm_and_dispute_of_one_entry_are_exclusive_and_idempotent(
    deal_ledger: Ledger, deal: Deal
) -> None:
    entry = (await report(deal_ledger, deal, "m1", ("gmv", D("12000")))).entries[0]

    async def verdict(kind: str, key: str, reason: str = "") -> tuple[Verdict, bool]:
        return await deal_ledger.record_verdict(
            deal_id=deal.id,
            day=DAY,
            metric="gmv",
            kind=kind,  # type: ignore[arg-type]
            side="seller",
            person="telegram:5001",
            person_name="Lily",
            entry_id=entry.id,
            reason=reason,
            chat="telegram:-1001234",
            message_key=key,
            at=AT,
        )

    confirmed, skipped = await verdict("confirm", "v1")
    again, skipped_again = await verdict("confirm", "v2")  # another message, same verdict
    assert (skipped, skipped_again) == (False, True)
    assert again == confirmed  # the standing confirmation, nothing new written
    disputed, _ = await verdict("dispute", "v3", "refunds missing")
    same_dispute, skipped_dispute = await verdict("dispute", "v4", "refunds missing")
    assert skipped_dispute and same_dispute == disputed
    # Both stay in the history; the dispute, the later one, is what stands.
    assert await deal_ledger.verdicts(deal.id, DAY, DAY) == [confirmed, disputed]
    reconfirmed, skipped_reconfirm = await verdict("confirm", "v5")
    assert not skipped_reconfirm and reconfirmed.kind == "confirm"
    # Two confirmations sent at once after a dispute: one is stored, the other finds it.
    await verdict("dispute", "v6", "still wrong")
    results = await asyncio.gather(verdict("confirm", "v7"), verdict("confirm", "v8"))
    assert sorted(skipped for _, skipped in results) == [False, True]
    assert [v.kind for v in await deal_ledger.verdicts(deal.id, DAY, DAY)][-2:] == [
        "dispute",
        "confirm",
    ]


# ------------------------------------------------------------------------ chats and deals


async def test_applying_a_deal_links_its_chats(ledger: Ledger, deal: Deal, deal_text: str) -> None:
    await ledger.apply_deal(deal, deal_text, effective=deal.starts, applied_at=AT)
    assert await ledger.list_deals() == [deal.id]
    for link in deal.chats:
        assert (deal.id, link.side) in await ledger.deals_for_chat(link.id)
    assert await ledger.deals_for_chat("slack:C-NOWHERE") == []


async def test_link_unlink_and_migrate_chats(engine: AsyncEngine) -> None:
    texts: dict[str, Deal] = {}
    ledger = Ledger(engine, texts.__getitem__)
    acme = make_deal("acme", chats=(ChatLink("telegram:-100", "seller"),))
    beta = make_deal("beta", chats=())
    for deal in (acme, beta):
        texts[deal.id] = deal
        await ledger.apply_deal(deal, deal.id, effective=deal.starts, applied_at=AT)

    await ledger.link_chat("telegram:-100", "beta", "shared")
    await ledger.link_chat("slack:C1", "beta", "agency")
    assert await ledger.deals_for_chat("telegram:-100") == [("acme", "seller"), ("beta", "shared")]
    await ledger.link_chat("slack:C1", "beta", "seller")  # relinking changes the side
    assert await ledger.deals_for_chat("slack:C1") == [("beta", "seller")]
    assert await ledger.unlink_chat("slack:C1", "beta")
    assert not await ledger.unlink_chat("slack:C1", "beta")
    assert await ledger.deals_for_chat("slack:C1") == []

    # Telegram group -> supergroup: links follow, and the old id still resolves.
    await ledger.migrate_chat("telegram:-100", "telegram:-100200", AT)
    await ledger.migrate_chat("telegram:-100", "telegram:-100200", AT)  # redelivered
    expected = [("acme", "seller"), ("beta", "shared")]
    assert await ledger.deals_for_chat("telegram:-100200") == expected
    assert await ledger.deals_for_chat("telegram:-100") == expected
    # Linking or re-applying a deal under the old id lands on the new one.
    await ledger.link_chat("telegram:-100", "beta", "agency")
    assert await ledger.deals_for_chat("telegram:-100200") == [
        ("acme", "seller"),
        ("beta", "agency"),
    ]
    renamed = replace(acme, name="Acme 2")
    texts["acme v2"] = renamed
    await ledger.apply_deal(renamed, "acme v2", effective=acme.starts, applied_at=AT)
    assert ("acme", "seller") in await ledger.deals_for_chat("telegram:-100200")
    # A second move chains: the first id still resolves.
    await ledger.migrate_chat("telegram:-100200", "telegram:-300", AT)
    assert await ledger.deals_for_chat("telegram:-100") == [("acme", "seller"), ("beta", "agency")]
    with pytest.raises(LookupError):
        await ledger.link_chat("slack:C1", "no-such-deal", "seller")
    with pytest.raises(ValueError):
        await ledger.link_chat("slack:C1", "beta", "both")  # type: ignore[arg-type]


async def test_reapplying_a_deal_syncs_its_links(engine: AsyncEngine) -> None:
    texts: dict[str, Deal] = {}
    ledger = Ledger(engine, texts.__getitem__)
    v1 = make_deal("acme", chats=(ChatLink("slack:C1", "shared"), ChatLink("slack:C2", "seller")))
    v2 = replace(v1, chats=(ChatLink("slack:C2", "agency"),))
    texts.update({"v1": v1, "v2": v2})
    await ledger.apply_deal(v1, "v1", effective=v1.starts, applied_at=AT)
    await ledger.link_chat("slack:C9", "acme", "seller")
    # The same text again is no new version, and leaves links made by hand alone.
    assert await ledger.apply_deal(v1, "v1", effective=v1.starts, applied_at=AT) == 1
    assert await ledger.deals_for_chat("slack:C9") == [("acme", "seller")]

    assert await ledger.apply_deal(v2, "v2", effective=v1.starts, applied_at=AT) == 2
    assert await ledger.deals_for_chat("slack:C1") == []
    assert await ledger.deals_for_chat("slack:C2") == [("acme", "agency")]
    assert await ledger.deals_for_chat("slack:C9") == []


async def test_deal_versions_and_the_terms_of_a_period(engine: AsyncEngine) -> None:
    parsed: list[str] = []
    base = make_deal("acme")
    by_text = {f"v{n}": replace(base, name=f"Acme v{n}") for n in range(1, 5)}

    def parse(text: str) -> Deal:
        parsed.append(text)
        return by_text[text]

    ledger = Ledger(engine, parse)
    assert await ledger.current_deal("acme") is None
    with pytest.raises(LookupError):
        await ledger.deal_for_period("acme", dt.date(2026, 1, 1))

    jan, mar = dt.date(2026, 1, 1), dt.date(2026, 3, 1)
    applied = [
        ("v1", jan, dt.datetime(2025, 12, 20, tzinfo=dt.UTC)),
        ("v2", mar, dt.datetime(2026, 2, 20, tzinfo=dt.UTC)),
        ("v3", mar, dt.datetime(2026, 2, 25, tzinfo=dt.UTC)),  # same day: the later one wins
    ]
    for n, (text, effective, at) in enumerate(applied, start=1):
        assert await ledger.apply_deal(by_text[text], text, effective=effective, applied_at=at) == n
    # Re-applying the current text changes nothing.
    assert await ledger.apply_deal(by_text["v3"], "v3", effective=mar, applied_at=AT) == 3

    assert await ledger.deal_versions("acme") == [
        DealVersion(n, effective, at, text) for n, (text, effective, at) in enumerate(applied, 1)
    ]
    current = await ledger.current_deal("acme")
    assert current is not None
    assert (current[0].name, current[1], current[0].effective) == ("Acme v3", 3, mar)

    async def name_for(day: dt.date) -> str:
        return (await ledger.deal_for_period("acme", day)).name

    assert await name_for(dt.date(2025, 12, 1)) == "Acme v1"  # before every version: the first
    assert await name_for(jan) == "Acme v1"
    assert await name_for(dt.date(2026, 2, 1)) == "Acme v1"
    assert await name_for(mar) == "Acme v3"
    assert await name_for(dt.date(2027, 1, 1)) == "Acme v3"
    # Parsed versions are cached, and the ones applied in this process were never parsed.
    assert parsed == []

    fresh = Ledger(engine, parse)
    assert await fresh.deal_versions("acme") == await ledger.deal_versions("acme")
    for _ in range(3):
        assert (await fresh.deal_for_period("acme", jan)).effective == jan
    assert parsed == ["v1"]


async def test_storage_errors_roll_back_and_say_so(sqlite_url: str) -> None:
    # Port 1 on loopback refuses connections: the database is unreachable.
    engine = make_engine("postgresql://postgres@127.0.0.1:1/nothing")
    try:
        ledger = Ledger(engine, lambda text: make_deal(text))
        with pytest.raises(StorageError):
            await ledger.list_deals()
        with pytest.raises(StorageError):
            await report(ledger, make_deal("acme"), "m1", ("gmv", D(1)))
    finally:
        await engine.dispose()


async def test_connections_killed_by_the_server_are_replaced(
    pg_url: str, deal: Deal, deal_text: str, parse_deal: Callable[[str], Deal]
) -> None:
    # What a PostgreSQL restart does to the pool: every idle connection is gone.
    await upgrade(pg_url)
    engine = make_engine(pg_url)
    try:
        ledger = Ledger(engine, parse_deal)
        await ledger.apply_deal(deal, deal_text, effective=deal.starts, applied_at=AT)
        await report(ledger, deal, "m1", ("gmv", D(1)))
        admin = await asyncpg.connect(make_url(pg_url).render_as_string(hide_password=False))
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await admin.close()
        assert killed >= 1
        second = await report(ledger, deal, "m2", ("gmv", D(2)))
        assert second.superseded[0] is not None
        assert len(await ledger.history(deal.id)) == 2
    finally:
        await engine.dispose()


async def test_an_unmigrated_database_is_a_storage_error(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        with pytest.raises(StorageError):
            await Ledger(engine, make_deal).list_deals()
    finally:
        await engine.dispose()


DEMO = Path(__file__).resolve().parents[1] / "bot" / "demo" / "acme-linkstar-us.yaml"


def make_deal(deal_id: str, chats: tuple[ChatLink, ...] = ()) -> Deal:
    """The demo deal under another id, with the given chats."""
    demo, _ = load_deal_file(DEMO)
    return replace(demo, id=deal_id, name=deal_id.title(), chats=chats)
