"""Reporting figures and agreeing on them: ``/report``, ``/confirm``, ``/dispute``, ``/history``."""

from __future__ import annotations

from typing import Literal

from bot.core import Outgoing
from bot.router import Context
from handlers.render import fmt_day, fmt_list, fmt_pair, fmt_person, fmt_time, fmt_value, label
from kpi.commands import parse_metric_day, parse_report, resolve_metric
from kpi.errors import UserError
from kpi.model import Deal, Entry, Side, other_side
from kpi.money import format_percent
from kpi.sides import agrees


def _deal(ctx: Context) -> Deal:
    assert ctx.deal is not None  # the router resolved it (needs_deal)
    return ctx.deal


def _require_side(ctx: Context) -> Side:
    side = ctx.side
    if side is None:
        raise UserError("side.unknown", person=ctx.cmd.user)
    return side


HISTORY_SHOWN = 30
"""``/history`` lists this many entries, newest first, and says how many more there are."""
HISTORY_SCAN = 1000
"""Entries counted beyond the shown ones (past this, ``1000+``)."""


async def report(ctx: Context) -> list[Outgoing]:
    """``/report gmv 12000 [orders 340 ...] [DATE]``: store the day's figures for one side."""
    deal = _deal(ctx)
    today = ctx.today
    derived = {n: m.formula.text for n, m in deal.metrics.items() if m.formula is not None}
    args = parse_report(
        ctx.args,
        reportable=deal.base_metrics,
        derived=derived,
        today=today,
        starts=deal.starts,
        words=deal.metric_words,
    )
    side = _require_side(ctx)
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
        # Re-sending the figure already on record (a double-submitted command) is no correction.
        skip_unchanged=True,
    )
    if result.duplicate:
        return [ctx.reply(_already(ctx, deal, list(result.entries)))]
    lines = [
        ctx.t(
            "report.saved",
            day=fmt_day(args.day),
            side=ctx.t(f"side.{side}"),
        )
    ]
    other = other_side(side)
    for entry, old, theirs in zip(result.entries, result.superseded, result.others, strict=True):
        value = fmt_value(deal, entry.metric, entry.value)
        if old is not None:
            lines.append(
                ctx.t(
                    "report.line_corrected",
                    metric=label(deal, entry.metric),
                    value=value,
                    old=fmt_value(deal, entry.metric, old.value),
                    id=entry.id,
                )
            )
        else:
            lines.append(
                ctx.t("report.line", metric=label(deal, entry.metric), value=value, id=entry.id)
            )
        if theirs is not None and not agrees(entry.value, theirs.value, deal.tolerance):
            lines.append(
                ctx.t(
                    "report.disagrees",
                    metric=label(deal, entry.metric),
                    other=ctx.t(f"side.{other}"),
                    theirs=fmt_value(deal, entry.metric, theirs.value),
                    tolerance=format_percent(deal.tolerance, 1),
                )
            )
    pairs = list(zip(result.entries, result.others, strict=True))
    if deal.truth == "agreed":
        needs_note = not all(
            theirs is not None and agrees(theirs.value, entry.value, deal.tolerance)
            for entry, theirs in pairs
        )
    else:
        needs_note = deal.truth == other and any(theirs is None for _, theirs in pairs)
    if needs_note:
        lines.append(_counting_note(ctx, deal, side))
    return [ctx.reply("\n".join(line for line in lines if line))]


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
    ctx: Context, deal: Deal, metric: str, day: object, side: Side
) -> Entry | None:
    """The other side's current figure for ``metric``: on ``day``, or the latest one."""
    if day is not None:
        current = await ctx.ledger.current_entries(deal.id, day, day)  # type: ignore[arg-type]
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
    """``/confirm METRIC [DATE]``: accept the other side's figure."""
    return await _verdict(ctx, "confirm")


async def dispute(ctx: Context) -> list[Outgoing]:
    """``/dispute METRIC [DATE] REASON``: record an objection to the other side's figure."""
    return await _verdict(ctx, "dispute")


async def _verdict(ctx: Context, kind: Literal["confirm", "dispute"]) -> list[Outgoing]:
    deal = _deal(ctx)
    metric, day, rest = parse_metric_day(
        ctx.args,
        known=deal.base_metrics,
        today=ctx.today,
        starts=deal.starts,
        need_metric=True,
        words=deal.metric_words,
    )
    assert metric is not None
    reason = rest.strip()
    if kind == "dispute" and not reason:
        raise UserError("dispute.needs_reason", metric=metric)
    side = _require_side(ctx)
    theirs = await _other_sides_entry(ctx, deal, metric, day, side)
    if theirs is None:
        raise UserError(
            "confirm.nothing",
            metric=label(deal, metric),
            day=fmt_day(day) if day else "",
            kind=kind,
        )
    _verdict_row, duplicate = await ctx.ledger.record_verdict(
        deal_id=deal.id,
        day=theirs.day,
        metric=metric,
        kind=kind,
        side=side,
        person=ctx.cmd.user,
        person_name=ctx.cmd.name,
        entry_id=theirs.id,
        reason=reason,
        chat=ctx.cmd.chat,
        message_key=ctx.message_key,
        at=ctx.cmd.at,
    )
    key = "confirm.done" if kind == "confirm" else "dispute.done"
    text = ctx.t(
        key,
        metric=label(deal, metric),
        day=fmt_day(theirs.day),
        other=ctx.t(f"side.{theirs.side}"),
        value=fmt_value(deal, metric, theirs.value),
        reason=reason,
        id=theirs.id,
    )
    if duplicate:
        text = ctx.t("report.already_verdict") + "\n" + text
    return [ctx.reply(text)]


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
        return [ctx.reply(ctx.t("history.empty"))]
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
        if entry.supersedes is not None:
            line += ctx.t("history.supersedes", id=entry.supersedes)
        if entry.id not in heads:
            line += ctx.t("history.superseded")
        for v in verdicts:
            if v.entry_id == entry.id:
                line += "\n    " + ctx.t(
                    f"history.{v.kind}",
                    who=v.person_name or v.person,
                    reason=v.reason,
                )
        lines.append(line)
    if len(found) > len(entries):
        more = len(found) - len(entries)
        lines.append(ctx.t("list.more", count=f"{more}+" if len(found) == HISTORY_SCAN else more))
    lines += _disagreements(ctx, deal, metric, current)
    return [ctx.reply("\n".join(lines))]


def _disagreements(ctx: Context, deal: Deal, metric: str | None, current: list[Entry]) -> list[str]:
    """The days where the two sides' current figures disagree (for ``metric``, or all)."""
    lines = []
    by_key: dict[tuple[object, str], dict[str, Entry]] = {}
    for entry in current:
        if metric is None or entry.metric == metric:
            by_key.setdefault((entry.day, entry.metric), {})[entry.side] = entry
    for (d, m), sides in sorted(by_key.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        s, a = sides.get("seller"), sides.get("agency")
        if s and a and not agrees(s.value, a.value, deal.tolerance):
            lines.append(
                ctx.t(
                    "history.disagreement",
                    day=fmt_day(d),  # type: ignore[arg-type]
                    metric=label(deal, m),
                    seller=fmt_value(deal, m, s.value),
                    agency=fmt_value(deal, m, a.value),
                )
            )
    return lines
