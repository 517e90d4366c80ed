"""The platform source stored: each row once, changed rows supersede, day figures, sessions."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from kpi.ledger import Ledger
from kpi.model import Deal
from kpi.platform.parse import load_export
from kpi.platform.store import ImportResult, PlatformStore, Uploader
from kpi.platform.terms import platform_metrics
from tests.platform_files import INCOME, LIVE, ORDERS, TERMS, csv_rows, to_csv, to_xlsx

NOW = dt.datetime(2026, 11, 9, 18, tzinfo=dt.UTC)
SELLER = Uploader("telegram:5001", "Mia", "telegram:-1001234")
WEEK = (dt.date(2026, 11, 2), dt.date(2026, 11, 8))


async def store_file(
    store: PlatformStore, data: bytes, name: str, now: dt.datetime = NOW
) -> ImportResult:
    parsed = load_export(data, name, TERMS)
    return await store.import_export(
        "acme-linkstar-us", parsed, data=data, file_name=name, uploader=SELLER, now=now
    )


async def test_a_second_import_of_the_same_file_stores_nothing(deal_ledger: Ledger) -> None:
    store = PlatformStore(deal_ledger.engine)
    first = await store_file(store, LIVE.read_bytes(), LIVE.name)
    assert (first.rows, first.stored, first.already, len(first.days)) == (13, 13, 0, 7)
    again = await store_file(store, LIVE.read_bytes(), LIVE.name)
    assert (again.rows, again.stored, again.already, again.days) == (13, 0, 13, ())
    assert len(await store.sessions("acme-linkstar-us", *WEEK)) == 13


async def test_the_same_rows_in_an_xlsx_or_an_overlapping_file_are_not_stored_twice(
    deal_ledger: Ledger,
) -> None:
    store = PlatformStore(deal_ledger.engine)
    await store_file(store, ORDERS.read_bytes(), ORDERS.name)
    rows = csv_rows(ORDERS)
    from_xlsx = await store_file(store, to_xlsx(rows[:12]), "orders.xlsx")
    assert (from_xlsx.rows, from_xlsx.stored) == (10, 0)
    figures = await store.day_figures("acme-linkstar-us", *WEEK)
    assert sum(day["orders"] for day in figures.values()) == 33


async def test_a_changed_row_supersedes_and_the_day_figures_follow(deal_ledger: Ledger) -> None:
    store = PlatformStore(deal_ledger.engine)
    await store_file(store, ORDERS.read_bytes(), ORDERS.name)
    day = dt.date(2026, 11, 6)
    before = (await store.day_figures("acme-linkstar-us", day, day))[day]
    rows = csv_rows(ORDERS)
    assert rows[2][0] == "576000000000000759" and rows[2][18].startswith("11/06/2026")
    rows[2][17] = "125.17"  # a refund that arrived after the first export
    later = await store_file(store, to_csv(rows), "orders-later.csv", NOW + dt.timedelta(days=1))
    assert (later.stored, later.already, later.days) == (1, 39, (day,))
    after = (await store.day_figures("acme-linkstar-us", day, day))[day]
    assert after["refunds"] == before["refunds"] + Decimal("125.17")
    assert after["paid_amount"] == before["paid_amount"]
    history = await store.imports("acme-linkstar-us")
    assert [(h.file_name, h.stored, h.person) for h in history] == [
        ("orders-later.csv", 1, "telegram:5001"),
        (ORDERS.name, 40, "telegram:5001"),
    ]


async def test_day_figures_sum_every_export_into_the_deals_metrics(
    deal_ledger: Ledger, deal: Deal
) -> None:
    store = PlatformStore(deal_ledger.engine)
    for path in (LIVE, ORDERS, INCOME):
        await store_file(store, path.read_bytes(), path.name)
    figures = await store.day_figures("acme-linkstar-us", *WEEK)
    nov2 = figures[dt.date(2026, 11, 2)]
    assert nov2["live_gmv"] == Decimal("11675.22")
    assert nov2["viewers"] == 5186 + 13264
    assert nov2["sessions"] == 2
    metrics = platform_metrics(deal, figures)[dt.date(2026, 11, 2)]
    assert metrics["gmv"] == Decimal("11675.22")  # gmv_basis defaults to live_gmv
    assert metrics["viewers"] == 18450
    assert set(metrics) == {"gmv", "orders", "viewers", "refunds"}  # ad_spend is not exported


async def test_sessions_come_back_in_start_order_with_their_figures(deal_ledger: Ledger) -> None:
    store = PlatformStore(deal_ledger.engine)
    await store_file(store, LIVE.read_bytes(), LIVE.name)
    day = dt.date(2026, 11, 2)
    found = await store.sessions("acme-linkstar-us", day, day)
    assert [(s.nickname, s.duration) for s in found] == [
        ("ACME Home", dt.timedelta(hours=2, minutes=8)),
        ("Lily @ ACME", dt.timedelta(hours=1, minutes=53)),
    ]
    assert found[0].figures["live_gmv"] == Decimal("5368.94")
    assert found[0].start == dt.datetime(2026, 11, 2, 18, 5, tzinfo=dt.UTC)


async def test_two_imports_of_one_file_at_once_store_it_once(deal_ledger: Ledger) -> None:
    store = PlatformStore(deal_ledger.engine)
    data = ORDERS.read_bytes()
    results = await asyncio.gather(*(store_file(store, data, f"o{i}.csv") for i in range(3)))
    assert sorted(r.stored for r in results) == [0, 0, 40]
    figures = await store.day_figures("acme-linkstar-us", *WEEK)
    assert sum(day["orders"] for day in figures.values()) == 33


@pytest.mark.parametrize(
    ("path", "count", "figure", "nov2"),
    [
        (LIVE, 13, "live_gmv", Decimal("11675.22")),
        (ORDERS, 40, "paid_amount", Decimal("270.48")),
        (INCOME, 25, "settlement", Decimal("306.51")),
    ],
    ids=["live", "orders", "income"],
)
async def test_each_sample_then_its_xlsx_is_stored_once_with_its_day_totals(
    deal_ledger: Ledger, path: Path, count: int, figure: str, nov2: Decimal
) -> None:
    store = PlatformStore(deal_ledger.engine)
    data = path.read_bytes()  # noqa: ASYNC240 - a small test file
    first = await store_file(store, data, path.name)
    assert (first.rows, first.stored) == (count, count)
    again = await store_file(store, to_xlsx(csv_rows(path)), path.stem + ".xlsx")
    assert (again.rows, again.stored, again.already) == (count, 0, count)
    figures = await store.day_figures("acme-linkstar-us", *WEEK)
    assert figures[dt.date(2026, 11, 2)][figure] == nov2
