"""Memory: resident size of a real ``kpibot run`` idle with both adapters and the scheduler,
then with 100,000 stored entries, against a bare Python importing the same libraries.

Each measurement is a fresh ``.venv/bin/kpibot run`` subprocess, configured by environment
variables only: Slack in HTTP mode (``SLACK_BOT_TOKEN`` + ``SLACK_SIGNING_SECRET``) and Telegram
long polling, each process against its own fake servers of ``tests/fakes/`` that this script
starts on 127.0.0.1, the HTTP server (``/healthz``, ``/metrics``, ``/slack/events``) and the
scheduler (which ticks at start and every 30 s). Its SQLite database is prepared before it
starts: ten deals (the demo deal under other ids and chats, applied through the core), and for
the second kind of run 100,000 entries bulk-loaded into the ledger's tables (10 deals x 1,000
days x 5 metrics x both sides, with their heads), as ``Ledger.record_report`` would store them;
each process gets its own copy.

Resident memory is ``VmRSS`` from ``/proc/PID/status``, read every 0.5 s once ``/healthz``
answers and Telegram is polling, and taken when it has settled (the last 4 s within 1%, at
least 6 s after start). The baseline is a bare Python process that imports exactly the
third-party modules the idle ``kpibot run`` had imported (recorded from its own
``PYTHONPROFILEIMPORTTIME`` output, so lazily imported ones count too) and nothing of kpibot.
The last row is the 100,000-entry process after it answered ``/kpi`` and ``/fee`` in every
deal on Telegram and ``/kpi`` on Slack, which reads each deal's current period.

Repetitions (``benchmarks/spread.py``): resident memory does not depend on how busy the CPU
is, so within a repetition the three processes (idle, loaded, baseline) run side by side
rather than one after the other; in the first, the baseline starts once the idle process has
recorded the module list. Each ratio to the baseline is reported per repetition, as the median
(min–max) over the repetitions, without an aim.

Run: ``python benchmarks/bench_memory.py [--entries 100000] [--reps 5]``. Under ``QUICK=1``
it only says that it skipped: five fresh ``kpibot run`` processes and five baselines take some
25 s of CPU, nearly half of ``make bench-quick``'s minute, and resident memory barely moves
between repetitions (the full run shows its spread).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from sqlalchemy import insert

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the fakes live in tests/, which is not an installed package
    sys.path.insert(0, str(ROOT))

from benchmarks import spread  # noqa: E402

SKIPPED = (
    "Skipped under `QUICK=1`: resident memory needs fresh `kpibot run` processes (about 5 s of "
    "CPU each with its baseline); `make bench` measures it."
)
if __name__ == "__main__" and spread.quick():  # before kpibot's imports, which take a second
    print(SKIPPED)
    sys.exit(0)

from bot.app import build_core  # noqa: E402
from bot.settings import Settings  # noqa: E402
from kpi.storage import entries, heads  # noqa: E402
from tests.fakes.slack_api import (  # noqa: E402
    BOT_TOKEN,
    SIGNING_SECRET,
    TEAM,
    FakeSlack,
    signed_headers,
)
from tests.fakes.telegram_api import TOKEN, FakeTelegram  # noqa: E402

KPIBOT = Path(sys.executable).with_name("kpibot")
TEMPLATE = (ROOT / "bot" / "demo" / "acme-linkstar-us.yaml").read_text(encoding="utf-8")
DEALS = 10
METRICS = ("gmv", "orders", "ad_spend", "refunds", "viewers")
SIDES = ("seller", "agency")
BATCH = 5000
OURS = frozenset({"bot", "kpi", "handlers", "scheduler", "tests", "benchmarks"})
SAMPLE_SECONDS = 0.5
SETTLE_WINDOW = 8  # samples, SAMPLE_SECONDS apart
SETTLE_MIN_SECONDS = 6.0
SETTLE_MAX_SECONDS = 40.0


def deal_text(n: int, starts: dt.date) -> str:
    """The demo deal as deal ``n``: its own id and chats, starting on ``starts``."""
    text = TEMPLATE.replace("id: acme-linkstar-us", f"id: mem-{n}")
    text = text.replace("starts: 2026-11-01", f"starts: {starts.isoformat()}")
    for old in ("telegram:-1001234", "slack:C0AGENCY", "telegram:-1009999"):
        text = text.replace(old, f"{old}{n}")
    return text


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_kib(pid: int) -> int:
    """``VmRSS`` of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def mib(kib: int, *, signed: bool = False) -> str:
    """KiB as MiB with one decimal (``+1.5`` with ``signed``)."""
    value = (Decimal(kib) / 1024).quantize(Decimal("0.1"))
    if not signed:
        return f"{value}"
    return f"{abs(value) if value == 0 else value:+}"  # never "-0.0"


async def prepare(db: Path, days: int, starts: dt.date) -> int:
    """Migrate ``db``, apply the deals (starting on ``starts``) and bulk-load ``days`` days of
    figures for each from ``starts`` on; returns the number of entries stored."""
    core = await build_core(Settings(database_url=f"sqlite:///{db}", _env_file=None))  # type: ignore[call-arg]
    try:
        for n in range(DEALS):
            await core.apply_deal_text(deal_text(n, starts), f"mem-{n}.yaml")
        rows: list[dict[str, Any]] = []
        head_rows: list[dict[str, Any]] = []
        for n in range(DEALS):
            for offset in range(days):
                day = starts + dt.timedelta(days=offset)
                recorded = dt.datetime.combine(day, dt.time(22), tzinfo=dt.UTC)
                for side in SIDES:
                    for m, metric in enumerate(METRICS):
                        entry_id = len(rows) + 1
                        rows.append(
                            {
                                "id": entry_id,
                                "deal_id": f"mem-{n}",
                                "day": day,
                                "metric": metric,
                                "value": Decimal(1000 + 37 * m + day.toordinal() % 50),
                                "side": side,
                                "person": f"bench:{side}",
                                "person_name": side,
                                "chat": f"telegram:-1001234{n}",
                                "message_key": f"mem:{n}:{day.isoformat()}:{side}",
                                "recorded_at": recorded,
                            }
                        )
                        head_rows.append(
                            {
                                "deal_id": f"mem-{n}",
                                "day": day,
                                "metric": metric,
                                "side": side,
                                "entry_id": entry_id,
                            }
                        )
        async with core.ledger.engine.begin() as conn:
            for at in range(0, len(rows), BATCH):
                await conn.execute(insert(entries), rows[at : at + BATCH])
                await conn.execute(insert(heads), head_rows[at : at + BATCH])
        return len(rows)
    finally:
        await core.aclose()


class Child:
    """A subprocess whose resident memory is measured; stopped with SIGINT, then SIGKILL."""

    def __init__(self, proc: asyncio.subprocess.Process, stderr: Path) -> None:
        self.proc = proc
        self.stderr = stderr

    async def settle(self) -> tuple[int, bool]:
        """Sample RSS until it holds steady; returns (KiB, whether it settled in time)."""
        started = time.monotonic()
        samples: list[int] = []
        while True:
            if self.proc.returncode is not None:
                tail = self.stderr.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the process exited ({self.proc.returncode}):\n{tail}")
            samples.append(rss_kib(self.proc.pid))
            window = samples[-SETTLE_WINDOW:]
            elapsed = time.monotonic() - started
            steady = (
                len(window) == SETTLE_WINDOW and max(window) - min(window) <= max(window) // 100
            )
            if (steady and elapsed >= SETTLE_MIN_SECONDS) or elapsed >= SETTLE_MAX_SECONDS:
                return window[-1], steady
            await asyncio.sleep(SAMPLE_SECONDS)

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.proc.kill()  # only the process this script started, by its pid
                await self.proc.wait()


async def start_kpibot(
    folder: Path, db: Path, slack: FakeSlack, tg: FakeTelegram, *, record_imports: bool
) -> tuple[Child, str]:
    """Start ``kpibot run`` on ``db``; returns it once it serves HTTP and polls Telegram."""
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLACK_", "TELEGRAM_", "DATABASE_", "DEALS_", "LOG_", "HTTP_"))
    }
    env.update(
        {
            "DATABASE_URL": f"sqlite:///{db}",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(port),
            "LOG_LEVEL": "WARNING",
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.api_url,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_BASE_URL": tg.base_url,
        }
    )
    if record_imports:
        env["PYTHONPROFILEIMPORTTIME"] = "1"
    stderr = folder / f"kpibot-{port}.stderr"
    polls = len(tg.calls_to("getUpdates"))
    with stderr.open("wb") as err:
        # cwd: an empty folder, so no stray .env is read; the settings come from env only.
        proc = await asyncio.create_subprocess_exec(
            str(KPIBOT), "run", cwd=folder, env=env, stdout=err, stderr=err
        )
    child = Child(proc, stderr)
    base = f"http://127.0.0.1:{port}"
    try:
        if not await wait_healthy(proc, base):
            raise RuntimeError(stderr.read_text(errors="replace")[-2000:])
        await tg.wait_for(lambda: len(tg.calls_to("getUpdates")) > polls, within=30)
    except BaseException:
        await child.stop()  # never leave a kpibot behind
        raise
    return child, base


async def wait_healthy(proc: asyncio.subprocess.Process, base: str) -> bool:
    """Until ``/healthz`` answers 200 (60 s at most): True, or False when the process exited."""
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                return False
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{base}/healthz") as resp:
                    if resp.status == 200:
                        return True
            await asyncio.sleep(0.1)
    raise RuntimeError("kpibot did not answer /healthz within 60 s")


def third_party_imports(stderr: Path) -> list[str]:
    """Modules outside the standard library and kpibot that the process imported, in order."""
    found: list[str] = []
    seen: set[str] = set()
    for line in stderr.read_text(errors="replace").splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        name = line.rsplit("|", 1)[1].strip()
        top = name.split(".")[0]
        if not name or name in seen or top in OURS or top in sys.stdlib_module_names:
            continue
        if top == "imported package" or name.startswith("imported package"):
            continue
        seen.add(name)
        found.append(name)
    return found


BASELINE = """\
import importlib, signal, sys
failed = 0
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception:
        failed += 1
print(failed, flush=True)
signal.pause()
"""


async def start_python(folder: Path, modules: list[str]) -> tuple[Child, int]:
    """A bare Python importing ``modules``; returns it and how many failed to import."""
    stderr = folder / f"python-{len(modules)}.stderr"
    with stderr.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            BASELINE,
            *modules,
            cwd=folder,
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
        )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 60)
    if not line:
        raise RuntimeError(stderr.read_text(errors="replace")[-2000:])
    return Child(proc, stderr), int(line)


async def answer_commands(base: str, slack: FakeSlack, tg: FakeTelegram) -> int:
    """``/kpi`` and ``/fee`` in each deal's Telegram seller chat, ``/kpi`` in its Slack agency
    channel; waits for every answer. Returns how many commands were answered."""
    now = dt.datetime.now(dt.UTC)
    sent_before = tg.sent_count
    answers_before = len(slack.of("response_url"))
    for n in range(DEALS):
        for text in ("/kpi", "/fee"):
            tg.push_message(int(f"-1001234{n}"), text, user_id=5001, date=now)
    async with aiohttp.ClientSession() as http:
        for n in range(DEALS):
            body = urlencode(
                {
                    "team_id": TEAM,
                    "channel_id": f"C0AGENCY{n}",
                    "channel_name": "agency",
                    "user_id": "U0AGENCY1",
                    "user_name": "am",
                    "command": "/kpi",
                    "text": "",
                    "response_url": slack.response_url(f"mem{n}"),
                    "trigger_id": f"trig.mem.{n}",
                }
            )
            async with http.post(
                f"{base}/slack/events", data=body, headers=signed_headers(body)
            ) as resp:
                assert resp.status == 200, resp.status
    await tg.wait_for(lambda: tg.sent_count - sent_before >= 2 * DEALS, within=90)
    await slack.wait_for(
        lambda calls: sum(c.method == "response_url" for c in calls) - answers_before >= DEALS,
        within=90,
    )
    texts = tg.texts()[-2 * DEALS :]
    assert all("Not linked" not in t and "not linked" not in t for t in texts), texts
    return 3 * DEALS


@dataclass
class Kpibot:
    """One ``kpibot run``: RSS idle, and after answering commands (when asked)."""

    idle: int
    served: int | None
    settled: bool
    modules: list[str]


async def measure_kpibot(folder: Path, db: Path, *, record: bool, serve: bool) -> Kpibot:
    """Run ``kpibot run`` on ``db`` against its own fake Slack and Telegram; its RSS once
    settled, and with ``serve`` again after it answered a command in every deal."""
    slack = await FakeSlack().start()
    tg = FakeTelegram(long_poll_cap=30.0)  # idle polling as Telegram does it: 30 s waits
    await tg.start()
    try:
        child, base = await start_kpibot(folder, db, slack, tg, record_imports=record)
        try:
            idle, settled = await child.settle()
            served = None
            if serve:
                await answer_commands(base, slack, tg)
                served, also = await child.settle()
                settled = settled and also
        finally:
            await child.stop()
    finally:
        await tg.stop()
        await slack.aclose()
    modules = third_party_imports(child.stderr) if record else []
    return Kpibot(idle, served, settled, modules)


async def measure_python(folder: Path, modules: list[str]) -> tuple[int, bool, int]:
    """A bare Python importing ``modules``: its settled RSS, whether it settled, and how many
    of the modules failed to import."""
    child, failed = await start_python(folder, modules)
    try:
        kib, settled = await child.settle()
    finally:
        await child.stop()
    return kib, settled, failed


async def repetition(
    folder: Path, i: int, dbs: tuple[Path, Path], modules: list[str] | None
) -> tuple[Kpibot, Kpibot, tuple[int, bool, int]]:
    """One repetition, side by side: ``kpibot run`` idle on a copy of the empty database, one
    on a copy of the loaded one (which then answers commands), and the baseline importing
    ``modules``; in the first repetition (``modules`` None) the idle process records its
    imports and the baseline starts once it has."""
    copies = []
    for kind, source in zip(("idle", "full"), dbs, strict=True):
        copies.append(folder / f"{kind}-{i}.db")
        shutil.copyfile(source, copies[-1])
    jobs: list[Any] = [
        measure_kpibot(folder, copies[0], record=modules is None, serve=False),
        measure_kpibot(folder, copies[1], record=False, serve=True),
    ]
    if modules is not None:
        jobs.append(measure_python(folder, modules))
    got = await asyncio.gather(*jobs)
    idle, full = got[0], got[1]
    baseline = got[2] if modules is not None else await measure_python(folder, idle.modules)
    return idle, full, baseline


async def measure(
    folder: Path, dbs: tuple[Path, Path], reps: int
) -> tuple[list[Kpibot], list[Kpibot], list[tuple[int, bool, int]], int]:
    """Every repetition; returns idle runs, loaded runs, baselines, and the RSS of a bare
    ``python`` that imports nothing."""
    idle: list[Kpibot] = []
    loaded: list[Kpibot] = []
    baselines: list[tuple[int, bool, int]] = []
    for i in range(reps):
        modules = idle[0].modules if idle else None
        one, full, baseline = await repetition(folder, i, dbs, modules)
        idle.append(one)
        loaded.append(full)
        baselines.append(baseline)
    nothing, _, _ = await measure_python(folder, [])
    return idle, loaded, baselines, nothing


def rss_row(label: str, kib: list[int], baseline: list[int], figure: str | None) -> str:
    """A table row: RSS median (min–max) in MiB, and the ratio to the baseline per
    repetition (recorded for the summary under ``figure``)."""
    mib_spread = spread.Spread.of([k / 1024 for k in kib]).text(1, count=False)
    ratio = spread.ratios(kib, baseline)
    cell = spread.goal(figure, ratio, None) if figure else ratio.text()
    return f"| {label} | {mib_spread} | {cell} |"


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=spread.reps(full=5))
    args = parser.parse_args()
    if spread.quick():
        print(SKIPPED)
        return
    starts = dt.datetime.now(dt.UTC).date()
    with tempfile.TemporaryDirectory(prefix="kpibot-bench-memory-") as tmp:
        folder = Path(tmp)
        empty, full = folder / "idle.db", folder / "full.db"
        days = args.entries // (DEALS * len(METRICS) * len(SIDES))
        starts -= dt.timedelta(days=days)
        await prepare(empty, 0, starts)
        began = time.perf_counter()
        stored = await prepare(full, days, starts)
        load_seconds = time.perf_counter() - began
        idle, loaded, baselines, nothing = await measure(folder, (empty, full), args.reps)
    print_table(args.reps, idle, loaded, baselines, stored)
    print()
    print(closing_text(idle, loaded, baselines, nothing, stored, load_seconds))


def print_table(
    reps: int, idle: list[Kpibot], loaded: list[Kpibot], baselines: list[Any], stored: int
) -> None:
    """The table: each kind of process, its RSS and its ratio to the baseline."""
    base = [b[0] for b in baselines]
    unsettled = sum(not run.settled for run in idle + loaded) + sum(not b[1] for b in baselines)
    rows: list[tuple[str, list[int], str | None]] = [
        (f"bare Python importing the same {len(idle[0].modules)} third-party modules", base,
         None),
        ("`kpibot run` idle: Slack HTTP + Telegram polling + scheduler, 10 deals, no entries",
         [r.idle for r in idle], "`kpibot run` idle / bare imports"),
        (f"`kpibot run` idle, {stored:,} entries in its SQLite database",
         [r.idle for r in loaded], f"idle with {stored:,} entries / bare imports"),
        (f"the same, after answering {3 * DEALS} commands (`/kpi`, `/fee` in every deal)",
         [r.served or 0 for r in loaded], "after answering commands / bare imports"),
    ]  # fmt: skip
    moving = f"; {unsettled} processes were still moving after 40 s" if unsettled else ""
    print(
        f"{reps} repetitions; RSS in MiB, median (min–max); the ratio to the baseline per "
        f"repetition, median (min–max, n){moving}.\n"
    )
    print("| process | RSS (MiB) | vs baseline |")
    print("|---|---:|---:|")
    for label, kib, figure in rows:
        print(rss_row(label, kib, base, figure))


def closing_text(
    idle: list[Kpibot],
    loaded: list[Kpibot],
    baselines: list[Any],
    nothing: int,
    stored: int,
    load_seconds: float,
) -> str:
    """The paragraph under the table, from the medians."""
    median = statistics.median
    empty = int(median(r.idle for r in idle))
    base = int(median(b[0] for b in baselines))
    modules, failed = len(idle[0].modules), baselines[0][2]
    full = int(median(r.idle for r in loaded))
    served = int(median(r.served or 0 for r in loaded))
    text = (
        f"For scale, a bare `python -c` that imports nothing: {mib(nothing)} MiB. Over the "
        f"libraries it loads, kpibot's own code, deals, connections and running adapters add "
        f"{mib(empty - base, signed=True)} MiB (medians); {stored:,} stored entries "
        f"(bulk-loaded in {load_seconds:.1f} s) change the idle size by "
        f"{mib(full - empty, signed=True)} MiB"
        + (" (the ledger is not held in memory)" if abs(full - empty) < 2048 else "")
        + ", and answering commands that read every deal's period by "
        f"{mib(served - full, signed=True)} MiB (caches and the first use of the fee and "
        "report code)"
    )
    return text + (
        f". The baseline imports the {modules} modules `kpibot run` imported (recorded with "
        f"`PYTHONPROFILEIMPORTTIME`); {failed} of those names are optional dependencies that "
        "are not installed, whose import failed in kpibot too. RSS is `VmRSS` from "
        f"`/proc/PID/status`, taken once it held steady for "
        f"{SETTLE_WINDOW * SAMPLE_SECONDS:g} s."
    )


if __name__ == "__main__":
    asyncio.run(main())
