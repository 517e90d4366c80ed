"""Slack signed ``/report``: acknowledgement latency at 50 requests/s, and throughput vs bare bolt
and vs the core alone, with reports from 2 channels and from 200.

Four processes on 127.0.0.1: the load generator (this one), a fake Slack Web API
(``tests/fakes/slack_api.py``: users.info, response_url) and two apps under test:

- **bare**: a bolt ``AsyncApp`` whose ``/report`` listener only calls ``ack()``, served by
  ``bot.web`` exactly like the adapter (signature verification, same aiohttp server);
- **kpibot**: ``SlackAdapter`` + the real core on SQLite: ack, then parse, store the entry (one
  transaction) and post the answer to ``response_url``;
- **answer**: the SDKs' own floor, no kpibot at all: a bolt ``AsyncApp`` served the same way
  whose ``/report`` listener calls ``ack()`` and then posts a fixed answer of the same length to
  the command's ``response_url`` (slack_sdk's ``AsyncWebhookClient`` on one pooled session, as
  the adapter posts).

The floor bounds what any adapter on bolt can keep in one process: its CPU per request comes on
top of the core's, so the most it could keep is ``core / (core + floor)`` in CPU per report (the
"ceiling" column); the adapter's own cost is what it spends above both.

Every request is a correctly signed ``/report gmv N`` (distinct N) from one of the shape's
channels (2, or 200), each linked to one of 10 deals, so every one stores a new entry. First a
steady ``--rate`` (default 50/s) for ``--seconds`` (default 10) measures acknowledgement latency
from each request's *scheduled* send time (so a lagging generator counts against the app, not
for it). Then, for each shape, ``--reps`` interleaved repetitions (``benchmarks/spread.py``) of:

- ``--n`` requests through ``--concurrency`` connections to kpibot, as fast as they are
  acknowledged: acknowledgements per second, and reports stored *and answered* per second
  (until the last answer reached the fake Slack);
- the same to the bare app: acknowledgements per second (the baseline of the first ratio);
- the core alone, in kpibot's process: ``core.handle`` with the same kind of reports from the
  same channels, 16 at a time like the adapter (the baseline of the second ratio).

Storing is the core's work and runs behind the acknowledgement, so the first ratio is what the
adapter costs on Slack's 3-second path and the second what it adds to the work. Aim: p99 well
under Slack's 3-second deadline, both ratios at least 0.8 (medians). The fake Slack runs at the
lowest CPU priority: Slack's servers do not share the bot's CPU.

Run: ``python benchmarks/bench_slack.py [--rate 50] [--seconds 10] [--n 240] [--reps 7]
[--channels 2 200]`` (``QUICK=1``: fewer repetitions of fewer requests, a shorter steady phase;
``BENCH_PROFILE=FILE``: cProfile the kpibot process into ``FILE``).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the fake lives in tests/, which is not an installed package
    sys.path.insert(0, str(ROOT))

from benchmarks.spread import goal, interleave, quick, ratios, reps  # noqa: E402
from tests.fakes.slack_api import (  # noqa: E402
    BOT_TOKEN,
    SIGNING_SECRET,
    TEAM,
    FakeSlack,
    signed_headers,
)

DEALS = 10
SHAPES = (2, 200)
"""How many channels the reports come from; channel ``k`` is linked to deal ``k % DEALS``."""
SLOTS = 16
"""Commands the adapter handles at once (``max_concurrent``), and so the core alone too."""
AIM = 0.8
NOW = dt.datetime(2026, 11, 10, 20, 0, tzinfo=dt.UTC)
DEAL_TEMPLATE = """\
id: bench-{i:02d}
name: Bench seller {i} x Bench agency
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
  ad_spend: "TikTok Ads spend, USD"
  refunds: "Refunded amount, USD"
  net_gmv: gmv - refunds
  roi: gmv / ad_spend
targets:
  gmv: {{at_least: 50000}}
fees:
  base: 3000
  commission: {{on: net_gmv, bands: [{{rate: 5%}}]}}
members:
  seller: [slack:USELL{i:02d}]
  agency: [slack:UAGEN{i:02d}]
admins: [slack:UAGEN{i:02d}]
contacts:
  - {{who: slack:UAGEN{i:02d}, side: agency, level: 1}}
chats:
  - {{id: slack:{channel}, side: agency}}
schedule:
  recap: mon 09:00
"""


def channel(k: int) -> str:
    """The ``k``-th bench channel; deal ``k % DEALS`` speaks there for its agency."""
    return f"CB{k:03d}"


def agent(k: int) -> str:
    """The agency member (and admin) of channel ``k``'s deal."""
    return f"UAGEN{k % DEALS:02d}"


# -- the fake Slack process ----------------------------------------------------------------------


def fake_process(conn: Connection) -> None:
    os.nice(19)
    asyncio.run(_fake_main(conn))


async def _fake_main(conn: Connection) -> None:
    fake = await FakeSlack().start()
    conn.send(fake.api_url)
    loop = asyncio.get_running_loop()
    while True:
        order = await loop.run_in_executor(None, conn.recv)
        if order == "stats":
            answers = fake.of("response_url")
            saved = sum("Saved" in str(c.params.get("text", "")) for c in answers)
            last = max((c.at for c in answers), default=0.0)
            conn.send({"answers": len(answers), "saved": saved, "last_at": last})
        elif order == "reset":
            fake.calls.clear()
            conn.send("ok")
        else:
            break
    await fake.aclose()


# -- the app processes ---------------------------------------------------------------------------


def app_process(kind: str, api_url: str, database_url: str, conn: Connection) -> None:
    if kind == "kpibot" and os.environ.get("BENCH_PROFILE"):
        import cProfile

        run = "asyncio.run(_app_main(kind, api_url, database_url, conn))"
        cProfile.runctx(run, globals(), locals(), os.environ["BENCH_PROFILE"])
        return
    asyncio.run(_app_main(kind, api_url, database_url, conn))


async def core_alone(core: Any, n: int, channels: int, offset: int) -> float:
    """Reports/s of ``core.handle`` called directly, ``SLOTS`` at a time: no Slack at all.

    The same kind of report as the HTTP phase, from the same channels, on the same database,
    in the same process."""
    from bot.core import Command

    slots = asyncio.Semaphore(SLOTS)

    async def one(i: int) -> None:
        k = i % channels
        async with slots:
            await core.handle(
                Command(
                    chat=f"slack:{channel(k)}",
                    user=f"slack:{agent(k)}",
                    text=f"/report orders {1 + i}",
                    at=NOW,
                    name="agent",
                    message_id=f"alone-{i}",
                )
            )

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(offset, offset + n)))
    return n / (time.perf_counter() - started)


async def core_alone_cpu(core: Any, n: int, channels: int, offset: int) -> tuple[float, float]:
    """:func:`core_alone`'s rate, and this process's CPU seconds per report meanwhile."""
    cpu = time.process_time()
    rate = await core_alone(core, n, channels, offset)
    return rate, (time.process_time() - cpu) / n


async def sdk_routes(
    api_url: str, stop: list[Callable[[], Awaitable[Any]]], *, answer: bool
) -> list[Any]:
    """A bolt app routed like the adapter whose ``/report`` listener only acknowledges, or,
    with ``answer``, acknowledges and then posts a fixed answer to the command's
    ``response_url`` on the app's pooled session (the SDKs' floor)."""
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient
    from slack_sdk.webhook.async_client import AsyncWebhookClient

    session = aiohttp.ClientSession()
    client = AsyncWebClient(token=BOT_TOKEN, base_url=api_url, session=session)
    name = "answer" if answer else "bare"
    bolt = AsyncApp(client=client, signing_secret=SIGNING_SECRET, name=name)

    @bolt.command("/report")
    async def report(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        if answer:
            hook = AsyncWebhookClient(body["response_url"], session=session)
            await hook.send(text=FLOOR_ANSWER, response_type="in_channel")

    async def handle(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    stop.append(session.close)
    return [("POST", "/slack/events", handle)]


FLOOR_ANSWER = (
    "✅ Saved for Tue 10 Nov (agency side):\n*orders* 1,000 · this month 1,000 · "
    "Bench seller × Bench agency"
)
"""The floor's answer: about as long as kpibot's to the same ``/report``."""


async def kpibot_core(api_url: str, database_url: str) -> tuple[Any, Any]:
    """The core with the deals applied and every channel linked, and its ``SlackAdapter``."""
    from bot.adapters.slack import SlackAdapter
    from bot.app import build_core
    from bot.core import VirtualClock
    from bot.settings import Settings

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=api_url,
    )
    core = await build_core(settings, clock=VirtualClock(NOW))
    for i in range(DEALS):
        await core.apply_deal_text(DEAL_TEMPLATE.format(i=i, channel=channel(i)), f"{i}.yaml")
    for k in range(DEALS, max(SHAPES)):
        await core.ledger.link_chat(f"slack:{channel(k)}", f"bench-{k % DEALS:02d}", "agency")
    adapter = SlackAdapter(core, settings, max_concurrent=SLOTS)
    core.add_port(adapter.port)
    return core, adapter


async def _app_main(kind: str, api_url: str, database_url: str, conn: Connection) -> None:
    from bot.web import bound_port, build_web_app, serve

    stop: list[Callable[[], Awaitable[Any]]] = []
    core: Any = None
    if kind in ("bare", "answer"):
        routes = await sdk_routes(api_url, stop, answer=kind == "answer")
    else:
        core, adapter = await kpibot_core(api_url, database_url)
        await core_alone(core, 20, max(SHAPES), offset=10**6)  # warm up
        routes = adapter.web_routes()
        stop.extend([adapter.stop, core.aclose])
    runner = await serve(build_web_app(routes), "127.0.0.1", 0)
    conn.send(bound_port(runner))
    loop = asyncio.get_running_loop()
    # Orders: ("core", n, channels, offset) measures the core alone, ("cpu",) asks for this
    # process's CPU seconds so far; anything else stops.
    while (order := await loop.run_in_executor(None, conn.recv))[0] in ("core", "cpu"):
        if order[0] == "cpu":
            conn.send(time.process_time())
        else:
            conn.send(await core_alone_cpu(core, *order[1:]))
    await runner.cleanup()
    for step in stop:
        await step()


@dataclass
class App:
    """The load generator's end of one app process."""

    kind: str
    conn: Connection
    process: mp.process.BaseProcess
    url: str

    @classmethod
    def start(cls, kind: str, api_url: str, database_url: str) -> App:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        process = ctx.Process(target=app_process, args=(kind, api_url, database_url, child))
        process.start()
        return cls(kind, parent, process, f"http://127.0.0.1:{parent.recv()}/slack/events")

    async def ask(self, order: tuple[Any, ...]) -> Any:
        def exchange() -> Any:
            self.conn.send(order)
            return self.conn.recv()

        return await asyncio.get_running_loop().run_in_executor(None, exchange)

    def stop(self) -> None:
        self.conn.send(("stop",))
        self.process.join(30)


# -- the load generator ----------------------------------------------------------------------------


class Load:
    """Signed ``/report`` requests against one app, from ``channels`` channels in turn."""

    def __init__(self, url: str, response_url: str, http: aiohttp.ClientSession) -> None:
        self.url = url
        self.response_url = response_url
        self.http = http
        self.seq = 0
        self.channels = max(SHAPES)

    async def send(self) -> int:
        self.seq += 1
        i = self.seq
        k = i % self.channels
        body = urlencode(
            {
                "team_id": TEAM,
                "channel_id": channel(k),
                "channel_name": "ops",
                "user_id": agent(k),
                "user_name": "agent",
                "command": "/report",
                "text": f"gmv {10_000 + i}",
                "response_url": self.response_url,
                "trigger_id": f"trig.{i}",
            }
        )
        async with self.http.post(self.url, data=body, headers=signed_headers(body)) as resp:
            await resp.read()
            return resp.status


async def steady(load: Load, rate: float, seconds: float) -> tuple[list[float], int]:
    """Send at ``rate``/s for ``seconds``; latencies (s) from each scheduled send time."""
    latencies: list[float] = []
    failures = 0

    async def one(scheduled: float) -> None:
        nonlocal failures
        status = await load.send()
        latencies.append(time.perf_counter() - scheduled)
        if status != 200:
            failures += 1

    tasks = []
    start = time.perf_counter() + 0.05
    for k in range(int(rate * seconds)):
        scheduled = start + k / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)
    return latencies, failures


async def flood(load: Load, n: int, concurrency: int) -> tuple[float, float, int]:
    """Send ``n`` requests over ``concurrency`` connections; (start, all acked) monotonic."""
    remaining = n
    failures = 0

    async def worker() -> None:
        nonlocal remaining, failures
        while remaining > 0:
            remaining -= 1
            if await load.send() != 200:
                failures += 1

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return started, time.monotonic(), failures


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# -- the measurements ----------------------------------------------------------------------------


@dataclass
class Shape:
    """One shape's repetitions: what each side did, rep by rep."""

    channels: int
    done: list[float] = field(default_factory=list)
    alone: list[float] = field(default_factory=list)
    ack: list[float] = field(default_factory=list)
    ack_bare: list[float] = field(default_factory=list)
    saved: int = 0
    failures: int = 0
    cpu: list[float] = field(default_factory=list)
    """kpibot's CPU seconds per report through the adapter (acknowledged, stored, answered)."""
    cpu_alone: list[float] = field(default_factory=list)
    """kpibot's CPU seconds per report of the core alone."""
    cpu_floor: list[float] = field(default_factory=list)
    """The answering bolt app's CPU seconds per request (acknowledged and answered)."""

    def ceiling(self) -> Any:
        """Per repetition: core CPU / (core CPU + the SDKs' CPU), per report."""
        from benchmarks.spread import Spread

        pairs = zip(self.cpu_alone, self.cpu_floor, strict=True)
        return Spread.of([a / (a + f) for a, f in pairs])

    def own(self) -> float:
        """The adapter's own CPU per report above the core's and the SDKs' (medians)."""
        m = statistics.median
        return m(self.cpu) - m(self.cpu_alone) - m(self.cpu_floor)


@dataclass
class Bench:
    """The processes and the load generators of one run."""

    args: argparse.Namespace
    fake: Connection
    kpibot: App
    bare: App
    answer: App
    http: aiohttp.ClientSession
    response_url: str
    loads: dict[str, Load] = field(default_factory=dict)
    """One per app, for the whole run: every request's text and trigger id are distinct."""
    offset: int = 10**7
    """The next report number of the core alone (distinct too)."""

    def load(self, app: App, channels: int = max(SHAPES)) -> Load:
        load = self.loads.setdefault(app.kind, Load(app.url, self.response_url, self.http))
        load.channels = channels
        return load

    async def ask_fake(self, order: str) -> Any:
        self.fake.send(order)
        return await asyncio.get_running_loop().run_in_executor(None, self.fake.recv)

    async def answers(self, expected: int) -> dict[str, Any]:
        """Wait until the fake Slack has ``expected`` answers and return its stats."""
        deadline = time.monotonic() + 120
        while True:
            stats = await self.ask_fake("stats")
            if stats["answers"] >= expected or time.monotonic() > deadline:
                return stats
            await asyncio.sleep(0.05)

    async def latency(self) -> dict[str, Any]:
        """Warm both apps up, then ack latencies (s) of each at the steady rate, and whether
        kpibot answered every one "Saved"."""
        loads = {app.kind: self.load(app) for app in (self.kpibot, self.bare)}
        for load in (*loads.values(), self.load(self.answer)):
            await steady(load, 10, 1)  # auth.test, users.info, database pages
        await self.answers(10)
        out: dict[str, Any] = {}
        for kind, load in loads.items():
            await self.ask_fake("reset")
            out[kind], out[f"{kind}_failures"] = await steady(
                load, self.args.rate, self.args.seconds
            )
            if kind == "kpibot":
                # The answers may still be queued behind the core: let them finish first.
                stats = await self.answers(len(out[kind]))
                out["saved"] = stats["saved"] == len(out[kind])
        return out

    async def through_kpibot(self, shape: Shape) -> float:
        """Reports stored and answered per second through kpibot (its ack rate on the side)."""
        n = self.args.n
        await self.ask_fake("reset")
        load = self.load(self.kpibot, shape.channels)
        cpu = await self.kpibot.ask(("cpu",))
        started, acked, failures = await flood(load, n, self.args.concurrency)
        stats = await self.answers(n)
        shape.cpu.append((await self.kpibot.ask(("cpu",)) - cpu) / n)
        shape.ack.append(n / (acked - started))
        shape.saved += stats["saved"]
        shape.failures += failures
        return float(stats["answers"] / (stats["last_at"] - started))

    async def baselines(self, shape: Shape) -> float:
        """The core alone's reports per second (and the bare app's ack rate on the side)."""
        n = self.args.n
        self.offset += n
        rate, cpu = await self.kpibot.ask(("core", n, shape.channels, self.offset))
        shape.cpu_alone.append(cpu)
        load = self.load(self.bare, shape.channels)
        started, acked, failures = await flood(load, n, self.args.concurrency)
        shape.ack_bare.append(n / (acked - started))
        shape.failures += failures
        await self.ask_fake("reset")
        cpu_before = await self.answer.ask(("cpu",))
        answer = self.load(self.answer, shape.channels)
        _, _, failures = await flood(answer, n, self.args.concurrency)
        await self.answers(n)
        shape.cpu_floor.append((await self.answer.ask(("cpu",)) - cpu_before) / n)
        shape.failures += failures
        return float(rate)

    async def shape(self, channels: int) -> Shape:
        shape = Shape(channels)
        shape.done, shape.alone = await interleave(
            self.args.reps,
            lambda rep: self.through_kpibot(shape),
            lambda rep: self.baselines(shape),
        )
        return shape


def report(args: argparse.Namespace, steady_phase: dict[str, Any], shapes: list[Shape]) -> str:
    lat_k, lat_b = steady_phase["kpibot"], steady_phase["bare"]
    p50, p99 = percentile(lat_k, 0.50) * 1000, percentile(lat_k, 0.99) * 1000
    b50, b99 = percentile(lat_b, 0.50) * 1000, percentile(lat_b, 0.99) * 1000
    lines = [
        "Signed `/report` through bolt + `SlackAdapter` + the core on SQLite, against a bare "
        "bolt app (ack only), against the core called directly and against a bolt app that "
        "only acknowledges and answers (the SDKs' floor), same machine, same run. "
        f"Throughput: {args.n} requests through {args.concurrency} connections per repetition, "
        "repetitions interleaved; rates are medians, ratios the median of the per-repetition "
        "ratios (min–max, n); CPU is the kpibot process's (the answering app's for the SDKs "
        "alone), median per report (the fake Slack and the load generator have their own). The "
        "ceiling is the most any adapter on bolt could keep in one process: the SDKs' floor "
        "alone costs that share of the core's CPU.\n",
        f"| channels | stored and answered | core alone | kept through the adapter (aim ≥ {AIM}) "
        f"| acknowledged | bare bolt | acknowledged vs bare bolt (aim ≥ {AIM}) "
        "| ceiling: core / (core + SDKs), CPU "
        "| CPU per report: adapter + core / core alone / SDKs alone "
        "| adapter's own CPU above core + SDKs |",
        "|---:|---:|---:|---|---:|---:|---|---|---:|---:|",
    ]
    for s in shapes:
        kept, acked, ceiling = ratios(s.done, s.alone), ratios(s.ack, s.ack_bare), s.ceiling()
        lines.append(
            f"| {s.channels} | {statistics.median(s.done):.0f} req/s "
            f"| {statistics.median(s.alone):.0f} req/s "
            f"| {goal(f'{s.channels} channels: kept through the adapter', kept, AIM)} "
            f"| {statistics.median(s.ack):.0f} req/s | {statistics.median(s.ack_bare):.0f} req/s "
            f"| {goal(f'{s.channels} channels: acknowledged vs bare bolt', acked, AIM)} "
            f"| {goal(f'{s.channels} channels: ceiling of any adapter on bolt', ceiling, None)} "
            f"| {statistics.median(s.cpu) * 1000:.2f} ms / "
            f"{statistics.median(s.cpu_alone) * 1000:.2f} ms / "
            f"{statistics.median(s.cpu_floor) * 1000:.2f} ms | {s.own() * 1000:.2f} ms |"
        )
    lines.append(
        f"\nAcknowledgement latency at a steady {args.rate:g} req/s ({len(lat_k)} requests, "
        f"{max(SHAPES)} channels): p50 {p50:.1f} ms (bare bolt {b50:.1f} ms), p99 {p99:.1f} ms "
        f"(bare bolt {b99:.1f} ms), against Slack's 3,000 ms deadline: {p99 / 3000:.3f}."
    )
    failures = steady_phase["kpibot_failures"] + steady_phase["bare_failures"]
    failures += sum(s.failures for s in shapes)
    saved = sum(s.saved for s in shapes)
    lines.append(
        f"\nEvery report is acknowledged before it is stored; storing runs behind it at the "
        f"core's pace ({SLOTS} commands at a time). {saved} of {len(shapes) * args.reps * args.n}"
        f" throughput-phase reports and {'all' if steady_phase['saved'] else 'not all'} "
        f"steady-phase reports were answered “Saved”; {failures} requests were not "
        "acknowledged with 200."
    )
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> int:
    ctx = mp.get_context("spawn")
    fake_parent, fake_child = ctx.Pipe()
    fake_proc = ctx.Process(target=fake_process, args=(fake_child,))
    fake_proc.start()
    api_url = fake_parent.recv()
    with tempfile.TemporaryDirectory() as workdir:
        database_url = args.database_url or f"sqlite:///{workdir}/kpibot.db"
        kpibot = App.start("kpibot", api_url, database_url)
        bare = App.start("bare", api_url, "")
        answer = App.start("answer", api_url, "")
        connector = aiohttp.TCPConnector(limit=max(args.concurrency, 200))
        try:
            async with aiohttp.ClientSession(connector=connector) as http:
                response_url = api_url.replace("/api/", "/response/bench")
                bench = Bench(args, fake_parent, kpibot, bare, answer, http, response_url)
                steady_phase = await bench.latency()
                shapes = [await bench.shape(channels) for channels in args.channels]
        finally:
            kpibot.stop()
            bare.stop()
            answer.stop()
    fake_parent.send("quit")
    fake_proc.join(10)
    print(report(args, steady_phase, shapes))
    expected = len(shapes) * args.reps * args.n
    failures = sum(s.failures for s in shapes)
    ok = failures == 0 and sum(s.saved for s in shapes) == expected and steady_phase["saved"]
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0, help="requests/s in the steady phase")
    parser.add_argument(
        "--seconds", type=float, default=4.0 if quick() else 10.0, help="steady phase length"
    )
    parser.add_argument("--n", type=int, default=120 if quick() else 240, help="requests a rep")
    parser.add_argument("--reps", type=int, default=reps(), help="interleaved repetitions")
    parser.add_argument("--concurrency", type=int, default=16, help="connections in the flood")
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    parser.add_argument("--channels", type=int, nargs="*", default=SHAPES, help="shapes to run")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
