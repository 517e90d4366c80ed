"""When things are due: slots on the deal's wall clock, quiet hours, the escalation plan."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from bot.core import Attachment, Outgoing
from bot.core.rich import Rich
from kpi.model import ChatLink, Deal, Escalation, FeePlan, Metric, Schedule
from scheduler import messages
from scheduler.slots import defer_quiet, due_slots, escalation_steps, in_quiet, next_slot

LA = "America/Los_Angeles"
QUIET = (dt.time(22, 0), dt.time(8, 0))


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def make_deal(schedule: Schedule, *, starts: dt.date = dt.date(2026, 10, 1)) -> Deal:
    return Deal(
        id="d",
        name="D",
        currency="USD",
        timezone=LA,
        locale="en",
        starts=starts,
        period="month",
        trial_periods=0,
        truth="seller",
        tolerance=Decimal("0.02"),
        metrics={"gmv": Metric("gmv", "GMV")},
        targets=(),
        fees=FeePlan(),
        trial_fees=None,
        members={},
        admins=(),
        contacts=(),
        chats=(ChatLink("slack:C1", "shared"),),
        schedule=schedule,
    )


def test_weekly_recap_slots_keep_nine_local_across_fall_back() -> None:
    deal = make_deal(Schedule(recap_weekday=0, recap_time=dt.time(9, 0)))
    slots = due_slots(
        deal,
        "recap",
        after=dt.date(2026, 10, 19),
        origin=utc("2026-10-01T00:00:00-07:00"),
        now=utc("2026-11-09T09:00:00-08:00"),
    )
    assert [(s.key, s.due) for s in slots] == [
        ("2026-10-26", utc("2026-10-26T16:00:00+00:00")),  # 09:00 PDT
        ("2026-11-02", utc("2026-11-02T17:00:00+00:00")),  # 09:00 PST
        ("2026-11-09", utc("2026-11-09T17:00:00+00:00")),
    ]


def test_slot_is_not_due_a_second_early() -> None:
    deal = make_deal(Schedule(recap_weekday=0, recap_time=dt.time(9, 0)))
    common: dict[str, Any] = {
        "after": dt.date(2026, 10, 26),
        "origin": utc("2026-10-01T00:00:00-07:00"),
    }
    assert due_slots(deal, "recap", now=utc("2026-11-02T08:59:59-08:00"), **common) == []
    assert len(due_slots(deal, "recap", now=utc("2026-11-02T09:00:00-08:00"), **common)) == 1


def test_without_a_cursor_slots_before_the_deal_was_applied_are_not_ours() -> None:
    deal = make_deal(Schedule(pace_check=dt.time(10, 0)))
    slots = due_slots(
        deal,
        "pace",
        after=None,
        origin=utc("2026-11-03T12:00:00-08:00"),
        now=utc("2026-11-05T11:00:00-08:00"),
    )
    assert [s.key for s in slots] == ["2026-11-04", "2026-11-05"]


def test_slots_never_precede_the_deal_start() -> None:
    deal = make_deal(Schedule(reminder=dt.time(22, 30)), starts=dt.date(2026, 11, 3))
    slots = due_slots(
        deal,
        "reminder",
        after=None,
        origin=utc("2026-11-01T00:00:00-07:00"),
        now=utc("2026-11-04T23:00:00-08:00"),
    )
    assert [s.key for s in slots] == ["2026-11-03", "2026-11-04"]


def test_next_slot_is_strictly_later_and_keeps_local_time_across_fall_back() -> None:
    deal = make_deal(Schedule(recap_weekday=0, recap_time=dt.time(9, 0)))
    common: dict[str, Any] = {
        "cursor": dt.date(2026, 10, 26),
        "origin": utc("2026-10-01T00:00:00-07:00"),
    }
    # Sunday 2026-11-01 is the fall-back day: the next Monday 09:00 is 17:00 UTC.
    found = next_slot(deal, "recap", after=utc("2026-10-26T09:00:00-07:00"), **common)
    assert found is not None and (found.key, found.due) == ("2026-11-02", utc("2026-11-02T17:00Z"))
    # At the slot's own instant the next one is a week on; a second before, it is this one.
    at = utc("2026-11-02T09:00:00-08:00")
    later = next_slot(deal, "recap", after=at, cursor=dt.date(2026, 11, 2), origin=at)
    assert later is not None and later.key == "2026-11-09"
    earlier = next_slot(deal, "recap", after=at - dt.timedelta(seconds=1), **common)
    assert earlier is not None and earlier.due == at


def test_next_slot_agrees_with_due_slots() -> None:
    """Whatever the instant, the next slot is the one ``due_slots`` yields first once the
    clock reaches it, and nothing before it."""
    deal = make_deal(Schedule(pace_check=dt.time(10, 0)), starts=dt.date(2026, 11, 3))
    origin = utc("2026-10-30T12:00:00-07:00")
    after = origin
    cursor: dt.date | None = None
    for _ in range(5):
        found = next_slot(deal, "pace", after=after, cursor=cursor, origin=origin)
        assert found is not None and found.due > after
        common: dict[str, Any] = {"after": cursor, "origin": origin}
        assert due_slots(deal, "pace", now=found.due - dt.timedelta(microseconds=1), **common) == []
        assert due_slots(deal, "pace", now=found.due, **common) == [found]
        after, cursor = found.due, found.day
    assert cursor == dt.date(2026, 11, 7)  # the first slot is on the deal's start day
    assert next_slot(make_deal(Schedule()), "pace", after=after, cursor=None, origin=origin) is None


def test_kinds_not_in_the_schedule_have_no_slots() -> None:
    deal = make_deal(Schedule(recap_weekday=None, recap_time=None))
    for kind in ("recap", "pace", "reminder"):
        assert (
            due_slots(
                deal,
                kind,
                after=None,
                origin=utc("2026-10-01T00:00:00Z"),
                now=utc("2027-01-01T00:00:00Z"),
            )
            == []
        )


@pytest.mark.parametrize(
    ("local", "quiet"),
    [
        ("2026-11-03T21:59:59-08:00", False),
        ("2026-11-03T22:00:00-08:00", True),
        ("2026-11-04T03:00:00-08:00", True),
        ("2026-11-04T07:59:59-08:00", True),
        ("2026-11-04T08:00:00-08:00", False),
    ],
)
def test_quiet_hours_over_midnight(local: str, quiet: bool) -> None:
    assert in_quiet(utc(local), QUIET, LA) is quiet


def test_deferred_to_the_end_of_quiet_hours_on_the_right_morning() -> None:
    assert defer_quiet(utc("2026-11-03T23:30:00-08:00"), QUIET, LA) == utc(
        "2026-11-04T08:00:00-08:00"
    )
    assert defer_quiet(utc("2026-11-04T01:00:00-08:00"), QUIET, LA) == utc(
        "2026-11-04T08:00:00-08:00"
    )
    assert defer_quiet(utc("2026-11-04T12:00:00-08:00"), QUIET, LA) == utc(
        "2026-11-04T12:00:00-08:00"
    )
    # Over the fall-back night, 08:00 is in PST though the night began in PDT.
    assert defer_quiet(utc("2026-10-31T23:00:00-07:00"), QUIET, LA) == utc(
        "2026-11-01T08:00:00-08:00"
    )
    # A daytime window and an empty one.
    lunch = (dt.time(12, 0), dt.time(13, 0))
    assert defer_quiet(utc("2026-11-04T12:30:00-08:00"), lunch, LA) == utc(
        "2026-11-04T13:00:00-08:00"
    )
    same = (dt.time(9, 0), dt.time(9, 0))
    assert not in_quiet(utc("2026-11-04T09:00:00-08:00"), same, LA)


def test_escalation_plan_levels_repeats_and_quiet_deferral() -> None:
    rules = Escalation(
        after=dt.timedelta(hours=4), repeat=dt.timedelta(hours=12), max=3, quiet=QUIET
    )
    steps = escalation_steps(utc("2026-11-03T10:00:00-08:00"), [2, 1, 1], rules, LA)
    plan = [
        (s.key, s.due.astimezone(dt.timezone(dt.timedelta(hours=-8))).strftime("%d %H:%M"))
        for s in steps
    ]
    assert plan == [
        ("L1.1", "03 10:00"),
        ("L2.1", "03 14:00"),
        ("L1.2", "04 08:00"),  # 22:00 is quiet
        ("L2.2", "04 08:00"),  # 02:00 is quiet
        ("L1.3", "04 20:00"),  # repeat counts from the deferred notice
        ("L2.3", "04 20:00"),
    ]
    assert all(s.due >= s.nominal for s in steps)


def test_a_notice_deferred_by_quiet_hours_keeps_its_number_and_the_next_follows_repeat_later() -> (
    None
):
    """max 4, repeat 6h, quiet 23:00-09:00, started 11:00: 11:00, 17:00, then the 23:00 notice
    goes at 09:00 as 3/4 and 4/4 at 15:00; no two rounds share an instant, none is skipped."""
    rules = Escalation(
        after=dt.timedelta(hours=2),
        repeat=dt.timedelta(hours=6),
        max=4,
        quiet=(dt.time(23, 0), dt.time(9, 0)),
    )
    steps = escalation_steps(utc("2026-11-03T11:00:00-08:00"), [1], rules, LA)
    local = dt.timezone(dt.timedelta(hours=-8))
    assert [(s.round, s.due.astimezone(local).strftime("%d %H:%M")) for s in steps] == [
        (1, "03 11:00"),
        (2, "03 17:00"),
        (3, "04 09:00"),
        (4, "04 15:00"),
    ]


def test_outbox_payload_round_trip() -> None:
    msg = Outgoing(
        to="slack:C1",
        text="hi",
        kind="recap",
        files=(Attachment("c.png", b"\x89PNG\x00\xff", title="chart"),),
        rich=Rich.of("t", [("head", ["a line"]), (None, [])], "foot"),
        mentions=("slack:U1",),
    )
    back = messages.decode(messages.encode(msg), "telegram:-1")
    assert back == dataclasses.replace(msg, to="telegram:-1")
    with pytest.raises(ValueError):
        messages.decode("[1]", "x")


def test_a_long_outage_names_the_latest_missed_slots_and_counts_the_rest() -> None:
    from scheduler.outbox import OutboxRow
    from scheduler.recap import missed_lines, translator

    deal = make_deal(Schedule())
    start = utc("2026-11-01T10:00:00-08:00")
    rows = [
        OutboxRow(
            i,
            "d",
            "pace",
            f"s{i}",
            "*",
            start + dt.timedelta(days=i),
            "missed",
            None,
            None,
            0,
            None,
            None,
            None,
            None,
            start,
            start,
        )
        for i in range(14)
    ]
    (line,) = missed_lines(translator("en"), deal, rows)
    assert line.startswith("Not sent while the bot was offline (past the grace window): 4 earlier")
    assert "pace check 11-05 10:00" in line and "pace check 11-14 10:00" in line
    assert "11-04 10:00" not in line


def test_a_deal_that_ends_stops_its_schedule_after_the_last_recap() -> None:
    # The deal ends on Wednesday Nov 11. Reminders and pace checks stop that day; the recap
    # of Monday Nov 16 (covering Nov 9-15, the deal's last days) is the last one.
    schedule = Schedule(recap_weekday=0, recap_time=dt.time(9, 0), reminder=dt.time(22, 30))
    deal = dataclasses.replace(make_deal(schedule), ends=dt.date(2026, 11, 11))
    common: dict[str, Any] = {
        "after": dt.date(2026, 11, 8),
        "origin": utc("2026-10-01T00:00:00-07:00"),
        "now": utc("2026-12-01T23:00:00-08:00"),
    }
    reminders = due_slots(deal, "reminder", **common)
    assert [s.key for s in reminders] == ["2026-11-09", "2026-11-10", "2026-11-11"]
    assert [s.key for s in due_slots(deal, "recap", **common)] == ["2026-11-09", "2026-11-16"]
    assert (
        next_slot(
            deal,
            "recap",
            after=utc("2026-11-16T10:00:00-08:00"),
            cursor=None,
            origin=utc("2026-10-01T00:00:00-07:00"),
        )
        is None
    )
    assert (
        next_slot(
            deal,
            "reminder",
            after=utc("2026-11-11T23:00:00-08:00"),
            cursor=None,
            origin=utc("2026-10-01T00:00:00-07:00"),
        )
        is None
    )
