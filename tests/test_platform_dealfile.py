"""The deal file's platform terms: ``platform:`` (gmv basis, refunds, metric and header maps),
``truth: platform`` with ``fallback:``, and what they change in the figures that count."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from kpi.dealfile import load_deal
from kpi.errors import DealFileError
from kpi.ledger import Ledger
from kpi.model import Deal, Entry, PlatformTerms
from kpi.platform.parse import load_export
from kpi.platform.store import PlatformStore, Uploader
from kpi.platform.terms import export_terms, metric_map
from kpi.platform.truth import resolve_figures
from tests.conftest import APPLIED_AT, DEMO_DEAL
from tests.platform_files import LIVE

MINIMAL = """\
id: tiny-deal
name: Tiny
currency: USD
timezone: America/Los_Angeles
starts: 2026-11-01
metrics:
  gmv: Gross merchandise value
  orders: Paid orders
  refunds: Refunds
  viewers: Viewers
"""


def problems(text: str) -> list[str]:
    with pytest.raises(DealFileError) as caught:
        load_deal(text, "d.yaml")
    return [f"{key}: {message}" for key, _, message in caught.value.problems]


def test_a_deal_without_a_platform_section_reads_exports_by_the_defaults() -> None:
    deal = load_deal(MINIMAL)
    assert deal.platform == PlatformTerms()
    assert metric_map(deal) == {
        "gmv": "live_gmv",
        "orders": "orders",
        "viewers": "viewers",
        "refunds": "refunds",
    }


def test_the_platform_section_sets_the_gmv_basis_refunds_and_both_maps() -> None:
    deal = load_deal(
        MINIMAL
        + "platform:\n  gmv_basis: order_amount\n  refunds: none\n"
        + "  metrics: {orders: live_orders}\n  columns: {成交金额: live_gmv}\n"
    )
    assert metric_map(deal) == {"gmv": "paid_amount", "orders": "live_orders", "viewers": "viewers"}
    assert export_terms(deal).columns == {"成交金额": "live_gmv"}


def test_platform_section_mistakes_are_named_with_the_choices() -> None:
    found = problems(
        MINIMAL
        + "platform:\n  gmv_basis: net\n  metrics: {roi: live_gmv, gmv: clicks}\n"
        + "  columns: {Sales: money}\n  colums: {}\n"
    )
    assert any(
        p.startswith("platform.colums: unknown key 'colums'; did you mean 'columns'") for p in found
    )
    assert (
        "platform.gmv_basis: 'net' is not one of: live_gmv, attributed_gmv, order_amount" in found
    )
    assert any(
        p.startswith("platform.metrics.roi: 'roi' is not a metric of this deal") for p in found
    )
    assert any(
        p.startswith("platform.metrics.gmv: 'clicks' is not one of: live_gmv") for p in found
    )
    assert any(
        p.startswith("platform.columns.Sales: 'money' is not one of: creator_id") for p in found
    )


def test_truth_platform_needs_a_fallback_and_a_fallback_needs_truth_platform() -> None:
    assert any(p.startswith("fallback: truth: platform needs fallback") for p in problems(
        MINIMAL + "truth: platform\n"
    ))  # fmt: skip
    assert "fallback: fallback is only for truth: platform" in problems(
        MINIMAL + "fallback: seller\n"
    )
    deal = load_deal(MINIMAL + "truth: platform\nfallback: agreed\n")
    assert deal.truth == "agreed" and deal.platform.counts


def platform_deal(text: str) -> Deal:
    return load_deal(text.replace("truth: seller", "truth: platform\nfallback: seller"))


def entry(day: dt.date, value: str, side: str = "seller") -> Entry:
    return Entry(1 if side == "seller" else 2, "acme-linkstar-us", day, "gmv", Decimal(value),
                 side, "telegram:5001", "Mia", "telegram:-1001234", f"k{side}", APPLIED_AT)  # type: ignore[arg-type]  # fmt: skip


async def test_with_truth_platform_the_platform_figure_counts_and_the_fallback_elsewhere(
    ledger: Ledger,
) -> None:
    text = DEMO_DEAL.read_text(encoding="utf-8")
    deal = platform_deal(text)
    await ledger.apply_deal(deal, text, effective=deal.starts, applied_at=APPLIED_AT)
    data = LIVE.read_bytes()
    parsed = load_export(data, LIVE.name, export_terms(deal))
    await PlatformStore(ledger.engine).import_export(
        deal.id, parsed, data=data, file_name=LIVE.name,
        uploader=Uploader("cli", "cli", "cli"), now=APPLIED_AT,
    )  # fmt: skip
    nov2, nov1 = dt.date(2026, 11, 2), dt.date(2026, 11, 1)
    typed = [entry(nov2, "12000"), entry(nov1, "500")]
    figures = await resolve_figures(ledger, deal, typed, [], nov1, nov2)
    assert figures[(nov2, "gmv")].value == Decimal("11675.22")
    assert figures[(nov2, "gmv")].seller == typed[0]  # the typed figure stays, for the flag
    assert figures[(nov2, "viewers")].value == 18450
    assert figures[(nov1, "gmv")].value == 500  # no export that day: the seller's counts
    seller_rule = load_deal(text)
    plain = await resolve_figures(ledger, seller_rule, typed, [], nov1, nov2)
    assert plain[(nov2, "gmv")].value == 12000 and (nov2, "viewers") not in plain
