"""Period totals, the projection at the current pace, and each target's pace."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal

from kpi.model import ZERO, Metric, Target
from kpi.periods import Period, prorate
from kpi.sides import Figure

_CENT = Decimal("0.01")


@dataclass(frozen=True)
class Totals:
    """A period's figures so far.

    ``values`` holds every metric: base metrics summed over their counted figures (None when
    none is counted yet: no report is not a report of 0), derived metrics evaluated on those
    sums (see :meth:`kpi.formula.Formula.evaluate` for what an unreported input does).
    ``last_day`` (the latest day with a counted figure, None if none) and ``days_reported``
    (how many days have a counted figure) are kept for base metrics only. ``upto`` is the
    day the totals run to (the snapshot's today, at most the period's last day).
    ``pending_days`` lists, by base metric, the days up to ``upto`` whose figure waits for a
    confirmation: reported, so not "not reported", yet counting nothing; the pace leaves them
    out (:func:`pending_before`)."""

    values: dict[str, Decimal | None]
    last_day: dict[str, dt.date | None]
    days_reported: dict[str, int]
    upto: dt.date | None = None
    pending_days: dict[str, tuple[dt.date, ...]] = field(default_factory=dict)


def period_totals(
    figures: Iterable[Figure],
    metrics: Mapping[str, Metric],
    period: Period,
    upto: dt.date,
) -> Totals:
    """Sum the counted figures of a period up to a day.

    A base metric with no counted figure totals None (shown ``—``, never ``0``); the fee
    engine charges commission on it as 0 and judges no target on it. Pending figures (value
    None) do not count, but their days are kept in ``pending_days``; provisional ones count.

    Args:
        figures: Resolved figures (any days; those outside the window are skipped).
        metrics: The deal's metrics by name.
        period: The period.
        upto: The last day to include; days after ``period.end`` are never included.

    Returns:
        The totals, with derived metrics evaluated on the sums (never summed day by day).
    """
    last = min(upto, period.end)
    base = [name for name, metric in metrics.items() if not metric.derived]
    sums: dict[str, Decimal | None] = dict.fromkeys(base)
    last_day: dict[str, dt.date | None] = dict.fromkeys(base)
    days: dict[str, int] = dict.fromkeys(base, 0)
    pending: dict[str, list[dt.date]] = {}
    for figure in figures:
        if figure.metric not in sums or not period.start <= figure.day <= last:
            continue
        if figure.value is None:
            if figure.status == "pending":
                pending.setdefault(figure.metric, []).append(figure.day)
            continue
        sums[figure.metric] = (sums[figure.metric] or ZERO) + figure.value
        days[figure.metric] += 1
        seen = last_day[figure.metric]
        if seen is None or figure.day > seen:
            last_day[figure.metric] = figure.day
    values = derive(metrics, sums)
    return Totals(
        values=values,
        last_day=last_day,
        days_reported=days,
        upto=last,
        pending_days={name: tuple(sorted(found)) for name, found in pending.items()},
    )


def _derived_order(metrics: Mapping[str, Metric]) -> list[str]:
    """Derived metrics ordered so each comes after the derived metrics it reads."""
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str, path: tuple[str, ...]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            # The deal loader rejects cycles; reaching one here is a programming error.
            raise ValueError("derived metrics form a cycle: " + " -> ".join((*path, name)))
        state[name] = "visiting"
        formula = metrics[name].formula
        assert formula is not None
        for used in sorted(formula.names):
            if used in metrics and metrics[used].derived:
                visit(used, (*path, name))
        state[name] = "done"
        order.append(name)

    for name, metric in metrics.items():
        if metric.derived:
            visit(name, ())
    return order


def derive(
    metrics: Mapping[str, Metric], base_values: Mapping[str, Decimal | None]
) -> dict[str, Decimal | None]:
    """Evaluate the derived metrics on base values, in dependency order.

    A derived metric may read other derived metrics. A name with no value (missing, None, or a
    division by zero upstream) makes the result None.

    Args:
        metrics: The deal's metrics by name.
        base_values: Values of base metrics (extra keys are kept as they are).

    Returns:
        ``base_values`` plus every derived metric's value; base metrics of ``metrics`` missing
        from ``base_values`` appear as None.

    Raises:
        ValueError: If the derived metrics form a cycle.
    """
    values: dict[str, Decimal | None] = dict(base_values)
    for name, metric in metrics.items():
        if not metric.derived:
            values.setdefault(name, None)
    for name in _derived_order(metrics):
        formula = metrics[name].formula
        assert formula is not None
        values[name] = formula.evaluate({used: values.get(used) for used in formula.names})
    return values


def unreported_inputs(
    metrics: Mapping[str, Metric], name: str, values: Mapping[str, Decimal | None]
) -> list[str]:
    """The reported metrics, read by derived metric ``name``, that have no value in ``values``.

    When ``name`` has a value these were counted as 0 in a sum (``refunds`` in ``gmv -
    refunds``), and an answer using it says so (issue 12, item 3). A reported metric gives
    ``[]``; so does a derived one with no value (it is shown ``—`` instead).

    Args:
        metrics: The deal's metrics by name.
        name: The metric shown.
        values: The values the answer used (to date, projected or a what-if).

    Returns:
        The names, sorted, each once.
    """
    metric = metrics.get(name)
    if metric is None or metric.formula is None or values.get(name) is None:
        return []
    found: set[str] = set()
    pending = list(metric.formula.names)
    while pending:
        used = pending.pop()
        inner = metrics.get(used)
        if inner is not None and inner.formula is not None:
            pending.extend(inner.formula.names)
        elif values.get(used) is None:
            found.add(used)
    return sorted(found)


def elapsed_days(period: Period, last_day: dt.date) -> int:
    """Days from the period's (clipped) start to ``last_day``, both included."""
    return (last_day - period.start).days + 1


def pace_days(period: Period, upto: dt.date, last_day: dt.date | None, pending: int = 0) -> int:
    """The days a metric's pace is measured over (issue 12, item 4).

    The days up to yesterday (``upto`` is today), plus today once today has a report
    (``last_day == upto``); past days nobody reported count, as days of 0. Past days whose
    figure waits for a confirmation (``pending``, from :func:`pending_before`) are left out:
    somebody reported them, so the projection must not take them as 0, and they count nothing
    yet. From the period's last day on, every day of the period has elapsed: nothing is left to
    extrapolate, and ``pending`` is ignored (the statement lists those figures instead).

    Args:
        period: The period.
        upto: Today, or the period's last day if it has ended.
        last_day: The metric's latest day with a counted figure (None if none).
        pending: The metric's pending days before ``upto``.

    Returns:
        Between 0 and ``period.days``.
    """
    if upto >= period.end:
        return period.days
    before_today = max((upto - period.start).days, 0)
    return max(before_today + (1 if last_day == upto else 0) - pending, 0)


def pending_before(totals: Totals, period: Period, metric: str) -> int:
    """How many of ``metric``'s pending days the pace leaves out: those before today while the
    period runs (today's is not paced until it counts anyway), all of them once it has ended."""
    upto = totals.upto or period.end
    days = totals.pending_days.get(metric, ())
    if upto >= period.end:
        return len(days)
    return sum(1 for day in days if day < upto)


def unreported_days(totals: Totals, period: Period) -> dict[str, int]:
    """Past days nobody reported, by base metric that has at least one counted figure (they
    pace as 0). A day whose figure waits for a confirmation was reported: it is not one."""
    upto = totals.upto or period.end
    out: dict[str, int] = {}
    for name, reported in totals.days_reported.items():
        last = totals.last_day.get(name)
        if last is None:
            continue
        missing = pace_days(period, upto, last) - reported - pending_before(totals, period, name)
        if missing > 0:
            out[name] = missing
    return out


def project(
    totals: Totals, metrics: Mapping[str, Metric], period: Period
) -> dict[str, Decimal | None]:
    """Project every metric to the end of the period at the current pace.

    Each base metric's actual is extrapolated over the remaining days only: ``actual x
    period.days / elapsed`` with ``elapsed`` from :func:`pace_days` (so the projection is
    ``actual + actual / elapsed x remaining``); days whose figure waits for a confirmation
    are neither elapsed nor zero: the pace of the days that count fills them. From the period's
    last day on it equals the actual. A base metric with no counted figure projects to None.
    Derived metrics are recomputed from the projected sums: ratios are not scaled.

    Args:
        totals: The period's totals so far (``totals.upto`` is today).
        metrics: The deal's metrics by name.
        period: The period the totals are for.

    Returns:
        A value (or None) for every metric.
    """
    upto = totals.upto or period.end
    scaled: dict[str, Decimal | None] = {}
    for name, metric in metrics.items():
        if metric.derived:
            continue
        total = totals.values.get(name)
        pending = pending_before(totals, period, name)
        elapsed = pace_days(period, upto, totals.last_day.get(name), pending)
        if total is None or elapsed <= 0:
            scaled[name] = None
        elif elapsed == period.days:
            scaled[name] = total
        else:
            # Multiply before dividing so a whole-number pace stays exact.
            scaled[name] = total * period.days / elapsed
    return derive(metrics, scaled)


def prorated_targets(
    targets: Iterable[Target], metrics: Mapping[str, Metric], period: Period
) -> tuple[Target, ...]:
    """The targets of a clipped period (issue 12, item 8).

    An ``at_least`` target on an additive metric (a reported one, or a formula that only adds
    and subtracts) is scaled by ``days / calendar_days`` and rounded half-up to 2 places
    (60,000 over 10 of 30 days is 20,000.00). Ratio and ``at_most`` targets are kept.

    Args:
        targets: The deal's targets.
        metrics: The deal's metrics by name.
        period: The period (unclipped periods give the targets unchanged).

    Returns:
        The targets in the same order.
    """
    if period.days == period.calendar_days:
        return tuple(targets)
    out = []
    for target in targets:
        metric = metrics.get(target.metric)
        additive = metric is not None and (metric.formula is None or metric.formula.additive)
        if additive and target.direction == "at_least":
            value = prorate(target.value, period).quantize(_CENT, rounding=ROUND_HALF_UP)
            target = replace(target, value=value)
        out.append(target)
    return tuple(out)


@dataclass(frozen=True)
class TargetStatus:
    """Where one target stands: the actual so far, the projection, and the pace.

    ``pace`` is 1 when the projection lands exactly on the target, above 1 ahead of it, below 1
    behind it, for both directions. ``met_now`` says whether the figures so far already meet
    the target; ``on_track`` whether the projection does."""

    target: Target
    actual: Decimal | None
    projected: Decimal | None
    pace: Decimal | None
    met_now: bool
    on_track: bool


def _meets(target: Target, value: Decimal) -> bool:
    if target.direction == "at_least":
        return value >= target.value
    return value <= target.value


def target_status(
    target: Target, actual: Decimal | None, projected: Decimal | None
) -> TargetStatus:
    """The pace of one target.

    ``pace`` is ``projected / target`` for ``at_least`` and ``target / projected`` for
    ``at_most``. For a summed metric projected at ``actual x days / elapsed`` this equals
    ``actual / (target x elapsed / days)``: the actual against the share of the target due by
    now. ``on_track`` is ``pace >= 1``.

    Where the ratio has no meaning, ``pace`` is None and ``on_track`` compares the projection
    with the target directly: an ``at_most`` projection of zero or less (nothing to exceed, so
    on track), or a target of zero or less. With no projection at all (nothing counted yet),
    ``pace`` is None and ``on_track`` is False: there is no evidence it is on track; callers that
    warn should treat None as "no figures", not as a shortfall.

    Args:
        target: The target.
        actual: The metric's value so far (None when undefined).
        projected: The metric's projected period value (None when there is no pace).

    Returns:
        The status.
    """
    met_now = actual is not None and _meets(target, actual)
    pace: Decimal | None = None
    if projected is None:
        on_track = False
    else:
        if target.direction == "at_least" and target.value > 0:
            pace = projected / target.value
        elif target.direction == "at_most" and target.value > 0 and projected > 0:
            pace = target.value / projected
        on_track = pace >= 1 if pace is not None else _meets(target, projected)
    return TargetStatus(
        target=target,
        actual=actual,
        projected=projected,
        pace=pace,
        met_now=met_now,
        on_track=on_track,
    )


def statuses(
    targets: Iterable[Target],
    totals_values: Mapping[str, Decimal | None],
    projected: Mapping[str, Decimal | None],
) -> list[TargetStatus]:
    """The status of every target, in the order given.

    Args:
        targets: The deal's targets.
        totals_values: Metric values so far (``Totals.values``).
        projected: Projected metric values (from :func:`project`).

    Returns:
        One status per target.
    """
    return [
        target_status(target, totals_values.get(target.metric), projected.get(target.metric))
        for target in targets
    ]
