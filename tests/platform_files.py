"""Seller Center export samples for the platform tests, and files made from them."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import openpyxl

from kpi.platform.parse import ExportTerms

SAMPLES = Path(__file__).resolve().parent / "data" / "tiktok-shop"
LIVE = SAMPLES / "live-analysis-2026-11-02_2026-11-08.csv"
ORDERS = SAMPLES / "orders-2026-11-02_2026-11-08.csv"
INCOME = SAMPLES / "income-settled-2026-11.csv"
TERMS = ExportTerms("USD", "America/Los_Angeles", dt.date(2026, 11, 1))


def csv_rows(path: Path) -> list[list[str]]:
    """The sample's rows as cell texts."""
    text = path.read_bytes().decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text, newline="")))


def to_csv(rows: list[list[str]], encoding: str = "utf-8") -> bytes:
    """Rows written back as CSV bytes in ``encoding``."""
    out = io.StringIO(newline="")
    csv.writer(out).writerows(rows)
    return out.getvalue().encode(encoding)


def to_xlsx(rows: list[list[str]], numbers: bool = False) -> bytes:
    """Rows as an XLSX workbook; with ``numbers`` plain decimals are stored as numbers (ids stay
    text, as Seller Center writes them)."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append([_number(cell) if numbers else cell for cell in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _number(cell: str) -> object:
    if len(cell) < 12 and cell.replace(".", "", 1).isdigit():
        return float(cell) if "." in cell else int(cell)
    return cell
