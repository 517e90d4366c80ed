"""A pace escalation that ends by itself: late figures bring the metric back on pace, and the
next pace check ends the escalation instead of letting it page the contacts with stale figures.

Scripts run through the real core (``bot.app.run_replay``) on SQLite and PostgreSQL, and the
tables are read back afterwards. The demo deal (``tests.test_scheduler_support.deal_yaml``):
GMV target 50,000 over November, pace checks at 10:00, warning below 90% and escalation below
75% of the pace, notices every 12 h (level 2 four hours after level 1), quiet 22:00-08:00.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import Core, build_core, dashboard_sources, run_replay
from bot.core import VirtualClock
from bot.dashboard.page import page_context
from bot.replay import RecordingPort, parse_script
from bot.settings import Settings
from kpi.db import make_engine
from scheduler.escalation import EscalationRecord, Escalations
from scheduler.outbox import Outbox, OutboxRow
from scheduler.service import SchedulerService
from scheduler.tables import escalations
from tests.test_scheduler_support import (
    AGENCY,
    AGENCY_HEAD,
    LINKED,
    SELLER,
    backfill,
    by_time,
    deal_yaml,
    of_kind,
    say,
    tick,
    ticks,
)

ROOT = Path(__file__).resolve().parents[1]
HOUR = dt.timedelta(hours=1)
DEAL = "acme-linkstar-us"
PAGED = {f"dm:{SELLER}", f"dm:{AGENCY}", f"dm:{AGENCY_HEAD}"}

GROUP_LINE = {
    "en": (
        "✅ gmv is back on pace for 2026-11 (pace 106%): the escalation started 11-03 (#1) has"
        " ended by itself. Its 3 remaining notice(s) to the contacts are cancelled. The"
        " contacts already notified are told it is no longer needed."
    ),
    "zh": (
        "✅ 2026年11月 成交额 已回到正常进度（预计达成率 106%）：11-03 开始的升级提醒（#1）"
        "已自动结束。尚未发出的 3 条对接人提醒已取消。已收到提醒的对接人会收到“无需处理”的通知。"
    ),
}
NOTE = {
    "en": (
        "✅ No longer needed — ACME Home x Linkstar (TikTok Shop US): gmv is back on pace for"
        " 2026-11 (pace 106%). The escalation started 11-03 (#1) has ended by itself: no more"
        " notices about it, nothing to acknowledge."
    ),
    "zh": (
        "✅ 无需处理 — ACME Home x Linkstar (TikTok Shop US)：2026年11月 成交额 已回到正常进度"
        "（预计达成率 106%）。11-03 开始的升级提醒（#1）已自动结束，"
        "不会再有相关提醒，也无需 /ack 确认。"
    ),
}
LISTED = {
    "en": (
        "#1 ended by itself: gmv back on pace on 11-04 (pace 106%); 6 message(s) had been sent,"
        " 3 cancelled. It started 11-03 10:00: gmv is at 60% of the pace its target needs"
        " (escalation below 75%): 2,000 so far against ≥ 50,000"
    ),
    "zh": (
        "#1 已自动结束：成交额 于 11-04 回到正常进度（预计达成率 106%）；此前已发 6 条，取消 3 条。"
        "升级时（11-03 10:00）：成交额 预计达成率仅 60%（低于 75% 即升级）："
        "目前 2,000，目标 ≥ 50,000"
    ),
}
ACK_REPLY = {
    "en": (
        "Nothing to acknowledge: no escalation is open for ACME Home x Linkstar (TikTok Shop"
        " US). Ended by itself, back on pace: #1 gmv on 11-04. /escalations lists the recent"
        " ones."
    ),
    "zh": (
        "ACME Home x Linkstar (TikTok Shop US) 目前没有待确认的升级提醒。"
        "已因恢复正常进度而自动结束：#1 成交额（11-04）。发送 /escalations 查看近期记录。"
    ),
}


DASHBOARD = {
    "en": "ended by itself: back on pace on 11-04 (pace 106%)",
    "zh": "已自动结束：11-04 回到正常进度（预计达成率 106%）",
}


async def dashboard_states(url: str, locale: str) -> list[str]:
    """The state column of the dashboard's escalations, for the current period."""
    clock = VirtualClock(dt.datetime.fromisoformat("2026-11-05T12:00:00-08:00"))
    settings = Settings(database_url=url, _env_file=None)  # type: ignore[call-arg]
    core = await build_core(settings, clock=clock)
    try:
        current = await core.ledger.current_deal(DEAL)
        assert current is not None
        page = await page_context(
            dashboard_sources(core), current[0], "shared", None, locale, clock.now()
        )
        return [row["state"] for row in page["escalations"]]
    finally:
        await core.aclose()


def shortfall() -> list[dict[str, Any]]:
    """1,000 a day on Nov 1-2 (60% of the pace): the 10:00 check on Nov 3 escalates. Its
    notices go at 10:00 (level 1: seller, agency), 14:00 (level 2: the agency's head) and,
    the 22:00 round being in quiet hours, at 08:00 on Nov 4 (all three)."""
    return [
        tick("2026-11-01T00:00:00-07:00"),
        *backfill("2026-11-03T08:00:00-08:00", dt.date(2026, 11, 1), 2, 1000),
        *ticks("2026-11-03T09:00:00-08:00", "2026-11-03T16:00:00-08:00", HOUR),
    ]


def late_figures() -> list[dict[str, Any]]:
    """The seller's late figures: Nov 1 and 2 were 1,750 each, Nov 3 1,800. On Nov 4 the
    period stands at 5,300 against the 5,000 three days need: 106%."""
    return [
        say("2026-11-03T20:00:00-08:00", SELLER, "/report gmv 1750 2026-11-01"),
        say("2026-11-03T20:01:00-08:00", SELLER, "/report gmv 1750 2026-11-02"),
        say("2026-11-03T21:00:00-08:00", SELLER, "/report gmv 1800"),
    ]


async def play(lines: list[dict[str, Any]], url: str, locale: str = "en") -> list[dict[str, Any]]:
    steps = parse_script(json.dumps(line) for line in by_time(lines))
    return await run_replay([("deal.yaml", deal_yaml(locale=locale))], steps, db_url=url)


async def stored(url: str) -> tuple[list[EscalationRecord], list[OutboxRow], list[Any]]:
    """The deal's escalations, every outbox row, and the escalations table's raw rows."""
    engine = make_engine(url)
    try:
        store = Outbox(engine, worker="reader")
        found = await Escalations(store).of_deal(DEAL)
        rows = await store.rows()
        async with engine.connect() as conn:
            raw = list(await conn.execute(select(escalations).order_by(escalations.c.id)))
        return found, rows, raw
    finally:
        await engine.dispose()


def dms_after(sent: list[dict[str, Any]], after: str) -> list[tuple[str, str]]:
    """Escalation notices (🔔) sent to a person after ``after``."""
    return [
        (m["at"], m["to"])
        for m in of_kind(sent, "escalation")
        if m["to"].startswith("dm:") and m["at"] > after and m["text"].startswith("🔔")
    ]


@pytest.mark.parametrize("locale", ["en", "zh"])
async def test_late_figures_back_on_pace_end_the_escalation_and_its_notices(
    db_url: str, locale: str
) -> None:
    """The Nov 4 check finds gmv at 106%: the escalation ends (resolved, its open key freed,
    when and what the check found kept), its three unsent notices (the last round, due at
    20:00) are cancelled and never sent, the group hears it in the pace check's
    message, and each contact already notified gets one note that it is no longer needed.
    /escalations lists it as ended by itself, and /ack does not claim to stop it."""
    lines = [
        *shortfall(),
        *late_figures(),
        *ticks("2026-11-04T08:00:00-08:00", "2026-11-04T12:00:00-08:00", HOUR),
        say("2026-11-04T12:30:00-08:00", AGENCY_HEAD, "/escalations"),
        say("2026-11-04T12:31:00-08:00", SELLER, "/ack on it", direct=True),
        *ticks("2026-11-04T13:00:00-08:00", "2026-11-05T11:00:00-08:00", HOUR),
    ]
    sent = await play(lines, db_url, locale)

    checked = [m for m in of_kind(sent, "warning") if m["at"] == "2026-11-04T10:00:00-08:00"]
    assert {m["to"] for m in checked} == LINKED
    title = "Pace check 2026-11-04" if locale == "en" else "进度检查 2026-11-04"
    # Nothing behind pace: no ⚠, no thresholds, just the escalation that ended.
    expected = [f"{title} — ACME Home x Linkstar (TikTok Shop US)", GROUP_LINE[locale]]
    assert [m["text"].split("\n") for m in checked] == [expected] * len(LINKED)
    notes = [m for m in of_kind(sent, "escalation") if m["text"] == NOTE[locale]]
    assert sorted(m["to"] for m in notes) == sorted(PAGED)
    assert {m["at"] for m in notes} == {"2026-11-04T10:00:00-08:00"}
    # Before the check: the 10:00, 14:00 and 08:00 rounds; after it, no notice at all.
    assert len(dms_after(sent, "2026-11-03T00:00:00-08:00")) == 6
    assert dms_after(sent, "2026-11-04T09:00:00-08:00") == []
    listing = next(m for m in sent if m["at"] == "2026-11-04T12:30:00-08:00")["text"]
    assert listing.split("\n")[1:] == [LISTED[locale]]
    ack = next(m for m in sent if m["at"] == "2026-11-04T12:31:00-08:00")
    assert ack["text"] == ACK_REPLY[locale]

    found, rows, raw = await stored(db_url)
    (esc,) = found
    assert esc.status == "resolved" and esc.acked_at is None and esc.acked_by is None
    assert esc.resolved_at == dt.datetime.fromisoformat("2026-11-04T10:00:00-08:00")
    assert esc.resolution == {"check": "2026-11-04", "pace": "106%"}
    assert raw[0].open_key is None
    notices = [r for r in rows if r.escalation_id == esc.id]
    assert (
        sorted((r.status, r.error) for r in notices if r.status != "sent")
        == [("cancelled", "resolved")] * 3
    )
    assert sum(r.status == "sent" for r in notices) == 6
    ended = [r for r in rows if r.slot == "pace:gmv@2026-11-03/ended"]
    assert sorted(r.chat for r in ended) == sorted(PAGED)
    assert all(r.status == "sent" for r in ended)
    pace_jobs = {r.slot: r.result() for r in rows if r.kind == "pace" and r.is_job}
    assert pace_jobs["2026-11-04"]["resolved"] == [esc.id]
    assert pace_jobs["2026-11-05"].get("resolved", []) == []
    # The dashboard says it as /escalations does, not "acknowledged by —".
    assert await dashboard_states(db_url, locale) == [DASHBOARD[locale]]


async def test_a_new_shortfall_later_in_the_period_escalates_again(db_url: str) -> None:
    """Ended by itself on Nov 4, the shortfall comes back: nobody reports Nov 4-5, so the
    Nov 5 check warns (80%, the first warning since) and the Nov 6 check finds gmv at 64%
    and escalates afresh: a second escalation of the same reason in the same period, stored
    beside the first, with its own notices. An ended escalation silences nothing."""
    lines = [
        *shortfall(),
        *late_figures(),
        *ticks("2026-11-04T08:00:00-08:00", "2026-11-06T11:00:00-08:00", HOUR),
        say("2026-11-06T11:30:00-08:00", AGENCY_HEAD, "/escalations"),
    ]
    sent = await play(lines, db_url)
    warned = {m["at"][:10]: m["text"] for m in of_kind(sent, "warning") if m["to"] in LINKED}
    assert "pace 80%" in warned["2026-11-05"] and "Escalated" not in warned["2026-11-05"]
    assert "pace 64%" in warned["2026-11-06"]
    assert "⤴ Escalated to the designated contacts: gmv is at 64%" in warned["2026-11-06"]
    again = dms_after(sent, "2026-11-06T00:00:00-08:00")
    assert sorted(again) == [
        ("2026-11-06T10:00:00-08:00", f"dm:{AGENCY}"),
        ("2026-11-06T10:00:00-08:00", f"dm:{SELLER}"),
    ]
    listing = next(m for m in sent if m["at"] == "2026-11-06T11:30:00-08:00")["text"]
    first, second = listing.split("\n")[1:]
    assert first.startswith("#2 open since 11-06 10:00: gmv is at 64%")
    assert second.startswith("#1 ended by itself: gmv back on pace on 11-04")

    found, _, raw = await stored(db_url)
    assert [(e.id, e.reason, e.origin, e.status) for e in found] == [
        (2, "pace:gmv", "2026-11-06", "open"),
        (1, "pace:gmv", "2026-11-03", "resolved"),
    ]
    assert [r.open_key for r in raw] == [None, "pace:gmv"]


async def test_a_shortfall_that_improves_but_stays_behind_is_not_ended(db_url: str) -> None:
    """Late figures lift gmv from 60% to 80%: better, still behind the 90% warning line. The
    check that started it would still escalate it (warned at the previous check too), so it
    stays open and its notices go on; the group's message warns and says nothing ended."""
    lines = [
        *shortfall(),
        say("2026-11-03T20:00:00-08:00", SELLER, "/report gmv 1500 2026-11-01"),
        say("2026-11-03T20:01:00-08:00", SELLER, "/report gmv 1500 2026-11-02"),
        say("2026-11-03T21:00:00-08:00", SELLER, "/report gmv 1000"),
        *ticks("2026-11-04T08:00:00-08:00", "2026-11-04T21:00:00-08:00", HOUR),
    ]
    sent = await play(lines, db_url)
    check = next(m for m in of_kind(sent, "warning") if m["at"].startswith("2026-11-04T10"))
    assert "pace 80%" in check["text"]
    assert "back on pace" not in check["text"] and "✅" not in check["text"]
    # The last round goes on (12 h after the second, which quiet hours moved to 08:00).
    assert sorted(dms_after(sent, "2026-11-04T09:00:00-08:00")) == [
        ("2026-11-04T20:00:00-08:00", f"dm:{AGENCY}"),
        ("2026-11-04T20:00:00-08:00", f"dm:{AGENCY_HEAD}"),
        ("2026-11-04T20:00:00-08:00", f"dm:{SELLER}"),
    ]
    found, _, _ = await stored(db_url)
    assert [e.status for e in found] == ["open"]


async def test_an_acknowledged_shortfall_is_not_ended_and_keeps_the_period_quiet(
    db_url: str,
) -> None:
    """Acknowledged, the escalation keeps its rule: back on pace it stays acknowledged (the
    check says nothing about it), and a new shortfall later in the period warns in the group
    but does not page anyone again."""
    lines = [
        *shortfall(),
        say("2026-11-03T16:30:00-08:00", SELLER, "/ack called the agency", direct=True),
        *late_figures(),
        *ticks("2026-11-04T08:00:00-08:00", "2026-11-06T11:00:00-08:00", HOUR),
    ]
    sent = await play(lines, db_url)
    texts = [m["text"] for m in sent if m["at"] > "2026-11-03T16:30:00-08:00"]
    assert not [t for t in texts if "back on pace" in t or "No longer needed" in t]
    assert "pace 64%" in next(
        m["text"] for m in of_kind(sent, "warning") if m["at"].startswith("2026-11-06")
    )
    assert dms_after(sent, "2026-11-03T16:30:00-08:00") == []
    found, _, _ = await stored(db_url)
    assert [(e.status, e.resolved_at) for e in found] == [("acked", None)]


async def test_a_disagreement_escalation_is_left_to_its_confirmation(db_url: str) -> None:
    """The pace is fine and a disagreement escalation is open: the pace check does not end it
    (a confirmation settles it, handlers.report)."""
    schedule = 'schedule:\n  pace_check: "10:00"\n  escalation: {after: 4h, repeat: 12h, max: 3}\n'
    lines = [
        tick("2026-11-01T00:00:00-07:00"),
        *backfill("2026-11-02T09:00:00-08:00", dt.date(2026, 11, 1), 1, 2000),
        say("2026-11-02T21:00:00-08:00", SELLER, "/report gmv 6000"),
        say("2026-11-02T21:05:00-08:00", AGENCY, "/report gmv 7000"),
        *ticks("2026-11-05T09:00:00-08:00", "2026-11-06T11:00:00-08:00", HOUR),
    ]
    steps = parse_script(json.dumps(line) for line in by_time(lines))
    sent = await run_replay([("deal.yaml", deal_yaml(schedule=schedule))], steps, db_url=db_url)
    assert not [m for m in sent if "back on pace" in m["text"]]
    found, _, _ = await stored(db_url)
    assert [(e.reason, e.status) for e in found] == [("disagreement:2026-11-02", "open")]


# ------------------------------------------------------------- once, whoever runs the check


@pytest.fixture
async def two_replicas(db_url: str) -> AsyncIterator[tuple[Core, Core, VirtualClock]]:
    """Two bots on one database, sharing a virtual clock: the deal applied and the Nov 3
    escalation and the late figures played through the first."""
    clock = VirtualClock(dt.datetime.fromisoformat("2026-11-01T00:00:00-07:00"))
    settings = Settings(database_url=db_url, _env_file=None)  # type: ignore[call-arg]
    one = await build_core(settings, clock=clock, scheduler={"worker": "one"})
    two = await build_core(settings, clock=clock, scheduler={"worker": "two"})
    for core in (one, two):
        core.add_port(RecordingPort(clock, offset=dt.timezone(-8 * HOUR)))
    try:
        await one.apply_deal_text(deal_yaml())
        await one.tick(clock.now())
        for step in parse_script(
            json.dumps(line) for line in by_time(shortfall()[1:] + late_figures())
        ):
            clock.set(step.at)
            if step.command is not None:
                await one.handle(step.command)
            else:
                await one.tick(clock.now())
        yield one, two, clock
    finally:
        await one.aclose()
        await two.aclose()


def service(core: Core) -> SchedulerService:
    found = core.scheduler
    assert isinstance(found, SchedulerService)
    return found


async def test_a_check_run_twice_or_on_two_replicas_ends_the_escalation_once(
    two_replicas: tuple[Core, Core, VirtualClock],
) -> None:
    """Replica one claims the Nov 4 check and decides it (the escalation to end), then stalls
    past its lease; replica two takes the check over, runs it and stores it. One's late store
    is fenced off, and ending the escalation again, even on its own, changes nothing: one
    resolution, one message per chat, one note per contact."""
    from scheduler.escalation import resolve_escalation

    one, two, clock = two_replicas
    first, second = service(one), service(two)
    clock.set(dt.datetime.fromisoformat("2026-11-04T09:59:00-08:00"))
    await one.tick(clock.now())
    check = dt.datetime.fromisoformat("2026-11-04T10:00:00-08:00")
    clock.set(check)
    await first.enqueue_due(check)
    claimed = await first.store.claim(check, first.lease, 100)
    (job,) = [r for r in claimed if r.is_job and r.kind == "pace"]
    current = await one.ledger.current_deal(DEAL)
    assert current is not None
    decided = await first.jobs.run(job, current[0], check)
    (resolution,) = decided.resolutions

    clock.set(check + first.lease + dt.timedelta(seconds=1))
    await two.tick(clock.now())
    late = clock.now()

    async def end_again(conn: Any) -> None:
        assert await resolve_escalation(conn, resolution, late) is None

    assert not await first.store.finish(job, "done", late, payload="{}", extra=end_again)
    async with one.engine.begin() as conn:
        assert await resolve_escalation(conn, resolution, late) is None
    await first.run_job(job, late)  # the whole job again, on the stale claim
    await one.tick(late)
    await two.tick(late)

    (esc,) = await Escalations(second.store).of_deal(DEAL)
    assert esc.status == "resolved" and esc.resolved_at == check + first.lease + dt.timedelta(
        seconds=1
    )
    rows = await second.store.rows(deal_id=DEAL)
    warnings = [r for r in rows if r.kind == "warning" and r.slot == "2026-11-04"]
    assert sorted(r.chat for r in warnings) == sorted(LINKED)
    ended = [r for r in rows if r.slot.endswith("/ended")]
    assert sorted(r.chat for r in ended) == sorted(PAGED)
    (stored_job,) = [r for r in rows if r.kind == "pace" and r.slot == "2026-11-04"]
    assert stored_job.claimed_by == "two" and stored_job.status == "done"
    assert stored_job.result()["resolved"] == [esc.id]


async def test_the_note_to_the_contacts_waits_out_the_quiet_hours(tmp_path: Path) -> None:
    """A pace check at 23:00, inside the quiet hours 22:00-08:00, ends an escalation: the
    group hears it at once, the contacts' note goes at 08:00."""
    schedule = (
        'schedule:\n  pace_check: "23:00"\n'
        '  escalation: {after: 4h, repeat: 12h, max: 2, quiet: "22:00-08:00"}\n'
    )
    lines = [
        tick("2026-11-01T00:00:00-07:00"),
        *backfill("2026-11-02T20:00:00-08:00", dt.date(2026, 11, 1), 2, 1000),
        *ticks("2026-11-02T23:00:00-08:00", "2026-11-03T09:00:00-08:00", HOUR),
        *backfill("2026-11-03T12:00:00-08:00", dt.date(2026, 11, 1), 3, 1800),
        *ticks("2026-11-03T22:00:00-08:00", "2026-11-04T09:00:00-08:00", HOUR),
    ]
    steps = parse_script(json.dumps(line) for line in by_time(lines))
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    sent = await run_replay([("deal.yaml", deal_yaml(schedule=schedule))], steps, db_url=url)
    check = [m for m in of_kind(sent, "warning") if m["at"] == "2026-11-03T23:00:00-08:00"]
    assert check and all("back on pace" in m["text"] for m in check)
    notes = [m for m in sent if m["text"].startswith("✅ No longer needed")]
    assert notes and {m["at"] for m in notes} == {"2026-11-04T08:00:00-08:00"}


ZH_SELLER, ZH_AGENCY = "telegram:710200301", "telegram:583920114"
ZH_SHARED, ZH_AGENCY_CHAT = "telegram:-1003344556677", "telegram:-1003344556688"


def both(at: str, text: str) -> list[dict[str, Any]]:
    """Both sides of the zh deal report ``text``, the seller at ``at``, the agency a minute
    later, each in its chat."""
    later = (dt.datetime.fromisoformat(at) + dt.timedelta(minutes=1)).isoformat()
    return [
        say(at, ZH_SELLER, text, chat=ZH_SHARED),
        say(later, ZH_AGENCY, text, chat=ZH_AGENCY_CHAT),
    ]


async def play_zh(
    lines: list[dict[str, Any]], check_at: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Play ``lines`` on the zh demo deal: what the bot sent, and the pace check's message at
    ``check_at`` (checked to reach both of the deal's chats)."""
    deal = (ROOT / "bot" / "demo" / "shenzhen-wanxiang-cn.yaml").read_text(encoding="utf-8")
    steps = parse_script(json.dumps(line) for line in by_time(lines))
    sent = await run_replay([("deal.yaml", deal)], steps)
    check = [m for m in of_kind(sent, "warning") if m["at"] == check_at]
    assert {m["to"] for m in check} == {ZH_SHARED, ZH_AGENCY_CHAT}
    return sent, check


async def test_the_chinese_weekly_demo_deal_says_it_with_the_week_as_chinese_names_it() -> None:
    """The zh demo deal (weekly, both sides report, warning below 85%, escalation below 70%):
    12,000 on Monday is 56% of the week's pace and escalates on Tuesday; both sides then
    correct Monday to 23,000 and report 22,000 for Tuesday (105%). Wednesday's check ends it,
    naming the week as 2026年第45周, and every contact it had reached hears it is not needed."""
    agency, agency_chat = ZH_AGENCY, ZH_AGENCY_CHAT
    lines = [
        tick("2026-11-02T00:00:00+08:00"),
        *both("2026-11-03T09:00:00+08:00", "/report gmv 12000 2026-11-02"),
        *ticks("2026-11-03T10:00:00+08:00", "2026-11-03T20:00:00+08:00", HOUR),
        *both("2026-11-03T21:00:00+08:00", "/report gmv 23000 2026-11-02"),
        *both("2026-11-03T21:02:00+08:00", "/report gmv 22000"),
        *ticks("2026-11-04T08:00:00+08:00", "2026-11-04T16:00:00+08:00", HOUR),
        say("2026-11-04T16:30:00+08:00", agency, "/escalations", chat=agency_chat),
    ]
    sent, check = await play_zh(lines, "2026-11-04T11:00:00+08:00")
    assert check[0]["text"].split("\n") == [
        "进度检查 2026-11-04 — 深圳万象家居 × 联星出海 周度代运营",
        "✅ 2026年第45周 成交额 已回到正常进度（预计达成率 105%）：11-03 开始的升级提醒（#1）"
        "已自动结束。尚未发出的 4 条对接人提醒已取消。已收到提醒的对接人会收到“无需处理”的通知。",
    ]
    notes = [m for m in sent if m["text"].startswith("✅ 无需处理")]
    assert sorted(m["to"] for m in notes) == [
        "dm:telegram:583920114",
        "dm:telegram:583920276",
        "dm:telegram:710200301",
        "dm:telegram:710200302",
    ]
    assert "2026年第45周 成交额 已回到正常进度（预计达成率 105%）" in notes[0]["text"]
    # The fourth round (15:00 and 17:00) never goes.
    assert dms_after(sent, "2026-11-04T10:00:00+08:00") == []
    listing = sent[-1]["text"].split("\n")
    assert listing == [
        "升级记录 — 深圳万象家居 × 联星出海 周度代运营",
        "#1 已自动结束：成交额 于 11-04 回到正常进度（预计达成率 105%）；"
        "此前已发 12 条，取消 4 条。"
        "升级时（11-03 11:00）：成交额 预计达成率仅 56%（低于 70% 即升级）：目前 12,000，"
        "目标 ≥ 150,000",
    ]


async def test_an_ack_between_the_checks_decision_and_its_store_keeps_the_group_truthful(
    two_replicas: tuple[Core, Core, VirtualClock], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Nov 4 check decides to end the escalation; before it stores that, a contact
    acknowledges it. It stays acknowledged (by that contact), and the check's message, which
    had nothing else to say, is not sent: the group is not told it "ended by itself"."""
    one, _, clock = two_replicas
    first = service(one)
    check = dt.datetime.fromisoformat("2026-11-04T10:00:00-08:00")
    clock.set(check - dt.timedelta(minutes=1))
    await one.tick(clock.now())
    clock.set(check)
    await first.enqueue_due(check)
    claimed = await first.store.claim(check, first.lease, 100)
    (job,) = [r for r in claimed if r.is_job and r.kind == "pace"]
    current = await one.ledger.current_deal(DEAL)
    assert current is not None
    decided = await first.jobs.run(job, current[0], check)
    assert len(decided.resolutions) == 1 and decided.messages
    acked = await first.escalations.ack(DEAL, person=SELLER, name="Lily", note="on it", at=check)
    assert [e.id for e in acked] == [decided.resolutions[0].escalation_id]

    async def as_decided(*_: Any) -> Any:
        return decided

    monkeypatch.setattr(first.jobs, "run", as_decided)
    await first.run_job(job, check)
    (esc,) = await first.escalations.of_deal(DEAL)
    assert (esc.status, esc.acked_name, esc.resolved_at) == ("acked", "Lily", None)
    rows = await first.store.rows(deal_id=DEAL)
    assert [r for r in rows if r.kind == "warning" and r.slot == "2026-11-04"] == []
    assert [r for r in rows if r.slot.endswith("/ended")] == []
    (stored_job,) = [r for r in rows if r.kind == "pace" and r.slot == "2026-11-04"]
    assert stored_job.status == "done"


async def test_an_unacknowledged_escalation_ends_with_its_period_and_frees_the_next_one() -> None:
    """Nobody acknowledged week 45's escalation: the first check of week 46 ends it with its
    week (the statement settles what the shortfall cost), tells the group and each contact it
    had reached, and a shortfall in week 46 escalates afresh (an escalation left open would
    have kept the metric from escalating again in any later week)."""
    seller, shared = ZH_SELLER, ZH_SHARED
    lines = [
        tick("2026-11-02T00:00:00+08:00"),
        *both("2026-11-02T23:00:00+08:00", "/report gmv 12000"),
        *both("2026-11-09T23:00:00+08:00", "/report gmv 9000"),
        *ticks("2026-11-10T08:00:00+08:00", "2026-11-10T12:00:00+08:00", HOUR),
        say("2026-11-10T12:30:00+08:00", seller, "/escalations", chat=shared),
    ]
    sent, check = await play_zh(lines, "2026-11-09T11:00:00+08:00")
    assert check[0]["text"].split("\n") == [
        "进度检查 2026-11-09 — 深圳万象家居 × 联星出海 周度代运营",
        "⏹ 2026年第45周 已结束：11-03 开始的 成交额 升级提醒（#1）随之结束，无人确认。"
        "已收到提醒的对接人会收到“无需处理”的通知。该期结果见：/statement 2026年第45周",
    ]
    notes = [m for m in sent if m["text"].startswith("⏹ 无需处理")]
    assert len(notes) == 4 and all(m["at"] == "2026-11-09T11:00:00+08:00" for m in notes)
    # Week 46 falls behind on Tuesday: escalation #2 starts, which #1 used to block.
    fresh = [m for m in dms_after(sent, "2026-11-10T00:00:00+08:00")]
    assert fresh and fresh[0][0] == "2026-11-10T11:00:00+08:00"
    listing = sent[-1]["text"].split("\n")
    assert listing[1].startswith("#2 11-10 11:00 起待确认：成交额 预计达成率仅 42%")
    assert listing[2].startswith(
        "#1 已随 2026年第45周 结束（11-09 检查），无人确认；此前已发 16 条，取消 0 条。"
    )
