"""The fee engine: a period's fee statement from a fee plan, its targets and the period's figures.

Pure functions over ``Decimal``: no I/O, no clock. The caller decides which figures count (the
deal's ``truth``), scales them for a projection, and computes the proration fraction of the
base; this module applies the plan.

Order of calculation (issues 3 and 18): base + commission + performance + bonuses - deductions,
then the minimum, then the cap, then the guarantee (对赌) refund. Arithmetic is exact; each
line is rounded half-up to the currency's minor unit and the total is the sum of the rounded
lines. Every line carries a ``detail`` mapping with the numbers needed to check it by hand;
every number in it is a ``Decimal``.

The lines of a statement, in order (:func:`compute_fee`; a part the plan lacks gives no line):

* ``base``: ``plan.base x base_fraction``. The caller passes the proration fraction (days
  of the deal in its first period / calendar days of that period; 1 otherwise). It is
  never prorated by elapsed days, in any view.
* ``commission``: :func:`commission_for` on ``values[commission.on]`` (missing or ``None``
  counts as 0).
* ``performance`` (issue 18): ``performance.amount x score`` where the score is
  :func:`weighted_score` of ``targets`` on ``values``; 0 when the score is below
  ``performance.floor``.
* ``bonus`` (one line per bonus term): always present when the plan has one, with amount
  0 and ``met`` False until every target on every metric in ``when`` is met on
  ``values``. A ``when`` metric without any target counts as unmet (a condition nobody
  can check pays nothing). The amount is the fixed ``amount`` plus ``percent`` x the
  rounded ``of`` line (``commission``, ``base`` or ``subtotal`` = base + commission;
  ``of`` defaults to commission); the plan is meant to set only one of the two.
* ``deduction`` (projected and final only; one line per term, present even when 0): on the
  first target of metric ``on``, ``steps = floor(shortfall / step)`` computed exactly
  (``unit: points``: ``floor(|actual - target| / step)``), and the amount is
  ``steps x per_step x of_amount``, where ``of_amount`` is the rounded base line or the
  rounded ``total`` = base + commission + bonus. It is limited by ``cap_rate x of_amount``,
  by ``cap_amount``, by ``of_amount`` itself and by what is left of the fee after the
  earlier deductions, so deductions never take the total below zero;
  ``detail["bound"]`` names the limit that applied (``cap_rate``,
  ``cap_amount``, ``of`` or ``fee``). Without a target for ``on``, or without a figure
  (undefined), there is nothing to judge and the deduction is 0.
* ``minimum`` (projected and final only): tops the total up to ``plan.minimum x
  base_fraction`` when below.
* ``cap`` (every view; to date, on base + commission + performance + bonus): brings the
  total down to ``plan.cap x base_fraction`` when above (``detail["to_date"]`` is True,
  and only there, in the ``to_date`` view). When a plan's minimum exceeds its cap, the cap wins.
* ``guarantee`` (projected and final only; present even when 0): when the figure of
  ``guarantee.on`` is below ``at_least``, the agency refunds the shortfall's share (or its
  steps) of the rounded base or of the fee so far (``fees``), bounded by its caps. The one
  line that may take the total below zero (:attr:`FeeStatement.owed_by_agency`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from types import MappingProxyType
from typing import Any, Literal, get_args

from kpi.model import (
    ZERO,
    Bonus,
    Commission,
    Deduction,
    FeePlan,
    Guarantee,
    Performance,
    Target,
)
from kpi.money import quantize_money

__all__ = [
    "FeeLine",
    "FeeStatement",
    "FeeView",
    "LineKind",
    "Score",
    "ScoreShare",
    "commission_for",
    "compute_fee",
    "shortfall",
    "target_met",
    "weighted_score",
]

FeeView = Literal["to_date", "projected", "final"]
LineKind = Literal[
    "base", "commission", "performance", "bonus", "deduction", "minimum", "cap", "guarantee"
]

# The per-currency rounding handed to the line builders.
_Rounder = Callable[[Decimal], Decimal]

_VIEWS: frozenset[str] = frozenset(get_args(FeeView))
_ONE = Decimal(1)

# Intermediate products stay exact for any realistic figure: 50 significant digits cover
# amounts up to 10^30 at 20 decimals. The caller's context is never consulted, so a caller
# that lowered its precision cannot change a fee.
_CONTEXT = Context(
    prec=50,
    rounding=ROUND_HALF_EVEN,
    traps=[InvalidOperation, DivisionByZero, Overflow],
)


@dataclass(frozen=True)
class FeeLine:
    """One line of a fee statement.

    Attributes:
        kind: What the line is.
        amount: Rounded to the currency's minor unit; deduction, cap and guarantee lines are
            negative (or zero).
        detail: Everything needed to trace the line by hand (read-only; numbers are
            ``Decimal``). Keys per kind:
            base ``full, fraction, trial``; commission ``metric, figure, tiers, bands``
            (``bands`` is ``((portion, rate, amount), ...)`` with exact amounts); bonus
            ``when, met, unmet, amount, percent, of, of_amount``; deduction ``metric,
            direction, target, actual, shortfall, steps, step, per_step, of, of_amount,
            uncapped, capped, unit, points``; performance ``full, score, floor, cap,
            below_floor, shares, missing``; minimum ``minimum, before``; cap ``cap, before``;
            guarantee ``metric, at_least, actual, shortfall, refund, steps, step, per_step,
            of, of_amount, bound``.
    """

    kind: LineKind
    amount: Decimal
    detail: Mapping[str, Any]


@dataclass(frozen=True)
class ScoreShare:
    """One weighted target's part of the score.

    Attributes:
        target: The target (its ``weight`` is set).
        actual: The period figure, or ``None`` when there is none.
        achievement: The figure's achievement up to the cap, or ``None`` without a figure.
        share: ``weight x achievement`` (0 without a figure: no credit).
    """

    target: Target
    actual: Decimal | None
    achievement: Decimal | None
    share: Decimal


@dataclass(frozen=True)
class Score:
    """The weighted KPI score: ``value`` is the sum of the shares (a fraction, exact)."""

    value: Decimal
    cap: Decimal
    shares: tuple[ScoreShare, ...]

    @property
    def missing(self) -> tuple[str, ...]:
        """The weighted metrics with no figure (they earned no credit)."""
        return tuple(s.target.metric for s in self.shares if s.achievement is None)

    @property
    def details(self) -> tuple[Mapping[str, Any], ...]:
        """The shares as plain read-only mappings (how a fee line carries them, so that a
        stored statement keeps them): ``metric, direction, target, weight, actual,
        achievement, share``."""
        return tuple(
            MappingProxyType(
                {
                    "metric": s.target.metric,
                    "direction": s.target.direction,
                    "target": s.target.value,
                    "weight": s.target.weight,
                    "actual": s.actual,
                    "achievement": s.achievement,
                    "share": s.share,
                }
            )
            for s in self.shares
        )


@dataclass(frozen=True)
class FeeStatement:
    """A period's fee, line by line.

    Attributes:
        view: ``to_date`` (figures so far), ``projected`` (figures at the current pace) or
            ``final`` (the closed period's figures).
        currency: ISO 4217 code of every amount.
        trial: Whether the plan applied is the trial terms.
        lines: The lines in order of calculation.
        total: The sum of the rounded lines.
        values: The figures used (period totals, derived metrics included).
    """

    view: FeeView
    currency: str
    trial: bool
    lines: tuple[FeeLine, ...]
    total: Decimal
    values: Mapping[str, Decimal | None]

    def line(self, kind: LineKind) -> FeeLine | None:
        """The first line of a kind, or ``None`` when the statement has none."""
        return next((line for line in self.lines if line.kind == kind), None)

    def lines_of(self, kind: LineKind) -> tuple[FeeLine, ...]:
        """Every line of a kind (a plan may list several bonuses and deductions)."""
        return tuple(line for line in self.lines if line.kind == kind)

    @property
    def owed_by_agency(self) -> Decimal:
        """What the agency owes the seller: ``-total`` when a guarantee took the total below
        zero (the one line allowed to), else 0."""
        return -self.total if self.total < ZERO else ZERO


def commission_for(
    commission: Commission, figure: Decimal
) -> tuple[Decimal, tuple[tuple[Decimal, Decimal, Decimal], ...]]:
    """The exact commission on a figure, and how each band contributes to it.

    Bands are read in order; a band covers the figure from the previous band's ``up_to``
    (0 for the first) up to and including its own ``up_to``. ``graduated`` charges each band's
    portion at that band's rate. ``whole`` charges the entire figure at the rate of the band the
    figure falls in (a figure exactly on a bound stays in the lower band, as in graduated mode).
    The last band is treated as open even when it has an ``up_to``, so no part of a figure
    goes unpaid. A figure of zero or below (``net_gmv`` can be negative) earns nothing.

    Args:
        commission: The commission terms.
        figure: The period figure of ``commission.on``.

    Returns:
        ``(amount, bands)``: the unrounded amount, and one ``(portion, rate, amount)`` per band
        that holds part of the figure (in ``whole`` mode a single entry for the entire figure).
        Both are empty/zero for a figure <= 0 or a commission without bands.
    """
    _require_decimal("figure", figure)
    if figure <= ZERO or not commission.bands:
        return ZERO, ()
    with localcontext(_CONTEXT):
        last = len(commission.bands) - 1
        if commission.tiers == "whole":
            rate = next(
                band.rate
                for i, band in enumerate(commission.bands)
                if i == last or band.up_to is None or figure <= band.up_to
            )
            amount = figure * rate
            return amount, ((figure, rate, amount),)
        parts: list[tuple[Decimal, Decimal, Decimal]] = []
        lower = ZERO
        for i, band in enumerate(commission.bands):
            upper = figure if i == last or band.up_to is None else min(figure, band.up_to)
            if upper > lower:
                portion = upper - lower
                parts.append((portion, band.rate, portion * band.rate))
            if upper >= figure:
                break
            lower = max(lower, upper)
        return sum((amount for _, _, amount in parts), ZERO), tuple(parts)


def target_met(target: Target, value: Decimal | None) -> bool:
    """Whether a figure meets a target (the bound itself counts as met).

    Args:
        target: The target.
        value: The figure, or ``None`` when there is none; no figure never meets a target.

    Returns:
        ``value >= target`` for ``at_least``, ``value <= target`` for ``at_most``.
    """
    if value is None:
        return False
    _require_decimal(target.metric, value)
    return value >= target.value if target.direction == "at_least" else value <= target.value


def shortfall(target: Target, value: Decimal | None) -> Decimal:
    """How far a figure misses its target, as a fraction of the target (0 when met).

    ``at_least``: ``(target - actual) / target``; ``at_most``: ``(actual - target) / target``.
    No figure (an unreported metric, or a ratio over nothing) gives 0: what is undefined is
    never judged, neither met nor missed (issue 12, item 2). The result can exceed
    1 (a negative actual, or an at_most figure more than double its target). A target of zero
    or below has no proportional shortfall: 0 when met, otherwise 1 (a full miss).

    Args:
        target: The target.
        value: The figure, or ``None``.

    Returns:
        A ``Decimal`` >= 0 (division to 50 significant digits).
    """
    if value is None:
        return ZERO
    _require_decimal(target.metric, value)
    if target_met(target, value):
        return ZERO
    if target.value <= ZERO:
        return _ONE
    with localcontext(_CONTEXT):
        return _miss(target, value) / target.value


def compute_fee(
    plan: FeePlan,
    *,
    targets: Sequence[Target],
    values: Mapping[str, Decimal | None],
    view: FeeView,
    currency: str,
    base_fraction: Decimal = _ONE,
    trial: bool = False,
) -> FeeStatement:
    """Apply a fee plan to a period's figures.

    Lines, in order (a part the plan lacks gives no line): ``base``, ``commission``,
    ``performance``, ``bonus``, ``deduction``, ``minimum``, ``cap``, ``guarantee``, each as
    the module docstring describes it.

    The ``to_date`` view shows base, commission, performance and bonus, then the cap when
    they exceed it (what is earned so far never exceeds what the contract can pay):
    deductions, the minimum and the guarantee are not applied before the period closes.

    Args:
        plan: The plan in force (the resolved trial terms during the trial).
        targets: The deal's targets for the period.
        values: Period totals by metric, derived metrics included (already projected for the
            ``projected`` view).
        view: Which view of the period this is.
        currency: ISO 4217 code; sets the rounding of each line.
        base_fraction: Proration of a clipped period (covered days / calendar days), between
            0 and 1; it prorates the base, the minimum and the cap.
        trial: Whether ``plan`` is the trial terms (recorded on the statement and base line).

    Returns:
        The statement, whose total is the sum of its rounded lines.

    Raises:
        ValueError: ``view`` is not a known view, or ``base_fraction`` is outside [0, 1].
        TypeError: a figure or the fraction is not a ``Decimal`` (a float would make the fee
            inexact).
    """
    _check_inputs(values, view, base_fraction)
    with localcontext(_CONTEXT):
        lines = _plan_lines(
            plan, targets, values, view != "to_date", currency, base_fraction, trial
        )
    return FeeStatement(
        view=view,
        currency=currency,
        trial=trial,
        lines=tuple(lines),
        total=_sum(lines),
        values=MappingProxyType(dict(values)),
    )


def _check_inputs(
    values: Mapping[str, Decimal | None], view: str, base_fraction: Decimal
) -> None:
    """:func:`compute_fee`'s ``ValueError`` and ``TypeError`` (a float would make a fee inexact)."""
    if view not in _VIEWS:
        raise ValueError(f"unknown fee view {view!r}; expected one of {sorted(_VIEWS)}")
    _require_decimal("base_fraction", base_fraction)
    if not ZERO <= base_fraction <= _ONE:
        raise ValueError(f"base_fraction must be between 0 and 1, got {base_fraction}")
    for metric, value in values.items():
        if value is not None:
            _require_decimal(metric, value)


def _plan_lines(
    plan: FeePlan,
    targets: Sequence[Target],
    values: Mapping[str, Decimal | None],
    closing: bool,
    currency: str,
    fraction: Decimal,
    trial: bool,
) -> list[FeeLine]:
    """Every line of the plan in order of calculation (see :func:`compute_fee`)."""

    def money(amount: Decimal) -> Decimal:
        return quantize_money(amount, currency)

    lines: list[FeeLine] = []
    base = ZERO
    if plan.base is not None:
        base = money(plan.base * fraction)
        lines.append(_line("base", base, full=plan.base, fraction=fraction, trial=trial))
    commission = ZERO
    if plan.commission is not None:
        lines.append(_commission_line(plan.commission, values, money))
        commission = lines[-1].amount
    if plan.performance is not None:
        lines.append(_performance_line(plan.performance, targets, values, money))
    lines.extend(
        _bonus_line(bonus, targets, values, base, commission, money) for bonus in plan.bonuses
    )
    if not closing:
        # The fee earned so far is never shown above what the contract can ever pay: the
        # cap (prorated like the base) applies to date too. The minimum, the deductions and
        # the guarantee wait for the period's end (they judge the whole period).
        return lines + _cap_line(plan, _sum(lines), fraction, money, to_date=True)
    before = _sum(lines)
    remaining = before
    for deduction in plan.deductions:
        lines.append(_deduction_line(deduction, targets, values, base, before, remaining, money))
        remaining += lines[-1].amount
    lines.extend(_limit_lines(plan, _sum(lines), fraction, money))
    if plan.guarantee is not None:
        lines.append(_guarantee_line(plan.guarantee, values, base, _sum(lines), money))
    return lines


def _commission_line(
    commission: Commission, values: Mapping[str, Decimal | None], money: _Rounder
) -> FeeLine:
    figure = values.get(commission.on) or ZERO
    exact, bands = commission_for(commission, figure)
    return _line(
        "commission",
        money(exact),
        metric=commission.on,
        figure=figure,
        tiers=commission.tiers,
        bands=bands,
    )


def _achievement(target: Target, value: Decimal | None, cap: Decimal) -> Decimal | None:
    """One target's achievement, from 0 up to ``cap``; ``None`` without a figure.

    ``actual / target`` for at_least, ``target / actual`` for at_most; an at_most figure of 0
    (or below) achieves the cap, and a target of 0 or below achieves the cap when met, else 0.
    """
    if value is None:
        return None
    if target.direction == "at_most" and value <= ZERO:
        return cap
    if target.value <= ZERO:
        return cap if target_met(target, value) else ZERO
    ratio = value / target.value if target.direction == "at_least" else target.value / value
    return min(max(ratio, ZERO), cap)


def weighted_score(
    targets: Sequence[Target], values: Mapping[str, Decimal | None], cap: Decimal = _ONE
) -> Score:
    """The weighted KPI score (KPI达成率加权得分) of the targets that have a weight.

    Each weighted target contributes ``weight x achievement`` (see :func:`_achievement`),
    each achievement counted up to ``cap``; a target with no figure earns no credit and is
    listed in :attr:`Score.missing`. Exact to 50 significant digits, never rounded here.

    Args:
        targets: The deal's targets; those without a weight are left out.
        values: Period figures by metric (``None``: no figure).
        cap: The most any one achievement counts for (``performance.cap``; 100% by default).

    Returns:
        The score, within ``[0, cap]`` when the weights add up to 100%.
    """
    with localcontext(_CONTEXT):
        shares = []
        for target in targets:
            if target.weight is None:
                continue
            value = values.get(target.metric)
            if value is not None:
                _require_decimal(target.metric, value)
            achieved = _achievement(target, value, cap)
            share = ZERO if achieved is None else target.weight * achieved
            shares.append(ScoreShare(target, value, achieved, share))
        return Score(value=sum((s.share for s in shares), ZERO), cap=cap, shares=tuple(shares))


def _performance_line(
    performance: Performance,
    targets: Sequence[Target],
    values: Mapping[str, Decimal | None],
    money: _Rounder,
) -> FeeLine:
    score = weighted_score(targets, values, performance.cap)
    below = score.value < performance.floor
    amount = ZERO if below else performance.amount * score.value
    return _line(
        "performance",
        money(amount),
        full=performance.amount,
        score=score.value,
        floor=performance.floor,
        cap=performance.cap,
        below_floor=below,
        shares=score.details,
        missing=score.missing,
    )


def _guarantee_line(
    guarantee: Guarantee,
    values: Mapping[str, Decimal | None],
    base: Decimal,
    fees: Decimal,
    money: _Rounder,
) -> FeeLine:
    """The agency's refund when ``guarantee.on`` misses ``at_least`` (negative or zero).

    No figure: nothing is judged, no refund (a metric nobody reported is not a miss)."""
    actual = values.get(guarantee.on)
    of_amount = base if guarantee.of == "base" else fees
    miss, steps, refund = ZERO, ZERO, ZERO
    if actual is not None and actual < guarantee.at_least:
        gap = guarantee.at_least - actual
        miss = gap / guarantee.at_least if guarantee.at_least > ZERO else _ONE
        if guarantee.refund == "proportional":
            refund = miss * of_amount
        elif guarantee.step is not None and guarantee.per_step is not None:
            unit = guarantee.at_least * guarantee.step if guarantee.at_least > ZERO else _ONE
            steps = gap // unit
            refund = steps * guarantee.per_step * of_amount
    bound = None
    for name, limit in (
        ("cap_rate", guarantee.cap_rate * of_amount),
        ("cap_amount", guarantee.cap_amount),
    ):
        if limit is not None and limit < refund:
            refund, bound = max(limit, ZERO), name
    return _line(
        "guarantee",
        ZERO - money(refund),
        metric=guarantee.on,
        at_least=guarantee.at_least,
        actual=actual,
        shortfall=miss,
        refund=guarantee.refund,
        steps=steps,
        step=guarantee.step,
        per_step=guarantee.per_step,
        of=guarantee.of,
        of_amount=of_amount,
        bound=bound,
        bound_amount=money(refund) if bound is not None else None,
    )


def _limit_lines(
    plan: FeePlan, before: Decimal, fraction: Decimal, money: _Rounder
) -> list[FeeLine]:
    """The minimum's top-up and the cap's reduction, each prorated by ``fraction``.

    A clipped period prorates the minimum and the cap like the base (issue 12, item 8)."""
    lines: list[FeeLine] = []
    if plan.minimum is not None:
        minimum = money(plan.minimum * fraction)
        if before < minimum:
            detail = {"minimum": minimum, "before": before, "full": plan.minimum}
            lines.append(_line("minimum", minimum - before, fraction=fraction, **detail))
            before = minimum
    return lines + _cap_line(plan, before, fraction, money)


def _cap_line(
    plan: FeePlan, before: Decimal, fraction: Decimal, money: _Rounder, *, to_date: bool = False
) -> list[FeeLine]:
    """The cap's reduction (prorated by ``fraction``) when ``before`` is above it, else none.

    ``detail["to_date"]`` (present only then) says the cap limited the fee earned so far."""
    if plan.cap is None:
        return []
    cap = money(plan.cap * fraction)
    if before <= cap:
        return []
    detail: dict[str, Any] = {"cap": cap, "before": before, "full": plan.cap}
    if to_date:  # only then: a closed period's stored lines keep the keys they always had
        detail["to_date"] = True
    return [_line("cap", cap - before, fraction=fraction, **detail)]


def _bonus_line(
    bonus: Bonus,
    targets: Sequence[Target],
    values: Mapping[str, Decimal | None],
    base: Decimal,
    commission: Decimal,
    money: _Rounder,
) -> FeeLine:
    unmet = tuple(
        metric
        for metric in bonus.when
        if not (on := [t for t in targets if t.metric == metric])
        or not all(target_met(t, values.get(metric)) for t in on)
    )
    met = not unmet
    of = bonus.of or "commission"
    of_amount = {"commission": commission, "base": base, "subtotal": base + commission}[of]
    amount = ZERO
    if met:
        if bonus.amount is not None:
            amount += bonus.amount
        if bonus.percent is not None:
            amount += bonus.percent * of_amount
    return _line(
        "bonus",
        money(amount),
        when=bonus.when,
        met=met,
        unmet=unmet,
        amount=bonus.amount,
        percent=bonus.percent,
        of=of if bonus.percent is not None else None,
        of_amount=of_amount if bonus.percent is not None else None,
    )


def _deduction_line(
    deduction: Deduction,
    targets: Sequence[Target],
    values: Mapping[str, Decimal | None],
    base: Decimal,
    total: Decimal,
    remaining: Decimal,
    money: _Rounder,
) -> FeeLine:
    target = next((t for t in targets if t.metric == deduction.on), None)
    actual = values.get(deduction.on)
    of_amount = base if deduction.of == "base" else total
    miss = ZERO
    steps = ZERO
    if target is not None and actual is not None:
        miss = shortfall(target, actual)
        if miss > ZERO and deduction.step > ZERO:
            steps = (
                _miss(target, actual) // deduction.step
                if deduction.unit == "points"
                else _full_steps(target, actual, miss, deduction.step)
            )
    uncapped = steps * deduction.per_step * of_amount
    # The plan's own caps, then the floors of issue 12: a deduction never takes more than
    # what it is a percentage of, nor more than the fee before deductions (``total``), so the
    # fee never goes negative. The smallest bound wins; on a tie the first listed names it
    # (``of: total`` is the fee itself, so its bound reads "capped at the fee").
    bounds = (
        ("cap_rate", None if deduction.cap_rate is None else deduction.cap_rate * of_amount),
        ("cap_amount", deduction.cap_amount),
        ("fee", max(remaining, ZERO)),
        ("of", of_amount),
    )
    amount, bound = uncapped, None
    for name, limit in bounds:
        if limit is not None and limit < amount:
            amount, bound = max(limit, ZERO), name
    return _line(
        "deduction",
        ZERO - money(amount),
        metric=deduction.on,
        direction=target.direction if target is not None else None,
        target=target.value if target is not None else None,
        actual=actual,
        shortfall=miss,
        steps=steps,
        step=deduction.step,
        unit=deduction.unit,
        points=_miss(target, actual) if target is not None and actual is not None else ZERO,
        per_step=deduction.per_step,
        of=deduction.of,
        of_amount=of_amount,
        uncapped=uncapped,
        capped=bound is not None,
        bound=bound,
        bound_amount=money(amount) if bound is not None else None,
    )


def _full_steps(target: Target, actual: Decimal | None, miss: Decimal, step: Decimal) -> Decimal:
    """``floor(shortfall / step)`` without the rounding of the shortfall's own division.

    ``(t - a) / t // step`` would first round ``(t - a) / t`` to 50 digits, and a shortfall of
    exactly one step could land just below it. ``(t - a) // (t x step)`` is one exact
    integer division (``//`` on ``Decimal`` truncates, and both sides are positive here).
    """
    if target.value <= ZERO:  # no proportional shortfall: ``miss`` is the agreed 1
        return miss // step
    return _miss(target, actual if actual is not None else ZERO) // (target.value * step)


def _miss(target: Target, value: Decimal) -> Decimal:
    """The distance past the target in the bad direction (positive when missed)."""
    return target.value - value if target.direction == "at_least" else value - target.value


def _line(kind: LineKind, amount: Decimal, /, **detail: Any) -> FeeLine:
    return FeeLine(kind=kind, amount=amount, detail=MappingProxyType(detail))


def _sum(lines: Iterable[FeeLine]) -> Decimal:
    return sum((line.amount for line in lines), ZERO)


def _require_decimal(name: str, value: object) -> None:
    if not isinstance(value, Decimal):
        raise TypeError(f"{name} must be a Decimal, got {type(value).__name__} {value!r}")
