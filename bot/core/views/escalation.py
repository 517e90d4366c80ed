"""How an escalation is said: what it is about, in the deal's language (``/escalations``,
``/ack`` and the escalation notices themselves)."""

from __future__ import annotations

from typing import Any

from bot.core.i18n import metric_label, t
from kpi.model import Deal


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
