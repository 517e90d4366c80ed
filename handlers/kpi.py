"""``/kpi``: the period to date against every target, with pace, disagreements and definitions."""

from __future__ import annotations

from typing import Any

from bot.core import Outgoing
from bot.router import Context
from handlers.imports import truth_text
from handlers.render import fmt_day, fmt_target, fmt_value
from kpi.model import Deal
from kpi.money import format_percent
from kpi.pace import TargetStatus
from kpi.snapshot import Snapshot, snapshot


def rich_message(
    title: str, sections: list[tuple[str | None, list[str]]], footer: str = ""
) -> dict[str, Any]:
    """The platform-neutral structured form adapters may render (Slack Block Kit)."""
    return {
        "title": title,
        "sections": [{"title": head, "lines": lines} for head, lines in sections if lines],
        "footer": footer,
    }


def flatten(rich: dict[str, Any]) -> str:
    """The plain-text form of a rich message; the canonical text of every reply."""
    parts = [rich["title"]]
    for section in rich["sections"]:
        if section["title"]:
            parts.append(section["title"])
        parts.extend(section["lines"])
    if rich.get("footer"):
        parts.append(rich["footer"])
    return "\n".join(parts)


def status_line(ctx_t: Any, deal: Deal, status: TargetStatus) -> str:
    """One target: actual against target, pace and where it ends."""
    target = status.target
    metric = target.metric
    pace = format_percent(status.pace, 0) if status.pace is not None else "—"
    if status.actual is None and status.projected is None:
        verdict = ctx_t("kpi.no_data")
    elif status.on_track:
        verdict = ctx_t("kpi.on_track")
    else:
        verdict = ctx_t("kpi.behind")
    return ctx_t(
        "kpi.target_line",
        metric=metric,
        actual=fmt_value(deal, metric, status.actual),
        target=fmt_target(deal, metric, target.direction, target.value),
        pace=pace,
        projected=fmt_value(deal, metric, status.projected),
        verdict=verdict,
    )


def period_title(ctx_t: Any, snap: Snapshot) -> str:
    key = "kpi.title_trial" if snap.trial else "kpi.title"
    return ctx_t(
        key,
        deal=snap.deal.name,
        period=snap.period.label,
        day=snap.elapsed_days,
        days=snap.period.days,
    )


def disagreement_lines(ctx_t: Any, snap: Snapshot) -> list[str]:
    lines = []
    deal = snap.deal
    for fig in snap.disagreements:
        seller = fmt_value(deal, fig.metric, fig.seller.value if fig.seller else None)
        agency = fmt_value(deal, fig.metric, fig.agency.value if fig.agency else None)
        line = ctx_t(
            "kpi.disagreement",
            day=fmt_day(fig.day),
            metric=fig.metric,
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


def status_notes(ctx_t: Any, snap: Snapshot) -> list[str]:
    """Provisional and pending figures, so nobody mistakes them for settled ones."""
    provisional = sorted(
        f"{fmt_day(f.day)} {f.metric}" for f in snap.figures.values() if f.status == "provisional"
    )
    pending = sorted(
        f"{fmt_day(f.day)} {f.metric}" for f in snap.figures.values() if f.status == "pending"
    )
    lines = []
    if provisional:
        lines.append(ctx_t("kpi.provisional", items=", ".join(provisional[:10])))
    if pending:
        lines.append(ctx_t("kpi.pending", items=", ".join(pending[:10])))
    return lines


def definition_lines(deal: Deal, metrics: set[str]) -> list[str]:
    """Which definition each shown metric used (the contract's words or formula)."""
    lines = []
    for name in sorted(metrics):
        metric = deal.metrics.get(name)
        if metric is None:
            continue
        text = metric.formula.text if metric.formula is not None else metric.description
        lines.append(f"{name}: {text}")
        if metric.formula is not None:
            for dep in sorted(metric.formula.names):
                dep_metric = deal.metrics.get(dep)
                if dep_metric is not None and dep_metric.formula is None and dep not in metrics:
                    lines.append(f"{dep}: {dep_metric.description}")
    return list(dict.fromkeys(lines))


def _has_figures(snap: Snapshot, name: str) -> bool:
    """Whether a metric has any counted figure this period (derived: all its inputs do)."""
    metric = snap.deal.metrics.get(name)
    if metric is None:
        return False
    if metric.formula is None:
        return snap.totals.last_day.get(name) is not None
    return all(_has_figures(snap, dep) for dep in metric.formula.names)


def kpi_rich(ctx_t: Any, snap: Snapshot) -> dict[str, Any]:
    deal = snap.deal
    targets = [status_line(ctx_t, deal, s) for s in snap.statuses]
    shown = {s.target.metric for s in snap.statuses}
    totals = [
        f"{name} {fmt_value(deal, name, snap.totals.values.get(name))}"
        for name in deal.metrics
        if name not in shown and _has_figures(snap, name)
    ]
    return rich_message(
        period_title(ctx_t, snap),
        [
            (ctx_t("kpi.targets"), targets),
            (ctx_t("kpi.other_totals"), [", ".join(totals)] if totals else []),
            (ctx_t("kpi.disagreements"), disagreement_lines(ctx_t, snap)),
            (None, status_notes(ctx_t, snap)),
            (ctx_t("kpi.definitions"), definition_lines(deal, shown)),
        ],
        footer=ctx_t("kpi.footer", truth=truth_text(ctx_t, deal)),
    )


async def kpi(ctx: Context) -> list[Outgoing]:
    """``/kpi``: where this period stands."""
    assert ctx.deal is not None
    snap = await snapshot(ctx.ledger, ctx.deal, ctx.today)
    rich = kpi_rich(ctx.t, snap)
    return [ctx.reply(flatten(rich), rich=rich)]
