"""Fuzzing: the chat parsers and the deal-file loader against arbitrary and hostile input.

Each target runs at least 10,000 examples when ``CI=true`` (hypothesis profile
``kpibot-fuzz-ci``) and a quick 300 otherwise (``kpibot-fuzz-dev``); ``KPIBOT_FUZZ_EXAMPLES``
overrides both. Runs are derandomized, so a failure repeats. Each test counts the examples it
really ran, so the figure is proved, not assumed.

What may come out is a value, or the one error type meant for that input: ``UserError`` for
chat text (and then its message renders in English and Chinese, because the router shows it),
``DealFileError`` for a deal file (with every problem's key, line and message). Anything else
would reach a person as a crash, or as silence.
"""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.i18n import catalog, t
from kpi.commands import (
    extract_deal_tag,
    parse_metric_day,
    parse_report,
    parse_what_if,
    split_command,
)
from kpi.dealfile import load_deal
from kpi.errors import UserError
from kpi.numbers import MAX_AMOUNT, MAX_PLACES, parse_amount
from tests.test_dealfile import CHINESE_PATH, EXAMPLE, PAIRS, SCALARS, TRICKY, _loads_or_rejects

settings.register_profile(
    "kpibot-fuzz-ci",
    max_examples=10_000,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "kpibot-fuzz-dev", settings.get_profile("kpibot-fuzz-ci"), max_examples=300
)
_PROFILE = "kpibot-fuzz-ci" if os.environ.get("CI", "").lower() == "true" else "kpibot-fuzz-dev"
FUZZ = settings(
    settings.get_profile(_PROFILE),
    max_examples=int(
        os.environ.get("KPIBOT_FUZZ_EXAMPLES", settings.get_profile(_PROFILE).max_examples)
    ),
)
"""The settings of every target here (not loaded globally: other tests keep theirs)."""

# 10,000 examples take about half a minute per target on an idle core, more on a busy one.
pytestmark = pytest.mark.timeout(900)

EXAMPLE_DEAL = load_deal(EXAMPLE)
CHINESE = CHINESE_PATH.read_text(encoding="utf-8")
CHINESE_DEAL = load_deal(CHINESE)
KNOWN_SETS: list[tuple[str, ...]] = [
    EXAMPLE_DEAL.base_metrics,
    CHINESE_DEAL.base_metrics,
    ("gmv",),
    (),
]
DERIVED = {n: m.formula.text for n, m in EXAMPLE_DEAL.metrics.items() if m.formula is not None}

# -- vocabulary: pieces people type, and pieces that break naive parsers ------------------------

FIGURE_PIECES = [
    *"0123456789", "00", "000", "12", "999", ",", ".", "-", "+", " ", "$", "US$", "¥", "￥",
    "USD", "usd", "CNY", "RMB", "k", "K", "w", "W", "万", "千", "百万", "亿", "m", "M", "元",
    "块", "美元", "１", "２", "０", "．", "，", "e", "E", "e9", "_", "nan", "NaN", "inf",
    "Infinity", "∞", "٣", "𝟓", "²", "½", "\u200b", "\u00a0", "'", "%",
]  # fmt: skip
DATE_WORDS = [
    "today", "今天", "今日", "yesterday", "ytd", "yday", "昨天", "昨日", "前天", "2026-11-19",
    "2026/11/19", "2026.11.19", "2026年11月19日", "2026年11月19号", "11-19", "11/19", "11月19日",
    "2026-02-29", "2028-02-29", "02-29", "2/29", "2月30日", "0000-01-01", "9999-12-31",
    "2026-13-01", "2026-00-10", "13/45", "0-0", "1-1", "12-31", "2026-1-1", "20261119",
    "２０２６－１１－１９", "11.19",
]  # fmt: skip
METRIC_WORDS = [
    "gmv", "GMV", "Gmv", "orders", "spend", "ad_spend", "ad-spend", "Ad Spend", "refunds",
    "viewers", "roi", "aov", "net_gmv", "refund_rate", "成交额", "订单", "投流", "退款",
    "观看", "live_hours", "new_followers", "unknownmetric", "gmv:", "gmv=", "gmv12k",
    "成交额1.2万", "if",
]  # fmt: skip
OTHER_WORDS = [
    "#acme-linkstar-us", "#other-deal", "#", "#-x", "@kpibot", "@other_bot", "<@UBOT>",
    "<@U123ABC>", "<!channel>", "/report", "／report", "/report@kpibot", "\x00", "🙂", "<b>",
    "&amp;", "{0}", "{text}", "}{", "%s", "\\", "\n", "\r\n", "\u2028", "\t", "　",
]  # fmt: skip
SEPARATORS = [" ", "  ", "\n", "\t", "　", "=", ":", "：", ",", "，", ";", "、", "。", ""]

FIGURE_WORDS = [
    "12000", "12,000", "12,000.50", "1.2万", "1.2w", "12k", "12 k", "$12,000", "US$5", "¥5",
    "5元", "5USD", "-5", "+5", "1e5", "12,00", "0.00001", "１２．５万", "nan", "inf", "0",
    "00.0", "1,234,567.8901", "9" * 70, "1" + "0" * 13, "0.5亿", "3百万",
]  # fmt: skip
VOCABULARY = [*METRIC_WORDS, *DATE_WORDS, *OTHER_WORDS, *FIGURE_WORDS, *SEPARATORS]

# Strategies are flat on purpose: hypothesis spends more per example on nested choices than
# the parsers do, and every target runs 10,000 examples in CI.
figure_text = st.one_of(
    st.lists(st.sampled_from(FIGURE_PIECES), min_size=1, max_size=8).map("".join),
    st.integers().map(str),
    st.text(max_size=10),
)
token = st.one_of(st.sampled_from(VOCABULARY), st.text(max_size=5))
args_text = st.one_of(
    st.tuples(st.lists(token, max_size=8), st.sampled_from([" ", "", "\n"])).map(
        lambda parts: parts[1].join(parts[0])
    ),
    st.text(max_size=30),
)
command_text = st.one_of(
    st.tuples(
        st.sampled_from(["", " ", "\n", "/", "／", "@kpibot ", "<@UBOT> ", "@x ", "<@U1> "]),
        st.sampled_from(["report", "kpi", "fee", "REPORT", "上报", "r", "", "report@kpibot"]),
        st.sampled_from(["", " ", "@kpibot", "@other", "\n"]),
        args_text,
    ).map("".join),
    st.text(max_size=40),
)
today = st.integers(min_value=0, max_value=40_000).map(
    lambda n: dt.date(1990, 1, 1) + dt.timedelta(days=n)
)
"""Any day from 1990 to 2099 (one draw: cheaper than ``st.dates``)."""
start_offset = st.integers(min_value=-30, max_value=4000)
"""How many days before ``today`` the deal starts (negative: it starts after today)."""


def check_user_error(exc: UserError) -> None:
    """The router shows it: the code is in the catalog and renders in both languages."""
    assert exc.code in catalog(), exc.code
    for locale in ("en", "zh"):
        assert t(exc.code, locale, **exc.params).strip()


def ran_at_least(runs: list[int]) -> None:
    assert runs[0] >= FUZZ.max_examples, f"only {runs[0]} of {FUZZ.max_examples} examples ran"


# -- the targets --------------------------------------------------------------------------------


def test_parse_amount_gives_a_figure_or_a_user_error() -> None:
    """Proves that any text typed as a figure gives an exact, finite, non-negative value of
    at most four places and at most 10^12, or a UserError whose message renders."""
    runs = [0]

    @FUZZ
    @given(figure_text)
    def fuzz(text: str) -> None:
        runs[0] += 1
        try:
            value = parse_amount(text)
        except UserError as exc:
            assert exc.code.startswith("number.")
            check_user_error(exc)
        else:
            assert value.is_finite() and not value.is_signed()
            assert Decimal(0) <= value <= MAX_AMOUNT
            exponent = value.as_tuple().exponent
            assert isinstance(exponent, int) and -MAX_PLACES <= exponent <= 0

    fuzz()
    ran_at_least(runs)


def test_parse_report_gives_figures_for_one_day_or_a_user_error() -> None:
    """Proves that any ``/report`` arguments, for any deal's metrics and any today and start,
    give distinct known metrics with non-negative values for one day between the deal's
    start and today, or a UserError whose message renders."""
    runs = [0]

    @FUZZ
    @given(args_text, st.sampled_from(KNOWN_SETS), today, start_offset)
    def fuzz(args: str, known: tuple[str, ...], now: dt.date, offset: int) -> None:
        runs[0] += 1
        starts = now - dt.timedelta(days=offset)
        try:
            parsed = parse_report(args, reportable=known, derived=DERIVED, today=now, starts=starts)
        except UserError as exc:
            check_user_error(exc)
        else:
            assert starts <= parsed.day <= now
            assert parsed.values
            metrics = [m for m, _ in parsed.values]
            assert len(set(metrics)) == len(metrics) and set(metrics) <= set(known)
            assert all(v.is_finite() and v >= 0 for _, v in parsed.values)

    fuzz()
    ran_at_least(runs)


def test_split_command_and_deal_tag_never_fail_unexpectedly() -> None:
    """Proves that any message text either is not a command to the bot, or splits into a
    lowercase command word and the rest (a stripped part of the text); and that the deal tag
    is then found, absent, or refused with a UserError whose message renders."""
    runs = [0]

    @FUZZ
    @given(command_text, st.sampled_from([(), ("kpibot", "UBOT")]))
    def fuzz(text: str, names: tuple[str, ...]) -> None:
        runs[0] += 1
        split = split_command(text, names)
        if split is None:
            return
        name, rest = split
        assert name and name == name.lower()
        assert rest == rest.strip() and rest in text
        try:
            tag, without = extract_deal_tag(rest)
        except UserError as exc:
            assert exc.code == "command.two_deals"
            check_user_error(exc)
        else:
            assert without == without.strip()
            assert tag is None or f"#{tag}" not in without.split()

    fuzz()
    ran_at_least(runs)


def test_parse_metric_day_gives_a_known_metric_and_day_or_a_user_error() -> None:
    """Proves that ``/confirm``, ``/dispute`` and ``/history`` arguments give a known metric
    (when one is needed), a day between the start and today, and the rest as typed, or a
    UserError whose message renders."""
    runs = [0]

    @FUZZ
    @given(args_text, st.sampled_from(KNOWN_SETS), today, start_offset, st.booleans())
    def fuzz(args: str, known: tuple[str, ...], now: dt.date, offset: int, need: bool) -> None:
        runs[0] += 1
        starts = now - dt.timedelta(days=offset)
        try:
            metric, day, rest = parse_metric_day(
                args, known=known, today=now, starts=starts, need_metric=need
            )
        except UserError as exc:
            check_user_error(exc)
        else:
            assert metric is not None or not need
            assert metric is None or metric in known
            assert day is None or starts <= day <= now
            assert rest == rest.strip() and rest in args

    fuzz()
    ran_at_least(runs)


def test_parse_what_if_gives_known_totals_or_a_user_error() -> None:
    """Proves that ``/fee if`` arguments give non-negative totals for known metrics, or a
    UserError whose message renders."""
    runs = [0]

    @FUZZ
    @given(args_text, st.sampled_from(KNOWN_SETS))
    def fuzz(args: str, known: tuple[str, ...]) -> None:
        runs[0] += 1
        try:
            totals = parse_what_if(args, known=known)
        except UserError as exc:
            check_user_error(exc)
        else:
            assert totals and set(totals) <= set(known)
            assert all(v.is_finite() and v >= 0 for v in totals.values())

    fuzz()
    ran_at_least(runs)


# -- the deal file ------------------------------------------------------------------------------

scalar_value = st.one_of(
    st.sampled_from(TRICKY),
    st.text(max_size=12),
    figure_text,
    st.sampled_from(DATE_WORDS),
    st.integers(min_value=-5, max_value=500).map(lambda n: f"{n}%"),
    st.tuples(st.integers(0, 30), st.integers(0, 70)).map(lambda hm: f"{hm[0]}:{hm[1]:02d}"),
    st.sampled_from(["telegram:-1001234", "slack:C0AGENCY", "telegram:5001", "console:x"]),
)


@st.composite
def mutated_deal(draw: st.DrawFn) -> str:
    """A demo deal file with one to three edits: a value replaced, a key removed, lines
    dropped, repeated, swapped, re-indented, or text inserted or cut off anywhere."""
    if draw(st.booleans()):
        text = EXAMPLE
        if draw(st.booleans()):
            start, end = draw(st.sampled_from(SCALARS))
            text = text[:start] + draw(scalar_value) + text[end:]
        else:
            start, end = draw(st.sampled_from(PAIRS))
            text = text[:start] + text[end:]
    else:
        text = CHINESE
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        lines = text.splitlines(keepends=True) or [""]
        i = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        edit = draw(st.sampled_from(["drop", "repeat", "swap", "indent", "insert", "cut"]))
        if edit == "drop":
            del lines[i]
        elif edit == "repeat":
            lines.insert(i, lines[i])
        elif edit == "swap":
            j = draw(st.integers(min_value=0, max_value=len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif edit == "indent":
            lines[i] = draw(st.sampled_from(["  ", "    ", "\t", "- "])) + lines[i].lstrip()
        elif edit == "insert":
            at = draw(st.integers(min_value=0, max_value=len(lines[i])))
            lines[i] = lines[i][:at] + draw(st.one_of(scalar_value, token)) + lines[i][at:]
        else:
            at = draw(st.integers(min_value=0, max_value=len(lines[i])))
            lines = [*lines[:i], lines[i][:at]]
        text = "".join(lines)
    return text


def test_deal_loader_accepts_a_deal_or_rejects_it_with_located_problems() -> None:
    """Proves that any edit of the demo deal files (hostile values, missing keys, broken
    YAML structure, truncation) or any text at all gives a deal, or a DealFileError whose
    every problem names a key, a line inside the file, and a message."""
    runs = [0]

    @FUZZ
    @given(st.one_of(mutated_deal(), mutated_deal(), mutated_deal(), st.text(max_size=200)))
    def fuzz(text: str) -> None:
        runs[0] += 1
        _loads_or_rejects(text)

    fuzz()
    ran_at_least(runs)
