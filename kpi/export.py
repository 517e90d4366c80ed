"""Tabular exports of a deal's period: the audit trail, daily figures by side, the statement.

Each export is a list of :class:`Sheet`; the writers turn sheets into CSV files, one XLSX
workbook or JSON lines. Values stay exact: a ``Decimal`` is written as its plain decimal
string (CSV, JSON) or as a text cell (XLSX), never through a float.

A sheet's name, header and codes (``seller``, ``gmv``, ``yes``) are stable English: JSON lines,
read by programs, always carry them. A sheet may also say how people read it in the deal's
language (:class:`Shown`): the CSV and XLSX writers then use its title, headings and words.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from kpi.model import Entry, Verdict
from kpi.sides import Figure

Cell = str | int | Decimal | dt.date | dt.datetime | None

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What spreadsheets read as the start of a formula (OWASP "CSV injection")."""

LEDGER_HEADER = (
    "entry_id",
    "day",
    "metric",
    "value",
    "side",
    "person",
    "person_name",
    "chat",
    "message_key",
    "recorded_at_utc",
    "corrects_entry",
    "current",
)
VERDICT_HEADER = (
    "verdict_id",
    "day",
    "metric",
    "kind",
    "side",
    "person",
    "person_name",
    "entry_id",
    "reason",
    "chat",
    "message_key",
    "recorded_at_utc",
)
DAILY_HEADER = (
    "day",
    "metric",
    "seller",
    "agency",
    "counted",
    "counted_side",
    "status",
    "disagreement",
    "confirmed_by",
    "disputed",
    "counted_at_close",
)


@dataclass(frozen=True)
class Shown:
    """How people read a sheet in another language than its codes (the CSV and XLSX files).

    Attributes:
        title: The sheet's name (the XLSX worksheet; the end of the CSV file's name).
        header: The column headings, one per column of the sheet.
        words: Per column (by its name in the sheet's header), the word each code of that
            column is shown as (``seller`` → ``卖家``). A code without a word, a cell that is
            not text and every other column are shown as they are.
    """

    title: str
    header: tuple[str, ...]
    words: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Sheet:
    """One table of an export: a name, a header and rows of cells (codes, stable English),
    and, when the deal's language is not English, how people read it."""

    name: str
    header: tuple[str, ...]
    rows: list[tuple[Cell, ...]]
    shown: Shown | None = None

    def __post_init__(self) -> None:
        shown = self.shown
        if shown is not None and len(shown.header) != len(self.header):
            raise ValueError(
                f"sheet {self.name!r}: {len(shown.header)} headings, not {len(self.header)}"
            )

    def for_people(self) -> tuple[str, tuple[str, ...], list[tuple[Cell, ...]]]:
        """The title, headings and rows people read: :attr:`shown`'s, or the codes."""
        shown = self.shown
        if shown is None:
            return self.name, self.header, self.rows
        words = [shown.words.get(column) for column in self.header]
        if not any(words):
            return shown.title, shown.header, self.rows
        rows = [
            tuple(
                w.get(c, c) if w is not None and isinstance(c, str) else c
                for w, c in zip(words, row, strict=True)
            )
            for row in self.rows
        ]
        return shown.title, shown.header, rows


def neutralise(text: str) -> str:
    """A text cell a spreadsheet shows as text, never runs as a formula.

    A cell starting with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage return) gets a leading
    apostrophe, which Excel, LibreOffice and Google Sheets read as "this is text".
    """
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _safe(cell: Cell) -> str:
    """A cell as text for a spreadsheet: typed text neutralised; a number, date or instant is
    never a formula, so ``-300.00`` stays a number."""
    return neutralise(cell) if isinstance(cell, str) else _text(cell)


def _text(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, Decimal):
        return format(cell, "f")
    if isinstance(cell, dt.datetime):
        return cell.astimezone(dt.UTC).isoformat()
    if isinstance(cell, dt.date):
        return cell.isoformat()
    return str(cell)


def ledger_sheet(all_entries: Iterable[Entry], current_ids: set[int]) -> Sheet:
    """Every entry, superseded ones included, oldest first: the audit trail."""
    rows: list[tuple[Cell, ...]] = [
        (
            e.id,
            e.day,
            e.metric,
            e.value,
            e.side,
            e.person,
            e.person_name,
            e.chat,
            e.message_key,
            e.recorded_at,
            e.supersedes,
            "yes" if e.id in current_ids else "no",
        )
        for e in sorted(all_entries, key=lambda e: e.id)
    ]
    return Sheet("ledger", LEDGER_HEADER, rows)


def verdict_sheet(verdicts: Iterable[Verdict]) -> Sheet:
    """Every confirmation and dispute, oldest first."""
    rows: list[tuple[Cell, ...]] = [
        (
            v.id,
            v.day,
            v.metric,
            v.kind,
            v.side,
            v.person,
            v.person_name,
            v.entry_id,
            v.reason,
            v.chat,
            v.message_key,
            v.recorded_at,
        )
        for v in sorted(verdicts, key=lambda v: v.id)
    ]
    return Sheet("verdicts", VERDICT_HEADER, rows)


def daily_sheet(
    figures: Iterable[Figure], at_close: Mapping[tuple[dt.date, str], Decimal] | None = None
) -> Sheet:
    """One row per day and metric: each side's current figure and the one that counts, and,
    once the period's statement is closed (``at_close``), the figure that counted in it: the
    statement's totals add up from that column, and a figure recorded after the close shows
    as a current one that differs from it."""
    closed = at_close or {}
    rows: list[tuple[Cell, ...]] = [
        (
            f.day,
            f.metric,
            f.seller.value if f.seller else None,
            f.agency.value if f.agency else None,
            f.value,
            f.counted_side,
            f.status,
            "yes" if f.disagreement else "no",
            f.confirmed_by,
            "yes" if f.disputes else "no",
            closed.get((f.day, f.metric)),
        )
        for f in sorted(figures, key=lambda f: (f.day, f.metric))
    ]
    return Sheet("daily", DAILY_HEADER, rows)


def write_csv(sheets: Sequence[Sheet], out: Path) -> list[Path]:
    """Write one CSV file per sheet: ``report.csv`` → ``report-ledger.csv``, ... (UTF-8
    with a byte-order mark), each as people read it (:meth:`Sheet.for_people`: a Chinese
    deal's ``report-数据记录.csv`` has Chinese headings).

    Returns:
        The files written, in the order of ``sheets``.
    """
    written = []
    for sheet in sheets:
        title, header, rows = sheet.for_people()
        path = out.with_name(f"{out.stem}-{title}{out.suffix or '.csv'}")
        # utf-8-sig: the byte-order mark tells Excel the file is UTF-8 (Chinese names and
        # descriptions would show garbled otherwise); other readers skip it.
        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows([_safe(c) for c in row] for row in rows)
        written.append(path)
    return written


def xlsx_bytes(sheets: Sequence[Sheet]) -> bytes:
    """One workbook with a worksheet per sheet as people read it (:meth:`Sheet.for_people`),
    as the bytes of an ``.xlsx`` file.

    Numbers are written as text cells holding their exact decimal string: a spreadsheet cell
    is a binary float and would change ``0.1``; whoever sums them chooses to convert.
    """
    from openpyxl import Workbook

    book = Workbook()
    default = book.active
    if default is not None:
        book.remove(default)
    for sheet in sheets:
        title, header, rows = sheet.for_people()
        ws = book.create_sheet(title)
        ws.append(list(header))
        for row in rows:
            ws.append([_safe(c) for c in row])
        for cells in ws.iter_rows():
            for cell in cells:
                cell.data_type = "s"  # openpyxl reads a leading "=" as a formula otherwise
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def jsonl_lines(sheets: Sequence[Sheet]) -> Iterable[str]:
    """One JSON object per row: ``{"sheet": name, column: value, ...}`` (values as text).

    Programs read these: the sheet's name, columns and codes stay English in every language
    (:attr:`Sheet.shown` is for people)."""
    for sheet in sheets:
        for row in sheet.rows:
            record: dict[str, str | None] = {"sheet": sheet.name}
            record.update(
                {k: None if c is None else _text(c) for k, c in zip(sheet.header, row, strict=True)}
            )
            yield json.dumps(record, ensure_ascii=False)
