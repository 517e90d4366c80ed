"""``truth: platform``: the platform's figure counts where an import has one, else the fallback."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Protocol

from kpi.model import Deal, Entry, Verdict
from kpi.platform.terms import platform_metrics
from kpi.sides import Figure, resolve

__all__ = ["PlatformDays", "resolve_figures"]


class PlatformDays(Protocol):
    """Reads the platform's figures per day (``Ledger.platform_days`` does)."""

    async def platform_days(
        self, deal_id: str, first: dt.date, last: dt.date
    ) -> dict[dt.date, dict[str, Decimal]]: ...


async def resolve_figures(
    source: PlatformDays,
    deal: Deal,
    entries: Iterable[Entry],
    verdicts: Iterable[Verdict],
    first: dt.date,
    last: dt.date,
) -> dict[tuple[dt.date, str], Figure]:
    """Which figure counts per day and metric, by the deal's rule (:func:`kpi.sides.resolve`).

    With ``truth: platform`` the platform's figure replaces it wherever an import covers the
    day and metric (``counted``, no side's); elsewhere the fallback rule (the deal's ``truth``)
    stands. Both sides' entries stay on the figure, so disagreements with it still show.

    Args:
        source: Where the platform's figures come from (the ledger asks the platform store).
        deal: The terms that apply.
        entries: The current entries of the days.
        verdicts: The verdicts of the days.
        first: The first day (inclusive) of the platform figures to read.
        last: The last day (inclusive).
    """
    figures = resolve(entries, verdicts, truth=deal.truth, tolerance=deal.tolerance)
    if not deal.platform.counts:
        return figures
    daily = await source.platform_days(deal.id, first, last)
    for day, values in platform_metrics(deal, daily).items():
        for metric, value in values.items():
            typed = figures.get((day, metric))
            figures[(day, metric)] = Figure(
                day=day,
                metric=metric,
                seller=typed.seller if typed else None,
                agency=typed.agency if typed else None,
                value=value,
                status="counted",
                counted_side=None,
                disagreement=typed.disagreement if typed else False,
                confirmed_by=None,
                disputes=typed.disputes if typed else (),
            )
    return figures
