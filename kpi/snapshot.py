"""Where a deal's period stands: the counted figures, totals, projection and target pace.

This joins the ledger (storage) and the pure rules (sides, pace, fees) into one read-only view
that ``/kpi``, ``/fee``, recaps and pace checks share. Its cost depends on the period's length,
never on the deal's history: only the period's date range is read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from kpi.fees import FeeStatement, compute_fee
from kpi.ledger import Ledger
from kpi.model import Deal, Entry, FeePlan, Verdict
from kpi.pace import TargetStatus, Totals, derive, period_totals, project, statuses
from kpi.periods import Period, period_containing, proration
from kpi.platform.truth import resolve_figures
from kpi.sides import Figure


@dataclass(frozen=True)
class Snapshot:
    """A deal's period as of ``today`` (a business day in the deal's time zone)."""

    deal: Deal
    """The terms that apply to this period."""
    period: Period
    today: dt.date
    figures: dict[tuple[dt.date, str], Figure]
    totals: Totals
    projected: dict[str, Decimal | None]
    statuses: list[TargetStatus]
    entries: list[Entry] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def trial(self) -> bool:
        return self.period.index < self.deal.trial_periods

    @property
    def closed(self) -> bool:
        return self.today > self.period.end

    @property
    def plan(self) -> FeePlan:
        if self.trial and self.deal.trial_fees is not None:
            return self.deal.trial_fees
        return self.deal.fees

    @property
    def upto(self) -> dt.date:
        return min(self.today, self.period.end)

    @property
    def elapsed_days(self) -> int:
        return (self.upto - self.period.start).days + 1

    @property
    def disagreements(self) -> list[Figure]:
        return sorted(
            (f for f in self.figures.values() if f.disagreement or f.disputes),
            key=lambda f: (f.day, f.metric),
        )

    def fee(self, view: str, overrides: Mapping[str, Decimal] | None = None) -> FeeStatement:
        """The fee statement for ``view``: ``to_date``, ``projected`` or ``final``.

        ``overrides`` (what-if) replaces projected base-metric totals before derived metrics
        are recomputed; it applies to the projected view only."""
        if view == "to_date":
            values: Mapping[str, Decimal | None] = self.totals.values
        elif view == "final":
            values = self.totals.values
        else:
            base = {m: self.projected.get(m) for m in self.deal.base_metrics}
            if overrides:
                base.update(overrides)
            values = derive(self.deal.metrics, base)
        return compute_fee(
            self.plan,
            targets=self.deal.targets,
            values=values,
            view=view,  # type: ignore[arg-type]
            currency=self.deal.currency,
            base_fraction=proration(self.period),
            trial=self.trial,
        )


async def snapshot(
    ledger: Ledger, deal: Deal, today: dt.date, *, period: Period | None = None
) -> Snapshot:
    """Read the period containing ``today`` (or ``period``) and compute where it stands.

    ``deal`` is the deal's current version; the period is judged by the terms that applied
    to it (``Ledger.deal_for_period``)."""
    if period is None:
        period = period_containing(deal.starts, deal.period, max(today, deal.starts))
    terms = await ledger.deal_for_period(deal.id, period.start)
    entries = await ledger.current_entries(deal.id, period.start, period.end)
    verdicts = await ledger.verdicts(deal.id, period.start, period.end)
    figures = await resolve_figures(
        ledger.engine, terms, entries, verdicts, period.start, period.end
    )
    upto = min(today, period.end)
    totals = period_totals(figures.values(), terms.metrics, period, upto)
    projected = project(totals, terms.metrics, period)
    return Snapshot(
        deal=terms,
        period=period,
        today=today,
        figures=figures,
        totals=totals,
        projected=projected,
        statuses=statuses(terms.targets, totals.values, projected),
        entries=entries,
        verdicts=verdicts,
    )
