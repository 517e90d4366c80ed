"""Shared pieces of replies: how metric values, days and people are shown."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from bot.core.i18n import Translate, formula_label, join_list, metric_label, zh_period_label
from kpi.model import Deal, Entry
from kpi.money import format_figure, format_money, format_percent, minor_units
from kpi.periods import Period

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
    if info is not None and info.formula is not None and _sums_money(deal, info.formula.text):
        kind = "money"  # net_gmv: gmv - refunds is an amount of money like its inputs
    if kind == "money":
        # Whole amounts as typed (1,950); any other amount at exactly the minor unit
        # (101,062.50, never 101,062.5), as money is written.
        rounded = _at_most(value, minor_units(deal.currency))
        if rounded == rounded.to_integral_value():
            return format_figure(rounded)
        return format_figure(rounded, minor_units(deal.currency))
    if kind == "count":
        return format_figure(_at_most(value, 0))
    return format_figure(_at_most(value, 2))


def _sums_money(deal: Deal, formula: str) -> bool:
    """Whether a formula only adds and subtracts money metrics (``gmv - refunds``)."""
    if any(op in formula for op in "*/"):
        return False
    names = [word for word in re.findall(r"[a-z_][a-z0-9_]*", formula)]
    metrics = [deal.metrics.get(name) for name in names]
    return bool(names) and all(m is not None and m.kind == "money" for m in metrics)


def _at_most(value: Decimal, places: int) -> Decimal:
    """``value`` rounded half-up to ``places`` decimals when it has more (2.5 stays 2.5)."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -places:
        return value
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP).normalize()


def label(deal: Deal, name: str) -> str:
    """A metric's display name in the deal's language (``成交额`` for ``gmv`` in Chinese)."""
    metric = deal.metrics.get(name)
    return metric_label(name, deal.locale, metric.labels if metric is not None else None)


def fmt_pair(deal: Deal, name: str, value: Decimal | None) -> str:
    """``成交额 12,000``: a metric's label and its value."""
    return f"{label(deal, name)} {fmt_value(deal, name, value)}"


def capped_list(t: Translate, deal: Deal, items: list[str], shown: int) -> str:
    """The first ``shown`` items, each whole, and how many more there are (``… and 7 more``).

    Args:
        t: The deal's translator (for ``list.more``).
        deal: The deal (its language lists the items).
        items: The items, in the order to show them.
        shown: How many to name.

    Returns:
        The list as one text.
    """
    text = fmt_list(deal, items[:shown])
    if len(items) > shown:
        # No space before Chinese ……, as before any full-width punctuation.
        text += ("" if deal.locale == "zh" else " ") + t("list.more", count=len(items) - shown)
    return text


def fmt_list(deal: Deal, items: Iterable[str]) -> str:
    """Items joined as the deal's language lists them (``、`` in Chinese)."""
    return join_list(items, deal.locale)


def fmt_formula(deal: Deal, text: str) -> str:
    """A formula in the deal's language: ``退款金额 ÷ 成交额`` for ``refunds / gmv``."""
    return formula_label(
        text, deal.locale, lambda name: label(deal, name) if name in deal.metrics else name
    )


def fmt_money(deal: Deal, amount: Decimal) -> str:
    """An amount in the deal's currency, written as the deal's language writes money."""
    return format_money(amount, deal.currency, deal.locale)


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


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _span(period: Period, locale: str) -> str:
    """The days a period covers: ``11-02 至 11-08`` (the day form Chinese data lines use, so a
    reader can copy it into a command) or ``Nov 2–8`` (``Oct 30–Nov 5``)."""
    start, end = period.start, period.end
    if locale == "zh":
        return f"{start:%m-%d} 至 {end:%m-%d}"
    first = f"{_MONTHS[start.month - 1]} {start.day}"
    last = str(end.day) if end.month == start.month else f"{_MONTHS[end.month - 1]} {end.day}"
    return f"{first}–{last}"


def period_name(deal: Deal, period: Period, *, dates: bool = False) -> str:
    """A period as people say it, in the deal's language.

    Chinese: ``2026年第45周``, ``2026年11月``, ``2026年Q4`` (each also typed back as a label).
    English keeps the label (``2026-W45``, ``2026-11``). With ``dates`` (titles), a week says
    which days it covers, since companies number weeks differently: ``2026年第45周（11-02 至
    11-08）``, ``week 45 (Nov 2–8)``.
    """
    label, zh = period.label, deal.locale == "zh"
    if period.kind == "week" and "-W" in label:
        name = zh_period_label(label) if zh else f"week {int(label.rsplit('W', 1)[1])}"
        if not dates:
            return name if zh else label
        return f"{name}（{_span(period, 'zh')}）" if zh else f"{name} ({_span(period, 'en')})"
    return zh_period_label(label) if zh else label


def pct(fraction: Decimal) -> str:
    """A percentage with at most one decimal place and no trailing ``.0`` (``10%``, ``0.4%``)."""
    return format_percent(fraction, 1).replace(".0%", "%")


def score_shares(
    t: Translate, deal: Deal, shares: Iterable[Mapping[str, Any]], *, with_share: bool = True
) -> str:
    """Each weighted target's share of the score: ``GMV 75% × 60% = 45%`` listed, or (without
    ``with_share``) the terms of the sum joined by `` + ``; ``—`` for a target with no figure."""
    parts = []
    for share in shares:
        words = {"metric": label(deal, share["metric"]), "weight": pct(share["weight"])}
        if share["achievement"] is None:
            key = "contracts.share_missing" if with_share else "contracts.term_missing"
            parts.append(t(key, **words))
        else:
            key = "contracts.share" if with_share else "contracts.term"
            achievement = pct(share["achievement"])
            parts.append(t(key, achievement=achievement, share=pct(share["share"]), **words))
    return fmt_list(deal, parts) if with_share else " + ".join(parts)


def score_missing(t: Translate, deal: Deal, missing: Sequence[str]) -> str:
    """`` (GMV: no figure, no credit)`` for weighted targets with no figure, else empty."""
    if not missing:
        return ""
    return t("contracts.score_missing", names=fmt_list(deal, (label(deal, m) for m in missing)))
