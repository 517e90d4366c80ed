"""Money and figure helpers: minor units, half-up rounding and display strings over ``Decimal``."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from functools import cache

from babel.core import Locale, get_global
from babel.numbers import (
    NumberPattern,
    get_decimal_symbol,
    get_group_symbol,
    is_currency,
    parse_pattern,
)

__all__ = [
    "format_figure",
    "format_money",
    "format_percent",
    "minor_units",
    "quantize_money",
]

_HUNDRED = Decimal(100)


@cache
def minor_units(currency: str) -> int:
    """The number of decimal places a fee in this currency is rounded to.

    The table is CLDR's, through Babel: ``currency_fractions`` gives each currency its
    accounting digits and its *cash* digits, and this uses the cash digits (2 for USD, CNY and
    GBP; 0 for JPY and VND; 3 for BHD): fees are amounts that are actually paid. Where CLDR
    says a currency's minor unit is out of use in cash (its cash digits are fewer than its
    accounting digits, as ``babel.numbers.get_currency_precision`` returns them), the cash
    digits win. Which currencies that covers is CLDR's data and changes between its releases;
    the Babel in ``requirements.lock`` fixes it for a build. A currency CLDR lists without an
    entry of its own has CLDR's default, 2 and 2. Cash *rounding increments* (CHF to 0.05) are not
    applied: a fee is paid by transfer, and only the number of digits matters here.

    Args:
        currency: An ISO 4217 code such as ``"USD"`` (upper case).

    Returns:
        The number of digits after the decimal point.

    Raises:
        ValueError: ``currency`` is not a code CLDR knows. Babel would otherwise answer with
            the default for any string, which would hide a typo in a deal file.
    """
    if not is_currency(currency):
        raise ValueError(f"unknown currency code {currency!r}")
    fractions = get_global("currency_fractions")
    # (digits, rounding, cash_digits, cash_rounding); every CLDR entry has all four.
    digits, _rounding, cash_digits, _cash_rounding = fractions.get(currency, fractions["DEFAULT"])
    return int(cash_digits if cash_digits is not None else digits)


@cache
def _pattern(pattern: str) -> NumberPattern:
    """Babel's parsed number pattern, parsed once (``format_decimal`` parses it every call)."""
    return parse_pattern(pattern)


@cache
def _locale(name: str) -> Locale:
    return Locale.parse(name)


@cache
def _plain(pattern: str, locale: str) -> _Plain | None:
    """The compiled form of ``pattern`` in ``locale`` when it is a plain one, else ``None``."""
    return _Plain.of(_pattern(pattern), _locale(locale))


class _Plain:
    """A plain number pattern (``#,##0``, ``#,##0.00``: no prefix, suffix, scale, exponent or
    significant digits) with its locale's symbols looked up once: ``NumberPattern.apply``'s
    steps for such a pattern, in its order, on the same ``Decimal`` operations, so the same
    text (``tests/test_money.py`` compares the two)."""

    __slots__ = ("first", "group", "high", "low", "min_int", "minus", "point", "rest")

    def __init__(self, pattern: NumberPattern, group: str, point: str) -> None:
        self.low, self.high = pattern.frac_prec
        self.min_int = pattern.int_prec[0]
        self.first, self.rest = pattern.grouping
        self.minus = pattern.prefix[1]
        self.group, self.point = group, point

    @classmethod
    def of(cls, pattern: NumberPattern, locale: Locale) -> _Plain | None:
        group = get_group_symbol(locale, numbering_system="latn")
        point = get_decimal_symbol(locale, numbering_system="latn")
        plain = (
            pattern.scale == 0
            and not pattern.exp_prec
            and "@" not in pattern.pattern
            and pattern.number_pattern != ""
            and pattern.prefix == ("", "-")
            and pattern.suffix == ("", "")
            and "'" not in group + point  # apply() would unquote them
        )
        return cls(pattern, group, point) if plain else None

    def apply(self, value: Decimal, quantize: bool) -> str | None:
        """The text, or ``None`` for an infinity (``NumberPattern.apply`` handles it)."""
        value = value.scaleb(0)
        negative = value.is_signed()
        value = abs(value).normalize()
        if value.is_infinite():
            return None
        high = self.high
        if not quantize:
            exponent = value.as_tuple().exponent  # get_decimal_precision
            if isinstance(exponent, int) and exponent < 0:
                high = max(high, -exponent)
        rounded = value.quantize(Decimal(10) ** (-high))
        whole, _, frac = f"{rounded:f}".partition(".")
        return (self.minus if negative else "") + self._int(whole) + self._frac(frac or "0", high)

    def _int(self, value: str) -> str:
        if len(value) < self.min_int:
            value = "0" * (self.min_int - len(value)) + value
        size, grouped = self.first, ""
        while len(value) > size:
            grouped = self.group + value[-size:] + grouped
            value = value[:-size]
            size = self.rest
        return value + grouped

    def _frac(self, value: str, high: int) -> str:
        low = self.low
        if len(value) < low:
            value += "0" * (low - len(value))
        if high == 0 or (low == 0 and int(value) == 0):
            return ""
        while len(value) > low and value[-1] == "0":
            value = value[:-1]
        return self.point + value


def format_decimal(
    number: Decimal, *, format: str, locale: str, decimal_quantization: bool = True
) -> str:
    """``babel.numbers.format_decimal``, with the pattern parsed and the locale's symbols
    looked up once per pattern and locale (:class:`_Plain`), never per figure."""
    plain = _plain(format, locale)
    text = None if plain is None else plain.apply(number, decimal_quantization)
    if text is not None:
        return text
    return _pattern(format).apply(
        number,
        _locale(locale),
        decimal_quantization=decimal_quantization,
        group_separator=True,
        numbering_system="latn",
    )


def quantize_money(amount: Decimal, currency: str) -> Decimal:
    """Round an amount half-up to the currency's minor unit.

    Args:
        amount: The exact amount.
        currency: An ISO 4217 code.

    Returns:
        ``amount`` with exactly :func:`minor_units` decimal places, e.g. ``Decimal("0.005")``
        in USD gives ``Decimal("0.01")``. A negative zero comes back as a plain zero.
    """
    quantum = Decimal(1).scaleb(-minor_units(currency))
    rounded = amount.quantize(quantum, rounding=ROUND_HALF_UP)
    # -0.004 rounds to -0.00; nobody wants to read "USD -0.00".
    return abs(rounded) if rounded.is_zero() else rounded


# How Chinese readers write the currencies they meet: yuan with ¥ (in a CNY deal it cannot be
# mistaken for yen), US dollars with US$; any other currency keeps its code.
_ZH_SYMBOLS = {"CNY": "¥", "USD": "US$"}


def format_money(amount: Decimal, currency: str, locale: str = "en") -> str:
    """Display an amount as ``CODE number``, rounded half-up to the minor unit.

    In English the currency code comes first (``USD 5,560.00``, ``JPY 12,000``) so that
    cross-border teams never confuse ``$`` or ``¥``; a negative amount keeps the code first
    and signs the number: ``USD -300.00``. In Chinese, yuan and US dollars take the symbol a
    Chinese reader writes, glued to the figure and signed before it (``¥5,000.00``,
    ``-¥2,000.00``, ``US$1,500.00``); other currencies keep ``CODE number``. Money is never
    shown in 万: an amount must be checkable to the cent.

    Args:
        amount: The amount; rounded with :func:`quantize_money` before display.
        currency: An ISO 4217 code.
        locale: A Babel locale name (``"en"``, ``"zh"``); it chooses the separators.

    Returns:
        The display string, with thousands separated and exactly the currency's decimals.
    """
    digits = minor_units(currency)
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    # Rounded here, half-up, so Babel's own (half-even) rounding never has anything to do.
    rounded = quantize_money(amount, currency)
    symbol = _ZH_SYMBOLS.get(currency) if locale == "zh" else None
    if symbol is not None:
        number = format_decimal(abs(rounded), format=pattern, locale=locale)
        return f"{'-' if rounded < 0 else ''}{symbol}{number}"
    number = format_decimal(rounded, format=pattern, locale=locale)
    return f"{currency} {number}"


def format_figure(value: Decimal, places: int | None = None, *, locale: str = "en") -> str:
    """Display a KPI figure with thousands separated and never in exponent notation.

    With ``places=None`` the figure shows the digits it has, without trailing zeros:
    ``60,000``, ``19,000.5``, and ``Decimal("4.0")`` shows as ``4``. Callers that want a fixed
    shape pass ``places``: ratios such as roi are meant to be shown with 2 places (``4.00``).

    Args:
        value: The figure (must be finite).
        places: Decimal places to round to (half-up), or ``None`` to show the figure as is.
        locale: A Babel locale name; it chooses the separators.

    Returns:
        The display string, e.g. ``"1,000"`` for ``Decimal("1E+3")``.

    Raises:
        ValueError: ``value`` is NaN or infinite, or ``places`` is negative.
    """
    if not value.is_finite():
        raise ValueError(f"cannot display {value!r}")
    if places is None:
        shown, pattern, quantize = value, "#,##0", False
    else:
        if places < 0:
            raise ValueError(f"places must be >= 0, got {places}")
        shown = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        pattern, quantize = "#,##0" + ("." + "0" * places if places else ""), True
    # -0.001 at 0 places rounds to -0, which Babel would print as "-0"; a zero has no sign.
    if shown.is_zero():
        shown = abs(shown)
    return format_decimal(shown, format=pattern, locale=locale, decimal_quantization=quantize)


def format_percent(fraction: Decimal, places: int = 0, *, locale: str = "en") -> str:
    """Display a fraction as a percentage, rounded half-up: ``0.17`` → ``17%``.

    Args:
        fraction: The fraction (``Decimal("0.085")`` is 8.5 %).
        places: Decimal places of the percentage (``places=1`` gives ``8.5%``).
        locale: A Babel locale name; it chooses the separators.

    Returns:
        The display string with a ``%`` sign and no space, the same in English and Chinese.
    """
    return format_figure(fraction * _HUNDRED, places, locale=locale) + "%"
