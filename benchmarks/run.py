"""``make bench``: run every ``benchmarks/bench_*.py`` and write ``benchmarks/REPORT.md``.

Each script prints its own figures as Markdown: every ratio measured as interleaved repetitions
in the same run (``benchmarks/spread.py``), shown as its median with the minimum and maximum,
the goal judged on the median, the absolute numbers beside it. This runner collects them in one
report that opens with a summary (every judged figure, then every script with its time and the
load average before and after it), then each script's section.

The summary's figures: a script names each judged figure with ``spread.goal`` (which appends
it to the file named by ``BENCH_GOALS``, set here for each script); for a script that does
not, every ``spread.ratio_cell`` in its Markdown tables is taken, named by the row's first cell
and the column's header, whose ``aim ≤ x`` or ``aim ≥ x`` gives the aim.

A script that fails or runs over its time budget is reported as such (an overrunning script is
stopped, with every process it started), and the others still run; one whose output starts
with "Skipped" (``bench_memory`` under ``QUICK=1``) is reported as skipped.

Usage::

    .venv/bin/python benchmarks/run.py [--quick] [--out PATH] [--budget SECONDS] [SCRIPT ...]

``--quick`` (or ``QUICK=1`` in the environment, ``make bench-quick``) is passed on to the
scripts, which then use smaller inputs and 5 repetitions, each within a short budget; its report
goes to a temporary file unless ``--out`` names one, so that it never replaces the real report.
``SCRIPT``: ``bench_fee`` or ``bench_fee.py``, to run only those.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# Seconds a script may run. Full run: the whole set stays under 10 minutes.
FULL_BUDGET = 150
FULL_BUDGETS = {
    "bench_import": 180,
    "bench_memory": 240,
    # All 10,000 deals' recaps (10-12 ms each on this shared machine), then 1,000 deliveries.
    "bench_recap": 240,
}
# Quick run (``QUICK=1``): the budgets of the nine scripts add up to under 60 s, so the whole
# set ends within a minute even when a script has to be stopped.
QUICK_BUDGET = 6
QUICK_BUDGETS = {
    "bench_dashboard": 6,
    "bench_fee": 6,
    "bench_import": 4,
    "bench_kpi": 6,
    "bench_ledger": 8,
    "bench_memory": 2,  # it only says it skipped: see its docstring
    "bench_recap": 9,
    "bench_slack": 8,
    "bench_telegram": 8,
}
STOP_GRACE = 5.0  # seconds between SIGINT and SIGKILL for an overrunning script

# A spread.ratio_cell in a table: ``0.52 (0.48–0.55, n=7) ok``, maybe in bold.
CELL = re.compile(
    r"^\**(?P<median>-?[\d.]+) \((?P<low>-?[\d.]+)–(?P<high>-?[\d.]+), n=(?P<n>\d+)\)"
    r" \**(?P<verdict>ok|MISSED)\**$"
)
AIM = re.compile(r"aim:? *(?P<op>[≤≥]|<=|>=) *(?P<value>[\d.]+)")


@dataclass
class Outcome:
    """One script's run: what it printed, how it ended, its judged figures."""

    name: str
    doc: str
    budget: float
    body: str = ""
    status: str = "ok"
    took: float = 0.0
    load_before: str = ""
    load_after: str = ""
    goals: list[dict[str, Any]] = field(default_factory=list)


def load_average() -> str:
    """The 1, 5 and 15-minute load averages, e.g. ``2.10 / 1.85 / 1.40``."""
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def quick() -> bool:
    return os.environ.get("QUICK", "") not in ("", "0")


def budget_of(name: str, override: float | None) -> float:
    if override is not None:
        return override
    if quick():
        return QUICK_BUDGETS.get(name, QUICK_BUDGET)
    return FULL_BUDGETS.get(name, FULL_BUDGET)


def summary_line(script: Path) -> str:
    """The docstring's first paragraph (its summary may run over more than one line)."""
    text = script.read_text(encoding="utf-8")
    parts = text.split('"""')
    return " ".join(parts[1].strip().split("\n\n")[0].split()) if len(parts) > 1 else ""


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop the script and every process it started (its own session): SIGINT first, so that
    its ``finally`` blocks run (a temporary PostgreSQL database is dropped, a ``kpibot run``
    stops cleanly), then SIGKILL."""
    for sig in (signal.SIGINT, signal.SIGKILL):  # SIGKILL even when the script has gone:
        try:  # the processes it started may not have
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(STOP_GRACE)


def execute(script: Path, outcome: Outcome, env: dict[str, str], work: Path) -> int | None:
    """Run one script in its own session within its budget; its output lands in ``work``.
    Returns its exit status, or None when it overran and was stopped."""
    with (work / "out").open("wb") as out, (work / "err").open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, str(script)],
            stdout=out,
            stderr=err,
            cwd=ROOT,
            env=env,
            start_new_session=True,
        )
        try:
            return proc.wait(outcome.budget)
        except subprocess.TimeoutExpired:
            stop_group(proc)
            return None
        finally:
            if proc.poll() is None:
                stop_group(proc)


def run_script(script: Path, override: float | None) -> Outcome:
    outcome = Outcome(script.stem, summary_line(script), budget_of(script.stem, override))
    with tempfile.TemporaryDirectory(prefix="kpibot-bench-run-") as tmp:
        work = Path(tmp)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "BENCH_GOALS": str(work / "goals.jsonl")}
        outcome.load_before = load_average()
        started = time.perf_counter()
        code = execute(script, outcome, env, work)
        outcome.took = time.perf_counter() - started
        outcome.load_after = load_average()
        outcome.body = (work / "out").read_text(encoding="utf-8", errors="replace").strip()
        errors = (work / "err").read_text(encoding="utf-8", errors="replace").strip()
        goals_file = work / "goals.jsonl"
        if goals_file.exists():
            lines = goals_file.read_text(encoding="utf-8").splitlines()
            outcome.goals = [json.loads(line) for line in lines if line.strip()]
    if not outcome.goals:
        outcome.goals = goals_from_tables(outcome.body)
    judge(outcome, code, errors)
    return outcome


def judge(outcome: Outcome, code: int | None, errors: str) -> None:
    """The script's status, and what the report shows of a failure."""
    tail = "\n".join(errors.splitlines()[-15:])
    missed = any(goal["verdict"] == "MISSED" for goal in outcome.goals)
    if code is None:
        outcome.status = f"over budget: stopped after {outcome.budget:g} s"
        printed = "what it had printed is above" if outcome.body else "it had printed nothing"
        outcome.body += (
            f"\n\n**over its {outcome.budget:g} s budget**: stopped; {printed}."
            + (f"\n\n```\n{tail}\n```" if tail else "")
        )
    elif code == 1 and missed:
        outcome.status = "goal missed"
    elif code != 0:
        outcome.status = f"failed (exit {code})"
        outcome.body += f"\n\n**failed** (exit {code}):\n\n```\n{tail}\n```"
    elif missed:
        outcome.status = "goal missed"
    elif outcome.body.startswith("Skipped"):
        outcome.status = "skipped"


def goals_from_tables(body: str) -> list[dict[str, Any]]:
    """For a script that recorded no goal through ``spread.goal``: every ``ratio_cell`` in its
    Markdown tables, named by the row's first cell and the column's header (whose ``aim ≤ x``
    gives the aim)."""
    found: list[dict[str, Any]] = []
    header: list[str] = []
    for line in body.splitlines():
        if not line.startswith("|"):
            header = []
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not header:
            header = cells
            continue
        for column, cell in enumerate(cells):
            match = CELL.match(cell)
            if match is None:
                continue
            title = header[column] if column < len(header) else ""
            aim = AIM.search(title)
            found.append(
                {
                    "figure": f"{cells[0]}: {title}" if column else title,
                    "median": float(match["median"]),
                    "low": float(match["low"]),
                    "high": float(match["high"]),
                    "n": int(match["n"]),
                    "aim": f"{aim['op'].replace('<=', '≤').replace('>=', '≥')} {aim['value']}"
                    if aim
                    else "",
                    "verdict": match["verdict"],
                    "text": (match["median"], match["low"], match["high"]),
                }
            )
    return found


def number(value: float, digits: int) -> str:
    return f"{value:.{digits}f}"


def goal_row(name: str, goal: dict[str, Any]) -> str:
    if "text" in goal:  # read from a table: as printed
        median, low, high = goal["text"]
    else:
        digits = int(goal.get("digits", 2))
        median, low, high = (number(goal[k], digits) for k in ("median", "low", "high"))
    verdict = goal["verdict"]
    shown = f"**{verdict}**" if verdict == "MISSED" else verdict
    return (
        f"| {name} | {goal['figure']} | {median} | {low}–{high} (n={goal['n']}) "
        f"| {goal['aim'] or '—'} | {shown} |"
    )


def summary(outcomes: list[Outcome]) -> str:
    """The two tables at the top: every judged figure, then every script."""
    rows = [goal_row(o.name, g) for o in outcomes for g in o.goals]
    lines = [
        "## Summary\n",
        "Every figure is the median of interleaved repetitions in one run, with its minimum and "
        "maximum; the aim is judged on the median.\n",
        "| script | figure | median | min–max | aim | verdict |",
        "|---|---|---:|---|---|---|",
        *(rows or ["| — | no judged figure was printed | | | | |"]),
        "",
        "| script | result | time (s) | budget (s) | load average before → after |",
        "|---|---|---:|---:|---|",
    ]
    for o in outcomes:
        result = o.status if o.status == "ok" else f"**{o.status}**"
        lines.append(
            f"| {o.name} | {result} | {o.took:.1f} | {o.budget:g} "
            f"| {o.load_before} → {o.load_after} |"
        )
    return "\n".join(lines) + "\n"


def header(total: float, load_before: str, load_after: str) -> str:
    cores = os.cpu_count()
    mode = (
        "`make bench-quick` (`QUICK=1`: smaller inputs, 5 repetitions, short budgets; figures "
        "for development, not the record)"
        if quick()
        else "`make bench`"
    )
    return (
        "# kpibot benchmark report\n\n"
        f"Generated {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by {mode} on "
        f"{platform.machine()} with {cores} cores, Python {platform.python_version()}, in "
        f"{total:.0f} s. Every figure is a ratio to a baseline measured in the same run, "
        "repeated and interleaved; absolute numbers are beside it. Absolute numbers vary with "
        "the machine's load; the ratios are the result.\n\n"
        f"**Load average** (1 / 5 / 15 min): {load_before} when the run started, "
        f"{load_after} when it ended, on {cores} cores. A load above the core count means the "
        "benchmarks competed for the CPU with other work, which inflates absolute times and "
        "widens the spreads; each script's own load is in the second table and under its "
        "section.\n"
    )


def section(o: Outcome) -> str:
    return (
        f"## {o.name}\n\n{o.doc}\n\n{o.body}\n\n_{o.took:.1f} s of its {o.budget:g} s budget; "
        f"load average {o.load_before} at its start, {o.load_after} at its end_\n"
    )


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run the benchmarks and write the report.")
    parser.add_argument("scripts", nargs="*", help="bench_x or bench_x.py (default: all)")
    parser.add_argument("--quick", action="store_true", help="as QUICK=1 (make bench-quick)")
    parser.add_argument("--out", type=Path, help="the report's path")
    parser.add_argument("--budget", type=float, help="seconds per script, for every script")
    args = parser.parse_args(argv)
    if args.quick:
        os.environ["QUICK"] = "1"
    if args.out is None:
        args.out = (
            Path(tempfile.gettempdir()) / "kpibot-bench-quick.md" if quick() else HERE / "REPORT.md"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.scripts:
        wanted = {name.removesuffix(".py") for name in args.scripts}
        unknown = wanted - {s.stem for s in scripts}
        if unknown:
            print(f"no such benchmark: {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        scripts = [s for s in scripts if s.stem in wanted]
    load_before = load_average()
    started = time.perf_counter()
    outcomes = []
    for script in scripts:
        print(f"== {script.name}", flush=True)
        outcome = run_script(script, args.budget)
        print(f"{outcome.body}\n-- {outcome.status}, {outcome.took:.1f} s\n", flush=True)
        outcomes.append(outcome)
    total = time.perf_counter() - started
    report = "\n".join(
        [header(total, load_before, load_average()), summary(outcomes)]
        + [section(o) for o in outcomes]
    )
    args.out.write_text(report, encoding="utf-8")
    print(f"{len(scripts)} scripts in {total:.1f} s; wrote {args.out}")
    return 0 if all(o.status in ("ok", "skipped") for o in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
