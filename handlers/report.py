"""Reporting figures and agreeing on them: ``/report``, ``/confirm``, ``/dispute``, ``/history``."""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from bot.core import Outgoing
from bot.core.context import Context
from bot.core.render import fmt_day, fmt_list, fmt_pair, fmt_person, fmt_time, fmt_value, label
from bot.core.views.platform import platform_days
from bot.core.views.settled import confirm_command
from handlers.statement import ended_period, late_effect
from kpi.commands import Units, check_unit, parse_metric_day, parse_report, resolve_metric
from kpi.errors import UserError
from kpi.ledger import ReportResult
from kpi.model import Deal, Entry, Side, Verdict, other_side
from kpi.money import format_percent
from kpi.numbers import fold_width, format_plain, parse_figure
from kpi.periods import previous_period
from kpi.platform.terms import platform_metrics
from kpi.sides import Figure, agrees, resolve
from kpi.snapshot import current_period, snapshot
from kpi.unusual import day_levels, replaced_far, unusual, usual_days


def _deal(ctx: Context) -> Deal:
    assert ctx.deal is not None  # the router resolved it (needs_deal)
    return ctx.deal


def _speaking_side(ctx: Context) -> Side:
    """The side a person writes for (reports, confirms, disputes), or the refusal that
    states the rule (:func:`kpi.sides.acting_side`, the one rule /whoami states too)."""
    acting = ctx.acting
    assert acting is not None  # the router resolved the deal (needs_deal)
    if acting.side is None:
        raise ctx.refusal(acting)
    return acting.side


def units(deal: Deal) -> Units:
    """The kinds of the deal's reported metrics and its currency, to check figures against."""
    return Units(
        kinds={name: m.kind for name, m in deal.metrics.items() if not m.derived},
        currency=deal.currency,
    )


HISTORY_SHOWN = 30
"""``/history`` lists this many entries, newest first, and says how many more there are."""
HISTORY_SCAN = 1000
"""Entries counted beyond the shown ones (past this, ``1000+``)."""


async def report(ctx: Context) -> list[Outgoing]:
    """``/report gmv 12000 [orders 340 ...] [DATE]``: store the day's figures for one side."""
    deal = _deal(ctx)
    args = parse_report(
        ctx.args,
        reportable=deal.base_metrics,
        derived=deal.formulas,
        today=ctx.today,
        starts=deal.starts,
        units=units(deal),
        words=deal.metric_words,
    )
    if deal.ends is not None and args.day > deal.ends:  # issue 12: the deal has ended
        raise UserError("sem.deal_ended", ends=deal.ends.isoformat(), day=args.day.isoformat())
    side = _speaking_side(ctx)
    ended = ended_period(deal, ctx.today, args.day)
    result = await ctx.ledger.record_report(
        deal_id=deal.id,
        day=args.day,
        values=args.values,
        side=side,
        person=ctx.cmd.user,
        person_name=ctx.cmd.name,
        chat=ctx.cmd.chat,
        message_key=ctx.message_key,
        at=ctx.cmd.at,
        # Re-sending the figure already on record (a double-submitted command, or the same
        # figure sent again with another metric) is no correction.
        skip_unchanged=True,
        # A period that has ended may be closed: its statement is read with the report.
        ended_period=None if ended is None else ended.label,
    )
    if result.duplicate:
        entries = list(result.entries)
        text = _already(ctx, deal, entries) + await _still_disputed(ctx, deal, entries)
        return [ctx.reply(text)]
    lines = [ctx.t("report.saved", day=fmt_day(args.day), side=ctx.t(f"side.{side}"))]
    lines.extend(_report_lines(ctx, deal, side, result))
    pairs = list(zip(result.entries, result.others, strict=True))
    if deal.truth == "agreed":
        needs_note = not all(
            theirs is not None and agrees(theirs.value, entry.value, deal.tolerance)
            for entry, theirs in pairs
        )
    else:
        needs_note = deal.truth == other_side(side) and any(theirs is None for _, theirs in pairs)
    if needs_note:
        lines.append(_counting_note(ctx, deal, side))
    lines += _platform_differs(ctx, deal, result)
    lines += await _unusual_lines(ctx, deal, side, result)
    effect = await late_effect(ctx.t, ctx.ledger, deal, ctx.today, ended, result.statement)
    lines.append(effect or "")
    return [ctx.reply("\n".join(line for line in lines if line))]


def _platform_differs(ctx: Context, deal: Deal, result: ReportResult) -> list[str]:
    """A line for each figure just reported that an imported platform export for its day
    contradicts beyond the deal's tolerance: both numbers, so it is checked now, not at the
    statement. The export's figures of the day came with the result (read as it was stored)."""
    entries = result.entries
    if not entries or not result.platform:
        return []
    day = entries[0].day
    platform = platform_metrics(deal, {day: dict(result.platform)}).get(day, {})
    return [
        ctx.t(
            "fc.report_platform_differs",
            metric=label(deal, entry.metric),
            day=fmt_day(day),
            typed=fmt_value(deal, entry.metric, entry.value),
            platform=fmt_value(deal, entry.metric, platform[entry.metric]),
            tolerance=format_percent(deal.tolerance, 1),
        )
        for entry in entries
        if entry.metric in platform
        and not agrees(entry.value, platform[entry.metric], deal.tolerance)
    ]


async def _unusual_lines(ctx: Context, deal: Deal, side: Side, result: ReportResult) -> list[str]:
    """A warning for each figure just stored that is far from its metric's usual level
    (:mod:`kpi.unusual`): the usual level, and the /report form that replaces the day's
    figure; else, far from the figure of the same day and side it corrects (on a deal's
    first days too, with no usual level yet): that figure, and the form that puts it back.
    None for a correction back near an earlier figure, or in line after an unusual one.
    The figure stays stored: only a correction replaces it."""
    stored = [
        (e, result.superseded[i]) for i, e in enumerate(result.entries) if not result.is_kept(i)
    ]
    # Each metric's figures of the days before, read in the report's own transaction (a read
    # of its own was most of a report's time); none for a duplicate, which stored nothing.
    recent = result.recent
    if not stored or recent is None:
        return []
    day = stored[0][0].day
    lines = []
    for entry, old in stored:
        history = usual_days(day_levels(recent.get(entry.metric, ()), side), day)
        verdict = unusual(entry.value, history)
        # One warning a figure: the usual level's when it fires. A correction of a figure
        # that was itself unusual, back in line, puts a slip right: no warning.
        slip_fixed = old is not None and unusual(old.value, history) is not None
        far = None if verdict or slip_fixed else await _far_correction(ctx, entry, old)
        shown = {
            "metric": label(deal, entry.metric),
            "value": fmt_value(deal, entry.metric, entry.value),
            "day": fmt_day(day),
        }
        if old is not None and far is not None:
            old_value = fmt_value(deal, entry.metric, old.value)
            plain = format_plain(old.value)
            lines.append(ctx.t(f"guards.correction_{far}", old=old_value, plain=plain, **shown))
        elif verdict is not None:
            usual = fmt_value(deal, entry.metric, verdict.usual)
            lines.append(
                ctx.t(
                    f"guards.unusual_{verdict.direction}",
                    usual=usual,
                    days=verdict.days,
                    **shown,
                )
            )
    return lines


async def _far_correction(ctx: Context, entry: Entry, old: Entry | None) -> str | None:
    """How a correction is far from the figure it replaces (:func:`replaced_far`), unless it
    goes back near a figure that side had for the day before (the typo being put right)."""
    far = None if old is None else replaced_far(entry.value, old.value)
    if old is None or far is None:
        return None
    earlier = await ctx.ledger.history(entry.deal_id, metric=entry.metric, day=entry.day)
    back = any(
        before.side == entry.side
        and before.id < old.id
        and replaced_far(entry.value, before.value) is None
        for before in earlier
    )
    return None if back else far


def _report_lines(ctx: Context, deal: Deal, side: Side, result: ReportResult) -> list[str]:
    """One line per figure (new, corrected, or unchanged), each with any disagreement."""
    lines = []
    rows = zip(result.entries, result.superseded, result.others, strict=True)
    for index, (entry, old, theirs) in enumerate(rows):
        value = fmt_value(deal, entry.metric, entry.value)
        params = {"metric": label(deal, entry.metric), "value": value, "id": entry.id}
        if result.is_kept(index):
            lines.append(ctx.t("trust.line_unchanged", **params))
        elif old is not None and old.person != entry.person:
            lines.append(
                ctx.t(
                    "trust.line_corrected_other",
                    old=fmt_value(deal, entry.metric, old.value),
                    who=fmt_person(old),
                    at=fmt_time(old.recorded_at, deal.timezone),
                    **params,
                )
            )
            if entry.person not in deal.members.get(side, ()):
                # Unlisted people speak for a one-side chat by default; overwriting a
                # colleague's figure silently would let anyone in the chat change the ledger.
                lines.append(ctx.t("fc.unlisted_replaced", who=fmt_person(old)))
        elif old is not None:
            old_value = fmt_value(deal, entry.metric, old.value)
            lines.append(ctx.t("report.line_corrected", old=old_value, **params))
        else:
            lines.append(ctx.t("report.line", **params))
        if theirs is not None and not agrees(entry.value, theirs.value, deal.tolerance):
            lines.append(
                ctx.t(
                    "report.disagrees",
                    metric=label(deal, entry.metric),
                    other=ctx.t(f"side.{other_side(side)}"),
                    theirs=fmt_value(deal, entry.metric, theirs.value),
                    tolerance=format_percent(deal.tolerance, 1),
                )
            )
    return lines


async def _day_figures(
    ctx: Context, deal: Deal, day: dt.date
) -> tuple[dict[tuple[dt.date, str], Figure], list[Verdict]]:
    """One day's figures as :func:`kpi.sides.resolve` judges them, and the day's verdicts."""
    current = await ctx.ledger.current_entries(deal.id, day, day)
    verdicts = await ctx.ledger.verdicts(deal.id, day, day)
    return resolve(current, verdicts, truth=deal.truth, tolerance=deal.tolerance), verdicts


async def _still_disputed(ctx: Context, deal: Deal, entries: list[Entry]) -> str:
    """For a figure sent again that the other side disputes (a standing dispute of it:
    :attr:`kpi.sides.Figure.disputes`): that sending it again settles nothing, and what does
    (their confirmation, or a corrected figure)."""
    if not entries:
        return ""
    figures, _ = await _day_figures(ctx, deal, entries[0].day)
    lines = []
    for entry in entries:
        figure = figures.get((entry.day, entry.metric))
        for verdict in figure.disputes if figure else ():
            if verdict.entry_id != entry.id:
                continue
            lines.append(
                ctx.t(
                    "report.still_disputed",
                    other=ctx.t(f"side.{verdict.side}"),
                    who=verdict.person_name or verdict.person,
                    metric=label(deal, entry.metric),
                    value=fmt_value(deal, entry.metric, entry.value),
                    reason=verdict.reason,
                )
            )
    return "".join("\n" + line for line in lines)


def _already(ctx: Context, deal: Deal, entries: list[Entry]) -> str:
    shown = fmt_list(deal, (fmt_pair(deal, e.metric, e.value) for e in entries))
    day = fmt_day(entries[0].day) if entries else ""
    return ctx.t("report.already", figures=shown, day=day)


def _counting_note(ctx: Context, deal: Deal, side: Side) -> str:
    """Say whether this side's figure counts under the deal's ``truth`` rule."""
    if deal.truth == side:
        return ""
    if deal.truth == "agreed":
        return ctx.t("report.needs_confirmation", other=ctx.t(f"side.{other_side(side)}"))
    return ctx.t("report.provisional", truth=ctx.t(f"side.{deal.truth}"))


async def _other_sides_entry(
    ctx: Context, deal: Deal, metric: str, day: dt.date | None, side: Side
) -> Entry | None:
    """The other side's current figure for ``metric``: on ``day``, or the latest one."""
    if day is not None:
        current = await ctx.ledger.current_entries(deal.id, day, day)
        for entry in current:
            if entry.metric == metric and entry.side != side:
                return entry
        return None
    for entry in await ctx.ledger.history(deal.id, metric=metric, limit=200):
        if entry.side != side:
            heads = await ctx.ledger.current_entries(deal.id, entry.day, entry.day)
            return next(
                (h for h in heads if h.metric == metric and h.side != side),
                None,
            )
    return None


async def confirm(ctx: Context) -> list[Outgoing]:
    """``/confirm METRIC [DATE] [VALUE]`` or ``/confirm #ID``: accept the other side's figure."""
    return await _verdict(ctx, "confirm")


async def dispute(ctx: Context) -> list[Outgoing]:
    """``/dispute METRIC [DATE] REASON`` or ``/dispute #ID REASON``: object to the other side's
    figure."""
    return await _verdict(ctx, "dispute")


# "#12": an entry as /history numbers it (a deal tag always has a letter, see extract_deal_tag).
_ENTRY_REF = re.compile(r"#(?P<id>[0-9]{1,18})(?:\s+(?P<rest>.*))?", re.DOTALL)


async def _verdict_target(ctx: Context, deal: Deal, side: Side, kind: str) -> tuple[Entry, str]:
    """The other side's entry a verdict is about, and the rest of the command."""
    args = ctx.args.strip()
    if not args and kind == "confirm":
        raise await _what_to_confirm(ctx, deal, side)
    ref = _ENTRY_REF.fullmatch(fold_width(args))  # one character for one: offsets carry over
    if ref is not None:
        rest = args[ref.start("rest") :].strip() if ref["rest"] else ""
        return await _entry_by_ref(ctx, deal, side, int(ref["id"])), rest
    metric, day, rest = parse_metric_day(
        ctx.args,
        known=deal.base_metrics,
        today=ctx.today,
        starts=deal.starts,
        need_metric=True,
        words=deal.metric_words,
    )
    assert metric is not None
    theirs = await _other_sides_entry(ctx, deal, metric, day, side)
    if theirs is None:
        # The form to type, with the reason a dispute needs.
        shown = {
            "metric": label(deal, metric),
            "verb": ctx.t(f"{kind}.verb"),
            "form": ctx.t(f"{kind}.form"),
        }
        if day is None:  # the latest of any day was looked for: no date to name
            raise UserError("confirm.nothing_recent", **shown)
        raise UserError("confirm.nothing", day=fmt_day(day), **shown)
    return theirs, rest.strip()


CONFIRMABLE_SHOWN = 8
"""Figures a bare ``/confirm`` lists at most."""


async def _what_to_confirm(ctx: Context, deal: Deal, side: Side) -> UserError:
    """A bare ``/confirm``: the other side's figures that wait for this side's confirmation
    (this period's and the previous one's, not yet counted, oldest first), each with the
    command that confirms it; or that nothing waits."""
    current = current_period(deal, ctx.today)
    periods = [p for p in (previous_period(current, deal.starts), current) if p is not None]
    waiting: list[Figure] = []
    for period in periods:  # each judged by its own terms, as /kpi judges it
        snap = await snapshot(ctx.ledger, deal, ctx.today, period=period)
        waiting.extend(
            f
            for f in snap.figures.values()
            if f.status in ("pending", "provisional") and f.entry(other_side(side)) is not None
        )
    side_name = ctx.t(f"side.{side}")
    if not waiting:
        return UserError("confirm.none_waiting", side=side_name)
    waiting.sort(key=lambda f: (f.day, f.metric))
    lines = []
    for figure in waiting[:CONFIRMABLE_SHOWN]:
        theirs = figure.entry(other_side(side))
        assert theirs is not None
        lines.append(
            ctx.t(
                "confirm.waiting_item",
                day=fmt_day(figure.day),
                metric=label(deal, figure.metric),
                value=fmt_value(deal, figure.metric, theirs.value),
                other=ctx.t(f"side.{theirs.side}"),
                id=theirs.id,
                command=confirm_command(deal, figure),
            )
        )
    if len(waiting) > CONFIRMABLE_SHOWN:
        lines.append(ctx.t("list.more", count=len(waiting) - CONFIRMABLE_SHOWN))
    return UserError("confirm.choose", side=side_name, items="\n".join(lines))


async def _entry_by_ref(ctx: Context, deal: Deal, side: Side, entry_id: int) -> Entry:
    """Entry ``#entry_id`` of this deal, if it is the other side's current figure."""
    entry = await ctx.ledger.entry(entry_id)
    if entry is None or entry.deal_id != deal.id:
        raise UserError("trust.no_entry", id=entry_id)
    if entry.side == side:
        raise UserError("trust.own_entry", id=entry_id, side=ctx.t(f"side.{side}"))
    heads = await ctx.ledger.current_entries(deal.id, entry.day, entry.day)
    current = next(h for h in heads if h.metric == entry.metric and h.side == entry.side)
    if current.id != entry.id:
        raise UserError(
            "trust.entry_superseded",
            id=entry_id,
            current=current.id,
            metric=entry.metric,
            value=fmt_value(deal, entry.metric, current.value),
        )
    return entry


def _check_expected(ctx: Context, deal: Deal, theirs: Entry, text: str) -> None:
    """``/confirm ... VALUE`` confirms only the figure the person saw: refuse another."""
    try:
        expected, mark = parse_figure(text)
    except UserError:
        raise UserError(
            "trust.confirm_value", text=text, metric=theirs.metric, day=fmt_day(theirs.day)
        ) from None
    check_unit(theirs.metric, expected, mark, text, units(deal))
    if expected != theirs.value:
        raise UserError(
            "trust.confirm_changed",
            other=ctx.t(f"side.{theirs.side}"),
            metric=theirs.metric,
            day=fmt_day(theirs.day),
            now=fmt_value(deal, theirs.metric, theirs.value),
            expected=fmt_value(deal, theirs.metric, expected),
            id=theirs.id,
        )


async def _verdict(ctx: Context, kind: Literal["confirm", "dispute"]) -> list[Outgoing]:
    deal = _deal(ctx)
    side = _speaking_side(ctx)
    theirs, rest = await _verdict_target(ctx, deal, side, kind)
    await _refuse_moot_verdict(ctx, deal, side, theirs, kind)
    if kind == "dispute" and not rest:
        raise UserError("dispute.needs_reason", metric=theirs.metric)
    if kind == "confirm" and rest:
        _check_expected(ctx, deal, theirs, rest)
    stored, unchanged = await ctx.ledger.record_verdict(
        deal_id=deal.id,
        day=theirs.day,
        metric=theirs.metric,
        kind=kind,
        side=side,
        person=ctx.cmd.user,
        person_name=ctx.cmd.name,
        entry_id=theirs.id,
        reason=rest if kind == "dispute" else "",
        chat=ctx.cmd.chat,
        message_key=ctx.message_key,
        at=ctx.cmd.at,
    )
    params = {
        "metric": label(deal, theirs.metric),
        "day": fmt_day(theirs.day),
        "other": ctx.t(f"side.{theirs.side}"),
        "value": fmt_value(deal, theirs.metric, theirs.value),
        "reason": stored.reason,
        "id": theirs.id,
    }
    text = ctx.t(f"{kind}.done", **params)
    if unchanged and stored.message_key == ctx.message_key:
        text = ctx.t("report.already_verdict") + "\n" + text
    elif unchanged:
        text = ctx.t(f"trust.already_{kind}", who=stored.person_name or stored.person, **params)
    elif kind == "confirm":
        text += await _accepted_instead(ctx, deal, side, theirs)
        text += await _settle_escalation(ctx, deal, theirs.day)
    if not unchanged:
        text += await _late_verdict(ctx, deal, theirs.day)
    if kind == "dispute":
        # Posted again on a retried command, or a dispute typed again after a crash between
        # storing it and posting its notice (Slack never redelivers a command it acknowledged):
        # the outbox keys the notice by the dispute, so it goes once.
        text += await _tell_other_side(ctx, deal, side, theirs, stored)
    return [ctx.reply(text)]


async def _refuse_moot_verdict(
    ctx: Context, deal: Deal, side: Side, theirs: Entry, kind: Literal["confirm", "dispute"]
) -> None:
    """Refuse a verdict on a figure that does not count because its own side already accepted
    the speaking side's figure. A dispute has nothing left to object to (and its notice would
    ask them to correct or accept what they already accepted); a confirmation would cross
    theirs, each side accepting the other's figure, and leave which one counts to a rule
    nobody chose: the reply says how to let theirs count instead (report it as one's own)."""
    day = theirs.day
    figures, verdicts = await _day_figures(ctx, deal, day)
    figure = figures.get((day, theirs.metric))
    if figure is None or figure.counted_side != side or figure.confirmed_by != theirs.side:
        return
    own = figure.entry(side)
    assert own is not None  # the counted figure is this side's current entry
    if own.value == theirs.value:
        return  # the same figure: confirming it changes nothing anyone could misread
    accepted = max(
        (
            v
            for v in verdicts
            if v.kind == "confirm" and v.side == theirs.side and v.entry_id == own.id
        ),
        key=lambda v: v.id,
        default=None,
    )
    raise UserError(
        f"trust.{kind}_moot",
        other=ctx.t(f"side.{theirs.side}"),
        metric=label(deal, theirs.metric),
        day=fmt_day(day),
        own=fmt_value(deal, own.metric, own.value),
        own_id=own.id,
        value=fmt_value(deal, theirs.metric, theirs.value),
        plain=format_plain(theirs.value),
        id=theirs.id,
        who=(accepted.person_name or accepted.person) if accepted else ctx.t(f"side.{theirs.side}"),
        at=fmt_time(accepted.recorded_at, deal.timezone) if accepted else "",
    )


async def _late_verdict(ctx: Context, deal: Deal, day: dt.date) -> str:
    """A verdict on a day of a closed period: the line saying the closed statement stands
    (as a late report's reply does); else nothing."""
    ended = ended_period(deal, ctx.today, day)
    if ended is None:
        return ""
    record = await ctx.services.statements.get(deal.id, ended.label)
    key = "trust.closed_period_verdict"
    effect = await late_effect(ctx.t, ctx.ledger, deal, ctx.today, ended, record, key=key)
    return "\n" + effect if effect else ""


async def _accepted_instead(ctx: Context, deal: Deal, side: Side, theirs: Entry) -> str:
    """When the deal's truth side confirms the other side's figure over a different one of its
    own, the line saying that the confirmed figure now counts instead (:func:`kpi.sides.resolve`);
    else nothing."""
    if deal.truth != side:
        return ""
    current = await ctx.ledger.current_entries(deal.id, theirs.day, theirs.day)
    own = next((e for e in current if e.side == side and e.metric == theirs.metric), None)
    if own is None or own.value == theirs.value:
        return ""
    return "\n" + ctx.t(
        "confirm.accepted_instead",
        value=fmt_value(deal, theirs.metric, theirs.value),
        day=fmt_day(theirs.day),
        side=ctx.t(f"side.{side}"),
        own=fmt_value(deal, own.metric, own.value),
    )


async def _tell_other_side(
    ctx: Context, deal: Deal, side: Side, theirs: Entry, stored: Verdict
) -> str:
    """Tell the disputed side's own chats (else the shared ones) who disputed which figure and
    how to answer, through the outbox (:class:`bot.core.ports.Notices`); the line the reply
    gains says where the notice went."""
    notices = ctx.services.notices
    linked = await ctx.ledger.chats_of_deal(deal.id)
    chats = [c for c, s in linked if s == theirs.side and c != ctx.cmd.chat]
    told = "guards.dispute_told"
    if not chats:  # the other side has no chat of its own: it reads the shared ones
        chats = [c for c, s in linked if s == "shared" and c != ctx.cmd.chat]
        told = "guards.dispute_told_shared"
    other = ctx.t(f"side.{theirs.side}")
    if not chats:
        return "\n" + ctx.t("guards.dispute_not_told", other=other)
    if notices is None:  # no scheduler in this process: nothing can carry the notice
        metric = label(deal, theirs.metric)
        return "\n" + ctx.t("guards.dispute_not_sent", other=other, metric=metric)
    day = theirs.day
    own = next(
        (
            e
            for e in await ctx.ledger.current_entries(deal.id, day, day)
            if e.metric == theirs.metric and e.side == side
        ),
        None,
    )
    words = {
        "who": ctx.cmd.name or ctx.cmd.user,
        "side": ctx.t(f"side.{side}"),
        "metric": label(deal, theirs.metric),
        "value": fmt_value(deal, theirs.metric, theirs.value),
        "day": fmt_day(day),
        "id": theirs.id,
        "reason": stored.reason,
    }
    text = ctx.t("guards.dispute_notice", **words)
    if own is not None and own.value != theirs.value:  # the disputing side's own figure
        theirs_shown = fmt_value(deal, own.metric, own.value)
        text += "\n" + ctx.t("guards.dispute_answer_confirm", theirs=theirs_shown, **words)
    message = [Outgoing(to=chat, text=text, kind="notice") for chat in chats]
    await notices.post(deal.id, kind="dispute", key=str(stored.id), messages=message, at=ctx.cmd.at)
    return "\n" + ctx.t(told, other=other, chats=fmt_list(deal, chats))


async def _settle_escalation(ctx: Context, deal: Deal, day: dt.date) -> str:
    """A confirmation that leaves nothing contested on its day ends that day's disagreement
    escalation (its unsent notices are cancelled); the reply then says so."""
    desk = ctx.services.escalations
    if desk is None:
        return ""
    figures, _ = await _day_figures(ctx, deal, day)
    if any(f.contested for f in figures.values()):
        return ""
    settled = await desk.ack(
        deal.id,
        person=ctx.cmd.user,
        name=ctx.cmd.name or ctx.cmd.user,
        note=ctx.t("trust.settled_note"),
        at=ctx.cmd.at,
        reason=f"disagreement:{day.isoformat()}",
    )
    return "\n" + ctx.t("trust.escalation_settled", day=fmt_day(day)) if settled else ""


def _verdict_lines(ctx: Context, verdicts: list[Verdict]) -> str:
    """An entry's verdicts, oldest first; one a later verdict of the same side replaced is
    marked so (a dispute after a confirmation takes its place)."""
    text = ""
    for index, v in enumerate(verdicts):
        said = ctx.t(f"history.{v.kind}", who=v.person_name or v.person, reason=v.reason)
        text += "\n    " + said.rstrip()
        if any(later.side == v.side for later in verdicts[index + 1 :]):
            text += ctx.t("trust.history_replaced")
    return text


async def history(ctx: Context) -> list[Outgoing]:
    """``/history [METRIC] [DATE]``: every entry, who, side, when, and what it superseded."""
    deal = _deal(ctx)
    metric, day, _rest = parse_metric_day(
        ctx.args,
        known=deal.base_metrics,
        today=ctx.today,
        starts=deal.starts,
        need_metric=False,
        words=deal.metric_words,
    )
    if _rest:
        # "/history foo": say that foo is no metric rather than list everything.
        resolve_metric(
            _rest.split()[0],
            deal.base_metrics,
            code="history.unknown_metric",
            words=deal.metric_words,
        )
    found = await ctx.ledger.history(deal.id, metric=metric, day=day, limit=HISTORY_SCAN)
    entries = found[:HISTORY_SHOWN]
    if not entries:
        # Nothing typed yet for the day, but an export may say what the platform counted.
        platform = await _platform_history(ctx, deal, metric, [day]) if day else []
        return [ctx.reply("\n".join([ctx.t("history.empty"), *platform]))]
    lines = [ctx.t("history.title", deal=deal.name)]
    days = sorted({e.day for e in entries})
    verdicts = await ctx.ledger.verdicts(deal.id, days[0], days[-1])
    current = await ctx.ledger.current_entries(deal.id, days[0], days[-1])
    heads = {entry.id for entry in current}
    for entry in entries:
        line = ctx.t(
            "history.line",
            id=entry.id,
            day=fmt_day(entry.day),
            metric=label(deal, entry.metric),
            value=fmt_value(deal, entry.metric, entry.value),
            side=ctx.t(f"side.{entry.side}"),
            who=fmt_person(entry),
            at=fmt_time(entry.recorded_at, deal.timezone),
        )
        if entry.person not in deal.members.get(entry.side, ()):
            line += ctx.t("trust.history_unlisted")
        if entry.supersedes is not None:
            line += ctx.t("history.supersedes", id=entry.supersedes)
        if entry.id not in heads:
            line += ctx.t("history.superseded")
        line += _verdict_lines(ctx, [v for v in verdicts if v.entry_id == entry.id])
        lines.append(line)
    if len(found) > len(entries):
        more = len(found) - len(entries)
        lines.append(ctx.t("list.more", count=f"{more}+" if len(found) == HISTORY_SCAN else more))
    lines += _disagreements(ctx, deal, metric, current, verdicts)
    lines += await _platform_history(ctx, deal, metric, days)
    return [ctx.reply("\n".join(lines))]


async def _platform_history(
    ctx: Context, deal: Deal, metric: str | None, days: list[dt.date]
) -> list[str]:
    """The imported platform figure of the listed days (for ``metric``, or every metric), so
    the typed entries can be read against it."""
    platform = await platform_days(ctx.services.platform, deal, days[0], days[-1])
    return [
        ctx.t(
            "fc.history_platform",
            day=fmt_day(day),
            metric=label(deal, name),
            value=fmt_value(deal, name, value),
        )
        for day in days
        for name, value in sorted(platform.get(day, {}).items())
        if metric is None or name == metric
    ]


def _disagreements(
    ctx: Context, deal: Deal, metric: str | None, current: list[Entry], verdicts: list[Verdict]
) -> list[str]:
    """The days where the two sides' current figures disagree (for ``metric``, or all); one
    that a side settled by accepting the other's figure says which figure counts."""
    lines = []
    figures = resolve(current, verdicts, truth=deal.truth, tolerance=deal.tolerance)
    for (d, m), figure in sorted(figures.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        s, a = figure.seller, figure.agency
        if (metric is not None and m != metric) or s is None or a is None:
            continue
        if agrees(s.value, a.value, deal.tolerance):
            continue
        shown = {
            "day": fmt_day(d),
            "metric": label(deal, m),
            "seller": fmt_value(deal, m, s.value),
            "agency": fmt_value(deal, m, a.value),
        }
        if figure.settled and figure.counted_side and figure.confirmed_by:
            assert figure.value is not None  # a settled figure counts
            lines.append(
                ctx.t(
                    "history.disagreement_settled",
                    counted=fmt_value(deal, m, figure.value),
                    side=ctx.t(f"side.{figure.counted_side}"),
                    by=ctx.t(f"side.{figure.confirmed_by}"),
                    **shown,
                )
            )
        else:
            lines.append(ctx.t("history.disagreement", **shown))
    return lines
