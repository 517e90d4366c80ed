"""``/ack [note]`` and ``/escalations``: acknowledge a deal's escalations, and list them."""

from __future__ import annotations

import datetime as dt

from bot.core import Outgoing
from bot.core.context import Context
from bot.core.i18n import join_list
from bot.core.ports import EscalationDesk, EscalationRecord
from bot.core.render import fmt_time
from bot.core.views.escalation import describe, metric_of, resolved_on
from kpi.errors import UserError

RECENT = dt.timedelta(days=14)
"""``/escalations`` shows escalations acknowledged or ended by themselves this recently."""


def _desk(ctx: Context) -> EscalationDesk | None:
    """The scheduler's escalations (``None`` when no scheduler runs in this process)."""
    return ctx.services.escalations


def _contact_who(ctx: Context, role: str) -> str:
    """``Seller ops lead (Lily)``: the contact's role in the deal and the person's own name, as
    other notices name people; either alone when the other is missing or the same."""
    person = ctx.cmd.name if ctx.cmd.name and ctx.cmd.name != ctx.cmd.user else ""
    if role and person and role not in person:
        return ctx.t("escalation.contact_who", role=role, name=person)
    # A display name that already carries the role ("Seller ops lead (Lily)") is used as is.
    return person or role or ctx.cmd.user


async def ack(ctx: Context) -> list[Outgoing]:
    """``/ack [note]``: a designated contact stops the deal's open escalations.

    The acknowledgement is announced in every chat linked to the deal (the group), with who
    acknowledged and the note; a contact writing from elsewhere (a direct message) gets the
    same text back.
    """
    deal = ctx.deal
    assert deal is not None
    desk = _desk(ctx)
    if desk is None:
        return [ctx.reply(ctx.t("escalation.not_running"), kind="error")]
    contact = next((c for c in deal.contacts if c.who == ctx.cmd.user), None)
    if contact is None:
        contacts = join_list((c.name or c.who for c in deal.contacts), ctx.locale) or "—"
        raise UserError(
            "escalation.not_contact", person=ctx.cmd.name or ctx.cmd.user, contacts=contacts
        )
    note = ctx.args.strip()
    who = _contact_who(ctx, contact.name)
    acked = await desk.ack(
        deal.id, person=ctx.cmd.user, name=who, note=note, at=ctx.cmd.at
    )
    if not acked:
        return [ctx.reply(await _nothing_open(ctx, desk))]
    items = "\n".join([await _stopped(ctx, desk, e) for e in acked])
    if note:
        text = ctx.t("escalation.acked", who=who, items=items, note=note)
    else:
        text = ctx.t("escalation.acked_no_note", who=who, items=items)
    chats = [chat for chat, _ in await ctx.ledger.chats_of_deal(deal.id)]
    out = [Outgoing(to=chat, text=text, kind="escalation") for chat in chats]
    if ctx.cmd.chat not in chats:
        out.insert(0, ctx.reply(text))
    return out


async def _nothing_open(ctx: Context, desk: EscalationDesk) -> str:
    """Nothing was open to acknowledge; a pace escalation that ended by itself recently (its
    target back on pace) is named, so the contact does not think the /ack stopped it."""
    assert ctx.deal is not None
    deal = ctx.deal
    found = await desk.of_deal(deal.id, since=ctx.cmd.at - RECENT)
    ended = [
        ctx.t(
            "escalation.nothing_open_item",
            id=e.id,
            metric=metric_of(deal, e.detail, ctx.locale),
            check=resolved_on(e, deal.timezone),
        )
        for e in found
        if e.status == "resolved" and "pace" in (e.resolution or {})  # back on pace, not over
    ]
    if not ended:
        return ctx.t("escalation.nothing_open", deal=deal.name)
    items = join_list(ended, ctx.locale)
    return ctx.t("escalation.nothing_open_resolved", deal=deal.name, items=items)


async def _stopped(ctx: Context, desk: EscalationDesk, esc: EscalationRecord) -> str:
    """One acknowledged escalation and how many of its notices will not be sent now."""
    assert ctx.deal is not None
    stopped = await desk.cancelled_notices(esc.id)
    reason = describe(ctx.deal, esc.detail, ctx.locale)
    key = "escalation.acked_item" if stopped else "escalation.acked_item_all_sent"
    return ctx.t(key, id=esc.id, reason=reason, stopped=stopped)


async def escalations(ctx: Context) -> list[Outgoing]:
    """``/escalations``: the deal's open escalations and those acknowledged or ended by
    themselves (back on pace) recently."""
    deal = ctx.deal
    assert deal is not None
    desk = _desk(ctx)
    if desk is None:
        return [ctx.reply(ctx.t("escalation.not_running"), kind="error")]
    found = await desk.of_deal(deal.id, since=ctx.cmd.at - RECENT)
    if not found:
        return [ctx.reply(ctx.t("escalation.list_empty", deal=deal.name))]
    lines = [ctx.t("escalation.list_title", deal=deal.name)]
    for esc in found:
        reason = describe(deal, esc.detail, ctx.locale)
        if esc.status == "open":
            progress = await desk.progress(esc.id)
            lines.append(
                ctx.t(
                    "escalation.list_open",
                    id=esc.id,
                    started=fmt_time(esc.started_at, deal.timezone),
                    reason=reason,
                    sent=progress.sent,
                    levels=join_list((str(lv) for lv in progress.levels_told), ctx.locale)
                    or "—",
                    next=fmt_time(progress.next_due, deal.timezone)
                    if progress.next_due is not None
                    else ctx.t("escalation.list_none_next"),
                )
            )
        elif esc.status == "resolved":
            lines.append(await _resolved_line(ctx, desk, esc, reason))
        else:
            lines.append(
                ctx.t(
                    "escalation.list_acked",
                    id=esc.id,
                    at=fmt_time(esc.acked_at or esc.started_at, deal.timezone),
                    who=esc.acked_name or esc.acked_by or "—",
                    reason=reason,
                    note=ctx.t("escalation.list_note", note=esc.ack_note) if esc.ack_note else "",
                )
            )
    return [ctx.reply("\n".join(lines))]


async def _resolved_line(
    ctx: Context, desk: EscalationDesk, esc: EscalationRecord, reason: str
) -> str:
    """A pace escalation that ended by itself: when its target was back on pace, how many of
    its messages went and how many were cancelled, and what it said when it started (the
    figures of then, labelled as such)."""
    assert ctx.deal is not None
    progress = await desk.progress(esc.id)
    found = esc.resolution or {}
    return ctx.t(
        "escalation.list_period_over" if "period_over" in found else "escalation.list_resolved",
        id=esc.id,
        metric=metric_of(ctx.deal, esc.detail, ctx.locale),
        check=resolved_on(esc, ctx.deal.timezone),
        pace=found.get("pace", "—"),
        period=found.get("period_over", ""),
        sent=progress.sent,
        cancelled=await desk.cancelled_notices(esc.id),
        started=fmt_time(esc.started_at, ctx.deal.timezone),
        reason=reason,
    )
