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
from typing import Protocol

from kpi.errors import UserError
from kpi.fees import FeeStatement, compute_fee
from kpi.model import Deal, Entry, FeePlan, Target, Verdict
from kpi.pace import (
    TargetStatus,
    Totals,
    pace_days,
    paced_last_day,
    period_totals,
    project,
    prorated_targets,
    statuses,
    unreported_days,
    unreported_inputs,
)
from kpi.periods import Period, clip_to_end, period_containing, proration
from kpi.platform.truth import PlatformDays, resolve_figures
from kpi.sides import Figure, contested


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
    targets: tuple[Target, ...]
    """The period's targets: the deal's, prorated when the period is clipped (issue 12)."""
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
    def paced_days(self) -> int:
        """The days the pace counts so far (:func:`kpi.pace.pace_days`): up to yesterday, plus
        today once any metric has a figure for it; less than :attr:`elapsed_days` only while
        today is not reported yet."""
        return max(
            (
                pace_days(
                    self.period,
                    self.upto,
                    paced_last_day(self.totals, self.period, m),
                    ended=self.closed,
                )
                for m in self.deal.base_metrics
            ),
            default=self.elapsed_days,
        )

    @property
    def unreported_days(self) -> dict[str, int]:
        """Past days of the period without a report, by metric that has some (paced as 0).
        A metric the deal marks ``unreported: zero`` (refunds, typed only on days with
        refunds) is left out: a day without it is a day of 0, not a gap worth a note."""
        metrics = self.deal.metrics
        return {
            name: count
            for name, count in unreported_days(self.totals, self.period).items()
            if name not in metrics or metrics[name].unreported != "zero"
        }

    def unreported_inputs(self, metric: str, values: Mapping[str, Decimal | None]) -> list[str]:
        """The reported metrics a derived ``metric`` counted as 0 in ``values`` (not reported)."""
        return unreported_inputs(self.deal.metrics, metric, values)

    @property
    def disagreements(self) -> list[Figure]:
        return contested(self.figures.values())

    def fee(self, view: str, overrides: Mapping[str, Decimal] | None = None) -> FeeStatement:
        """The fee statement for ``view``: ``to_date``, ``projected`` or ``final``.

        ``overrides`` (what-if) replaces projected base-metric totals before derived metrics
        are recomputed (:func:`kpi.pace.project`); it applies to the projected view only."""
        if view == "to_date":
            values: Mapping[str, Decimal | None] = self.totals.values
        elif view == "final":
            values = self.totals.values
        elif overrides:
            values = project(self.totals, self.deal.metrics, self.period, overrides)
        else:
            values = self.projected
        return compute_fee(
            self.plan,
            targets=self.targets,
            values=values,
            view=view,  # type: ignore[arg-type]
            currency=self.deal.currency,
            base_fraction=proration(self.period),
            trial=self.trial,
        )


def current_period(deal: Deal, today: dt.date) -> Period:
    """The deal's period for ``today``: the first before the start, the last after the end
    (clipped to ``ends:``)."""
    day = max(today, deal.starts)
    if deal.ends is not None:
        day = min(day, max(deal.ends, deal.starts))
    return clip_to_end(period_containing(deal.starts, deal.period, day), deal.ends)


def build_snapshot(
    terms: Deal,
    period: Period,
    today: dt.date,
    figures: dict[tuple[dt.date, str], Figure],
    entries: list[Entry] | None = None,
    verdicts: list[Verdict] | None = None,
) -> Snapshot:
    """Where a period stands, from its resolved figures (pure: no ledger, no clock).

    Args:
        terms: The terms that govern the period.
        period: The period (already clipped to the deal's start and end).
        today: The business day it is (totals run up to it, at most the period's end).
        figures: The period's resolved figures.
        entries: The entries they came from (kept for ``/history``-like views).
        verdicts: The confirmations and disputes.

    Returns:
        The snapshot: totals, projection, prorated targets and their statuses.
    """
    totals = period_totals(
        figures.values(), terms.metrics, period, min(today, period.end), today > period.end
    )
    projected = project(totals, terms.metrics, period)
    targets = prorated_targets(terms.targets, terms.metrics, period)
    return Snapshot(
        deal=terms,
        period=period,
        today=today,
        figures=figures,
        totals=totals,
        projected=projected,
        statuses=statuses(targets, totals.values, projected),
        entries=entries or [],
        verdicts=verdicts or [],
        targets=targets,
    )


class SnapshotSource(PlatformDays, Protocol):
    """What a snapshot reads: the ledger's read side (``kpi.ledger.Ledger``)."""

    async def period_records(
        self, deal_id: str, period_start: dt.date, first: dt.date, last: dt.date
    ) -> tuple[Deal, list[Entry], list[Verdict]]: ...

    async def deal_for_period(self, deal_id: str, period_start: dt.date) -> Deal: ...

    async def current_entries(self, deal_id: str, start: dt.date, end: dt.date) -> list[Entry]: ...

    async def verdicts(self, deal_id: str, start: dt.date, end: dt.date) -> list[Verdict]: ...


async def snapshot(
    ledger: SnapshotSource, deal: Deal, today: dt.date, *, period: Period | None = None
) -> Snapshot:
    """Read the period containing ``today`` (or ``period``) and compute where it stands.

    ``deal`` is the deal's current version; the period is judged by the terms that applied
    to it (``Ledger.deal_for_period``). Its ``ends:`` clips the last period. The terms, entries
    and verdicts come from one read transaction (``Ledger.period_records``)."""
    if period is not None and deal.ends is not None and period.start > deal.ends:
        raise UserError("sem.period_after_end", period=period.label, ends=deal.ends.isoformat())
    period = current_period(deal, today) if period is None else clip_to_end(period, deal.ends)
    terms, entries, verdicts = await ledger.period_records(
        deal.id, period.start, period.start, period.end
    )
    return await _resolved(ledger, terms, period, today, entries, verdicts)


async def snapshot_and_days(
    ledger: SnapshotSource,
    deal: Deal,
    today: dt.date,
    first: dt.date,
    last: dt.date,
    *,
    period: Period | None = None,
) -> tuple[Snapshot, dict[tuple[dt.date, str], Figure]]:
    """:func:`snapshot` as of ``today``, and the figures of the days ``first`` to ``last``
    resolved under the same terms (a recap's week), from one read of the ledger.

    The week and the period are read as one span of days (:func:`records_span`) and split
    here, so a recap costs one ledger transaction, not five; each part is resolved on its own
    days' entries and verdicts, exactly as two separate reads would give them.

    Args:
        ledger: The ledger.
        deal: The deal's current version.
        today: The snapshot's business day.
        first: The first of the extra days.
        last: The last of the extra days.
        period: The period to read (the one containing ``today`` by default); a recap on
            the first day of a period reads the one that just ended, as of ``today``.

    Returns:
        The snapshot, and the extra days' figures by ``(day, metric)``.
    """
    period = current_period(deal, today) if period is None else clip_to_end(period, deal.ends)
    terms, entries, verdicts = await ledger.period_records(
        deal.id, period.start, *records_span(period, first, last)
    )
    return await split_records(ledger, terms, period, today, entries, verdicts, first, last)


def records_span(period: Period, first: dt.date, last: dt.date) -> tuple[dt.date, dt.date]:
    """The days to read for ``period`` and the extra days ``first`` to ``last`` at once."""
    return min(first, period.start), max(last, period.end)


async def split_records(
    source: PlatformDays,
    terms: Deal,
    period: Period,
    today: dt.date,
    entries: list[Entry],
    verdicts: list[Verdict],
    first: dt.date,
    last: dt.date,
) -> tuple[Snapshot, dict[tuple[dt.date, str], Figure]]:
    """:func:`snapshot_and_days` from records already read (the :func:`records_span` of
    ``period`` and the days ``first`` to ``last``, under ``terms``); ``source`` answers the
    platform's figures when the terms count them."""
    snap = await _resolved(
        source, terms, period, today, *_days(entries, verdicts, period.start, period.end)
    )
    days_entries, days_verdicts = _days(entries, verdicts, first, last)
    figures = await resolve_figures(source, terms, days_entries, days_verdicts, first, last)
    return snap, figures


def _days(
    entries: list[Entry], verdicts: list[Verdict], first: dt.date, last: dt.date
) -> tuple[list[Entry], list[Verdict]]:
    """The entries and verdicts of the days ``first`` to ``last``, in their order."""
    return (
        [e for e in entries if first <= e.day <= last],
        [v for v in verdicts if first <= v.day <= last],
    )


async def _resolved(
    ledger: PlatformDays,
    terms: Deal,
    period: Period,
    today: dt.date,
    entries: list[Entry],
    verdicts: list[Verdict],
) -> Snapshot:
    figures = await resolve_figures(
        ledger, terms, entries, verdicts, period.start, period.end
    )
    return build_snapshot(terms, period, today, figures, entries, verdicts)
