"""Tests for kpi.dealfile: the example deals load exactly; every rule rejects with key and line."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kpi import dealfile
from kpi.dealfile import DOCUMENT, load_deal, load_deal_file
from kpi.errors import DealFileError
from kpi.formula import Formula
from kpi.model import (
    Band,
    Bonus,
    ChatLink,
    Commission,
    Contact,
    Deal,
    Deduction,
    Escalation,
    FeePlan,
    Guarantee,
    Performance,
    Schedule,
    Target,
)

D = Decimal
DEMO = Path(__file__).resolve().parents[1] / "bot" / "demo"
EXAMPLE_PATH = DEMO / "acme-linkstar-us.yaml"
CHINESE_PATH = DEMO / "shenzhen-wanxiang-cn.yaml"
EXAMPLE = EXAMPLE_PATH.read_text(encoding="utf-8")
EXAMPLE_LINES = EXAMPLE.splitlines(keepends=True)

MINIMAL = """\
id: tiny-deal
name: Tiny
currency: USD
timezone: UTC
starts: 2026-11-01
metrics:
  gmv: Gross merchandise value
"""


def line(number: int) -> str:
    """Line ``number`` (1-based) of the example, with its newline."""
    return EXAMPLE_LINES[number - 1]


def lines(first: int, last: int) -> str:
    """Lines ``first`` to ``last`` (inclusive, 1-based) of the example."""
    return "".join(EXAMPLE_LINES[first - 1 : last])


def edit(old: str, new: str, text: str = EXAMPLE) -> str:
    """The text with ``old`` (which must occur exactly once) replaced by ``new``."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def problems_of(text: str) -> list[tuple[str, int | None, str]]:
    with pytest.raises(DealFileError) as caught:
        load_deal(text, "deal.yaml")
    assert caught.value.source == "deal.yaml"
    assert caught.value.problems
    return caught.value.problems


@pytest.fixture(scope="module")
def example() -> Deal:
    return load_deal(EXAMPLE)


# -- the issue's example ------------------------------------------------------------------------

SAME_AS_PLAN = object()
FLAT_BANDS = (Band(rate=D("0.05"), up_to=D("50000")), Band(rate=D("0.08")))

EXAMPLE_VALUES: list[tuple[str, Callable[[Deal], Any], Any]] = [
    ("id", lambda d: d.id, "acme-linkstar-us"),
    ("name", lambda d: d.name, "ACME Home x Linkstar (TikTok Shop US)"),
    ("currency", lambda d: d.currency, "USD"),
    ("timezone", lambda d: d.timezone, "America/Los_Angeles"),
    ("locale (with a comment after it)", lambda d: d.locale, "en"),
    ("starts", lambda d: d.starts, dt.date(2026, 11, 1)),
    ("period", lambda d: d.period, "month"),
    ("trial periods", lambda d: d.trial_periods, 1),
    ("truth", lambda d: d.truth, "seller"),
    ("tolerance", lambda d: d.tolerance, D("0.02")),
    ("effective", lambda d: d.effective, None),
    (
        "metric order",
        lambda d: list(d.metrics),
        ["gmv", "orders", "ad_spend", "refunds", "viewers", "net_gmv", "roi", "aov", "refund_rate"],
    ),
    ("base metrics", lambda d: d.base_metrics, ("gmv", "orders", "ad_spend", "refunds", "viewers")),
    (
        "gmv description",
        lambda d: d.metrics["gmv"].description,
        "Gross merchandise value incl. refunds, TikTok Seller Center, USD",
    ),
    ("orders description", lambda d: d.metrics["orders"].description, "Paid orders"),
    ("net_gmv formula", lambda d: d.metrics["net_gmv"].formula, Formula.parse("gmv - refunds")),
    ("net_gmv description", lambda d: d.metrics["net_gmv"].description, "gmv - refunds"),
    ("roi inputs", lambda d: d.metrics["roi"].formula.names, {"gmv", "ad_spend"}),
    ("aov inputs", lambda d: d.metrics["aov"].formula.names, {"gmv", "orders"}),
    ("refund_rate formula", lambda d: d.metrics["refund_rate"].formula.text, "refunds / gmv"),
    (
        "targets",
        lambda d: d.targets,
        (
            Target("gmv", "at_least", D("50000")),
            Target("roi", "at_least", D("2.5")),
            Target("refund_rate", "at_most", D("0.08")),
        ),
    ),
    ("base", lambda d: d.fees.base, D("3000")),
    (
        "commission",
        lambda d: d.fees.commission,
        Commission(on="net_gmv", bands=FLAT_BANDS, tiers="graduated"),
    ),
    ("bonus", lambda d: d.fees.bonus, Bonus(when=("gmv", "roi"), amount=D("1000"))),
    (
        "deduction",
        lambda d: d.fees.deduction,
        Deduction(on="gmv", step=D("0.1"), per_step=D("0.1"), of="base", cap_rate=D("0.5")),
    ),
    ("minimum", lambda d: d.fees.minimum, D("3000")),
    ("cap", lambda d: d.fees.cap, D("20000")),
    ("trial base", lambda d: d.trial_fees.base, D("1500")),
    ("trial deduction", lambda d: d.trial_fees.deduction, None),
    ("trial keeps commission", lambda d: d.trial_fees.commission, SAME_AS_PLAN),
    ("trial keeps bonus", lambda d: d.trial_fees.bonus, Bonus(("gmv", "roi"), amount=D("1000"))),
    (
        "trial keeps minimum and cap",
        lambda d: (d.trial_fees.minimum, d.trial_fees.cap),
        (D("3000"), D("20000")),
    ),
    (
        "members",
        lambda d: d.members,
        {
            "seller": ("telegram:5001", "telegram:5002"),
            "agency": ("slack:U0AGENCY1", "slack:U0AGENCY3", "telegram:7001"),
        },
    ),
    ("admins", lambda d: d.admins, ("telegram:5001", "slack:U0AGENCY2")),
    (
        "contacts",
        lambda d: d.contacts,
        (
            Contact("telegram:5001", "seller", 1, "Seller ops lead"),
            Contact("slack:U0AGENCY1", "agency", 1, "Agency account manager"),
            Contact("slack:U0AGENCY2", "agency", 2, "Agency head of ops"),
        ),
    ),
    (
        "chats",
        lambda d: d.chats,
        (
            ChatLink("telegram:-1001234", "seller"),
            ChatLink("slack:C0AGENCY", "agency"),
            ChatLink("telegram:-1009999", "shared"),
        ),
    ),
    ("side of member", lambda d: d.side_of_member("telegram:7001"), "agency"),
    ("an admin need not be a member", lambda d: d.side_of_member("slack:U0AGENCY2"), None),
    ("recap", lambda d: (d.schedule.recap_weekday, d.schedule.recap_time), (0, dt.time(9))),
    ("reminder", lambda d: d.schedule.reminder, dt.time(22, 30)),
    ("pace check", lambda d: d.schedule.pace_check, dt.time(10)),
    ("warn below", lambda d: d.schedule.warn_below, D("0.9")),
    ("escalate below", lambda d: d.schedule.escalate_below, D("0.75")),
    (
        "escalation",
        lambda d: d.schedule.escalation,
        Escalation(
            after=dt.timedelta(hours=4),
            repeat=dt.timedelta(hours=12),
            max=3,
            quiet=(dt.time(22), dt.time(8)),
        ),
    ),
]


@pytest.mark.parametrize(
    ("getter", "expected"),
    [pytest.param(g, e, id=name) for name, g, e in EXAMPLE_VALUES],
)
def test_example_values(example: Deal, getter: Callable[[Deal], Any], expected: Any) -> None:
    if expected is SAME_AS_PLAN:
        expected = example.fees.commission
    assert getter(example) == expected


def test_example_has_no_float_anywhere(example: Deal) -> None:
    def walk(value: Any) -> None:
        assert not isinstance(value, float), value
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, tuple | list):
            for item in value:
                walk(item)
        elif hasattr(value, "__dataclass_fields__"):
            for name in value.__dataclass_fields__:
                walk(getattr(value, name))

    walk(example)
    assert isinstance(example.fees.base, Decimal)


def test_example_file_is_returned_as_written() -> None:
    deal, text = load_deal_file(EXAMPLE_PATH)
    assert text == EXAMPLE
    assert deal == load_deal(EXAMPLE)


def test_chinese_example() -> None:
    deal, _ = load_deal_file(CHINESE_PATH)
    assert (deal.locale, deal.currency, deal.timezone) == ("zh", "CNY", "Asia/Shanghai")
    assert (deal.period, deal.truth, deal.trial_periods, deal.trial_fees) == (
        "week",
        "agreed",
        0,
        None,
    )
    assert deal.fees.commission is not None and deal.fees.commission.tiers == "whole"
    assert [band.up_to for band in deal.fees.commission.bands] == [D(100000), D(200000), None]
    assert deal.fees.bonus == Bonus(when=("gmv", "roi"), percent=D("0.1"), of="commission")
    assert deal.fees.deduction == Deduction(
        on="refund_rate", step=D("0.1"), per_step=D("0.05"), of="total", cap_amount=D(2000)
    )
    assert deal.target_for("refund_rate") == Target(
        "refund_rate", "at_most", D("0.08"), weight=D("0.2")
    )
    assert deal.metrics["cvr"].formula == Formula.parse("orders / viewers")
    assert deal.metrics["cvr"].description.startswith("直播间转化率")
    assert all(chat.id.startswith("telegram:") for chat in deal.chats)
    assert deal.schedule.recap_weekday == 0 and deal.schedule.recap_time == dt.time(10)


# -- accepted variants --------------------------------------------------------------------------


def test_minimal_deal_takes_the_defaults() -> None:
    deal = load_deal(MINIMAL)
    assert (deal.locale, deal.period, deal.truth, deal.tolerance) == (
        "en",
        "month",
        "seller",
        D("0.02"),
    )
    assert (deal.trial_periods, deal.trial_fees) == (0, None)
    assert deal.fees == FeePlan()
    assert deal.schedule == Schedule()
    assert deal.members == {"seller": (), "agency": ()}
    assert (deal.targets, deal.admins, deal.contacts, deal.chats) == ((), (), (), ())


# (case, old text, new text, what to read from the deal, expected)
VARIANTS: list[tuple[str, str, str, Callable[[Deal], Any], Any]] = [
    (
        "flat rate is one open band",
        lines(33, 35),
        "    rate: 5%\n",
        lambda d: d.fees.commission.bands,
        (Band(rate=D("0.05")),),
    ),
    ("tiers default to graduated", line(32), "", lambda d: d.fees.commission.tiers, "graduated"),
    ("whole tiers", "tiers: graduated", "tiers: whole", lambda d: d.fees.commission.tiers, "whole"),
    (
        "block-style bands with thousands commas",
        lines(34, 35),
        "      - up_to: 50,000\n        rate: 5%\n      - rate: 8%\n",
        lambda d: d.fees.commission.bands,
        FLAT_BANDS,
    ),
    ("thousands commas", "  base: 3000", "  base: 3,000", lambda d: d.fees.base, D(3000)),
    ("decimal amount", "  base: 3000", "  base: 3,000.50", lambda d: d.fees.base, D("3000.50")),
    ("quoted amount", "  base: 3000", '  base: "3000"', lambda d: d.fees.base, D(3000)),
    (
        "fractional percent is exact",
        "tolerance: 2%",
        "tolerance: 12.5%",
        lambda d: d.tolerance,
        D("0.125"),
    ),
    ("zero percent", "tolerance: 2%", "tolerance: 0%", lambda d: d.tolerance, D(0)),
    ("hundred percent", "cap: 50%}", "cap: 100%}", lambda d: d.fees.deduction.cap_rate, D(1)),
    (
        "deduction cap as an amount",
        "cap: 50%}",
        "cap: 900}",
        lambda d: (d.fees.deduction.cap_rate, d.fees.deduction.cap_amount),
        (None, D(900)),
    ),
    (
        "deduction of total",
        "of: base, cap",
        "of: total, cap",
        lambda d: d.fees.deduction.of,
        "total",
    ),
    (
        "deduction of defaults to base",
        "of: base, cap",
        "cap",
        lambda d: d.fees.deduction.of,
        "base",
    ),
    (
        "deduction on an at_most target",
        "{on: gmv, step",
        "{on: refund_rate, step",
        lambda d: d.fees.deduction.on,
        "refund_rate",
    ),
    (
        "percent bonus",
        "amount: 1000}",
        "percent: 10%, of: subtotal}",
        lambda d: d.fees.bonus,
        Bonus(when=("gmv", "roi"), percent=D("0.1"), of="subtotal"),
    ),
    (
        "target as a percentage",
        "at_least: 2.5",
        "at_least: 250%",
        lambda d: d.targets[1].value,
        D("2.5"),
    ),
    (
        "target weight",
        "{at_least: 2.5}",
        "{at_least: 2.5, weight: 100%}",  # the only weight: weights add up to 100% (issue 18)
        lambda d: d.targets[1].weight,
        D("1"),
    ),
    (
        "trial switches commission off",
        "deduction: none}",
        "deduction: none, commission: none}",
        lambda d: (d.trial_fees.commission, d.trial_fees.bonus == d.fees.bonus),
        (None, True),
    ),
    (
        "trial replaces commission",
        "deduction: none}",
        "commission: {on: gmv, rate: 3%}}",
        lambda d: (d.trial_fees.commission, d.trial_fees.deduction == d.fees.deduction),
        (Commission(on="gmv", bands=(Band(rate=D("0.03")),)), True),
    ),
    (
        "trial without trial_terms uses the plan",
        line(40),
        "",
        lambda d: d.trial_fees == d.fees,
        True,
    ),
    (
        "several trial periods",
        "trial: {periods: 1}",
        "trial: {periods: 3}",
        lambda d: d.trial_periods,
        3,
    ),
    (
        "recap off",
        "recap: mon 09:00",
        "recap: off",
        lambda d: (d.schedule.recap_weekday, d.schedule.recap_time),
        (None, None),
    ),
    (
        "recap in Chinese",
        "recap: mon 09:00",
        "recap: 周三 18:30",
        lambda d: (d.schedule.recap_weekday, d.schedule.recap_time),
        (2, dt.time(18, 30)),
    ),
    (
        "recap full day name",
        "recap: mon 09:00",
        "recap: Sunday 7:05",
        lambda d: (d.schedule.recap_weekday, d.schedule.recap_time),
        (6, dt.time(7, 5)),
    ),
    # Unquoted 22:30 is a YAML 1.1 sexagesimal integer (1350) to a naive loader; the composer
    # keeps it as text.
    (
        "unquoted time",
        'reminder: "22:30"',
        "reminder: 22:30",
        lambda d: d.schedule.reminder,
        dt.time(22, 30),
    ),
    ("reminder off", 'reminder: "22:30"', "reminder: off", lambda d: d.schedule.reminder, None),
    (
        "quiet off",
        'quiet: "22:00-08:00"',
        "quiet: off",
        lambda d: d.schedule.escalation.quiet,
        None,
    ),
    (
        "minutes and days",
        "after: 4h, repeat: 12h",
        "after: 30m, repeat: 1d",
        lambda d: (d.schedule.escalation.after, d.schedule.escalation.repeat),
        (dt.timedelta(minutes=30), dt.timedelta(days=1)),
    ),
    (
        "compound duration",
        "after: 4h",
        "after: 1h30m",
        lambda d: d.schedule.escalation.after,
        dt.timedelta(minutes=90),
    ),
    ("escalation defaults", line(62), "", lambda d: d.schedule.escalation, Escalation()),
    ("schedule defaults", lines(56, 62), "", lambda d: d.schedule, Schedule()),
    (
        "effective date",
        line(7),
        line(7) + "effective: 2026-12-01\n",
        lambda d: d.effective,
        dt.date(2026, 12, 1),
    ),
    (
        "long-form metric",
        "  roi: gmv / ad_spend",
        "  roi:\n    description: Return on ad spend, ads only\n    formula: gmv / ad_spend",
        lambda d: (d.metrics["roi"].description, d.metrics["roi"].formula),
        ("Return on ad spend, ads only", Formula.parse("gmv / ad_spend")),
    ),
    (
        "long form, formula only",
        "  roi: gmv / ad_spend",
        "  roi: {formula: gmv / ad_spend}",
        lambda d: d.metrics["roi"].description,
        "gmv / ad_spend",
    ),
    (
        "long form, description only",
        '  orders: "Paid orders"',
        "  orders: {description: Paid orders}",
        lambda d: (d.metrics["orders"].description, d.metrics["orders"].derived),
        ("Paid orders", False),
    ),
    (
        "a lone word that is not a metric is a description",
        '  orders: "Paid orders"',
        "  orders: units",
        lambda d: (d.metrics["orders"].description, d.metrics["orders"].formula),
        ("units", None),
    ),
    (
        "a lone metric name is an alias formula",
        "  aov: gmv / orders",
        "  aov: gmv / orders\n  sales: gmv",
        lambda d: d.metrics["sales"].formula,
        Formula.parse("gmv"),
    ),
    (
        "a sentence with operators is a description",
        '  orders: "Paid orders"',
        "  orders: Orders - cancellations (count)",
        lambda d: d.metrics["orders"].formula,
        None,
    ),
    (
        "formula over derived metrics and numbers",
        "  aov: gmv / orders",
        "  aov: gmv / orders\n  net_roi_pct: net_gmv / ad_spend * 100",
        lambda d: d.metrics["net_roi_pct"].formula.names,
        {"net_gmv", "ad_spend"},
    ),
    (
        "contacts need no members list for their side",
        line(44),
        "",
        lambda d: (d.members["agency"], len(d.contacts)),
        ((), 3),
    ),
    ("contact name is optional", ", name: Seller ops lead}", "}", lambda d: d.contacts[0].name, ""),
    (
        "console identities",
        "slack:C0AGENCY, side",
        "console:agency-room, side",
        lambda d: d.chats[1].id,
        "console:agency-room",
    ),
    (
        "Chinese comments",
        "tolerance: 2%",
        "tolerance: 2%  # 两边数字差 2% 以内算一致",
        lambda d: d.tolerance,
        D("0.02"),
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "getter", "expected"),
    [pytest.param(o, n, g, e, id=name) for name, o, n, g, e in VARIANTS],
)
def test_accepted_variants(
    old: str, new: str, getter: Callable[[Deal], Any], expected: Any
) -> None:
    deal = load_deal(edit(old, new))
    assert getter(deal) == expected


def test_no_trial_means_no_trial_fees() -> None:
    deal = load_deal(edit(line(40), "", edit(line(8), "")))
    assert (deal.trial_periods, deal.trial_fees) == (0, None)


# -- rejected files: one rule per case, with the key path and line it must report ----------------

# (case, old text, new text, key path, line, fragment of the message)
REJECTED: list[tuple[str, str, str, str, int | None, str]] = [
    # top level
    ("id not a slug", "id: acme-linkstar-us", "id: Acme Linkstar", "id", 1, "not a deal id"),
    ("id too short", "id: acme-linkstar-us", "id: a", "id", 1, "not a deal id"),
    ("name missing value", line(2), "name:\n", "name", 2, "a value is needed"),
    ("name is a list", line(2), "name: [a, b]\n", "name", 2, "single value"),
    ("unknown currency", "currency: USD", "currency: USX", "currency", 3, "ISO 4217"),
    ("lowercase currency", "currency: USD", "currency: usd", "currency", 3, "ISO 4217"),
    (
        "unknown time zone",
        "timezone: America/Los_Angeles",
        "timezone: Mars/Olympus_Mons",
        "timezone",
        4,
        "time zone",
    ),
    (
        "path as time zone",
        "timezone: America/Los_Angeles",
        "timezone: ../../etc/passwd",
        "timezone",
        4,
        "time zone",
    ),
    ("locale", "locale: en ", "locale: fr ", "locale", 5, "not one of: en, zh"),
    ("bad date", "starts: 2026-11-01", "starts: 2026-13-01", "starts", 6, "YYYY-MM-DD"),
    ("date in words", "starts: 2026-11-01", "starts: Nov 1 2026", "starts", 6, "YYYY-MM-DD"),
    (
        "bad effective date",
        line(7),
        line(7) + "effective: 2026-02-30\n",
        "effective",
        8,
        "YYYY-MM-DD",
    ),
    ("period", "period: month", "period: day", "period", 7, "week"),
    (
        "trial periods not a number",
        "trial: {periods: 1}",
        "trial: {periods: one}",
        "trial.periods",
        8,
        "whole number",
    ),
    (
        "trial periods negative",
        "trial: {periods: 1}",
        "trial: {periods: -1}",
        "trial.periods",
        8,
        "whole number",
    ),
    (
        "trial typo",
        "trial: {periods: 1}",
        "trial: {period: 1}",
        "trial.period",
        8,
        "did you mean 'periods'",
    ),
    ("trial not a mapping", "trial: {periods: 1}", "trial: 1", "trial", 8, "{periods: 1}"),
    ("truth", "truth: seller ", "truth: both ", "truth", 9, "seller, agency, agreed"),
    ("rate written as a fraction", "tolerance: 2%", "tolerance: 0.02", "tolerance", 10, "e.g. 2%"),
    (
        "percent with a space",
        "tolerance: 2%",
        "tolerance: 8 %",
        "tolerance",
        10,
        "not a percentage",
    ),
    ("percent doubled", "tolerance: 2%", "tolerance: 8 %%", "tolerance", 10, "not a percentage"),
    ("percent of letters", "tolerance: 2%", "tolerance: abc%", "tolerance", 10, "not a percentage"),
    ("rate over 100%", "tolerance: 2%", "tolerance: 150%", "tolerance", 10, "between 0% and 100%"),
    ("negative rate", "tolerance: 2%", "tolerance: -2%", "tolerance", 10, "not a percentage"),
    (
        "unknown top-level key",
        "tolerance: 2%",
        "tolerence: 2%",
        "tolerence",
        10,
        "did you mean 'tolerance'",
    ),
    ("key given twice", line(9), line(9) + "truth: agency\n", "truth", 10, "given twice"),
    ("missing required key", line(3), "", "currency", 1, "missing"),
    # metrics
    (
        "metric name",
        '  orders: "Paid orders"',
        '  Orders: "Paid orders"',
        "metrics.Orders",
        14,
        "not a metric name",
    ),
    (
        "metric without description",
        '  orders: "Paid orders"',
        "  orders:",
        "metrics.orders",
        14,
        "a value is needed",
    ),
    (
        "formula with unknown metric",
        "net_gmv: gmv - refunds",
        "net_gmv: gmv - refund",
        "metrics.net_gmv",
        18,
        "unknown metric(s) refund",
    ),
    (
        "self-referencing formula",
        "net_gmv: gmv - refunds",
        "net_gmv: net_gmv - refunds",
        "metrics.net_gmv",
        18,
        "cycle",
    ),
    (
        "formula cycle",
        line(21),
        line(21) + "  a: b + 1\n  b: a * 2\n",
        "metrics.a",
        22,
        "cycle: a -> b -> a",
    ),
    (
        "long-form formula that does not parse",
        "  roi: gmv / ad_spend",
        "  roi: {description: Return on ad spend, formula: gmv / / ad_spend}",
        "metrics.roi.formula",
        19,
        "expected a metric name",
    ),
    (
        "long-form unknown key",
        "  roi: gmv / ad_spend",
        "  roi: {descripton: Return}",
        "metrics.roi.descripton",
        19,
        "did you mean 'description'",
    ),
    (
        "long form empty",
        "  roi: gmv / ad_spend",
        "  roi: {}",
        "metrics.roi",
        19,
        "description, a formula",
    ),
    (
        "metrics not a mapping",
        line(12),
        "metrics: gmv\nmetrix:\n",
        "metrics",
        12,
        "expected a mapping",
    ),
    # targets
    (
        "target on an unknown metric",
        "  roi: {at_least: 2.5}",
        "  roas: {at_least: 2.5}",
        "targets.roas",
        25,
        "unknown metric 'roas'",
    ),
    (
        "target with two directions",
        "{at_least: 2.5}",
        "{at_least: 2.5, at_most: 9}",
        "targets.roi",
        25,
        "exactly one of at_least or at_most",
    ),
    (
        "target without direction",
        "{at_least: 2.5}",
        "{weight: 2}",
        "targets.roi",
        25,
        "exactly one",
    ),
    (
        "target value",
        "{at_least: 50000}",
        "{at_least: 5O000}",
        "targets.gmv.at_least",
        24,
        "not a number",
    ),
    (
        "target percentage",
        "{at_most: 8%}",
        "{at_most: 8 %}",
        "targets.refund_rate.at_most",
        26,
        "not a percentage",
    ),
    (
        "target typo",
        "{at_least: 2.5}",
        "{at_lest: 2.5}",
        "targets.roi.at_lest",
        25,
        "did you mean 'at_least'",
    ),
    (
        "target weight zero",
        "{at_least: 2.5}",
        "{at_least: 2.5, weight: 0}",
        "targets.roi.weight",
        25,
        "more than 0",
    ),
    ("targets not a mapping", lines(24, 26), "  - gmv\n", "targets", 24, "expected a mapping"),
    # fees
    ("amount as a percentage", "  base: 3000", "  base: 3%", "fees.base", 29, "plain amount"),
    ("bad thousands", "  base: 3000", "  base: 3,00", "fees.base", 29, "not a number"),
    ("negative amount", "  base: 3000", "  base: -3000", "fees.base", 29, "not a number"),
    ("none outside trial terms", "  base: 3000", "  base: none", "fees.base", 29, "not a number"),
    ("unknown fee key", "  base: 3000", "  bass: 3000", "fees.bass", 29, "did you mean 'base'"),
    (
        "commission on an unknown metric",
        "on: net_gmv",
        "on: net_sales",
        "fees.commission.on",
        31,
        "unknown metric 'net_sales'",
    ),
    (
        "tiers",
        "tiers: graduated ",
        "tiers: stepped ",
        "fees.commission.tiers",
        32,
        "graduated, whole",
    ),
    ("rate and bands", line(31), line(31) + "    rate: 5%\n", "fees.commission", 31, "either rate"),
    (
        "band rate 8 %%",
        "{rate: 8%}",
        "{rate: 8 %%}",
        "fees.commission.bands[1].rate",
        35,
        "not a percentage",
    ),
    (
        "band rate 150%",
        "rate: 5%}",
        "rate: 150%}",
        "fees.commission.bands[0].rate",
        34,
        "between 0% and 100%",
    ),
    (
        "band rate without %",
        "rate: 5%}",
        "rate: 0.05}",
        "fees.commission.bands[0].rate",
        34,
        "e.g. 5%",
    ),
    (
        "bands going down",
        line(35),
        "      - {up_to: 40000, rate: 8%}\n      - {rate: 9%}\n",
        "fees.commission.bands[1].up_to",
        35,
        "more than 50,000",
    ),
    (
        "equal band bounds",
        line(35),
        "      - {up_to: 50000, rate: 8%}\n      - {rate: 9%}\n",
        "fees.commission.bands[1].up_to",
        35,
        "more than 50,000",
    ),
    (
        "open band before the last",
        "{up_to: 50000, rate: 5%}",
        "{rate: 5%}",
        "fees.commission.bands[0]",
        34,
        "only the last band may be open",
    ),
    (
        "closed last band",
        "{rate: 8%}",
        "{up_to: 90000, rate: 8%}",
        "fees.commission.bands[1].up_to",
        35,
        "must be open",
    ),
    (
        "band without rate",
        "{up_to: 50000, rate: 5%}",
        "{up_to: 50000, rat: 5%}",
        "fees.commission.bands[0].rat",
        34,
        "did you mean 'rate'",
    ),
    (
        "no bands",
        lines(33, 35),
        "    bands: []\n",
        "fees.commission.bands",
        33,
        "at least one band",
    ),
    (
        "bonus on a metric without target",
        "when: [gmv, roi]",
        "when: [gmv, orders]",
        "fees.bonus.when[1]",
        36,
        "'orders' has no target",
    ),
    ("bonus when not a list", "when: [gmv, roi]", "when: gmv", "fees.bonus.when", 36, "[gmv, roi]"),
    (
        "bonus amount and percent",
        "amount: 1000}",
        "amount: 1000, percent: 10%}",
        "fees.bonus",
        36,
        "either amount",
    ),
    (
        "percent bonus without of",
        "amount: 1000}",
        "percent: 10%}",
        "fees.bonus.of",
        36,
        "commission, base or subtotal",
    ),
    (
        "percent bonus of what",
        "amount: 1000}",
        "percent: 10%, of: gmv}",
        "fees.bonus.of",
        36,
        "commission, base, subtotal",
    ),
    (
        "bonus percent without %",
        "amount: 1000}",
        "percent: 10, of: commission}",
        "fees.bonus.percent",
        36,
        "e.g. 10%",
    ),
    (
        "deduction on a metric without target",
        "{on: gmv, step",
        "{on: orders, step",
        "fees.deduction.on",
        37,
        "'orders' has no target",
    ),
    (
        "deduction step zero",
        "gmv, step: 10%",
        "gmv, step: 0%",
        "fees.deduction.step",
        37,
        "more than 0%",
    ),
    (
        "deduction step missing",
        "step: 10%, per_step",
        "per_step",
        "fees.deduction.step",
        37,
        "missing",
    ),
    (
        "per_step without %",
        "per_step: 10%",
        "per_step: 10",
        "fees.deduction.per_step",
        37,
        "e.g. 10%",
    ),
    (
        "deduction cap over 100%",
        "cap: 50%}",
        "cap: 150%}",
        "fees.deduction.cap",
        37,
        "between 0% and 100%",
    ),
    ("deduction cap text", "cap: 50%}", "cap: lots}", "fees.deduction.cap", 37, "not a number"),
    ("deduction of", "of: base, cap", "of: gmv, cap", "fees.deduction.of", 37, "base, total"),
    ("minimum above cap", "  minimum: 3000", "  minimum: 30000", "fees.cap", 39, "below minimum"),
    (
        "trial terms without a trial",
        "trial: {periods: 1}",
        "trial: {periods: 0}",
        "fees.trial_terms",
        40,
        "trial: {periods: 1}",
    ),
    (
        "trial terms typo",
        "deduction: none}",
        "deductoin: none}",
        "fees.trial_terms.deductoin",
        40,
        "did you mean 'deduction'",
    ),
    (
        "trial terms value",
        "{base: 1500",
        "{base: cheap",
        "fees.trial_terms.base",
        40,
        "not a number",
    ),
    (
        "trial minimum above the plan's cap",
        "deduction: none}",
        "minimum: 25000}",
        "fees.trial_terms",
        40,
        "during the trial",
    ),
    (
        "trial minimum above trial cap",
        "deduction: none}",
        "minimum: 5000, cap: 4000}",
        "fees.trial_terms.cap",
        40,
        "below minimum",
    ),
    # members, admins, contacts, chats
    (
        "unknown platform",
        "telegram:5002]",
        "skype:5002]",
        "members.seller[1]",
        43,
        "slack, telegram or console",
    ),
    (
        "telegram id not numeric",
        "telegram:7001]",
        "telegram:@ada]",
        "members.agency[2]",
        44,
        "numeric Telegram id",
    ),
    (
        "slack id lowercase",
        "slack:U0AGENCY2]",
        "slack:u0agency2]",
        "admins[1]",
        45,
        "uppercase Slack id",
    ),
    (
        "identity without id",
        "{id: telegram:-1001234, side",
        '{id: "telegram:", side',
        "chats[0].id",
        52,
        "numeric Telegram id",
    ),
    (
        "person on both sides",
        "telegram:7001]",
        "telegram:7001, telegram:5002]",
        "members.agency[3]",
        44,
        "already on the seller side",
    ),
    (
        "person twice on one side",
        "[telegram:5001, telegram:5002]",
        "[telegram:5001, telegram:5001]",
        "members.seller[1]",
        43,
        "listed twice",
    ),
    (
        "unknown side in members",
        "  seller: [",
        "  sellers: [",
        "members.sellers",
        43,
        "did you mean 'seller'",
    ),
    ("admin twice", "slack:U0AGENCY2]", "telegram:5001]", "admins[1]", 45, "listed twice"),
    (
        "contact who is not a member",
        "{who: slack:U0AGENCY1, side: agency",
        "{who: slack:U0NOBODY, side: agency",
        "contacts[1].who",
        48,
        "not among members.agency",
    ),
    (
        "contact on the wrong side",
        "{who: slack:U0AGENCY1, side: agency",
        "{who: telegram:5002, side: agency",
        "contacts[1].who",
        48,
        "is in members.seller",
    ),
    (
        "an admin of one side as the other side's contact",
        "{who: slack:U0AGENCY1, side: agency",
        "{who: telegram:5001, side: agency",
        "contacts[1].who",
        48,
        "cannot be a contact of the agency side",
    ),
    (
        "contact level zero",
        "side: agency, level: 1",
        "side: agency, level: 0",
        "contacts[1].level",
        48,
        "at least 1",
    ),
    (
        "contact level word",
        "side: agency, level: 1",
        "side: agency, level: two",
        "contacts[1].level",
        48,
        "whole number",
    ),
    (
        "contact side",
        "U0AGENCY1, side: agency",
        "U0AGENCY1, side: both",
        "contacts[1].side",
        48,
        "seller, agency",
    ),
    (
        "contact without level",
        ", level: 1, name: Agency account manager}",
        ", name: Agency account manager}",
        "contacts[1].level",
        48,
        "missing",
    ),
    (
        "contact listed twice",
        line(49),
        line(49) + "  - {who: slack:U0AGENCY2, side: agency, level: 3}\n",
        "contacts[3].who",
        50,
        "already a contact of the agency side",
    ),
    (
        "chat listed twice",
        line(54),
        line(54) + "  - {id: slack:C0AGENCY, side: seller}\n",
        "chats[3].id",
        55,
        "listed twice",
    ),
    (
        "chat side",
        "{id: telegram:-1001234, side: seller}",
        "{id: telegram:-1001234, side: both}",
        "chats[0].side",
        52,
        "seller, agency, shared",
    ),
    (
        "chat id",
        "telegram:-1009999, side",
        "telegram:-100abc, side",
        "chats[2].id",
        54,
        "numeric Telegram id",
    ),
    (
        "chat without side",
        "{id: slack:C0AGENCY, side: agency}",
        "{id: slack:C0AGENCY}",
        "chats[1].side",
        53,
        "missing",
    ),
    ("chats not a list", lines(51, 54), "chats: slack:C0AGENCY\n", "chats", 51, "expected a list"),
    # schedule
    ("recap day", "recap: mon 09:00", "recap: someday 09:00", "schedule.recap", 57, "mon 09:00"),
    ("recap hour", "recap: mon 09:00", "recap: mon 25:00", "schedule.recap", 57, "mon 09:00"),
    ("recap without time", "recap: mon 09:00", "recap: mon", "schedule.recap", 57, "mon 09:00"),
    ("reminder time", 'reminder: "22:30"', 'reminder: "25:30"', "schedule.reminder", 58, "HH:MM"),
    (
        "pace check time",
        'pace_check: "10:00"',
        "pace_check: 10am",
        "schedule.pace_check",
        59,
        "HH:MM",
    ),
    (
        "warn_below without %",
        "warn_below: 90%",
        "warn_below: 0.9",
        "schedule.warn_below",
        60,
        "e.g. 90%",
    ),
    (
        "escalate above warn",
        "escalate_below: 75%",
        "escalate_below: 95%",
        "schedule.escalate_below",
        61,
        "must not be above warn_below",
    ),
    (
        "duration words",
        "after: 4h",
        "after: 4 hours",
        "schedule.escalation.after",
        62,
        "not a duration",
    ),
    (
        "zero duration",
        "repeat: 12h",
        "repeat: 0h",
        "schedule.escalation.repeat",
        62,
        "longer than zero",
    ),
    ("escalation max zero", "max: 3", "max: 0", "schedule.escalation.max", 62, "at least 1"),
    (
        "quiet without end",
        'quiet: "22:00-08:00"',
        'quiet: "22:00"',
        "schedule.escalation.quiet",
        62,
        "22:00-08:00",
    ),
    (
        "quiet empty",
        'quiet: "22:00-08:00"',
        'quiet: "22:00-22:00"',
        "schedule.escalation.quiet",
        62,
        "same time",
    ),
    (
        "escalation typo",
        "repeat: 12h",
        "repaet: 12h",
        "schedule.escalation.repaet",
        62,
        "did you mean 'repeat'",
    ),
    (
        "schedule typo",
        '  reminder: "22:30"',
        '  remind: "22:30"',
        "schedule.remind",
        58,
        "did you mean 'reminder'",
    ),
    # the document itself
    ("YAML syntax error", line(2), "name: ACME: Home\n", DOCUMENT, 2, "YAML syntax error"),
    ("unclosed list", "slack:U0AGENCY2]", "slack:U0AGENCY2", DOCUMENT, 46, "YAML syntax error"),
    (
        "tab indentation",
        '  orders: "Paid orders"',
        '\torders: "Paid orders"',
        DOCUMENT,
        14,
        "YAML syntax error",
    ),
    ("alias", line(45), "admins: &a [telegram:5001]\nsupport: *a\n", DOCUMENT, 46, "aliases"),
    ("control character", "truth: seller", "truth: sel\x00ler", DOCUMENT, 9, "#x0000"),
    ("two documents", "schedule:\n", "---\nschedule:\n", DOCUMENT, 56, "single document"),
]


@pytest.mark.parametrize(
    ("old", "new", "key", "line_number", "fragment"),
    [pytest.param(o, n, k, li, f, id=name) for name, o, n, k, li, f in REJECTED],
)
def test_rejected(old: str, new: str, key: str, line_number: int | None, fragment: str) -> None:
    problems = problems_of(edit(old, new))
    matching = [(k, li, m) for k, li, m in problems if k == key and li == line_number]
    assert matching, f"no problem at {key}:{line_number}; got {problems}"
    assert any(fragment in message for _, _, message in matching), matching


@pytest.mark.parametrize(
    ("text", "line_number", "fragment"),
    [
        ("", 1, "empty"),
        ("   \n\n", 1, "empty"),
        ("# only a comment\n", 1, "empty"),
        ("---\n", 1, "empty"),
        ("- id: a\n- name: b\n", 1, "mapping"),
        ("just a sentence\n", 1, "mapping"),
        ("\n\n42\n", 3, "mapping"),
    ],
)
def test_rejected_documents(text: str, line_number: int, fragment: str) -> None:
    [(key, got_line, message)] = problems_of(text)
    assert (key, got_line) == (DOCUMENT, line_number)
    assert fragment in message


def test_every_problem_is_reported_at_once() -> None:
    text = edit("currency: USD", "currency: usd")
    text = edit("  roi: {at_least: 2.5}", "  roas: {at_least: 2.5}", text)
    text = edit("cap: 50%}", "cap: 150%}", text)
    text = edit("{id: slack:C0AGENCY, side: agency}", "{id: telegram:-1001234, side: agency}", text)
    found = {(key, number) for key, number, _ in problems_of(text)}
    assert {
        ("currency", 3),
        ("targets.roas", 25),
        ("fees.bonus.when[1]", 36),  # roi lost its target, so the bonus cannot depend on it
        ("fees.deduction.cap", 37),
        ("chats[1].id", 53),
    } <= found


def test_error_message_names_source_line_and_key() -> None:
    with pytest.raises(DealFileError) as caught:
        load_deal(edit("currency: USD", "currency: USX"), "deals/acme.yaml")
    assert "deals/acme.yaml:3: currency: 'USX' is not an ISO 4217 currency code" in str(
        caught.value
    )


def test_minimal_deal_requires_metrics() -> None:
    text = edit("metrics:\n  gmv: Gross merchandise value\n", "metrics: {}\n", MINIMAL)
    assert [(key, number) for key, number, _ in problems_of(text)] == [("metrics", 6)]


def test_load_deal_file_reports_the_path(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(edit("period: month", "period: fortnight"), encoding="utf-8")
    with pytest.raises(DealFileError) as caught:
        load_deal_file(path)
    assert caught.value.source == str(path)
    assert caught.value.problems[0][:2] == ("period", 7)


def test_load_deal_file_rejects_non_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(MINIMAL.replace("Tiny", "Café").encode("latin-1"))
    with pytest.raises(DealFileError, match="UTF-8"):
        load_deal_file(path)


# -- fuzzing ------------------------------------------------------------------------------------


def _loads_or_rejects(text: str) -> None:
    try:
        load_deal(text)
    except DealFileError as error:
        assert error.problems
        # YAML also breaks lines at CR, NEL and the Unicode line separators.
        last_line = len(re.split("\r\n|[\r\n\x85\u2028\u2029]", text)) + 1
        for key, number, message in error.problems:
            assert key and message
            assert number is None or 1 <= number <= last_line


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_raises_only_deal_file_error(text: str) -> None:
    _loads_or_rejects(text)


YAML_PIECES = [*"ab:-_ \n{}[],#%&*!|>'\"19.\t", "id: x\n", "metrics:\n  "]
YAMLISH = st.lists(st.sampled_from(YAML_PIECES), max_size=60).map("".join)


@settings(max_examples=300, deadline=None)
@given(YAMLISH)
def test_yaml_shaped_text_raises_only_deal_file_error(text: str) -> None:
    _loads_or_rejects(text)


def _spans() -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Character spans of the example's scalars, and of its key-value pairs."""
    scalars: list[tuple[int, int]] = []
    pairs: list[tuple[int, int]] = []

    def walk(node: yaml.Node) -> None:
        if isinstance(node, yaml.ScalarNode):
            scalars.append((node.start_mark.index, node.end_mark.index))
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                walk(item)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                pairs.append((key.start_mark.index, value.end_mark.index))
                walk(key)
                walk(value)

    walk(yaml.compose(EXAMPLE))
    return scalars, pairs


SCALARS, PAIRS = _spans()
TRICKY = [
    "",
    "~",
    "null",
    "none",
    "off",
    "on",
    "yes",
    "0",
    "-1",
    "1e9",
    "0x10",
    "1_000",
    "99999999999999999999",
    "3,00",
    "5%",
    "150%",
    "-5%",
    "8 %",
    "abc%",
    "%",
    "nan",
    "inf",
    ".inf",
    "2026-02-30",
    "gmv",
    "gmv / 0",
    "__import__('os')",
    "[]",
    "{}",
    "[a, b]",
    "{a: 1}",
    "'quoted'",
    '"',
    "mon",
    "25:61",
    "4x",
    "telegram:",
    "slack:",
    "周一 09:00",
    "x" * 300,
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_example_loads_or_raises_deal_file_error(data: st.DataObject) -> None:
    if data.draw(st.booleans(), label="replace a scalar"):
        start, end = data.draw(st.sampled_from(SCALARS), label="scalar")
        value = data.draw(st.one_of(st.sampled_from(TRICKY), st.text(max_size=12)), label="value")
        text = EXAMPLE[:start] + value + EXAMPLE[end:]
    else:
        start, end = data.draw(st.sampled_from(PAIRS), label="pair")
        text = EXAMPLE[:start] + EXAMPLE[end:]
    _loads_or_rejects(text)


@pytest.mark.parametrize("loader", [dealfile._YAML_LOADER, yaml.SafeLoader])
@pytest.mark.parametrize(
    ("text", "key", "line_number"),
    [
        (EXAMPLE, None, None),
        (edit("currency: USD", "currency: USX"), "currency", 3),
        (edit(line(45), "admins: &a [telegram:5001]\nsupport: *a\n"), DOCUMENT, 46),
        # Non-ASCII before the bad character: libyaml counts bytes, the line must not shift.
        (edit("truth: seller", "name_zh: 联星\ntruth: sel\x00ler"), DOCUMENT, 10),
        (edit(line(2), "name: ACME: Home\n"), DOCUMENT, 2),
    ],
)
def test_both_yaml_composers_give_the_same_answers(
    monkeypatch: pytest.MonkeyPatch,
    loader: type[yaml.SafeLoader],
    text: str,
    key: str | None,
    line_number: int | None,
) -> None:
    # Without libyaml the loader falls back to PyYAML's pure-Python composer.
    monkeypatch.setattr(dealfile, "_YAML_LOADER", loader)
    if key is None:
        assert load_deal(text) == load_deal(EXAMPLE)
        return
    assert (key, line_number) in {(k, n) for k, n, _ in problems_of(text)}


def test_dates_outside_the_calendar_range_are_rejected() -> None:
    """A start in year 9999 would overflow period arithmetic later; it is refused up front."""
    with pytest.raises(DealFileError) as info:
        load_deal(EXAMPLE.replace("starts: 2026-11-01", "starts: 9999-12-01"))
    assert any(key == "starts" and "out of range" in msg for key, _line, msg in info.value.problems)


# -- metric labels (issue 13) -------------------------------------------------------------------

CHINESE = CHINESE_PATH.read_text(encoding="utf-8")
VIEWERS = "  viewers: {description: 当日直播间观看人数（去重）, kind: count}\n"


def test_the_chinese_demo_still_has_the_viewers_line_these_tests_replace() -> None:
    assert VIEWERS in CHINESE


def test_a_metric_may_set_its_label_per_language() -> None:
    text = CHINESE.replace(
        VIEWERS,
        "  viewers:\n    description: 当日直播间观看人数（去重）\n"
        "    label: {zh: 场观人数, en: unique viewers}\n",
    )
    deal = load_deal(text)
    assert dict(deal.metrics["viewers"].labels) == {"zh": "场观人数", "en": "unique viewers"}
    assert deal.metric_words == {"场观人数": "viewers", "unique viewers": "viewers"}
    assert deal.metrics["gmv"].labels == {}


@pytest.mark.parametrize(
    ("label", "fragment"),
    [
        ("label: {fr: spectateurs}", "fr"),
        ("label: 场观人数", "mapping"),
        ("label: {zh: ''}", "value is needed"),
    ],
)
def test_a_bad_label_is_named_with_its_key(label: str, fragment: str) -> None:
    text = CHINESE.replace(VIEWERS, f"  viewers:\n    description: 观看人数\n    {label}\n")
    problems = problems_of(text)
    assert any(k.startswith("metrics.viewers.label") and fragment in m for k, _, m in problems)


def test_a_label_alone_is_not_a_metric_definition() -> None:
    text = CHINESE.replace(VIEWERS, "  viewers:\n    label: {zh: 场观人数}\n")
    assert any(k == "metrics.viewers" for k, _, _ in problems_of(text))


# --- Issue 18: weights, performance, lists of terms, points, guarantee -----------------------

ISSUE_FEES = """fees:
  base: 5000
  performance: {amount: 8000, floor: 60%, cap: 120%}
  bonus:                      # one term, or a list of terms
    - {when: [gmv], amount: 500}
    - {when: [gmv, roi], amount: 1000}
  deduction:                  # one term, or a list; `step` relative (10%) or in points (1pt)
    - {on: refund_rate, step: 1pt, per_step: 5%, of: base, cap: 50%}
  guarantee: {on: gmv, at_least: 100000, refund: proportional, of: base}
"""


def _with_issue_fees(text: str = CHINESE) -> str:
    start = text.index("fees:\n")
    end = text.index("\nmembers:")
    return text[:start] + ISSUE_FEES + text[end:]


def test_the_issue_deal_file_keys_load_as_written() -> None:
    deal = load_deal(_with_issue_fees())
    assert [t.weight for t in deal.targets] == [D("0.60"), D("0.20"), D("0.20")]
    plan = deal.fees
    assert plan.base == D("5000")
    assert plan.commission is None
    assert plan.performance == Performance(amount=D("8000"), floor=D("0.60"), cap=D("1.20"))
    assert plan.bonuses == (
        Bonus(when=("gmv",), amount=D("500")),
        Bonus(when=("gmv", "roi"), amount=D("1000")),
    )
    assert plan.deductions == (
        Deduction(
            on="refund_rate",
            step=D("0.01"),
            per_step=D("0.05"),
            of="base",
            cap_rate=D("0.50"),
            unit="points",
        ),
    )
    assert plan.guarantee == Guarantee(
        on="gmv", at_least=D("100000"), refund="proportional", of="base"
    )


def test_a_stepped_guarantee_of_the_fees_with_a_cap_loads() -> None:
    text = _with_issue_fees().replace(
        "  guarantee: {on: gmv, at_least: 100000, refund: proportional, of: base}",
        "  guarantee:\n    on: gmv\n    at_least: 100,000\n    refund: {step: 10%, per_step: 20%}\n"
        "    of: fees\n    cap: 3,000",
    )
    guarantee = load_deal(text).fees.guarantee
    assert guarantee == Guarantee(
        on="gmv",
        at_least=D("100000"),
        refund="stepped",
        of="fees",
        step=D("0.10"),
        per_step=D("0.20"),
        cap_amount=D("3000"),
    )


CONTRACT_REJECTED: list[tuple[str, str, str, str, int, str]] = [
    (
        "weights that do not add up to 100%",
        "    at_least: 3\n    weight: 20%",
        "    at_least: 3\n    weight: 30%",
        "targets",
        27,
        "the weights add up to 110% (60% + 30% + 20%); they must add up to 100%",
    ),
    (
        "a weight removed: the others add up to 40%",
        "    weight: 60%\n",
        "",
        "targets",
        27,
        "add up to 40%",
    ),
    (
        "a score cap under 100%",
        "cap: 120%}",
        "cap: 90%}",
        "fees.performance.cap",
        39,
        "a score cap is at least 100%",
    ),
    (
        "a performance fee without an amount",
        "{amount: 8000, floor: 60%, cap: 120%}",
        "{floor: 60%, cap: 120%}",
        "fees.performance.amount",
        39,
        "'amount' is missing",
    ),
    (
        "a step in points on a target that is not a percentage",
        "{on: refund_rate, step: 1pt,",
        "{on: gmv, step: 1pt,",
        "fees.deduction[0].step",
        44,
        "a step in points needs a target written as a percentage",
    ),
    (
        "a step that is neither a percentage nor points",
        "step: 1pt,",
        "step: 1 point,",
        "fees.deduction[0].step",
        44,
        "'1 point' is not a step; write a percentage of the target (10%) or percentage points",
    ),
    (
        "a bad bonus in a list names its place",
        "{when: [gmv, roi], amount: 1000}",
        "{when: [gmv, cvr], amount: 1000}",
        "fees.bonus[1].when[1]",
        42,
        "'cvr' has no target",
    ),
    (
        "an empty list of bonuses",
        "  bonus:                      # one term, or a list of terms\n"
        "    - {when: [gmv], amount: 500}\n    - {when: [gmv, roi], amount: 1000}",
        "  bonus: []",
        "fees.bonus",
        40,
        "list at least one term",
    ),
    (
        "a guarantee on an unknown metric",
        "{on: gmv, at_least: 100000",
        "{on: sales, at_least: 100000",
        "fees.guarantee.on",
        45,
        "unknown metric 'sales'",
    ),
    (
        "a guarantee refund that is not a known form",
        "refund: proportional",
        "refund: all",
        "fees.guarantee.refund",
        45,
        "write proportional or a step, e.g. {step: 10%, per_step: 20%}",
    ),
    (
        "a guarantee of something else than base or fees",
        "refund: proportional, of: base}",
        "refund: proportional, of: total}",
        "fees.guarantee.of",
        45,
        "'total' is not one of: base, fees",
    ),
    (
        "a guarantee without its level",
        "{on: gmv, at_least: 100000, refund",
        "{on: gmv, refund",
        "fees.guarantee.at_least",
        45,
        "'at_least' is missing",
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "key", "line_number", "fragment"),
    [case[1:] for case in CONTRACT_REJECTED],
    ids=[case[0] for case in CONTRACT_REJECTED],
)
def test_contract_terms_rejected(
    old: str, new: str, key: str, line_number: int, fragment: str
) -> None:
    text = _with_issue_fees()
    assert old in text
    # The cases name lines as they were when `targets:` stood on line 26 of the Chinese demo;
    # lines added above it since (comments, keys) move every case down by the same amount.
    line_number += text[: text.index("\ntargets:") + 1].count("\n") + 1 - 26
    with pytest.raises(DealFileError) as caught:
        load_deal(text.replace(old, new, 1), "deal.yaml")
    assert (key, line_number) in [(k, n) for k, n, _ in caught.value.problems], (
        caught.value.problems
    )
    message = next(m for k, n, m in caught.value.problems if (k, n) == (key, line_number))
    assert fragment in message
    assert f"deal.yaml:{line_number}: {key}: " in str(caught.value)


def test_a_performance_fee_needs_weighted_targets() -> None:
    text = re.sub(r"\n    weight: \d+%", "", _with_issue_fees())
    with pytest.raises(DealFileError) as caught:
        load_deal(text, "deal.yaml")
    # Three weight lines removed: the performance term moves up from line 40 to 37.
    assert "deal.yaml:37: fees.performance: the performance fee is paid on the weighted score" in (
        str(caught.value)
    )


def test_trial_terms_may_switch_the_performance_fee_and_the_guarantee_off() -> None:
    text = _with_issue_fees().replace(
        "  guarantee: {on: gmv, at_least: 100000, refund: proportional, of: base}\n",
        "  guarantee: {on: gmv, at_least: 100000, refund: proportional, of: base}\n"
        "  trial_terms: {performance: none, guarantee: none, base: 3000}\n",
    )
    text = text.replace("period: week\n", "period: week\ntrial: {periods: 1}\n")
    deal = load_deal(text)
    assert deal.trial_fees is not None
    assert deal.trial_fees.performance is None and deal.trial_fees.guarantee is None
    assert deal.trial_fees.base == D("3000")
    assert deal.fees.performance is not None and deal.fees.guarantee is not None


def test_a_refused_weighted_target_does_not_also_report_a_wrong_weight_sum() -> None:
    text = _with_issue_fees().replace(
        "    at_least: 3\n    weight: 20%", "    at_least: x\n    weight: 20%"
    )
    with pytest.raises(DealFileError) as caught:
        load_deal(text, "deal.yaml")
    keys = [key for key, _, _ in caught.value.problems]
    assert "targets.roi.at_least" in keys
    assert "targets" not in keys  # no "weights add up to 80%" on top of the real problem


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        (
            "zh",
            [
                "项目文件未通过校验：",
                "deal.yaml:28: targets: KPI 权重合计为 110%（60% + 30% + 20%），应合计 100%，"
                "例如 60% + 20% + 20%",
                "deal.yaml:45: fees.deduction[0].step: "
                "按百分点计档（1pt）仅适用于以百分比填写的目标（如退款率上限 8%）；"
                "其他目标请按目标的百分比计档，例如 step: 10%",
            ],
        ),
        (
            "en",
            [
                "deal file rejected:",
                "deal.yaml:28: targets: the weights add up to 110% (60% + 30% + 20%); they must "
                "add up to 100%, e.g. 60% + 20% + 20%",
                "deal.yaml:45: fees.deduction[0].step: a step in points needs a target written as "
                "a percentage, e.g. at_most: 8%; for other targets write a relative step, "
                "e.g. step: 10%",
            ],
        ),
    ],
)
def test_deal_check_gives_contract_problems_in_the_files_language(
    locale: str, expected: list[str], tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from bot.cli import app

    text = (
        _with_issue_fees()
        .replace("    at_least: 3\n    weight: 20%", "    at_least: 3\n    weight: 30%")
        .replace("{on: refund_rate, step: 1pt,", "{on: gmv, step: 1pt,")
        .replace("locale: zh", f"locale: {locale}")
    )
    path = tmp_path / "deal.yaml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["deal", "check", str(path)])
    assert result.exit_code == 1
    shown = result.output.replace(str(tmp_path) + "/", "").splitlines()
    assert shown == expected
    if locale == "en":  # the English rendering is the error's own text
        with pytest.raises(DealFileError) as caught:
            load_deal(text, "deal.yaml")
        assert str(caught.value).splitlines() == expected
