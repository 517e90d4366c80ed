"""Period totals, the projection at the current pace, and each target's pace."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal

from kpi.formula import BinOp, Name, Neg, Node, Num
from kpi.model import ZERO, Metric, Target
from kpi.periods import Period, prorate
from kpi.sides import Figure

_CENT = Decimal("0.01")


@dataclass(frozen=True)
class Aligned:
    """A non-linear derived metric (a ratio, a product) over its aligned days: the days on
    which all its inputs have a counted figure (:func:`aligned_values`).

    ``days`` is how many such days there are, ``of_days`` how many days any of its reported
    inputs has a counted figure (``days`` when an input it needs has none on any day: then
    aligning left nothing out, the ratio simply has no value); ``days < of_days`` means some
    days were left out and an answer showing the metric says so. ``inputs`` are the metrics
    its formula names (in the deal's order) that such a note names: not the ``unreported:
    zero`` ones, which leave no day out, unless a pending figure of one did. ``sums`` are its
    reported inputs summed over the aligned days (None for an input with no figure on them;
    0 for an ``unreported: zero`` one with no figure on them)."""

    metric: str
    value: Decimal | None
    days: int
    of_days: int
    inputs: tuple[str, ...]
    sums: dict[str, Decimal | None]

    @property
    def left_out(self) -> int:
        """Days on which some but not all of the inputs were reported."""
        return self.of_days - self.days


@dataclass(frozen=True)
class Totals:
    """A period's figures so far.

    ``values`` holds every metric: base metrics summed over their counted figures (None when
    none is counted yet: no report is not a report of 0); linear derived metrics evaluated on
    those sums (see :meth:`kpi.formula.Formula.evaluate` for what an unreported input does);
    non-linear ones (ratios) on the sums of their aligned days, described in ``aligned``.
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
    aligned: dict[str, Aligned] = field(default_factory=dict)
    ended: bool | None = None
    """Whether the period is over (today is past its last day); None: taken as over from its
    last day on (``upto`` is the period's end), which is how totals without a today read."""

    def over(self, period: Period) -> bool:
        """Whether every day of ``period`` has elapsed: nothing left to project."""
        return period_over(period, self.upto or period.end, self.ended)


def period_over(period: Period, upto: dt.date, ended: bool | None) -> bool:
    """``ended`` when known, else whether ``upto`` (today, or the period's last day) has
    reached the period's last day: the one rule :meth:`Totals.over` and :func:`pace_days`
    share."""
    return upto >= period.end if ended is None else ended


def period_totals(
    figures: Iterable[Figure],
    metrics: Mapping[str, Metric],
    period: Period,
    upto: dt.date,
    ended: bool | None = None,
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
        ended: Whether the period is over (today is past its last day): on its last day it
            is not yet, and that day paces like any other today. None: over from its last
            day on (:attr:`Totals.ended`).

    Returns:
        The totals, with linear derived metrics evaluated on the sums (never summed day by
        day) and non-linear ones on the sums of their aligned days (:func:`aligned_values`).
    """
    figures = list(figures)
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
    aligned = aligned_values(figures, metrics, period.start, last)
    # Every metric reading an aligned one is aligned itself, so nothing derived from the
    # replaced values is left stale.
    values.update((name, found.value) for name, found in aligned.items())
    return Totals(
        values=values,
        last_day=last_day,
        days_reported=days,
        upto=last,
        pending_days={name: tuple(sorted(found)) for name, found in pending.items()},
        aligned=aligned,
        ended=ended,
    )


def nonlinear_metrics(metrics: Mapping[str, Metric]) -> list[str]:
    """The derived metrics that are not linear in the reported metrics, in the deal's order:
    a non-linear formula (:attr:`kpi.formula.Formula.linear`), or one reading such a metric
    (``roi * 100`` where ``roi = gmv / ad_spend``)."""
    memo: dict[str, bool] = {}

    def nonlinear(name: str) -> bool:
        if name not in memo:
            formula = metrics[name].formula
            memo[name] = False  # a cycle (rejected by the deal loader) ends here
            memo[name] = formula is not None and (
                not formula.linear
                or any(nonlinear(used) for used in formula.names if used in metrics)
            )
        return memo[name]

    return [name for name in metrics if nonlinear(name)]


def base_inputs(metrics: Mapping[str, Metric], name: str) -> frozenset[str]:
    """The reported metrics a metric reads, through derived ones (itself if reported)."""
    found: set[str] = set()
    pending, seen = [name], set()
    while pending:
        used = pending.pop()
        if used in seen:
            continue
        seen.add(used)
        metric = metrics.get(used)
        if metric is not None and metric.formula is not None:
            pending.extend(metric.formula.names)
        else:
            found.add(used)
    return frozenset(found)


def _present(node: Node, day: Mapping[str, Decimal], metrics: Mapping[str, Metric]) -> bool:
    """Whether a day's counted figures give ``node`` a value to add up, by the rules of
    :meth:`kpi.formula.Formula.evaluate`: a sum needs one of its terms (an unreported
    ``refunds`` counts as 0 in ``gmv - refunds``), a product or ratio needs both sides."""
    if isinstance(node, Num):
        return True
    if isinstance(node, Name):
        metric = metrics.get(node.name)
        if metric is not None and metric.formula is not None:
            return _present(metric.formula.tree, day, metrics)
        return node.name in day
    if isinstance(node, Neg):
        return _present(node.operand, day, metrics)
    assert isinstance(node, BinOp)
    left, right = _present(node.left, day, metrics), _present(node.right, day, metrics)
    return (left or right) if node.op in "+-" else (left and right)


def aligned_values(
    figures: Iterable[Figure],
    metrics: Mapping[str, Metric],
    first: dt.date,
    last: dt.date,
) -> dict[str, Aligned]:
    """Every non-linear derived metric over its aligned days between two days.

    ROI on a week's totals when GMV was reported for 7 days and ad spend for 5 divides 7 days
    of sales by 5 days of spend. Over a span, a ratio or a product is therefore evaluated on
    the sums of the days on which its inputs all have a counted figure (counted or
    provisional; a pending figure does not count), through derived inputs. A term of a sum
    may be missing as in :meth:`kpi.formula.Formula.evaluate`: a day with GMV and ad spend
    but no refunds counts for ``(gmv - refunds) / ad_spend``. Linear metrics (``gmv -
    refunds``) are not aligned: on totals they are right whatever days were reported.

    A reported metric the deal marks ``unreported: zero`` (refunds: typed only on days with
    refunds, and not tied to the day's sales: a refund is of an earlier order) does not align
    days: it enters the ratio with its total over the span, and the other inputs align as
    above. ``refunds / gmv`` is then total refunds over total GMV, also when refunds came on
    a day without a GMV figure, and the note about left-out days (:attr:`Aligned.inputs`)
    does not name it. Only when the span has some figure of it, though: refunds nobody
    reported on any day may be refunds forgotten, so the ratio aligns on them as on any input
    and, with none, has no value (a missing figure earns no credit, as everywhere else).

    Args:
        figures: Resolved figures (any days; those outside ``first``..``last`` are skipped).
        metrics: The deal's metrics by name.
        first: The span's first day.
        last: The span's last day.

    Returns:
        An :class:`Aligned` per non-linear derived metric (none for linear ones).
    """
    nonlinear = nonlinear_metrics(metrics)
    wanted = frozenset().union(*(base_inputs(metrics, name) for name in nonlinear))
    counted: dict[dt.date, dict[str, Decimal]] = {}
    seen: set[str] = set()
    totals: dict[str, Decimal] = {}
    for figure in figures:
        if figure.metric not in wanted or not first <= figure.day <= last:
            continue
        seen.add(figure.metric)
        if figure.value is not None:
            counted.setdefault(figure.day, {})[figure.metric] = figure.value
            totals[figure.metric] = totals.get(figure.metric, ZERO) + figure.value
    # Days reporting the same metrics are aligned alike: judge each such set once (a deal has
    # a handful), with its days' count and sums.
    patterns: dict[frozenset[str], tuple[int, dict[str, Decimal]]] = {}
    for got in counted.values():
        key = frozenset(got)
        count, sums = patterns.get(key) or (0, dict.fromkeys(got, ZERO))
        for used, value in got.items():
            sums[used] += value
        patterns[key] = (count + 1, sums)
    # The unreported: zero metrics with a figure in the span: their totals (None: pending only).
    zero = {name: totals.get(name) for name in seen if _zero_when_unreported(metrics, name)}
    return {name: _aligned(name, metrics, patterns, zero) for name in nonlinear}


def _zero_when_unreported(metrics: Mapping[str, Metric], name: str) -> bool:
    metric = metrics.get(name)
    return metric is not None and metric.formula is None and metric.unreported == "zero"


def _aligned(
    name: str,
    metrics: Mapping[str, Metric],
    patterns: Mapping[frozenset[str], tuple[int, dict[str, Decimal]]],
    zero_totals: Mapping[str, Decimal | None],
) -> Aligned:
    """One metric over the days (grouped by the metrics they report) its inputs align on;
    ``zero_totals``: the span's totals of the ``unreported: zero`` metrics with figures in it,
    which enter whole rather than align."""
    formula = metrics[name].formula
    assert formula is not None
    inputs = base_inputs(metrics, name)
    zero = inputs & frozenset(zero_totals)
    aligning = inputs - zero
    days = of_days = 0
    reported: set[str] = set()
    sums: dict[str, Decimal | None] = dict.fromkeys(sorted(inputs))
    sums.update((used, zero_totals[used]) for used in zero)
    for got, (count, day_sums) in patterns.items():
        have = aligning & got
        if not have:
            continue
        of_days += count
        reported |= have
        if not _present(formula.tree, dict.fromkeys(got | zero, ZERO), metrics):
            continue
        days += count
        for used in have:
            sums[used] = (sums[used] or ZERO) + day_sums[used]
    if not _present(formula.tree, dict.fromkeys(reported | zero, ZERO), metrics):
        # An input nobody reported on any day (no ad spend yet): the ratio has no value on the
        # totals either, and no day was left out by aligning.
        of_days = days
    # Only the derived metrics this one reads need evaluating.
    reads = _reads(metrics, name) | {name}
    chain = {used: metric for used, metric in metrics.items() if used in reads}
    # A metric entering whole left no day out: the note names only the others.
    named = [used for used in metrics if used in formula.names]
    return Aligned(
        metric=name,
        value=derive(chain, sums).get(name),
        days=days,
        of_days=of_days,
        inputs=tuple([used for used in named if used not in zero] or named),
        sums=sums,
    )


def _reads(metrics: Mapping[str, Metric], name: str) -> set[str]:
    """Every metric ``name`` reads, directly or through derived metrics."""
    found: set[str] = set()
    pending = [name]
    while pending:
        formula = metrics[pending.pop()].formula
        for used in formula.names if formula is not None else ():
            if used in metrics and used not in found:
                found.add(used)
                pending.append(used)
    return found


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


def pace_days(
    period: Period,
    upto: dt.date,
    last_day: dt.date | None,
    pending: int = 0,
    ended: bool | None = None,
) -> int:
    """The days a metric's pace is measured over (issue 12, item 4).

    The days up to yesterday (``upto`` is today), plus today once today has a report
    (``last_day == upto``); past days nobody reported count, as days of 0. Past days whose
    figure waits for a confirmation (``pending``, from :func:`pending_before`) are left out:
    somebody reported them, so the projection must not take them as 0, and they count nothing
    yet. Once the period is over (``ended``; None: from its last day on), every day has
    elapsed: nothing is left to extrapolate, and ``pending`` is ignored (the statement lists
    those figures instead). On its last day while it runs, that day paces as any today.

    Args:
        period: The period.
        upto: Today, or the period's last day if it has ended.
        last_day: The metric's latest day with a counted figure (None if none).
        pending: The metric's pending days before ``upto``.
        ended: Whether the period is over; None: over from its last day on. On its last day
            while it is not over, that day paces like any other today.

    Returns:
        Between 0 and ``period.days``.
    """
    if period_over(period, upto, ended):
        return period.days
    before_today = max((upto - period.start).days, 0)
    return max(before_today + (1 if last_day == upto else 0) - pending, 0)


def paced_last_day(totals: Totals, period: Period, metric: str) -> dt.date | None:
    """``metric``'s latest day with a counted figure, as its pace counts it.

    On the period's last day while it runs, that day counts for every metric with figures once
    any of them has one that day, and for none before: all project over the same days. Were
    each metric paced by its own figure, a GMV reported on the last day would stop
    extrapolating while unreported refunds still did, and net GMV (and a commission on it)
    would project below what was already earned. Other days keep each metric's own rule: there
    every metric still extrapolates."""
    last = totals.last_day.get(metric)
    upto = totals.upto or period.end
    if last is None or upto != period.end or totals.over(period):
        return last
    return upto if upto in totals.last_day.values() else last


def pending_before(totals: Totals, period: Period, metric: str) -> int:
    """How many of ``metric``'s pending days the pace leaves out: those before today while the
    period runs (today's is not paced until it counts anyway), all of them once it has ended."""
    upto = totals.upto or period.end
    days = totals.pending_days.get(metric, ())
    if totals.over(period):
        return len(days)
    return sum(1 for day in days if day < upto)


def unreported_days(totals: Totals, period: Period) -> dict[str, int]:
    """Past days nobody reported, by base metric that has at least one counted figure (they
    pace as 0). A day whose figure waits for a confirmation was reported: it is not one."""
    upto = totals.upto or period.end
    out: dict[str, int] = {}
    for name, reported in totals.days_reported.items():
        last = paced_last_day(totals, period, name)
        if last is None:
            continue
        elapsed = pace_days(period, upto, last, ended=totals.over(period))
        missing = elapsed - reported - pending_before(totals, period, name)
        if missing > 0:
            out[name] = missing
    return out


def project(
    totals: Totals,
    metrics: Mapping[str, Metric],
    period: Period,
    overrides: Mapping[str, Decimal] | None = None,
) -> dict[str, Decimal | None]:
    """Project every metric to the end of the period at the current pace.

    Each base metric's actual is extrapolated over the remaining days only: ``actual x
    period.days / elapsed`` with ``elapsed`` from :func:`pace_days` (so the projection is
    ``actual + actual / elapsed x remaining``); days whose figure waits for a confirmation
    are neither elapsed nor zero: the pace of the days that count fills them. Once the period
    is over (:meth:`Totals.over`) it equals the actual. A base metric with no counted figure
    projects to None.
    Linear derived metrics are recomputed from the projected sums; non-linear ones (ratios) are
    not scaled: they keep their value over their aligned days (:attr:`Totals.aligned`). A
    what-if that sets an input of a ratio (``/fee if gmv 60000`` for roi) states the period's
    figures itself, so that ratio is taken on the projected figures the what-if shows.

    Args:
        totals: The period's totals so far (``totals.upto`` is today).
        metrics: The deal's metrics by name.
        period: The period the totals are for.
        overrides: What-if values replacing projected base metrics (``/fee if gmv 60000``).

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
        last = paced_last_day(totals, period, name)
        elapsed = pace_days(period, upto, last, pending, totals.over(period))
        if total is None or elapsed <= 0:
            scaled[name] = None
        elif elapsed == period.days:
            scaled[name] = total
        else:
            # Multiply before dividing so a whole-number pace stays exact.
            scaled[name] = total * period.days / elapsed
    scaled.update(overrides or {})
    values = derive(metrics, scaled)
    for name, aligned in totals.aligned.items():
        if not (overrides and any(used in overrides for used in aligned.sums)):
            values[name] = aligned.value
    return values


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
