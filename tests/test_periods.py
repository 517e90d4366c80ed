"""Tests for kpi.periods: calendar-aligned periods, labels, proration, business days and DST."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpi.errors import UserError
from kpi.model import PeriodKind
from kpi.periods import (
    business_day,
    first_period,
    local_datetime,
    next_period,
    period_by_label,
    period_containing,
    previous_period,
    prorate,
    proration,
)

D = dt.date
LA = "America/Los_Angeles"


# (starts, kind, day) -> (index, start, end, calendar_start, calendar_end, label, days, cal_days)
CONTAINING = [
    pytest.param(
        D(2026, 11, 1), "month", D(2026, 11, 10),
        (0, D(2026, 11, 1), D(2026, 11, 30), D(2026, 11, 1), D(2026, 11, 30), "2026-11", 30, 30),
        id="month-unclipped",
    ),
    pytest.param(
        D(2026, 11, 10), "month", D(2026, 11, 10),
        (0, D(2026, 11, 10), D(2026, 11, 30), D(2026, 11, 1), D(2026, 11, 30), "2026-11", 21, 30),
        id="month-first-clipped",
    ),
    pytest.param(
        D(2026, 11, 10), "month", D(2026, 12, 31),
        (1, D(2026, 12, 1), D(2026, 12, 31), D(2026, 12, 1), D(2026, 12, 31), "2026-12", 31, 31),
        id="month-december",
    ),
    pytest.param(
        D(2026, 11, 10), "month", D(2027, 1, 1),
        (2, D(2027, 1, 1), D(2027, 1, 31), D(2027, 1, 1), D(2027, 1, 31), "2027-01", 31, 31),
        id="month-dec-to-jan",
    ),
    pytest.param(
        D(2027, 12, 5), "month", D(2028, 2, 29),
        (2, D(2028, 2, 1), D(2028, 2, 29), D(2028, 2, 1), D(2028, 2, 29), "2028-02", 29, 29),
        id="month-leap-february",
    ),
    pytest.param(
        D(2026, 11, 4), "week", D(2026, 11, 4),
        (0, D(2026, 11, 4), D(2026, 11, 8), D(2026, 11, 2), D(2026, 11, 8), "2026-W45", 5, 7),
        id="week-first-clipped",
    ),
    pytest.param(
        # 2026 starts on a Thursday, so it has 53 ISO weeks; W53 runs Dec 28 2026 - Jan 3 2027.
        D(2026, 12, 30), "week", D(2027, 1, 2),
        (0, D(2026, 12, 30), D(2027, 1, 3), D(2026, 12, 28), D(2027, 1, 3), "2026-W53", 5, 7),
        id="week-W53-across-new-year",
    ),
    pytest.param(
        D(2026, 12, 30), "week", D(2027, 1, 4),
        (1, D(2027, 1, 4), D(2027, 1, 10), D(2027, 1, 4), D(2027, 1, 10), "2027-W01", 7, 7),
        id="week-after-W53",
    ),
    pytest.param(
        # Jan 1 2026 is in ISO week 2026-W01, which starts on Monday Dec 29 2025.
        D(2025, 12, 1), "week", D(2026, 1, 1),
        (4, D(2025, 12, 29), D(2026, 1, 4), D(2025, 12, 29), D(2026, 1, 4), "2026-W01", 7, 7),
        id="week-W01-starts-in-december",
    ),
    pytest.param(
        # Dec 30 2024 belongs to 2025-W01 (ISO year differs from the calendar year).
        D(2024, 12, 2), "week", D(2024, 12, 31),
        (4, D(2024, 12, 30), D(2025, 1, 5), D(2024, 12, 30), D(2025, 1, 5), "2025-W01", 7, 7),
        id="week-december-days-in-next-iso-year",
    ),
    pytest.param(
        D(2026, 11, 15), "quarter", D(2026, 11, 15),
        (0, D(2026, 11, 15), D(2026, 12, 31), D(2026, 10, 1), D(2026, 12, 31), "2026-Q4", 47, 92),
        id="quarter-first-clipped",
    ),
    pytest.param(
        D(2026, 11, 15), "quarter", D(2027, 3, 31),
        (1, D(2027, 1, 1), D(2027, 3, 31), D(2027, 1, 1), D(2027, 3, 31), "2027-Q1", 90, 90),
        id="quarter-q4-to-q1",
    ),
    pytest.param(
        D(2026, 11, 15), "quarter", D(2028, 2, 29),
        (5, D(2028, 1, 1), D(2028, 3, 31), D(2028, 1, 1), D(2028, 3, 31), "2028-Q1", 91, 91),
        id="quarter-leap-q1",
    ),
    pytest.param(
        D(2026, 4, 1), "quarter", D(2026, 8, 31),
        (1, D(2026, 7, 1), D(2026, 9, 30), D(2026, 7, 1), D(2026, 9, 30), "2026-Q3", 92, 92),
        id="quarter-q3",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("starts", "kind", "day", "expected"), CONTAINING)
def test_period_containing(
    starts: dt.date, kind: PeriodKind, day: dt.date, expected: tuple[object, ...]
) -> None:
    p = period_containing(starts, kind, day)
    got = (
        p.index,
        p.start,
        p.end,
        p.calendar_start,
        p.calendar_end,
        p.label,
        p.days,
        p.calendar_days,
    )
    assert got == expected
    assert p.kind == kind
    assert p.contains(day)
    assert p.clipped == (p.start != p.calendar_start)


def test_period_containing_before_start() -> None:
    with pytest.raises(UserError) as caught:
        period_containing(D(2026, 11, 10), "month", D(2026, 11, 9))
    assert caught.value.code == "period.before_start"
    assert caught.value.params == {
        "label": "2026-11-09",
        "starts": "2026-11-10",
        "first": "2026-11",
    }


def test_trial_periods_are_the_first_indexes() -> None:
    first = first_period(D(2026, 11, 10), "month")
    second = next_period(first, D(2026, 11, 10))
    assert first.is_trial(1) and not second.is_trial(1)
    assert not first.is_trial(0)
    assert second.is_trial(2)


# (kind, starts, typed label) -> (index, label, start)
GOOD_LABELS = [
    ("month", D(2026, 11, 10), "2026-11", (0, "2026-11", D(2026, 11, 10))),
    ("month", D(2026, 11, 10), "2026年11月", (0, "2026-11", D(2026, 11, 10))),
    ("month", D(2026, 11, 10), " 2026/12 ", (1, "2026-12", D(2026, 12, 1))),
    ("month", D(2026, 11, 10), "２０２６－１２", (1, "2026-12", D(2026, 12, 1))),
    ("month", D(2026, 11, 10), "2027-1", (2, "2027-01", D(2027, 1, 1))),
    ("month", D(2026, 11, 10), "2027年1月", (2, "2027-01", D(2027, 1, 1))),
    ("week", D(2026, 11, 4), "2026-W45", (0, "2026-W45", D(2026, 11, 4))),
    ("week", D(2026, 11, 4), "2026w46", (1, "2026-W46", D(2026, 11, 9))),
    ("week", D(2026, 11, 4), "2026年第46周", (1, "2026-W46", D(2026, 11, 9))),
    ("week", D(2026, 11, 4), "2026-W53", (8, "2026-W53", D(2026, 12, 28))),
    ("week", D(2026, 11, 4), "2027-W01", (9, "2027-W01", D(2027, 1, 4))),
    ("quarter", D(2026, 11, 15), "2026-Q4", (0, "2026-Q4", D(2026, 11, 15))),
    ("quarter", D(2026, 11, 15), "2027q1", (1, "2027-Q1", D(2027, 1, 1))),
    ("quarter", D(2026, 11, 15), "2027年Q2", (2, "2027-Q2", D(2027, 4, 1))),
    ("quarter", D(2026, 11, 15), "2027年第三季度", (3, "2027-Q3", D(2027, 7, 1))),
    ("quarter", D(2026, 11, 15), "2027年第4季度", (4, "2027-Q4", D(2027, 10, 1))),
]


@pytest.mark.parametrize(("kind", "starts", "typed", "expected"), GOOD_LABELS)
def test_period_by_label(
    kind: PeriodKind, starts: dt.date, typed: str, expected: tuple[int, str, dt.date]
) -> None:
    p = period_by_label(starts, kind, typed)
    assert (p.index, p.label, p.start) == expected
    assert p == period_containing(starts, kind, p.start)


# (kind, starts, typed label) -> the form and example the error shows
BAD_LABELS = [
    ("month", D(2026, 11, 10), "2026-13", "YYYY-MM", "2026-11"),
    ("month", D(2026, 11, 10), "2026-00", "YYYY-MM", "2026-11"),
    ("month", D(2026, 11, 10), "2026-W45", "YYYY-MM", "2026-11"),
    ("month", D(2026, 11, 10), "November", "YYYY-MM", "2026-11"),
    ("month", D(2026, 11, 10), "", "YYYY-MM", "2026-11"),
    ("month", D(2026, 11, 10), "0000-01", "YYYY-MM", "2026-11"),
    ("week", D(2026, 11, 4), "2026-11", "YYYY-Www", "2026-W45"),
    ("week", D(2026, 11, 4), "2027-W53", "YYYY-Www", "2026-W45"),  # 2027 has 52 ISO weeks
    ("week", D(2026, 11, 4), "2026-W00", "YYYY-Www", "2026-W45"),
    ("quarter", D(2026, 11, 15), "2026-Q5", "YYYY-Qn", "2026-Q4"),
    ("quarter", D(2026, 11, 15), "2026-11", "YYYY-Qn", "2026-Q4"),
]


@pytest.mark.parametrize(("kind", "starts", "typed", "form", "example"), BAD_LABELS)
def test_period_by_label_rejects(
    kind: PeriodKind, starts: dt.date, typed: str, form: str, example: str
) -> None:
    with pytest.raises(UserError) as caught:
        period_by_label(starts, kind, typed)
    assert caught.value.code == "period.bad_label"
    assert caught.value.params == {"label": typed, "form": form, "example": example}


@pytest.mark.parametrize(
    ("kind", "starts", "typed", "first"),
    [
        ("month", D(2026, 11, 10), "2026-10", "2026-11"),
        ("week", D(2026, 11, 4), "2026-W44", "2026-W45"),
        ("quarter", D(2026, 11, 15), "2026-Q3", "2026-Q4"),
    ],
)
def test_period_by_label_before_start(
    kind: PeriodKind, starts: dt.date, typed: str, first: str
) -> None:
    with pytest.raises(UserError) as caught:
        period_by_label(starts, kind, typed)
    assert caught.value.code == "period.before_start"
    assert caught.value.params["first"] == first
    assert caught.value.params["starts"] == starts.isoformat()


def test_previous_and_next() -> None:
    starts = D(2026, 11, 10)
    first = first_period(starts, "month")
    assert previous_period(first, starts) is None
    second = next_period(first, starts)
    assert (second.index, second.label, second.start) == (1, "2026-12", D(2026, 12, 1))
    # Going back to the first period clips it again.
    assert previous_period(second, starts) == first
    third = next_period(second, starts)
    assert (third.index, third.label) == (2, "2027-01")
    assert previous_period(third, starts) == second


def test_next_week_across_w53() -> None:
    starts = D(2026, 12, 21)
    w52 = first_period(starts, "week")
    w53 = next_period(w52, starts)
    w01 = next_period(w53, starts)
    assert [w52.label, w53.label, w01.label] == ["2026-W52", "2026-W53", "2027-W01"]
    assert [p.index for p in (w52, w53, w01)] == [0, 1, 2]
    assert previous_period(w01, starts) == w53


@pytest.mark.parametrize(
    ("starts", "kind", "share", "amount", "prorated"),
    [
        # Nov 10-30 is 21 of 30 days: 1,500 x 21 / 30 = 1,050.
        (D(2026, 11, 10), "month", Decimal("0.7"), Decimal(1500), Decimal(1050)),
        # A full month is not prorated.
        (D(2026, 11, 1), "month", Decimal(1), Decimal(1500), Decimal(1500)),
        # Nov 15 - Dec 31 is 47 of Q4's 92 days: 920 x 47 / 92 = 470.
        (D(2026, 11, 15), "quarter", Decimal(47) / Decimal(92), Decimal(920), Decimal(470)),
        # Wed-Sun is 5 of 7 days: 700 x 5 / 7 = 500.
        (D(2026, 11, 4), "week", Decimal(5) / Decimal(7), Decimal(700), Decimal(500)),
    ],
)
def test_proration(
    starts: dt.date, kind: PeriodKind, share: Decimal, amount: Decimal, prorated: Decimal
) -> None:
    p = first_period(starts, kind)
    assert proration(p) == share
    assert isinstance(proration(p), Decimal)
    assert prorate(amount, p) == prorated


# Clocks in Los Angeles fall back from 02:00 PDT (UTC-7) to 01:00 PST (UTC-8) on Nov 1 2026.
UTC = dt.UTC


@pytest.mark.parametrize(
    ("at", "day"),
    [
        (dt.datetime(2026, 11, 1, 6, 59, tzinfo=UTC), D(2026, 10, 31)),  # 23:59 PDT
        (dt.datetime(2026, 11, 1, 7, 0, tzinfo=UTC), D(2026, 11, 1)),  # 00:00 PDT
        (dt.datetime(2026, 11, 1, 8, 30, tzinfo=UTC), D(2026, 11, 1)),  # 01:30 PDT
        (dt.datetime(2026, 11, 1, 9, 30, tzinfo=UTC), D(2026, 11, 1)),  # 01:30 PST
        (dt.datetime(2026, 11, 2, 7, 59, tzinfo=UTC), D(2026, 11, 1)),  # 23:59 PST
        (dt.datetime(2026, 11, 2, 8, 0, tzinfo=UTC), D(2026, 11, 2)),  # 00:00 PST
        (
            dt.datetime(2026, 11, 2, 16, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))),
            D(2026, 11, 2),  # 08:00 UTC = 00:00 PST
        ),
    ],
)
def test_business_day_los_angeles(at: dt.datetime, day: dt.date) -> None:
    assert business_day(at, LA) == day


def test_business_day_other_zone() -> None:
    at = dt.datetime(2026, 11, 1, 16, 30, tzinfo=UTC)
    assert business_day(at, "Asia/Shanghai") == D(2026, 11, 2)
    assert business_day(at, LA) == D(2026, 11, 1)


def test_business_day_rejects_naive() -> None:
    with pytest.raises(ValueError, match="aware"):
        business_day(dt.datetime(2026, 11, 1, 12, 0), LA)  # noqa: DTZ001


@pytest.mark.parametrize(
    ("day", "t", "utc"),
    [
        # Saturday before the change: PDT.
        (D(2026, 10, 31), dt.time(9, 0), dt.datetime(2026, 10, 31, 16, 0, tzinfo=UTC)),
        # The day of the change, after it: PST.
        (D(2026, 11, 1), dt.time(9, 0), dt.datetime(2026, 11, 1, 17, 0, tzinfo=UTC)),
        # 01:30 happens twice on Nov 1: the first occurrence (PDT) is taken.
        (D(2026, 11, 1), dt.time(1, 30), dt.datetime(2026, 11, 1, 8, 30, tzinfo=UTC)),
        # Before the repeated hour: PDT.
        (D(2026, 11, 1), dt.time(0, 30), dt.datetime(2026, 11, 1, 7, 30, tzinfo=UTC)),
        # 02:30 does not exist on Mar 8 2026 (02:00 PST jumps to 03:00 PDT): moved to 03:30 PDT.
        (D(2026, 3, 8), dt.time(2, 30), dt.datetime(2026, 3, 8, 10, 30, tzinfo=UTC)),
        (D(2026, 3, 8), dt.time(3, 0), dt.datetime(2026, 3, 8, 10, 0, tzinfo=UTC)),
    ],
)
def test_local_datetime_dst(day: dt.date, t: dt.time, utc: dt.datetime) -> None:
    local = local_datetime(day, t, LA)
    assert str(local.tzinfo) == LA
    # Compared in UTC: == across zones is False inside a repeated hour (PEP 495).
    assert local.astimezone(UTC) == utc


def test_local_datetime_nonexistent_time_reads_as_existing_wall_clock() -> None:
    local = local_datetime(D(2026, 3, 8), dt.time(2, 30), LA)
    assert (local.hour, local.minute) == (3, 30)
    assert local.utcoffset() == dt.timedelta(hours=-7)
    assert business_day(local, LA) == D(2026, 3, 8)


def test_local_datetime_day_of_fall_back_is_25_hours() -> None:
    saturday = local_datetime(D(2026, 10, 31), dt.time(9, 0), LA)
    sunday = local_datetime(D(2026, 11, 1), dt.time(9, 0), LA)
    # Subtract in UTC: same-zone subtraction is wall-clock arithmetic (24 hours).
    assert sunday.astimezone(UTC) - saturday.astimezone(UTC) == dt.timedelta(hours=25)
    assert (sunday.hour, sunday.utcoffset()) == (9, dt.timedelta(hours=-8))


def test_local_datetime_rejects_aware_time() -> None:
    with pytest.raises(ValueError, match="naive"):
        local_datetime(D(2026, 11, 1), dt.time(9, 0, tzinfo=UTC), LA)


KINDS: tuple[PeriodKind, ...] = ("week", "month", "quarter")
dates = st.dates(min_value=D(2000, 1, 1), max_value=D(2090, 12, 31))


@given(starts=dates, offset=st.integers(min_value=0, max_value=4000), kind=st.sampled_from(KINDS))
def test_periods_tile_the_calendar(starts: dt.date, offset: int, kind: PeriodKind) -> None:
    day = starts + dt.timedelta(days=offset)
    p = period_containing(starts, kind, day)
    assert p.contains(day)
    assert p.calendar_start <= p.start <= p.end == p.calendar_end
    assert (p.start == starts) if p.index == 0 else (p.start == p.calendar_start > starts)
    assert period_by_label(starts, kind, p.label) == p
    following = next_period(p, starts)
    assert following.start == p.end + dt.timedelta(days=1)
    assert following.index == p.index + 1
    assert previous_period(following, starts) == p
    assert Decimal(0) < proration(p) <= Decimal(1)
