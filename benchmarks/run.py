"""``make bench``: run every ``benchmarks/bench_*.py`` and write ``benchmarks/REPORT.md``.

Each script prints its own figures (ratios against a baseline measured in the same run, with
the absolute numbers beside them) as Markdown; this runner collects them in one report with the
machine and the time each took. A script that fails or runs over its time budget is reported as
such, and the others still run.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUDGET_SECONDS = 150  # per script; the whole run stays under 10 minutes


def load_average() -> str:
    """The 1, 5 and 15-minute load averages, e.g. ``2.10 / 1.85 / 1.40``."""
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> int:
    load_before = load_average()
    started = time.perf_counter()
    scripts = sorted(HERE.glob("bench_*.py"))
    only = set(sys.argv[1:])
    if only:
        scripts = [s for s in scripts if s.stem in only or s.name in only]
    sections = []
    failed = 0
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    for script in scripts:
        print(f"== {script.name}", flush=True)
        load = load_average()
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(
                [sys.executable, str(script)],
                capture_output=True,
                text=True,
                timeout=BUDGET_SECONDS,
                cwd=HERE.parent,
                env=env,
                check=False,
            )
            took = time.perf_counter() - t0
            body = proc.stdout.strip()
            if proc.returncode != 0:
                failed += 1
                tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
                body += f"\n\n**failed** (exit {proc.returncode}):\n\n```\n{tail}\n```"
        except subprocess.TimeoutExpired:
            took = time.perf_counter() - t0
            failed += 1
            body = f"**timed out** after {BUDGET_SECONDS} s"
        print(body, flush=True)
        # The docstring's first paragraph (its summary may run over more than one line).
        doc = " ".join(
            script.read_text(encoding="utf-8").split('"""')[1].strip().split("\n\n")[0].split()
        )
        sections.append(
            f"## {script.stem}\n\n{doc}\n\n{body}\n\n_{took:.1f} s; load average at its start "
            f"{load}_\n"
        )
    total = time.perf_counter() - started
    header = (
        "# kpibot benchmark report\n\n"
        f"Generated {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by `make bench` on "
        f"{platform.machine()} with {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"in {total / 60:.1f} minutes. "
        "Every figure is a ratio to a baseline measured in the same run; absolute numbers are "
        "beside it. Absolute numbers vary with the machine's load; the ratios are the result.\n\n"
        f"**Load average** (1 / 5 / 15 min): {load_before} when the run started, "
        f"{load_average()} when it ended, on {os.cpu_count()} cores. The machine is shared (other "
        "engineers run test suites on it): a load above the core count means the benchmarks "
        "competed for the CPU, which inflates absolute times; each script's own load is noted "
        "under its section.\n"
    )
    (HERE / "REPORT.md").write_text(header + "\n" + "\n".join(sections), encoding="utf-8")
    print(f"wrote {HERE / 'REPORT.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
