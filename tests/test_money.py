"""Tests for the money helpers: minor units, half-up rounding and display strings."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kpi.money import format_figure, format_money, format_percent, minor_units, quantize_money

D = Decimal


@pytest.mark.parametrize(
    ("currency", "digits"),
    [
        ("USD", 2),
        ("CNY", 2),
        ("GBP", 2),
        ("JPY", 0),
        ("VND", 0),
        # ISO 4217 (and CLDR's accounting digits) still list 2 for the rupiah; its cash digits,
        # which fees use, are 0 as the issue asks.
        ("IDR", 0),
        ("BHD", 3),
        ("SEK", 0),  # cash digits 0 in CLDR, like IDR
        ("CHF", 2),  # cash rounding 0.05 is an increment, not a digit count
        ("EUR", 2),  # no entry of its own: CLDR's default
    ],
)
def test_minor_units_come_from_cldr_cash_digits(currency: str, digits: int) -> None:
    assert minor_units(currency) == digits


def test_minor_units_are_cldr_cash_digits_not_a_hand_list() -> None:
    from babel.core import get_global
    from babel.numbers import get_currency_precision

    # The accounting digits disagree for IDR; the cash digits are what fees are rounded to.
    assert get_currency_precision("IDR") == 2
    assert get_global("currency_fractions")["IDR"][2] == minor_units("IDR") == 0


@pytest.mark.parametrize("code", ["XYZ", "usd", ""])
def test_minor_units_rejects_unknown_codes(code: str) -> None:
    with pytest.raises(ValueError, match="unknown currency"):
        minor_units(code)


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (D("0.005"), "USD", D("0.01")),  # half-up, not banker's (which would give 0.00)
        (D("0.015"), "USD", D("0.02")),
        (D("0.025"), "USD", D("0.03")),  # half-even would give 0.02
        (D("-0.005"), "USD", D("-0.01")),  # half away from zero
        (D("1234.5"), "JPY", D("1235")),
        (D("2.5"), "JPY", D("3")),
        (D("2.4999"), "VND", D("2")),
        (D("1.0005"), "BHD", D("1.001")),
        (D("7"), "USD", D("7.00")),
    ],
)
def test_quantize_money_rounds_half_up_to_the_minor_unit(
    amount: Decimal, currency: str, expected: Decimal
) -> None:
    result = quantize_money(amount, currency)
    assert result == expected
    assert result.as_tuple().exponent == expected.as_tuple().exponent


def test_quantize_money_never_returns_negative_zero() -> None:
    result = quantize_money(D("-0.004"), "USD")
    assert result == 0
    assert not result.is_signed()


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "expected"),
    [
        (D("5560"), "USD", "en", "USD 5,560.00"),
        (D("5560"), "USD", "zh", "USD 5,560.00"),
        (D("12000"), "JPY", "en", "JPY 12,000"),
        (D("12000.5"), "JPY", "zh", "JPY 12,001"),
        (D("-300"), "USD", "en", "USD -300.00"),
        (D("-300"), "CNY", "zh", "CNY -300.00"),
        (D("0.005"), "USD", "en", "USD 0.01"),
        (D("-0.004"), "USD", "en", "USD 0.00"),
        (D("1234567.891"), "GBP", "en", "GBP 1,234,567.89"),
        (D("1E+6"), "USD", "en", "USD 1,000,000.00"),
        (D("1500000"), "IDR", "en", "IDR 1,500,000"),
        (D("1500000.5"), "IDR", "en", "IDR 1,500,001"),
        (D("1500000"), "VND", "zh", "VND 1,500,000"),
    ],
)
def test_format_money(amount: Decimal, currency: str, locale: str, expected: str) -> None:
    assert format_money(amount, currency, locale) == expected


@pytest.mark.parametrize(
    ("value", "places", "expected"),
    [
        (D("60000"), None, "60,000"),
        (D("19000.5"), None, "19,000.5"),
        (D("19000.50"), None, "19,000.5"),  # trailing zeros dropped when places is None
        (D("4.0"), None, "4"),
        (D("4.0"), 2, "4.00"),  # ratios are shown with 2 places by their callers
        (D("3.14159"), 2, "3.14"),
        (D("0.125"), 2, "0.13"),  # half-up
        (D("1E+3"), None, "1,000"),  # never an exponent
        (D("1.5E+7"), 0, "15,000,000"),
        (D("1E-7"), None, "0.0000001"),
        (D("-41300"), None, "-41,300"),
        (D("-0.001"), 0, "0"),  # a zero has no sign
        (D("-0"), None, "0"),
    ],
)
def test_format_figure(value: Decimal, places: int | None, expected: str) -> None:
    assert format_figure(value, places) == expected


def test_format_figure_is_the_same_in_chinese() -> None:
    assert format_figure(D("19000.5"), locale="zh") == "19,000.5"


@pytest.mark.parametrize("value", [D("NaN"), D("Infinity"), D("-Infinity")])
def test_format_figure_rejects_non_finite(value: Decimal) -> None:
    with pytest.raises(ValueError, match="cannot display"):
        format_figure(value)


def test_format_figure_rejects_negative_places() -> None:
    with pytest.raises(ValueError, match="places"):
        format_figure(D(1), -1)


@pytest.mark.parametrize(
    ("fraction", "places", "expected"),
    [
        (D("0.17"), 0, "17%"),
        (D("0.085"), 1, "8.5%"),
        (D("0.085"), 0, "9%"),  # half-up
        (D("0.05"), 0, "5%"),
        (D("-0.05"), 0, "-5%"),
        (D("1"), 0, "100%"),
        (D("12.5"), 0, "1,250%"),
        (D("0.1234"), 2, "12.34%"),
    ],
)
def test_format_percent(fraction: Decimal, places: int, expected: str) -> None:
    assert format_percent(fraction, places) == expected
