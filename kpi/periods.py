"""Assessment periods (calendar weeks, months, quarters) and the deal's business day and time."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, replace
from decimal import Decimal
from zoneinfo import ZoneInfo

from kpi.errors import UserError
from kpi.model import PeriodKind

ONE_DAY = dt.timedelta(days=1)

#: How a period label of each kind is written; shown to users when a label is wrong.
LABEL_FORMS: dict[PeriodKind, str] = {"week": "YYYY-Www", "month": "YYYY-MM", "quarter": "YYYY-Qn"}

_CN_NUMERALS = {"一": 1, "二": 2, "三": 3, "四": 4}

_MONTH_RE = re.compile(r"(\d{4})\s*(?:[-/.]\s*(\d{1,2})|年\s*(\d{1,2})\s*月?)")
_WEEK_RE = re.compile(
    r"(\d{4})\s*(?:-?\s*W\s*(\d{1,2})|年\s*(?:W\s*(\d{1,2})|第?\s*(\d{1,2})\s*周))",
    re.IGNORECASE,
)
_QUARTER_RE = re.compile(
    r"(\d{4})\s*(?:-?\s*Q\s*([1-4])|年\s*(?:Q\s*([1-4])|第?\s*([1-4一二三四])\s*季度?))",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Period:
    """One assessment period of a deal.

    ``calendar_start``..``calendar_end`` is the whole calendar week, month or quarter;
    ``start``..``end`` is the part the deal covers (only the first period is clipped, to the
    deal's start date). Both ranges are inclusive. ``index`` 0 is the deal's first period."""

    kind: PeriodKind
    index: int
    start: dt.date
    end: dt.date
    calendar_start: dt.date
    calendar_end: dt.date
    label: str

    @property
    def days(self) -> int:
        """Days the deal covers in this period (inclusive, clipped)."""
        return (self.end - self.start).days + 1

    @property
    def calendar_days(self) -> int:
        """Days in the whole calendar period."""
        return (self.calendar_end - self.calendar_start).days + 1

    @property
    def clipped(self) -> bool:
        """True for a first period that starts after its calendar start, or a last one that
        ends (with the deal) before its calendar end."""
        return self.start != self.calendar_start or self.end != self.calendar_end

    def contains(self, day: dt.date) -> bool:
        """Whether ``day`` is one of the period's (clipped) days."""
        return self.start <= day <= self.end

    def is_trial(self, trial_periods: int) -> bool:
        """Whether this period falls in the deal's trial (the first ``trial_periods`` periods)."""
        return self.index < trial_periods


def _calendar_bounds(kind: PeriodKind, day: dt.date) -> tuple[dt.date, dt.date, str]:
    """The calendar period of ``kind`` containing ``day``: start, end and label."""
    if kind == "week":
        start = day - dt.timedelta(days=day.weekday())
        iso = day.isocalendar()
        return start, start + dt.timedelta(days=6), f"{iso.year}-W{iso.week:02d}"
    if kind == "month":
        start = day.replace(day=1)
        return start, _first_of_next_month(start) - ONE_DAY, f"{day.year}-{day.month:02d}"
    if kind == "quarter":
        quarter = (day.month - 1) // 3 + 1
        start = dt.date(day.year, 3 * quarter - 2, 1)
        end = _first_of_next_month(dt.date(day.year, 3 * quarter, 1)) - ONE_DAY
        return start, end, f"{day.year}-Q{quarter}"
    raise ValueError(f"unknown period kind {kind!r}")


def _first_of_next_month(first: dt.date) -> dt.date:
    return dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)


def _ordinal(kind: PeriodKind, calendar_start: dt.date) -> int:
    """A running number of calendar periods, so that consecutive periods differ by one."""
    if kind == "week":
        return calendar_start.toordinal() // 7
    if kind == "month":
        return calendar_start.year * 12 + calendar_start.month - 1
    return calendar_start.year * 4 + (calendar_start.month - 1) // 3


def first_period(starts: dt.date, kind: PeriodKind) -> Period:
    """The deal's first period, clipped to its start date.

    Args:
        starts: The deal's start date.
        kind: The deal's period kind.

    Returns:
        The period with index 0.
    """
    return period_containing(starts, kind, starts)


def period_containing(starts: dt.date, kind: PeriodKind, day: dt.date) -> Period:
    """The deal's period that contains ``day``.

    Args:
        starts: The deal's start date.
        kind: The deal's period kind.
        day: A business day on or after ``starts``.

    Returns:
        The period, clipped to ``starts`` when it is the first one.

    Raises:
        UserError: ``period.before_start`` when ``day`` is before the deal starts.
    """
    if day < starts:
        _, _, first_label = _calendar_bounds(kind, starts)
        raise UserError(
            "period.before_start",
            label=day.isoformat(),
            starts=starts.isoformat(),
            first=first_label,
        )
    cal_start, cal_end, label = _calendar_bounds(kind, day)
    first_start, _, _ = _calendar_bounds(kind, starts)
    index = _ordinal(kind, cal_start) - _ordinal(kind, first_start)
    return Period(
        kind=kind,
        index=index,
        start=max(cal_start, starts),
        end=cal_end,
        calendar_start=cal_start,
        calendar_end=cal_end,
        label=label,
    )


def _match(pattern: re.Pattern[str], text: str) -> tuple[int, str] | None:
    """The year and the number part of a label, whichever spelling matched."""
    match = pattern.fullmatch(text)
    if match is None:
        return None
    number = next(group for group in match.groups()[1:] if group is not None)
    return int(match[1]), number


def _parse_label(kind: PeriodKind, text: str) -> dt.date | None:
    """The first calendar day of the period ``text`` names, or None if it is not one."""
    if kind == "month":
        found = _match(_MONTH_RE, text)
        if found is None or not 1 <= int(found[1]) <= 12:
            return None
        return dt.date(found[0], int(found[1]), 1)
    if kind == "week":
        found = _match(_WEEK_RE, text)
        if found is None:
            return None
        # fromisocalendar rejects W53 in a 52-week year (ValueError), which is what we want.
        return dt.date.fromisocalendar(found[0], int(found[1]), 1)
    found = _match(_QUARTER_RE, text)
    if found is None:
        return None
    quarter = _CN_NUMERALS.get(found[1]) or int(found[1])
    return dt.date(found[0], 3 * quarter - 2, 1)


def period_by_label(starts: dt.date, kind: PeriodKind, label: str) -> Period:
    """The deal's period named by a label a person typed.

    Accepts ``2026-11`` (also ``2026/11``, ``2026年11月``) for months, ``2026-W45`` (also
    ``2026W45``, ``2026年第45周``) for weeks, and ``2026-Q4`` (also ``2026年Q4``,
    ``2026年第四季度``) for quarters; full-width characters are accepted.

    Args:
        starts: The deal's start date.
        kind: The deal's period kind; only labels of this kind are accepted.
        label: The label as typed.

    Returns:
        The period, clipped when it is the deal's first.

    Raises:
        UserError: ``period.bad_label`` (with ``form`` and ``example`` of the right form) when the
            label does not name a period of this kind; ``period.before_start`` when the period
            ends before the deal starts.
    """
    text = unicodedata.normalize("NFKC", label).strip()
    try:
        first_day = _parse_label(kind, text)
    except ValueError:  # year 0 and the like
        first_day = None
    if first_day is None:
        raise UserError(
            "period.bad_label",
            label=label,
            form=LABEL_FORMS[kind],
            example=_calendar_bounds(kind, starts)[2],
        )
    cal_start, cal_end, _ = _calendar_bounds(kind, first_day)
    if cal_end < starts:
        raise UserError(
            "period.before_start",
            label=label,
            starts=starts.isoformat(),
            first=_calendar_bounds(kind, starts)[2],
        )
    return period_containing(starts, kind, max(cal_start, starts))


def clip_to_end(p: Period, ends: dt.date | None) -> Period:
    """``p`` clipped to a deal's last day (unchanged for an open deal or an earlier period).

    Args:
        p: A period of the deal.
        ends: The deal's ``ends:`` date, or None.

    Returns:
        The period with ``end`` at most ``ends`` (never before its start).
    """
    if ends is None or p.end <= ends or ends < p.start:
        return p
    return replace(p, end=ends)


def last_period(starts: dt.date, kind: PeriodKind, ends: dt.date | None) -> Period | None:
    """The deal's last period, clipped to ``ends`` (None for an open-ended deal)."""
    if ends is None:
        return None
    return clip_to_end(period_containing(starts, kind, max(ends, starts)), ends)


def takes_effect(starts: dt.date, kind: PeriodKind, effective: dt.date) -> Period:
    """The first period judged by terms that take effect on ``effective``.

    A period is judged by the terms in effect on its first day, so a change dated inside a
    period applies from the next one (issue 12, item 10).

    Args:
        starts: The deal's start date.
        kind: The deal's period kind.
        effective: The day the terms take effect.

    Returns:
        The period containing ``effective`` if it starts that day, else the one after it.
    """
    period = period_containing(starts, kind, max(effective, starts))
    return period if period.start >= effective else next_period(period, starts)


def previous_period(p: Period, starts: dt.date) -> Period | None:
    """The period before ``p``, or None when ``p`` is the deal's first."""
    if p.index == 0:
        return None
    return period_containing(starts, p.kind, p.calendar_start - ONE_DAY)


def next_period(p: Period, starts: dt.date) -> Period:
    """The period after ``p``."""
    return period_containing(starts, p.kind, p.calendar_end + ONE_DAY)


def proration(p: Period) -> Decimal:
    """The covered share of the calendar period: ``days / calendar_days``.

    Both are integers, so the quotient is exact up to the decimal context's precision
    (28 significant digits); to prorate an amount without that rounding use :func:`prorate`.
    """
    return Decimal(p.days) / Decimal(p.calendar_days)


def prorate(amount: Decimal, p: Period) -> Decimal:
    """``amount`` x days / calendar_days, multiplying first so a terminating result is exact."""
    return amount * p.days / p.calendar_days


def business_day(at: dt.datetime, tz: str) -> dt.date:
    """The deal's business date at an instant.

    Args:
        at: An aware datetime.
        tz: The deal's IANA time zone, e.g. ``America/Los_Angeles``.

    Returns:
        The calendar date at ``at`` on the deal's wall clock.

    Raises:
        ValueError: If ``at`` is naive (its zone would be a guess).
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("business_day needs an aware datetime")
    return at.astimezone(ZoneInfo(tz)).date()


def local_datetime(day: dt.date, t: dt.time, tz: str) -> dt.datetime:
    """The aware instant at wall-clock time ``t`` on ``day`` in zone ``tz``.

    Daylight-saving edges are resolved so that a daily job fires exactly once a day:

    * An ambiguous time (the repeated hour when clocks fall back) means its first occurrence,
      the one still on daylight time.
    * A nonexistent time (the hour skipped when clocks spring forward) moves forward by the
      length of the gap, e.g. 02:30 on a spring-forward day in Los Angeles becomes 03:30 PDT.
      That is the instant a clock that did not jump would show ``t`` (PEP 495 with
      ``fold=0``), and it keeps the job after the moment it was meant for, never before.

    The result carries the ``ZoneInfo``, so it prints as local time. Compare and subtract it in
    UTC (``.astimezone(dt.UTC)``): Python subtracts two datetimes of the same zone on the wall
    clock, ignoring a change of offset between them, and ``==`` across zones is always False
    for a time in a repeated hour (PEP 495).

    Args:
        day: The local date.
        t: A naive wall-clock time.
        tz: The IANA time zone.

    Returns:
        An aware datetime in ``tz`` whose wall clock exists.
    """
    if t.tzinfo is not None:
        raise ValueError("local_datetime takes a naive wall-clock time")
    zone = ZoneInfo(tz)
    wall = dt.datetime.combine(day, t.replace(fold=0), tzinfo=zone)
    # The round trip through UTC normalises a time in a gap to the wall clock that exists.
    return wall.astimezone(dt.UTC).astimezone(zone)
