"""Issue 18 through the bot: the score in /kpi and /fee, each bonus and deduction on its own
line, points, the guarantee, and "the agency owes the seller" in both languages."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_fee_replay import SHANGHAI, WANXIANG, Script, one_reply, play

SHARED, SELLER, AGENCY = "telegram:-1003344556677", "telegram:710200301", "telegram:583920114"

# The issue's fee terms on the Chinese demo deal's metrics and 60/20/20 targets.
ISSUE_FEES = """fees:
  base: 5000
  performance: {amount: 8000, floor: 60%, cap: 120%}
  bonus:
    - {when: [gmv], amount: 500}
    - {when: [gmv, roi], amount: 1000}
  deduction:
    - {on: refund_rate, step: 1pt, per_step: 5%, of: base, cap: 50%}
  guarantee: {on: gmv, at_least: 100000, refund: proportional, of: base}
"""


def deal(locale: str) -> str:
    start, end = WANXIANG.index("fees:\n"), WANXIANG.index("\nmembers:")
    return (WANXIANG[:start] + ISSUE_FEES + WANXIANG[end:]).replace(
        "locale: zh", f"locale: {locale}"
    )


def week(script: Script, report: str) -> None:
    """Both sides report the same figures on Monday 2026-11-02, so they count."""
    script.say((11, 2, 21), SHARED, SELLER, report, "王总")
    script.say((11, 2, 21, 5), SHARED, AGENCY, report, "林晓")


@pytest.mark.parametrize("locale", ["en", "zh"])
def test_a_guarantee_larger_than_the_fee_says_the_agency_owes_the_seller(
    locale: str, tmp_path: Path
) -> None:
    """One day of the week reported: gmv 20,000, refunds 4,000, ad spend 10,000.

    Score: gmv 20,000 / 150,000 = 13.3% × 60% = 8%; roi 2 / 3 = 66.7% × 20% = 13.3%; refund
    rate 8% / 20% = 40% × 20% = 8%: 29.3% < the 60% floor → performance 0. Bonuses unmet.
    Deduction: 20% against 8% = 12 points → 12 × 5% × 5,000 = 3,000, capped at 50% = 2,500.
    Guarantee: 20,000 is 80% short of 100,000 → 80% × base 5,000 = 4,000.
    Total 5,000 - 2,500 - 4,000 = -1,500.00: the agency owes the seller 1,500.00.
    """
    script = Script(SHANGHAI)
    week(script, "/report gmv 20000 refunds 4000 ad_spend 10000 orders 100 viewers 5000")
    kpi = script.say((11, 2, 22), SHARED, SELLER, "/kpi")
    statement = script.say((11, 10, 10), SHARED, SELLER, "/statement 2026-W45")
    sent = play(deal(locale), script, tmp_path)

    kpi_text = one_reply(sent, kpi)
    text = one_reply(sent, statement)
    if locale == "en":
        assert (
            "Weighted score to date: 29.3% (gmv 13.3% × 60% = 8%, roi 66.7% × 20% = 13.3%, "
            "refund_rate 40% × 20% = 8%)"
        ) in kpi_text
        assert "performance fee: score = gmv 13.3% × 60% + roi 66.7% × 20% + refund_rate" in text
        assert "= 29.3%, below the 60% floor: none: CNY 0.00" in text
        assert "over the 8.0% limit by 12pt → 12 step(s) × 5% of base CNY 5,000.00" in text
        assert "(capped at CNY 2,500.00, the plan's cap): CNY -2,500.00" in text
        assert (
            "guarantee: gmv 20,000 is 80% short of 100,000 → refund 80% of the base "
            "CNY 5,000.00: CNY -4,000.00"
        ) in text
        assert "Total: CNY -1,500.00" in text
        assert "The agency owes the seller CNY 1,500.00" in text
    else:
        assert (
            "KPI 加权得分（截至目前）：29.3%（成交额 13.3% × 60% = 8%、ROI 66.7% × 20% = 13.3%、"
            "退款率 40% × 20% = 8%）"
        ) in kpi_text
        assert "= 29.3%，低于 60% 门槛，不计）：¥0.00" in text
        assert "超出上限 8.0%，超出 12 个百分点，12 档 × 5% × 基础服务费 ¥5,000.00）" in text
        assert (
            "• 对赌退款（成交额 20,000，低于保量 100,000，差额为保量的 80% → "
            "退还基础服务费 ¥5,000.00 的 80%）："
            "-¥4,000.00"
        ) in text
        assert "服务商应退还卖家 ¥1,500.00（对赌退款超过服务费）" in text


def test_each_bonus_is_its_own_line_and_a_missing_figure_earns_no_credit(tmp_path: Path) -> None:
    """gmv 160,000, ad spend 50,000 (roi 3.2), refunds not reported (refund rate undefined).

    Score: gmv 160,000 / 150,000 = 106.7% × 60% = 64%; roi 3.2 / 3 = 106.7% × 20% = 21.3%;
    refund rate: no figure, no credit → 85.3%; performance 8,000 × 85.3...% = 6,826.67.
    Both bonuses met: 500 and 1,000. Deduction: refund rate undefined, none. Guarantee met.
    """
    script = Script(SHANGHAI)
    week(script, "/report gmv 160000 ad_spend 50000 orders 100 viewers 5000")
    statement = script.say((11, 10, 10), SHARED, SELLER, "/statement 2026-W45")
    sent = play(deal("en"), script, tmp_path)
    text = one_reply(sent, statement)
    assert "refund_rate — × 20% = 85.3% (refund_rate: no figure, no credit)" in text
    assert ": CNY 6,826.67" in text
    assert "• bonus: targets met (gmv): CNY 500.00" in text
    assert "• bonus: targets met (gmv, roi): CNY 1,000.00" in text
    assert "guarantee: gmv 160,000, at least 100,000: met, no refund: CNY 0.00" in text
    assert "Total: CNY 13,326.67" in text


def test_kpi_before_any_figure_says_the_score_has_no_figures_yet(tmp_path: Path) -> None:
    script = Script(SHANGHAI)
    kpi = script.say((11, 2, 10), SHARED, SELLER, "/kpi")
    sent = play(deal("zh"), script, tmp_path)
    text = one_reply(sent, kpi)
    assert "KPI 加权得分：暂无数据" in text
    assert "× 60% = 0" not in text


def test_a_guarantee_on_a_metric_without_a_target_says_what_it_does(tmp_path: Path) -> None:
    """Guarantee: at least 1,000 orders a week. Monday's 100 orders project to 700 over 7
    days: 30% short → 30% of base 5,000 = 1,500 refunded at this pace."""
    text = deal("en").replace(
        "{on: gmv, at_least: 100000, refund: proportional, of: base}",
        "{on: orders, at_least: 1000, refund: proportional, of: base}",
    )
    script = Script(SHANGHAI)
    week(script, "/report gmv 20000 refunds 1000 ad_spend 5000 orders 100 viewers 5000")
    fee = script.say((11, 2, 22), SHARED, SELLER, "/fee")
    sent = play(text, script, tmp_path)
    assert (
        "• at this pace orders ends at 700, below the guaranteed 1,000: guarantee refund "
        "CNY -1,500.00"
    ) in one_reply(sent, fee)
