"""Figures not agreed yet, said as such: pending figures with the exact ``/confirm`` to send,
days nobody reported, and what a statement still has open. Pure rendering over a snapshot,
shared by ``/kpi``, ``/fee``, ``/statement`` and the recap."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace

from bot.core.i18n import Translate
from bot.core.render import capped_list, fmt_day, fmt_list, label, period_name
from kpi.errors import UserError
from kpi.model import SIDES, Deal, Side, other_side
from kpi.money import format_money
from kpi.pace import pending_before
from kpi.periods import Period
from kpi.sides import Figure
from kpi.snapshot import Snapshot, build_snapshot
from kpi.statements import OpenFigure, StoredStatement, open_figures

COMMANDS_SHOWN = 3
"""``/confirm`` commands written out per waiting side; any more are counted (``/kpi`` lists
them all)."""

DAYS_SHOWN = 5
"""Runs of unreported days named per metric in a statement; any more are counted."""

WAITING_ORDER = ("seller", "agency", "either")


def waiting_for(figure: Figure) -> str:
    """Who must act on a pending figure: the side that has not reported (``seller`` or
    ``agency``), or ``either`` when both reported figures that differ."""
    reported = [side for side in SIDES if figure.entry(side) is not None]
    return other_side(reported[0]) if len(reported) == 1 else "either"


def pending_by_side(figures: Iterable[Figure]) -> dict[str, list[Figure]]:
    """The pending figures (reported, counting nothing yet) by who must act, oldest first."""
    grouped: dict[str, list[Figure]] = {}
    for figure in sorted(figures, key=lambda f: (f.day, f.metric)):
        if figure.status == "pending":
            grouped.setdefault(waiting_for(figure), []).append(figure)
    return {key: grouped[key] for key in WAITING_ORDER if key in grouped}


def confirm_command(deal: Deal, figure: Figure) -> str:
    """The exact command that confirms ``figure``: ``/confirm GMV 2026-11-30``."""
    return f"/confirm {label(deal, figure.metric)} {fmt_day(figure.day)}"


def pending_summary(t: Translate, snap: Snapshot) -> list[str]:
    """One line per waiting side: how many figures wait, and the ``/confirm`` to send for each
    (the first few, then how many more): "3 figures wait for the seller's confirmation and
    count nothing until then: /confirm GMV 2026-11-30 · …". Empty when nothing is pending."""
    deal = snap.deal
    lines = []
    for key, figures in pending_by_side(snap.figures.values()).items():
        commands = capped_list(t, deal, [confirm_command(deal, f) for f in figures], COMMANDS_SHOWN)
        params = {"count": len(figures), "commands": commands}
        if key == "either":
            lines.append(t("open.pending_either", **params))
        else:
            lines.append(t("open.pending_side", side=t(f"side.{key}"), **params))
    return lines


def pace_note(t: Translate, snap: Snapshot) -> list[str]:
    """While the period runs: which metrics' pace leaves out days waiting for a confirmation
    (so "day 9 of 30" beside a projection made from fewer days is explained); else empty."""
    period, totals = snap.period, snap.totals
    if snap.upto >= period.end:
        return []
    items = [
        t("sem.days_item", metric=label(snap.deal, name), count=count)
        for name in snap.deal.base_metrics
        if (count := pending_before(totals, period, name)) > 0
        and totals.values.get(name) is not None
    ]
    if not items:
        return []
    return [t("open.pace_without", items=fmt_list(snap.deal, items))]


def has_pending(snap: Snapshot, metric: str) -> bool:
    """Whether ``metric`` has no value only because figures wait for a confirmation: every
    reported metric it reads that has no value this period has pending figures (so "no
    figures yet" would be wrong). roi over an ad spend nobody reported is not waiting."""
    missing = [m for m in _inputs(snap, metric) if snap.totals.values.get(m) is None]
    return bool(missing) and all(snap.totals.pending_days.get(m) for m in missing)


def _inputs(snap: Snapshot, metric: str) -> set[str]:
    """The reported metrics ``metric`` is computed from (itself, if it is one)."""
    info = snap.deal.metrics.get(metric)
    if info is None or info.formula is None:
        return {metric}
    found: set[str] = set()
    for used in info.formula.names:
        found |= _inputs(snap, used)
    return found


def unreported_dates(snap: Snapshot) -> dict[str, list[dt.date]]:
    """The period's days up to the snapshot's that nobody reported at all, by reported metric
    that has some figure in the period (pending ones included): the gaps a statement would
    close as nothing. A metric nobody ever reports (say viewers) is not a gap, nor a day
    without a metric the deal marks ``unreported: zero`` (refunds: a day without is 0)."""
    return _gaps(snap.deal, snap.period.start, snap.upto, snap.figures)


def closed_unreported_dates(snap: Snapshot, record: StoredStatement) -> dict[str, list[dt.date]]:
    """:func:`unreported_dates` as they were when ``record`` closed the period: the days with
    neither a counted nor an open figure in the stored statement."""
    had = {(f.day, f.metric) for f in record.figures}
    had |= {(f.day, f.metric) for f in record.open_figures}
    return _gaps(snap.deal, snap.period.start, snap.period.end, had)


def _gaps(
    deal: Deal, first: dt.date, last: dt.date, had: Collection[tuple[dt.date, str]]
) -> dict[str, list[dt.date]]:
    """The days from ``first`` to ``last`` without a ``(day, metric)`` in ``had``, by metric
    with some (see :func:`unreported_dates`)."""
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    out: dict[str, list[dt.date]] = {}
    for metric in deal.base_metrics:
        if deal.metrics[metric].unreported == "zero":
            continue
        seen = {day for (day, name) in had if name == metric}
        if not seen:
            continue
        missing = [day for day in days if day not in seen]
        if missing:
            out[metric] = missing
    return out


def anyway_command(t: Translate, deal: Deal, period: Period) -> str:
    """What an admin types to close ``period`` as it stands, in the deal's language."""
    return statement_confirm_command(t, deal, period, anyway=True)


def statement_confirm_command(t: Translate, deal: Deal, period: Period, *, anyway: bool) -> str:
    """``/statement confirm PERIOD``, with the anyway word (in the deal's language) when
    ``anyway``."""
    command = f"/statement confirm {period_name(deal, period)}"
    return f"{command} {t('open.anyway_word')}" if anyway else command


def close_command(t: Translate, snap: Snapshot, still_open: Sequence[str]) -> str:
    """What an admin types to confirm ``snap``'s ended period: with the anyway word while
    anything is still open (``still_open``: its :func:`unsettled_lines`, as the caller shows
    them), as a plain confirmation is refused then."""
    return statement_confirm_command(t, snap.deal, snap.period, anyway=bool(still_open))


def how_to_close(t: Translate, snap: Snapshot, still_open: Sequence[str]) -> str:
    """The line under a statement's confirmations saying how the period is closed: settling
    what is open first, or confirming it as it stands, while anything is."""
    key = "statement.how_to_close_as_is" if still_open else "statement.how_to_close"
    return t(key, command=close_command(t, snap, still_open))


def unsettled_lines(t: Translate, snap: Snapshot) -> list[str]:
    """What an ended period's statement still has open, briefly, before its totals: figures
    pending or disputed, and days not reported (or that nobody reported anything at all);
    empty when there is none."""
    deal = snap.deal
    if not snap.figures:
        # Nothing at all: not a fee of the fixed terms, most likely figures forgotten.
        return [t("open.statement_nothing", period=period_name(deal, snap.period))]
    lines = []
    still_open = open_figures(snap.figures.values())
    if still_open:
        items = open_lines(t, deal, still_open, shown=DAYS_SHOWN)
        lines.append(t("open.statement_open", items=items))
        lines.extend(if_counted_lines(t, snap))
    lines.extend(missing_lines(t, snap))
    return lines


def missing_lines(t: Translate, snap: Snapshot) -> list[str]:
    """One line naming, per metric, the days nobody reported (``GMV: 11-28, 11-29``)."""
    return _missing_line(t, snap.deal, unreported_dates(snap), "open.statement_missing")


def closed_missing_lines(t: Translate, snap: Snapshot, record: StoredStatement) -> list[str]:
    """:func:`missing_lines` for a closed statement: the days nobody had reported when it was
    closed (confirmed anyway), so the closed statement still says what it closed as nothing."""
    missing = closed_unreported_dates(snap, record)
    return _missing_line(t, snap.deal, missing, "trust.closed_with_missing")


def _missing_line(
    t: Translate, deal: Deal, missing: Mapping[str, list[dt.date]], key: str
) -> list[str]:
    if not missing:
        return []
    items = [
        t(
            "open.missing_item",
            metric=label(deal, metric),
            count=len(days),
            days=capped_list(t, deal, day_ranges(t, days), DAYS_SHOWN),
        )
        for metric, days in missing.items()
    ]
    sep = "；" if deal.locale == "zh" else "; "
    return [t(key, items=sep.join(items))]


def day_ranges(t: Translate, days: list[dt.date]) -> list[str]:
    """Sorted days as runs: ``11-01 to 11-27``, ``11-30`` (a gap of weeks reads at a glance)."""
    runs: list[tuple[dt.date, dt.date]] = []
    for day in days:
        if runs and day == runs[-1][1] + dt.timedelta(days=1):
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return [
        f"{first:%m-%d}"
        if first == last
        else t("open.day_range", first=f"{first:%m-%d}", last=f"{last:%m-%d}")
        for first, last in runs
    ]


def unsettled_refusal(t: Translate, snap: Snapshot) -> UserError | None:
    """The refusal to confirm a statement as it stands (figures not agreed, days not reported),
    ending with exactly what to type to confirm it anyway; None when nothing is open."""
    lines = unsettled_lines(t, snap)
    if not lines:
        return None
    deal, period = snap.deal, snap.period
    return UserError(
        "open.refused",
        period=period_name(deal, period),
        items="\n".join(lines),
        command=anyway_command(t, deal, period),
    )


def if_counted_lines(t: Translate, snap: Snapshot) -> list[str]:
    """What the period's total would be if its open figures (pending or disputed) counted as
    each side reported them, when that differs from the total as counted: a pending or
    disputed figure counts nothing, which favours one side, and both must see by how much."""
    deal = snap.deal
    now = snap.fee("final").total
    shown = []
    for side in SIDES:
        figures = {
            key: _as_reported(figure, side) if figure.open else figure
            for key, figure in snap.figures.items()
        }
        if figures == snap.figures:
            continue
        total = build_snapshot(deal, snap.period, snap.today, figures).fee("final").total
        if total != now:
            money = format_money(total, deal.currency, deal.locale)
            shown.append(t("open.if_counted_side", side=t(f"side.{side}"), total=money))
    if not shown:
        return []
    current = format_money(now, deal.currency, deal.locale)
    return [t("open.if_counted", items=fmt_list(deal, shown), total=current)]


def _as_reported(figure: Figure, side: Side) -> Figure:
    """``figure`` counting ``side``'s entry (unchanged when that side has none)."""
    entry = figure.entry(side)
    if entry is None:
        return figure
    return replace(figure, value=entry.value, status="counted", counted_side=side, disputes=())


def open_lines(
    t: Translate, deal: Deal, figures: Sequence[OpenFigure], *, shown: int | None = None
) -> str:
    """Figures not agreed yet, as one list: ``2026-11-03 GMV (pending), …``; with ``shown``,
    only that many, then ``… and 7 more``."""
    items = [
        t(
            "trust.open_item",
            day=fmt_day(f.day),
            metric=label(deal, f.metric),
            why=t(f"trust.open_{f.why}"),
        )
        for f in figures
    ]
    return capped_list(t, deal, items, len(items) if shown is None else shown)
