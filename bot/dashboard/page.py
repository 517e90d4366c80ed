"""What a dashboard page shows, gathered from the ledger and rendered into plain values.

Everything here reads only the period on show (its entries, verdicts, escalations and, once it
has ended, its confirmations) plus one row per closed statement, so a deal with years of
history costs about what a new one does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, cast
from zoneinfo import ZoneInfo

from bot.core.i18n import t as translate
from bot.core.ports import EscalationDesk, EscalationRecord, LedgerReader, StatementStore
from bot.core.render import fmt_money, fmt_target, fmt_value, label
from bot.core.views.aligned import aligned_notes
from bot.core.views.escalation import describe, resolved_on
from bot.core.views.fee import fee_line_text
from bot.core.views.settled import how_to_close, unsettled_lines
from bot.dashboard import charts
from bot.dashboard.links import ViewSide
from handlers.export import chosen_period
from handlers.statement import closed_open_lines, confirmation_line, late_section
from kpi.fees import FeeStatement
from kpi.model import SIDES, Deal, Entry, Locale, Side
from kpi.money import format_percent, minor_units
from kpi.periods import Period, business_day, first_period, next_period, period_containing
from kpi.sides import Figure
from kpi.snapshot import Snapshot, snapshot
from kpi.statements import Confirmation, StoredStatement


class T:
    """``t(key, **params)``: a catalog message in one language."""

    def __init__(self, locale: str) -> None:
        self.locale = locale

    def __call__(self, key: str, /, **params: Any) -> str:
        return translate(key, self.locale, **params)

    def join(self, items: list[str]) -> str:
        """A list as each language writes it (``a, b`` / ``a、b``)."""
        return ("、" if self.locale == "zh" else ", ").join(items)


@dataclass(frozen=True)
class Sources:
    """The stores a page reads (built by ``bot.app``)."""

    ledger: LedgerReader
    statements: StatementStore
    escalations: EscalationDesk


def local(at: dt.datetime, deal: Deal) -> str:
    """An instant as the deal's local ``YYYY-MM-DD HH:MM``."""
    return at.astimezone(ZoneInfo(deal.timezone)).strftime("%Y-%m-%d %H:%M")


async def page_context(
    src: Sources, deal: Deal, side: ViewSide, label: str | None, locale: str, now: dt.datetime
) -> dict[str, Any]:
    """Everything the dashboard template shows for one period.

    Args:
        src: The stores.
        deal: The deal's current version.
        side: Whose view (``seller``, ``agency`` or ``shared``).
        label: The period's label (``None``: the current period).
        locale: ``en`` or ``zh``.
        now: The current instant.

    Raises:
        UserError: A label that names no started period of the deal.
    """
    t = T(locale)
    deal = replace(deal, locale=cast(Locale, locale))
    today = business_day(now, deal.timezone)
    current = period_containing(deal.starts, deal.period, max(today, deal.starts))
    period = chosen_period(deal, today, label, command="statement")
    snap = in_language(await snapshot(src.ledger, deal, today, period=period), locale)
    closed = await src.statements.closed(deal.id)
    record = next((r for r in closed if r.period == period.label), None)
    if record is None and snap.closed:
        # Ended, not closed: its confirmations so far (None while nobody has confirmed).
        record = await src.statements.get(deal.id, period.label)
    trail = await src.ledger.entries_between(deal.id, period.start, period.end)
    statement = _statement(t, snap, record)
    return {
        "t": t,
        "locale": locale,
        "other_locale": "zh" if locale == "en" else "en",
        "deal": snap.deal,
        "side": t(f"side.{side}"),
        "side_key": side,
        "period": period,
        "heading": _heading(t, snap),
        "glance": _glance(snap),
        "aligned": aligned_notes(t, snap.deal, snap.totals.aligned),
        "fees": _fees(t, snap, record),
        "charts": _charts(t, snap),
        "daily": [_daily_row(t, snap.deal, f) for f in _base_figures(snap)],
        "statement": statement,
        "confirmations": _confirmations(t, snap, record, statement["open"]),
        "audit": _audit(t, snap.deal, trail),
        "verdicts": _verdicts(t, snap),
        "escalations": await _escalations(t, src, snap),
        "periods": _periods(t, deal, current, period, closed),
        "footer": t(
            "dash.footer", at=local(now, deal), tz=deal.timezone, truth=t(f"truth.{deal.truth}")
        ),
    }


def in_language(snap: Snapshot, locale: str) -> Snapshot:
    """``snap`` with its deal written in ``locale``: the chat's views name metrics and write
    money in the deal's language, and the page may be read in the other one."""
    return replace(snap, deal=replace(snap.deal, locale=cast(Locale, locale)))


def _heading(t: T, snap: Snapshot) -> str:
    p = snap.period
    params = {"period": p.label, "start": p.start.isoformat(), "end": p.end.isoformat()}
    if snap.closed:
        return t("dash.period_ended", **params)
    return t("dash.period", day=snap.elapsed_days, days=p.days, **params)


def _glance(snap: Snapshot) -> list[dict[str, Any]]:
    deal = snap.deal
    rows = []
    for status in snap.statuses:
        target = status.target
        rows.append(
            {
                "key": target.metric,
                "metric": label(deal, target.metric),
                "target": fmt_target(deal, target.metric, target.direction, target.value),
                "actual": fmt_value(deal, target.metric, status.actual),
                "pace": format_percent(status.pace, 0) if status.pace is not None else "—",
                "projected": fmt_value(deal, target.metric, status.projected),
                "behind": status.projected is not None and not status.on_track,
            }
        )
    return rows


def _fees(t: T, snap: Snapshot, record: StoredStatement | None) -> list[tuple[str, str]]:
    deal = snap.deal
    if record is not None and record.statement is not None:
        return [(t("dash.fee_final"), fmt_money(deal, record.statement.total))]
    if snap.closed:
        return [(t("dash.fee_final"), fmt_money(deal, snap.fee("final").total))]
    return [
        (t("dash.fee_to_date"), fmt_money(deal, snap.fee("to_date").total)),
        (t("dash.fee_projected"), fmt_money(deal, snap.fee("projected").total)),
    ]


def _chart_metric(snap: Snapshot) -> tuple[str, Decimal] | None:
    """The first ``at least`` target on a reported metric (GMV in most deals)."""
    for target in snap.deal.targets:
        if target.direction == "at_least" and target.metric in snap.deal.base_metrics:
            return target.metric, target.value
    return None


def _charts(t: T, snap: Snapshot) -> list[Any]:
    found = _chart_metric(snap)
    if found is None:
        return []
    metric, target = found
    name = label(snap.deal, metric)
    period = snap.period
    days = [period.start + dt.timedelta(days=i) for i in range(period.days)]
    daily = [
        f.value if (f := snap.figures.get((day, metric))) is not None else None for day in days
    ]
    per_day = target / period.days
    upto = snap.elapsed_days
    drawn = [
        charts.bars(
            charts.Series(
                t("dash.chart_daily", metric=name),
                days,
                daily,
                [per_day] * len(days),
                (t("dash.legend_actual"), t("dash.legend_daily_target")),
            )
        ),
        charts.lines(
            charts.Series(
                t("dash.chart_cumulative", metric=name),
                days,
                charts.cumulative(daily, upto),
                [per_day * (i + 1) for i in range(len(days))],
                (t("dash.legend_actual"), t("dash.legend_pace")),
            )
        ),
    ]
    titles = [t("dash.chart_daily", metric=name), t("dash.chart_cumulative", metric=name)]
    return [{"title": title, "svg": svg} for title, svg in zip(titles, drawn, strict=True)]


def _base_figures(snap: Snapshot) -> list[Figure]:
    base = snap.deal.base_metrics
    order = {name: i for i, name in enumerate(snap.deal.metrics)}
    found = [f for f in snap.figures.values() if f.metric in base]
    return sorted(found, key=lambda f: (f.day, order.get(f.metric, 0), f.metric))


def _daily_row(t: T, deal: Deal, f: Figure) -> dict[str, Any]:
    notes = [t(f"dash.status_{f.status}")]
    if f.confirmed_by is not None:
        notes.append(t("dash.confirmed_by", side=t(f"side.{f.confirmed_by}")))
    if f.disagreement:
        notes.append(t("dash.disagreement"))
    if f.disputes:
        notes.append(t("dash.disputed"))
    return {
        "day": f.day.isoformat(),
        "key": f.metric,
        "metric": label(deal, f.metric),
        "seller": fmt_value(deal, f.metric, f.seller.value if f.seller else None),
        "agency": fmt_value(deal, f.metric, f.agency.value if f.agency else None),
        "counted": fmt_value(deal, f.metric, f.value),
        "status": t.join(notes),
        "contested": f.contested,
        "pending": f.status == "pending",
    }


def _lines(t: T, snap: Snapshot, statement: FeeStatement) -> dict[str, Any]:
    deal = snap.deal
    return {
        "lines": [
            (fee_line_text(t, deal, line, snap, statement.values), fmt_money(deal, line.amount))
            for line in statement.lines
        ],
        "total": fmt_money(deal, statement.total),
    }


def _statement(t: T, snap: Snapshot, record: StoredStatement | None) -> dict[str, Any]:
    deal = snap.deal
    rounding = t("dash.rounding", places=minor_units(deal.currency), currency=deal.currency)
    late: list[str] = []
    # What an ended period not closed yet still has open, as /statement says (what a closed one
    # was closed with is said with its confirmations: see _confirmations).
    still_open: list[str] = []
    if record is not None and record.statement is not None and record.closed_at is not None:
        views = [(t("dash.fee_final"), _lines(t, snap, record.statement))]
        note = t("dash.statement_locked", at=local(record.closed_at, deal))
        late = late_section(t, snap, record)
    elif snap.closed:
        views = [(t("dash.fee_final"), _lines(t, snap, snap.fee("final")))]
        note = t("dash.statement_not_final")
        still_open = unsettled_lines(t, snap)
    else:
        views = [
            (t("dash.fee_to_date"), _lines(t, snap, snap.fee("to_date"))),
            (t("dash.fee_projected"), _lines(t, snap, snap.fee("projected"))),
        ]
        note = t("dash.statement_not_final")
    return {
        "views": views,
        "note": note,
        "rounding": rounding,
        "late_head": t("statement.late_head"),
        "late": late,
        "open": still_open,
    }


def _confirmations(
    t: T, snap: Snapshot, record: StoredStatement | None, still_open: list[str]
) -> dict[str, Any]:
    """Who confirmed an ended period's statement and when, side by side, as ``/statement``
    says it: each side's standing confirmation (or that it waits for that side's admin), then
    the confirmations voided before it, each with why. A closed period adds what it was closed
    with anyway (:func:`closed_open_lines`); one not closed yet, how to close it.

    The running period gets one line instead (``note``): nothing can be confirmed before its
    end, and a missing block would leave a reader asking whether anybody had.

    Args:
        t: The page's language.
        snap: The period on show.
        record: Its statements row (``None``: nobody has confirmed it).
        still_open: What the ended period not closed yet has open (its ``unsettled_lines``).
    """
    if not snap.closed:
        return {"note": t("dash.confirm_after_end", end=snap.period.end.isoformat())}
    if record is not None and record.closed:
        anyway = closed_open_lines(t, snap, record)
        return {
            "sides": [
                {"side": side, "lines": _side_lines(t, snap, record, side)} for side in SIDES
            ],
            "anyway_head": t("dash.closed_anyway") if anyway else "",
            "anyway": anyway,
        }
    # Not closed: a standing confirmation of other figures than today's closes nothing.
    now = snap.fee("final")
    return {
        "sides": [
            {"side": side, "lines": _side_lines(t, snap, record, side, now, still_open)}
            for side in SIDES
        ],
        "how": how_to_close(t, snap, still_open),
    }


def _side_lines(
    t: T,
    snap: Snapshot,
    record: StoredStatement | None,
    side: Side,
    now: FeeStatement | None = None,
    still_open: Sequence[str] = (),
) -> list[tuple[str, str]]:
    """One side's confirmation lines as ``(text, state)``: its standing confirmation (with
    ``now``, today's statement of a period not closed, outdated when of other figures) or
    ``waiting``, then its voided ones, oldest first."""
    deal = snap.deal
    lines = [confirmation_line(t, snap, record, side, now, still_open)]
    if record is not None:
        lines.extend(
            (_voided(t, deal, record, c), "voided")
            for c in record.confirmations
            if c.side == side and c.voided_at is not None
        )
    return lines


def _voided(t: T, deal: Deal, record: StoredStatement, c: Confirmation) -> str:
    """A voided confirmation, and why: a later confirmation of other figures replaced it (the
    store voids it at that confirmation's instant, so the one given then is what voided it)."""
    assert c.voided_at is not None
    later = record.confirmations[record.confirmations.index(c) + 1 :]
    by = next((n for n in later if n.at == c.voided_at), None)
    params = {
        "side": t(f"side.{c.side}"),
        "who": c.who,
        "at": local(c.at, deal),
        "total": fmt_money(deal, c.total),
        "voided": local(c.voided_at, deal),
    }
    if by is None:  # not expected from the store; still said as voided, without a cause
        return t("dash.confirmation_voided", **params)
    return t(
        "dash.confirmation_voided_by",
        by=by.who,
        by_side=t(f"side.{by.side}"),
        new=fmt_money(deal, by.total),
        **params,
    )


def _audit(t: T, deal: Deal, trail: list[Entry]) -> list[dict[str, Any]]:
    by_id = {e.id: e for e in trail}
    replaced = {e.supersedes for e in trail if e.supersedes is not None}
    rows = []
    for e in sorted(trail, key=lambda e: e.id, reverse=True):
        old = by_id.get(e.supersedes) if e.supersedes is not None else None
        corrects = ""
        if e.supersedes is not None:
            was = fmt_value(deal, e.metric, old.value) if old else "—"
            corrects = t("dash.corrects", id=e.supersedes, old=was)
        rows.append(
            {
                "id": e.id,
                "recorded": local(e.recorded_at, deal),
                "who": e.person_name or e.person,
                "side": t(f"side.{e.side}"),
                "day": e.day.isoformat(),
                "metric": label(deal, e.metric),
                "value": fmt_value(deal, e.metric, e.value),
                "source": e.message_key,
                "corrects": corrects,
                "superseded": e.id in replaced,
            }
        )
    return rows


def _verdicts(t: T, snap: Snapshot) -> list[dict[str, Any]]:
    deal = snap.deal
    return [
        {
            "recorded": local(v.recorded_at, deal),
            "who": v.person_name or v.person,
            "side": t(f"side.{v.side}"),
            "day": v.day.isoformat(),
            "metric": label(deal, v.metric),
            "kind": t(f"dash.verdict_{v.kind}"),
            "reason": v.reason,
        }
        for v in sorted(snap.verdicts, key=lambda v: v.id, reverse=True)
    ]


async def _escalations(t: T, src: Sources, snap: Snapshot) -> list[dict[str, Any]]:
    deal = snap.deal
    period = snap.period

    def within(e: EscalationRecord) -> bool:
        return period.contains(business_day(e.started_at, deal.timezone))

    rows = []
    for e in filter(within, await src.escalations.of_deal(deal.id)):
        if e.status == "open":
            state = t("dash.esc_open")
        elif e.status == "resolved":
            # Ended by itself: nobody acknowledged it, its target was back on pace.
            check, found = resolved_on(e, deal.timezone), e.resolution or {}
            if "period_over" in found:  # its period ended before anyone acknowledged it
                state = t("dash.esc_period_over", check=check, period=found["period_over"])
            else:
                state = t("dash.esc_resolved", check=check, pace=found.get("pace", "—"))
        else:
            at = local(e.acked_at, deal) if e.acked_at else "—"
            state = t("dash.esc_acked", who=e.acked_name or e.acked_by or "—", at=at)
        rows.append(
            {
                "started": local(e.started_at, deal),
                "reason": describe(deal, e.detail, t.locale),
                "state": state,
                "open": e.status == "open",
            }
        )
    return rows


def _periods(
    t: T, deal: Deal, current: Period, shown: Period, closed: list[StoredStatement]
) -> list[dict[str, Any]]:
    by_label = {r.period: r for r in closed}
    rows = []
    period = first_period(deal.starts, deal.period)
    while period.start <= current.start:
        record = by_label.get(period.label)
        if period == current:
            state = t("dash.period_current")
        elif record is not None and record.statement is not None:
            state = t("dash.period_locked", total=fmt_money(deal, record.statement.total))
        else:
            state = t("dash.period_open")
        rows.append(
            {
                "label": period.label,
                "dates": f"{period.start.isoformat()} – {period.end.isoformat()}",
                "state": state,
                "shown": period == shown,
            }
        )
        period = next_period(period, deal.starts)
    return list(reversed(rows))
