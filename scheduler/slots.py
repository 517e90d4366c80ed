"""When things are due: a deal's slots on its own wall clock, quiet hours, escalation steps.

Pure functions of a deal's schedule and instants passed in; nothing here reads a clock. A slot
is named by its local business day (``2026-11-09``), so a weekly recap at ``mon 09:00`` is one
slot per Monday whatever the offset that day, and a daylight-saving change moves the instant,
never the wall-clock time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from kpi.model import Deal, Escalation, Schedule
from kpi.periods import business_day, local_datetime

__all__ = [
    "JOB_KINDS",
    "EscalationStep",
    "JobKind",
    "Slot",
    "defer_quiet",
    "due_slots",
    "escalation_steps",
    "in_quiet",
    "job_time",
    "next_slot",
]

JobKind = Literal["recap", "pace", "reminder"]
JOB_KINDS: tuple[JobKind, ...] = ("recap", "pace", "reminder")


@dataclass(frozen=True)
class Slot:
    """One occurrence of a deal's scheduled job."""

    kind: JobKind
    day: dt.date
    """The local business day the slot belongs to; its ISO form is the outbox ``slot``."""
    due: dt.datetime
    """The instant it comes due (UTC)."""

    @property
    def key(self) -> str:
        return self.day.isoformat()


def job_time(schedule: Schedule, kind: JobKind) -> tuple[dt.time, int | None] | None:
    """The wall-clock time of a job kind and, for the recap, its weekday (0 = Monday).

    Returns:
        ``None`` when the deal's schedule does not run that kind.
    """
    if kind == "recap":
        if schedule.recap_time is None or schedule.recap_weekday is None:
            return None
        return schedule.recap_time, schedule.recap_weekday
    if kind == "pace":
        return (schedule.pace_check, None) if schedule.pace_check is not None else None
    return (schedule.reminder, None) if schedule.reminder is not None else None


def last_slot_day(deal: Deal, kind: JobKind) -> dt.date | None:
    """The last day a job kind runs for a deal that ends (None: it runs on).

    Reminders and pace checks stop with the deal's last day; the recap runs on for a week,
    so that the recap covering the deal's last days (and its final statement) still goes out.
    """
    if deal.ends is None:
        return None
    return deal.ends + dt.timedelta(days=7) if kind == "recap" else deal.ends


def _days(first: dt.date, last: dt.date) -> Iterator[dt.date]:
    day = first
    while day <= last:
        yield day
        day += dt.timedelta(days=1)


def due_slots(
    deal: Deal,
    kind: JobKind,
    *,
    after: dt.date | None,
    origin: dt.datetime,
    now: dt.datetime,
) -> list[Slot]:
    """The slots of one job kind that came due up to ``now``, oldest first.

    Args:
        deal: The deal (its schedule, time zone and start date).
        kind: Which job.
        after: The last slot day already enumerated (the cursor); ``None`` if never.
        origin: Without a cursor, slots due before this instant are not the bot's to send
            (the deal was applied after them); usually when the deal was first applied.
        now: The present instant (aware).

    Returns:
        Every slot with ``due <= now`` on a day after ``after`` (or at/after ``origin``).
    """
    when = job_time(deal.schedule, kind)
    if when is None:
        return []
    at, weekday = when
    tz = deal.timezone
    if after is not None:
        first = after + dt.timedelta(days=1)
    else:
        first = max(business_day(origin, tz), deal.starts)
    found: list[Slot] = []
    last = business_day(now, tz)
    stop = last_slot_day(deal, kind)
    for day in _days(first, last if stop is None else min(last, stop)):
        if weekday is not None and day.weekday() != weekday:
            continue
        due = local_datetime(day, at, tz).astimezone(dt.UTC)
        if due > now:
            break
        if after is None and due < origin:
            continue
        found.append(Slot(kind, day, due))
    return found


def next_slot(
    deal: Deal,
    kind: JobKind,
    *,
    after: dt.datetime,
    cursor: dt.date | None,
    origin: dt.datetime,
) -> Slot | None:
    """The first slot of a job kind that comes due strictly after ``after``.

    It is the slot :func:`due_slots` would return first once ``now`` reaches its due time,
    given the same cursor and origin; replay moves its virtual clock to it.

    Args:
        deal: The deal (its schedule, time zone and start date).
        kind: Which job.
        after: An instant (aware); the slot is due after it.
        cursor: The last slot day already enumerated; ``None`` if never.
        origin: Without a cursor, slots due before this instant are not the bot's to send.

    Returns:
        The slot, or ``None`` when the deal's schedule does not run that kind.
    """
    when = job_time(deal.schedule, kind)
    if when is None:
        return None
    at, weekday = when
    tz = deal.timezone
    # The day before ``after``'s local day too: a slot's instant is on its own local day, and
    # starting a day early costs nothing while never skipping one.
    first = business_day(after, tz) - dt.timedelta(days=1)
    if cursor is not None:
        first = max(first, cursor + dt.timedelta(days=1))
    else:
        first = max(first, business_day(origin, tz))
    first = max(first, deal.starts)
    stop = last_slot_day(deal, kind)
    # Eight days hold at least one occurrence of a daily or weekly slot after ``first``.
    for day in _days(first, first + dt.timedelta(days=8)):
        if stop is not None and day > stop:
            return None
        if weekday is not None and day.weekday() != weekday:
            continue
        due = local_datetime(day, at, tz).astimezone(dt.UTC)
        if due <= after or (cursor is None and due < origin):
            continue
        return Slot(kind, day, due)
    return None


def in_quiet(at: dt.datetime, quiet: tuple[dt.time, dt.time] | None, tz: str) -> bool:
    """Whether an instant falls in the quiet hours ``[start, end)`` on the deal's wall clock.

    A window whose start is after its end (``22:00-08:00``) runs over midnight; a window
    whose start equals its end is empty.
    """
    if quiet is None:
        return False
    start, end = quiet
    local = at.astimezone(ZoneInfo(tz)).time().replace(tzinfo=None)
    if start < end:
        return start <= local < end
    if start > end:
        return local >= start or local < end
    return False


def defer_quiet(at: dt.datetime, quiet: tuple[dt.time, dt.time] | None, tz: str) -> dt.datetime:
    """The instant a message due at ``at`` may go: ``at`` itself, or the end of quiet hours.

    Args:
        at: When the message is due (aware).
        quiet: The deal's quiet hours, ``(start, end)`` as local wall-clock times, or ``None``.
        tz: The deal's time zone.

    Returns:
        An aware UTC instant, never earlier than ``at``.
    """
    if not in_quiet(at, quiet, tz):
        return at.astimezone(dt.UTC)
    assert quiet is not None
    _, end = quiet
    local = at.astimezone(ZoneInfo(tz))
    day = local.date()
    if local.time().replace(tzinfo=None) >= end:
        # Quiet since the evening: it ends tomorrow morning.
        day += dt.timedelta(days=1)
    return local_datetime(day, end, tz).astimezone(dt.UTC)


@dataclass(frozen=True)
class EscalationStep:
    """One scheduled message of an escalation: a level's ``round``-th notice."""

    level: int
    round: int
    """1 for the first notice to the level, then 2, 3... up to ``Escalation.max``."""
    nominal: dt.datetime
    """When it would go without quiet hours (UTC)."""
    due: dt.datetime
    """When it goes: ``nominal`` deferred past quiet hours (UTC)."""

    @property
    def key(self) -> str:
        return f"L{self.level}.{self.round}"


def escalation_steps(
    started: dt.datetime, levels: Sequence[int], rules: Escalation, tz: str
) -> list[EscalationStep]:
    """Every message an escalation sends if nobody acknowledges it, in order.

    The first level is told at ``started``; each further level ``after`` later than the one
    before it (and the levels told earlier keep being told). Each level's notice repeats every
    ``repeat`` until it has been sent ``max`` times. A notice due in quiet hours waits for
    their end: it is deferred, never dropped, and keeps its own number; the level's next
    notice follows ``repeat`` after the deferred one. So rounds never share an instant and
    the numbering has no gaps (1/4, 2/4, 3/4 at 09:00 after the quiet hours, 4/4 later).

    Args:
        started: When the escalation started (aware).
        levels: The contact levels present in the deal, in any order.
        rules: The deal's escalation timing.
        tz: The deal's time zone (quiet hours are local).

    Returns:
        The steps, ordered by due time, then level.
    """
    steps: list[EscalationStep] = []
    start = started.astimezone(dt.UTC)
    for index, level in enumerate(sorted(set(levels))):
        nominal = start + rules.after * index
        for round_ in range(1, max(rules.max, 1) + 1):
            due = defer_quiet(nominal, rules.quiet, tz)
            steps.append(EscalationStep(level, round_, nominal, due))
            # The next notice counts from when this one actually goes.
            nominal = due + rules.repeat
    return sorted(steps, key=lambda s: (s.due, s.nominal, s.level))
