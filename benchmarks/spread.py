"""Interleaved repetitions and their spread: how every benchmark states a ratio.

A ratio measured once moves by ±30% on a shared 2-core machine, so a goal would pass or fail by
luck. Each benchmark therefore measures its subject and its baseline alternately, ``reps`` times
in one run (subject, baseline, subject, baseline...), takes one ratio per repetition, and
reports the minimum, median and maximum. The goal is judged on the median.

``QUICK=1`` in the environment (``make bench-quick``) asks scripts for fewer repetitions and
smaller inputs; :func:`reps` and :func:`quick` read it.
"""

from __future__ import annotations

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

    def text(self, digits: int = 2) -> str:
        """``0.52 (0.48–0.55, n=7)``: the median, then min–max and the number of samples."""
        f = f"{{:.{digits}f}}"
        return (
            f"{f.format(self.median)} ({f.format(self.low)}–{f.format(self.high)}, n={self.n})"
        )


def verdict(spread: Spread, aim: float, *, at_least: bool = True) -> str:
    """``ok`` or ``MISSED``, judged on the median against ``aim`` (≥ aim, or ≤ with
    ``at_least=False``)."""
    good = spread.median >= aim if at_least else spread.median <= aim
    return "ok" if good else "MISSED"


def ratio_cell(spread: Spread, aim: float, *, at_least: bool = True, digits: int = 2) -> str:
    """A table cell: ``0.52 (0.48–0.55, n=7) ok``."""
    return f"{spread.text(digits)} {verdict(spread, aim, at_least=at_least)}"


async def interleave(
    n: int,
    subject: Callable[[int], Awaitable[float]],
    baseline: Callable[[int], Awaitable[float]],
) -> tuple[list[float], list[float]]:
    """Run ``subject(i)`` and ``baseline(i)`` alternately ``n`` times; each returns a figure
    (a rate or a time). The order flips every repetition, so neither side always runs on the
    warmer (or more loaded) half. Returns both samples, in repetition order."""
    subjects: list[float] = []
    baselines: list[float] = []
    for i in range(n):
        if i % 2 == 0:
            subjects.append(await subject(i))
            baselines.append(await baseline(i))
        else:
            baselines.append(await baseline(i))
            subjects.append(await subject(i))
    return subjects, baselines


def ratios(numerators: Sequence[float], denominators: Sequence[float]) -> Spread:
    """The spread of the per-repetition ratios ``numerators[i] / denominators[i]``."""
    return Spread.of([a / b for a, b in zip(numerators, denominators, strict=True)])
