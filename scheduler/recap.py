"""The weekly recap: last week by day and its totals, the period against its targets, open
disagreements, the fee to date and projected, slots missed while offline, and a chart.

The recap due on day D covers the seven days before D, and the period containing D - 1 (the
week's last day) as of D itself, the moment it is sent: D - 1 is then a past day (unreported,
it counts as 0 in the pace and as a day not reported), exactly as ``/kpi`` and the pace check
read it on D. A recap on the first day of a period therefore shows how the previous one closed.
Its text is built from the same helpers as ``/kpi`` so the two always say the same thing.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from bot.core import Attachment, Outgoing
from bot.core.i18n import Translate, join_list, label_sep, metric_label, t, translator
from bot.core.ports import LedgerReader, PlatformData, StatementStore
from bot.core.render import fmt_pair, fmt_value, label, pct, period_name
from bot.core.views.aligned import aligned_notes, fee_metrics
from bot.core.views.fee import why_lower
from bot.core.views.kpi import (
    disagreement_lines,
    flatten,
    period_notes,
    period_title,
    rich_message,
    status_line,
)
from bot.core.views.platform import platform_recap_lines, truth_text
from bot.core.views.settled import pending_summary
from kpi.model import SIDES, Deal
from kpi.money import format_money
from kpi.pace import aligned_values, derive
from kpi.sides import Figure
from kpi.snapshot import Snapshot, current_period, snapshot_and_days
from scheduler.outbox import OutboxRow

__all__ = [
    "ChartData",
    "build_recap",
    "chart_data",
    "compose_recap",
    "fee_lines",
    "missed_lines",
    "recap_week",
    "render_chart",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChartData:
    """What the chart shows: one metric's daily figures against the daily target line."""

    metric: str
    days: tuple[dt.date, ...]
    values: tuple[Decimal | None, ...]
    needed_per_day: Decimal | None
    period_label: str
    labels: Mapping[str, str] = field(default_factory=dict)
    """The deal's own labels for the metric, per locale (the catalog's apply otherwise)."""
    period_names: Mapping[str, str] = field(default_factory=dict)
    """The period as each language names it (``2026年第45周``); the label otherwise."""

    def period(self, locale: str) -> str:
        """The period's name on the chart in ``locale``."""
        return self.period_names.get(locale, self.period_label)

    def label(self, locale: str) -> str:
        """The metric's name on the chart in ``locale``."""
        return metric_label(self.metric, locale, self.labels)


def chart_data(snap: Snapshot, last: dt.date | None = None) -> ChartData | None:
    """The period-to-date chart of GMV (or the first reported metric with a target), up to
    ``last`` when given (a recap's week's last day: the day it is sent has no bar yet)."""
    deal = snap.deal
    metric = "gmv" if "gmv" in deal.base_metrics else None
    if metric is None:
        metric = next((tg.metric for tg in deal.targets if tg.metric in deal.base_metrics), None)
    if metric is None:
        return None
    days = []
    day = snap.period.start
    end = snap.upto if last is None else min(snap.upto, last)
    while day <= end:
        days.append(day)
        day += dt.timedelta(days=1)
    if not days:
        return None
    values = tuple(_counted(snap.figures.get((d, metric))) for d in days)
    # The period's own targets: a clipped period's are prorated (issue 12).
    target = next((tg for tg in snap.targets if tg.metric == metric), None)
    needed = None
    if target is not None and target.direction == "at_least" and snap.period.days > 0:
        needed = target.value / snap.period.days
    labels = deal.metrics[metric].labels
    names: dict[str, str] = {deal.locale: period_name(deal, snap.period)}
    return ChartData(metric, tuple(days), values, needed, snap.period.label, labels, names)


def render_chart(data: ChartData, locale: str) -> Attachment:
    """Draw the chart (blocking: call it in a worker thread)."""
    from scheduler.chart import cjk_font, daily_chart

    # Without a font that has Chinese glyphs, Chinese labels would draw as empty boxes.
    labels = locale if locale == "en" or cjk_font() is not None else "en"
    png = daily_chart(
        data.days,
        data.values,
        data.needed_per_day,
        title=t("recap.chart_title", labels, metric=data.label(labels), period=data.period(labels)),
        bars_label=t("recap.chart_bars", labels, metric=data.label(labels)),
        line_label=t("recap.chart_line", labels),
        locale=labels,
    )
    return Attachment(
        filename=f"{data.metric}-{data.period_label}.png",
        content=png,
        title=t("recap.chart_title", locale, metric=data.label(locale), period=data.period(locale)),
    )


def _counted(figure: Figure | None) -> Decimal | None:
    return None if figure is None else figure.value


def fee_lines(tr: Translate, snap: Snapshot, *, closed: bool = False) -> list[str]:
    """Fee to date and projected at the current pace, or once the period is over its final
    fee alone (nothing if the plan cannot say). Until the period's statement is ``closed``
    (confirmed by both sides) the fee is provisional, and the line says so: figures may still
    be confirmed, corrected or reported late."""
    currency = snap.deal.currency
    locale = snap.deal.locale
    # Once the recap's day is past the period's end, the period is over and its fee is the
    # statement's, shown once (on its last day the day still runs: so far and projected).
    ended = snap.closed
    try:
        to_date = snap.fee("to_date")
        projected = snap.fee("final" if ended else "projected")
    except (ValueError, ArithmeticError, LookupError):
        log.exception("fee for the recap of %s", snap.deal.id)
        return []
    if ended and closed:
        text = tr("views.recap_fee_final", total=format_money(projected.total, currency, locale))
    elif ended:
        text = tr(
            "open.recap_fee_ended",
            total=format_money(projected.total, currency, locale),
            period=period_name(snap.deal, snap.period),
        )
    else:
        so_far = format_money(to_date.total, currency, locale)
        capped = to_date.line("cap")
        if capped is not None:  # the figure to date is the cap's, not what the figures earned
            cap = format_money(capped.detail["cap"], currency, locale)
            so_far += tr("guards.recap_capped", cap=cap)
        text = tr(
            "open.recap_fee",
            to_date=so_far,
            projected=format_money(projected.total, currency, locale),
        )
        if projected.total < to_date.total:  # says why, or it reads as a fee that shrinks
            text += why_lower(tr, snap.deal, to_date, projected)
    # Issue 18: who pays whom when a guarantee refund takes the total below zero (said right
    # after the fee it explains), and the score behind the performance fee.
    if projected.owed_by_agency:
        owed = format_money(projected.owed_by_agency, currency, locale)
        text += tr("contracts.recap_owed", amount=owed)
    performance = projected.line("performance")
    if performance is not None:
        text += tr("contracts.recap_score", score=pct(performance.detail["score"]))
    return [text]


MISSED_SHOWN = 10
"""Missed slots listed by name in a recap; any more are counted."""


def missed_lines(tr: Translate, deal: Deal, missed: Sequence[OutboxRow]) -> list[str]:
    """The slots that were missed while the bot was down, one line (the latest ones named)."""
    if not missed:
        return []
    zone = _zone(deal)
    shown = list(missed)[-MISSED_SHOWN:]
    items = join_list(
        (
            f"{tr('recap.kind_' + row.kind)} {row.due_at.astimezone(zone):%m-%d %H:%M}"
            for row in shown
        ),
        deal.locale,
    )
    if len(missed) > len(shown):
        items = tr("recap.missed_more", count=len(missed) - len(shown)) + " " + items
    return [tr("recap.missed", items=items)]


def _zone(deal: Deal) -> dt.tzinfo:
    from zoneinfo import ZoneInfo

    return ZoneInfo(deal.timezone)


def _day_pair(tr: Translate, deal: Deal, metric: str, figure: Figure | None) -> str:
    """``成交额 12,000``; a pending figure shows what was reported, marked as not counted yet
    (``成交额 12,000（待确认）``), so a week of unconfirmed reports does not read as empty."""
    if figure is None or figure.value is not None or figure.status != "pending":
        return fmt_pair(deal, metric, _counted(figure))
    values = "/".join(
        fmt_value(deal, metric, entry.value)
        for side in SIDES
        if (entry := figure.entry(side)) is not None
    )
    return tr("fc.recap_pending_value", pair=f"{label(deal, metric)} {values}")


def _week_lines(
    tr: Translate, deal: Deal, days: Sequence[dt.date], figures: dict[tuple[dt.date, str], Figure]
) -> tuple[list[str], list[str]]:
    """The week day by day, then its totals line and a note per ratio that left days out
    (a ratio over the week is taken on the days all its inputs were reported)."""
    base = deal.base_metrics
    names = re.split("[,、]", tr("recap.weekdays"))
    lines = []
    sums: dict[str, Decimal | None] = {}
    for day in days:
        parts = []
        for metric in base:
            figure = figures.get((day, metric))
            value = _counted(figure)
            if value is not None:
                sums[metric] = (sums.get(metric) or Decimal(0)) + value
            parts.append(_day_pair(tr, deal, metric, figure))
        sep = label_sep(deal.locale)
        lines.append(f"{names[day.weekday()]} {day:%m-%d}{sep}" + " · ".join(parts))
    # A metric nobody reported this week has no total ("—"), not a total of 0 (issue 12).
    totals = derive(deal.metrics, {m: sums.get(m) for m in base})
    aligned = aligned_values(figures.values(), deal.metrics, days[0], days[-1])
    totals.update((name, found.value) for name, found in aligned.items())
    shown = " · ".join(fmt_pair(deal, m, totals.get(m)) for m in deal.metrics)
    return lines, [tr("recap.week_totals", totals=shown), *aligned_notes(tr, deal, aligned)]


def recap_week(deal: Deal, day: dt.date) -> tuple[dt.date, dt.date] | None:
    """The days the recap due on ``day`` covers: the seven before it, from the deal's start
    (``None`` when they all lie before it)."""
    week_end = day - dt.timedelta(days=1)
    if week_end < deal.starts:
        return None
    return max(day - dt.timedelta(days=7), deal.starts), week_end


async def build_recap(
    ledger: LedgerReader,
    platform_data: PlatformData,
    deal: Deal,
    day: dt.date,
    *,
    missed: Sequence[OutboxRow] = (),
    chart: bool = True,
    statements: StatementStore | None = None,
) -> tuple[Outgoing, ChartData | None] | None:
    """Build the recap due on ``day`` (without its chart, which the caller draws off-loop).

    Args:
        ledger: The ledger's read side.
        platform_data: The imported platform figures and sessions.
        deal: The deal's current version.
        day: The recap's local day (a Monday for ``recap: mon 09:00``).
        missed: Missed slots to mention.
        chart: Whether to return the chart's data.
        statements: Where to read whether an ended period's statement is closed (without
            it, the fee is said to be provisional).

    Returns:
        The message (``to`` left empty: it goes to every linked chat) and the chart's data;
        ``None`` when the week lies entirely before the deal's start.
    """
    week = recap_week(deal, day)
    if week is None:
        return None
    week_start, week_end = week
    # The period of the week's last day, as of the recap's own day (the week's last day is a
    # past day by then, as /kpi and the pace check read it), and the week's own figures.
    snap, figures = await snapshot_and_days(
        ledger, deal, day, week_start, week_end, period=current_period(deal, week_end)
    )
    platform = await platform_recap_lines(platform_data, snap.deal, figures, week_start, week_end)
    closed = False
    if statements is not None and snap.closed:
        record = await statements.get(deal.id, snap.period.label)
        closed = record is not None and record.closed
    return compose_recap(
        deal, week, snap, figures, platform, missed=missed, chart=chart, closed=closed
    )


def compose_recap(
    deal: Deal,
    week: tuple[dt.date, dt.date],
    snap: Snapshot,
    figures: dict[tuple[dt.date, str], Figure],
    platform: list[str],
    *,
    missed: Sequence[OutboxRow] = (),
    chart: bool = True,
    closed: bool = False,
) -> tuple[Outgoing, ChartData | None]:
    """The recap of ``week`` (:func:`recap_week`) from what it read: the period's snapshot as
    of the week's last day, the week's figures and the platform section's lines. ``closed``:
    the period's statement is closed (its fee is final, not provisional)."""
    week_start, week_end = week
    terms = snap.deal
    tr = translator(deal.locale)
    days = [week_start + dt.timedelta(days=i) for i in range((week_end - week_start).days + 1)]
    by_day, totals = _week_lines(tr, terms, days, figures)
    judged = {s.target.metric for s in snap.statuses} | fee_metrics(snap.plan, snap.targets)
    rich = rich_message(
        tr("recap.title", deal=deal.name, start=f"{week_start:%m-%d}", end=f"{week_end:%m-%d}"),
        [
            (tr("recap.by_day"), [*by_day, *totals]),
            (
                period_title(tr, snap),
                [
                    *(status_line(tr, terms, s, snap) for s in snap.statuses),
                    *fee_lines(tr, snap, closed=closed),
                    *period_notes(tr, snap),  # days not reported, a clipped period
                    *aligned_notes(tr, terms, snap.totals.aligned, judged),  # ratios
                    *pending_summary(tr, snap),  # reported, not counted yet: the /confirm to send
                ],
            ),
            (tr("kpi.disagreements"), disagreement_lines(tr, snap)),
            (tr("platform.recap_title"), platform),
            (None, missed_lines(tr, deal, missed)),
        ],
        footer=tr("kpi.footer", truth=truth_text(tr, terms)),
    )
    message = Outgoing(to="", text=flatten(rich), kind="recap", rich=rich)
    return message, chart_data(snap, week_end) if chart else None
