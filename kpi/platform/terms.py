"""A deal's view of the platform: which export figure is which deal metric, and export checks."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from kpi.model import Deal
from kpi.platform.headers import FIELDS, KINDS
from kpi.platform.parse import ExportTerms

__all__ = ["EXPORT_FIELDS", "FIGURES", "export_terms", "metric_map", "platform_metrics"]

FIGURES: tuple[str, ...] = (
    "live_gmv", "attributed_gmv", "live_orders", "items_sold", "customers", "viewers", "views",
    "sessions", "paid_amount", "orders", "refunds", "quantity", "settlement", "revenue", "fees",
    "shop_gmv", "shop_orders", "shop_items_sold", "shop_customers",
)  # fmt: skip
"""The platform figures a deal metric can be mapped to (``platform.metrics``)."""

EXPORT_FIELDS: tuple[str, ...] = tuple(
    dict.fromkeys(f.name for kind in KINDS for f in FIELDS[kind])
)
"""The export fields a header can be mapped to (``platform.columns``)."""

_BASIS_FIGURE = {"live_gmv": "live_gmv", "attributed_gmv": "attributed_gmv",
                 "order_amount": "paid_amount"}  # fmt: skip


def metric_map(deal: Deal) -> dict[str, str]:
    """Which platform figure each of the deal's reported metrics is.

    By default ``gmv`` is the ``gmv_basis`` figure, ``orders`` the paid orders of the order
    export, ``viewers`` the LIVE sessions' viewers and ``refunds`` the order export's refunds
    (unless ``refunds: none``); the deal file's ``platform.metrics`` adds or overrides.
    """
    terms = deal.platform
    defaults = {"gmv": _BASIS_FIGURE[terms.gmv_basis], "orders": "orders", "viewers": "viewers"}
    if terms.refunds:
        defaults["refunds"] = "refunds"
    mapping = {m: f for m, f in defaults.items() if m in deal.base_metrics}
    # Only reported metrics: a derived one is computed from them, never given.
    mapping.update({m: f for m, f in terms.metrics if m in deal.base_metrics})
    return mapping


def export_terms(deal: Deal) -> ExportTerms:
    """What an export for this deal is checked against."""
    return ExportTerms(deal.currency, deal.timezone, deal.starts, dict(deal.platform.columns))


def platform_metrics(
    deal: Deal, figures: dict[dt.date, dict[str, Decimal]]
) -> dict[dt.date, dict[str, Decimal]]:
    """The platform's figure of each mapped deal metric, per day (a metric the day's imports
    do not cover is absent, never zero)."""
    mapping = metric_map(deal)
    out: dict[dt.date, dict[str, Decimal]] = {}
    for day, totals in figures.items():
        values = {m: totals[f] for m, f in mapping.items() if f in totals}
        if values:
            out[day] = values
    return out
