"""Hand-computed fee cases for the fee engine, one table, each with its calculation."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from bot.core.views.fee import fee_rich, final_rich, totals_text
from bot.core.views.kpi import flatten, kpi_rich
from handlers.statement import current_view
from kpi.dealfile import load_deal
from kpi.errors import DealFileError
from kpi.fees import FeeStatement, FeeView, commission_for, compute_fee, shortfall, target_met
from kpi.formula import Formula
from kpi.model import (
    Band,
    Bonus,
    Commission,
    Deal,
    Deduction,
    FeePlan,
    Guarantee,
    Metric,
    Performance,
    Target,
)
from kpi.pace import derive, prorated_targets
from kpi.periods import first_period
from kpi.sides import Figure
from kpi.snapshot import Snapshot, build_snapshot, current_period
from scheduler.recap import translator

D = Decimal
ONE = D(1)

# --- The plans, built by hand (the deal-file loader is tested elsewhere) ----------------------

TIERED = Commission(
    on="net_gmv",
    bands=(Band(rate=D("0.05"), up_to=D("50000")), Band(rate=D("0.08"))),
    tiers="graduated",
)
TIERED_WHOLE = Commission(on="net_gmv", bands=TIERED.bands, tiers="whole")
GMV_ROI_BONUS = Bonus(when=("gmv", "roi"), amount=D("1000"))

# The issue's worked example: November 2026 is the trial, base 1,500, no deduction.
TRIAL = FeePlan(base=D("1500"), commission=TIERED, bonus=GMV_ROI_BONUS)

# Ordinary terms: every full 5 % of GMV shortfall deducts 2 % of the base, at most 10 % of it.
REGULAR = FeePlan(
    base=D("5000"),
    commission=TIERED,
    bonus=GMV_ROI_BONUS,
    deduction=Deduction(
        on="gmv", step=D("0.05"), per_step=D("0.02"), of="base", cap_rate=D("0.10")
    ),
    minimum=D("6000"),
    cap=D("12000"),
)

# An at_most deduction on the refund rate: every full 25 % over the target deducts 5 % of the
# total (base + commission + bonus), at most 300.
REFUNDS = FeePlan(
    base=D("2000"),
    commission=Commission(on="gmv", bands=(Band(rate=D("0.10")),)),  # flat 10 %: one open band
    deduction=Deduction(
        on="refund_rate", step=D("0.25"), per_step=D("0.05"), of="total", cap_amount=D("300")
    ),
)

TARGETS = (
    Target(metric="gmv", direction="at_least", value=D("50000")),
    Target(metric="roi", direction="at_least", value=D("3.5")),
    Target(metric="refund_rate", direction="at_most", value=D("0.08")),
)

# The worked example's figures, Nov 1-10 (to date) and at the current pace over 30 days.
TO_DATE_NOV10 = {
    "gmv": D("20000"),
    "refunds": D("1000"),
    "net_gmv": D("19000"),
    "ad_spend": D("5000"),
    "roi": D("4"),
    "refund_rate": D("0.05"),
}
PROJECTED_NOV = {
    "gmv": D("60000"),
    "refunds": D("3000"),
    "net_gmv": D("57000"),
    "ad_spend": D("15000"),
    "roi": D("4.0"),
    "refund_rate": D("0.05"),
}


@dataclass(frozen=True)
class Case:
    id: str
    plan: FeePlan
    values: Mapping[str, Decimal | None]
    view: FeeView
    lines: tuple[tuple[str, str], ...]  # (kind, amount exactly as str(Decimal) prints it)
    total: str
    currency: str = "USD"
    fraction: Decimal = ONE
    trial: bool = False
    targets: tuple[Target, ...] = TARGETS


CASES = [
    # The worked example, to date (trial terms):
    #   base 1,500 (trial, not prorated)                         = 1,500.00
    #   commission net_gmv 19,000 x 5 % (all in the first band)  =   950.00
    #   bonus: gmv 20,000 < 50,000, so not yet met              =     0.00
    #   total                                                    = 2,450.00
    Case(
        "worked example, to date",
        TRIAL,
        TO_DATE_NOV10,
        "to_date",
        (("base", "1500.00"), ("commission", "950.00"), ("bonus", "0.00")),
        "2450.00",
        trial=True,
    ),
    # The worked example, projected over 30 days of 10 elapsed (trial terms):
    #   base 1,500
    #   commission 50,000 x 5 % + 7,000 x 8 % = 2,500 + 560     = 3,060.00
    #   bonus: gmv 60,000 >= 50,000 and roi 4.0 >= 3.5: met      = 1,000.00
    #   no deduction, minimum or cap in the trial plan
    #   total 1,500 + 3,060 + 1,000                              = 5,560.00
    Case(
        "worked example, projected",
        TRIAL,
        PROJECTED_NOV,
        "projected",
        (("base", "1500.00"), ("commission", "3060.00"), ("bonus", "1000.00")),
        "5560.00",
        trial=True,
    ),
    # Final view: the same rules on the closed period's figures -> the same 5,560.00.
    Case(
        "worked example, final",
        TRIAL,
        PROJECTED_NOV,
        "final",
        (("base", "1500.00"), ("commission", "3060.00"), ("bonus", "1000.00")),
        "5560.00",
        trial=True,
    ),
    # Whole-volume tiers: net_gmv 57,000 reaches the 8 % band, which re-rates all of it:
    #   1,500 + 57,000 x 8 % (4,560) + bonus 1,000               = 7,060.00
    Case(
        "whole tiers re-rate everything",
        FeePlan(base=D("1500"), commission=TIERED_WHOLE, bonus=GMV_ROI_BONUS),
        PROJECTED_NOV,
        "projected",
        (("base", "1500.00"), ("commission", "4560.00"), ("bonus", "1000.00")),
        "7060.00",
    ),
    # Whole tiers, figure exactly on a bound: 50,000 stays in the 5 % band:
    #   1,500 + 50,000 x 5 % (2,500) + bonus (gmv 52,000, roi 4) 1,000 = 5,000.00
    Case(
        "whole tiers on the band bound",
        FeePlan(base=D("1500"), commission=TIERED_WHOLE, bonus=GMV_ROI_BONUS),
        {"gmv": D("52000"), "net_gmv": D("50000"), "roi": D("4")},
        "final",
        (("base", "1500.00"), ("commission", "2500.00"), ("bonus", "1000.00")),
        "5000.00",
    ),
    # Proration: the deal starts Nov 14, so 17 of November's 30 days; to date:
    #   base 5,000 x 17/30 = 2,833.333... -> 2,833.33
    #   commission 9,500 x 5 % = 475.00; bonus not met 0.00
    #   total 2,833.33 + 475.00                                  = 3,308.33
    Case(
        "proration of the first period's base",
        REGULAR,
        {"gmv": D("10000"), "net_gmv": D("9500"), "roi": D("4")},
        "to_date",
        (("base", "2833.33"), ("commission", "475.00"), ("bonus", "0.00")),
        "3308.33",
        fraction=D(17) / D(30),
    ),
    # at_least deduction, step flooring ("GMV ends at 41,300, 17% short: deduction -300.00"):
    #   shortfall (50,000 - 41,300) / 50,000 = 0.174; steps floor(0.174 / 0.05) = 3
    #   deduction 3 x 2 % x base 5,000 = 300 (cap 10 % x 5,000 = 500 not reached)
    #   5,000 + 40,000 x 5 % (2,000) + bonus 0 - 300 = 6,700 (within minimum 6,000 / cap 12,000)
    Case(
        "at_least deduction floors the steps",
        REGULAR,
        {"gmv": D("41300"), "net_gmv": D("40000"), "roi": D("3")},
        "final",
        (
            ("base", "5000.00"),
            ("commission", "2000.00"),
            ("bonus", "0.00"),
            ("deduction", "-300.00"),
        ),
        "6700.00",
    ),
    # at_least deduction exactly on a step: shortfall 10,000 / 50,000 = 0.2 = 4 full steps
    #   deduction 4 x 2 % x 5,000 = 400
    #   5,000 + 38,000 x 5 % (1,900) + 0 - 400                   = 6,500.00
    Case(
        "at_least deduction on an exact step",
        REGULAR,
        {"gmv": D("40000"), "net_gmv": D("38000"), "roi": D("4")},
        "projected",
        (
            ("base", "5000.00"),
            ("commission", "1900.00"),
            ("bonus", "0.00"),
            ("deduction", "-400.00"),
        ),
        "6500.00",
    ),
    # Deduction cap: shortfall 15,000 / 50,000 = 0.3 = 6 steps -> 6 x 2 % x 5,000 = 600,
    #   capped at 10 % x 5,000 = 500
    #   5,000 + 33,000 x 5 % (1,650) + 0 - 500                   = 6,150.00
    Case(
        "at_least deduction capped by cap_rate",
        REGULAR,
        {"gmv": D("35000"), "net_gmv": D("33000"), "roi": D("4")},
        "final",
        (
            ("base", "5000.00"),
            ("commission", "1650.00"),
            ("bonus", "0.00"),
            ("deduction", "-500.00"),
        ),
        "6150.00",
    ),
    # at_least with no figure at all (issue 12, item 2): nothing reported is not judged, so
    #   no deduction; 5,000 + 0 + 0 - 0 = 5,000 < minimum 6,000: top-up 1,000 = 6,000.00
    Case(
        "at_least deduction with no figure",
        REGULAR,
        {"gmv": None, "net_gmv": None, "roi": None},
        "final",
        (
            ("base", "5000.00"),
            ("commission", "0.00"),
            ("bonus", "0.00"),
            ("deduction", "0.00"),
            ("minimum", "1000.00"),
        ),
        "6000.00",
    ),
    # at_most deduction of the total, exactly one step:
    #   refund_rate 0.10 vs at most 0.08: shortfall (0.10 - 0.08) / 0.08 = 0.25 = 1 step
    #   total = base 2,000 + 30,000 x 10 % (3,000) = 5,000; deduction 1 x 5 % x 5,000 = 250
    #   2,000 + 3,000 - 250                                      = 4,750.00
    Case(
        "at_most deduction of the total",
        REFUNDS,
        {"gmv": D("30000"), "refund_rate": D("0.10")},
        "final",
        (("base", "2000.00"), ("commission", "3000.00"), ("deduction", "-250.00")),
        "4750.00",
    ),
    # at_most capped by cap_amount: (0.13 - 0.08) / 0.08 = 0.625 -> 2 steps -> 2 x 5 % x 5,000
    #   = 500, capped at 300; 2,000 + 3,000 - 300                = 4,700.00
    Case(
        "at_most deduction capped by cap_amount",
        REFUNDS,
        {"gmv": D("30000"), "refund_rate": D("0.13")},
        "projected",
        (("base", "2000.00"), ("commission", "3000.00"), ("deduction", "-300.00")),
        "4700.00",
    ),
    # at_most with no figure: no evidence of an excess, no deduction: 2,000 + 3,000 = 5,000.00
    Case(
        "at_most deduction with no figure",
        REFUNDS,
        {"gmv": D("30000"), "refund_rate": None},
        "final",
        (("base", "2000.00"), ("commission", "3000.00"), ("deduction", "0.00")),
        "5000.00",
    ),
    # Minimum (保底): gmv 20,000 is 60 % short = 12 steps = 1,200, capped at 500;
    #   5,000 + 19,000 x 5 % (950) + 0 - 500 = 5,450 < 6,000: top-up 550 = 6,000.00
    Case(
        "minimum tops up the total",
        REGULAR,
        TO_DATE_NOV10,
        "final",
        (
            ("base", "5000.00"),
            ("commission", "950.00"),
            ("bonus", "0.00"),
            ("deduction", "-500.00"),
            ("minimum", "550.00"),
        ),
        "6000.00",
    ),
    # The same figures to date: no deduction, minimum or cap before the period closes:
    #   5,000 + 950 + 0                                          = 5,950.00 (below the minimum)
    Case(
        "to date applies no deduction, minimum or cap",
        REGULAR,
        TO_DATE_NOV10,
        "to_date",
        (("base", "5000.00"), ("commission", "950.00"), ("bonus", "0.00")),
        "5950.00",
    ),
    # Cap: commission 50,000 x 5 % + 90,000 x 8 % = 2,500 + 7,200 = 9,700; bonus 1,000;
    #   no shortfall (deduction 0); 5,000 + 9,700 + 1,000 = 15,700 > 12,000: cap -3,700
    Case(
        "cap brings the total down",
        REGULAR,
        {"gmv": D("150000"), "net_gmv": D("140000"), "roi": D("5")},
        "projected",
        (
            ("base", "5000.00"),
            ("commission", "9700.00"),
            ("bonus", "1000.00"),
            ("deduction", "0.00"),
            ("cap", "-3700.00"),
        ),
        "12000.00",
    ),
    # Percentage bonus of the commission: 10 % x 3,060.00 = 306.00
    #   1,500 + 3,060 + 306                                      = 4,866.00
    Case(
        "percentage bonus of the commission",
        FeePlan(
            base=D("1500"),
            commission=TIERED,
            bonus=Bonus(when=("gmv", "roi"), percent=D("0.10"), of="commission"),
        ),
        PROJECTED_NOV,
        "projected",
        (("base", "1500.00"), ("commission", "3060.00"), ("bonus", "306.00")),
        "4866.00",
    ),
    # Percentage bonus of the subtotal: 2.5 % x (1,500 + 3,060) = 2.5 % x 4,560 = 114.00
    #   1,500 + 3,060 + 114                                      = 4,674.00
    Case(
        "percentage bonus of the subtotal",
        FeePlan(
            base=D("1500"),
            commission=TIERED,
            bonus=Bonus(when=("gmv",), percent=D("0.025"), of="subtotal"),
        ),
        PROJECTED_NOV,
        "final",
        (("base", "1500.00"), ("commission", "3060.00"), ("bonus", "114.00")),
        "4674.00",
    ),
    # A currency without minor units (JPY): commission 1,234,567 x 3.5 % = 43,209.845 -> 43,210
    #   base 100,000 + 43,210                                    = 143,210
    Case(
        "JPY has no minor units",
        FeePlan(base=D("100000"), commission=Commission(on="gmv", bands=(Band(D("0.035")),))),
        {"gmv": D("1234567")},
        "final",
        (("base", "100000"), ("commission", "43210")),
        "143210",
        currency="JPY",
    ),
    # Half-up on .005, and the total is the sum of the rounded lines:
    #   base 1,000 x 1/3 = 333.333... -> 333.33; commission 100.10 x 5 % = 5.005 -> 5.01
    #   (half-even would give 5.00); total 333.33 + 5.01 = 338.34
    Case(
        "rounding half-up on .005",
        FeePlan(base=D("1000"), commission=TIERED),
        {"net_gmv": D("100.10")},
        "to_date",
        (("base", "333.33"), ("commission", "5.01")),
        "338.34",
        fraction=D(1) / D(3),
    ),
    # Sum of rounded lines differs from the rounded exact sum: base 0.004 -> 0.00 and
    #   commission 100.09 x 5 % = 5.0045 -> 5.00: total 5.00 (the exact 5.0085 would give 5.01)
    Case(
        "total is the sum of the rounded lines",
        FeePlan(base=D("0.004"), commission=TIERED),
        {"net_gmv": D("100.09")},
        "final",
        (("base", "0.00"), ("commission", "5.00")),
        "5.00",
    ),
    # Trial terms switch the base off ("base: none") and pay a flat 10 % on net_gmv:
    #   57,000 x 10 %                                             = 5,700.00
    Case(
        "trial terms without a base",
        FeePlan(commission=Commission(on="net_gmv", bands=(Band(D("0.10")),))),
        PROJECTED_NOV,
        "projected",
        (("commission", "5700.00"),),
        "5700.00",
        trial=True,
    ),
    # Negative net_gmv (refunds above gmv) earns no commission; gmv 2,000 is 96 % short =
    #   19 steps = 1,900, capped at 500: 5,000 + 0 + 0 - 500 = 4,500 -> minimum +1,500 = 6,000.00
    Case(
        "negative figure earns no commission",
        REGULAR,
        {"gmv": D("2000"), "net_gmv": D("-500"), "roi": D("0.5")},
        "final",
        (
            ("base", "5000.00"),
            ("commission", "0.00"),
            ("bonus", "0.00"),
            ("deduction", "-500.00"),
            ("minimum", "1500.00"),
        ),
        "6000.00",
    ),
]


# --- Issue 12: missing is not zero, floors, wording, clipped periods ----------------------------

# The demo deal's metrics (bot/demo/acme-linkstar-us.yaml); derive() applies the formula rules.
DEMO_METRICS = {
    name: Metric(name, name, Formula.parse(formula) if formula else None)
    for name, formula in (
        ("gmv", None),
        ("orders", None),
        ("ad_spend", None),
        ("refunds", None),
        ("net_gmv", "gmv - refunds"),
        ("roi", "gmv / ad_spend"),
        ("refund_rate", "refunds / gmv"),
    )
}


def derived(**base: str) -> dict[str, Decimal | None]:
    """Period totals as the snapshot builds them: unreported base metrics are None."""
    return derive(DEMO_METRICS, {name: D(value) for name, value in base.items()})


# The demo deal's regular terms.
DEMO = FeePlan(
    base=D("3000"),
    commission=TIERED,
    bonus=GMV_ROI_BONUS,
    deduction=Deduction(on="gmv", step=D("0.10"), per_step=D("0.10"), of="base", cap_rate=D("0.5")),
    minimum=D("3000"),
    cap=D("20000"),
)
DEMO_TARGETS = (
    Target(metric="gmv", direction="at_least", value=D("50000")),
    Target(metric="roi", direction="at_least", value=D("2.5")),
    Target(metric="refund_rate", direction="at_most", value=D("0.08")),
)
# A month of 30 days clipped to its last 10 (starts: 2026-11-21).
CLIPPED = first_period(dt.date(2026, 11, 21), "month")
CLIPPED_TARGETS = prorated_targets(DEMO_TARGETS, DEMO_METRICS, CLIPPED)
THIRD = D(10) / D(30)

ROI_DEDUCTION = FeePlan(
    base=D("3000"), deduction=Deduction(on="roi", step=D("0.10"), per_step=D("0.10"), of="base")
)
FLAT_GMV_10 = Commission(on="gmv", bands=(Band(rate=D("0.10")),))
FLOOR_TOTAL = FeePlan(
    base=D("6000"),
    commission=FLAT_GMV_10,
    deduction=Deduction(on="gmv", step=D("0.10"), per_step=D("0.50"), of="total"),
)
FLOOR_BASE = FeePlan(
    base=D("3000"),
    commission=Commission(on="gmv", bands=(Band(rate=D("0.05")),)),
    deduction=Deduction(on="gmv", step=D("0.10"), per_step=D("0.30"), of="base"),
)
JPY_PLAN = FeePlan(
    base=D("500000"),
    commission=Commission(on="gmv", bands=(Band(rate=D("0.03")),)),
    minimum=D("600000"),
)
JPY_GUARANTEE = FeePlan(
    base=D("300000"),
    deduction=Deduction(on="gmv", step=D("0.10"), per_step=D("0.40"), of="total"),
)
CNY_PLAN = FeePlan(base=D("7000"), commission=FLAT_GMV_10, cap=D("14000"))
CNY_REFUNDS = FeePlan(
    base=D("7000"),
    deduction=Deduction(on="refund_rate", step=D("0.25"), per_step=D("0.05"), of="base"),
)
GMV_50K = (Target(metric="gmv", direction="at_least", value=D("50000")),)

SEMANTICS_CASES = [
    # Item 2: /report gmv 100000 ad_spend 0 -> roi = 100,000 / 0 is undefined, never a miss:
    #   base 3,000; deduction on roi: not judged = 0             = 3,000.00
    Case(
        "roi over zero ad spend is undefined: no deduction",
        ROI_DEDUCTION,
        derived(gmv="100000", ad_spend="0"),
        "final",
        (("base", "3000.00"), ("deduction", "0.00")),
        "3000.00",
        targets=DEMO_TARGETS,
    ),
    # Item 2: roi undefined (no ad spend reported) never meets the bonus condition:
    #   trial base 1,500 + commission 50,000 x 5 % + 7,000 x 8 % = 3,060 + bonus 0 = 4,560.00
    Case(
        "roi undefined: the bonus condition is not met",
        TRIAL,
        derived(gmv="60000", refunds="3000"),
        "projected",
        (("base", "1500.00"), ("commission", "3060.00"), ("bonus", "0.00")),
        "4560.00",
        trial=True,
    ),
    # Item 3: refunds unreported count as 0 in net_gmv = gmv - refunds (60,000 - 0):
    #   commission 50,000 x 5 % + 10,000 x 8 % = 2,500 + 800 = 3,300; bonus: gmv 60,000 >=
    #   50,000, roi 60,000 / 15,000 = 4 >= 3.5 -> 1,000; 1,500 + 3,300 + 1,000 = 5,800.00
    Case(
        "refunds unreported count as 0 in net_gmv, projected",
        TRIAL,
        derived(gmv="60000", ad_spend="15000"),
        "projected",
        (("base", "1500.00"), ("commission", "3300.00"), ("bonus", "1000.00")),
        "5800.00",
        trial=True,
    ),
    # Item 3, to date: net_gmv 20,000 - 0 -> commission 20,000 x 5 % = 1,000; gmv 20,000 <
    #   50,000: no bonus; 1,500 + 1,000 = 2,500.00
    Case(
        "refunds unreported count as 0 in net_gmv, to date",
        TRIAL,
        derived(gmv="20000", ad_spend="5000"),
        "to_date",
        (("base", "1500.00"), ("commission", "1000.00"), ("bonus", "0.00")),
        "2500.00",
        trial=True,
    ),
    # Item 6: deduction {of: total, per_step: 50%} with GMV 0: shortfall 1 = 10 steps x 50 %
    #   x 6,000 = 30,000, bounded by the fee before deductions 6,000: 6,000 - 6,000 = 0.00
    Case(
        "a deduction of the total never takes more than the fee",
        FLOOR_TOTAL,
        {"gmv": D("0")},
        "final",
        (("base", "6000.00"), ("commission", "0.00"), ("deduction", "-6000.00")),
        "0.00",
        targets=GMV_50K,
    ),
    # Item 6: gmv 10,000 is 80 % short = 8 steps x 30 % x base 3,000 = 7,200, bounded by the
    #   base 3,000; commission 10,000 x 5 % = 500: 3,000 + 500 - 3,000 = 500.00
    Case(
        "a deduction of the base never takes more than the base",
        FLOOR_BASE,
        {"gmv": D("10000")},
        "final",
        (("base", "3000.00"), ("commission", "500.00"), ("deduction", "-3000.00")),
        "500.00",
        targets=GMV_50K,
    ),
    # Item 6, within the bounds: gmv 45,000 is 10 % short = 1 step x 30 % x 3,000 = 900;
    #   commission 45,000 x 5 % = 2,250: 3,000 + 2,250 - 900 = 4,350.00
    Case(
        "a deduction within its bounds is unchanged",
        FLOOR_BASE,
        {"gmv": D("45000")},
        "final",
        (("base", "3000.00"), ("commission", "2250.00"), ("deduction", "-900.00")),
        "4350.00",
        targets=GMV_50K,
    ),
    # Item 7: gmv 49,800 is (50,000 - 49,800) / 50,000 = 0.4 % short, under one 10 % step: no
    #   deduction; net_gmv 49,000 x 5 % = 2,450; bonus: gmv missed: 3,000 + 2,450 = 5,450.00
    Case(
        "gmv 0.4% short is under one step: no deduction",
        DEMO,
        derived(gmv="49800", refunds="800", ad_spend="10000"),
        "final",
        (("base", "3000.00"), ("commission", "2450.00"), ("bonus", "0.00"), ("deduction", "0.00")),
        "5450.00",
        targets=DEMO_TARGETS,
    ),
    # Item 7: refund_rate 11.6 % over the 8 % limit: (0.116 - 0.08) / 0.08 = 0.45 = 1 step of
    #   0.25 -> 5 % of the total (2,000 + 3,000) = 250: 5,000 - 250 = 4,750.00
    Case(
        "refund_rate over the limit by one step",
        REFUNDS,
        {"gmv": D("30000"), "refund_rate": D("0.116")},
        "final",
        (("base", "2000.00"), ("commission", "3000.00"), ("deduction", "-250.00")),
        "4750.00",
    ),
    # Item 8: 10 of 30 days: base 3,000 x 10/30 = 1,000; the gmv target 50,000 x 10/30 =
    #   16,666.67 (roi and refund_rate kept). gmv 21,000 meets it; roi 21,000 / 6,000 = 3.5
    #   >= 2.5: bonus 1,000; net_gmv 20,000 x 5 % = 1,000; no deduction; minimum 1,000 and
    #   cap 6,666.67 do not apply: 1,000 + 1,000 + 1,000 = 3,000.00
    Case(
        "clipped month: the gmv target is prorated, the bonus is met",
        DEMO,
        derived(gmv="21000", refunds="1000", ad_spend="6000"),
        "final",
        (
            ("base", "1000.00"),
            ("commission", "1000.00"),
            ("bonus", "1000.00"),
            ("deduction", "0.00"),
        ),
        "3000.00",
        fraction=THIRD,
        targets=CLIPPED_TARGETS,
    ),
    # Item 8: gmv 2,000 vs the prorated 16,666.67: 88 % short = 8 steps x 10 % x base 1,000 =
    #   800, capped at 50 % = 500; net_gmv 2,000 x 5 % = 100; 1,000 + 100 - 500 = 600 < the
    #   minimum 3,000 x 10/30 = 1,000: top-up 400 = 1,000.00
    Case(
        "clipped month: the minimum is prorated",
        DEMO,
        derived(gmv="2000", refunds="0", ad_spend="1000"),
        "final",
        (
            ("base", "1000.00"),
            ("commission", "100.00"),
            ("bonus", "0.00"),
            ("deduction", "-500.00"),
            ("minimum", "400.00"),
        ),
        "1000.00",
        fraction=THIRD,
        targets=CLIPPED_TARGETS,
    ),
    # Item 8: net_gmv 150,000: 50,000 x 5 % + 100,000 x 8 % = 10,500; bonus 1,000; base 1,000:
    #   12,500 > the cap 20,000 x 10/30 = 6,666.67: reduction 5,833.33 = 6,666.67
    Case(
        "clipped month: the cap is prorated",
        DEMO,
        derived(gmv="150000", refunds="0", ad_spend="10000"),
        "final",
        (
            ("base", "1000.00"),
            ("commission", "10500.00"),
            ("bonus", "1000.00"),
            ("deduction", "0.00"),
            ("cap", "-5833.33"),
        ),
        "6666.67",
        fraction=THIRD,
        targets=CLIPPED_TARGETS,
    ),
    # JPY (no minor unit), 10 of 31 days: base 500,000 x 10/31 = 161,290.32 -> 161,290;
    #   commission 500,000 x 3 % = 15,000; 176,290 < minimum 600,000 x 10/31 = 193,548.39 ->
    #   193,548: top-up 17,258 = 193,548
    Case(
        "JPY clipped period: base and minimum prorated to whole yen",
        JPY_PLAN,
        {"gmv": D("500000")},
        "final",
        (("base", "161290"), ("commission", "15000"), ("minimum", "17258")),
        "193548",
        currency="JPY",
        fraction=D(10) / D(31),
        targets=(),
    ),
    # JPY 对赌: gmv 1,000,000 vs 5,000,000 is 80 % short = 8 steps x 40 % x 300,000 =
    #   960,000, bounded by the fee 300,000: total 0 (never negative)
    Case(
        "JPY guarantee never leaves a negative fee",
        JPY_GUARANTEE,
        {"gmv": D("1000000")},
        "final",
        (("base", "300000"), ("deduction", "-300000")),
        "0",
        currency="JPY",
        targets=(Target(metric="gmv", direction="at_least", value=D("5000000")),),
    ),
    # CNY week clipped to 3 of 7 days: base 7,000 x 3/7 = 3,000.00; commission 80,000 x 10 %
    #   = 8,000; 11,000 > cap 14,000 x 3/7 = 6,000: reduction 5,000 = 6,000.00
    Case(
        "CNY clipped week: base and cap prorated",
        CNY_PLAN,
        {"gmv": D("80000")},
        "final",
        (("base", "3000.00"), ("commission", "8000.00"), ("cap", "-5000.00")),
        "6000.00",
        currency="CNY",
        fraction=D(3) / D(7),
        targets=(),
    ),
    # CNY: refund_rate 9 % over the 8 % limit by (0.09 - 0.08) / 0.08 = 12.5 %, under one
    #   25 % step: no deduction = 7,000.00
    Case(
        "CNY refund_rate over the limit by less than one step: no deduction",
        CNY_REFUNDS,
        {"refund_rate": D("0.09")},
        "final",
        (("base", "7000.00"), ("deduction", "0.00")),
        "7000.00",
        currency="CNY",
        targets=DEMO_TARGETS,
    ),
]
CASES += SEMANTICS_CASES


def _run(case: Case) -> FeeStatement:
    return compute_fee(
        case.plan,
        targets=case.targets,
        values=case.values,
        view=case.view,
        currency=case.currency,
        base_fraction=case.fraction,
        trial=case.trial,
    )


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fee_table(case: Case) -> None:
    statement = _run(case)
    assert tuple((line.kind, str(line.amount)) for line in statement.lines) == case.lines
    assert str(statement.total) == case.total
    assert statement.total == sum(line.amount for line in statement.lines)
    assert statement.view == case.view
    assert statement.currency == case.currency
    assert statement.trial == case.trial
    assert dict(statement.values) == dict(case.values)


def test_table_has_enough_cases() -> None:
    assert len(CASES) >= 15
    assert len(SEMANTICS_CASES) >= 15
    assert {"JPY", "CNY"} <= {case.currency for case in SEMANTICS_CASES}


# --- Tracing: each line carries what is needed to check it by hand --------------------------


def test_worked_example_lines_trace_by_hand() -> None:
    to_date = _run(CASES[0])
    base = to_date.line("base")
    assert base is not None
    assert dict(base.detail) == {"full": D("1500"), "fraction": D(1), "trial": True}
    commission = to_date.line("commission")
    assert commission is not None
    assert dict(commission.detail) == {
        "metric": "net_gmv",
        "figure": D("19000"),
        "tiers": "graduated",
        "bands": ((D("19000"), D("0.05"), D("950")),),
    }
    bonus = to_date.line("bonus")
    assert bonus is not None
    assert bonus.detail["met"] is False
    assert bonus.detail["unmet"] == ("gmv",)
    assert bonus.detail["when"] == ("gmv", "roi")
    assert bonus.detail["amount"] == D("1000")

    projected = _run(CASES[1])
    commission = projected.line("commission")
    assert commission is not None
    assert commission.detail["bands"] == (
        (D("50000"), D("0.05"), D("2500")),
        (D("7000"), D("0.08"), D("560")),
    )
    bonus = projected.line("bonus")
    assert bonus is not None
    assert bonus.detail["met"] is True
    assert bonus.detail["unmet"] == ()


def test_deduction_line_traces_by_hand() -> None:
    statement = _run(CASES[6])  # gmv 41,300, 17.4 % short
    line = statement.line("deduction")
    assert line is not None
    assert dict(line.detail) == {
        "metric": "gmv",
        "direction": "at_least",
        "target": D("50000"),
        "actual": D("41300"),
        "shortfall": D("0.174"),
        "steps": D(3),
        "step": D("0.05"),
        "unit": "relative",
        "points": D("8700"),  # the distance past the target, read only for steps in points
        "per_step": D("0.02"),
        "of": "base",
        "of_amount": D("5000.00"),
        "uncapped": D("300"),
        "capped": False,
        "bound": None,
        "bound_amount": None,
    }
    capped = _run(CASES[8]).line("deduction")
    assert capped is not None
    assert capped.detail["capped"] is True
    assert capped.detail["bound"] == "cap_rate"
    assert capped.detail["steps"] == 6
    assert capped.detail["uncapped"] == D("600")


def test_minimum_and_cap_lines_trace_by_hand() -> None:
    minimum = _run(CASES[13]).line("minimum")
    assert minimum is not None
    assert dict(minimum.detail) == {
        "minimum": D("6000.00"),
        "before": D("5450.00"),
        "full": D("6000"),
        "fraction": ONE,
    }
    cap = _run(CASES[15]).line("cap")
    assert cap is not None
    assert dict(cap.detail) == {
        "cap": D("12000.00"),
        "before": D("15700.00"),
        "full": D("12000"),
        "fraction": ONE,
    }


def test_percentage_bonus_traces_its_base() -> None:
    bonus = _run(CASES[16]).line("bonus")
    assert bonus is not None
    assert bonus.detail["percent"] == D("0.10")
    assert bonus.detail["of"] == "commission"
    assert bonus.detail["of_amount"] == D("3060.00")


# --- The building blocks ----------------------------------------------------------------------


def test_commission_for_flat_rate_is_one_open_band() -> None:
    flat = Commission(on="gmv", bands=(Band(D("0.1")),))
    assert commission_for(flat, D("1234.5")) == (
        D("123.45"),
        ((D("1234.5"), D("0.1"), D("123.45")),),
    )


@pytest.mark.parametrize("tiers", ["graduated", "whole"])
@pytest.mark.parametrize("figure", [D(0), D("-1"), D("-19000")])
def test_commission_for_nothing_on_zero_or_negative(tiers: str, figure: Decimal) -> None:
    commission = Commission(on="net_gmv", bands=TIERED.bands, tiers=tiers)  # type: ignore[arg-type]
    assert commission_for(commission, figure) == (D(0), ())


def test_commission_for_treats_a_closed_last_band_as_open() -> None:
    # 10,000 x 5 % + 5,000 x 8 %: the part above the last bound is still paid at the last rate.
    closed = Commission(on="gmv", bands=(Band(D("0.05"), D("10000")), Band(D("0.08"), D("12000"))))
    amount, bands = commission_for(closed, D("15000"))
    assert amount == D("900")
    assert bands == ((D("10000"), D("0.05"), D("500")), (D("5000"), D("0.08"), D("400")))


def test_commission_for_three_graduated_bands() -> None:
    # 10,000 x 2 % + 20,000 x 4 % + 5,000 x 6 % = 200 + 800 + 300 = 1,300
    three = Commission(
        on="gmv",
        bands=(Band(D("0.02"), D("10000")), Band(D("0.04"), D("30000")), Band(D("0.06"))),
    )
    assert commission_for(three, D("35000"))[0] == D("1300")


@pytest.mark.parametrize(
    ("direction", "value", "met"),
    [
        ("at_least", D("100"), True),  # the bound itself meets the target
        ("at_least", D("99.99"), False),
        ("at_least", None, False),
        ("at_most", D("100"), True),
        ("at_most", D("100.01"), False),
        ("at_most", None, False),
    ],
)
def test_target_met(direction: str, value: Decimal | None, met: bool) -> None:
    target = Target(metric="m", direction=direction, value=D("100"))  # type: ignore[arg-type]
    assert target_met(target, value) is met


@pytest.mark.parametrize(
    ("direction", "target", "value", "expected"),
    [
        ("at_least", "50000", "41300", "0.174"),
        ("at_least", "50000", "60000", "0"),
        ("at_least", "50000", None, "0"),  # undefined is never judged (issue 12, item 2)
        ("at_least", "100", "-50", "1.5"),  # a negative actual misses by more than the target
        ("at_most", "0.08", "0.10", "0.25"),
        ("at_most", "0.08", "0.24", "2"),  # three times the ceiling: 200 % over
        ("at_most", "0.08", "0.05", "0"),
        ("at_most", "0.08", None, "0"),  # no evidence of an excess
        ("at_most", "0", "5", "1"),  # a zero target has no proportion: a miss counts as 1
        ("at_least", "0", "0", "0"),
    ],
)
def test_shortfall(direction: str, target: str, value: str | None, expected: str) -> None:
    t = Target(metric="m", direction=direction, value=D(target))  # type: ignore[arg-type]
    assert shortfall(t, None if value is None else D(value)) == D(expected)


def test_bonus_on_a_metric_without_target_is_never_met() -> None:
    plan = FeePlan(bonus=Bonus(when=("gmv", "viewers"), amount=D("100")))
    statement = compute_fee(
        plan, targets=TARGETS, values={"gmv": D("90000")}, view="final", currency="USD"
    )
    bonus = statement.line("bonus")
    assert bonus is not None
    assert bonus.amount == 0
    assert bonus.detail["unmet"] == ("viewers",)


def test_deduction_without_a_target_is_zero() -> None:
    plan = FeePlan(
        base=D("100"), deduction=Deduction(on="viewers", step=D("0.1"), per_step=D("0.1"))
    )
    statement = compute_fee(plan, targets=TARGETS, values={}, view="final", currency="USD")
    line = statement.line("deduction")
    assert line is not None
    assert line.amount == 0
    assert line.detail["target"] is None


def test_minimum_above_cap_the_cap_wins() -> None:
    # base 100 -> minimum 500 tops up +400 -> cap 300 takes back -200 = 300 (cap applied last)
    plan = FeePlan(base=D("100"), minimum=D("500"), cap=D("300"))
    statement = compute_fee(plan, targets=(), values={}, view="final", currency="USD")
    assert [(line.kind, line.amount) for line in statement.lines] == [
        ("base", D("100.00")),
        ("minimum", D("400.00")),
        ("cap", D("-200.00")),
    ]
    assert statement.total == D("300.00")


# --- Bad input --------------------------------------------------------------------------------


def test_rejects_an_unknown_view() -> None:
    with pytest.raises(ValueError, match="unknown fee view"):
        compute_fee(TRIAL, targets=TARGETS, values={}, view="later", currency="USD")  # type: ignore[arg-type]


@pytest.mark.parametrize("fraction", [D("-0.1"), D("1.01")])
def test_rejects_a_base_fraction_outside_0_1(fraction: Decimal) -> None:
    with pytest.raises(ValueError, match="base_fraction"):
        compute_fee(
            TRIAL, targets=TARGETS, values={}, view="final", currency="USD", base_fraction=fraction
        )


def test_rejects_float_figures() -> None:
    with pytest.raises(TypeError, match="gmv must be a Decimal"):
        compute_fee(
            TRIAL,
            targets=TARGETS,
            values={"gmv": 60000.0},  # type: ignore[dict-item]
            view="final",
            currency="USD",
        )
    with pytest.raises(TypeError, match="base_fraction"):
        compute_fee(
            TRIAL,
            targets=TARGETS,
            values={},
            view="final",
            currency="USD",
            base_fraction=0.5,  # type: ignore[arg-type]
        )


def test_statement_is_read_only() -> None:
    statement = _run(CASES[0])
    with pytest.raises(TypeError):
        statement.values["gmv"] = D(1)  # type: ignore[index]
    base = statement.line("base")
    assert base is not None
    with pytest.raises(TypeError):
        base.detail["full"] = D(1)  # type: ignore[index]


# --- Issue 12 in the four views: to date, projected, what-if and the statement ----------------

DEMO_TEXT = (Path(__file__).parent.parent / "bot" / "demo" / "acme-linkstar-us.yaml").read_text(
    encoding="utf-8"
)
DEMO_DEAL = load_deal(DEMO_TEXT)


def _figure(day: dt.date, metric: str, value: str) -> Figure:
    return Figure(
        day=day,
        metric=metric,
        seller=None,
        agency=None,
        value=D(value),
        status="counted",
        counted_side="seller",
        disagreement=False,
        confirmed_by=None,
        disputes=(),
    )


def _daily(first: dt.date, count: int, **values: str) -> dict[tuple[dt.date, str], Figure]:
    out = {}
    for n in range(count):
        day = first + dt.timedelta(days=n)
        for metric, value in values.items():
            out[(day, metric)] = _figure(day, metric, value)
    return out


def _snap(deal: Deal, today: dt.date, figures: dict[tuple[dt.date, str], Figure]) -> Snapshot:
    return build_snapshot(deal, current_period(deal, today), today, figures)


NOV_1 = dt.date(2026, 11, 1)
# gmv 2,000 and ad_spend 500 on each of Nov 1-10; nobody reports refunds, orders or viewers.
NO_REFUNDS = _daily(NOV_1, 10, gmv="2000", ad_spend="500")


def test_unreported_refunds_count_as_0_in_all_four_views_and_are_named() -> None:
    # November is the trial: base 1,500, no deduction. net_gmv = gmv - refunds (unreported: 0).
    now = _snap(DEMO_DEAL, dt.date(2026, 11, 10), NO_REFUNDS)
    # To date: net_gmv 20,000 x 5 % = 1,000.00.
    assert now.fee("to_date").line("commission").amount == D("1000.00")  # type: ignore[union-attr]
    # Projected over 30 of 10 days: net_gmv 60,000: 50,000 x 5 % + 10,000 x 8 % = 3,300.00
    # (before issue 12: net_gmv None, commission 0, less than the fee already earned).
    assert now.fee("projected").line("commission").amount == D("3300.00")  # type: ignore[union-attr]
    # What-if gmv 45,000: net_gmv 45,000 x 5 % = 2,250.00.
    what_if = now.fee("projected", {"gmv": D(45000)})
    assert what_if.line("commission").amount == D("2250.00")  # type: ignore[union-attr]
    # The statement, once November has ended: net_gmv 20,000 x 5 % = 1,000.00.
    ended = _snap(DEMO_DEAL, dt.date(2026, 11, 30), NO_REFUNDS)
    assert ended.fee("final").line("commission").amount == D("1000.00")  # type: ignore[union-attr]
    text = flatten(fee_rich(translator("en"), now))
    assert "commission on net_gmv 20,000: 20,000 × 5% (refunds not reported, counted as 0)" in text
    assert "commission on net_gmv 60,000" in text
    assert "refunds 未上报，按 0 计" in flatten(fee_rich(translator("zh"), now))
    what_if_text = flatten(final_rich(translator("en"), now, what_if, what_if="gmv 45,000"))
    assert "net_gmv 45,000" in what_if_text and "refunds —" in what_if_text


def test_a_metric_nobody_reported_is_a_dash_and_a_ratio_over_it_is_never_judged() -> None:
    snap = _snap(DEMO_DEAL, dt.date(2026, 11, 10), NO_REFUNDS)
    assert snap.totals.values["viewers"] is None
    assert snap.totals.values["refund_rate"] is None  # refunds / gmv: refunds unreported
    text = flatten(kpi_rich(translator("en"), snap))
    assert "viewers —" in text and "viewers 0" not in text
    refund_line = next(line for line in text.splitlines() if "refund_rate" in line)
    assert "behind" not in refund_line and "0.0%" not in refund_line
    statement = totals_text(
        DEMO_DEAL, _snap(DEMO_DEAL, dt.date(2026, 12, 1), NO_REFUNDS).totals.values
    )
    assert "viewers —" in statement and "refunds —" in statement


def test_past_days_without_a_report_are_named_and_pace_as_0() -> None:
    # Reports on Nov 1-10; today is Nov 14, not reported yet: 13 days elapsed, Nov 11-13 are 0.
    snap = _snap(DEMO_DEAL, dt.date(2026, 11, 14), NO_REFUNDS)
    # gmv 20,000 x 30 / 13 = 46,153.846...: shown to 2 decimals at most.
    assert snap.projected["gmv"] == D(20000) * 30 / 13
    text = flatten(kpi_rich(translator("en"), snap))
    assert "46,153.85" in text and "46,153.846" not in text
    assert "Days not reported (count as 0 for pace): gmv 3 day(s), ad_spend 3 day(s)" in text


def test_the_deduction_says_under_one_step_and_over_the_limit() -> None:
    december = dt.date(2026, 12, 31)
    # gmv 49,800 for December (50,000 target): 0.4 % short, under one 10 % step.
    under = _snap(DEMO_DEAL, december, {(december, "gmv"): _figure(december, "gmv", "49800")})
    text = flatten(final_rich(translator("en"), under, under.fee("final")))
    assert "deduction: gmv 0.4% short, under one step (10%): no deduction: USD 0.00" in text
    assert "target met" not in text
    # An at_most deduction: refund_rate 11.6 % against an 8 % limit, every 25 % over = 5 %.
    at_most = load_deal(
        DEMO_TEXT.replace(
            "deduction: {on: gmv, step: 10%, per_step: 10%, of: base, cap: 50%}",
            "deduction: {on: refund_rate, step: 25%, per_step: 5%, of: total}",
        )
    )
    figures = {
        (december, "gmv"): _figure(december, "gmv", "50000"),
        (december, "refunds"): _figure(december, "refunds", "5800"),
    }
    over = _snap(at_most, december, figures)
    text = flatten(final_rich(translator("en"), over, over.fee("final")))
    # (0.116 - 0.08) / 0.08 = 45 % over = 1 step x 5 % of the total (3,000 + commission
    # 44,200 x 5 % = 2,210 = 5,210) = 260.50.
    over = "over the 8.0% limit by 45% of the limit → 1 step(s)"
    assert f"deduction: refund_rate ends at 11.6%, {over}" in text
    assert "USD -260.50" in text
    assert "short" not in text.split("deduction:")[1].split("\n")[0]


def test_a_deduction_bounded_by_the_fee_says_so() -> None:
    harsh = load_deal(
        DEMO_TEXT.replace(
            "deduction: {on: gmv, step: 10%, per_step: 10%, of: base, cap: 50%}",
            "deduction: {on: gmv, step: 10%, per_step: 50%, of: total}",
        ).replace("  minimum: 3000\n", "")
    )
    december = dt.date(2026, 12, 31)
    snap = _snap(harsh, december, {(december, "gmv"): _figure(december, "gmv", "0")})
    statement = snap.fee("final")
    # gmv 0: 10 steps x 50 % of the total 3,000 = 15,000, capped at the fee 3,000: total 0.
    assert statement.total == D("0.00")
    text = flatten(final_rich(translator("en"), snap, statement))
    assert "(capped at the fee: USD 3,000.00): USD -3,000.00" in text
    assert "Total: USD 0.00" in text


def test_a_clipped_first_month_prorates_targets_minimum_and_cap_in_every_view() -> None:
    late = load_deal(DEMO_TEXT.replace("starts: 2026-11-01", "starts: 2026-11-21"))
    figures = _daily(dt.date(2026, 11, 21), 5, gmv="4000", ad_spend="1000", refunds="100")
    snap = _snap(late, dt.date(2026, 11, 25), figures)
    # Nov 21-30: 10 of 30 days. gmv target 50,000 x 10/30 = 16,666.67; roi and the at_most
    # refund_rate kept.
    assert [t.value for t in snap.targets] == [D("16666.67"), D("2.5"), D("0.08")]
    text = flatten(kpi_rich(translator("en"), snap))
    assert "gmv 20,000 (target ≥ 16,666.67)" in text
    assert "gmv 16,666.67 of 50,000" in text
    # gmv 20,000 meets the prorated target now; projected 20,000 x 10 / 5 = 40,000 too.
    assert snap.statuses[0].met_now and snap.statuses[0].on_track
    # The trial's base 1,500 x 10/30 = 500.00 in every view.
    for view in ("to_date", "projected", "final"):
        assert snap.fee(view).line("base").amount == D("500.00")  # type: ignore[union-attr]


def test_a_deal_that_ends_clips_and_prorates_its_last_period() -> None:
    ending = load_deal(
        DEMO_TEXT.replace("starts: 2026-11-01", "starts: 2026-11-01\nends: 2026-12-10")
    )
    assert ending.ends == dt.date(2026, 12, 10)
    # Long after the end, the current period is still the last one: Dec 1-10, 10 of 31 days.
    snap = _snap(ending, dt.date(2027, 1, 20), {})
    assert (snap.period.start, snap.period.end) == (dt.date(2026, 12, 1), dt.date(2026, 12, 10))
    assert snap.closed
    # base 3,000 x 10/31 = 967.74; minimum 3,000 x 10/31 = 967.74 is already met.
    final = snap.fee("final")
    assert final.line("base").amount == D("967.74")  # type: ignore[union-attr]
    assert final.total == D("967.74")
    text = flatten(final_rich(translator("en"), snap, final))
    assert "base fee (USD 3,000.00 prorated 10/31 days)" in text


def test_a_deal_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(DealFileError, match="ends"):
        load_deal(DEMO_TEXT.replace("starts: 2026-11-01", "starts: 2026-11-01\nends: 2026-10-31"))


def test_roi_over_zero_ad_spend_is_undefined_in_kpi_and_fee_and_deducts_nothing() -> None:
    # /report gmv 100000 ad_spend 0 in December, with a deduction on roi (target 2.5).
    roi_deal = load_deal(
        DEMO_TEXT.replace(
            "deduction: {on: gmv, step: 10%, per_step: 10%, of: base, cap: 50%}",
            "deduction: {on: roi, step: 10%, per_step: 10%, of: base}",
        )
    )
    day = dt.date(2026, 12, 1)
    figures = {
        (day, "gmv"): _figure(day, "gmv", "100000"),
        (day, "ad_spend"): _figure(day, "ad_spend", "0"),
    }
    snap = _snap(roi_deal, day, figures)
    assert snap.totals.values["roi"] is None
    kpi_text = flatten(kpi_rich(translator("en"), snap))
    roi_line = next(line for line in kpi_text.splitlines() if line.startswith("• roi"))
    assert roi_line.startswith("• roi — (target ≥ 2.50)") and "undefined, not judged" in roi_line
    for view in ("projected", "final"):
        statement = snap.fee(view)
        assert statement.line("deduction").amount == 0  # type: ignore[union-attr]
        assert statement.line("bonus").amount == 0  # type: ignore[union-attr]
    fee_text = flatten(fee_rich(translator("en"), snap))
    assert "deduction: roi has no figure (not reported or undefined), not judged: none" in fee_text
    assert "• roi: undefined at this pace, not judged" in fee_text


def test_the_statement_rows_describe_each_view_with_its_own_figures() -> None:
    snap = _snap(DEMO_DEAL, dt.date(2026, 11, 10), NO_REFUNDS)
    view = current_view(translator("en"), snap)
    commission = {row[1]: row[3] for row in view.rows if row[2] == "commission"}
    # To date net_gmv 20,000; projected 20,000 x 30 / 10 = 60,000; both name the refunds.
    assert commission["to_date"].startswith("commission on net_gmv 20,000:")
    assert commission["projected"].startswith("commission on net_gmv 60,000:")
    assert all("refunds not reported, counted as 0" in text for text in commission.values())


# --- Issue 18: contracts as written (score, performance, lists, points, guarantee) -------------

# The issue's deal file: weights 60/20/20, base 5,000, performance 8,000 (floor 60 %, each
# achievement counted up to 120 %), two bonuses, a deduction in points, a proportional guarantee.
WEIGHTED = (
    Target(metric="gmv", direction="at_least", value=D("150000"), weight=D("0.6")),
    Target(metric="roi", direction="at_least", value=D("3"), weight=D("0.2")),
    Target(metric="refund_rate", direction="at_most", value=D("0.08"), weight=D("0.2")),
)
PERFORMANCE = Performance(amount=D("8000"), floor=D("0.6"), cap=D("1.2"))
REFUND_POINTS = Deduction(
    on="refund_rate",
    step=D("0.01"),
    per_step=D("0.05"),
    of="base",
    cap_rate=D("0.5"),
    unit="points",
)
GMV_GUARANTEE = Guarantee(on="gmv", at_least=D("100000"), refund="proportional", of="base")
CONTRACT = FeePlan(
    base=D("5000"),
    performance=PERFORMANCE,
    bonus=(Bonus(when=("gmv",), amount=D("500")), Bonus(when=("gmv", "roi"), amount=D("1000"))),
    deduction=(REFUND_POINTS,),
    guarantee=GMV_GUARANTEE,
)
# Two deductions: the refund rate in points, and every full 10 % of GMV shortfall 10 % of base.
TWO_DEDUCTIONS = FeePlan(
    base=D("5000"),
    performance=PERFORMANCE,
    deduction=(
        REFUND_POINTS,
        Deduction(on="gmv", step=D("0.1"), per_step=D("0.1"), of="base"),
    ),
)
# 对赌 stepped: every full 10 % short of 100,000 refunds 20 % of the fees, at most 50 % of them.
STEPPED_GUARANTEE = FeePlan(
    base=D("3000"),
    commission=Commission(on="gmv", bands=(Band(rate=D("0.05")),)),
    guarantee=Guarantee(
        on="gmv",
        at_least=D("100000"),
        refund="stepped",
        of="fees",
        step=D("0.1"),
        per_step=D("0.2"),
        cap_rate=D("0.5"),
    ),
)
# 纯佣金 (CPS): base 0, commission only.
CPS = FeePlan(base=D("0"), commission=Commission(on="gmv", bands=(Band(rate=D("0.08")),)))
# Base + performance, no commission (JPY amounts).
BASE_PERFORMANCE_JPY = FeePlan(
    base=D("300000"), performance=Performance(amount=D("500000"), floor=D("0.6"), cap=D("1.2"))
)


def figures(gmv: str | None, roi: str | None, refund_rate: str | None) -> dict[str, D | None]:
    return {
        "gmv": None if gmv is None else D(gmv),
        "roi": None if roi is None else D(roi),
        "refund_rate": None if refund_rate is None else D(refund_rate),
    }


CONTRACT_CASES = [
    # The issue's example, final. gmv 112,500 / 150,000 = 75 %, roi 3.3 / 3 = 110 %, refund
    #   rate 8 % / 10 % = 80 %: score 0.75 x 0.6 + 1.1 x 0.2 + 0.8 x 0.2 = 0.45 + 0.22 + 0.16
    #   = 0.83; performance 8,000 x 0.83 = 6,640.00. Bonuses: gmv missed -> 0 and 0.
    #   Deduction: 10 % - 8 % = 2 points -> 2 steps x 5 % x base 5,000 = 500 (cap 2,500).
    #   Guarantee: 112,500 >= 100,000 -> 0. Total 5,000 + 6,640 - 500 = 11,140.00
    Case(
        "issue example: score 83 %, performance 6,640, 2 points of refund rate",
        CONTRACT,
        figures("112500", "3.3", "0.10"),
        "final",
        (
            ("base", "5000.00"),
            ("performance", "6640.00"),
            ("bonus", "0.00"),
            ("bonus", "0.00"),
            ("deduction", "-500.00"),
            ("guarantee", "0.00"),
        ),
        "11140.00",
        targets=WEIGHTED,
    ),
    # The same figures to date: no deduction and no guarantee before the period closes:
    #   5,000 + 6,640 + 0 + 0 = 11,640.00
    Case(
        "issue example to date: performance counts, deduction and guarantee wait",
        CONTRACT,
        figures("112500", "3.3", "0.10"),
        "to_date",
        (("base", "5000.00"), ("performance", "6640.00"), ("bonus", "0.00"), ("bonus", "0.00")),
        "11640.00",
        targets=WEIGHTED,
    ),
    # Points: refund rate 11.4 % against 8 % is 3.4 points -> 3 steps x 5 % x 5,000 = 750.
    #   Score: gmv 160,000 / 150,000 x 0.6 = 0.64; roi 3 / 3 x 0.2 = 0.2; refund rate
    #   0.08 / 0.114 x 0.2 = 0.140350877...; sum 0.980350877...; 8,000 x it = 7,842.807...
    #   -> 7,842.81. Both bonuses met (gmv; gmv and roi): 500 + 1,000. Guarantee met: 0.
    #   Total 5,000 + 7,842.81 + 500 + 1,000 - 750 = 13,592.81 (CNY)
    Case(
        "refund rate 11.4 % against 8 % is 3 steps of 1pt; both bonuses paid, each on its line",
        CONTRACT,
        figures("160000", "3", "0.114"),
        "final",
        (
            ("base", "5000.00"),
            ("performance", "7842.81"),
            ("bonus", "500.00"),
            ("bonus", "1000.00"),
            ("deduction", "-750.00"),
            ("guarantee", "0.00"),
        ),
        "13592.81",
        currency="CNY",
        targets=WEIGHTED,
    ),
    # Each achievement counts up to the cap 120 %: gmv 300,000 (200 %) -> 1.2 x 0.6 = 0.72;
    #   roi 6 (200 %) -> 1.2 x 0.2 = 0.24; refund rate 0 (at_most, 0 achieves the cap) -> 0.24.
    #   Score 1.2; performance 8,000 x 1.2 = 9,600. Bonuses 500 + 1,000; deduction 0;
    #   guarantee 0. Total 5,000 + 9,600 + 1,500 = 16,100 (JPY: whole yen)
    Case(
        "every achievement counted up to the 120 % cap; refund rate 0 achieves the cap (JPY)",
        CONTRACT,
        figures("300000", "6", "0"),
        "final",
        (
            ("base", "5000"),
            ("performance", "9600"),
            ("bonus", "500"),
            ("bonus", "1000"),
            ("deduction", "0"),
            ("guarantee", "0"),
        ),
        "16100",
        currency="JPY",
        targets=WEIGHTED,
    ),
    # Below the floor: gmv 60,000 (40 %) x 0.6 = 0.24; roi 1.5 (50 %) x 0.2 = 0.1; refund rate
    #   16 % (8 / 16 = 50 %) x 0.2 = 0.1; score 0.44 < 0.6 -> performance 0. Deduction 8 points
    #   -> 8 x 5 % x 5,000 = 2,000 (cap 2,500). Guarantee: 60,000 is 40 % short of 100,000 ->
    #   40 % x base 5,000 = 2,000. Total 5,000 - 2,000 - 2,000 = 1,000.00
    Case(
        "score 44 % under the 60 % floor: no performance fee; guarantee refunds 40 % of base",
        CONTRACT,
        figures("60000", "1.5", "0.16"),
        "final",
        (
            ("base", "5000.00"),
            ("performance", "0.00"),
            ("bonus", "0.00"),
            ("bonus", "0.00"),
            ("deduction", "-2000.00"),
            ("guarantee", "-2000.00"),
        ),
        "1000.00",
        targets=WEIGHTED,
    ),
    # The guarantee takes the payable below zero: gmv 20,000 is 80 % short -> 80 % x 5,000 =
    #   4,000; deduction 8 points -> 2,000; score 0.08 + 0.1 + 0.1 = 0.28 < floor -> 0.
    #   Total 5,000 - 2,000 - 4,000 = -1,000.00: the agency owes the seller 1,000.00 (CNY)
    Case(
        "the guarantee is the one line that takes the total below zero (CNY)",
        CONTRACT,
        figures("20000", "1.5", "0.16"),
        "final",
        (
            ("base", "5000.00"),
            ("performance", "0.00"),
            ("bonus", "0.00"),
            ("bonus", "0.00"),
            ("deduction", "-2000.00"),
            ("guarantee", "-4000.00"),
        ),
        "-1000.00",
        currency="CNY",
        targets=WEIGHTED,
    ),
    # Score exactly at the floor is paid: gmv 90,000 (60 %) x 0.6 = 0.36; roi 3 x 0.2 = 0.2;
    #   refund rate 40 % (8 / 40 = 20 %) x 0.2 = 0.04; score 0.6 -> 8,000 x 0.6 = 4,800.
    #   Deduction 32 points -> 32 x 5 % x 5,000 = 8,000, capped at 50 % of base = 2,500.
    #   Guarantee: 90,000 is 10 % short -> 500. Total 5,000 + 4,800 - 2,500 - 500 = 6,800.00
    Case(
        "a score exactly at the floor is paid; the points deduction stops at its cap (CNY)",
        CONTRACT,
        figures("90000", "3", "0.40"),
        "final",
        (
            ("base", "5000.00"),
            ("performance", "4800.00"),
            ("bonus", "0.00"),
            ("bonus", "0.00"),
            ("deduction", "-2500.00"),
            ("guarantee", "-500.00"),
        ),
        "6800.00",
        currency="CNY",
        targets=WEIGHTED,
    ),
    # No figure earns no credit and is not judged: gmv missing -> 0 x 0.6; roi 1.1 x 0.2 = 0.22;
    #   refund 0.8 x 0.2 = 0.16; score 0.38 < 0.6 -> 0. Deduction 2 points -> 500. Guarantee
    #   on gmv: no figure, not judged -> 0. Total 5,000 - 500 = 4,500.00 (CNY)
    Case(
        "a weighted target with no figure earns no credit; the guarantee is not judged (CNY)",
        CONTRACT,
        figures(None, "3.3", "0.10"),
        "final",
        (
            ("base", "5000.00"),
            ("performance", "0.00"),
            ("bonus", "0.00"),
            ("bonus", "0.00"),
            ("deduction", "-500.00"),
            ("guarantee", "0.00"),
        ),
        "4500.00",
        currency="CNY",
        targets=WEIGHTED,
    ),
    # Two deductions, each on its line: refund rate 2 points -> 500; gmv 112,500 is 25 % short
    #   -> 2 full steps of 10 % x 10 % x 5,000 = 1,000. Performance 6,640 as in the issue.
    #   Total 5,000 + 6,640 - 500 - 1,000 = 10,140.00
    Case(
        "two deductions both apply, each shown on its own",
        TWO_DEDUCTIONS,
        figures("112500", "3.3", "0.10"),
        "final",
        (
            ("base", "5000.00"),
            ("performance", "6640.00"),
            ("deduction", "-500.00"),
            ("deduction", "-1000.00"),
        ),
        "10140.00",
        targets=WEIGHTED,
    ),
    # Stepped guarantee of the fees: gmv 72,000 is 28 % short of 100,000 -> 2 full steps of
    #   10 % x 20 % x fees (3,000 + 72,000 x 5 % = 3,000 + 3,600 = 6,600) = 2,640 (cap 50 % =
    #   3,300). Total 6,600 - 2,640 = 3,960.00
    Case(
        "stepped guarantee of the fees: 2 steps x 20 %",
        STEPPED_GUARANTEE,
        {"gmv": D("72000")},
        "final",
        (("base", "3000.00"), ("commission", "3600.00"), ("guarantee", "-2640.00")),
        "3960.00",
    ),
    # Stepped guarantee capped: gmv 40,000 is 60 % short -> 6 steps x 20 % = 120 % of the fees
    #   (3,000 + 2,000 = 5,000) = 6,000, capped at 50 % = 2,500. Total 2,500 (JPY)
    Case(
        "stepped guarantee stops at its cap (JPY)",
        STEPPED_GUARANTEE,
        {"gmv": D("40000")},
        "final",
        (("base", "3000"), ("commission", "2000"), ("guarantee", "-2500")),
        "2500",
        currency="JPY",
    ),
    # A guarantee met exactly refunds nothing: gmv 100,000 >= 100,000.
    #   3,000 + 100,000 x 5 % = 8,000.00
    Case(
        "a guarantee met exactly refunds nothing",
        STEPPED_GUARANTEE,
        {"gmv": D("100000")},
        "final",
        (("base", "3000.00"), ("commission", "5000.00"), ("guarantee", "0.00")),
        "8000.00",
    ),
    # 纯佣金 (CPS): base 0 + 123,456 x 8 % = 9,876.48 -> 9,876 yen (JPY)
    Case(
        "commission only (纯佣金/CPS) with base 0 (JPY)",
        CPS,
        {"gmv": D("123456")},
        "final",
        (("base", "0"), ("commission", "9876")),
        "9876",
        currency="JPY",
    ),
    # Base + performance, no commission (JPY): gmv 120,000 (80 %) x 0.6 = 0.48; roi 2.7 (90 %)
    #   x 0.2 = 0.18; refund rate 10 % (80 %) x 0.2 = 0.16; score 0.82 -> 500,000 x 0.82 =
    #   410,000. Total 300,000 + 410,000 = 710,000
    Case(
        "base plus performance with no commission (JPY)",
        BASE_PERFORMANCE_JPY,
        figures("120000", "2.7", "0.10"),
        "final",
        (("base", "300000"), ("performance", "410000")),
        "710000",
        currency="JPY",
        targets=WEIGHTED,
    ),
]


@pytest.mark.parametrize("case", CONTRACT_CASES, ids=[c.id for c in CONTRACT_CASES])
def test_contract_fee_table(case: Case) -> None:
    test_fee_table(case)


def test_contract_table_covers_every_key_in_three_currencies() -> None:
    assert len(CONTRACT_CASES) >= 12
    assert {"USD", "CNY", "JPY"} <= {case.currency for case in CONTRACT_CASES}
    kinds = {kind for case in CONTRACT_CASES for kind, _ in case.lines}
    assert {"performance", "bonus", "deduction", "guarantee", "commission"} <= kinds


def test_the_issue_example_score_traces_each_share() -> None:
    line = _run(CONTRACT_CASES[0]).line("performance")
    assert line is not None
    assert line.detail["score"] == D("0.83")
    assert [(s["metric"], s["achievement"], s["share"]) for s in line.detail["shares"]] == [
        ("gmv", D("0.75"), D("0.45")),
        ("roi", D("1.1"), D("0.22")),
        ("refund_rate", D("0.8"), D("0.16")),
    ]
    assert line.detail["below_floor"] is False


def test_a_negative_total_is_owed_by_the_agency() -> None:
    statement = _run(CONTRACT_CASES[5])
    assert statement.total == D("-1000.00")
    assert statement.owed_by_agency == D("1000.00")
    assert _run(CONTRACT_CASES[0]).owed_by_agency == 0


def test_points_steps_trace_the_points_past_the_target() -> None:
    line = _run(CONTRACT_CASES[2]).line("deduction")
    assert line is not None
    assert line.detail["unit"] == "points"
    assert line.detail["points"] == D("0.034")  # 11.4 % - 8 % = 3.4 points
    assert line.detail["steps"] == 3


@pytest.mark.parametrize("case", CONTRACT_CASES, ids=[c.id for c in CONTRACT_CASES])
def test_a_contract_statement_is_stored_and_read_back_unchanged(case: Case) -> None:
    # A locked statement is kept as JSON; the score's shares must come back as they were.
    from kpi.statements import decode_statement, encode_statement

    statement = _run(case)
    back = decode_statement(encode_statement(statement))
    assert back.lines == statement.lines
    assert back.total == statement.total


def test_the_csv_statement_has_a_row_saying_the_agency_owes_the_seller() -> None:
    """The issue's fee terms on the Chinese demo deal, week 45 closed, one day reported:
    gmv 20,000, refunds 4,000, ad spend 10,000. Score 8% + 13.3% + 8% = 29.3% < 60%: no
    performance fee; deduction 12 points capped at 50% of 5,000 = 2,500; guarantee 80% of
    5,000 = 4,000. Total 5,000 - 2,500 - 4,000 = -1,500.00: the agency owes 1,500.00."""
    from handlers.statement import open_view
    from tests.test_contracts_replay import deal as contract_deal

    for locale, owed in (
        ("en", "The agency owes the seller CNY 1,500.00"),
        ("zh", "服务商应退还卖家 ¥1,500.00"),
    ):
        terms = load_deal(contract_deal(locale))
        monday = dt.date(2026, 11, 2)
        figures = _daily(monday, 1, gmv="20000", refunds="4000", ad_spend="10000")
        period = first_period(terms.starts, terms.period)
        snap = build_snapshot(terms, period, dt.date(2026, 11, 10), figures)
        view = open_view(translator(locale), snap, None)
        rows = [(r[2], r[4]) for r in view.rows]
        assert rows[-2:] == [("total", "-1500.00"), ("owed_by_agency", "1500.00")]
        assert view.rows[-1][3].startswith(owed)
        # Ended, not closed by both sides: an export does not call the figures final.
        assert {r[1] for r in view.rows} == {"unclosed"}
        assert sum(D(amount) for kind, amount in rows[:-2]) == D("-1500.00")
