"""Mangled exports (truncated, shuffled, re-encoded, formulas, missing cells) are refused clearly or
imported whole: never a crash, never part of a file."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import random
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.imports import import_file, render_refusal
from kpi.db import make_engine, upgrade
from kpi.dealfile import load_deal
from kpi.ledger import Ledger
from kpi.platform.parse import load_export
from kpi.platform.problems import ImportRefused
from kpi.platform.store import PlatformStore, Uploader
from kpi.platform.tables import platform_rows
from tests.conftest import APPLIED_AT, DEMO_DEAL
from tests.platform_files import INCOME, LIVE, ORDERS, TERMS, csv_rows, to_csv, to_xlsx

SAMPLES = {"live": LIVE, "orders": ORDERS, "income": INCOME}


def shuffled(rows: list[list[str]], seed: int) -> list[list[str]]:
    width = max(len(r) for r in rows)
    order = list(range(width))
    random.Random(seed).shuffle(order)
    return [[r[i] for i in order] if len(r) == width else r for r in rows]


@settings(max_examples=30, deadline=None)
@given(kind=st.sampled_from(sorted(SAMPLES)), seed=st.integers(0, 10**6))
def test_shuffled_columns_read_the_same_records(kind: str, seed: int) -> None:
    path = SAMPLES[kind]
    expected = [
        dataclasses.replace(r, row=0) for r in load_export(path.read_bytes(), "a", TERMS).records
    ]
    got = load_export(to_csv(shuffled(csv_rows(path), seed)), "b", TERMS).records
    assert [dataclasses.replace(r, row=0) for r in got] == expected


@st.composite
def mangled(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(sorted(SAMPLES)))
    rows = csv_rows(SAMPLES[kind])
    for _ in range(draw(st.integers(0, 3))):
        r = draw(st.integers(0, len(rows) - 1))
        if not rows[r]:
            continue
        c = draw(st.integers(0, len(rows[r]) - 1))
        action = draw(st.sampled_from(["formula", "blank", "junk", "drop_cell", "drop_row"]))
        if action == "formula":
            rows[r][c] = draw(st.sampled_from(["=1+2", '=HYPERLINK("x")', "@SUM(A1)"]))
        elif action == "blank":
            rows[r][c] = ""
        elif action == "junk":
            rows[r][c] = draw(st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=12))
        elif action == "drop_cell":
            del rows[r][c]
        else:
            del rows[r]
    form = draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "utf-16", "latin-1", "xlsx"]))
    if form == "xlsx":
        data = to_xlsx(rows)
    else:
        data = to_csv(rows, "utf-8").decode().encode(form, errors="replace")
    if draw(st.booleans()):
        # A share of the file, not a byte count: an XLSX's length varies with the time it was
        # written, and hypothesis needs the same draws for the same example.
        share = draw(st.integers(0, 10_000))
        data = data[: len(data) * share // 10_000]
    return data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=mangled())
def test_a_mangled_file_is_read_whole_or_refused_with_lines_never_a_crash(data: bytes) -> None:
    try:
        parsed = load_export(data, "f.csv", TERMS)
    except ImportRefused as refused:
        lines = render_refusal(refused, "en")
        assert lines[0].startswith("f.csv was not imported")
        assert len(lines) >= 2 and all(line.startswith("f.csv") for line in lines[1:2])
        return
    assert parsed.records and all(r.day >= TERMS.starts for r in parsed.records)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=mangled())
def test_an_import_stores_all_of_a_file_or_none_of_it(tmp_path: Path, data: bytes) -> None:
    asyncio.run(_import_once(tmp_path / "p.db", data))


async def _import_once(path: Path, data: bytes) -> None:
    url = f"sqlite:///{path}"
    await upgrade(url)
    engine = make_engine(url)
    try:
        text = DEMO_DEAL.read_text(encoding="utf-8")
        deal = load_deal(text)
        ledger = Ledger(engine, load_deal)
        await ledger.apply_deal(deal, text, effective=deal.starts, applied_at=APPLIED_AT)
        before = await _count(engine)
        now = dt.datetime(2026, 11, 9, tzinfo=dt.UTC)
        try:
            result = await import_file(
                PlatformStore(engine), deal, data, "f.csv", Uploader("a", "a", "c"), now
            )
        except ImportRefused:
            assert await _count(engine) == before
            return
        assert await _count(engine) == before + result.stored
        assert result.stored + result.already == result.rows
    finally:
        await engine.dispose()


async def _count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(platform_rows))).scalar_one()
        )
