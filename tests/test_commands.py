"""Tests of kpi/commands.py: command words, deal tags, metric names, days and argument forms."""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.i18n import catalog, placeholders
from kpi.commands import (
    ReportArgs,
    extract_deal_tag,
    parse_day,
    parse_metric_day,
    parse_report,
    parse_what_if,
    resolve_metric,
    split_command,
)
from kpi.errors import UserError

# Properties run a fixed, moderate number of examples so the suite stays fast and repeatable.
# The "never raises" fuzzers read KPIBOT_FUZZ_EXAMPLES (e.g. 10000 in the proof suite's CI job).
PROPS = settings(max_examples=300, deadline=None, derandomize=True)
FUZZ = settings(
    max_examples=int(os.environ.get("KPIBOT_FUZZ_EXAMPLES", "400")),
    deadline=None,
    derandomize=True,
)

TODAY = dt.date(2026, 11, 20)
STARTS = dt.date(2026, 11, 1)
REPORTABLE = ("gmv", "orders", "ad_spend", "refunds", "viewers")
DERIVED = {"roi": "gmv / ad_spend", "aov": "gmv / orders"}
BOTS = ("kpibot", "U123ABC")


def report(args: str, *, today: dt.date = TODAY, starts: dt.date = STARTS) -> ReportArgs:
    return parse_report(args, reportable=REPORTABLE, derived=DERIVED, today=today, starts=starts)


def error_of(call: object, *args: object, **kwargs: object) -> UserError:
    assert callable(call)
    with pytest.raises(UserError) as caught:
        call(*args, **kwargs)
    return caught.value


def assert_in_catalog(exc: UserError) -> None:
    """The code is in the catalog in both languages, and the params fill every placeholder."""
    texts = catalog()[exc.code]
    for locale in ("en", "zh"):
        assert placeholders(texts[locale]) <= set(exc.params), (exc.code, locale)
        texts[locale].format(**exc.params)


# --- split_command ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/report gmv 12000", ("report", "gmv 12000")),
        ("/report", ("report", "")),
        ("/REPORT gmv 1", ("report", "gmv 1")),
        ("/report@kpibot gmv 12000", ("report", "gmv 12000")),
        ("/report@KpiBot gmv 12000", ("report", "gmv 12000")),
        ("／report gmv 1", ("report", "gmv 1")),
        ("／ｒｅｐｏｒｔ gmv 1", ("report", "gmv 1")),
        ("@kpibot report gmv 1", ("report", "gmv 1")),
        ("@kpibot: report gmv 1", ("report", "gmv 1")),
        ("@kpibot /report gmv 1", ("report", "gmv 1")),
        ("@U123ABC report gmv 1", ("report", "gmv 1")),  # Slack's <@U123ABC>, as its adapter
        ("@U123ABC, report gmv 1", ("report", "gmv 1")),  # writes it (tests/test_slack.py)
        ("  \n /report   gmv\n12000  \n", ("report", "gmv\n12000")),
        ("/report\ngmv 1", ("report", "gmv 1")),
        ("/dispute gmv   Their  Figure is WRONG", ("dispute", "gmv   Their  Figure is WRONG")),
        ("/fee if gmv 60000", ("fee", "if gmv 60000")),
        ("/报告 gmv 1", ("报告", "gmv 1")),
    ],
)
def test_split_command(text: str, expected: tuple[str, str]) -> None:
    assert split_command(text, BOTS) == expected
    assert split_command(text) == expected  # no names configured: every mention is us


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n",
        "report gmv 12000",  # no slash, no mention
        "hello everyone",
        "/ report",
        "//report",
        "/usr/bin/env",
        "/12 is a fraction",
        "@kpibot",
        "@U123ABC",
        "gmv 12000 /report",
    ],
)
def test_not_a_command(text: str) -> None:
    assert split_command(text, BOTS) is None
    assert split_command(text) is None


@pytest.mark.parametrize(
    "text",
    ["/report@otherbot gmv 1", "@alice report gmv 1", "@U999XYZ report gmv 1"],
)
def test_commands_to_another_bot_are_ignored_only_when_names_are_known(text: str) -> None:
    assert split_command(text, BOTS) is None
    assert split_command(text) is not None


# --- extract_deal_tag -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("#acme-us gmv 12000", ("acme-us", "gmv 12000")),
        ("gmv 12000 #acme-us", ("acme-us", "gmv 12000")),
        ("gmv #acme 12000", ("acme", "gmv 12000")),
        ("＃acme gmv 1", ("acme", "gmv 1")),
        ("#acme", ("acme", "")),
        ("#acme #acme gmv 1", ("acme", "gmv 1")),
        ("gmv 12000", (None, "gmv 12000")),
        ("gmv  12000 ", (None, "gmv  12000")),
        ("", (None, "")),
        ("# gmv", (None, "# gmv")),
        ("C# is a language", (None, "C# is a language")),
        ("<#C123|general>", (None, "<#C123|general>")),
    ],
)
def test_extract_deal_tag(args: str, expected: tuple[str | None, str]) -> None:
    assert extract_deal_tag(args) == expected


def test_two_different_deal_tags_are_refused() -> None:
    exc = error_of(extract_deal_tag, "#acme gmv 1 #other")
    assert exc.code == "command.two_deals"
    assert exc.params == {"first": "acme", "second": "other"}
    assert_in_catalog(exc)


# --- resolve_metric ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("gmv", "gmv"),
        ("GMV", "gmv"),
        ("Gmv", "gmv"),
        ("ＧＭＶ", "gmv"),
        ("ad_spend", "ad_spend"),
        ("ad-spend", "ad_spend"),
        ("spend", "ad_spend"),
        ("adspend", "ad_spend"),
        ("AdSpend", "ad_spend"),
        ("refund", "refunds"),
        ("order", "orders"),
        ("成交额", "gmv"),
        ("销售额", "gmv"),
        ("订单", "orders"),
        ("订单数", "orders"),
        ("投流", "ad_spend"),
        ("消耗", "ad_spend"),
        ("广告费", "ad_spend"),
        ("退款", "refunds"),
        ("观看", "viewers"),
        ("观看人数", "viewers"),
        # The style guide's labels and the words operators type (zh-strings.md 3.1).
        ("成交金额", "gmv"),
        ("支付金额", "gmv"),
        ("成交订单", "orders"),
        ("广告消耗", "ad_spend"),
        ("广告", "ad_spend"),
        ("投放", "ad_spend"),
        ("退款金额", "refunds"),
        ("场观", "viewers"),
    ],
)
def test_resolve_metric(word: str, expected: str) -> None:
    assert resolve_metric(word, REPORTABLE) == expected


@pytest.mark.parametrize(
    ("word", "expected"),
    [("退款后成交额", "net_gmv"), ("投产", "roi"), ("投产比", "roi"), ("成交转化率", "cvr")],
)
def test_chinese_words_name_the_derived_metrics_too(word: str, expected: str) -> None:
    assert resolve_metric(word, {"net_gmv", "roi", "cvr"}) == expected


def test_alias_resolves_only_to_a_known_metric() -> None:
    exc = error_of(resolve_metric, "spend", ("gmv", "orders"))
    assert exc.code == "report.unknown_metric"
    assert exc.params == {"word": "spend", "known": "gmv, orders"}
    assert_in_catalog(exc)


def test_a_deal_may_define_an_alias_word_as_its_own_metric() -> None:
    assert resolve_metric("spend", ("spend", "ad_spend")) == "spend"


def test_unknown_metric_lists_known_names_sorted() -> None:
    exc = error_of(resolve_metric, "gvm", ("orders", "gmv", "ad_spend"))
    assert exc.params == {"word": "gvm", "known": "ad_spend, gmv, orders"}


# --- parse_day --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("today", TODAY),
        ("Today", TODAY),
        ("今天", TODAY),
        ("yesterday", dt.date(2026, 11, 19)),
        ("YESTERDAY", dt.date(2026, 11, 19)),
        ("ytd", dt.date(2026, 11, 19)),
        ("昨天", dt.date(2026, 11, 19)),
        ("前天", dt.date(2026, 11, 18)),
        ("2026-11-20", TODAY),
        ("2026/11/20", TODAY),
        ("2026.11.20", TODAY),
        ("2026-1-5", dt.date(2026, 1, 5)),
        ("2025-12-31", dt.date(2025, 12, 31)),
        ("2026年11月20日", TODAY),
        ("11-20", TODAY),
        ("11/20", TODAY),
        ("1/5", dt.date(2026, 1, 5)),
        ("11月19日", dt.date(2026, 11, 19)),
        ("11月19号", dt.date(2026, 11, 19)),
        ("２０２６－１１－２０", TODAY),
    ],
)
def test_parse_day(word: str, expected: dt.date) -> None:
    assert parse_day(word, today=TODAY) == expected


def test_relative_days_cross_year_boundaries() -> None:
    assert parse_day("前天", today=dt.date(2027, 1, 1)) == dt.date(2026, 12, 30)


@pytest.mark.parametrize(
    "word", ["gmv", "12000", "11.20", "20261120", "1.2万", "", "2026-11", "11-20-2026"]
)
def test_not_a_day(word: str) -> None:
    assert parse_day(word, today=TODAY) is None


@pytest.mark.parametrize(
    ("word", "day"), [("tomorrow", "2026-11-21"), ("明天", "2026-11-21"), ("后天", "2026-11-22")]
)
def test_a_future_day_by_name_is_refused_as_future_not_as_an_unknown_word(
    word: str, day: str
) -> None:
    with pytest.raises(UserError) as info:
        parse_day(word, today=TODAY)
    assert (info.value.code, info.value.params) == (
        "report.future_date",
        {"day": day, "today": TODAY.isoformat()},
    )


def test_a_figure_grouped_with_a_space_is_refused_with_the_figure_to_write() -> None:
    exc = error_of(report, "gmv 12 000")
    assert (exc.code, exc.params) == ("report.spaced_figure", {"text": "12 000", "joined": "12000"})


@pytest.mark.parametrize(
    ("word", "code", "params"),
    [
        ("2026-02-30", "report.bad_date", {"word": "2026-02-30"}),
        ("2026-13-01", "report.bad_date", {"word": "2026-13-01"}),
        ("0000-01-01", "report.bad_date", {"word": "0000-01-01"}),
        ("20/11", "report.bad_date", {"word": "20/11"}),
        ("2026-11-21", "report.future_date", {"day": "2026-11-21", "today": "2026-11-20"}),
        ("11-21", "report.future_date", {"day": "2026-11-21", "today": "2026-11-20"}),
        ("12月1日", "report.future_date", {"day": "2026-12-01", "today": "2026-11-20"}),
    ],
)
def test_bad_days(word: str, code: str, params: dict[str, str]) -> None:
    exc = error_of(parse_day, word, today=TODAY)
    assert (exc.code, exc.params) == (code, params)
    assert_in_catalog(exc)


# --- parse_report -----------------------------------------------------------------------------

Y = dt.date(2026, 11, 19)


@pytest.mark.parametrize(
    ("args", "day", "values"),
    [
        ("gmv 12000", TODAY, [("gmv", "12000")]),
        ("gmv 12,000.50", TODAY, [("gmv", "12000.50")]),
        ("gmv 12k", TODAY, [("gmv", "12000")]),
        ("gmv 1.2w", TODAY, [("gmv", "12000")]),
        ("gmv 1.2万", TODAY, [("gmv", "12000")]),
        ("gmv $12,000", TODAY, [("gmv", "12000")]),
        ("gmv $ 12,000", TODAY, [("gmv", "12000")]),
        ("gmv 12000 USD", TODAY, [("gmv", "12000")]),
        (
            "gmv 12000 orders 340 ad_spend 2100",
            TODAY,
            [("gmv", "12000"), ("orders", "340"), ("ad_spend", "2100")],
        ),
        (
            "gmv 12k orders 340 spend 2100",
            TODAY,
            [("gmv", "12000"), ("orders", "340"), ("ad_spend", "2100")],
        ),
        ("gmv 12000 yesterday", Y, [("gmv", "12000")]),
        ("gmv 12000 2026-11-20", TODAY, [("gmv", "12000")]),
        ("gmv 12000 2026-11-01", STARTS, [("gmv", "12000")]),
        ("yesterday gmv 12000", Y, [("gmv", "12000")]),
        ("gmv 12000 昨天", Y, [("gmv", "12000")]),
        ("gmv=12000", TODAY, [("gmv", "12000")]),
        ("gmv:12000", TODAY, [("gmv", "12000")]),
        ("gmv = 12000", TODAY, [("gmv", "12000")]),
        ("gmv：12000", TODAY, [("gmv", "12000")]),
        ("gmv=12000, orders=340", TODAY, [("gmv", "12000"), ("orders", "340")]),
        ("成交额 1.2万 订单 340", TODAY, [("gmv", "12000"), ("orders", "340")]),
        ("成交额1.2万，订单340", TODAY, [("gmv", "12000"), ("orders", "340")]),
        ("成交额 3万 广告消耗 8000", TODAY, [("gmv", "30000"), ("ad_spend", "8000")]),
        (
            "成交额 3万 广告 8000 场观 1.3万",
            TODAY,
            [("gmv", "30000"), ("ad_spend", "8000"), ("viewers", "13000")],
        ),
        ("gmv 1.2 万", TODAY, [("gmv", "12000")]),
        ("gmv 1.2 万元 orders 3", TODAY, [("gmv", "12000"), ("orders", "3")]),
        ("GMV 5 Spend 3", TODAY, [("gmv", "5"), ("ad_spend", "3")]),
        # A name written as two words, as people type it.
        (
            "GMV 12k orders 340 ad spend 2100",
            TODAY,
            [("gmv", "12000"), ("orders", "340"), ("ad_spend", "2100")],
        ),
        ("Ad Spend 2100 yesterday", Y, [("ad_spend", "2100")]),
        ("gmv 12000.", TODAY, [("gmv", "12000")]),
        ("gmv 0", TODAY, [("gmv", "0")]),
        ("\n gmv\t12000 \n orders 3 ", TODAY, [("gmv", "12000"), ("orders", "3")]),
        ("ｇｍｖ　１２０００", TODAY, [("gmv", "12000")]),
    ],
)
def test_report_forms(args: str, day: dt.date, values: list[tuple[str, str]]) -> None:
    parsed = report(args)
    assert parsed == ReportArgs(day=day, values=tuple((m, Decimal(v)) for m, v in values))


@pytest.mark.parametrize(
    ("args", "code", "params"),
    [
        ("", "report.usage", {}),
        ("   ", "report.usage", {}),
        ("yesterday", "report.usage", {}),
        ("gmv", "report.missing_value", {"metric": "gmv"}),
        ("gmv orders 340", "report.missing_value", {"metric": "gmv"}),
        ("gmv yesterday 12000", "report.missing_value", {"metric": "gmv"}),
        ("gmv 2026-11-19 12000", "report.missing_value", {"metric": "gmv"}),
        ("gmv 11/19 12000", "report.missing_value", {"metric": "gmv"}),
        ("gmv-5", "number.negative", {"text": "-5"}),
        ("orders 3 gmv", "report.missing_value", {"metric": "gmv"}),
        ("12000", "report.value_without_metric", {"value": "12000"}),
        ("12000 gmv", "report.value_without_metric", {"value": "12000"}),
        ("gmv 1 2", "report.value_without_metric", {"value": "2"}),
        ("万", "report.value_without_metric", {"value": "万"}),
        (
            "roi 3",
            "report.derived_metric",
            {
                "metric": "roi",
                "formula": "gmv / ad_spend",
                "inputs": "gmv, ad_spend",
                "pairs": "gmv 12000 ad_spend 2000",
            },
        ),
        (
            "gmv 1 AOV 3",
            "report.derived_metric",
            {
                "metric": "aov",
                "formula": "gmv / orders",
                "inputs": "gmv, orders",
                "pairs": "gmv 12000 orders 2000",
            },
        ),
        ("gmv 1 gmv 2", "report.duplicate_metric", {"metric": "gmv"}),
        ("gmv 1 GMV 2", "report.duplicate_metric", {"metric": "gmv"}),
        ("spend 1 ad_spend 2", "report.duplicate_metric", {"metric": "ad_spend"}),
        (
            "gmv 1 yesterday today",
            "report.two_dates",
            {"first": "2026-11-19", "second": "2026-11-20"},
        ),
        (
            "gmv 1 2026-12-01",
            "report.future_date",
            {"day": "2026-12-01", "today": "2026-11-20"},
        ),
        (
            "gmv 1 11-21",
            "report.future_date",
            {"day": "2026-11-21", "today": "2026-11-20"},
        ),
        (
            "gmv 1 2026-10-31",
            "report.before_start",
            {"day": "2026-10-31", "starts": "2026-11-01"},
        ),
        ("gmv 1 2026-02-30", "report.bad_date", {"word": "2026-02-30"}),
        (
            "gvm 12000",
            "report.unknown_metric",
            {"word": "gvm", "known": "ad_spend, gmv, orders, refunds, viewers"},
        ),
        ("gmv 1 tomorrow", "report.future_date", {"day": "2026-11-21", "today": "2026-11-20"}),
        ("gmv -12000", "number.negative", {"text": "-12000"}),
        ("gmv 12,00", "number.not_a_number", {"text": "12,00"}),
        ("gmv abc", "number.not_a_number", {"text": "abc"}),
        ("gmv 12_000", "number.not_a_number", {"text": "12_000"}),
        ("gmv nan", "number.not_finite", {"text": "nan"}),
        ("gmv inf", "number.not_finite", {"text": "inf"}),
        ("gmv 2000000000000", "number.too_large", {"text": "2000000000000"}),
        ("gmv 1.000001", "number.too_precise", {"text": "1.000001"}),
    ],
)
def test_report_errors(args: str, code: str, params: dict[str, str]) -> None:
    exc = error_of(report, args)
    assert (exc.code, exc.params) == (code, params)
    assert_in_catalog(exc)


def test_derived_message_says_what_to_report_instead() -> None:
    from bot.core.i18n import t

    exc = error_of(report, "roi 3")
    text = t(exc.code, "en", **exc.params)
    assert "it is computed from gmv / ad_spend" in text
    assert text.endswith("e.g. /report gmv 12000 ad_spend 2000")


def test_a_derived_metric_suggests_reporting_its_own_inputs_not_an_unrelated_example() -> None:
    derived = {"net_gmv": "gmv - refunds", "refund_rate": "refunds / gmv"}
    for args in ("net_gmv 100", "refund_rate 5%"):
        with pytest.raises(UserError) as caught:
            parse_report(args, reportable=REPORTABLE, derived=derived, today=TODAY, starts=STARTS)
        # In the deal's order (gmv first), whatever order the formula reads them in.
        assert caught.value.params["pairs"] == "gmv 12000 refunds 2000"
        assert "ad_spend" not in caught.value.params["pairs"]


def test_a_derived_metric_of_derived_metrics_names_the_reported_ones() -> None:
    derived = {"net_gmv": "gmv - refunds", "net_roi": "net_gmv / ad_spend"}
    with pytest.raises(UserError) as caught:
        parse_report(
            "net_roi 2", reportable=REPORTABLE, derived=derived, today=TODAY, starts=STARTS
        )
    assert caught.value.params["inputs"] == "gmv, ad_spend, refunds"


def test_fee_if_on_a_derived_metric_says_it_is_computed_and_gives_its_inputs() -> None:
    with pytest.raises(UserError) as caught:
        parse_what_if("roi 3", known=REPORTABLE, derived=DERIVED)
    assert caught.value.code == "fee.if_derived_metric"
    assert caught.value.params["pairs"] == "gmv 12000 ad_spend 2000"


@pytest.mark.parametrize(
    "period", ["2026-11", "2026-W45", "2026-Q4", "2026-11-20", "2026年11月", "2026年第45周"]
)
def test_fee_if_with_a_period_says_it_takes_none_instead_of_suggesting_it_as_a_figure(
    period: str,
) -> None:
    with pytest.raises(UserError) as caught:
        parse_what_if(f"gmv 5 {period}", known=REPORTABLE, derived=DERIVED)
    assert (caught.value.code, caught.value.params) == ("fee.if_period", {"value": period})


def test_a_six_digit_what_if_figure_is_not_taken_for_a_period() -> None:
    assert parse_what_if("gmv 202611", known=REPORTABLE) == {"gmv": Decimal(202611)}


def test_a_metric_the_deal_reports_is_not_derived_even_if_named_so() -> None:
    parsed = parse_report("roi 3", reportable=("roi",), derived={}, today=TODAY, starts=STARTS)
    assert parsed.values == (("roi", Decimal(3)),)


# --- parse_metric_day -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "need", "expected"),
    [
        ("gmv", True, ("gmv", None, "")),
        ("GMV yesterday", True, ("gmv", Y, "")),
        ("yesterday gmv", True, ("gmv", Y, "")),
        ("spend 2026-11-18", True, ("ad_spend", dt.date(2026, 11, 18), "")),
        (
            "gmv yesterday  Their Figure  misses the 2nd live ",
            True,
            ("gmv", Y, "Their Figure  misses the 2nd live"),
        ),
        ("gmv: the number is wrong", True, ("gmv", None, "the number is wrong")),
        ("gmv : wrong", True, ("gmv", None, "wrong")),
        ("gmv 昨天 数据不对", True, ("gmv", Y, "数据不对")),
        ("gmv orders", True, ("gmv", None, "orders")),  # a second metric starts the reason
        ("", False, (None, None, "")),
        ("gmv", False, ("gmv", None, "")),
        ("yesterday", False, (None, Y, "")),
        ("11-19 orders", False, ("orders", Y, "")),
        ("whatever else", False, (None, None, "whatever else")),
    ],
)
def test_parse_metric_day(
    args: str, need: bool, expected: tuple[str | None, dt.date | None, str]
) -> None:
    got = parse_metric_day(args, known=REPORTABLE, today=TODAY, starts=STARTS, need_metric=need)
    assert got == expected


@pytest.mark.parametrize(
    ("args", "code", "params"),
    [
        ("", "command.missing_metric", {"known": "ad_spend, gmv, orders, refunds, viewers"}),
        (
            "yesterday",
            "command.missing_metric",
            {"known": "ad_spend, gmv, orders, refunds, viewers"},
        ),
        (
            "gvm yesterday",
            "command.unknown_metric",
            {"word": "gvm", "known": "ad_spend, gmv, orders, refunds, viewers"},
        ),
        (
            "gmv 2026-12-01",
            "report.future_date",
            {"day": "2026-12-01", "today": "2026-11-20"},
        ),
        (
            "gmv 2026-10-01",
            "report.before_start",
            {"day": "2026-10-01", "starts": "2026-11-01"},
        ),
        (
            "yesterday today gmv",
            "report.two_dates",
            {"first": "2026-11-19", "second": "2026-11-20"},
        ),
        ("gmv 2026-02-30", "report.bad_date", {"word": "2026-02-30"}),
    ],
)
def test_parse_metric_day_errors(args: str, code: str, params: dict[str, str]) -> None:
    exc = error_of(
        parse_metric_day, args, known=REPORTABLE, today=TODAY, starts=STARTS, need_metric=True
    )
    assert (exc.code, exc.params) == (code, params)
    assert_in_catalog(exc)


# --- parse_what_if ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("gmv 60000", {"gmv": "60000"}),
        ("gmv 60000 refunds 2000", {"gmv": "60000", "refunds": "2000"}),
        ("gmv 6万 退款 2k", {"gmv": "60000", "refunds": "2000"}),
        ("gmv=60,000.50", {"gmv": "60000.50"}),
    ],
)
def test_parse_what_if(args: str, expected: dict[str, str]) -> None:
    got = parse_what_if(args, known=REPORTABLE)
    assert got == {m: Decimal(v) for m, v in expected.items()}
    assert list(got) == list(expected)  # the order typed


@pytest.mark.parametrize(
    ("args", "code", "params"),
    [
        ("", "fee.if_usage", {}),
        ("gmv", "fee.if_missing_value", {"metric": "gmv"}),
        ("60000", "fee.if_value_without_metric", {"value": "60000"}),
        ("gmv 1 gmv 2", "fee.if_duplicate_metric", {"metric": "gmv"}),
        (
            "gvm 1",
            "fee.if_unknown_metric",
            {"word": "gvm", "known": "ad_spend, gmv, orders, refunds, viewers"},
        ),
        (
            "gmv 1 yesterday",  # a what-if is about period totals, not a day
            "fee.if_unknown_metric",
            {"word": "yesterday", "known": "ad_spend, gmv, orders, refunds, viewers"},
        ),
        ("gmv -5", "number.negative", {"text": "-5"}),
    ],
)
def test_parse_what_if_errors(args: str, code: str, params: dict[str, str]) -> None:
    exc = error_of(parse_what_if, args, known=REPORTABLE)
    assert (exc.code, exc.params) == (code, params)
    assert_in_catalog(exc)


# --- the catalog ------------------------------------------------------------------------------

RAISED = {
    "number.not_a_number",
    "number.negative",
    "number.not_finite",
    "number.too_large",
    "number.too_precise",
    "report.usage",
    "report.missing_value",
    "report.value_without_metric",
    "report.unknown_metric",
    "report.derived_metric",
    "report.duplicate_metric",
    "report.two_dates",
    "report.bad_date",
    "report.future_date",
    "report.before_start",
    "fee.if_usage",
    "fee.if_missing_value",
    "fee.if_value_without_metric",
    "fee.if_unknown_metric",
    "fee.if_derived_metric",
    "fee.if_period",
    "fee.if_duplicate_metric",
    "command.missing_metric",
    "command.unknown_metric",
    "command.two_deals",
}


@pytest.mark.parametrize("code", sorted(RAISED))
def test_every_code_has_both_languages_and_shows_a_right_form(code: str) -> None:
    texts = catalog()[code]
    assert placeholders(texts["en"]) == placeholders(texts["zh"])
    for locale in ("en", "zh"):
        # Each rejection shows a correct example: a command, a figure or a date.
        signs = ("/", "12000", "2026-11-20", "{starts}", "{today}")
        assert any(sign in texts[locale] for sign in signs)


# --- properties -------------------------------------------------------------------------------

_VOCAB = [
    "gmv", "GMV", "orders", "spend", "ad_spend", "roi", "成交额", "订单", "yesterday", "昨天",
    "today", "2026-11-19", "2026-12-01", "2026-02-30", "11-19", "11/21", "12000", "12,000.50",
    "12k", "1.2万", "1.2", "万", "w", "$", "USD", "元", "-5", "nan", "inf", "=", ":", ",", "，",
    "#acme", "@kpibot", "<@U123ABC>", "/report", "／report", "\n", "　", "12,00", "1e5",
]  # fmt: skip
_messy = st.one_of(
    st.text(),
    st.lists(st.one_of(st.sampled_from(_VOCAB), st.text(max_size=6)), max_size=8).map(" ".join),
)


@FUZZ
@given(_messy)
def test_report_never_raises_anything_but_user_error(args: str) -> None:
    try:
        parsed = report(args)
    except UserError as exc:
        assert exc.code in RAISED
    else:
        assert STARTS <= parsed.day <= TODAY
        assert parsed.values
        assert len({m for m, _ in parsed.values}) == len(parsed.values)
        assert all(m in REPORTABLE and v >= 0 for m, v in parsed.values)


@FUZZ
@given(_messy, st.booleans())
def test_metric_day_never_raises_anything_but_user_error(args: str, need: bool) -> None:
    try:
        metric, day, rest = parse_metric_day(
            args, known=REPORTABLE, today=TODAY, starts=STARTS, need_metric=need
        )
    except UserError as exc:
        assert exc.code in RAISED
    else:
        assert metric is None or metric in REPORTABLE
        assert day is None or STARTS <= day <= TODAY
        assert rest == rest.strip()
        assert rest in args


@FUZZ
@given(_messy)
def test_what_if_never_raises_anything_but_user_error(args: str) -> None:
    try:
        parsed = parse_what_if(args, known=REPORTABLE)
    except UserError as exc:
        assert exc.code in RAISED
    else:
        assert parsed
        assert set(parsed) <= set(REPORTABLE)


@FUZZ
@given(_messy, st.sampled_from([(), BOTS]))
def test_split_command_never_raises(text: str, names: tuple[str, ...]) -> None:
    split = split_command(text, names)
    if split is not None:
        name, rest = split
        assert name == name.lower() and name
        assert rest == rest.strip()
        assert rest in text


@FUZZ
@given(_messy)
def test_deal_tag_never_raises_anything_but_user_error(args: str) -> None:
    try:
        tag, rest = extract_deal_tag(args)
    except UserError as exc:
        assert exc.code == "command.two_deals"
    else:
        assert rest == rest.strip()
        assert tag is None or f"#{tag}" not in rest.split()


_FORMS = [
    lambda d: f"{d}",
    lambda d: f"{d:,}",
    lambda d: f"${d:,}",
    lambda d: f"{d} USD",
    lambda d: f"{d}元",
]


@PROPS
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["gmv", "orders", "ad_spend", "refunds", "viewers"]),
            st.decimals(min_value=0, max_value=10**9, places=2),
            st.sampled_from(range(len(_FORMS))),
            st.sampled_from([" ", "=", ":", "  "]),
        ),
        min_size=1,
        max_size=5,
        unique_by=lambda item: item[0],
    ),
    st.sampled_from([None, "yesterday", "昨天", "2026-11-05", "11/19"]),
    st.booleans(),
)
def test_generated_reports_read_back(
    pairs: list[tuple[str, Decimal, int, str]], day_word: str | None, day_first: bool
) -> None:
    words = [f"{metric}{sep}{_FORMS[form](value)}" for metric, value, form, sep in pairs]
    if day_word is not None:
        words.insert(0 if day_first else len(words), day_word)
    parsed = report(" ".join(words))
    assert parsed.values == tuple((metric, value) for metric, value, _, _ in pairs)
    expected_day = {
        None: TODAY,
        "yesterday": Y,
        "昨天": Y,
        "2026-11-05": dt.date(2026, 11, 5),
        "11/19": Y,
    }[day_word]
    assert parsed.day == expected_day


@PROPS
@given(
    st.sampled_from(["report", "kpi", "fee", "history", "confirm", "dispute", "ack"]),
    st.text(max_size=30),
    st.sampled_from(["/{c}", "/{c}@kpibot", "／{c}", "@kpibot {c}", "@U123ABC {c}"]),
)
def test_split_command_keeps_the_rest(command: str, rest: str, form: str) -> None:
    text = form.format(c=command) + " " + rest
    assert split_command(text, BOTS) == (command, rest.strip())
