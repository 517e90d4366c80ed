"""Interleaved repetitions and their spread: how every benchmark states a ratio.

A ratio measured once moves by ±30% on a shared 2-core machine, so a goal would pass or fail by
luck. Each benchmark therefore measures its subject and its baseline alternately, ``reps`` times
in one run (subject, baseline, subject, baseline...), takes one ratio per repetition, and
reports the minimum, median and maximum. The goal is judged on the median.

``QUICK=1`` in the environment (``make bench-quick``) asks scripts for fewer repetitions and
smaller inputs; :func:`reps` and :func:`quick` read it.

:func:`goal` is :func:`ratio_cell` that also records the figure for ``benchmarks/run.py``'s
summary table: the runner names a file in ``BENCH_GOALS`` and each judged figure is appended to
it as one JSON line. Outside the runner it records nothing.
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

MIN_REPS = 5
"""At least this many interleaved repetitions for a judged ratio (issue 21)."""


def quick() -> bool:
    """True under ``make bench-quick`` (``QUICK=1``): smaller inputs, fewer repetitions."""
    return os.environ.get("QUICK", "") not in ("", "0")


def reps(full: int = 7, fast: int = MIN_REPS) -> int:
    """How many interleaved repetitions to run: ``full``, or ``fast`` under ``QUICK=1``."""
    return max(MIN_REPS, fast if quick() else full)


@dataclass(frozen=True)
class Spread:
    """The minimum, median and maximum of a sample (ratios, or times)."""

    low: float
    median: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            raise ValueError("a spread needs at least one value")
        return cls(min(values), statistics.median(values), max(values), len(values))

    def text(self, digits: int = 2, *, count: bool = True) -> str:
        """``0.52 (0.48–0.55, n=7)``: the median, then min–max and the number of samples
        (left out with ``count=False``: ``20.1 (19.8–21.0)``)."""
        f = f"{{:.{digits}f}}"
        n = f", n={self.n}" if count else ""
        return f"{f.format(self.median)} ({f.format(self.low)}–{f.format(self.high)}{n})"

    def scaled(self, factor: float) -> Spread:
        """The same spread in another unit (seconds to milliseconds: ``scaled(1000)``)."""
        return Spread(self.low * factor, self.median * factor, self.high * factor, self.n)


def verdict(spread: Spread, aim: float, *, at_least: bool = True) -> str:
    """``ok`` or ``MISSED``, judged on the median against ``aim`` (≥ aim, or ≤ with
    ``at_least=False``)."""
    good = spread.median >= aim if at_least else spread.median <= aim
    return "ok" if good else "MISSED"


def telling_digits(spread: Spread, aim: float, digits: int) -> int:
    """``digits``, or more while the median would print as the aim it misses or barely meets
    (``0.50 ... MISSED`` for 0.4966 against 0.5 reads as a contradiction)."""

    def same(d: int) -> bool:
        return f"{spread.median:.{d}f}" == f"{aim:.{d}f}"

    while digits < 6 and spread.median != aim and same(digits):
        digits += 1
    return digits


def ratio_cell(spread: Spread, aim: float, *, at_least: bool = True, digits: int = 2) -> str:
    """A table cell: ``0.52 (0.48–0.55, n=7) ok``."""
    shown = spread.text(telling_digits(spread, aim, digits))
    return f"{shown} {verdict(spread, aim, at_least=at_least)}"


def goal(
    figure: str, spread: Spread, aim: float | None, *, at_least: bool = True, digits: int = 2
) -> str:
    """:func:`ratio_cell` (or, with no ``aim``, the spread alone: a figure reported, not
    judged), also recorded for ``benchmarks/run.py``'s summary under the name ``figure``."""
    if aim is None:
        cell, judged = spread.text(digits), "—"
    else:
        judged = verdict(spread, aim, at_least=at_least)
        digits = telling_digits(spread, aim, digits)
        cell = f"{spread.text(digits)} {judged}"
    record = {
        "figure": figure,
        "median": spread.median,
        "low": spread.low,
        "high": spread.high,
        "n": spread.n,
        "aim": None if aim is None else f"{'≥' if at_least else '≤'} {aim:g}",
        "verdict": judged,
        "digits": digits,
    }
    path = os.environ.get("BENCH_GOALS")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return cell


async def interleave_blocks(
    n: int,
    size: int,
    subject: Callable[[int], Awaitable[float]],
    baseline: Callable[[int], Awaitable[float]],
) -> tuple[list[float], list[float]]:
    """``n`` repetitions, each of ``size`` runs of both sides interleaved run by run (see
    :func:`interleave`; run ``k`` of repetition ``i`` is called with ``i * size + k``); returns
    each side's median per repetition. For figures of a few milliseconds, where one run is too
    noisy to make a ratio of: alternating run by run keeps both sides in the same moment of the
    machine's load, and the median drops the runs another process interrupted."""
    subjects: list[float] = []
    baselines: list[float] = []
    for i in range(n):
        ours, theirs = await interleave(
            size, _numbered(subject, i * size), _numbered(baseline, i * size)
        )
        subjects.append(statistics.median(ours))
        baselines.append(statistics.median(theirs))
    return subjects, baselines


def _numbered(
    run: Callable[[int], Awaitable[float]], first: int
) -> Callable[[int], Awaitable[float]]:
    """``run`` with its argument counted from ``first``."""
    return lambda k: run(first + k)


def rotation(i: int, k: int) -> list[int]:
    """The order of ``k`` steps in repetition ``i``: ``0, 1, ..., k-1`` rotated by ``i``, so
    each step runs first (and last) equally often. For two steps the order simply flips."""
    return [(i + j) % k for j in range(k)]


async def alternate(
    n: int, steps: Sequence[Callable[[int], Awaitable[float]]]
) -> list[list[float]]:
    """Run every step ``n`` times, ``steps[j](i)`` in the order :func:`rotation` gives for
    repetition ``i``; returns one sample per step, in repetition order."""
    samples: list[list[float]] = [[] for _ in steps]
    for i in range(n):
        for j in rotation(i, len(steps)):
            samples[j].append(await steps[j](i))
    return samples


def alternate_sync(n: int, steps: Sequence[Callable[[int], float]]) -> list[list[float]]:
    """:func:`alternate` for plain functions (CPU-bound work measured without an event loop)."""
    samples: list[list[float]] = [[] for _ in steps]
    for i in range(n):
        for j in rotation(i, len(steps)):
            samples[j].append(steps[j](i))
    return samples


async def interleave(
    n: int,
    subject: Callable[[int], Awaitable[float]],
    baseline: Callable[[int], Awaitable[float]],
) -> tuple[list[float], list[float]]:
    """Run ``subject(i)`` and ``baseline(i)`` alternately ``n`` times; each returns a figure
    (a rate or a time). The order flips every repetition, so neither side always runs on the
    warmer (or more loaded) half. Returns both samples, in repetition order."""
    subjects, baselines = await alternate(n, (subject, baseline))
    return subjects, baselines


def ratios(numerators: Sequence[float], denominators: Sequence[float]) -> Spread:
    """The spread of the per-repetition ratios ``numerators[i] / denominators[i]``."""
    return Spread.of([a / b for a, b in zip(numerators, denominators, strict=True)])
