"""Escalations: start one with every message it would send, acknowledge, list.

An escalation is started by a pace check (a target far behind, or a warning that stood for two
checks in a row) or by a disagreement left open for more than two days. Starting it stores the
escalation and, in the same transaction, one outbox row per message of its plan
(:func:`scheduler.slots.escalation_steps`): level 1 at once, each further level ``after`` later,
each level repeated every ``repeat`` up to ``max`` times, any of them due in quiet hours deferred
to their end. The outbox sends each row when it comes due, so the escalation advances with the
clock and, across replicas, each message goes once. ``/ack`` marks the escalation acknowledged
and cancels the rows not yet sent.

A pace escalation can also end by itself: a later pace check that finds its target back on pace
resolves it (:func:`resolve_escalation`, in the check's own transaction), cancels the rows not
yet sent, and tells each contact who was already notified that it is no longer needed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core import Outgoing
from bot.core.i18n import t
from bot.core.ports import EscalationRecord, Progress
from bot.core.render import fmt_time
from bot.core.views.escalation import describe
from kpi.model import Deal
from kpi.money import format_percent
from scheduler import messages
from scheduler.outbox import NewEscalation, NewRow, Outbox, OutboxRow, insert_for, row_values
from scheduler.slots import defer_quiet, escalation_steps
from scheduler.tables import escalations, outbox

__all__ = [
    "DISAGREEMENT_OPEN",
    "EscalationRecord",
    "Escalations",
    "Progress",
    "Resolution",
    "describe",
    "merged_notice",
    "notice_groups",
    "paged",
    "plan_escalation",
    "plan_resolution",
    "resolve_escalation",
    "start_escalation",
]

ESCALATION_KIND = "escalation"
ENDED_SLOT = "ended"
"""The slot suffix of the "no longer needed" note a resolved escalation sends each contact it
had already notified (``pace:gmv@2026-11-03/ended``)."""

DISAGREEMENT_OPEN = dt.timedelta(days=2)
"""A disagreement open longer than this escalates."""


def triggers(deal: Deal) -> str:
    """What starts an escalation, told in every first notice (and the README)."""
    rules = deal.schedule
    return t(
        "escalation.triggers",
        deal.locale,
        escalate=format_percent(rules.escalate_below),
        warn=format_percent(rules.warn_below),
        hours=int(DISAGREEMENT_OPEN.total_seconds() // 3600),
    )


def _record(row: Any) -> EscalationRecord:
    return EscalationRecord(
        id=int(row.id),
        deal_id=row.deal_id,
        reason=row.reason,
        origin=row.origin,
        status=row.status,
        detail=json.loads(row.detail),
        started_at=row.started_at,
        acked_by=row.acked_by,
        acked_name=row.acked_name,
        ack_note=row.ack_note,
        acked_at=row.acked_at,
        resolved_at=row.resolved_at,
        resolution=json.loads(row.resolution) if row.resolution else None,
    )


def plan_escalation(
    deal: Deal, reason: str, origin: str, detail: dict[str, Any], started_at: dt.datetime
) -> NewEscalation:
    """Every message of a new escalation, ready to store (see the module docstring).

    Args:
        deal: The deal (contacts, escalation timing, time zone, locale).
        reason: What it is about, stable across checks (``pace:gmv``,
            ``disagreement:2026-11-04:gmv``): one escalation per reason is open at a time.
        origin: The check that started it (the pace check's slot day).
        detail: What the messages say (see :func:`describe`).
        started_at: When it starts (aware).

    Returns:
        The escalation with its outbox rows (one per contact and step).
    """
    rules = deal.schedule.escalation
    levels = sorted({c.level for c in deal.contacts})
    about = describe(deal, detail)
    rows: list[NewRow] = []
    for step in escalation_steps(started_at, levels, rules, deal.timezone):
        for contact in (c for c in deal.contacts if c.level == step.level):
            text = t(
                "escalation.notice",
                deal.locale,
                deal=deal.name,
                reason=about,
                level=step.level,
                round=step.round,
                max=max(rules.max, 1),
                # Its figures are those of the start: a later notice says when that was.
                since=fmt_time(started_at, deal.timezone),
            )
            if step.round == 1:
                text += "\n" + triggers(deal)
            rows.append(
                NewRow(
                    deal_id=deal.id,
                    kind=ESCALATION_KIND,
                    slot=f"{reason}@{origin}/{step.key}",
                    chat=f"dm:{contact.who}",
                    due_at=step.due,
                    payload=messages.encode(Outgoing(to="", text=text, kind="escalation")),
                )
            )
    return NewEscalation(deal.id, reason, origin, detail, started_at, tuple(rows))


async def start_escalation(
    conn: AsyncConnection, new: NewEscalation, now: dt.datetime
) -> int | None:
    """Store an escalation and its messages in the caller's transaction.

    Returns:
        The new escalation's id, or ``None`` when it already exists (same reason and origin,
        e.g. a re-run check) or one with the same reason is still open.
    """
    statement = (
        insert_for(conn, escalations)
        .values(
            deal_id=new.deal_id,
            reason=new.reason,
            origin=new.origin,
            open_key=new.reason,
            status="open",
            detail=json.dumps(new.detail, sort_keys=True),
            started_at=new.started_at,
        )
        .on_conflict_do_nothing()
        .returning(escalations.c.id)
    )
    new_id = (await conn.execute(statement)).scalar_one_or_none()
    if new_id is None:
        return None
    values = [
        row_values(
            NewRow(
                deal_id=row.deal_id,
                kind=row.kind,
                slot=row.slot,
                chat=row.chat,
                due_at=row.due_at,
                payload=row.payload,
                escalation_id=int(new_id),
            ),
            now,
        )
        for row in sorted(new.rows, key=lambda r: r.key)
    ]
    if values:
        statement = insert_for(conn, outbox).on_conflict_do_nothing()
        await conn.execute(statement, values)
    return int(new_id)


@dataclass(frozen=True)
class Resolution:
    """An open escalation a pace check found no longer warranted, to end in the check's own
    transaction (:func:`resolve_escalation`)."""

    deal_id: str
    escalation_id: int
    reason: str
    origin: str
    found: dict[str, Any]
    """What the check found, stored as the escalation's ``resolution`` (``check``: its slot
    day; ``pace``: the metric's pace then)."""
    note: str
    """The "no longer needed" message for each contact already notified."""
    note_due: dt.datetime
    """When the note may go (the check's instant, or the end of the quiet hours)."""
    line: str = ""
    """Its line in the pace check's message to the group, taken back out if it turns out not
    to end it (an ``/ack`` got there first)."""


def plan_resolution(
    deal: Deal,
    record: EscalationRecord,
    found: dict[str, Any],
    now: dt.datetime,
    *,
    note: str,
    line: str,
) -> Resolution:
    """A resolution of ``record`` decided at ``now``; its note waits out the quiet hours."""
    quiet = deal.schedule.escalation.quiet
    due = defer_quiet(now, quiet, deal.timezone)
    return Resolution(deal.id, record.id, record.reason, record.origin, found, note, due, line)


def paged(sent: Iterable[tuple[str, str]]) -> list[str]:
    """The contacts an escalation's notices reached, from its sent rows' ``(chat, slot)``:
    direct-message chats (a note in a group about a refused direct message does not count)."""
    return sorted({chat for chat, slot in sent if chat.startswith("dm:") and "!" not in slot})


async def resolve_escalation(
    conn: AsyncConnection, res: Resolution, now: dt.datetime
) -> list[NewRow] | None:
    """End an open escalation by itself, in the caller's transaction (a pace check's).

    Guarded by ``status = 'open'``: a second run of the same check, another replica, or an
    ``/ack`` that got there first changes nothing. Otherwise the escalation is ``resolved``,
    its ``open_key`` cleared (the same shortfall may escalate afresh later) and its unsent
    notices cancelled.

    Returns:
        ``None`` when it was not open; else the note for each contact one of its notices
        reached, that it is no longer needed, for the caller to store after the check's own
        message (keyed ``<reason>@<origin>/ended``: stored once).
    """
    done = await conn.execute(
        update(escalations)
        .where(escalations.c.id == res.escalation_id, escalations.c.status == "open")
        .values(
            status="resolved",
            open_key=None,
            resolved_at=now,
            resolution=json.dumps(res.found, sort_keys=True),
        )
    )
    if not done.rowcount:
        return None
    # Claimed rows are left to their sender, which checks the status before sending.
    await conn.execute(
        update(outbox)
        .where(outbox.c.escalation_id == res.escalation_id, outbox.c.status == "pending")
        .values(status="cancelled", finished_at=now, error="resolved")
    )
    sent = await conn.execute(
        select(outbox.c.chat, outbox.c.slot).where(
            outbox.c.escalation_id == res.escalation_id, outbox.c.status == "sent"
        )
    )
    payload = messages.encode(Outgoing(to="", text=res.note, kind="escalation"))
    slot = f"{res.reason}@{res.origin}/{ENDED_SLOT}"
    # No escalation_id: the sender cancels an escalation's rows once it is not open.
    return [
        NewRow(res.deal_id, ESCALATION_KIND, slot, chat, res.note_due, payload)
        for chat in paged((r.chat, r.slot) for r in sent)
    ]


class Escalations:
    """Reading and acknowledging escalations."""

    def __init__(self, store: Outbox) -> None:
        self.store = store

    async def of_deal(
        self, deal_id: str, *, since: dt.datetime | None = None
    ) -> list[EscalationRecord]:
        """A deal's open escalations, then those that ended (acknowledged, or resolved by a pace
        check) since ``since``, newest first."""

        async def work(conn: AsyncConnection) -> list[EscalationRecord]:
            rows = await conn.execute(
                select(escalations)
                .where(escalations.c.deal_id == deal_id)
                .order_by(escalations.c.started_at.desc(), escalations.c.id.desc())
            )
            return [_record(r) for r in rows]

        found = await self.store.read(work)
        open_ = [e for e in found if e.status == "open"]
        closed = [
            e
            for e in found
            if e.status != "open" and (since is None or (e.ended_at or e.started_at) >= since)
        ]
        return open_ + closed

    async def ack(
        self,
        deal_id: str,
        *,
        person: str,
        name: str,
        note: str,
        at: dt.datetime,
        reason: str | None = None,
    ) -> list[EscalationRecord]:
        """Acknowledge every open escalation of a deal (only the one of ``reason`` when given,
        e.g. a disagreement a confirmation settled) and cancel its unsent messages.

        Returns:
            The escalations acknowledged now (empty when none was open).
        """

        async def work(conn: AsyncConnection) -> list[EscalationRecord]:
            query = select(escalations).where(
                escalations.c.deal_id == deal_id, escalations.c.status == "open"
            )
            if reason is not None:
                query = query.where(escalations.c.reason == reason)
            rows = await conn.execute(query.order_by(escalations.c.id).with_for_update())
            opened = [_record(r) for r in rows]
            if not opened:
                return []
            ids = [e.id for e in opened]
            await conn.execute(
                update(escalations)
                .where(escalations.c.id.in_(ids))
                .values(
                    status="acked",
                    open_key=None,
                    acked_by=person,
                    acked_name=name,
                    ack_note=note,
                    acked_at=at,
                )
            )
            # Claimed rows are left to their sender, which checks the status before sending.
            await conn.execute(
                update(outbox)
                .where(outbox.c.escalation_id.in_(ids), outbox.c.status == "pending")
                .values(status="cancelled", finished_at=at, error="acknowledged")
            )
            return opened

        return await self.store.write(work)

    async def open_count(self) -> int:
        """Escalations not acknowledged and not finished: some message of theirs is still
        waiting to be sent (``/metrics``). One that sent its every round unacknowledged has
        run its course and no longer counts."""

        async def work(conn: AsyncConnection) -> int:
            waiting = (
                select(outbox.c.id)
                .where(
                    outbox.c.escalation_id == escalations.c.id,
                    outbox.c.status.in_(("pending", "claimed")),
                )
                .exists()
            )
            found = await conn.execute(
                select(func.count())
                .select_from(escalations)
                .where(escalations.c.status == "open", waiting)
            )
            return int(found.scalar_one())

        return await self.store.read(work)

    async def progress(self, escalation_id: int) -> Progress:
        """Messages sent so far, the levels told, the next one due and how many remain."""
        rows: list[OutboxRow] = await self.store.rows(escalation_id=escalation_id)
        sent = [r for r in rows if r.status == "sent"]
        pending = [r for r in rows if r.status in ("pending", "claimed")]
        levels = sorted(
            {int(r.slot.rsplit("/L", 1)[1].split(".")[0]) for r in sent if "/L" in r.slot}
        )
        return Progress(
            sent=len(sent),
            levels_told=tuple(levels),
            next_due=min((r.due_at for r in pending), default=None),
            remaining=len(pending),
        )

    async def cancelled_notices(self, escalation_id: int) -> int:
        """How many of an escalation's notices were cancelled (never to be sent)."""
        rows: list[OutboxRow] = await self.store.rows(escalation_id=escalation_id)
        return sum(1 for r in rows if r.status == "cancelled")


def notice_step(slot: str) -> tuple[int, int]:
    """The level and round of a notice from its slot (``…/L<level>.<round>``); (0, 0) if none."""
    try:
        level, round_ = slot.rsplit("/L", 1)[1].split(".", 1)
        return int(level), int(round_)
    except (IndexError, ValueError):
        return 0, 0


def merged_notice(deal: Deal, notices: Sequence[tuple[EscalationRecord, str]]) -> Outgoing:
    """One message for several escalations' notices due to one person at one moment.

    Args:
        deal: The deal the escalations belong to.
        notices: Each escalation with its notice's slot, in sending order (each item says
            when its escalation was raised: its figures are those of then).

    Returns:
        The message: a title, one numbered line per escalation with its level and round, and
        one ``/ack`` hint (an acknowledgement stops every open escalation of the deal).
    """
    loc = deal.locale
    most = max(deal.schedule.escalation.max, 1)
    lines = [t("escalation.merged_title", loc, deal=deal.name, count=len(notices))]
    for number, (record, slot) in enumerate(notices, 1):
        level, round_ = notice_step(slot)
        lines.append(
            t(
                "escalation.merged_item",
                loc,
                number=number,
                reason=describe(deal, record.detail),
                level=level,
                round=round_,
                max=most,
                since=fmt_time(record.started_at, deal.timezone),
            )
        )
    if any(notice_step(slot)[1] == 1 for _, slot in notices):
        lines.append(triggers(deal))
    lines.append(t("escalation.merged_ack", loc))
    return Outgoing(to="", text="\n".join(lines), kind="escalation")


def notice_groups(rows: Sequence[OutboxRow]) -> list[list[OutboxRow]]:
    """Escalation notices in one claimed batch that go to one person for one deal, where
    more than one escalation is involved: each such group is sent as one message."""
    groups: dict[tuple[str, str], list[OutboxRow]] = {}
    for row in rows:
        # Direct notices only: a refusal note in a group ("!" in its slot) stays as it is.
        if row.escalation_id is None or not row.chat.startswith("dm:") or "!" in row.slot:
            continue
        groups.setdefault((row.deal_id, row.chat), []).append(row)
    return [g for g in groups.values() if len({r.escalation_id for r in g}) > 1]
