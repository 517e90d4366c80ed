"""Property-based tests of the fee engine: monotone commission, tier order, bounds, no float."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from hypothesis import given, settings
from hypothesis import strategies as st

from kpi.dealfile import load_deal
from kpi.fees import FeeStatement, FeeView, commission_for, compute_fee, weighted_score
from kpi.model import Band, Bonus, Commission, Deduction, FeePlan, Guarantee, Target
from kpi.money import minor_units, quantize_money
from kpi.periods import period_containing
from kpi.sides import Figure
from kpi.snapshot import build_snapshot

# Derandomized so a run is reproducible; no deadline because CI machines vary in speed.
PROPS = settings(max_examples=300, deadline=None, derandomize=True)

METRICS = ("gmv", "net_gmv", "roi", "refund_rate")
CURRENCIES = ("USD", "JPY", "BHD", "CNY")
VIEWS: tuple[FeeView, ...] = ("to_date", "projected", "final")


def money(min_value: str = "0", max_value: str = "1000000", places: int = 2) -> Any:
    """Decimals in [min_value, max_value] with ``places`` decimals, built from integers (fast,
    and it shrinks towards round numbers)."""
    low = int(Decimal(min_value).scaleb(places))
    high = int(Decimal(max_value).scaleb(places))
    return st.integers(min_value=low, max_value=high).map(lambda n: Decimal(n).scaleb(-places))


rates = money("0", "0.5", places=4)
figures = money("-50000", "5000000", places=3)


_closed_bands = st.lists(
    st.tuples(rates, money("1", "2000000")), max_size=3, unique_by=lambda pair: pair[1]
)
_TIERS: tuple[Literal["graduated", "whole"], ...] = ("graduated", "whole")
_tiers = st.sampled_from(_TIERS)


@st.composite
def bands(draw: st.DrawFn, *, rising: bool) -> tuple[Band, ...]:
    """1-4 bands with increasing bounds; the top band is open. ``rising``: rates never fall."""
    closed = draw(_closed_bands)
    band_rates = [rate for rate, _ in closed] + [draw(rates)]
    if rising:
        band_rates.sort()
    bounds = sorted(bound for _, bound in closed)
    return (
        *(Band(rate=rate, up_to=bound) for rate, bound in zip(band_rates, bounds, strict=False)),
        Band(rate=band_rates[-1]),
    )


@st.composite
def commissions(draw: st.DrawFn, *, rising: bool = False) -> Commission:
    tiers = draw(_tiers)
    # Whole-volume tiers are only monotone when rates do not fall (reaching a cheaper band would
    # re-rate everything downwards), so they always get rising rates.
    return Commission(
        on="net_gmv", bands=draw(bands(rising=rising or tiers == "whole")), tiers=tiers
    )


# Sub-strategies are built once: building them inside a composite re-validates them per draw.
_minimums = st.none() | money("0", "20000")
_caps = st.none() | money("0", "200000")
_bases = st.none() | money("0", "20000")
_bonuses = st.none() | st.builds(
    Bonus,
    when=st.lists(st.sampled_from(METRICS), min_size=1, max_size=3, unique=True).map(tuple),
    amount=st.none() | money("0", "5000"),
    percent=st.none() | rates,
    of=st.none() | st.sampled_from(["commission", "base", "subtotal"]),
)
_deductions = st.none() | st.builds(
    Deduction,
    on=st.sampled_from(METRICS),
    step=money("0.01", "0.5"),
    per_step=rates,
    of=st.sampled_from(["base", "total"]),
    cap_rate=st.none() | money("0", "1"),
    cap_amount=st.none() | money("0", "10000"),
)
_commissions = st.none() | commissions()


@st.composite
def plans(draw: st.DrawFn) -> FeePlan:
    minimum = draw(_minimums)
    cap = draw(_caps)
    if minimum is not None and cap is not None and cap < minimum:
        minimum, cap = cap, minimum  # the property "within [minimum, cap]" needs minimum <= cap
    return FeePlan(
        base=draw(_bases),
        commission=draw(_commissions),
        bonus=draw(_bonuses),
        deduction=draw(_deductions),
        minimum=minimum,
        cap=cap,
    )


targets = st.lists(
    st.builds(
        Target,
        metric=st.sampled_from(METRICS),
        direction=st.sampled_from(["at_least", "at_most"]),
        value=money("0", "100000"),
    ),
    max_size=4,
).map(tuple)

values = st.dictionaries(st.sampled_from(METRICS), st.none() | figures, max_size=len(METRICS))
fractions = money("0", "1", places=6)


def run(
    plan: FeePlan,
    goals: tuple[Target, ...],
    figures: Mapping[str, Decimal | None],
    view: FeeView,
    currency: str,
    fraction: Decimal,
) -> FeeStatement:
    return compute_fee(
        plan,
        targets=goals,
        values=figures,
        view=view,
        currency=currency,
        base_fraction=fraction,
        trial=False,
    )


@PROPS
@given(commission=commissions(), a=figures, b=figures)
def test_commission_never_decreases_as_the_figure_grows(
    commission: Commission, a: Decimal, b: Decimal
) -> None:
    low, high = sorted((a, b))
    assert commission_for(commission, low)[0] <= commission_for(commission, high)[0]


@PROPS
@given(band_list=bands(rising=True), figure=figures)
def test_with_rising_rates_graduated_never_exceeds_whole(
    band_list: tuple[Band, ...], figure: Decimal
) -> None:
    graduated = commission_for(Commission("net_gmv", band_list, "graduated"), figure)[0]
    whole = commission_for(Commission("net_gmv", band_list, "whole"), figure)[0]
    assert graduated <= whole


@PROPS
@given(commission=commissions(), figure=figures)
def test_band_breakdown_adds_up(commission: Commission, figure: Decimal) -> None:
    amount, parts = commission_for(commission, figure)
    assert amount == sum((part[2] for part in parts), Decimal(0))
    if commission.tiers == "graduated":
        assert sum((part[0] for part in parts), Decimal(0)) == max(figure, Decimal(0))
    for portion, rate, part in parts:
        assert part == portion * rate


@PROPS
@given(
    plan=plans(),
    goals=targets,
    figures=values,
    currency=st.sampled_from(CURRENCIES),
    fraction=fractions,
)
def test_closed_total_lies_within_minimum_and_cap(
    plan: FeePlan,
    goals: tuple[Target, ...],
    figures: dict[str, Decimal | None],
    currency: str,
    fraction: Decimal,
) -> None:
    statement = run(plan, goals, figures, "final", currency, fraction)
    # A clipped period prorates the minimum and the cap by the same fraction as the base.
    if plan.minimum is not None:
        minimum = quantize_money(plan.minimum * fraction, currency)
        if plan.cap is None or minimum <= quantize_money(plan.cap * fraction, currency):
            assert statement.total >= minimum
    if plan.cap is not None:
        assert statement.total <= quantize_money(plan.cap * fraction, currency)


@PROPS
@given(
    plan=plans(),
    goals=targets,
    figures=values,
    view=st.sampled_from(VIEWS),
    currency=st.sampled_from(CURRENCIES),
    fraction=fractions,
)
def test_lines_are_rounded_and_the_total_is_their_sum(
    plan: FeePlan,
    goals: tuple[Target, ...],
    figures: dict[str, Decimal | None],
    view: FeeView,
    currency: str,
    fraction: Decimal,
) -> None:
    statement = run(plan, goals, figures, view, currency, fraction)
    digits = minor_units(currency)
    for line in statement.lines:
        assert line.amount.as_tuple().exponent == -digits
        if line.kind in ("deduction", "cap"):
            assert line.amount <= 0
        elif line.kind != "base" or plan.base is None or plan.base >= 0:
            assert line.amount >= 0
    assert statement.total == sum((line.amount for line in statement.lines), Decimal(0))
    if view == "to_date":
        # Deductions, the minimum and the guarantee wait for the period's end; the cap does
        # not: the fee earned so far is never shown above what the contract can pay.
        assert {line.kind for line in statement.lines} <= {"base", "commission", "bonus", "cap"}


def _assert_no_float(value: object, where: str) -> None:
    """Every number in a statement is a Decimal: no float, and no int (bool is a flag)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            assert isinstance(key, str), where
            _assert_no_float(item, f"{where}.{key}")
        return
    if isinstance(value, tuple):
        for i, item in enumerate(value):
            _assert_no_float(item, f"{where}[{i}]")
        return
    assert isinstance(value, Decimal), f"{where} is {type(value).__name__}: {value!r}"


@PROPS
@given(
    plan=plans(),
    goals=targets,
    figures=values,
    view=st.sampled_from(VIEWS),
    currency=st.sampled_from(CURRENCIES),
    fraction=fractions,
)
def test_no_float_anywhere_in_the_statement(
    plan: FeePlan,
    goals: tuple[Target, ...],
    figures: dict[str, Decimal | None],
    view: FeeView,
    currency: str,
    fraction: Decimal,
) -> None:
    statement = run(plan, goals, figures, view, currency, fraction)
    assert isinstance(statement.total, Decimal)
    _assert_no_float(statement.values, "values")
    for i, line in enumerate(statement.lines):
        _assert_no_float(line.amount, f"lines[{i}].amount")
        _assert_no_float(line.detail, f"lines[{i}]({line.kind}).detail")


# --- Issue 12: the fee never goes negative, and the projection ends on the actual ------------

# Deductions up to 100 % of the total per step: without the floors these drive a fee below 0.
_harsh_deductions = st.builds(
    Deduction,
    on=st.sampled_from(METRICS),
    step=money("0.01", "0.5"),
    per_step=money("0", "1", places=2),
    of=st.sampled_from(["base", "total"]),
)


@PROPS
@given(
    plan=plans(),
    deduction=st.none() | _harsh_deductions,
    goals=targets,
    figures=values,
    view=st.sampled_from(VIEWS),
    currency=st.sampled_from(CURRENCIES),
    fraction=fractions,
)
def test_no_plan_and_no_figures_give_a_negative_fee(
    plan: FeePlan,
    deduction: Deduction | None,
    goals: tuple[Target, ...],
    figures: dict[str, Decimal | None],
    view: FeeView,
    currency: str,
    fraction: Decimal,
) -> None:
    if deduction is not None:
        plan = dataclasses.replace(plan, deduction=deduction)
    statement = run(plan, goals, figures, view, currency, fraction)
    assert statement.total >= 0
    line = statement.line("deduction")
    if line is not None:
        before = sum(
            (x.amount for x in statement.lines if x.kind in ("base", "commission", "bonus")),
            Decimal(0),
        )
        assert -line.amount <= before


# The demo deal in December (its regular terms), with a deduction harsh enough to need the floor.
_DEMO = (Path(__file__).parent.parent / "bot" / "demo" / "acme-linkstar-us.yaml").read_text(
    encoding="utf-8"
)
HARSH_DEAL = load_deal(
    _DEMO.replace(
        "deduction: {on: gmv, step: 10%, per_step: 10%, of: base, cap: 50%}",
        "deduction: {on: gmv, step: 10%, per_step: 50%, of: total}",
    )
)
DECEMBER = period_containing(HARSH_DEAL.starts, "month", dt.date(2026, 12, 1))
_reports = st.dictionaries(
    st.tuples(
        st.integers(min_value=0, max_value=DECEMBER.days - 1),
        st.sampled_from(HARSH_DEAL.base_metrics),
    ),
    money("0", "20000"),
    max_size=60,
)


def _figures(reports: dict[tuple[int, str], Decimal]) -> dict[tuple[dt.date, str], Figure]:
    out = {}
    for (offset, metric), value in reports.items():
        day = DECEMBER.start + dt.timedelta(days=offset)
        out[(day, metric)] = Figure(
            day=day,
            metric=metric,
            seller=None,
            agency=None,
            value=value,
            status="counted",
            counted_side="seller",
            disagreement=False,
            confirmed_by=None,
            disputes=(),
        )
    return out


@PROPS
@given(reports=_reports, today=st.integers(min_value=0, max_value=DECEMBER.days + 3))
def test_for_any_reports_the_views_are_never_negative_and_end_on_the_final(
    reports: dict[tuple[int, str], Decimal], today: int
) -> None:
    day = DECEMBER.start + dt.timedelta(days=today)
    snap = build_snapshot(HARSH_DEAL, DECEMBER, day, _figures(reports))
    to_date, projected = snap.fee("to_date"), snap.fee("projected")
    what_if = snap.fee("projected", {"gmv": Decimal(0)})
    assert to_date.total >= 0
    assert projected.total >= 0
    assert what_if.total >= 0
    # The projection and the what-if never drop a line the to-date view has.
    kinds = {line.kind for line in to_date.lines}
    assert kinds <= {line.kind for line in projected.lines}
    assert kinds <= {line.kind for line in what_if.lines}
    # Additive figures only grow when extrapolated: the commission never projects below the
    # commission already earned.
    earned, expected = to_date.line("commission"), projected.line("commission")
    assert earned is not None and expected is not None
    assert expected.amount >= earned.amount
    final = snap.fee("final")
    reported_that_day = any(offset == today for offset, _ in reports)
    if day > DECEMBER.end or (day == DECEMBER.end and reported_that_day):
        # Over, or on its last day once anything was reported for it: nothing left to project.
        assert projected.total == final.total
        assert projected.lines == final.lines
    elif day == DECEMBER.end:
        # The last day before any figure of it: every metric still paces one more day.
        assert projected.total >= final.total


# --- Issue 18: weighted score, bonuses, guarantee ---------------------------------------------

_achieved = st.none() | money("-1000", "3000000", places=3)
_weights = st.lists(st.integers(min_value=1, max_value=97), min_size=3, max_size=3).map(
    lambda ws: (Decimal(ws[0]), Decimal(ws[1]), Decimal(ws[2]))
)


def _weighted(raw: tuple[Decimal, Decimal, Decimal]) -> tuple[Target, ...]:
    """Three targets whose weights are ``raw`` scaled to add up to exactly 100 %."""
    total = sum(raw)
    first, second = raw[0] / total, raw[1] / total
    weights = (first, second, Decimal(1) - first - second)
    return (
        Target(metric="gmv", direction="at_least", value=Decimal("150000"), weight=weights[0]),
        Target(metric="roi", direction="at_least", value=Decimal("3"), weight=weights[1]),
        Target(metric="refund_rate", direction="at_most", value=Decimal("0.08"), weight=weights[2]),
    )


@PROPS
@given(
    raw=_weights,
    gmv=_achieved,
    roi=st.none() | money("0", "50", places=2),
    refund_rate=st.none() | money("0", "2", places=4),
    cap=money("1", "2", places=2),
)
def test_the_score_lies_within_0_and_the_cap(
    raw: tuple[Decimal, Decimal, Decimal],
    gmv: Decimal | None,
    roi: Decimal | None,
    refund_rate: Decimal | None,
    cap: Decimal,
) -> None:
    values = {"gmv": gmv, "roi": roi, "refund_rate": refund_rate}
    score = weighted_score(_weighted(raw), values, cap)
    # The weights are rounded to 50 digits, so the sum may miss the cap by that last digit.
    assert 0 <= score.value <= cap * (1 + Decimal("1e-40"))
    for share in score.shares:
        assert share.achievement is None or 0 <= share.achievement <= cap


@PROPS
@given(
    plan=plans(),
    bonus=st.builds(
        Bonus,
        when=st.lists(st.sampled_from(METRICS), min_size=1, max_size=3, unique=True).map(tuple),
        amount=money("0", "5000"),
    ),
    values=values,
    view=st.sampled_from(VIEWS),
)
def test_adding_a_met_bonus_never_lowers_the_fee(
    plan: FeePlan, bonus: Bonus, values: Mapping[str, Decimal | None], view: FeeView
) -> None:
    # The bonus is met by construction: its targets are set at the figures themselves.
    met = tuple(
        Target(metric=m, direction="at_least", value=values.get(m) or Decimal(0))
        for m in bonus.when
    )
    figures_met = {**values, **{m: values.get(m) or Decimal(0) for m in bonus.when}}
    without = compute_fee(plan, targets=met, values=figures_met, view=view, currency="USD")
    more = dataclasses.replace(plan, bonus=(*plan.bonuses, bonus))
    with_bonus = compute_fee(more, targets=met, values=figures_met, view=view, currency="USD")
    assert with_bonus.lines_of("bonus")[-1].detail["met"] is True
    assert with_bonus.total >= without.total


@PROPS
@given(
    plan=plans(),
    at_least=money("0", "200000"),
    extra=money("0", "100000"),
    refund=st.sampled_from(("proportional", "stepped")),
    of=st.sampled_from(("base", "fees")),
    values=values,
    view=st.sampled_from(VIEWS),
)
def test_a_guarantee_never_applies_when_its_target_is_met(
    plan: FeePlan,
    at_least: Decimal,
    extra: Decimal,
    refund: Literal["proportional", "stepped"],
    of: Literal["base", "fees"],
    values: Mapping[str, Decimal | None],
    view: FeeView,
) -> None:
    guarantee = Guarantee(
        on="gmv",
        at_least=at_least,
        refund=refund,
        of=of,
        step=Decimal("0.1") if refund == "stepped" else None,
        per_step=Decimal("0.2") if refund == "stepped" else None,
    )
    met = {**values, "gmv": at_least + extra}
    without = compute_fee(plan, targets=(), values=met, view=view, currency="USD")
    guarded = dataclasses.replace(plan, guarantee=guarantee)
    statement = compute_fee(guarded, targets=(), values=met, view=view, currency="USD")
    assert all(line.amount == 0 for line in statement.lines_of("guarantee"))
    assert statement.total == without.total


@PROPS
@given(
    plan=plans(),
    guarantee_on=money("0", "200000"),
    values=values,
)
def test_only_the_guarantee_takes_the_total_below_zero(
    plan: FeePlan, guarantee_on: Decimal, values: Mapping[str, Decimal | None]
) -> None:
    guarded = dataclasses.replace(
        plan, guarantee=Guarantee(on="gmv", at_least=guarantee_on, of="base")
    )
    statement = compute_fee(guarded, targets=(), values=values, view="final", currency="USD")
    guarantee = statement.lines_of("guarantee")[0].amount
    assert statement.total - guarantee >= 0
    assert statement.owed_by_agency == max(-statement.total, Decimal(0))
