"""Cell texts to values: amounts, counts, identifiers, times and durations as exports write them."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from kpi.storage import value_fits

__all__ = ["CellError", "parse_count", "parse_duration", "parse_id", "parse_money", "parse_time"]


class CellError(ValueError):
    """A cell that does not hold its column's kind of value; ``code`` is a catalog key."""

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(code)


_PLAIN_AMOUNT = re.compile(r"-?\d{1,15}(?:\.\d{1,4})?\Z")
_MONEY_JUNK = re.compile(r"[,\s$€£¥￥₫฿₱]|^(?:US\$|S\$|RM|Rp|R\$|[A-Z]{3})(?=\s*[\d(.-])")
_ROUNDED = re.compile(r"^\d(\.\d+)?E\+?\d+$", re.IGNORECASE)
_ID = re.compile(r"^[0-9A-Za-z_\-./:@#]{1,100}$")


def parse_money(text: str) -> Decimal:
    """An amount such as ``5,368.94``, ``-3.00``, ``(3.00)``, ``$12.50`` or ``RM 1,200``.

    Raises:
        CellError: Not an amount, or one the ledger cannot hold exactly.
    """
    if _PLAIN_AMOUNT.match(text):  # the usual cell: no need for the general checks below
        return Decimal(text) if text[0] != "-" else Decimal(text) + 0
    raw = text.strip()
    negative = raw.startswith("(") and raw.endswith(")")
    if negative:
        raw = raw[1:-1]
    raw = _MONEY_JUNK.sub("", raw)
    if not raw or raw[0] == "=":
        raise CellError("platform.cell.not_amount")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise CellError("platform.cell.not_amount") from None
    if not value_fits(value):
        raise CellError("platform.cell.amount_out_of_range")
    value = -value if negative else value
    return value + 0  # -0.00 is 0.00: a refund of nothing is nothing


_SMALL_COUNTS = tuple(Decimal(n) for n in range(1000))


def parse_count(text: str) -> Decimal:
    """A whole count such as ``5186`` or ``10,372`` (never negative).

    Raises:
        CellError: Not a whole number of at least zero.
    """
    if len(text) < 4 and text.isdigit() and text.isascii():  # most counts: cached
        return _SMALL_COUNTS[int(text)]
    raw = text.replace(",", "").strip()
    if raw.endswith(".0"):  # a count a spreadsheet stored as a float
        raw = raw[:-2]
    if not raw.isdigit() or not raw.isascii() or len(raw) > 15:
        raise CellError("platform.cell.not_count")
    return Decimal(raw)


def parse_id(text: str) -> str:
    """An order, adjustment or creator id: letters, digits and ``_-./:@#``, kept as text.

    Raises:
        CellError: Empty, too long, or in a spreadsheet's rounded number form (``5.76E+17``).
    """
    raw = text.strip()
    if raw.isdigit() and raw.isascii() and len(raw) <= 100:  # the usual id: digits only
        return raw
    if _ROUNDED.match(raw):
        raise CellError("platform.cell.rounded_id")
    if not _ID.match(raw):
        raise CellError("platform.cell.not_id")
    return raw


_CLOCK_HOURS = {
    (f"{h:02d}", half): f"{h % 12 + (12 if half == 'PM' else 0):02d}"
    for h in range(1, 13)
    for half in ("AM", "PM")
}
_US = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4}) (\d{1,2}):(\d{2})(?::(\d{2}))? ?([AP]M)$", re.I)
_YMD = re.compile(r"^(\d{4})[/.-](\d{1,2})[/.-](\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?")


def parse_time(text: str) -> dt.datetime:
    """A naive timestamp: ``2026/11/02 10:05``, ``2026-11-02 10:05:00``, ``11/06/2026 02:09:44 PM``.

    Raises:
        CellError: None of those forms, or not a real date and time.
    """
    raw = text.strip()
    if len(raw) == 22 and raw[2] == "/" and raw[5] == "/" and raw[13] == ":":
        # The orders export's form, 11/06/2026 02:09:44 PM, read by position: it is most rows.
        try:
            clock = _CLOCK_HOURS.get((raw[11:13], raw[20:]))
            if clock is not None and raw[19] == " " and raw[10] == " ":
                # fromisoformat is C; it checks the digits and that the day exists.
                return dt.datetime.fromisoformat(
                    f"{raw[6:10]}-{raw[0:2]}-{raw[3:5]}T{clock}{raw[13:19]}"
                )
        except ValueError:
            raise CellError("platform.cell.bad_time") from None
    try:
        match = _YMD.match(raw)
        if match and raw[match.end() :] in ("", "Z", "+00:00"):
            year, month, day, hour, minute, second = match.groups()
            return dt.datetime(  # noqa: DTZ001 - the caller says which zone the export used
                int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0)
            )
        match = _US.match(raw)
        if match:
            month, day, year, hour, minute, second, half = match.groups()
            hours = int(hour) % 12 + (12 if half.upper() == "PM" else 0)
            if int(hour) > 12:
                raise ValueError(hour)
            return dt.datetime(  # noqa: DTZ001 - as above
                int(year), int(month), int(day), hours, int(minute), int(second or 0)
            )
    except ValueError:
        raise CellError("platform.cell.bad_time") from None
    raise CellError("platform.cell.not_time")


_HMS = re.compile(r"^(?:(\d+)\s*h)?\s*(?:(\d+)\s*min)?\s*(?:(\d+)\s*s)?$", re.I)
_ZH = re.compile(r"^(?:(\d+)\s*小时)?\s*(?:(\d+)\s*分(?:钟)?)?\s*(?:(\d+)\s*秒)?$")
_CLOCK = re.compile(r"^(\d+):(\d{2})(?::(\d{2}))?$")


def parse_duration(text: str) -> int:
    """Whole seconds from ``2h 8min``, ``45min``, ``104s``, ``2小时8分钟`` or ``2:08:00``.

    Raises:
        CellError: None of those forms, or empty.
    """
    raw = text.strip()
    for pattern in (_HMS, _ZH):
        match = pattern.match(raw)
        if match and raw and any(match.groups()):
            hours, minutes, seconds = (int(g or 0) for g in match.groups())
            return hours * 3600 + minutes * 60 + seconds
    match = _CLOCK.match(raw)
    if match:
        hours, minutes, seconds = (int(g or 0) for g in match.groups())
        if minutes < 60 and seconds < 60:
            return hours * 3600 + minutes * 60 + seconds
    raise CellError("platform.cell.not_duration")
