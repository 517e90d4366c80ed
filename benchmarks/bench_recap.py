"""Recaps at scale: the recap job's time per deal on databases of 1 to 10,000 deals (all
10,000 generated), the chart's drawing time, and delivery of 1,000 recaps against the
rate-limit floor.

**Generation.** Each database holds its deals with the same week of figures each (written in
bulk into the ledger's tables, as applying the deals and reporting would). The baseline
generates one deal's recap repeatedly on a database holding only that deal. Each size is
measured in 5 repetitions interleaved with the baseline's (``benchmarks/spread.py``): with 10
deals a repetition generates every deal's recap; from 100 deals on, the deals are dealt into
one stripe per repetition (deal *i* goes to stripe *i* mod 5), so the repetitions together
generate every deal's recap exactly once: at 10,000 deals, the whole 10,000-deal run. Each
figure is the whole recap job (the week's figures, the period snapshot with pace,
disagreements, fee to date and projected, missed slots, the text) without drawing the chart;
the ratio is the per-deal time at that size over the baseline's in the same repetition, judged
on the median (aim ≤ 1.2: linear growth). Aim for the baseline itself: ≤ 10 ms per deal.

**Chart.** The recap's chart drawn in English and in Chinese (with the CJK font when one is
installed), in repetitions; aim ≤ 20 ms per chart.

**Delivery.** 1,000 recap rows (text plus chart, so two Telegram sends each) wait in the outbox
for 1,000 Telegram groups; the scheduler claims, paces, sends through a port that answers at
once, and records each message id. Telegram's budget of 30 sends a second makes the floor
2,000 / 30 = 66.7 s of platform time. Platform time runs ``--scale`` times faster than the wall
clock (pacer and measurement alike), so the outbox's own work per message weighs ``scale``
times more than in production: the ratio printed is an upper bound. Aim: within 1.1x.

``QUICK=1`` (``make bench-quick``): up to 500 deals, 200 recaps delivered, 5 repetitions.

Run: ``python benchmarks/bench_recap.py [--big 10000] [--recaps 1000] [--scale 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select, text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncConnection  # noqa: E402

from benchmarks.spread import (  # noqa: E402
    Spread,
    goal,
    interleave,
    quick,
    ratios,
)
from benchmarks.spread import reps as spread_reps  # noqa: E402
from bot.adapters.telegram import LIMITS as TELEGRAM_LIMITS  # noqa: E402
from bot.app import Core, build_core, install_scheduler  # noqa: E402
from bot.core import Attachment, Delivered, Outgoing, PortLimits, VirtualClock  # noqa: E402
from bot.settings import Settings  # noqa: E402
from kpi.dealfile import load_deal  # noqa: E402
from kpi.model import Deal  # noqa: E402
from kpi.storage import chat_links, deal_versions, deals, entries, heads  # noqa: E402
from scheduler import messages  # noqa: E402
from scheduler.chart import cjk_font  # noqa: E402
from scheduler.outbox import NewRow, OutboxRow  # noqa: E402
from scheduler.pacing import Pacer  # noqa: E402
from scheduler.recap import ChartData, render_chart  # noqa: E402
from scheduler.service import SchedulerService  # noqa: E402
from scheduler.tables import outbox  # noqa: E402

STARTED = time.monotonic()
BUDGET = 7.5 if quick() else 233.0
"""Seconds this script may take (``benchmarks/run.py`` stops it at 240; at 9 under QUICK=1)."""
BASELINE_RECAPS = 5 if quick() else 20
"""Recaps of the 1-deal baseline in each repetition."""
CHARTS = 1 if quick() else 10
"""Charts drawn per repetition and case."""
WHOLE_RUNS = 10
"""Up to this many deals, each repetition generates every deal's recap; above, the deals are
dealt into one stripe per repetition (the budget goes to the 10,000-deal run)."""
REPS = spread_reps(full=5)
"""Interleaved repetitions of each measurement: the minimum, 5 (the 10,000-deal run takes
most of this script's budget once)."""

START = dt.datetime.fromisoformat("2026-11-01T00:00:00-07:00")
RECAP_DAY = dt.date(2026, 11, 9)
WEEK = [dt.date(2026, 11, 2) + dt.timedelta(days=i) for i in range(7)]

DEAL = """\
id: {id}
name: Bench deal {n}
currency: USD
timezone: America/Los_Angeles
locale: en
starts: 2026-11-01
period: month
truth: seller
tolerance: 2%
metrics:
  gmv: "Gross merchandise value, USD"
  orders: "Paid orders"
  ad_spend: "Ads spend, USD"
  roi: gmv / ad_spend
targets:
  gmv: {{at_least: 50000}}
  roi: {{at_least: 2.5}}
fees:
  base: 3000
  commission: {{on: gmv, bands: [{{up_to: 50000, rate: 5%}}, {{rate: 8%}}]}}
  deduction: {{on: gmv, step: 10%, per_step: 10%, of: base, cap: 50%}}
members:
  seller: [telegram:5001]
  agency: [slack:U0AGENCY1]
admins: [telegram:5001]
contacts:
  - {{who: telegram:5001, side: seller, level: 1, name: Seller ops lead}}
chats:
  - {{id: telegram:-100{n:06d}, side: seller}}
  - {{id: slack:C{n:06d}, side: agency}}
schedule:
  recap: mon 09:00
"""


async def make_core(folder: Path, name: str) -> Core:
    clock = VirtualClock(START)
    url = f"sqlite:///{folder / name}"
    return await build_core(Settings(database_url=url, _env_file=None), clock=clock)  # type: ignore[call-arg]


def deal_id_of(n: int) -> str:
    return f"bench-{n:06d}"


async def add_deals(core: Core, count: int) -> list[str]:
    """Store ``count`` deals, each with the same week of seller and agency figures.

    The rows are written as ``Ledger.apply_deal`` and ``record_report`` would write them
    (deal, version 1 effective on its start date, chat links; entries with their heads), but in
    bulk: applying deals one by one through the core costs about 40 ms each, which 10,000 deals
    could not afford in this script's budget. The first deal's 42 entries are built here and
    copied to the others by one ``INSERT ... SELECT`` (SQLite), so every deal holds the same
    figures, a disagreement included.
    """
    ids = [deal_id_of(n) for n in range(count)]
    texts = [DEAL.format(id=deal_id, n=n) for n, deal_id in enumerate(ids)]
    load_deal(texts[0], "bench.yaml")  # the template must be a valid deal file
    entry_rows, head_rows = week_rows(ids[0])
    async with core.engine.begin() as conn:
        for at in range(0, count, 2000):
            await insert_deals(conn, ids, texts, range(at, min(at + 2000, count)))
        await conn.execute(insert(entries), entry_rows)
        await conn.execute(insert(heads), head_rows)
        if count > 1:
            await copy_figures(conn, count, ids[0])
    return ids


def week_rows(deal_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The entries of one deal's week (both sides, three metrics) and their heads."""
    entry_rows, head_rows = [], []
    for entry_id, (day, (metric, value), (side, person)) in enumerate(
        (
            (day, figure, who)
            for day in WEEK
            for figure in (("gmv", 1500), ("orders", 40), ("ad_spend", 500))
            for who in (("seller", "telegram:5001"), ("agency", "slack:U0AGENCY1"))
        ),
        start=1,
    ):
        entry_rows.append(
            {
                "id": entry_id,
                "deal_id": deal_id,
                "day": day,
                "metric": metric,
                # The agency reports 3% more on Wednesdays: a disagreement.
                "value": Decimal(value)
                * (Decimal("1.03") if side == "agency" and day.weekday() == 2 else 1),
                "side": side,
                "person": person,
                "person_name": person,
                "chat": "telegram:-100000000",
                "message_key": f"bench-{entry_id}",
                "recorded_at": START,
            }
        )
        head_rows.append(
            {"deal_id": deal_id, "day": day, "metric": metric, "side": side, "entry_id": entry_id}
        )
    return entry_rows, head_rows


async def insert_deals(
    conn: AsyncConnection, ids: list[str], texts: list[str], chunk: range
) -> None:
    """The deals of ``chunk``: each deal, its version 1 and its two chat links."""
    await conn.execute(
        insert(deals),
        [
            {"id": ids[n], "name": f"Bench deal {n}", "current_version": 1, "created_at": START}
            for n in chunk
        ],
    )
    await conn.execute(
        insert(deal_versions),
        [
            {"deal_id": ids[n], "version": 1, "effective": START.date(), "applied_at": START,
             "source_text": texts[n]}
            for n in chunk
        ],
    )  # fmt: skip
    await conn.execute(
        insert(chat_links),
        [
            {"chat_id": f"{platform}{n:06d}", "deal_id": ids[n], "side": side}
            for n in chunk
            for platform, side in (("telegram:-100", "seller"), ("slack:C", "agency"))
        ],
    )


async def copy_figures(conn: AsyncConnection, count: int, first: str) -> None:
    """The first deal's entries and heads copied to the other ``count - 1`` deals."""
    await conn.execute(
        text(
            "WITH RECURSIVE n(i) AS"
            " (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :last)"
            " INSERT INTO entries (deal_id, day, metric, value, side, person, person_name,"
            " chat, message_key, recorded_at)"
            " SELECT printf('bench-%06d', n.i), e.day, e.metric, e.value, e.side,"
            " e.person, e.person_name, printf('telegram:-100%06d', n.i), e.message_key,"
            " e.recorded_at FROM n, entries AS e WHERE e.deal_id = :first"
            " ORDER BY n.i, e.id"
        ),
        {"last": count - 1, "first": first},
    )
    await conn.execute(
        text(
            "INSERT INTO heads (deal_id, day, metric, side, entry_id)"
            " SELECT deal_id, day, metric, side, id FROM entries WHERE deal_id != :first"
        ),
        {"first": first},
    )


def job_row(deal_id: str) -> OutboxRow:
    due = dt.datetime(2026, 11, 9, 17, tzinfo=dt.UTC)
    return OutboxRow(
        0,
        deal_id,
        "recap",
        RECAP_DAY.isoformat(),
        "*",
        due,
        "claimed",
        None,
        None,
        1,
        "bench",
        None,
        None,
        None,
        due,
        None,
    )


def service_of(core: Core) -> SchedulerService:
    found = core.scheduler
    assert isinstance(found, SchedulerService)
    return found


def prime(core: Core, ids: list[str]) -> dict[str, Deal]:
    """Each stored deal's parsed terms, left in the ledger's cache of parsed versions as
    ``Ledger.apply_deal`` leaves them (the scheduler's deal lookup then finds them there).

    Parsing 10,000 deal files would take seconds of this script's budget, and they differ only
    in their id, name and chats: the first is parsed, the others are copies with those fields
    replaced, and a sample of them is checked against a real parse of its own file.
    """
    template = load_deal(DEAL.format(id=ids[0], n=0), "bench.yaml")
    found: dict[str, Deal] = {}
    for n, deal_id in enumerate(ids):
        seller, agency = template.chats
        links = (replace(seller, id=f"telegram:-100{n:06d}"), replace(agency, id=f"slack:C{n:06d}"))
        deal = replace(template, id=deal_id, name=f"Bench deal {n}", chats=links)
        if n % 997 == 0 or n == len(ids) - 1:
            assert deal == load_deal(DEAL.format(id=deal_id, n=n), "bench.yaml"), deal_id
        found[deal_id] = replace(deal, effective=START.date())
        core.ledger._deal_cache[(deal_id, 1)] = found[deal_id]  # as apply_deal leaves it
    return found


@dataclass
class Database:
    """One database of ``size`` deals, ready to generate recaps on."""

    core: Core
    deals: dict[str, Deal]
    built: float
    """Seconds it took to store the deals."""
    cpu: float = 0.0
    """The last :meth:`per_deal` run's CPU seconds per recap (this process, all threads)."""

    @classmethod
    async def create(cls, folder: Path, size: int, name: str = "") -> Database:
        core = await make_core(folder, f"{name or size}.db")
        t0 = time.perf_counter()
        ids = await add_deals(core, size)
        deals = prime(core, ids)
        return cls(core, deals, time.perf_counter() - t0)

    @property
    def ids(self) -> list[str]:
        return list(self.deals)

    async def per_deal(self, ids: Sequence[str]) -> float:
        """Run the recap job (without drawing the chart) for each of ``ids``, in order.

        Returns:
            Seconds per recap.
        """
        jobs = service_of(self.core).jobs
        now = dt.datetime(2026, 11, 9, 17, tzinfo=dt.UTC)
        t0, cpu0 = time.perf_counter(), time.process_time()
        for deal_id in ids:
            outcome = await jobs.recap(job_row(deal_id), self.deals[deal_id], RECAP_DAY, now)
            assert len(outcome.messages) == 2
        self.cpu = (time.process_time() - cpu0) / len(ids)
        return (time.perf_counter() - t0) / len(ids)


def stripes(ids: list[str], count: int) -> list[list[str]]:
    """``ids`` dealt into ``count`` stripes: each spread over the whole range, each id once."""
    return [ids[i::count] for i in range(count)]


@dataclass
class Size:
    """One database size's repetitions: its per-deal times and the baseline's beside them."""

    deals: int
    per_deal: list[float]
    baseline: list[float]
    generated: int
    took: float
    """Seconds spent generating this size's recaps (the baseline's not included)."""
    note: str = ""
    wall: float = 0.0
    """Seconds from the first repetition's start to the last one's end, baselines included."""
    built: float = 0.0
    """Seconds it took to store the deals."""
    cpu: list[float] = field(default_factory=list)
    """CPU seconds per recap in each repetition (the machine's load does not add to them)."""
    baseline_cpu: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> Spread:
        return ratios(self.per_deal, self.baseline)


async def measure(base: Database, db: Database, runs: list[list[str]], repeat: int) -> Size:
    """Interleave ``runs`` (one a repetition) on ``db`` with ``repeat`` recaps of the 1-deal
    baseline each."""
    (only,) = base.ids
    found = Size(len(db.deals), [], [], sum(len(r) for r in runs), 0.0)

    async def subject(i: int) -> float:
        per = await db.per_deal(runs[i])
        found.took += per * len(runs[i])
        found.cpu.append(db.cpu)
        return per

    async def baseline(_: int) -> float:
        per = await base.per_deal([only] * repeat)
        found.baseline_cpu.append(base.cpu)
        return per

    found.per_deal, found.baseline = await interleave(len(runs), subject, baseline)
    return found


MARGIN_FOR_LOAD = 1.15
"""How much longer than measured a planned run may take (the machine's load comes and goes)."""


def fits(left: float, estimate: float) -> bool:
    return estimate * MARGIN_FOR_LOAD < left


async def bench_big(
    folder: Path, base: Database, big: int, rate: float, build: float, deadline: float
) -> Size | None:
    """All ``big`` deals' recaps, in stripes interleaved with the baseline, as far as they fit.

    Args:
        folder: Where the database goes.
        base: The 1-deal baseline's database.
        big: Deals (10,000).
        rate: Seconds per recap measured on the largest size so far.
        build: Seconds per deal it took to store that size.
        deadline: ``time.monotonic()`` by which this part must be done.

    Returns:
        The measurement (of fewer stripes than all when the time left is short, which its
        note says), or ``None`` when not even the database and one stripe would fit.
    """
    repeat = BASELINE_RECAPS
    stripe = (-(-big // REPS) + repeat) * rate  # one stripe and its baseline
    if not fits(deadline - time.monotonic(), big * build + stripe):
        return None
    db = await Database.create(folder, big)
    try:
        runs = stripes(db.ids, REPS)
        whole = min(REPS, int((deadline - time.monotonic()) / MARGIN_FOR_LOAD / stripe))
        began = time.perf_counter()
        found = await measure(base, db, runs[: max(1, whole)], repeat)
        found.wall = time.perf_counter() - began
        found.built = db.built
    finally:
        await db.core.aclose()
    if found.generated < big:
        found.note = (
            f"only {found.generated:,} of the {big:,} recaps fitted in this script's "
            f"{BUDGET:.0f} s budget on this machine now ({len(found.per_deal)} of {REPS} "
            "stripes): the whole run was NOT generated"
        )
    return found


async def bench_sizes(
    folder: Path, base: Database, sizes: Sequence[int], big: int, deadline: float
) -> list[Size]:
    """Every size up to ``sizes[-1]`` in full repetitions or stripes, then ``big``."""
    measured: list[Size] = []
    build = rate = 0.0
    for size in sizes:
        db = await Database.create(folder, size)
        build = db.built / size
        try:
            reps = REPS
            runs = [db.ids] * reps if size <= WHOLE_RUNS else stripes(db.ids, reps)
            measured.append(await measure(base, db, runs, BASELINE_RECAPS))
        finally:
            await db.core.aclose()
        rate = measured[-1].took / measured[-1].generated
    if big:
        found = await bench_big(folder, base, big, rate, build, deadline)
        if found is None:
            measured.append(Size(big, [], [], 0, 0.0, note=f"{big:,} deals: not measured"))
        else:
            measured.append(found)
    return measured


def size_lines(measured: list[Size]) -> list[str]:
    """The generation table: per-deal times and the ratio to the baseline, with spreads."""
    baselines = [b for m in measured for b in m.baseline]
    cpu = [c for m in measured for c in m.baseline_cpu]
    lines = [
        "| deals in the database | recaps generated | repetitions | per deal, ms "
        "| CPU per deal, ms | vs 1-deal baseline (aim ≤ 1.2) |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| 1 (baseline; aim ≤ 10 ms) | {len(baselines) * BASELINE_RECAPS:,} "
        f"| {len(baselines)} | {ms(baselines, 'recap per deal, 1 deal, ms', aim=10)} "
        f"| {ms(cpu)} | 1.00 |",
    ]
    for m in measured:
        if not m.per_deal:
            lines.append(f"| {m.deals:,} | 0 | 0 | — | — | not measured |")
            continue
        lines.append(
            f"| {m.deals:,} | {m.generated:,} | {len(m.per_deal)} | {ms(m.per_deal)} "
            f"| {ms(m.cpu)} "
            f"| {goal(f'recap per deal, {m.deals:,} vs 1 deal', m.ratio, 1.2, at_least=False)} |"
        )
    return lines


def ms(seconds: Sequence[float], figure: str = "", aim: float | None = None) -> str:
    """A spread of times in milliseconds, ``4.21 (4.02–4.60, n=5)``, judged against ``aim``
    (at most so many milliseconds) when given."""
    spread = Spread.of([s * 1000 for s in seconds])
    return spread.text() if aim is None else goal(figure, spread, aim, at_least=False)


def big_note(big: Size | None, wanted: int) -> str:
    """What the largest size's run was: the whole run's time, or why it is not whole."""
    if big is None or not big.per_deal:
        return (
            f"**{wanted:,} deals: not measured**: the database and one stripe of its recaps "
            f"would not fit in what is left of this script's {BUDGET:.0f} s budget on this "
            "machine now."
        )
    if big.note:
        return (
            f"**{big.deals:,} deals: {big.note}** ({big.took:.1f} s for those, "
            f"{big.took / big.generated * 1000:.2f} ms per deal; load average after it: {load()})."
        )
    return (
        f"**The whole {big.deals:,}-deal run**: all {big.generated:,} recaps generated once "
        f"each in {big.took:.1f} s ({big.took / big.generated * 1000:.2f} ms per deal overall), "
        f"as {len(big.per_deal)} stripes of {big.generated // len(big.per_deal):,} interleaved "
        f"with the baseline's repetitions ({big.wall:.1f} s of wall time with them); the "
        f"database ({big.deals * 42:,} entries) was stored in {big.built:.1f} s before. Load "
        f"average after it: {load()}."
    )


def load() -> str:
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


async def bench_generation(
    folder: Path, base: Database, sizes: Sequence[int], big: int, deadline: float
) -> list[str]:
    (only,) = base.ids
    await base.per_deal([only] * 5)  # warm the caches and the imports
    measured = await bench_sizes(folder, base, sizes, big, deadline)
    largest = measured[-1] if big else None
    return [
        *size_lines(measured),
        "",
        big_note(largest, big) if big else f"(No {10_000:,}-deal run: ``--big 0``.)",
        "",
        "Every recap here is generated without its chart (drawn apart, in a worker thread, "
        "timed below). Not counted either: the scheduler's lookup of the deal's current "
        "version (one read) and storing the job's outcome (one write), the same for every "
        "deal. Per deal is wall time, which the aims judge; CPU per deal is this process's "
        "processor time (its database threads included), which other programs on the machine "
        "do not inflate: a wall time well above it means the recaps waited for a core.",
    ]


def chart_data_of(base: Database, days: int) -> ChartData:
    """The baseline deal's chart, as its recap would give it, stretched to ``days`` days."""
    (only,) = base.ids
    snap_days = tuple(dt.date(2026, 11, 1) + dt.timedelta(days=i) for i in range(days))
    values = tuple(Decimal(1400 + 37 * (i % 9)) if i % 6 != 4 else None for i in range(days))
    deal = base.deals[only]
    return ChartData(
        "gmv",
        snap_days,
        values,
        Decimal(50000) / 30,
        "2026-11",
        deal.metrics["gmv"].labels,
        {"zh": "2026年11月"},
    )


async def bench_charts(base: Database) -> list[str]:
    """Chart drawing per chart, in English and Chinese, a week's and a month's bars."""
    (only,) = base.ids
    now = dt.datetime(2026, 11, 9, 17, tzinfo=dt.UTC)
    outcome = await service_of(base.core).jobs.recap(
        job_row(only), base.deals[only], RECAP_DAY, now
    )
    assert outcome.chart is not None
    cases = {
        f"en, {len(outcome.chart.days)} days (this recap's)": (outcome.chart, "en"),
        f"zh, {len(outcome.chart.days)} days (this recap's)": (outcome.chart, "zh"),
        "zh, 31 days": (chart_data_of(base, 31), "zh"),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for data, locale in cases.values():
        render_chart(data, locale)  # fonts loaded, figure prepared
    for rep in range(REPS):
        order = list(cases.items())
        for name, (data, locale) in order if rep % 2 == 0 else reversed(order):
            t0 = time.perf_counter()
            for _ in range(CHARTS):
                render_chart(data, locale)
            times[name].append((time.perf_counter() - t0) / CHARTS)
    font = cjk_font() or "none installed: Chinese labels fall back to English"
    lines = ["| chart | per chart, ms (aim ≤ 20) |", "|---|---:|"]
    for name, found in times.items():
        lines.append(f"| {name} | {ms(found, f'chart {name}, ms', aim=20)} |")
    lines += ["", f"{CHARTS} charts per repetition; CJK font: {font}."]
    return lines


@dataclass
class InstantTelegram:
    """A Telegram port that answers at once; it declares Telegram's limits but does not keep
    them itself, so the scheduler paces it."""

    platform: str = "telegram"
    limits: PortLimits = TELEGRAM_LIMITS
    count: int = 0

    async def send(self, message: Outgoing) -> Delivered:
        self.count += 1
        await asyncio.sleep(0)
        return Delivered(ok=True, message_id=f"{message.to}:{self.count}")


class ScaledTime:
    """Platform time running ``factor`` times faster than the wall clock."""

    def __init__(self, factor: float) -> None:
        self.factor = factor
        self.origin = time.monotonic()

    def monotonic(self) -> float:
        return (time.monotonic() - self.origin) * self.factor

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / self.factor)


async def bench_delivery(folder: Path, count: int, scale: float) -> list[str]:
    core = await make_core(folder, "delivery.db")
    port = InstantTelegram()
    core.add_port(port)
    scaled = ScaledTime(scale)
    pacer = Pacer(monotonic=scaled.monotonic, sleep=scaled.sleep)
    install_scheduler(core, pacer=pacer, sleep=scaled.sleep)
    svc = service_of(core)
    now = dt.datetime(2026, 11, 9, 17, tzinfo=dt.UTC)
    chart = Attachment("gmv.png", b"\x89PNG" + bytes(30_000), title="gmv by day")
    payload = messages.encode(
        Outgoing(
            to="",
            text="📊 Weekly recap\n" + "line of the recap\n" * 40,
            kind="recap",
            files=(chart,),
        )
    )
    try:
        await svc.store.enqueue(
            [
                NewRow("bench", "recap", "2026-11-09", f"telegram:-100{i:06d}", now, payload)
                for i in range(count)
            ],
            now,
        )
        assert isinstance(core.clock, VirtualClock)
        core.clock.set(now)
        t0 = time.perf_counter()
        await svc.drain(now)
        took = (time.perf_counter() - t0) * scale
        async with core.engine.connect() as conn:
            sent = len(
                (
                    await conn.execute(
                        select(outbox.c.id).where(
                            outbox.c.status == "sent", outbox.c.message_id.is_not(None)
                        )
                    )
                ).all()
            )
    finally:
        await core.aclose()
    assert sent == count == port.count
    floor = count * 2 / 30
    return [
        "| recaps | Telegram sends | floor (30/s) | delivered in | vs floor |",
        "|---:|---:|---:|---:|---:|",
        f"| {count:,} | {count * 2:,} | {floor:.1f} s | {took:.1f} s | {took / floor:.3f}x |",
        "",
        f"Platform time ran {scale:g}x faster than the wall clock ({took / scale:.1f} s real); "
        "every message was claimed, paced, sent once and marked with its message id.",
    ]


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--big", type=int, default=0 if quick() else 10_000, help="0: skip")
    parser.add_argument("--recaps", type=int, default=10 if quick() else 1000)
    parser.add_argument("--scale", type=float, default=20.0 if quick() else 5.0)
    args = parser.parse_args()
    deadline = STARTED + BUDGET
    sizes = (10, 100) if quick() else (10, 100, 1000)
    # Delivery and the charts run last and their time is known in advance (the floor over the
    # scale, plus the outbox's work; a few seconds of charts): keep that much for them.
    reserve = args.recaps * 2 / 30 / args.scale * 1.2 + (1.0 if quick() else 6.0)
    with tempfile.TemporaryDirectory(prefix="kpibot-bench-recap-") as tmp:
        folder = Path(tmp)
        base = await Database.create(folder, 1)
        try:
            print("### Recap generation\n")
            lines = await bench_generation(folder, base, sizes, args.big, deadline - reserve)
            print("\n".join(lines), flush=True)
            print("\n### Chart drawing\n")
            print("\n".join(await bench_charts(base)), flush=True)
        finally:
            await base.core.aclose()
        print("\n### Delivery against the rate-limit floor\n")
        print("\n".join(await bench_delivery(folder, args.recaps, args.scale)))


if __name__ == "__main__":
    asyncio.run(main())
