"""The unusual-figure rule: a reported figure far from the metric's usual level (pure).

A figure is unusual when it is more than :data:`FACTOR` times, or less than 1/:data:`FACTOR`
of, the median of the metric's last :data:`WINDOW` reported days, and only when at least
:data:`MIN_DAYS` such days exist. Every step is exact: the arithmetic runs in a context that
traps ``Inexact`` (halving a sum adds one digit at most, so it never rounds), and the
comparisons multiply, never divide. A median of zero or below gives no usual level (a zero
history says nothing about scale), so it never warns. Nor does a reported 0: no livestream,
no refunds or no ads that day is a figure typed on purpose, not a slip of the keyboard (the
warning asks whether the figure is a typo, and "refunds 0" would be asked every quiet day).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Context, Decimal, Inexact, InvalidOperation, localcontext
from typing import Literal

from kpi.model import Side

__all__ = [
    "FACTOR",
    "LOOKBACK_DAYS",
    "MIN_DAYS",
    "WINDOW",
    "Unusual",
    "day_levels",
    "median",
    "replaced_far",
    "unusual",
    "usual_days",
]

FACTOR = Decimal(10)
"""How far from the usual level a figure must be, either way, to be unusual."""
WINDOW = 14
"""How many of the latest reported days make the usual level."""
MIN_DAYS = 5
"""Fewer reported days than this: no usual level yet, never a warning."""
LOOKBACK_DAYS = 90
"""How many calendar days back the latest reported days are looked for (a metric reported
less often than 14 times in 90 days is judged on the days it has): what ``kpi.ledger`` reads
with each report (``ReportResult.recent``)."""

_EXACT = Context(prec=1000, traps=[Inexact, InvalidOperation])
"""Far beyond any figure the bot takes; a rounding would raise instead of passing silently."""


@dataclass(frozen=True)
class Unusual:
    """Why a figure is unusual: ``direction`` says which way it is off, ``usual`` is the
    median it was compared with, ``days`` how many reported days that median covers."""

    direction: Literal["high", "low"]
    usual: Decimal
    days: int


def median(values: Iterable[Decimal]) -> Decimal:
    """The exact median: the middle value, or the mean of the two middle ones.

    Raises:
        ValueError: ``values`` is empty.
    """
    ordered = sorted(values)
    if not ordered:
        raise ValueError("median of no values")
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    with localcontext(_EXACT):
        return (ordered[middle - 1] + ordered[middle]) / 2


def day_levels(
    figures: Iterable[tuple[dt.date, Side, Decimal]], side: Side
) -> dict[dt.date, Decimal]:
    """A metric's level on each day it was reported: ``side``'s own figure, else the other
    side's. A day nobody reported is absent, never 0.

    A slip of the keyboard is judged against what this side usually types. (The figure that
    counts would need each day's confirmations and disputes resolved: a read of its own on
    every report, which was most of a report's time.)

    Args:
        figures: (day, side, value) of the metric's current figures.
        side: The side that reports.
    """
    levels: dict[dt.date, Decimal] = {}
    own: set[dt.date] = set()
    for day, by, value in figures:
        if by == side:
            levels[day] = value
            own.add(day)
        elif day not in own:
            levels[day] = value
    return levels


def usual_days(
    history: Mapping[dt.date, Decimal], before: dt.date, window: int = WINDOW
) -> list[Decimal]:
    """The figures of the latest ``window`` reported days before ``before`` (newest first).

    Args:
        history: A metric's figure by business day (days without one are simply absent).
        before: The day being reported; it and later days are left out.
        window: How many reported days to keep.
    """
    days = sorted((day for day in history if day < before), reverse=True)[:window]
    return [history[day] for day in days]


def unusual(value: Decimal, usual: Iterable[Decimal]) -> Unusual | None:
    """Whether ``value`` is far from the median of ``usual`` (see the module docstring).

    Args:
        value: The figure just reported.
        usual: The metric's figures on its latest reported days (at most :data:`WINDOW` of
            them are meant; the caller picks them, e.g. with :func:`usual_days`).

    Returns:
        The verdict, or ``None`` when the figure is within range or there is no usual level
        (fewer than :data:`MIN_DAYS` days, or a median of zero or below), and for a 0.
    """
    figures = list(usual)
    if len(figures) < MIN_DAYS or value == 0:
        return None
    level = median(figures)
    if level <= 0:
        return None
    with localcontext(_EXACT):
        if value > level * FACTOR:
            return Unusual("high", level, len(figures))
        if value * FACTOR < level:
            return Unusual("low", level, len(figures))
    return None


def replaced_far(value: Decimal, replaced: Decimal) -> Literal["high", "low"] | None:
    """Whether a correction moved a figure more than :data:`FACTOR` times either way from the
    one it replaces (the same day and side): a slip of the keyboard (``1.2M`` for ``12000``)
    needs no history to be seen. ``None`` when it did not, or when either figure is 0 (a 0
    is typed on purpose, and a 0 has no scale to compare with)."""
    if value <= 0 or replaced <= 0:
        return None
    with localcontext(_EXACT):
        if value > replaced * FACTOR:
            return "high"
        if value * FACTOR < replaced:
            return "low"
    return None
