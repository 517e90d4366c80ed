"""Tests of kpi/numbers.py: every accepted way of typing a figure, every rejection, properties."""

from __future__ import annotations

import os
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpi.errors import UserError
from kpi.numbers import (
    MAX_AMOUNT,
    fold_width,
    format_plain,
    is_unit_token,
    looks_numeric,
    parse_amount,
)

# Properties run a fixed, moderate number of examples so the suite stays fast and repeatable.
# The "never raises" fuzzers read KPIBOT_FUZZ_EXAMPLES (e.g. 10000 in the proof suite's CI job).
PROPS = settings(max_examples=300, deadline=None, derandomize=True)
FUZZ = settings(
    max_examples=int(os.environ.get("KPIBOT_FUZZ_EXAMPLES", "400")),
    deadline=None,
    derandomize=True,
)

NUMBER_CODES = {
    "number.not_a_number",
    "number.negative",
    "number.not_finite",
    "number.too_large",
    "number.too_precise",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12000", "12000"),
        ("0", "0"),
        ("12,000.50", "12000.50"),  # the written scale is kept
        ("1,234,567.8901", "1234567.8901"),
        ("12000.5", "12000.5"),
        ("12k", "12000"),
        ("12K", "12000"),
        ("1.5k", "1500"),
        ("1.23456k", "1234.56"),
        ("1.2w", "12000"),
        ("1.2W", "12000"),
        ("1.2万", "12000"),
        ("12萬", "120000"),
        ("3千", "3000"),
        ("3亿", "300000000"),
        ("1.5m", "1500000"),
        ("1.5M", "1500000"),
        ("2百万", "2000000"),
        ("$12,000", "12000"),
        ("US$12,000", "12000"),
        ("¥12000", "12000"),
        ("￥12000", "12000"),
        ("USD12000", "12000"),
        ("usd 12000", "12000"),
        ("USD 5,560.00", "5560.00"),
        ("12000USD", "12000"),
        ("12000 CNY", "12000"),
        ("RMB12000", "12000"),
        ("12000元", "12000"),
        ("12000$", "12000"),
        ("1.2万美元", "12000"),
        ("1.2万元", "12000"),
        ("$1.2k", "1200"),
        ("１２０００", "12000"),
        ("１２，０００．５０", "12000.50"),
        ("＄１２ｋ", "12000"),
        ("1.2 万", "12000"),
        ("12 k", "12000"),
        ("  12000\n", "12000"),
        ("12.", "12"),  # a full stop at the end of a sentence
        (".5", "0.5"),
        ("+12000", "12000"),
        ("-0", "0"),
        ("12.50000", "12.5000"),  # trailing zeros beyond 4 places are not precision
        ("0.000000", "0.0000"),
        ("1000000000000", "1000000000000"),
    ],
)
def test_accepted_forms(text: str, expected: str) -> None:
    value = parse_amount(text)
    assert value == Decimal(expected)
    # Same digits and scale, and never exponent form.
    assert str(value) == expected
    assert "E" not in str(value)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "number.not_a_number"),
        ("   ", "number.not_a_number"),
        ("abc", "number.not_a_number"),
        ("gmv", "number.not_a_number"),
        ("12_000", "number.not_a_number"),
        ("1e5", "number.not_a_number"),
        ("1E+4", "number.not_a_number"),
        ("1,2,3", "number.not_a_number"),
        ("12,00", "number.not_a_number"),
        ("1234,567", "number.not_a_number"),
        ("12.000,50", "number.not_a_number"),
        ("1.2.3", "number.not_a_number"),
        (".", "number.not_a_number"),
        ("$", "number.not_a_number"),
        ("k", "number.not_a_number"),
        ("万", "number.not_a_number"),
        ("1万25", "number.not_a_number"),  # 1万2 is 12,000: tests/test_whatif.py
        ("12kk", "number.not_a_number"),
        ("$12000USD", "number.not_a_number"),
        ("+-12", "number.not_a_number"),
        ("0x10", "number.not_a_number"),
        ("٣", "number.not_a_number"),  # other scripts' digits are not read as digits
        ("1²", "number.not_a_number"),
        ("①", "number.not_a_number"),
        ("1" * 100, "number.not_a_number"),
        ("-5", "number.negative"),
        ("-12,000", "number.negative"),
        ("−12000", "number.negative"),  # U+2212 minus sign
        ("－12000", "number.negative"),  # full-width hyphen-minus
        ("-$12,000", "number.negative"),
        ("$-12,000", "number.negative"),
        ("-1.2万", "number.negative"),
        ("nan", "number.not_finite"),
        ("NaN", "number.not_finite"),
        ("sNaN", "number.not_finite"),
        ("inf", "number.not_finite"),
        ("-inf", "number.not_finite"),
        ("Infinity", "number.not_finite"),
        ("$∞", "number.not_finite"),
        ("1000000000000.0001", "number.too_large"),
        ("1000000000001", "number.too_large"),
        ("10001亿", "number.too_large"),
        ("1000001m", "number.too_large"),
        ("0.00001", "number.too_precise"),
        ("12.34567", "number.too_precise"),
        ("0.000000001万", "number.too_precise"),
        ("1.23456789k", "number.too_precise"),
    ],
)
def test_rejections(text: str, code: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_amount(text)
    assert caught.value.code == code
    assert set(caught.value.params) == {"text"}


def test_error_shows_the_text_but_cuts_hostile_length() -> None:
    with pytest.raises(UserError) as caught:
        parse_amount("  12,00 ")
    assert caught.value.params["text"] == "12,00"
    with pytest.raises(UserError) as caught:
        parse_amount("x" * 500)
    assert len(caught.value.params["text"]) == 40
    assert caught.value.params["text"].endswith("…")


def test_suffix_precision_is_judged_after_the_suffix() -> None:
    # 5 places as typed, 1 after the suffix: fine.
    assert parse_amount("1.23456k") == Decimal("1234.56")
    assert parse_amount("0.00001w") == Decimal("0.1")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("12000"), "12000"),
        (Decimal("12000.50"), "12000.50"),
        (Decimal("1.2E+4"), "12000"),
        (Decimal("1E-4"), "0.0001"),
        (Decimal("0"), "0"),
    ],
)
def test_format_plain(value: Decimal, text: str) -> None:
    assert format_plain(value) == text
    assert parse_amount(format_plain(value)) == value


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")])
def test_format_plain_refuses_non_finite(value: Decimal) -> None:
    with pytest.raises(ValueError, match="finite"):
        format_plain(value)


def test_fold_width_keeps_length() -> None:
    text = "／ｒｅｐｏｒｔ　ｇｍｖ　１２，０００￥"
    assert fold_width(text) == "/report gmv 12,000¥"
    assert len(fold_width(text)) == len(text)


@pytest.mark.parametrize(
    ("token", "numeric", "unit"),
    [
        ("12000", True, False),
        ("$12", True, False),
        ("US$12", True, False),
        ("usd12", True, False),
        ("-5", True, False),
        (".5", True, False),
        ("１２", True, False),
        ("gmv", False, False),
        ("nan", False, False),
        ("万", False, True),
        ("k", False, True),
        ("W", False, True),
        ("万元", False, True),
        ("USD", False, True),
        ("$", False, True),
        ("元", False, True),
        ("2026-11-20", True, False),
    ],
)
def test_token_kinds(token: str, numeric: bool, unit: bool) -> None:
    assert looks_numeric(token) is numeric
    assert is_unit_token(token) is unit


# --- properties -------------------------------------------------------------------------------

_FIGURE_ALPHABET = "0123456789.,-+ kKwWmM万亿千元$¥￥USDCNYRMB１２．，eE_∞nanif"


def _check_result(value: Decimal) -> None:
    assert value.is_finite()
    assert Decimal(0) <= value <= MAX_AMOUNT
    assert not value.is_signed()
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    assert -4 <= exponent <= 0
    assert "E" not in str(value)


@FUZZ
@given(st.one_of(st.text(), st.text(alphabet=_FIGURE_ALPHABET, max_size=24)))
def test_any_text_gives_a_figure_or_a_user_error(text: str) -> None:
    try:
        value = parse_amount(text)
    except UserError as exc:
        assert exc.code in NUMBER_CODES
    else:
        _check_result(value)


def _amounts(max_value: Decimal = MAX_AMOUNT) -> st.SearchStrategy[Decimal]:
    """Decimals in range with 0 to 4 places, each written with its own scale."""
    return st.builds(
        lambda d, places: d.quantize(Decimal(1).scaleb(-places)),
        st.decimals(min_value=0, max_value=max_value, places=4),
        st.integers(min_value=0, max_value=4),
    )


@PROPS
@given(_amounts())
def test_every_value_round_trips(value: Decimal) -> None:
    for text in (
        format_plain(value),
        f"{value:,}",
        f"{value:,f}",
        f"${value:,}",
        f"USD {value:,}",
        f"{value}元",
        f"{value:,}".translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789,."}),
    ):
        parsed = parse_amount(text)
        assert parsed == value, text
        assert str(parsed) == format_plain(value), text  # the scale survives too


_SUFFIXES = [("k", 3), ("K", 3), ("千", 3), ("w", 4), ("W", 4), ("万", 4), ("m", 6), ("亿", 8)]


@PROPS
@given(
    st.decimals(min_value=0, max_value=10_000, places=4),
    st.sampled_from(_SUFFIXES),
    st.booleans(),
)
def test_suffix_forms_equal_the_multiplied_value(
    base: Decimal, suffix: tuple[str, int], spaced: bool
) -> None:
    unit, power = suffix
    expected = base * Decimal(10) ** power  # exact: at most 17 significant digits
    text = f"{base}{' ' if spaced else ''}{unit}"
    if expected > MAX_AMOUNT:
        with pytest.raises(UserError) as caught:
            parse_amount(text)
        assert caught.value.code == "number.too_large"
        return
    value = parse_amount(text)
    assert value == expected
    _check_result(value)


def test_the_limit_is_accepted_in_the_unit_its_message_names() -> None:
    # number.too_large says "上限（1 万亿）": 万亿 must then be a unit, not "not a number".
    assert parse_amount("1万亿") == Decimal(10) ** 12
    assert parse_amount("0.5万亿") == Decimal(5) * Decimal(10) ** 11
    with pytest.raises(UserError) as caught:
        parse_amount("2万亿")
    assert caught.value.code == "number.too_large"
