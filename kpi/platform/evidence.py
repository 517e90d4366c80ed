"""The platform as evidence: typed figures that differ from it, days that match, sessions ranked."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from kpi.model import Entry, Side
from kpi.platform.store import Session
from kpi.sides import Figure, agrees

__all__ = ["Difference", "best_and_worst", "differences", "matching_days"]

PlatformDays = Mapping[dt.date, Mapping[str, Decimal]]


@dataclass(frozen=True)
class Difference:
    """A side's typed figure that differs from the platform's beyond the deal's tolerance."""

    day: dt.date
    metric: str
    side: Side
    typed: Decimal
    platform: Decimal


def differences(
    figures: Mapping[tuple[dt.date, str], Figure], platform: PlatformDays, tolerance: Decimal
) -> list[Difference]:
    """Every current typed entry that the platform's figure for its day and metric contradicts.

    Args:
        figures: The ledger's figures (:func:`kpi.sides.resolve`).
        platform: The platform's figures per day and deal metric
            (:func:`kpi.platform.terms.platform_metrics`).
        tolerance: The deal's relative tolerance.

    Returns:
        The differences, by day, metric and side (seller first).
    """
    found = []
    for (day, metric), figure in sorted(figures.items()):
        evidence = platform.get(day, {}).get(metric)
        if evidence is None:
            continue
        typed: tuple[tuple[Side, Entry | None], ...] = (
            ("seller", figure.seller),
            ("agency", figure.agency),
        )
        for side, entry in typed:
            if entry is not None and not agrees(entry.value, evidence, tolerance):
                found.append(Difference(day, metric, side, entry.value, evidence))
    return found


def matching_days(
    figures: Mapping[tuple[dt.date, str], Figure], platform: PlatformDays, tolerance: Decimal
) -> tuple[int, int]:
    """How many days' counted figures agree with the platform, of the days both have figures for.

    Returns:
        ``(matching, compared)``: a day is compared when it has a counted figure and a platform
        figure for at least one metric, and matches when all such metrics agree.
    """
    verdicts: dict[dt.date, bool] = {}
    for (day, metric), figure in figures.items():
        evidence = platform.get(day, {}).get(metric)
        if evidence is None or figure.value is None:
            continue
        ok = agrees(figure.value, evidence, tolerance)
        verdicts[day] = verdicts.get(day, True) and ok
    return sum(verdicts.values()), len(verdicts)


def best_and_worst(
    sessions: Sequence[Session], figure: str = "live_gmv"
) -> tuple[Session, Session] | None:
    """The sessions with the highest and the lowest ``figure`` (the earlier one on a tie)."""
    ranked = [s for s in sessions if figure in s.figures]
    if not ranked:
        return None
    best = max(ranked, key=lambda s: (s.figures[figure], -s.start.timestamp()))
    worst = min(ranked, key=lambda s: (s.figures[figure], s.start.timestamp()))
    return best, worst
