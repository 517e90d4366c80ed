"""Reading figures as chat users type them (``12k``, ``1.2万``, ``$12,000``) into exact Decimals."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Final

from kpi.errors import UserError

__all__ = [
    "MAX_AMOUNT",
    "MAX_PLACES",
    "fold_width",
    "format_plain",
    "is_unit_token",
    "looks_numeric",
    "mark_fits",
    "parse_amount",
    "parse_figure",
]

MAX_AMOUNT: Final = Decimal(10) ** 12
"""The largest figure accepted; anything above is a typo, not a livestream's day."""

MAX_PLACES: Final = 4
"""Decimal places kept; more is noise (and a sign of a pasted float)."""

# No real figure is longer than this; refusing early bounds the work done on hostile text.
_MAX_TEXT = 64
# Long hostile input is cut in the error's ``text`` parameter so the reply stays readable.
_SHOWN_TEXT = 40

# Full-width ASCII (U+FF01..U+FF5E) to ASCII, the yuan sign and the ideographic space. A 1:1
# character map on purpose: callers match on the folded text and slice the original at the
# same offsets. NFKC is not used because it also folds superscripts and circled digits.
_WIDTH: Final = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {
    0xFFE5: ord("¥"),
    0x3000: ord(" "),
    0x2212: ord("-"),  # the minus sign people paste from spreadsheets
}

# Magnitude suffixes, matched case-insensitively. Both ``k`` and ``K`` are thousands and both
# ``m`` and ``M`` millions: in sales chat nobody means milli.
_MAGNITUDE: Final = {
    "k": 3,
    "千": 3,
    "w": 4,
    "万": 4,
    "萬": 4,
    "m": 6,
    "百万": 6,
    "百萬": 6,
    "亿": 8,
    "億": 8,
    # The limit's own unit (number.too_large says 1 万亿): refusing "1万亿" as not a number
    # would contradict it.
    "万亿": 12,
    "萬億": 12,
}
_CURRENCY_BEFORE = r"US\$|\$|¥|USD|CNY|RMB|JPY"
_CURRENCY_AFTER = r"USD|CNY|RMB|JPY|\$|美元|美金|元|块|円"

# The currencies each mark may stand for. ``¥`` is both the yuan's and the yen's sign, so it
# fits a CNY or a JPY deal; every other mark names one currency.
_MARKS: Final = {
    "$": ("USD",),
    "us$": ("USD",),
    "usd": ("USD",),
    "美元": ("USD",),
    "美金": ("USD",),
    "¥": ("CNY", "JPY"),
    "cny": ("CNY",),
    "rmb": ("CNY",),
    "元": ("CNY",),
    "块": ("CNY",),
    "jpy": ("JPY",),
    "円": ("JPY",),
}
_MAG = "|".join(sorted(_MAGNITUDE, key=len, reverse=True))

# Thousands groups must be exact (``12,000``; not ``12,00`` or ``1,2,3``). ``12.`` is accepted
# because a sentence-final full stop is common in chat; exponents and underscores are not.
_AMOUNT = re.compile(
    rf"""
    (?P<sign1>[-+])?\s*
    (?:(?P<cur1>{_CURRENCY_BEFORE})\s*)?
    (?P<sign2>[-+])?
    (?P<int>[0-9]{{1,3}}(?:,[0-9]{{3}})++|[0-9]++)?
    (?:\.(?P<frac>[0-9]*+))?
    (?:\s*(?P<mag>{_MAG}))?
    (?:\s*(?P<cur2>{_CURRENCY_AFTER}))?
    """,
    re.VERBOSE | re.IGNORECASE,
)
_NOT_FINITE = re.compile(
    rf"[-+]?\s*(?:(?:{_CURRENCY_BEFORE})\s*)?[-+]?(?:s?nan|inf(?:inity)?|∞)"
    rf"(?:\s*(?:{_CURRENCY_AFTER}))?",
    re.IGNORECASE,
)
_NUMERIC_START = re.compile(rf"[-+]?(?:{_CURRENCY_BEFORE})?[-+]?\.?[0-9]", re.IGNORECASE)
_UNIT = re.compile(
    rf"(?:{_CURRENCY_BEFORE})|(?:(?:{_MAG})(?:{_CURRENCY_AFTER})?|(?:{_CURRENCY_AFTER}))",
    re.IGNORECASE,
)


# "1万2" is 12,000 as Chinese says it (一万二: one digit after 万 is the thousands), and
# "1万2500" is 12,500 (four digits after 万 are the rest written out). Two or three digits
# after 万 ("1万25": 10,025 or 12,500?) stay refused: there is no one reading.
_WAN_REST = re.compile(
    rf"""
    (?P<head>[-+]?\s*(?:(?:{_CURRENCY_BEFORE})\s*)?[-+]?)
    (?P<wan>[0-9]{{1,8}})[万萬w](?P<rest>[0-9]{{4}}|[1-9])
    (?P<tail>\s*(?:{_CURRENCY_AFTER}))?
    """,
    re.VERBOSE | re.IGNORECASE,
)


def _wan_rest(folded: str) -> str:
    """``1万2`` written out as ``12000`` (currency and sign kept), any other text as it is."""
    match = _WAN_REST.fullmatch(folded)
    if match is None:
        return folded
    rest = match["rest"]
    value = int(match["wan"]) * 10000 + int(rest) * (1000 if len(rest) == 1 else 1)
    return f"{match['head']}{value}{match['tail'] or ''}"


def fold_width(text: str) -> str:
    """Map full-width ASCII forms (``１２０００``, ``＄``, ``，``) to ASCII, one character for one.

    Args:
        text: Any text.

    Returns:
        The text with the same length, full-width forms replaced.
    """
    return text if text.isascii() else text.translate(_WIDTH)


def looks_numeric(token: str) -> bool:
    """Whether a token is meant as a figure (starts like one: digit, sign or currency + digit).

    Args:
        token: One whitespace-free token.

    Returns:
        True when the token should be read with :func:`parse_amount`.
    """
    return _NUMERIC_START.match(fold_width(token).strip()) is not None


def is_unit_token(token: str) -> bool:
    """Whether a token is only a currency or magnitude (``万``, ``k``, ``USD``, ``万元``, ``$``).

    Such a token is glued to the figure next to it (``1.2 万``, ``$ 12000``).

    Args:
        token: One whitespace-free token.

    Returns:
        True for a bare unit.
    """
    return _UNIT.fullmatch(fold_width(token).strip()) is not None


def _shown(text: str) -> str:
    return text if len(text) <= _SHOWN_TEXT else text[: _SHOWN_TEXT - 1] + "…"


def _trim_places(value: Decimal, places: int) -> Decimal | None:
    """Drop trailing fractional zeros until at most ``places`` remain; None if impossible.

    Works on the digit tuple so no context precision or rounding is involved.
    """
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    kept = list(digits)
    while exponent < -places and len(kept) > 1 and kept[-1] == 0:
        kept.pop()
        exponent += 1
    if exponent < -places:
        if any(kept):
            return None
        exponent = -places  # zero written with too many places: 0.000000
    return Decimal((sign, tuple(kept), exponent))


def _shift(value: Decimal, places: int) -> Decimal:
    """``value`` x 10**places, exact, with trailing fractional zeros dropped and no exponent."""
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    kept = list(digits)
    exponent += places
    while exponent < 0 and len(kept) > 1 and kept[-1] == 0:
        kept.pop()
        exponent += 1
    if exponent > 0:
        # Write the zeros out: 1.2万 is Decimal("12000"), never Decimal("1.2E+4").
        kept.extend([0] * exponent)
        exponent = 0
    return Decimal((sign, tuple(kept), exponent))


def mark_fits(mark: str, currency: str) -> bool:
    """Whether a currency mark as returned by :func:`parse_figure` may stand for ``currency``.

    Args:
        mark: A mark such as ``$``, ``¥``, ``元`` or ``usd`` (casefolded).
        currency: An ISO 4217 code, e.g. ``USD``.

    Returns:
        True for the currency's own marks (``$``/``USD`` for USD; ``¥``/``元``/``CNY`` for CNY;
        ``¥``/``円``/``JPY`` for JPY).
    """
    return currency in _MARKS.get(mark.casefold(), ())


def parse_amount(text: str) -> Decimal:
    """Read a non-negative figure as typed in chat (see :func:`parse_figure`), its mark dropped.

    Raises:
        UserError: As :func:`parse_figure`.
    """
    return parse_figure(text)[0]


def parse_figure(text: str) -> tuple[Decimal, str | None]:
    """Read a non-negative figure as typed in chat, and the currency mark written with it.

    Accepts plain and grouped numbers (``12000``, ``12,000.50``), magnitude suffixes ``k``/``千``
    (thousand), ``w``/``万`` (ten thousand), ``m``/``百万`` (million), ``亿`` (hundred million),
    optionally after a space, currency marks before (``$``, ``US$``, ``¥``, ``USD``, ``CNY``,
    ``RMB``, ``JPY``) or after (``USD``, ``CNY``, ``RMB``, ``JPY``, ``$``, ``美元``, ``元``,
    ``块``, ``円``), and full-width digits.

    A plain number keeps the scale it was written with (``12000.50`` stays ``12000.50``); a
    suffixed one is exact and integer-valued where possible (``1.2万`` is ``Decimal("12000")``).
    The result is never in exponent form and never negative zero.

    Args:
        text: The figure as typed.

    Returns:
        The exact value, and the currency mark casefolded (``$``, ``¥``, ``usd``, ``元``...) or
        None when there was none. Which currency a mark fits is :func:`mark_fits`'s to say.

    Raises:
        UserError: ``number.not_a_number`` (empty, not a figure, malformed grouping such as
            ``12,00``, exponents, underscores), ``number.negative``, ``number.not_finite``
            (NaN, Infinity), ``number.too_large`` (above 1,000,000,000,000),
            ``number.too_precise`` (more than 4 decimal places after the suffix). Every one
            carries the parameter ``text``.
    """
    raw = text.strip()
    shown = _shown(raw)
    folded = fold_width(raw).strip()
    if not folded or len(folded) > _MAX_TEXT:
        raise UserError("number.not_a_number", text=shown)
    match = _AMOUNT.fullmatch(_wan_rest(folded))
    if match is None or (match["int"] is None and not match["frac"]):
        if _NOT_FINITE.fullmatch(folded):
            raise UserError("number.not_finite", text=shown)
        raise UserError("number.not_a_number", text=shown)
    if match["sign1"] and match["sign2"]:
        raise UserError("number.not_a_number", text=shown)
    if match["cur1"] and match["cur2"]:
        raise UserError("number.not_a_number", text=shown)

    integer = (match["int"] or "0").replace(",", "")
    fraction = match["frac"] or ""
    value = Decimal(f"{integer}.{fraction}" if fraction else integer)
    if match["mag"]:
        value = _shift(value, _MAGNITUDE[match["mag"].lower()])

    negative = "-" in (match["sign1"] or "", match["sign2"] or "")
    if negative and value != 0:
        raise UserError("number.negative", text=shown)
    if value > MAX_AMOUNT:
        raise UserError("number.too_large", text=shown)
    trimmed = _trim_places(value, MAX_PLACES)
    if trimmed is None:
        raise UserError("number.too_precise", text=shown)
    mark = match["cur1"] or match["cur2"]
    return trimmed.copy_abs(), None if mark is None else mark.casefold()  # -0 reads as 0


def format_plain(value: Decimal) -> str:
    """The canonical plain text of a Decimal: no grouping, no exponent, the scale kept.

    ``parse_amount(format_plain(d)) == d`` for every ``d`` that ``parse_amount`` can return.

    Args:
        value: A finite Decimal.

    Returns:
        Text such as ``"12000"`` or ``"12000.50"``.

    Raises:
        ValueError: ``value`` is NaN or infinite (a programming error, not a user's).
    """
    if not value.is_finite():
        raise ValueError(f"not a finite Decimal: {value!r}")
    return format(value, "f")
