"""Scheduled work played out on the virtual clock through ``kpibot replay``'s runner.

Each test writes a deal file and a script of messages and tick lines, runs it through the real
core (``bot.replay.run_replay``: SQLite, migrations, router, scheduler installed by
``build_core``), and asserts on the recorded messages: kind, recipient, local time, text.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from bot.app import build_core, run_replay
from bot.core import VirtualClock
from bot.replay import RecordingPort, parse_script
from bot.settings import Settings
from kpi.db import make_engine
from scheduler.outbox import Outbox
from tests.test_scheduler_support import (
    AGENCY,
    AGENCY_CHAT,
    AGENCY_HEAD,
    LINKED,
    SELLER,
    SELLER_2,
    SHARED_CHAT,
    backfill,
    by_time,
    deal_yaml,
    of_kind,
    register_escalation_routes,
    replay,
    report_days,
    say,
    tick,
    ticks,
)

QUARTER_HOUR = dt.timedelta(minutes=15)


async def test_recap_keeps_its_local_time_across_the_daylight_saving_change() -> None:
    """Los Angeles falls back on Sunday 2026-11-01: Monday 09:00 is 16:00 UTC before, 17:00
    UTC after. The recap fires at 09:00 local on both Mondays, never at 08:00 or 10:00."""
    text = deal_yaml(starts="2026-10-01", schedule="schedule:\n  recap: mon 09:00\n")
    lines = [
        tick("2026-10-01T00:00:00-07:00"),
        *report_days(dt.date(2026, 10, 1), 25, 1700, at="21:00:00-07:00"),
        *ticks("2026-10-26T06:00:00-07:00", "2026-10-26T12:00:00-07:00", QUARTER_HOUR),
        *ticks("2026-11-02T06:00:00-08:00", "2026-11-02T12:00:00-08:00", QUARTER_HOUR),
    ]
    sent = await replay(text, by_time(lines))
    # Between the script's lines too (a report at 21:00 each day), every Monday at 09:00.
    assert sorted({m["at"] for m in of_kind(sent, "recap")})[:3] == [
        "2026-10-05T09:00:00-07:00",
        "2026-10-12T09:00:00-07:00",
        "2026-10-19T09:00:00-07:00",
    ]
    recaps = [m for m in of_kind(sent, "recap") if m["at"] >= "2026-10-26"]
    assert {m["to"] for m in recaps} == LINKED
    assert sorted({m["at"] for m in recaps}) == [
        "2026-10-26T09:00:00-07:00",
        "2026-11-02T09:00:00-08:00",
    ]
    assert len(recaps) == 2 * len(LINKED)
    first = next(m for m in recaps if m["at"].startswith("2026-10-26"))
    # Last week by day, its totals, the period against target with pace, the fee, a chart.
    assert "📊 Weekly recap" in first["text"] and "10-19 to 10-25" in first["text"]
    assert "Mon 10-19: gmv 1,700" in first["text"]
    assert "Week totals: gmv 11,900" in first["text"]
    # Sent on Monday 10-26: the period as of that day (Sunday is a past day by then).
    assert "2026-10, day 26 of 31 (paced over 25 day(s): 10-26 has" in first["text"]
    assert "pace 105%" in first["text"]
    # The period runs on, so its fee is provisional until its statement is closed.
    assert "Fee so far (provisional until the statement is closed): USD" in first["text"]
    assert "projected at this pace: USD" in first["text"]
    assert first["files"] == ["gmv-2026-10.png"]


async def test_recap_week_totals_show_a_dash_for_what_nobody_reported() -> None:
    """Only gmv is reported (1,700 on Nov 2-4): the week's other totals are "—", not 0;
    net_gmv counts the unreported refunds as 0, roi over no ad spend has no value."""
    text = deal_yaml(schedule="schedule:\n  recap: mon 09:00\n")
    lines = [
        tick("2026-11-01T00:00:00-07:00"),
        *(say(f"2026-11-0{d}T21:00:00-08:00", SELLER, "/report gmv 1700") for d in (2, 3, 4)),
        tick("2026-11-09T09:00:00-08:00"),
    ]
    sent = await replay(text, lines)
    recap = next(m for m in of_kind(sent, "recap") if m["at"] == "2026-11-09T09:00:00-08:00")
    assert (
        "Week totals: gmv 5,100 · orders — · ad_spend — · refunds — · net_gmv 5,100 · roi —"
    ) in recap["text"]
    assert "orders 0" not in recap["text"] and "refunds 0" not in recap["text"]


async def test_recap_shows_pending_figures_marked_and_who_must_confirm_them() -> None:
    """Under truth: agreed only the seller reports: every figure waits for the agency. The
    by-day table shows them marked pending (not "—"); totals still count only what counts."""
    text = deal_yaml(schedule="schedule:\n  recap: mon 09:00\n").replace(
        "truth: seller", "truth: agreed"
    )
    lines = [
        tick("2026-11-01T00:00:00-07:00"),
        *(say(f"2026-11-0{d}T21:00:00-08:00", SELLER, "/report gmv 1700") for d in (2, 3, 4)),
        tick("2026-11-09T09:00:00-08:00"),
    ]
    sent = await replay(text, lines)
    recap = next(m for m in of_kind(sent, "recap") if m["at"] == "2026-11-09T09:00:00-08:00")
    assert "Mon 11-02: gmv 1,700 (pending)" in recap["text"]
    assert "Week totals: gmv —" in recap["text"]
    # Each with the exact command that confirms it.
    assert (
        "⏳ 3 figure(s) wait for the agency's confirmation and count nothing until then: "
        "/confirm gmv 2026-11-02, /confirm gmv 2026-11-03, /confirm gmv 2026-11-04"
    ) in recap["text"]


async def test_recap_follows_the_deal_locale() -> None:
    text = deal_yaml(locale="zh", schedule="schedule:\n  recap: mon 09:00\n")
    lines = [
        tick("2026-11-01T00:00:00-07:00"),
        *report_days(dt.date(2026, 11, 2), 3, 1700),
        tick("2026-11-09T09:00:00-08:00"),
    ]
    sent = await replay(text, lines)
    recaps = [m for m in of_kind(sent, "recap") if m["at"] == "2026-11-09T09:00:00-08:00"]
    assert len(recaps) == len(LINKED)
    assert "📊 周报" in recaps[0]["text"]
    assert "上周合计：成交额 5,100" in recaps[0]["text"]
    assert "服务费（暂定，以锁定的结算单为准）：截至目前" in recaps[0]["text"]


async def test_a_warning_that_stands_two_checks_becomes_an_escalation() -> None:
    """1,400 a day is 84% of the pace (warn below 90%, escalate below 75%): the first check
    warns in the group, with what it means for the fee; the second escalates to level 1."""
    text = deal_yaml()
    lines = by_time(
        [
            tick("2026-11-01T00:00:00-07:00"),
            *backfill("2026-11-03T09:00:00-08:00", dt.date(2026, 11, 1), 2, 1400),
            tick("2026-11-03T10:00:00-08:00"),
            # Nov 3 reported too, so on Nov 4 the pace stands: 4,200 x 30 / 3 days = 42,000.
            # (Unreported, Nov 3 would count as 0: 2,800 x 30 / 3 = 28,000, 56%.)
            *backfill("2026-11-04T09:00:00-08:00", dt.date(2026, 11, 3), 1, 1400),
            tick("2026-11-04T10:00:00-08:00"),
        ]
    )
    sent = await replay(text, lines)
    warnings = of_kind(sent, "warning")
    first_day = [m for m in warnings if m["at"] == "2026-11-03T10:00:00-08:00"]
    second_day = [m for m in warnings if m["at"] == "2026-11-04T10:00:00-08:00"]
    assert {m["to"] for m in first_day} == LINKED
    assert {m["to"] for m in second_day} == LINKED
    warning = first_day[0]["text"]
    assert "gmv 2,800" in warning and "pace 84%" in warning
    # The fee: ending at 42,000 deducts one 10% step of the base (300) and earns 5% less
    # commission on 8,000 (400) than ending on target.
    assert "the projected fee is USD 4,770.00" in warning
    assert "on target it would be USD 5,470.00 (USD 700.00 difference)" in warning
    assert "Escalated" not in warning
    escalations = of_kind(sent, "escalation")
    assert all(m["at"] == "2026-11-04T10:00:00-08:00" for m in escalations)
    assert {m["to"] for m in escalations} == {f"dm:{SELLER}", f"dm:{AGENCY}"}
    assert "two checks in a row" in escalations[0]["text"]
    assert "level 1, notice 1 of 3" in escalations[0]["text"]
    assert "Escalated to the designated contacts" in second_day[0]["text"]


async def test_escalation_repeats_then_an_ack_stops_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """1,000 a day (60%) escalates at once. Level 1 at 10:00, level 2 four hours later, level 1
    again six hours after its first notice; then /ack with a note stops everything, and the
    group hears who acknowledged and why."""
    register_escalation_routes(monkeypatch)
    schedule = 'schedule:\n  pace_check: "10:00"\n  escalation: {after: 4h, repeat: 6h, max: 3}\n'
    lines = by_time(
        [
            tick("2026-11-01T00:00:00-07:00"),
            *backfill("2026-11-03T08:00:00-08:00", dt.date(2026, 11, 1), 2, 1000),
            *ticks("2026-11-03T09:00:00-08:00", "2026-11-03T16:00:00-08:00", dt.timedelta(hours=1)),
            {
                **say(
                    "2026-11-03T16:30:00-08:00",
                    SELLER,
                    "/ack called the agency, plan by Friday",
                    direct=True,
                ),
                "name": "Lily",
            },
            say("2026-11-03T16:31:00-08:00", SELLER, "/ack", direct=True),
            *ticks("2026-11-03T17:00:00-08:00", "2026-11-04T09:00:00-08:00", dt.timedelta(hours=1)),
            say("2026-11-04T09:30:00-08:00", AGENCY_HEAD, "/escalations"),
        ]
    )
    sent = await replay(deal_yaml(schedule=schedule), lines)
    escalations = of_kind(sent, "escalation")
    dms = sorted((m["at"][11:16], m["to"]) for m in escalations if m["to"].startswith("dm:"))
    assert dms == [
        ("10:00", f"dm:{AGENCY}"),
        ("10:00", f"dm:{SELLER}"),
        ("14:00", f"dm:{AGENCY_HEAD}"),
        ("16:00", f"dm:{AGENCY}"),
        ("16:00", f"dm:{SELLER}"),
    ]
    repeat = next(m for m in escalations if m["at"].startswith("2026-11-03T16:00"))
    assert "notice 2 of 3" in repeat["text"]
    acks = [m for m in sent if m["at"] == "2026-11-03T16:30:00-08:00"]
    # The contact's DM gets the answer, and every linked chat the announcement.
    assert {m["to"] for m in acks} == {SELLER, *LINKED}
    # The role and the person, as other notices name people: "Seller ops lead (Lily)".
    assert all("Seller ops lead (Lily) acknowledged" in m["text"] for m in acks)
    assert all("called the agency, plan by Friday" in m["text"] for m in acks)
    second = [m for m in sent if m["at"] == "2026-11-03T16:31:00-08:00"]
    assert len(second) == 1 and second[0]["text"].startswith("Nothing to acknowledge")
    # Nothing more after the ack: no level-2 repeat at 18:00, no 22:00 notices.
    assert not [
        m
        for m in escalations
        if m["at"] > "2026-11-03T16:30:00-08:00" and m["to"].startswith("dm:")
    ]
    listing = next(m for m in sent if m["at"] == "2026-11-04T09:30:00-08:00")["text"]
    assert "acknowledged 11-03 16:30 by Seller ops lead (Lily)" in listing
    assert "called the agency" in listing


async def test_an_acknowledged_shortfall_is_not_escalated_again_that_period(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After /ack, the same shortfall keeps its daily warning in the group but sends no more
    direct messages for the rest of the period: an acknowledgement sticks."""
    register_escalation_routes(monkeypatch)
    schedule = 'schedule:\n  pace_check: "10:00"\n  escalation: {after: 4h, repeat: 6h, max: 3}\n'
    lines = by_time(
        [
            tick("2026-11-01T00:00:00-07:00"),
            *backfill("2026-11-03T08:00:00-08:00", dt.date(2026, 11, 1), 2, 1000),
            tick("2026-11-03T10:30:00-08:00"),
            say("2026-11-03T11:00:00-08:00", SELLER, "/ack on it", direct=True),
            *ticks("2026-11-03T12:00:00-08:00", "2026-11-05T12:00:00-08:00", dt.timedelta(hours=2)),
        ]
    )
    sent = await replay(deal_yaml(schedule=schedule), lines)
    later_dms = [
        m
        for m in of_kind(sent, "escalation")
        if m["to"].startswith("dm:") and m["at"] > "2026-11-03T11:00:00-08:00"
    ]
    assert later_dms == []
    warnings = {m["at"][:16] for m in of_kind(sent, "warning")}
    assert {"2026-11-04T10:00", "2026-11-05T10:00"} <= warnings


async def test_a_message_due_in_quiet_hours_waits_for_their_end() -> None:
    """A check at 21:00 escalates (60%). Level 2 is due four hours later, at 01:00, inside the
    quiet hours 22:00-08:00: it goes at 08:00, not before and not never."""
    schedule = (
        'schedule:\n  pace_check: "21:00"\n'
        '  escalation: {after: 4h, repeat: 12h, max: 2, quiet: "22:00-08:00"}\n'
    )
    lines = by_time(
        [
            tick("2026-11-01T00:00:00-07:00"),
            *backfill("2026-11-02T20:00:00-08:00", dt.date(2026, 11, 1), 2, 1000),
            *ticks("2026-11-02T21:00:00-08:00", "2026-11-03T09:30:00-08:00", QUARTER_HOUR),
        ]
    )
    sent = await replay(deal_yaml(schedule=schedule), lines)
    dms = sorted((m["at"], m["to"]) for m in of_kind(sent, "escalation"))
    assert dms == [
        ("2026-11-02T21:00:00-08:00", f"dm:{AGENCY}"),
        ("2026-11-02T21:00:00-08:00", f"dm:{SELLER}"),
        ("2026-11-03T08:00:00-08:00", f"dm:{AGENCY_HEAD}"),
        # Level 1's repeat, 12 h after 21:00, falls after the quiet hours: on time.
        ("2026-11-03T09:00:00-08:00", f"dm:{AGENCY}"),
        ("2026-11-03T09:00:00-08:00", f"dm:{SELLER}"),
    ]


async def test_reminder_goes_only_to_the_side_that_did_not_report() -> None:
    schedule = 'schedule:\n  reminder: "22:30"\n'
    lines = [
        tick("2026-11-01T00:00:00-07:00"),
        say("2026-11-02T21:00:00-08:00", SELLER, "/report gmv 1700 orders 40"),
        tick("2026-11-02T22:30:00-08:00"),
        say("2026-11-03T20:00:00-08:00", SELLER, "/report gmv 1800"),
        say("2026-11-03T20:05:00-08:00", AGENCY, "/report gmv 1800"),
        tick("2026-11-03T22:30:00-08:00"),
    ]
    sent = await replay(deal_yaml(schedule=schedule), lines)
    by_day: dict[str, set[str]] = {}
    for m in of_kind(sent, "reminder"):
        by_day.setdefault(m["at"], set()).add(m["to"])
    assert by_day == {
        # Nobody reported on 11-01: every chat, at 22:30, though no script line is then.
        "2026-11-01T22:30:00-08:00": LINKED,
        # The seller did on 11-02: the agency's chat and the shared one only.
        "2026-11-02T22:30:00-08:00": {AGENCY_CHAT, SHARED_CHAT},
        # Both did on 11-03: no reminder.
    }
    second = [m for m in of_kind(sent, "reminder") if m["at"].startswith("2026-11-02")]
    assert all("No figures from the agency for 2026-11-02" in m["text"] for m in second)
    # Nobody on 11-01: the shared chat reads "from either side", not "the seller, agency".
    first = {m["to"]: m["text"] for m in of_kind(sent, "reminder") if "2026-11-01T" in m["at"]}
    assert "No figures from either side for 2026-11-01" in first[SHARED_CHAT]
    assert "seller, agency" not in first[SHARED_CHAT]


async def test_under_agreed_the_reminder_tells_the_silent_side_how_to_confirm() -> None:
    """truth: agreed: the seller's figures wait for the agency; the agency's reminder says how
    to confirm them. A day the agency confirmed needs no such hint."""
    schedule = 'schedule:\n  reminder: "22:30"\n'
    text = deal_yaml(schedule=schedule).replace("truth: seller", "truth: agreed")
    lines = [
        tick("2026-11-01T00:00:00-07:00"),
        say("2026-11-02T21:00:00-08:00", SELLER, "/report gmv 1700 orders 40"),
        tick("2026-11-02T22:30:00-08:00"),
        say("2026-11-03T20:00:00-08:00", SELLER, "/report gmv 1800"),
        say("2026-11-03T20:05:00-08:00", AGENCY, "/confirm gmv 2026-11-03"),
        tick("2026-11-03T22:30:00-08:00"),
    ]
    sent = await replay(text, lines)
    reminders = {(m["at"][:10], m["to"]): m["text"] for m in of_kind(sent, "reminder")}
    hint = "The other side's 2 figure(s) for that day wait for you"
    assert hint in reminders[("2026-11-02", AGENCY_CHAT)]
    assert "e.g. /confirm #" in reminders[("2026-11-02", AGENCY_CHAT)]
    assert "wait for you" not in reminders[("2026-11-03", AGENCY_CHAT)]


async def test_open_disagreement_escalates_after_two_days() -> None:
    schedule = 'schedule:\n  pace_check: "10:00"\n  escalation: {after: 4h, repeat: 12h, max: 1}\n'
    lines = [
        tick("2026-11-01T00:00:00-07:00"),
        # 6,000 reported for day 2; later days unreported count as 0 for pace. Nov 4: 6,000 x
        # 30 / 3 days = 60,000 (120%); Nov 5: 6,000 x 30 / 4 = 45,000, exactly 90% of the
        # pace: no warning, so no pace escalation.
        say("2026-11-02T21:00:00-08:00", SELLER, "/report gmv 6000"),
        say("2026-11-02T21:05:00-08:00", AGENCY, "/report gmv 7000"),
        tick("2026-11-04T10:00:00-08:00"),
        tick("2026-11-05T10:00:00-08:00"),
    ]
    sent = await replay(deal_yaml(schedule=schedule), lines)
    escalations = of_kind(sent, "escalation")
    assert escalations and all(m["at"] == "2026-11-05T10:00:00-08:00" for m in escalations)
    assert "disagree on 2026-11-02: gmv (seller 6,000, agency 7,000)" in escalations[0]["text"]


async def test_after_an_outage_notices_wait_out_quiet_hours_and_only_the_latest_goes(
    tmp_path: Path,
) -> None:
    """Escalated at 10:00; the bot then sleeps until 23:00, inside the quiet hours. The notices
    that came due meanwhile (14:00, 16:00, 20:00) wait for 08:00, and then each person gets
    only the latest notice, not the whole backlog.

    Replay never sleeps (scheduled work fires between its lines), so this drives the core
    itself: ticks only at the instants the bot is up."""
    schedule = (
        'schedule:\n  pace_check: "10:00"\n'
        '  escalation: {after: 4h, repeat: 6h, max: 3, quiet: "22:00-08:00"}\n'
    )
    clock = VirtualClock(dt.datetime.fromisoformat("2026-11-01T00:00:00-07:00"))
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'bot.db'}", _env_file=None)  # type: ignore[call-arg]
    core = await build_core(settings, clock=clock)
    port = RecordingPort(clock, offset=dt.timezone(dt.timedelta(hours=-8)))
    core.add_port(port)
    try:
        await core.apply_deal_text(deal_yaml(schedule=schedule))
        await core.tick(clock.now())
        reports = backfill("2026-11-03T08:00:00-08:00", dt.date(2026, 11, 1), 2, 1000)
        for step in parse_script(json.dumps(line) for line in reports):
            assert step.command is not None
            clock.set(step.at)
            await core.handle(step.command)
        for at in (
            "2026-11-03T10:00:00-08:00",
            "2026-11-03T23:00:00-08:00",
            "2026-11-04T07:59:00-08:00",
            "2026-11-04T08:00:00-08:00",
        ):
            clock.set(dt.datetime.fromisoformat(at))
            await core.tick(clock.now())
    finally:
        await core.aclose()
    dms = sorted(
        (m["at"][5:16], m["to"], m["text"][m["text"].index("notice") :][:13])
        for m in of_kind(port.sent, "escalation")
    )
    assert dms == [
        ("11-03T10:00", f"dm:{AGENCY}", "notice 1 of 3"),
        ("11-03T10:00", f"dm:{SELLER}", "notice 1 of 3"),
        ("11-04T08:00", f"dm:{AGENCY}", "notice 3 of 3"),
        ("11-04T08:00", f"dm:{AGENCY_HEAD}", "notice 3 of 3"),
        ("11-04T08:00", f"dm:{SELLER}", "notice 3 of 3"),
    ]


async def test_only_a_contact_can_ack_and_the_list_starts_empty(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    register_escalation_routes(monkeypatch)
    lines = [
        tick("2026-11-01T00:00:00-07:00"),
        say("2026-11-02T09:00:00-08:00", SELLER, "/escalations"),
        say("2026-11-02T09:01:00-08:00", SELLER_2, "/ack done"),
        say("2026-11-02T09:02:00-08:00", SELLER, "/ack"),
    ]
    sent = await replay(deal_yaml(schedule='schedule:\n  pace_check: "10:00"\n'), lines)
    listing, refused, nothing = [m for m in sent if m["kind"] in ("reply", "error")]
    assert listing["text"].startswith("No open or recent escalations")
    assert refused["kind"] == "error"
    assert "Only a designated contact can acknowledge" in refused["text"]
    assert "Seller ops lead, Agency account manager, Agency head of ops" in refused["text"]
    assert "/ack " in refused["text"]  # the right form
    assert nothing["text"].startswith("Nothing to acknowledge")


# ------------------------------------------------------------ between the script's lines


async def test_a_reminder_between_two_lines_is_stamped_at_its_own_time() -> None:
    """The reminder is due at 22:30; the script's next line is at 23:59. It is sent, and
    stamped, at 22:30, not at the next line's time."""
    lines = [
        tick("2026-11-01T00:00:00-07:00"),
        say("2026-11-02T21:00:00-08:00", SELLER, "/report gmv 1700 orders 40"),
        say("2026-11-02T23:59:00-08:00", AGENCY, "/report gmv 1700 orders 40"),
    ]
    sent = await replay(deal_yaml(schedule='schedule:\n  reminder: "22:30"\n'), lines)
    second = [m for m in of_kind(sent, "reminder") if "2026-11-02" in m["text"]]
    assert {m["to"] for m in second} == {AGENCY_CHAT, SHARED_CHAT}
    assert {m["at"] for m in second} == {"2026-11-02T22:30:00-08:00"}
    # In time order: the reminder comes before the agency's late report and its reply.
    late = next(i for i, m in enumerate(sent) if m["at"] == "2026-11-02T23:59:00-08:00")
    assert max(i for i, m in enumerate(sent) if m in second) < late


async def test_a_pace_check_between_lines_three_days_apart_runs_every_day(
    tmp_path: Path,
) -> None:
    """Lines on 11-02 at 09:00 and 11-05 at 09:00, a pace check every day at 10:00: each of
    11-02, 11-03 and 11-04 is checked at 10:00 (a warning in every linked chat: 1,400 on day 1
    is 84% of the pace), and no slot is recorded as missed, though the gap is past the 12 h
    grace window."""
    url = f"sqlite:///{tmp_path / 'replay.db'}"
    lines = [
        tick("2026-11-01T00:00:00-07:00"),
        *backfill("2026-11-02T09:00:00-08:00", dt.date(2026, 11, 1), 1, 1400),
        say("2026-11-05T09:00:00-08:00", SELLER, "/kpi"),
    ]
    steps = parse_script(json.dumps(line) for line in lines)
    schedule = 'schedule:\n  pace_check: "10:00"\n'
    sent = await run_replay([("deal.yaml", deal_yaml(schedule=schedule))], steps, db_url=url)
    warnings: dict[str, set[str]] = {}
    for m in of_kind(sent, "warning"):
        warnings.setdefault(m["at"], set()).add(m["to"])
    assert warnings == {
        "2026-11-02T10:00:00-08:00": LINKED,
        "2026-11-03T10:00:00-08:00": LINKED,
        "2026-11-04T10:00:00-08:00": LINKED,
    }
    # The warning stood two checks, so 11-03's escalated; its notices (level 2 four hours on,
    # repeats every 12 h by default) each went at their own time between the lines too.
    notices = sorted({m["at"][5:16] for m in of_kind(sent, "escalation")})
    assert notices == [
        "11-03T10:00",
        "11-03T14:00",
        "11-03T22:00",
        "11-04T02:00",
        "11-04T10:00",
        "11-04T14:00",
    ]
    engine = make_engine(url)
    try:
        jobs = await Outbox(engine, worker="test").rows(kind="pace", jobs=True)
    finally:
        await engine.dispose()
    # 11-01 had nothing to say (no figures yet); every slot ran at its due time.
    assert [(r.slot, r.status) for r in jobs] == [
        ("2026-11-01", "skipped"),
        ("2026-11-02", "done"),
        ("2026-11-03", "done"),
        ("2026-11-04", "done"),
    ]
    assert all(r.finished_at == r.due_at for r in jobs)


async def test_messages_due_at_one_instant_come_out_in_the_same_order_every_run() -> None:
    """A warning in three chats and escalation notices to two people, all at 10:00: replay
    records them in one order, run after run (its output is compared in tests and diffs)."""
    lines = [
        tick("2026-11-01T00:00:00-07:00"),
        *backfill("2026-11-03T08:00:00-08:00", dt.date(2026, 11, 1), 2, 1000),
        say("2026-11-04T09:00:00-08:00", SELLER, "/kpi"),
    ]
    runs = [await replay(deal_yaml(), lines) for _ in range(3)]
    assert len({m["to"] for m in runs[0] if m["at"] == "2026-11-03T10:00:00-08:00"}) == 5
    assert runs[0] == runs[1] == runs[2]
