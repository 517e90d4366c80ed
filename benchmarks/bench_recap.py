"""Recaps at scale: generation for 1,000 and 10,000 deals against a 1-deal baseline, and
delivery of 1,000 recaps against the rate-limit floor.

**Generation.** Each database holds its deals with the same week of figures each (written in
bulk into the ledger's tables, as applying the deals and reporting would). The baseline
generates one deal's recap repeatedly on a database holding only that deal; then 10, 100 and
1,000 deals' recaps are generated once each on databases holding that many deals, and on a
database of 10,000 deals as many recaps as the rest of the budget allows (all 10,000 would take
longer than the 150 s ``benchmarks/run.py`` gives a script: a sample spread over the whole
database, and the output says so). Each is the whole recap job (the week's figures, the period
snapshot with pace, disagreements, fee to date and projected, missed slots, the text) without
drawing the chart; chart drawing is timed separately on a sample, since it costs the same for
every deal and runs in a worker thread. Linear growth shows as a per-deal time that stays the
same from 10 to 10,000 deals; the 1-deal baseline repeats one deal's recap, whose pages the
database always has hot, so it sits a constant factor below.

**Delivery.** 1,000 recap rows (text plus chart, so two Telegram sends each) wait in the outbox
for 1,000 Telegram groups; the scheduler claims, paces, sends through a port that answers at
once, and records each message id. Telegram's budget of 30 sends a second makes the floor
2,000 / 30 = 66.7 s of platform time. Platform time runs ``--scale`` times faster than the wall
clock (pacer and measurement alike), so the outbox's own work per message weighs ``scale``
times more than in production: the ratio printed is an upper bound. Aim: within 1.1x.

Run: ``python benchmarks/bench_recap.py [--deals 1000] [--big 10000] [--recaps 1000]
[--scale 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert, select, text

from bot.adapters.telegram import LIMITS as TELEGRAM_LIMITS
from bot.app import Core, build_core
from bot.core import Attachment, Delivered, Outgoing, PortLimits, VirtualClock
from bot.settings import Settings
from kpi.dealfile import load_deal
from kpi.storage import chat_links, deal_versions, deals, entries, heads
from scheduler import SERVICE, install, messages
from scheduler.outbox import NewRow, OutboxRow
from scheduler.pacing import Pacer
from scheduler.recap import render_chart
from scheduler.service import SchedulerService
from scheduler.tables import outbox

STARTED = time.monotonic()
BUDGET = 135.0
"""Seconds this script may take (``benchmarks/run.py`` stops it at 150)."""

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
    first = ids[0]
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
                "deal_id": first,
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
            {"deal_id": first, "day": day, "metric": metric, "side": side, "entry_id": entry_id}
        )
    async with core.ledger.engine.begin() as conn:
        for at in range(0, count, 2000):
            chunk = range(at, min(at + 2000, count))
            await conn.execute(
                insert(deals),
                [
                    {"id": ids[n], "name": f"Bench deal {n}", "current_version": 1,
                     "created_at": START}
                    for n in chunk
                ],
            )  # fmt: skip
            await conn.execute(
                insert(deal_versions),
                [
                    {"deal_id": ids[n], "version": 1, "effective": START.date(),
                     "applied_at": START, "source_text": texts[n]}
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
        await conn.execute(insert(entries), entry_rows)
        await conn.execute(insert(heads), head_rows)
        if count > 1:
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
    return ids


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
    found = core.router.services[SERVICE]
    assert isinstance(found, SchedulerService)
    return found


async def generate(core: Core, ids: list[str], blocks: int = 10) -> tuple[float, float]:
    """Run the recap job (no chart drawing) once for each deal, in ``blocks`` blocks.

    Returns:
        The total seconds, and the best block's seconds per deal (the machine's load comes
        and goes; the best block is the least disturbed measurement, as ``timeit`` takes).
    """
    svc = service_of(core)
    now = dt.datetime(2026, 11, 9, 17, tzinfo=dt.UTC)
    deals = [(await core.ledger.current_deal(i)) for i in ids]
    size = max(1, len(ids) // blocks)
    total, best = 0.0, float("inf")
    for start in range(0, len(ids), size):
        t0 = time.perf_counter()
        chunk = list(zip(ids, deals, strict=True))[start : start + size]
        for deal_id, current in chunk:
            assert current is not None
            outcome = await svc.jobs.recap(job_row(deal_id), current[0], RECAP_DAY, now)
            assert len(outcome.messages) == 2
        took = time.perf_counter() - t0
        total += took
        best = min(best, took / len(chunk))
    return total, best


@dataclass
class Measured:
    """One database size: how many recaps were generated and how long they took."""

    deals: int
    generated: int
    total: float
    per: float
    step: int = 1


async def bench_big(
    folder: Path, big: int, rate: float, reserve: float, deadline: float
) -> tuple[Measured | None, str]:
    """Recaps on a database of ``big`` deals, as many as the time left allows.

    Args:
        folder: Where the database goes.
        big: Deals in the database (10,000).
        rate: Seconds per recap measured on the largest full run (all costs included).
        reserve: Seconds still needed after this (the baseline again, the chart timing).
        deadline: ``time.monotonic()`` by which the whole script must be done.

    Returns:
        The measurement (``None`` when not even 100 recaps fit), and a note saying what was
        generated and why.
    """
    core = await make_core(folder, f"n{big}.db")
    try:
        began = time.perf_counter()
        ids = await add_deals(core, big)
        loaded = time.perf_counter() - began
        # 1.3: the deal parse before each sampled recap, and a margin for the machine's load.
        available = deadline - time.monotonic() - reserve
        fits = min(big, int(available / (rate * 1.3)))
        whole = f"generating all {big:,} would take about {big * rate:.0f} s at that rate"
        if fits < 100:
            return None, (
                f"**{big:,} deals: not measured.** The database was built ({big * 42:,} entries, "
                f"{loaded:.1f} s), but {whole}, and fewer than 100 recaps fit in what is left "
                f"of this script's {BUDGET:.0f} s budget on this machine now "
                f"({max(available, 0):.0f} s): the machine is too loaded to say anything "
                "about that size."
            )
        step = -(-big // fits)  # ceiling: spread the sample over the whole id range
        chosen = ids[::step]
        took, per = await generate(core, chosen)
    finally:
        await core.aclose()
    if step == 1:
        note = (
            f"All {big:,} deals' recaps were generated ({big * 42:,} entries, loaded in "
            f"{loaded:.1f} s)."
        )
    else:
        note = (
            f"{big:,} deals: {len(chosen):,} recaps (1 deal in {step}, spread over the whole "
            f"database of {big * 42:,} entries, loaded in {loaded:.1f} s) were generated, "
            f"because {whole}, past this script's {BUDGET:.0f} s budget; the per-deal time at "
            "that size is what the sample measures."
        )
    return Measured(big, len(chosen), took, per, step), note


async def bench_generation(folder: Path, sizes: list[int], big: int, deadline: float) -> list[str]:
    base_core = await make_core(folder, "one.db")
    runs = 50
    measured: list[Measured] = []
    note = ""
    try:
        (only,) = await add_deals(base_core, 1)
        await generate(base_core, [only])  # warm the caches and the imports
        _, before = await generate(base_core, [only] * runs)
        for size in sizes:
            core = await make_core(folder, f"n{size}.db")
            try:
                ids = await add_deals(core, size)
                took, per = await generate(core, ids)
            finally:
                await core.aclose()
            measured.append(Measured(size, size, took, per))
        if big:
            largest = measured[-1]
            reserve = 2 * runs * before + 5.0  # the baseline again; the chart, best of 10
            found, note = await bench_big(
                folder, big, largest.total / largest.generated, reserve, deadline
            )
            if found is not None:
                measured.append(found)
        # The baseline again after the big runs: the best of both is the least disturbed.
        _, after = await generate(base_core, [only] * runs)
        baseline = min(before, after)
        current = await base_core.ledger.current_deal(only)
        assert current is not None
        svc = service_of(base_core)
        outcome = await svc.jobs.recap(
            job_row(only), current[0], RECAP_DAY, dt.datetime(2026, 11, 9, 17, tzinfo=dt.UTC)
        )
        assert outcome.chart is not None
        render_chart(outcome.chart, "en")
        chart = float("inf")
        for _ in range(10):
            t0 = time.perf_counter()
            render_chart(outcome.chart, "en")
            chart = min(chart, time.perf_counter() - t0)
    finally:
        await base_core.aclose()
    lines = [
        "| deals in the database | recaps generated | total | per deal (best block) "
        "| vs 1-deal baseline |",
        "|---:|---:|---:|---:|---:|",
        f"| 1 (baseline) | {2 * runs} | — | {baseline * 1000:.2f} ms | 1.00x |",
    ]
    for m in measured:
        generated = f"{m.generated:,}" + (f" (1 in {m.step})" if m.step > 1 else "")
        lines.append(
            f"| {m.deals:,} | {generated} | {m.total:.2f} s | {m.per * 1000:.2f} ms "
            f"| {m.per / baseline:.2f}x |"
        )
    lines.append("")
    if note:
        lines.append(note)
        lines.append("")
    lines.append(
        "Every recap here is generated without its chart. "
        f"Drawing the chart (matplotlib Agg, best of 10) adds {chart * 1000:.0f} ms per recap, "
        f"the same for every deal, in a worker thread: a recap with its chart is about "
        f"{(baseline + chart) * 1000:.0f} ms of work, {(baseline + chart) * 1000:.0f} s for "
        "1,000 deals, growing linearly with them."
    )
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
    install(core, pacer=Pacer(monotonic=scaled.monotonic, sleep=scaled.sleep), sleep=scaled.sleep)
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
        async with core.ledger.engine.connect() as conn:
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
    parser.add_argument("--deals", type=int, default=1000)
    parser.add_argument("--big", type=int, default=10_000, help="0: skip the largest size")
    parser.add_argument("--recaps", type=int, default=1000)
    parser.add_argument("--scale", type=float, default=5.0)
    args = parser.parse_args()
    deadline = STARTED + BUDGET
    sizes = sorted({s for s in (10, 100, args.deals) if s <= args.deals})
    # Delivery runs last and its time is known in advance (the floor over the scale, plus the
    # outbox's work): keep that much of the budget for it.
    delivery_reserve = args.recaps * 2 / 30 / args.scale * 1.5 + 8.0
    with tempfile.TemporaryDirectory(prefix="kpibot-bench-recap-") as tmp:
        folder = Path(tmp)
        print("### Recap generation\n")
        lines = await bench_generation(folder, sizes, args.big, deadline - delivery_reserve)
        print("\n".join(lines), flush=True)
        print("\n### Delivery against the rate-limit floor\n")
        print("\n".join(await bench_delivery(folder, args.recaps, args.scale)))


if __name__ == "__main__":
    asyncio.run(main())
