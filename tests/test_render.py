"""How figures are written in replies: money at the minor unit, counts whole, others ≤ 2 places."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot.core.render import fmt_value
from kpi.dealfile import load_deal

ROOT = Path(__file__).resolve().parents[1]
US = load_deal((ROOT / "bot" / "demo" / "acme-linkstar-us.yaml").read_text(encoding="utf-8"))
JP = load_deal(
    (ROOT / "bot" / "demo" / "acme-linkstar-us.yaml")
    .read_text(encoding="utf-8")
    .replace("currency: USD", "currency: JPY", 1)
)


@pytest.mark.parametrize(
    ("deal", "metric", "value", "shown"),
    [
        (US, "gmv", Decimal("1950"), "1,950"),  # a whole amount as typed
        (US, "gmv", Decimal("101062.5"), "101,062.50"),  # a projection: cents, never one digit
        (US, "gmv", Decimal("32727.272727"), "32,727.27"),
        (US, "gmv", Decimal("0.005"), "0.01"),  # half-up at the minor unit
        (JP, "gmv", Decimal("372201.5"), "372,202"),  # yen have no minor unit
        (US, "orders", Decimal("2366.25"), "2,366"),  # counts are whole
        (US, "gmv", None, "—"),  # nothing reported is not 0
        (US, "net_gmv", Decimal("89362.5"), "89,362.50"),  # gmv - refunds is money too
        (US, "aov", Decimal("42.7"), "42.70"),  # a ratio: 2 places
    ],
)
def test_figures_show_no_more_digits_than_they_mean(
    deal: object, metric: str, value: Decimal | None, shown: str
) -> None:
    assert fmt_value(deal, metric, value) == shown  # type: ignore[arg-type]
