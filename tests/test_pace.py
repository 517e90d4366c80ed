"""Tests for kpi.pace: period totals, derived metrics, projection at the current pace, targets."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpi.formula import Formula
from kpi.model import Entry, Metric, Target
from kpi.pace import (
    derive,
    elapsed_days,
    pace_days,
    period_totals,
    project,
    prorated_targets,
    statuses,
    target_status,
    unreported_days,
    unreported_inputs,
)
from kpi.periods import Period, first_period, period_containing
from kpi.sides import Figure, resolve

D = dt.date
NOV = period_containing(D(2026, 11, 1), "month", D(2026, 11, 1))


def metric(name: str, formula: str | None = None) -> Metric:
    return Metric(name, name, Formula.parse(formula) if formula else None)


# The example deal's metrics (bot/demo/acme-linkstar-us.yaml).
METRICS = {
    "gmv": metric("gmv"),
    "refunds": metric("refunds"),
    "ad_spend": metric("ad_spend"),
    "orders": metric("orders"),
    "net_gmv": metric("net_gmv", "gmv - refunds"),
    "roi": metric("roi", "gmv / ad_spend"),
}
TARGETS = (
    Target("gmv", "at_least", Decimal(50000)),
    Target("roi", "at_least", Decimal("3.5")),
)


def fig(day: dt.date, name: str, value: str | None, status: str = "counted") -> Figure:
    """A resolved figure; ``value`` None is a pending one."""
    return Figure(
        day=day,
        metric=name,
        seller=None,
        agency=None,
        value=Decimal(value) if value is not None else None,
        status="pending" if value is None else status,  # type: ignore[arg-type]
        counted_side=None if value is None else "seller",
        disagreement=False,
        confirmed_by=None,
        disputes=(),
    )


def days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def worked_example_figures() -> list[Figure]:
    """Issue 3: the seller reports gmv 2,000, refunds 100, ad_spend 500 on each of Nov 1-10."""
    entries: list[Entry] = []
    for n, day in enumerate(days(D(2026, 11, 1), D(2026, 11, 10))):
        for name, value in (("gmv", 2000), ("refunds", 100), ("ad_spend", 500)):
            entries.append(
                Entry(
                    id=len(entries) + 1,
                    deal_id="acme-linkstar-us",
                    day=day,
                    metric=name,
                    value=Decimal(value),
                    side="seller",
                    person="slack:U07ACMEOPS",
                    person_name="Mia Chen",
                    chat="slack:C07ACMELIVE",
                    message_key=f"m{n}-{name}",
                    recorded_at=dt.datetime(2026, 11, 1, 20, 0, tzinfo=dt.UTC)
                    + dt.timedelta(days=n),
                )
            )
    return list(resolve(entries, [], truth="seller", tolerance=Decimal("0.02")).values())


# ---------------------------------------------------------------- the worked example


def test_worked_example_totals_on_nov_10() -> None:
    totals = period_totals(worked_example_figures(), METRICS, NOV, D(2026, 11, 10))
    # 10 days x 2,000 = 20,000; x 100 = 1,000; x 500 = 5,000; net 19,000; roi 20,000 / 5,000.
    assert totals.values == {
        "gmv": Decimal(20000),
        "refunds": Decimal(1000),
        "ad_spend": Decimal(5000),
        "orders": None,  # never reported: no value, shown "—" (issue 12, item 1)
        "net_gmv": Decimal(19000),
        "roi": Decimal(4),
    }
    assert totals.last_day == {
        "gmv": D(2026, 11, 10),
        "refunds": D(2026, 11, 10),
        "ad_spend": D(2026, 11, 10),
        "orders": None,
    }
    assert totals.days_reported == {"gmv": 10, "refunds": 10, "ad_spend": 10, "orders": 0}


def test_worked_example_projection_over_30_days() -> None:
    totals = period_totals(worked_example_figures(), METRICS, NOV, D(2026, 11, 10))
    projected = project(totals, METRICS, NOV)
    # 30 days / 10 elapsed = x3: gmv 60,000, refunds 3,000, ad_spend 15,000, net 57,000;
    # roi is recomputed from the projected sums (60,000 / 15,000 = 4.0), not scaled to 12.
    assert projected == {
        "gmv": Decimal(60000),
        "refunds": Decimal(3000),
        "ad_spend": Decimal(15000),
        "orders": None,
        "net_gmv": Decimal(57000),
        "roi": Decimal(4),
    }


def test_worked_example_target_statuses() -> None:
    totals = period_totals(worked_example_figures(), METRICS, NOV, D(2026, 11, 10))
    projected = project(totals, METRICS, NOV)
    gmv, roi = statuses(TARGETS, totals.values, projected)
    # gmv: 60,000 / 50,000 = 1.2; the same as actual / (target x elapsed share):
    # 20,000 / (50,000 x 10/30) = 1.2. Not met yet (20,000 < 50,000), on track.
    assert (gmv.actual, gmv.projected, gmv.pace) == (Decimal(20000), Decimal(60000), Decimal("1.2"))
    assert gmv.pace == totals.values["gmv"] / (Decimal(50000) * 10 / 30)  # type: ignore[operator]
    assert (gmv.met_now, gmv.on_track) == (False, True)
    # roi: 4 / 3.5; already met (4 >= 3.5) and on track.
    assert roi.pace == Decimal(4) / Decimal("3.5")
    assert (roi.met_now, roi.on_track) == (True, True)


# ---------------------------------------------------------------- period_totals rules

TWO = {"gmv": metric("gmv"), "ad_spend": metric("ad_spend"), "roi": metric("roi", "gmv/ad_spend")}


@pytest.mark.parametrize(
    ("figures", "period", "upto", "values", "last_day", "reported"),
    [
        pytest.param(
            [fig(D(2026, 10, 31), "gmv", "5"), fig(D(2026, 11, 1), "gmv", "7")],
            NOV, D(2026, 11, 30),
            # ad_spend: no report, so no value (not 0); roi = 7 / nothing: no value.
            {"gmv": Decimal(7), "ad_spend": None, "roi": None},
            {"gmv": D(2026, 11, 1), "ad_spend": None}, {"gmv": 1, "ad_spend": 0},
            id="days-before-the-period-skipped",
        ),
        pytest.param(
            [fig(D(2026, 11, 30), "gmv", "7"), fig(D(2026, 12, 1), "gmv", "5")],
            NOV, D(2026, 12, 15),
            {"gmv": Decimal(7), "ad_spend": None, "roi": None},
            {"gmv": D(2026, 11, 30), "ad_spend": None}, {"gmv": 1, "ad_spend": 0},
            id="upto-after-the-period-stops-at-its-end",
        ),
        pytest.param(
            [fig(D(2026, 11, 3), "gmv", "7"), fig(D(2026, 11, 4), "gmv", "5")],
            NOV, D(2026, 11, 3),
            {"gmv": Decimal(7), "ad_spend": None, "roi": None},
            {"gmv": D(2026, 11, 3), "ad_spend": None}, {"gmv": 1, "ad_spend": 0},
            id="days-after-upto-skipped",
        ),
        pytest.param(
            [fig(D(2026, 11, 3), "gmv", None), fig(D(2026, 11, 4), "gmv", "5", "provisional")],
            NOV, D(2026, 11, 30),
            {"gmv": Decimal(5), "ad_spend": None, "roi": None},
            {"gmv": D(2026, 11, 4), "ad_spend": None}, {"gmv": 1, "ad_spend": 0},
            id="pending-skipped-provisional-counted",
        ),
        pytest.param(
            [fig(D(2026, 11, 3), "gmv", "6"), fig(D(2026, 11, 3), "roi", "99"),
             fig(D(2026, 11, 3), "viewers", "99"), fig(D(2026, 11, 3), "ad_spend", "2")],
            NOV, D(2026, 11, 30),
            {"gmv": Decimal(6), "ad_spend": Decimal(2), "roi": Decimal(3)},
            {"gmv": D(2026, 11, 3), "ad_spend": D(2026, 11, 3)}, {"gmv": 1, "ad_spend": 1},
            id="derived-never-summed-unknown-ignored",
        ),
        pytest.param(
            [fig(D(2026, 11, 3), "gmv", "6")],
            NOV, D(2026, 10, 31),
            {"gmv": None, "ad_spend": None, "roi": None},
            {"gmv": None, "ad_spend": None}, {"gmv": 0, "ad_spend": 0},
            id="upto-before-the-period-is-empty",
        ),
    ],
)  # fmt: skip
def test_period_totals(
    figures: list[Figure],
    period: Period,
    upto: dt.date,
    values: dict[str, Decimal | None],
    last_day: dict[str, dt.date | None],
    reported: dict[str, int],
) -> None:
    totals = period_totals(figures, TWO, period, upto)
    assert (totals.values, totals.last_day, totals.days_reported) == (values, last_day, reported)
    assert totals.upto == min(upto, period.end)


def test_ratio_of_sums_not_sum_of_ratios() -> None:
    figures = [
        fig(D(2026, 11, 1), "gmv", "100"),
        fig(D(2026, 11, 1), "ad_spend", "10"),  # roi 10 that day
        fig(D(2026, 11, 2), "gmv", "100"),
        fig(D(2026, 11, 2), "ad_spend", "90"),  # roi 1.11 that day
    ]
    totals = period_totals(figures, TWO, NOV, D(2026, 11, 2))
    assert totals.values["roi"] == Decimal(2)  # 200 / 100


# ---------------------------------------------------------------- derive


def test_derive_follows_dependencies_whatever_the_order() -> None:
    metrics = {
        "net_roi": metric("net_roi", "net_gmv / ad_spend"),  # listed before net_gmv on purpose
        "net_gmv": metric("net_gmv", "gmv - refunds"),
        "gmv": metric("gmv"),
        "refunds": metric("refunds"),
        "ad_spend": metric("ad_spend"),
    }
    values = derive(
        metrics, {"gmv": Decimal(1000), "refunds": Decimal(100), "ad_spend": Decimal(300)}
    )
    assert values == {
        "gmv": Decimal(1000),
        "refunds": Decimal(100),
        "ad_spend": Decimal(300),
        "net_gmv": Decimal(900),
        "net_roi": Decimal(3),
    }


@pytest.mark.parametrize(
    ("base", "net_gmv", "roi"),
    [
        ({"gmv": Decimal(10), "refunds": Decimal(1), "ad_spend": Decimal(0)}, Decimal(9), None),
        # refunds unreported: net_gmv = 10 - 0 (a difference counts it as 0); roi unaffected.
        ({"gmv": Decimal(10), "refunds": None, "ad_spend": Decimal(5)}, Decimal(10), Decimal(2)),
        # ad_spend unreported: roi = 10 / nothing has no value; net_gmv = 10 - 0.
        ({"gmv": Decimal(10)}, Decimal(10), None),
        ({}, None, None),  # nothing reported at all: no value anywhere
    ],
)
def test_derive_without_a_value(
    base: dict[str, Decimal | None], net_gmv: Decimal | None, roi: Decimal | None
) -> None:
    values = derive(METRICS, base)
    assert (values["net_gmv"], values["roi"]) == (net_gmv, roi)
    assert values["orders"] is None


def test_derive_rejects_a_cycle() -> None:
    metrics = {"a": metric("a", "b + 1"), "b": metric("b", "a + 1")}
    with pytest.raises(ValueError, match="cycle"):
        derive(metrics, {})


# ---------------------------------------------------------------- project


def test_each_metric_uses_its_own_last_day() -> None:
    figures = [fig(d, "gmv", "100") for d in days(D(2026, 11, 1), D(2026, 11, 10))]
    # ad_spend reported for Nov 1-5 only (the agency is late): elapsed 5, not 10.
    figures += [fig(d, "ad_spend", "50") for d in days(D(2026, 11, 1), D(2026, 11, 5))]
    totals = period_totals(figures, TWO, NOV, D(2026, 11, 10))
    projected = project(totals, TWO, NOV)
    # Today is Nov 10. gmv has today's report: elapsed 10, 1,000 x 30 / 10 = 3,000.
    # ad_spend has none today: elapsed = the 9 days up to yesterday, Nov 6-9 counting as 0:
    # 250 x 30 / 9 = 833.33... roi is not 3,000 / 833.33... = 3.6 (ten days of sales over
    # five of spend) but its value over the days both were reported: 500 / 250 = 2.
    assert projected["gmv"] == Decimal(3000)
    assert projected["ad_spend"] == Decimal(250) * 30 / 9
    assert projected["roi"] == 2
    assert unreported_days(totals, NOV) == {"ad_spend": 4}


def test_a_gap_before_the_last_day_counts_as_elapsed() -> None:
    figures = [fig(D(2026, 11, 1), "gmv", "300"), fig(D(2026, 11, 6), "gmv", "300")]
    totals = period_totals(figures, TWO, NOV, D(2026, 11, 10))
    assert totals.last_day["gmv"] == D(2026, 11, 6)
    assert totals.days_reported["gmv"] == 2
    # Today is Nov 10, not reported yet: elapsed = Nov 1-9 = 9 days, 7 of them without a
    # report (counted as 0). 600 x 30 / 9 = 2,000.
    assert project(totals, TWO, NOV)["gmv"] == Decimal(2000)
    assert unreported_days(totals, NOV) == {"gmv": 7}


def test_the_last_day_paces_like_any_today_until_the_period_is_over() -> None:
    # Nov 1-29 reported 100 a day; Nov 30 (the last day) not yet. While Nov 30 runs, it is
    # today: the pace runs over 29 days (2,900 x 30 / 29 = 3,000) and nothing is unreported.
    # Once the period is over, Nov 30 is a day of 0: the projection is the actual.
    figures = [fig(d, "gmv", "100") for d in days(D(2026, 11, 1), D(2026, 11, 29))]
    running = period_totals(figures, TWO, NOV, D(2026, 11, 30), ended=False)
    assert pace_days(NOV, D(2026, 11, 30), D(2026, 11, 29), ended=False) == 29
    assert project(running, TWO, NOV)["gmv"] == Decimal(3000)
    assert unreported_days(running, NOV) == {}
    over = period_totals(figures, TWO, NOV, D(2026, 11, 30), ended=True)
    assert project(over, TWO, NOV)["gmv"] == Decimal(2900)
    assert unreported_days(over, NOV) == {"gmv": 1}


def test_first_period_projects_over_its_clipped_days() -> None:
    starts = D(2026, 11, 21)
    first = first_period(starts, "month")  # Nov 21-30: 10 days
    figures = [fig(d, "gmv", "100") for d in days(starts, D(2026, 11, 25))]
    totals = period_totals(figures, TWO, first, D(2026, 11, 25))
    assert elapsed_days(first, D(2026, 11, 25)) == 5
    # 500 x 10 / 5 = 1,000 (not x 30 / 25).
    assert project(totals, TWO, first)["gmv"] == Decimal(1000)


def test_no_figure_no_projection() -> None:
    totals = period_totals([], TWO, NOV, D(2026, 11, 10))
    assert totals.values["gmv"] is None
    assert project(totals, TWO, NOV) == {"gmv": None, "ad_spend": None, "roi": None}


def test_uneven_pace_is_exact_to_context_precision() -> None:
    figures = [fig(d, "gmv", "100") for d in days(D(2026, 11, 1), D(2026, 11, 7))]
    totals = period_totals(figures, TWO, NOV, D(2026, 11, 7))
    projected = project(totals, TWO, NOV)["gmv"]
    # 700 x 30 / 7 = 3,000 exactly: multiplying before dividing keeps it whole.
    assert projected == Decimal(3000)


# ---------------------------------------------------------------- target_status


@pytest.mark.parametrize(
    ("direction", "target", "actual", "projected", "pace", "met_now", "on_track"),
    [
        # at_least: pace = projected / target.
        ("at_least", "50000", "20000", "60000", Decimal("1.2"), False, True),
        ("at_least", "50000", "15000", "45000", Decimal("0.9"), False, False),
        ("at_least", "50000", "50000", "50000", Decimal(1), True, True),  # exactly on target
        ("at_least", "50000", "51000", "51000", Decimal("1.02"), True, True),
        ("at_least", "50000", "0", "0", Decimal(0), False, False),
        # at_most: pace = target / projected.
        ("at_most", "0.05", "0.04", "0.04", Decimal("1.25"), True, True),
        ("at_most", "3000", "1000", "4000", Decimal("0.75"), True, False),
        ("at_most", "3000", "3000", "3000", Decimal(1), True, True),
        ("at_most", "3000", "3100", "3100", Decimal(3000) / Decimal(3100), False, False),
        # at_most with nothing projected: nothing to exceed, on track, no ratio.
        ("at_most", "3000", "0", "0", None, True, True),
        # A zero target has no ratio: compare directly.
        ("at_least", "0", "0", "0", None, True, True),
        ("at_most", "0", "0", "5", None, True, False),
        # No projection (nothing counted): no pace, not on track.
        ("at_least", "50000", "0", None, None, False, False),
        ("at_most", "0.05", None, None, None, False, False),
    ],
)
def test_target_status(
    direction: str,
    target: str,
    actual: str | None,
    projected: str | None,
    pace: Decimal | None,
    met_now: bool,
    on_track: bool,
) -> None:
    t = Target("m", direction, Decimal(target))  # type: ignore[arg-type]
    a = Decimal(actual) if actual is not None else None
    p = Decimal(projected) if projected is not None else None
    status = target_status(t, a, p)
    assert (status.target, status.actual, status.projected) == (t, a, p)
    assert status.pace == pace
    assert (status.met_now, status.on_track) == (met_now, on_track)


def test_statuses_keeps_target_order_and_handles_unknown_metrics() -> None:
    targets = (
        Target("roi", "at_least", Decimal(3)),
        Target("gone", "at_least", Decimal(1)),
        Target("gmv", "at_least", Decimal(100)),
    )
    result = statuses(
        targets,
        {"gmv": Decimal(50), "roi": Decimal(2)},
        {"gmv": Decimal(150), "roi": Decimal(3)},
    )
    assert [s.target.metric for s in result] == ["roi", "gone", "gmv"]
    assert [s.pace for s in result] == [Decimal(1), None, Decimal("1.5")]
    assert [s.on_track for s in result] == [True, False, True]


# ---------------------------------------------------------------- properties

amounts = st.decimals(min_value=0, max_value=10**9, places=2)


@given(
    month=st.dates(min_value=D(2020, 1, 1), max_value=D(2035, 12, 31)),
    data=st.data(),
)
def test_full_period_projection_equals_total(month: dt.date, data: st.DataObject) -> None:
    period = period_containing(D(2020, 1, 1), "month", month)
    daily = data.draw(st.lists(amounts, min_size=period.days, max_size=period.days))
    figures = [
        fig(day, "gmv", str(value))
        for day, value in zip(days(period.start, period.end), daily, strict=True)
    ]
    totals = period_totals(figures, TWO, period, period.end)
    projected = project(totals, TWO, period)
    assert totals.values["gmv"] == sum(daily, Decimal(0))
    assert projected["gmv"] == totals.values["gmv"]


@given(
    starts=st.dates(min_value=D(2024, 1, 1), max_value=D(2030, 12, 31)),
    elapsed=st.integers(min_value=1, max_value=31),
    daily=amounts,
    target=st.decimals(min_value=1, max_value=10**8, places=0),
)
def test_pace_values_are_decimal_and_match_the_elapsed_share(
    starts: dt.date, elapsed: int, daily: Decimal, target: Decimal
) -> None:
    period = first_period(starts, "month")
    elapsed = min(elapsed, period.days)
    figures = [fig(period.start + dt.timedelta(days=i), "gmv", str(daily)) for i in range(elapsed)]
    totals = period_totals(figures, TWO, period, period.end)
    projected = project(totals, TWO, period)
    status = target_status(
        Target("gmv", "at_least", target), totals.values["gmv"], projected["gmv"]
    )
    for value in (*totals.values.values(), *projected.values(), status.pace):
        assert value is None or isinstance(value, Decimal)
    # At the period's end the projection is the actual (the unreported days count as 0), so
    # pace = daily x elapsed / target.
    assert projected["gmv"] == totals.values["gmv"]
    assert status.pace == daily * elapsed / target


# ---------------------------------------------------------------- issue 12: pace and proration

WEEK = period_containing(D(2026, 11, 2), "week", D(2026, 11, 2))  # Mon Nov 2 - Sun Nov 8


def test_a_week_reported_on_two_days_projects_its_actual_on_its_last_day() -> None:
    figures = [fig(D(2026, 11, 2), "gmv", "10000"), fig(D(2026, 11, 3), "gmv", "4000")]
    # Sunday Nov 8, the last day: nothing is left to extrapolate: projected = actual 14,000
    # (before issue 12: 14,000 x 7 / 2 = 49,000, 3.5 times the actual).
    on_last_day = period_totals(figures, TWO, WEEK, D(2026, 11, 8))
    assert project(on_last_day, TWO, WEEK)["gmv"] == Decimal(14000)
    assert unreported_days(on_last_day, WEEK) == {"gmv": 5}
    # ...and after it ended (the recap on Monday reads the period as of Sunday or later).
    after = period_totals(figures, TWO, WEEK, D(2026, 11, 12))
    assert project(after, TWO, WEEK)["gmv"] == Decimal(14000)
    # On Thursday, today unreported: elapsed Mon-Wed = 3 days, Wed counting as 0:
    # 14,000 x 7 / 3 = 32,666.67 (not 14,000 x 7 / 2).
    thursday = period_totals(figures, TWO, WEEK, D(2026, 11, 5))
    assert project(thursday, TWO, WEEK)["gmv"] == Decimal(14000) * 7 / 3
    # Once Thursday has a report it counts: (14,000 + 2,000) x 7 / 4 = 28,000.
    reported = period_totals(
        [*figures, fig(D(2026, 11, 5), "gmv", "2000")], TWO, WEEK, D(2026, 11, 5)
    )
    assert project(reported, TWO, WEEK)["gmv"] == Decimal(28000)


@pytest.mark.parametrize(
    ("upto", "last_day", "expected"),
    [
        (D(2026, 11, 5), None, 3),  # Mon-Wed: the days up to yesterday
        (D(2026, 11, 5), D(2026, 11, 5), 4),  # plus today once today has a report
        (D(2026, 11, 2), None, 0),  # the first day, nothing yet: no pace
        (D(2026, 11, 8), D(2026, 11, 3), 7),  # the last day: the whole period
    ],
)
def test_pace_days(upto: dt.date, last_day: dt.date | None, expected: int) -> None:
    assert pace_days(WEEK, upto, last_day) == expected


def test_clipped_month_prorates_at_least_targets_on_additive_metrics_only() -> None:
    # Nov 21-30: 10 of 30 days. gmv 60,000 x 10/30 = 20,000.00; net_gmv (gmv - refunds, a
    # difference) 30,000 x 10/30 = 10,000.00; roi (a ratio) and the at_most refunds stay.
    first = first_period(D(2026, 11, 21), "month")
    targets = (
        Target("gmv", "at_least", Decimal(60000)),
        Target("net_gmv", "at_least", Decimal(30000)),
        Target("roi", "at_least", Decimal("3.5")),
        Target("refunds", "at_most", Decimal(3000)),
    )
    gmv, net, roi, refunds = prorated_targets(targets, METRICS, first)
    assert (gmv.value, net.value) == (Decimal("20000.00"), Decimal("10000.00"))
    assert (roi, refunds) == targets[2:]
    # 50,000 x 10/30 = 16,666.666... rounds half-up to 2 places.
    (odd,) = prorated_targets((Target("gmv", "at_least", Decimal(50000)),), METRICS, first)
    assert odd.value == Decimal("16666.67")
    assert prorated_targets(targets, METRICS, NOV) == targets  # a whole month: unchanged


def test_unreported_inputs_are_named() -> None:
    values = derive(METRICS, {"gmv": Decimal(100)})
    assert values["net_gmv"] == Decimal(100)  # 100 - refunds (unreported, 0)
    assert unreported_inputs(METRICS, "net_gmv", values) == ["refunds"]
    assert unreported_inputs(METRICS, "roi", values) == []  # undefined: shown "—" instead
    assert unreported_inputs(METRICS, "gmv", values) == []


def test_on_the_running_last_day_every_metric_paces_over_the_same_days() -> None:
    # Nov 1-29: gmv 100 and refunds 10 a day. Nov 30 (the last day) while it runs: before any
    # figure of that day, both extrapolate one day (x 30/29); once gmv is reported for it, the
    # day counts for refunds too (as a day of 0): neither extrapolates, so net GMV never
    # projects below what was earned.
    metrics = {
        "gmv": metric("gmv"),
        "refunds": metric("refunds"),
        "net_gmv": metric("net_gmv", "gmv - refunds"),
    }
    base = [
        fig(d, name, value)
        for d in days(D(2026, 11, 1), D(2026, 11, 29))
        for name, value in (("gmv", "100"), ("refunds", "10"))
    ]
    morning = period_totals(base, metrics, NOV, D(2026, 11, 30), ended=False)
    projected = project(morning, metrics, NOV)
    assert projected["gmv"] == Decimal(3000) and projected["refunds"] == Decimal(300)
    assert projected["net_gmv"] == Decimal(2700)
    assert unreported_days(morning, NOV) == {}
    evening = period_totals(
        [*base, fig(D(2026, 11, 30), "gmv", "50")], metrics, NOV, D(2026, 11, 30), ended=False
    )
    projected = project(evening, metrics, NOV)
    assert projected["gmv"] == Decimal(2950) and projected["refunds"] == Decimal(290)
    assert projected["net_gmv"] == Decimal(2660) == evening.values["net_gmv"]
    assert unreported_days(evening, NOV) == {"refunds": 1}
