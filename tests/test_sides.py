"""Tests for kpi.sides: tolerance agreement and which side's figure counts under each truth mode."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal
from itertools import count
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpi.model import Entry, Side, Truth, Verdict
from kpi.sides import Figure, agrees, resolve

DAY = dt.date(2026, 11, 3)
T0 = dt.datetime(2026, 11, 3, 20, 0, tzinfo=dt.UTC)
TOL = Decimal("0.02")
_ids = count(1)


def entry(side: Side, value: str, *, id: int | None = None, day: dt.date = DAY) -> Entry:
    n = id if id is not None else next(_ids)
    return Entry(
        id=n,
        deal_id="d1",
        day=day,
        metric="gmv",
        value=Decimal(value),
        side=side,
        person=f"{side}-person",
        person_name=side.title(),
        chat=f"console:{side}",
        message_key=f"m{n}",
        recorded_at=T0 + dt.timedelta(minutes=n),
    )


def verdict(
    kind: Literal["confirm", "dispute"], side: Side, about: Entry, *, minute: int = 0
) -> Verdict:
    n = next(_ids)
    return Verdict(
        id=n,
        deal_id="d1",
        day=about.day,
        metric=about.metric,
        kind=kind,
        side=side,
        person=f"{side}-person",
        person_name=side.title(),
        entry_id=about.id,
        reason="" if kind == "confirm" else "numbers differ from the dashboard",
        chat=f"console:{side}",
        message_key=f"v{n}",
        # A day after T0: after every entry these tests make (entries are T0 + id minutes).
        recorded_at=T0 + dt.timedelta(days=1, minutes=minute),
    )


def one(figures: dict[tuple[dt.date, str], Figure]) -> Figure:
    assert list(figures) == [(DAY, "gmv")]
    return figures[(DAY, "gmv")]


# ---------------------------------------------------------------- agrees


@pytest.mark.parametrize(
    ("a", "b", "tolerance", "expected"),
    [
        ("100", "98", "0.02", True),  # |2| <= 0.02 x 100: exactly at the boundary agrees
        ("98", "100", "0.02", True),  # symmetric
        ("100", "97.99", "0.02", False),  # 2.01 > 2
        ("100", "102", "0.02", True),  # 2 <= 0.02 x 102 = 2.04 (measured on the larger)
        ("100", "102.05", "0.02", False),  # 2.05 > 2.041
        ("0", "0", "0", True),  # equal zeros agree
        ("5", "5", "0", True),  # zero tolerance: only equal figures agree
        ("5", "5.01", "0", False),
        ("0", "1", "0.5", False),  # 1 > 0.5 x 1
        ("0", "1", "1", True),  # 1 <= 1 x 1
        ("-100", "-98", "0.02", True),  # magnitudes, not signed values
    ],
)
def test_agrees(a: str, b: str, tolerance: str, expected: bool) -> None:
    assert agrees(Decimal(a), Decimal(b), Decimal(tolerance)) is expected


def test_agrees_rejects_negative_tolerance() -> None:
    with pytest.raises(ValueError, match="negative"):
        agrees(Decimal(1), Decimal(1), Decimal("-0.01"))


values = st.decimals(min_value=-(10**12), max_value=10**12, places=2)
tolerances = st.decimals(min_value=0, max_value=1, places=4)


@given(a=values, b=values, tolerance=tolerances)
def test_agrees_is_symmetric(a: Decimal, b: Decimal, tolerance: Decimal) -> None:
    assert agrees(a, b, tolerance) == agrees(b, a, tolerance)


@given(a=values, tolerance=tolerances)
def test_a_figure_agrees_with_itself(a: Decimal, tolerance: Decimal) -> None:
    assert agrees(a, a, tolerance)


# ---------------------------------------------------------------- resolve, table-driven

# Each case: truth, the entries as (side, value), verdicts as (kind, by side, on whose entry),
# then the expected (value, status, counted_side, disagreement, confirmed_by, disputes count).
CASES: list[object] = [
    # truth = seller
    pytest.param(
        "seller", [("seller", "1000"), ("agency", "1000")], [],
        ("1000", "counted", "seller", False, None, 0), id="seller-both-equal",
    ),
    pytest.param(
        "seller", [("seller", "1000"), ("agency", "1200")], [],
        ("1000", "counted", "seller", True, None, 0), id="seller-both-disagree-seller-counts",
    ),
    pytest.param(
        "seller", [("seller", "1000")], [],
        ("1000", "counted", "seller", False, None, 0), id="seller-only-seller",
    ),
    pytest.param(
        "seller", [("agency", "1200")], [],
        ("1200", "provisional", "agency", False, None, 0), id="seller-only-agency-provisional",
    ),
    pytest.param(
        "seller", [("agency", "1200")], [("confirm", "seller", "agency")],
        ("1200", "counted", "agency", False, "seller", 0),
        id="seller-only-agency-confirmed-by-seller-counts",
    ),
    pytest.param(
        "seller", [("seller", "1000")], [("confirm", "agency", "seller")],
        ("1000", "counted", "seller", False, "agency", 0), id="seller-confirmed-by-agency",
    ),
    pytest.param(
        "seller", [("seller", "1000"), ("agency", "1000")], [("dispute", "agency", "seller")],
        ("1000", "counted", "seller", False, None, 1),
        id="seller-dispute-without-disagreement-attached",
    ),
    pytest.param(
        "seller", [("seller", "1000"), ("agency", "1200")], [("confirm", "seller", "agency")],
        ("1200", "counted", "agency", True, "seller", 0),
        id="seller-accepts-the-agency-figure-it-confirmed",
    ),
    pytest.param(
        "seller", [("seller", "1000"), ("agency", "1200")],
        [("dispute", "agency", "seller"), ("confirm", "seller", "agency")],
        ("1200", "counted", "agency", True, "seller", 0),
        id="seller-accepts-the-agency-figure-its-dispute-is-moot",
    ),
    # truth = agency
    pytest.param(
        "agency", [("seller", "1000"), ("agency", "1200")], [("confirm", "agency", "seller")],
        ("1000", "counted", "seller", True, "agency", 0),
        id="agency-accepts-the-seller-figure-it-confirmed",
    ),
    pytest.param(
        "agency", [("seller", "1000"), ("agency", "1200")], [],
        ("1200", "counted", "agency", True, None, 0), id="agency-both-agency-counts",
    ),
    pytest.param(
        "agency", [("seller", "1000")], [],
        ("1000", "provisional", "seller", False, None, 0), id="agency-only-seller-provisional",
    ),
    # truth = agreed
    pytest.param(
        "agreed", [("seller", "1000")], [],
        (None, "pending", None, False, None, 0), id="agreed-only-seller-pending",
    ),
    pytest.param(
        "agreed", [("agency", "1000")], [],
        (None, "pending", None, False, None, 0), id="agreed-only-agency-pending",
    ),
    pytest.param(
        "agreed", [("agency", "1000")], [("confirm", "seller", "agency")],
        ("1000", "counted", "agency", False, "seller", 0), id="agreed-agency-confirmed",
    ),
    pytest.param(
        "agreed", [("seller", "1000")], [("confirm", "seller", "seller")],
        (None, "pending", None, False, None, 0), id="agreed-self-confirmation-ignored",
    ),
    pytest.param(
        "agreed", [("seller", "100"), ("agency", "98")], [],
        ("100", "counted", "seller", False, None, 0), id="agreed-at-tolerance-boundary-seller",
    ),
    pytest.param(
        "agreed", [("seller", "98"), ("agency", "100")], [],
        ("98", "counted", "seller", False, None, 0), id="agreed-within-tolerance-payer-number",
    ),
    pytest.param(
        "agreed", [("seller", "100"), ("agency", "97.99")], [],
        (None, "pending", None, True, None, 0), id="agreed-just-beyond-tolerance-pending",
    ),
    pytest.param(
        "agreed", [("seller", "1000"), ("agency", "1200")], [("confirm", "agency", "seller")],
        ("1000", "counted", "seller", True, "agency", 0), id="agreed-disagree-seller-confirmed",
    ),
    pytest.param(
        "agreed", [("seller", "1000"), ("agency", "1200")], [("confirm", "seller", "agency")],
        ("1200", "counted", "agency", True, "seller", 0), id="agreed-disagree-agency-confirmed",
    ),
    pytest.param(
        "agreed", [("seller", "1000"), ("agency", "1010")], [("confirm", "seller", "agency")],
        ("1010", "counted", "agency", False, "seller", 0),
        id="agreed-explicit-confirmation-beats-tolerance-rule",
    ),
    pytest.param(
        "agreed", [("seller", "1000"), ("agency", "1200")], [("dispute", "agency", "seller")],
        (None, "pending", None, True, None, 1), id="agreed-disagree-and-disputed",
    ),
    pytest.param(
        "agreed", [("seller", "1000"), ("agency", "1200")],
        [("dispute", "agency", "seller"), ("confirm", "seller", "agency")],
        ("1200", "counted", "agency", True, "seller", 0),
        id="agreed-seller-confirms-the-agency-figure-the-dispute-of-its-own-is-moot",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("truth", "sides", "verdicts", "expected"), CASES)
def test_resolve(
    truth: Truth,
    sides: list[tuple[Side, str]],
    verdicts: list[tuple[Literal["confirm", "dispute"], Side, Side]],
    expected: tuple[str | None, str, Side | None, bool, Side | None, int],
) -> None:
    entries = {side: entry(side, value) for side, value in sides}
    given_verdicts = [
        verdict(kind, by, entries[on], minute=i) for i, (kind, by, on) in enumerate(verdicts)
    ]
    figure = one(resolve(entries.values(), given_verdicts, truth=truth, tolerance=TOL))
    value, status, counted_side, disagreement, confirmed_by, disputes = expected
    assert figure.value == (Decimal(value) if value is not None else None)
    assert figure.status == status
    assert figure.counted_side == counted_side
    assert figure.disagreement is disagreement
    assert figure.confirmed_by == confirmed_by
    assert len(figure.disputes) == disputes
    assert figure.seller == entries.get("seller")
    assert figure.agency == entries.get("agency")
    assert figure.counts is (value is not None)
    # A disagreement the other side settled by confirming the counted figure is no longer
    # contested (issue 11, item 10); a standing dispute still is.
    assert figure.settled is (disagreement and confirmed_by is not None)
    assert figure.contested is ((disagreement and confirmed_by is None) or disputes > 0)


# ---------------------------------------------------------------- corrections and verdict order


def test_confirmed_then_corrected_needs_a_new_confirmation() -> None:
    original = entry("seller", "1000", id=101)
    confirmation = verdict("confirm", "agency", original)
    correction = replace(original, id=102, value=Decimal(1100), supersedes=101)

    before = one(resolve([original], [confirmation], truth="agreed", tolerance=TOL))
    assert (before.value, before.status, before.confirmed_by) == (
        Decimal(1000),
        "counted",
        "agency",
    )

    # Storage passes only the current entry; the old confirmation names the superseded one.
    after = one(resolve([correction], [confirmation], truth="agreed", tolerance=TOL))
    assert (after.value, after.status, after.confirmed_by) == (None, "pending", None)
    assert after.seller == correction

    reconfirmed = verdict("confirm", "agency", correction, minute=5)
    again = one(resolve([correction], [confirmation, reconfirmed], truth="agreed", tolerance=TOL))
    assert (again.value, again.status) == (Decimal(1100), "counted")


def test_a_superseded_entry_passed_by_mistake_loses_to_the_later_one() -> None:
    original = entry("seller", "1000", id=201)
    correction = replace(original, id=202, value=Decimal(900), supersedes=201)
    figure = one(resolve([correction, original], [], truth="seller", tolerance=TOL))
    assert figure.seller == correction
    assert figure.value == Decimal(900)


def test_a_dispute_on_a_superseded_entry_is_not_attached() -> None:
    original = entry("seller", "1000", id=301)
    dispute = verdict("dispute", "agency", original)
    correction = replace(original, id=302, value=Decimal(950), supersedes=301)
    figure = one(resolve([correction], [dispute], truth="seller", tolerance=TOL))
    assert figure.disputes == ()
    assert not figure.contested


def test_later_verdict_wins() -> None:
    seller = entry("seller", "1000")
    confirm = verdict("confirm", "agency", seller, minute=1)
    dispute = verdict("dispute", "agency", seller, minute=2)

    taken_back = one(resolve([seller], [dispute, confirm], truth="agreed", tolerance=TOL))
    assert (taken_back.status, taken_back.disputes) == ("pending", (dispute,))

    settled_dispute = verdict("dispute", "agency", seller, minute=0)
    withdrawn = one(resolve([seller], [confirm, settled_dispute], truth="agreed", tolerance=TOL))
    assert (withdrawn.status, withdrawn.disputes, withdrawn.confirmed_by) == (
        "counted",
        (),
        "agency",
    )


def test_a_truth_side_report_after_accepting_the_other_figure_counts_again() -> None:
    # The seller accepted the agency's 1,200 (a day after both reported), then reported
    # 1,100 for the day: its own later report counts again.
    seller = entry("seller", "1000", id=1)
    agency = entry("agency", "1200", id=2)
    accepted = verdict("confirm", "seller", agency)
    figure = one(resolve([seller, agency], [accepted], truth="seller", tolerance=TOL))
    assert figure.value == Decimal("1200") and figure.counted_side == "agency"
    later = entry("seller", "1100", id=3000)  # recorded at T0 + 3,000 minutes
    assert later.recorded_at > accepted.recorded_at
    figure = one(resolve([seller, later, agency], [accepted], truth="seller", tolerance=TOL))
    assert figure.value == Decimal("1100") and figure.counted_side == "seller"
    assert figure.contested  # 1,100 vs 1,200: the sides disagree again


def test_dispute_against_the_other_entry_is_attached_too() -> None:
    seller = entry("seller", "1000")
    agency = entry("agency", "1000")
    dispute = verdict("dispute", "seller", agency)
    figure = one(resolve([seller, agency], [dispute], truth="seller", tolerance=TOL))
    assert figure.disputes == (dispute,)
    assert figure.contested and not figure.disagreement


def test_verdicts_without_an_entry_are_ignored() -> None:
    seller = entry("seller", "1000")
    loose = replace(verdict("confirm", "agency", seller), entry_id=None)
    figure = one(resolve([seller], [loose], truth="agreed", tolerance=TOL))
    assert figure.status == "pending"


def test_resolve_keys_every_day_and_metric() -> None:
    day2 = DAY + dt.timedelta(days=1)
    entries = [
        entry("seller", "1", day=DAY),
        entry("agency", "2", day=day2),
        replace(entry("seller", "3", day=DAY), metric="orders"),
    ]
    figures = resolve(entries, [], truth="seller", tolerance=TOL)
    assert list(figures) == [(DAY, "gmv"), (DAY, "orders"), (day2, "gmv")]
    assert figures[(day2, "gmv")].status == "provisional"
    assert all(isinstance(f.value, Decimal) for f in figures.values())


def test_resolve_nothing() -> None:
    assert resolve([], [], truth="agreed", tolerance=TOL) == {}
