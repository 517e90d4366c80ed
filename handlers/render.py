"""Shared pieces of replies: how metric values, days and people are shown."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from kpi.model import Deal, Entry
from kpi.money import format_figure, format_percent, minor_units

_PERCENT_SUFFIXES = ("rate", "cvr", "ctr")


def is_percent_metric(name: str) -> bool:
    """Rates are shown as percentages (``refund_rate`` 0.05 → 5.0%)."""
    return name.endswith(_PERCENT_SUFFIXES)


def fmt_value(deal: Deal, metric: str, value: Decimal | None) -> str:
    """A metric value for people: grouped thousands, rates as %, ratios with 2 places."""
    if value is None:
        return "—"
    if is_percent_metric(metric):
        return format_percent(value, 1)
    info = deal.metrics.get(metric)
    if info is not None and info.formula is not None and "/" in info.formula.text:
        return format_figure(value, 2)
    # No more digits than the figure means (issue 12, item 11): a metric that declares its kind
    # shows money to at most the currency's minor unit and counts whole; any other figure (a
    # projection such as 32,727.2727...) at most 2 decimals. Trailing zeros are not added, so
    # a reported 1,950 stays 1,950.
    kind = getattr(info, "kind", None)
    if kind == "money":
        return format_figure(_at_most(value, minor_units(deal.currency)))
    if kind == "count":
        return format_figure(_at_most(value, 0))
    return format_figure(_at_most(value, 2))


def _at_most(value: Decimal, places: int) -> Decimal:
    """``value`` rounded half-up to ``places`` decimals when it has more (2.5 stays 2.5)."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -places:
        return value
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP).normalize()


def fmt_target(deal: Deal, metric: str, direction: str, value: Decimal) -> str:
    """``≥ 50,000`` or ``≤ 8.0%``."""
    sign = "≥" if direction == "at_least" else "≤"
    return f"{sign} {fmt_value(deal, metric, value)}"


def fmt_day(day: dt.date) -> str:
    return day.isoformat()


def fmt_person(entry: Entry) -> str:
    return entry.person_name or entry.person


def fmt_time(at: dt.datetime, tz: str) -> str:
    from zoneinfo import ZoneInfo

    return at.astimezone(ZoneInfo(tz)).strftime("%m-%d %H:%M")
