"""``kpi.money.format_decimal`` (plain patterns compiled once per locale) writes exactly what
``babel.numbers.format_decimal`` writes, for every figure, pattern and locale kpibot uses."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from babel.numbers import format_decimal as babel_format_decimal
from hypothesis import given, settings
from hypothesis import strategies as st

from kpi.money import format_decimal

PATTERNS = ["#,##0", "#,##0.0", "#,##0.00", "#,##0.000"]
LOCALES = ["en", "zh", "de", "fr", "de_CH", "ar", "hi"]

EDGES = [
    "0", "-0", "0.000", "-0.000", "1", "-1", "0.5", "-0.5", "1.5", "2.5", "0.005", "0.015",
    "999.995", "1E+3", "1.0E+6", "-1E+3", "123456789.123456789", "1e-9", "-1e-9", "19000.50",
    "4.0", "12345678901234567890123456789.5", "0.0000000000000000000000000001", "1E+30",
    "Infinity", "-Infinity",
]  # fmt: skip


def written(format_: Callable[..., str], value: Decimal, pattern: str, locale: str, q: bool) -> str:
    """The text, or the name of the exception raised (too many digits for the context)."""
    try:
        return format_(value, format=pattern, locale=locale, decimal_quantization=q)
    except ArithmeticError as exc:
        return type(exc).__name__


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("quantize", [True, False])
def test_edge_figures_read_as_babel_writes_them(pattern: str, locale: str, quantize: bool) -> None:
    for text in EDGES:
        value = Decimal(text)
        expected = written(babel_format_decimal, value, pattern, locale, quantize)
        assert written(format_decimal, value, pattern, locale, quantize) == expected, text


@settings(max_examples=400, deadline=None)
@given(
    st.decimals(allow_nan=False, allow_infinity=False, places=None),
    st.sampled_from(PATTERNS),
    st.sampled_from(["en", "zh", "de", "fr"]),
    st.booleans(),
)
def test_any_figure_reads_as_babel_writes_it(
    value: Decimal, pattern: str, locale: str, quantize: bool
) -> None:
    expected = written(babel_format_decimal, value, pattern, locale, quantize)
    assert written(format_decimal, value, pattern, locale, quantize) == expected
