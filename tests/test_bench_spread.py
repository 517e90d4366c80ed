"""``benchmarks/spread.py``: how every benchmark states a ratio (issue 21).

A figure is the median of per-repetition ratios, with its minimum and maximum; the goal is
judged on the median, never on a lucky or unlucky extreme; subject and baseline alternate so
neither always runs first. Also what ``benchmarks/run.py`` makes of it: the summary read from a
script's tables, and a script over its budget stopped with what it started.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from benchmarks import run, spread
from benchmarks.spread import Spread


def test_of_takes_minimum_median_maximum_and_count() -> None:
    assert Spread.of([3.0, 1.0, 2.0, 10.0, 4.0]) == Spread(1.0, 3.0, 10.0, 5)
    assert Spread.of([4.0, 1.0, 3.0, 2.0]) == Spread(1.0, 2.5, 4.0, 4)  # even: mean of middle two
    with pytest.raises(ValueError):
        Spread.of([])


def test_text_shows_median_then_range_and_count() -> None:
    assert Spread.of([0.48, 0.52, 0.55]).text() == "0.52 (0.48–0.55, n=3)"
    assert Spread.of([19.8, 20.1, 21.0]).text(1, count=False) == "20.1 (19.8–21.0)"
    assert Spread.of([0.0198, 0.0201]).scaled(1000).text(1, count=False) == "20.0 (19.8–20.1)"


def test_verdict_at_least_is_judged_on_the_median() -> None:
    # The minimum misses the aim, the median meets it: ok.
    low_min = Spread.of([0.30, 0.55, 0.60, 0.62, 0.70])
    assert low_min.low < 0.5 <= low_min.median
    assert spread.verdict(low_min, 0.5) == "ok"
    # The maximum meets the aim, the median does not: missed.
    high_max = Spread.of([0.40, 0.42, 0.45, 0.47, 0.90])
    assert high_max.median < 0.5 <= high_max.high
    assert spread.verdict(high_max, 0.5) == "MISSED"


def test_verdict_at_most_is_judged_on_the_median() -> None:
    # One slow repetition (max 3.2) does not fail an "at most 1.5" aim...
    spike = Spread.of([1.0, 1.05, 1.1, 1.02, 3.2])
    assert spread.verdict(spike, 1.5, at_least=False) == "ok"
    # ...and one fast one (min 1.2) does not pass it.
    slow = Spread.of([1.2, 1.6, 1.7, 1.65, 1.8])
    assert spread.verdict(slow, 1.5, at_least=False) == "MISSED"
    assert spread.ratio_cell(slow, 1.5, at_least=False) == "1.65 (1.20–1.80, n=5) MISSED"


async def test_interleave_alternates_which_side_runs_first() -> None:
    order: list[tuple[str, int]] = []

    async def subject(i: int) -> float:
        order.append(("subject", i))
        return 10.0 + i

    async def baseline(i: int) -> float:
        order.append(("baseline", i))
        return 20.0 + i

    subjects, baselines = await spread.interleave(5, subject, baseline)
    firsts = [order[2 * i][0] for i in range(5)]
    assert firsts == ["subject", "baseline", "subject", "baseline", "subject"]
    # Both sides run once in every repetition, and samples stay in repetition order.
    assert [i for _, i in order] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert subjects == [10.0, 11.0, 12.0, 13.0, 14.0]
    assert baselines == [20.0, 21.0, 22.0, 23.0, 24.0]


async def test_interleave_blocks_alternates_run_by_run_and_takes_medians() -> None:
    order: list[tuple[str, int]] = []

    async def subject(n: int) -> float:
        order.append(("s", n))
        return [5.0, 1.0, 2.0, 9.0, 3.0, 4.0][n]  # medians 2.0 (runs 0-2), 4.0 (runs 3-5)

    async def baseline(n: int) -> float:
        order.append(("b", n))
        return 1.0

    subjects, baselines = await spread.interleave_blocks(2, 3, subject, baseline)
    assert order == [
        ("s", 0), ("b", 0), ("b", 1), ("s", 1), ("s", 2), ("b", 2),
        ("s", 3), ("b", 3), ("b", 4), ("s", 4), ("s", 5), ("b", 5),
    ]  # fmt: skip
    assert (subjects, baselines) == ([2.0, 4.0], [1.0, 1.0])


def test_cell_never_prints_a_missed_median_as_the_aim() -> None:
    just_under = Spread.of([0.45, 0.4966, 0.52])
    assert spread.ratio_cell(just_under, 0.5) == "0.497 (0.450–0.520, n=3) MISSED"
    assert spread.ratio_cell(Spread.of([0.5, 0.5, 0.6]), 0.5) == "0.50 (0.50–0.60, n=3) ok"


def test_alternate_sync_rotates_which_step_runs_first() -> None:
    order: list[int] = []

    def step(j: int) -> Callable[[int], float]:
        def run(i: int) -> float:
            order.append(j)
            return float(10 * j + i)

        return run

    samples = spread.alternate_sync(3, [step(0), step(1), step(2)])
    assert order == [0, 1, 2, 1, 2, 0, 2, 0, 1]
    assert samples == [[0.0, 1.0, 2.0], [10.0, 11.0, 12.0], [20.0, 21.0, 22.0]]


def test_ratios_pair_each_repetition_with_its_own_baseline() -> None:
    # Paired by repetition: 2/1, 6/3, 4/4; not the ratio of medians (4/3).
    assert spread.ratios([2.0, 6.0, 4.0], [1.0, 3.0, 4.0]) == Spread(1.0, 2.0, 2.0, 3)
    with pytest.raises(ValueError):
        spread.ratios([1.0, 2.0], [1.0])


def test_reps_never_fewer_than_five(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QUICK", raising=False)
    assert spread.reps(full=9) == 9
    assert spread.reps(full=2) == spread.MIN_REPS == 5
    monkeypatch.setenv("QUICK", "1")
    assert spread.quick()
    assert spread.reps(full=9, fast=3) == 5


def test_goal_records_the_figure_for_the_runner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    goals = tmp_path / "goals.jsonl"
    monkeypatch.setenv("BENCH_GOALS", str(goals))
    missed = Spread.of([0.40, 0.42, 0.45, 0.47, 0.90])
    assert spread.goal("CSV read", missed, 0.5) == spread.ratio_cell(missed, 0.5)
    assert spread.goal("RSS / bare", Spread.of([1.1, 1.1, 1.1, 1.1, 1.1]), None) == (
        "1.10 (1.10–1.10, n=5)"
    )
    first, second = (json.loads(line) for line in goals.read_text().splitlines())
    assert first["figure"] == "CSV read" and first["verdict"] == "MISSED"
    assert first["aim"] == "≥ 0.5" and first["median"] == 0.45 and first["n"] == 5
    assert second["aim"] is None and second["verdict"] == "—"


def test_goal_records_nothing_outside_the_runner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BENCH_GOALS", raising=False)
    monkeypatch.chdir(tmp_path)
    assert spread.goal("x", Spread.of([1.0] * 5), 1.5, at_least=False).endswith(" ok")
    assert list(tmp_path.iterdir()) == []


def test_runner_reads_ratio_cells_from_tables() -> None:
    body = (
        "| database | ms | ratio 3 years / 1 month (aim ≤ 1.5) |\n"
        "|---|---|---|\n"
        "| sqlite | 20.1 | 1.02 (0.95–1.30, n=7) ok |\n"
        "| postgres | 21.0 | **1.62 (1.40–2.10, n=7) MISSED** |\n"
        "\nnot a table 0.5 (0.4–0.6, n=5) ok\n"
    )
    found = run.goals_from_tables(body)
    assert [(g["figure"], g["verdict"], g["aim"]) for g in found] == [
        ("sqlite: ratio 3 years / 1 month (aim ≤ 1.5)", "ok", "≤ 1.5"),
        ("postgres: ratio 3 years / 1 month (aim ≤ 1.5)", "MISSED", "≤ 1.5"),
    ]
    assert run.goal_row("bench_x", found[1]) == (
        "| bench_x | postgres: ratio 3 years / 1 month (aim ≤ 1.5) | 1.62 | 1.40–2.10 (n=7) "
        "| ≤ 1.5 | **MISSED** |"
    )


def test_runner_stops_a_script_over_its_budget_and_what_it_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    script = tmp_path / "bench_slow.py"
    script.write_text(
        '"""A script that never ends."""\n'
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "print('| a | ratio (aim ≥ 0.5) |', flush=True)\n"
        "time.sleep(60)\n",
        encoding="utf-8",
    )
    began = time.monotonic()
    outcome = run.run_script(script, override=1.5)
    assert time.monotonic() - began < 10
    assert outcome.status == "over budget: stopped after 1.5 s"
    assert "| a | ratio" in outcome.body and "over its 1.5 s budget" in outcome.body
    child = int(pid_file.read_text())
    for _ in range(50):  # the grandchild is gone too (reaped by init once killed)
        if not Path(f"/proc/{child}").exists() or "Z" in _state(child):
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"process {child} still runs")


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return "Z"
