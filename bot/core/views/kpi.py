"""How `/kpi` and the recap say where a period stands: status lines, notes, disagreements, the
rich form. Pure rendering over a snapshot, shared by handlers and the scheduler."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from bot.core.i18n import Translate, label_sep
from bot.core.render import (
    capped_list,
    fmt_day,
    fmt_formula,
    fmt_list,
    fmt_pair,
    fmt_target,
    fmt_value,
    label,
    pct,
    period_name,
    score_missing,
    score_shares,
)
from bot.core.rich import Rich
from bot.core.views.aligned import aligned_notes
from bot.core.views.platform import truth_text
from bot.core.views.settled import has_pending, pace_note
from kpi.fees import weighted_score
from kpi.model import SIDES, Deal, other_side
from kpi.money import format_figure, format_percent
from kpi.pace import TargetStatus
from kpi.periods import previous_period
from kpi.sides import Figure
from kpi.snapshot import Snapshot


def rich_message(
    title: str, sections: list[tuple[str | None, list[str]]], footer: str = ""
) -> Rich:
    """The platform-neutral structured form adapters may render (Slack Block Kit)."""
    return Rich.of(title, sections, footer)


def flatten(rich: Rich) -> str:
    """The plain-text form of a rich message; the canonical text of every reply."""
    return rich.text()


def status_line(
    ctx_t: Translate, deal: Deal, status: TargetStatus, snap: Snapshot | None = None
) -> str:
    """One target: actual against target, pace and where it ends.

    With ``snap``, a target with no value although its inputs were reported (roi over zero ad
    spend) says it is undefined and not judged, rather than "no figures yet"."""
    target = status.target
    metric = target.metric
    pace = format_percent(status.pace, 0) if status.pace is not None else "—"
    if status.actual is None and status.projected is None:
        if snap is not None and has_pending(snap, metric):
            # Reported but waiting for a confirmation: not "no figures yet".
            verdict = ctx_t("open.verdict_pending")
        elif snap is not None and any_reported(snap, metric):
            verdict = ctx_t("sem.not_judged")
        else:
            verdict = ctx_t("kpi.no_data")
    elif status.on_track:
        verdict = ctx_t("kpi.on_track")
    else:
        verdict = ctx_t("kpi.behind")
    return ctx_t(
        "kpi.target_line",
        metric=label(deal, metric),
        actual=fmt_value(deal, metric, status.actual),
        target=fmt_target(deal, metric, target.direction, target.value),
        pace=pace,
        projected=fmt_value(deal, metric, status.projected),
        verdict=verdict,
    )


def any_reported(snap: Snapshot, metric: str) -> bool:
    """Whether ``metric``, or any reported metric it reads, has a figure this period."""
    info = snap.deal.metrics.get(metric)
    if info is None or info.formula is None:
        return snap.totals.last_day.get(metric) is not None
    return any(any_reported(snap, used) for used in info.formula.names)


def period_title(ctx_t: Translate, snap: Snapshot) -> str:
    key = "kpi.title_trial" if snap.trial else "kpi.title"
    title: str = ctx_t(
        key,
        deal=snap.deal.name,
        period=period_name(snap.deal, snap.period, dates=True),
        day=snap.elapsed_days,
        days=snap.period.days,
    )
    return title + counted_note(ctx_t, snap)


def counted_note(ctx_t: Translate, snap: Snapshot) -> str:
    """After "day 9 of 30": how many days the pace counts, when that is fewer (else "")."""
    if snap.paced_days >= snap.elapsed_days:
        return ""
    # The last day (today) has no figure yet, so the pace runs over the days before it: say
    # so, or "day 9" sits beside a projection made from 8 days.
    return ctx_t("views.title_today_open", counted=snap.paced_days, day=f"{snap.upto:%m-%d}")


def disagreement_lines(ctx_t: Translate, snap: Snapshot) -> list[str]:
    lines = []
    deal = snap.deal
    for fig in snap.disagreements:
        seller = fmt_value(deal, fig.metric, fig.seller.value if fig.seller else None)
        agency = fmt_value(deal, fig.metric, fig.agency.value if fig.agency else None)
        line = ctx_t(
            "kpi.disagreement",
            day=fmt_day(fig.day),
            metric=label(deal, fig.metric),
            seller=seller,
            agency=agency,
            counted=fmt_value(deal, fig.metric, fig.value),
        )
        for dispute in fig.disputes:
            line += "\n    " + ctx_t(
                "kpi.disputed", who=dispute.person_name or dispute.person, reason=dispute.reason
            )
        lines.append(line)
    return lines


ITEMS_SHOWN = 10
"""Provisional or pending figures named in /kpi; any more are counted."""


def _capped(ctx_t: Translate, deal: Deal, items: list[str]) -> str:
    """The first items, and how many more there are."""
    return capped_list(ctx_t, deal, items, ITEMS_SHOWN)


def status_notes(ctx_t: Translate, snap: Snapshot) -> list[str]:
    """Provisional and pending figures, so nobody mistakes them for settled ones."""
    deal = snap.deal
    provisional = sorted(
        f"{fmt_day(f.day)} {label(deal, f.metric)}"
        for f in snap.figures.values()
        if f.status == "provisional"
    )
    pending = [f for f in snap.figures.values() if f.status == "pending"]
    lines = []
    if provisional:
        lines.append(ctx_t("kpi.provisional", items=_capped(ctx_t, deal, provisional)))
    if pending:
        lines.append(ctx_t("trust.pending_head", count=len(pending)))
        ordered = sorted(pending, key=_by_day)
        lines.extend(pending_line(ctx_t, deal, f) for f in ordered[:ITEMS_SHOWN])
        if len(ordered) > ITEMS_SHOWN:
            lines.append(ctx_t("list.more", count=len(ordered) - ITEMS_SHOWN))
    return lines


def period_notes(ctx_t: Translate, snap: Snapshot) -> list[str]:
    """Past days nobody reported (paced as 0) and the proration of a clipped period."""
    lines = []
    missing = snap.unreported_days
    if missing:
        items = fmt_list(
            snap.deal,
            (
                ctx_t("sem.days_item", metric=label(snap.deal, name), count=count)
                for name, count in missing.items()
            ),
        )
        lines.append(ctx_t("sem.days_not_reported", items=items))
    lines.extend(pace_note(ctx_t, snap))
    period = snap.period
    if period.days != period.calendar_days:
        full = {t.metric: t.value for t in snap.deal.targets}
        scaled = fmt_list(
            snap.deal,
            (
                ctx_t(
                    "sem.clipped_target",
                    metric=label(snap.deal, t.metric),
                    value=format_figure(t.value, 2),
                    full=fmt_value(snap.deal, t.metric, full[t.metric]),
                )
                for t in snap.targets
                if t.value != full.get(t.metric)
            ),
        )
        lines.append(
            ctx_t(
                "sem.clipped",
                days=period.days,
                of_days=period.calendar_days,
                targets=scaled or "—",
            )
        )
    return lines


def _by_day(figure: Figure) -> tuple[dt.date, str]:
    return figure.day, figure.metric


def pending_line(ctx_t: Translate, deal: Deal, figure: Figure) -> str:
    """A figure waiting for confirmation: each side's value, and who must confirm."""
    values = fmt_list(
        deal,
        (
            ctx_t(
                "trust.pending_value",
                side=ctx_t(f"side.{side}"),
                value=fmt_value(deal, figure.metric, e.value),
            )
            for side in SIDES
            if (e := figure.entry(side)) is not None
        ),
    )
    reported = [side for side in SIDES if figure.entry(side) is not None]
    if len(reported) == 1:
        waiting = ctx_t("trust.pending_by", side=ctx_t(f"side.{other_side(reported[0])}"))
    else:
        waiting = ctx_t("trust.pending_either")
    return ctx_t(
        "trust.pending_line",
        day=fmt_day(figure.day),
        metric=label(deal, figure.metric),
        values=values,
        waiting=waiting,
    )


def definition_lines(deal: Deal, metrics: set[str]) -> list[str]:
    """Which definition each shown metric used (the contract's words or formula)."""
    lines = []
    sep = label_sep(deal.locale)
    for name in sorted(metrics):
        metric = deal.metrics.get(name)
        if metric is None:
            continue
        formula = metric.formula
        text = fmt_formula(deal, formula.text) if formula is not None else metric.description
        lines.append(f"{label(deal, name)}{sep}{text}")
        if formula is not None:
            for dep in sorted(formula.names):
                dep_metric = deal.metrics.get(dep)
                if dep_metric is not None and dep_metric.formula is None and dep not in metrics:
                    lines.append(f"{label(deal, dep)}{sep}{dep_metric.description}")
    return list(dict.fromkeys(lines))


def score_lines(ctx_t: Translate, snap: Snapshot) -> list[str]:
    """The weighted KPI score to date with each target's share, and at this pace (issue 18).

    Empty when no target has a weight. Each achievement counts up to the performance fee's
    score cap (100% without a performance fee)."""
    if not any(t.weight is not None for t in snap.targets):
        return []
    deal = snap.deal
    cap = snap.plan.performance.cap if snap.plan.performance is not None else Decimal(1)
    now = weighted_score(snap.targets, snap.totals.values, cap)
    projected = weighted_score(snap.targets, snap.projected, cap)
    if len(now.missing) == len(now.shares):
        return [ctx_t("contracts.kpi_score_none")]
    return [
        ctx_t(
            "contracts.kpi_score",
            score=pct(now.value),
            shares=score_shares(ctx_t, deal, now.details),
            missing=score_missing(ctx_t, deal, now.missing),
        ),
        ctx_t(
            "contracts.kpi_score_projected",
            score=pct(projected.value),
            shares=score_shares(ctx_t, deal, projected.details),
        ),
    ]


def first_day_note(ctx_t: Translate, snap: Snapshot, command: str | None) -> list[str]:
    """On the first day of a period (nearly empty yet), the period that just ended and the
    command that shows it (``/kpi 2026-11``); nothing on other days, for the deal's first
    period, or without a ``command`` to name."""
    period = snap.period
    if command is None or snap.today != period.start:
        return []
    previous = previous_period(period, snap.deal.starts)
    if previous is None:
        return []
    name = period_name(snap.deal, previous)
    return [
        ctx_t(
            "guards.first_day",
            period=period_name(snap.deal, period),
            previous=name,
            command=f"/{command} {name}",
        )
    ]


def kpi_rich(ctx_t: Translate, snap: Snapshot, *, command: str | None = None) -> Rich:
    """``/kpi``: the period against every target; ``command`` (``kpi``) names the command
    the first-day note points to (:func:`first_day_note`)."""
    deal = snap.deal
    targets = [status_line(ctx_t, deal, s, snap) for s in snap.statuses]
    targets.extend(score_lines(ctx_t, snap))
    shown = {s.target.metric for s in snap.statuses}
    # Every metric, "—" where there is no value: nobody reporting viewers is not 0 viewers.
    totals = []
    for name in deal.metrics:
        if name in shown:
            continue
        text = fmt_pair(deal, name, snap.totals.values.get(name))
        missing = snap.unreported_inputs(name, snap.totals.values)
        if missing:
            names = fmt_list(deal, (label(deal, m) for m in missing))
            text += ctx_t("sem.not_reported", names=names)
        totals.append(text)
    return rich_message(
        period_title(ctx_t, snap),
        [
            (None, first_day_note(ctx_t, snap, command)),
            (ctx_t("kpi.targets"), targets),
            (ctx_t("kpi.other_totals"), [fmt_list(deal, totals)] if totals else []),
            (ctx_t("kpi.disagreements"), disagreement_lines(ctx_t, snap)),
            (
                None,
                [
                    *status_notes(ctx_t, snap),
                    *period_notes(ctx_t, snap),
                    *aligned_notes(ctx_t, deal, snap.totals.aligned),
                ],
            ),
            (ctx_t("kpi.definitions"), definition_lines(deal, shown)),
        ],
        footer=ctx_t("kpi.footer", truth=truth_text(ctx_t, deal)),
    )
