"""How an escalation is said: what it is about, in the deal's language (``/escalations``,
``/ack``, the dashboard and the escalation notices themselves), and how one that ended by
itself is dated."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bot.core.i18n import metric_label, t
from bot.core.ports import EscalationRecord
from kpi.model import Deal
from kpi.periods import business_day


def describe(deal: Deal, detail: dict[str, Any], locale: str | None = None) -> str:
    """What an escalation is about, in the deal's language."""
    loc = locale or deal.locale
    if detail.get("type") == "disagreement":
        return t(
            "escalation.reason_disagreement",
            loc,
            day=detail["day"],
            items=detail["items"],
            since=detail["since"],
        )
    key = (
        "escalation.reason_pace_repeated"
        if detail.get("why") == "repeated"
        else ("escalation.reason_pace")
    )
    metric = deal.metrics.get(detail["metric"])
    return t(
        key,
        loc,
        metric=metric_label(detail["metric"], loc, metric.labels if metric else None),
        pace=detail["pace"],
        threshold=detail["threshold"],
        actual=detail["actual"],
        target=detail["target"],
    )


def metric_of(deal: Deal, detail: dict[str, Any], locale: str | None = None) -> str:
    """The metric a pace escalation is about, as the deal names it in ``locale``."""
    metric = str(detail.get("metric", ""))
    info = deal.metrics.get(metric)
    return metric_label(metric, locale or deal.locale, info.labels if info else None)


def resolved_on(esc: EscalationRecord, tz: str) -> str:
    """``11-06``: the day of the pace check that ended an escalation by itself (the day it
    ended, in the deal's time zone, if the check is not recorded)."""
    check = (esc.resolution or {}).get("check")
    day = (
        dt.date.fromisoformat(str(check))
        if check
        else business_day(esc.resolved_at or esc.started_at, tz)
    )
    return f"{day:%m-%d}"
