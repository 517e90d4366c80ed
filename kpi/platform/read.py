"""Cells out of an export file: CSV (UTF-8 with or without BOM, GB18030) or XLSX, as text rows."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kpi.platform.problems import ImportRefused, Problem

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MAX_CELLS",
    "MAX_EXPANDED_BYTES",
    "Limits",
    "read_rows",
]

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
"""The largest file accepted (setting ``IMPORT_MAX_BYTES``)."""
MAX_EXPANDED_BYTES = 200 * 1024 * 1024
"""An XLSX whose parts expand beyond this is refused before it is read (a zip bomb)."""
MAX_CELLS = 1_000_000
"""An XLSX with more cells than this is refused."""

Rows = Iterator[tuple[int, list[str]]]

Cell = str | int | float | bool | dt.datetime | dt.date | dt.time | dt.timedelta | None
"""A cell as an XLSX reader gives it (openpyxl's values, calamine's types; ``None``: empty)."""


@dataclass(frozen=True)
class Limits:
    """How large a file may be, and how far an XLSX may expand."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_expanded: int = MAX_EXPANDED_BYTES
    max_cells: int = MAX_CELLS


def _refuse(source: str, code: str, **params: Any) -> ImportRefused:
    return ImportRefused(source, [Problem(0, "", code, params)])


def read_rows(data: bytes, source: str, limits: Limits | None = None) -> Rows:
    """The file's rows as lists of cell texts, each with its 1-based row (line) number.

    Rows are produced lazily, so memory stays flat however long the file is.

    Args:
        data: The file's bytes.
        source: The file's name, for messages.
        limits: Size limits (the defaults when ``None``).

    Raises:
        ImportRefused: The file is too large, empty, or neither CSV text nor a readable XLSX.
    """
    limits = limits or Limits()
    if len(data) > limits.max_bytes:
        raise _refuse(source, "platform.too_large", size=len(data), limit=limits.max_bytes)
    if not data.strip():
        raise _refuse(source, "platform.empty")
    if data.startswith(b"PK\x03\x04"):
        return _xlsx_rows(data, source, limits)
    return _csv_rows(data, _encoding(data, source), source)


_CHUNK = 1 << 20


def _decodes(data: bytes, encoding: str) -> bool:
    """Whether ``data`` is valid ``encoding``, checked a chunk at a time (no second copy)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        for start in range(0, len(data), _CHUNK):
            decoder.decode(data[start : start + _CHUNK])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _encoding(data: bytes, source: str) -> str:
    # A BOM says UTF-8 for certain; otherwise strict UTF-8 first (GB18030 would accept almost
    # any bytes), then GB18030, which Chinese Excel writes. A NUL byte is never text.
    if b"\x00" not in data:
        if data.startswith(b"\xef\xbb\xbf"):
            return "utf-8-sig"
        for encoding in ("utf-8", "gb18030"):
            if _decodes(data, encoding):
                return encoding
    raise _refuse(source, "platform.not_text")


def _csv_rows(data: bytes, encoding: str, source: str) -> Rows:
    # Decoded as it is read: memory stays the file's bytes, whatever the row count.
    text = io.TextIOWrapper(io.BytesIO(data), encoding=encoding, newline="")
    reader = csv.reader(text, strict=True)
    try:
        for row in reader:
            yield reader.line_num, row
    except csv.Error as exc:
        detail = {"detail": str(exc), "reason": _csv_reason(str(exc))}
        raise ImportRefused(
            source, [Problem(reader.line_num, "", "platform.bad_csv", detail)]
        ) from None
    except UnicodeDecodeError:  # a BOM that promised UTF-8, and bytes further on that are not
        raise _refuse(source, "platform.not_text") from None


_CSV_REASONS = (
    ("unexpected end of data", "import.csv.unclosed"),
    ("expected after", "import.csv.after_quote"),
    ("field larger than field limit", "import.csv.too_long"),
)


def _csv_reason(detail: str) -> str:
    """The catalog key saying what the csv module found: its own words are English only."""
    return next((key for words, key in _CSV_REASONS if words in detail), "import.csv.other")


def _cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 2**53:
            return str(int(value))  # calamine reads whole numbers as floats: 7301, not 7301.0
        # The shortest repr round-trips, so 5368.94 stays 5368.94 and never 5368.9399999; a
        # rounded id (5.76E+17) stays visibly rounded, and is refused.
        return str(Decimal(repr(value)))
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    return str(value)


def _check_expansion(data: bytes, source: str, limits: Limits) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            expanded = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError):
        raise _refuse(source, "platform.bad_xlsx") from None
    if expanded > limits.max_expanded:
        raise _refuse(source, "platform.xlsx_expands", limit=limits.max_expanded)


def _xlsx_rows(data: bytes, source: str, limits: Limits) -> Rows:
    _check_expansion(data, source, limits)
    rows = _openpyxl_rows(data)
    if rows is None:
        rows = _calamine_rows(data)
    if rows is None:
        raise _refuse(source, "platform.bad_xlsx")
    return _counted(rows, source, limits)


def _counted(rows: Iterator[tuple[Cell, ...]], source: str, limits: Limits) -> Rows:
    cells = 0
    number = 0
    while True:
        try:
            row = next(rows, None)
        except Exception:  # a part that breaks only when read (bad XML deep in a sheet)
            raise _refuse(source, "platform.bad_xlsx") from None
        if row is None:
            return
        number += 1
        cells += len(row)
        if cells > limits.max_cells:
            raise _refuse(source, "platform.xlsx_cells", limit=limits.max_cells)
        yield number, [_cell(value) for value in row]


def _openpyxl_rows(data: bytes) -> Iterator[tuple[Cell, ...]] | None:
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        sheet = book.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        first = next(rows, None)
    except Exception:  # openpyxl raises many types for files it refuses; calamine gets a go
        return None

    def all_rows() -> Iterator[tuple[Cell, ...]]:
        try:
            if first is not None:
                yield first
            yield from rows
        finally:
            book.close()

    return all_rows()


def _calamine_rows(data: bytes) -> Iterator[tuple[Cell, ...]] | None:
    import python_calamine

    try:
        book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        sheet = book.get_sheet_by_index(0)
        return iter(tuple(row) for row in sheet.iter_rows())
    except Exception:  # a file neither reader can open is refused by the caller
        return None
