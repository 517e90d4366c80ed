"""Tests for the money helpers: minor units, half-up rounding and display strings."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kpi.money import format_figure, format_money, format_percent, minor_units, quantize_money

D = Decimal


@pytest.mark.parametrize(
    ("currency", "digits"),
    [
        # kpibot's own contract: the currencies its deals use, with the digits fees are paid in.
        ("USD", 2),
        ("CNY", 2),
        ("GBP", 2),
        ("EUR", 2),
        ("JPY", 0),
        ("VND", 0),
        ("BHD", 3),
    ],
)
def test_minor_units_of_the_currencies_deals_use(currency: str, digits: int) -> None:
    assert minor_units(currency) == digits


def _fractions() -> dict[str, tuple[int, int, int | None, int | None]]:
    from babel.core import get_global

    return dict(get_global("currency_fractions"))


def test_minor_units_take_cldrs_cash_digits_wherever_they_differ_from_accounting_digits() -> None:
    # The rule, not one data set's value on one day: for every currency whose cash digits differ
    # from its accounting digits in the installed CLDR data, a fee is rounded to the cash digits
    # (what is actually paid). Which currencies those are changes between CLDR releases.
    differing = {
        code: cash
        for code, (digits, _rounding, cash, _cash_rounding) in _fractions().items()
        if code != "DEFAULT" and cash is not None and cash != digits
    }
    assert differing, "CLDR lists currencies whose cash digits differ; the test would be empty"
    checked = {code: minor_units(code) for code in differing if _is_currency(code)}
    assert checked == {code: differing[code] for code in checked}


def test_minor_units_of_a_currency_without_an_entry_is_cldrs_default() -> None:
    fractions = _fractions()
    default_digits, _r, default_cash, _cr = fractions["DEFAULT"]
    assert "EUR" not in fractions
    assert minor_units("EUR") == (default_cash if default_cash is not None else default_digits)


def _is_currency(code: str) -> bool:
    from babel.numbers import is_currency

    return bool(is_currency(code))


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
        (D("5560"), "USD", "zh", "US$5,560.00"),
        (D("5000"), "CNY", "zh", "¥5,000.00"),
        (D("-2000"), "CNY", "zh", "-¥2,000.00"),
        (D("1000"), "HKD", "zh", "HKD 1,000.00"),
        (D("5000"), "CNY", "en", "CNY 5,000.00"),
        (D("-0.004"), "CNY", "zh", "¥0.00"),
        (D("12000"), "JPY", "en", "JPY 12,000"),
        (D("12000.5"), "JPY", "zh", "JPY 12,001"),
        (D("-300"), "USD", "en", "USD -300.00"),
        (D("-300"), "CNY", "zh", "-¥300.00"),
        (D("0.005"), "USD", "en", "USD 0.01"),
        (D("-0.004"), "USD", "en", "USD 0.00"),
        (D("1234567.891"), "GBP", "en", "GBP 1,234,567.89"),
        (D("1E+6"), "USD", "en", "USD 1,000,000.00"),
        (D("1500000"), "VND", "en", "VND 1,500,000"),
        (D("1500000.5"), "VND", "en", "VND 1,500,001"),
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
