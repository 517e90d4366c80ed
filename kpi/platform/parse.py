"""An export's rows to platform records: find the header, detect the kind, map and check cells.

Columns are found by header name, never by position: the built-in aliases of
:mod:`kpi.platform.headers`, plus a deal's own ``platform.columns`` map. Every problem in the
file is collected; if there is any, :class:`ImportRefused` is raised at the end, so a caller
that stores only after the iteration finished never stores part of a file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import cast
from zoneinfo import ZoneInfo

from kpi.platform.headers import CURRENCY_SYMBOLS, FIELDS, KINDS, Field, Kind, normalize, split_unit
from kpi.platform.problems import MAX_KEPT, ImportRefused, Problem
from kpi.platform.read import Limits, read_rows
from kpi.platform.values import (
    CellError,
    parse_count,
    parse_duration,
    parse_id,
    parse_money,
    parse_time,
)

__all__ = [
    "ExportTerms",
    "Header",
    "ParsedExport",
    "PlatformRow",
    "find_header",
    "iter_records",
    "live_key",
    "load_export",
]

_CANCELLED = frozenset(
    {"cancelled", "canceled", "cancel", "已取消", "取消", "đã hủy", "dibatalkan"}
)
_HEADER_SEARCH = 10
_ZERO = Decimal(0)
_ONE = Decimal(1)


@dataclass(frozen=True)
class ExportTerms:
    """What an import checks a file against: the deal's currency, zone, first day, own headers."""

    currency: str
    timezone: str
    starts: dt.date
    columns: Mapping[str, str] = field(default_factory=dict)
    """Extra header -> field name (a deal file's ``platform.columns``)."""


@dataclass(slots=True)
class PlatformRow:
    """One record of an export: a session, an order or an income line.

    Not frozen only because a frozen dataclass is slow to build, and a file has 100,000 of
    them; nothing changes one after it is made.
    ``key`` is its natural key (session: creator id + launch time; order: order id; income:
    id + type); ``day`` is its business day in the deal's time zone; ``values`` are its
    figures; ``detail`` its texts (creator, status, duration in seconds, ...).
    """

    kind: Kind
    key: str
    row: int
    local: dt.datetime
    """The row's time as the export wrote it (naive), in ``zone``."""
    zone: dt.tzinfo
    day: dt.date
    values: dict[str, Decimal]
    detail: dict[str, str]

    @property
    def at(self) -> dt.datetime:
        """The row's time, aware (made only when asked: most rows are only counted)."""
        return self.local.replace(tzinfo=self.zone)

    def digest(self) -> str:
        """A fingerprint of the row's content: equal for an unchanged row in another file."""
        parts = [self.at.isoformat()]
        parts += [f"{k}={v}" for k, v in sorted(self.values.items())]
        parts += [f"{k}={v}" for k, v in sorted(self.detail.items())]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class Header:
    """The header row found in a file: its kind, row number and which column holds each field."""

    kind: Kind
    row: int
    columns: dict[str, int]
    units: dict[str, str]
    labels: dict[str, str] = field(default_factory=dict)
    """Each found field's header as the file writes it (messages name columns so)."""


def _field_index(columns: Mapping[str, str]) -> dict[str, tuple[Kind, Field]]:
    index: dict[str, tuple[Kind, Field]] = {}
    for kind in KINDS:
        by_name = {f.name: f for f in FIELDS[kind]}
        for f in FIELDS[kind]:
            for alias in f.aliases:
                index.setdefault(f"{kind}:{alias}", (kind, f))
        for header, name in columns.items():
            if name in by_name:
                index[f"{kind}:{normalize(header)}"] = (kind, by_name[name])
    return index


def _match(cells: list[str], kind: Kind, row: int, index: dict[str, tuple[Kind, Field]]) -> Header:
    found: dict[str, int] = {}
    units: dict[str, str] = {}
    labels: dict[str, str] = {}
    for position, cell in enumerate(cells):
        text = normalize(cell)
        hit = index.get(f"{kind}:{text}")
        unit = None
        if hit is None:
            bare, unit = split_unit(text)
            hit = index.get(f"{kind}:{bare}")
        if hit is not None and hit[1].name not in found:
            found[hit[1].name] = position
            labels[hit[1].name] = cell.replace("\ufeff", "").strip()
            if unit:
                units[hit[1].name] = unit
    return Header(kind, row, found, units, labels)


def _missing(header: Header) -> list[Field]:
    return [f for f in FIELDS[header.kind] if f.required and f.name not in header.columns]


def find_header(
    rows: Iterator[tuple[int, list[str]]],
    source: str,
    kind: Kind | None,
    columns: Mapping[str, str],
) -> Header:
    """Read rows up to the header row and say which export the file is.

    Lines before the header (``Date Range: ...``, blank lines) are skipped.

    Raises:
        ImportRefused: No header of a known export within the first rows, or one missing a
            required column (with the missing columns named).
    """
    index = _field_index(columns)
    best: Header | None = None
    for number, cells in rows:
        if sum(1 for c in cells if c.strip()) <= 1:
            if number >= _HEADER_SEARCH:
                break
            continue  # blank, or a single-cell line such as "Date Range: 2026/11/02 ~ ..."
        headers = [_match(cells, candidate, number, index) for candidate in KINDS]
        complete = [h for h in headers if not _missing(h)]
        wanted = [h for h in complete if kind is None or h.kind == kind]
        if wanted:
            return wanted[0]
        if complete:  # a known export, but not the kind asked for
            found = complete[0].kind
            problem = Problem(0, "", "platform.other_kind", {"found": found, "kind": kind})
            raise ImportRefused(source, [problem])
        for header in headers:
            if kind in (None, header.kind) and (
                best is None or len(header.columns) > len(best.columns)
            ):
                best = header
        if (best is not None and len(best.columns) >= 2) or number >= _HEADER_SEARCH:
            break
    if best is None or len(best.columns) < 2:
        raise ImportRefused(source, [Problem(0, "", "platform.unknown_export")])
    problems = [
        Problem(best.row, f.label, "platform.missing_column", {"kind": best.kind})
        for f in _missing(best)
    ]
    raise ImportRefused(source, problems)


def _currency_problems(header: Header, currency: str) -> list[Problem]:
    problems = []
    by_name = {f.name: f for f in FIELDS[header.kind]}
    for name, unit in header.units.items():
        if by_name[name].type != "money":
            continue
        means = {unit.upper()} if len(unit) == 3 and unit.isalpha() else CURRENCY_SYMBOLS.get(unit)
        if means is None or currency not in means:
            problems.append(
                Problem(
                    header.row,
                    header.labels.get(name, by_name[name].label),
                    "platform.wrong_currency",
                    {"found": unit.upper(), "currency": currency},
                )
            )
    return problems


_Column = tuple[str, int, Callable[[str], object], Field]
_NO_PROBLEMS: list[Problem] = []  # shared, never appended to: most rows have no problem


class _Row:
    """One data row's cells, each present field parsed once; a bad cell becomes a problem."""

    __slots__ = ("number", "problems", "values")

    def __init__(self, columns: list[_Column], number: int, cells: list[str]) -> None:
        self.number = number
        self.problems: list[Problem] = _NO_PROBLEMS  # replaced by a list on the first one
        values: dict[str, object] = {}
        self.values = values
        width = len(cells)
        # One pass over the columns with local names only: this is the import's hot loop.
        for name, position, parse, f in columns:
            text = cells[position].strip() if position < width else ""
            if text:
                try:
                    values[name] = parse(text)
                except CellError as exc:
                    value = {"value": text[:40]}
                    self.add(Problem(number, f.label, exc.code, value))
            elif f.required:
                self.add(Problem(number, f.label, "platform.cell.empty"))

    def add(self, problem: Problem) -> None:
        """Record a problem of this row."""
        if self.problems is _NO_PROBLEMS:
            self.problems = []
        self.problems.append(problem)

    def text(self, name: str) -> str:
        value = self.values.get(name)
        return value if isinstance(value, str) else ""

    def get(self, name: str) -> object:
        return self.values.get(name)


def _columns(header: Header) -> list[_Column]:
    """Each field the header has: its name, position, parser and definition, looked up once."""
    return [
        (
            f.name,
            header.columns[f.name],
            _PARSERS[f.type],
            dataclasses.replace(f, label=header.labels.get(f.name) or f.label),
        )
        for f in FIELDS[header.kind]
        if f.name in header.columns
    ]


_PARSERS: dict[str, Callable[[str], object]] = {
    "text": str,
    "id": parse_id,
    "money": parse_money,
    "count": parse_count,
    "time": parse_time,
    "utc_time": parse_time,
    "duration": parse_duration,
}


def _description_row(header: Header, cells: list[str]) -> bool:
    """Whether the row after the header describes the columns (the orders export has one)."""
    key = next(f for f in FIELDS[header.kind] if f.type == "id").name
    position = header.columns[key]
    text = cells[position].strip() if position < len(cells) else ""
    try:
        parse_id(text)
        return False
    except CellError:
        pass
    money = next(f for f in FIELDS[header.kind] if f.type == "money" and f.required).name
    position = header.columns[money]
    try:
        parse_money(cells[position] if position < len(cells) else "")
    except CellError:
        return True
    return False


def _values(row: _Row, names: Iterable[str]) -> dict[str, Decimal]:
    values = {}
    for name in names:
        value = row.get(name)
        if isinstance(value, Decimal):
            values[name] = value
    return values


def live_key(creator_id: str, launched: dt.datetime) -> str:
    """A LIVE session's natural key: its creator and launch minute (local, naive).

    The export's rows and the Open API's sessions (:mod:`bot.tiktok.sync`) share it, so one
    session from either is one entry.
    """
    return f"{creator_id}@{launched.isoformat(timespec='minutes')}"


def _live(row: _Row, zone: ZoneInfo, currency: str) -> PlatformRow | None:
    creator = row.get("creator_id")
    launched = row.get("launched")
    duration = row.get("duration")
    values = _values(
        row,
        (
            "live_gmv",
            "attributed_gmv",
            "live_orders",
            "items_sold",
            "customers",
            "viewers",
            "views",
        ),
    )
    if row.problems:
        return None
    assert isinstance(launched, dt.datetime) and isinstance(duration, int)
    detail = {
        "creator_id": str(creator),
        "creator": row.text("creator"),
        "nickname": row.text("nickname"),
        "duration": str(duration),
    }
    key = live_key(str(creator), launched)
    values["sessions"] = _ONE
    return PlatformRow("live", key, row.number, launched, zone, launched.date(), values, detail)


_CURRENCY = "Currency"
"""The currency column's English header: a row's wrong currency names it, and
:func:`iter_records` then names the file's own header (``币种`` in a Chinese export)."""


def _as_in_file(found: list[Problem], currency: str) -> list[Problem]:
    """A row's problems naming the currency column by the file's header ``currency``."""
    if currency == _CURRENCY:
        return found
    return [dataclasses.replace(p, column=currency) if p.column == _CURRENCY else p for p in found]


def _orders(row: _Row, zone: ZoneInfo, currency: str) -> PlatformRow | None:
    # The row's parsed cells become the record's figures once its texts are taken out (one
    # dict for both: this runs for every order of a 100,000-row export).
    values = row.values
    order = values.pop("order_id", None)
    status = str(values.pop("status", ""))
    created = values.pop("created", None)
    found = str(values.pop("currency", ""))
    sku = str(values.pop("sku_id", ""))
    if found and found.upper() != currency:
        problem = {"found": found, "currency": currency}
        row.add(Problem(row.number, _CURRENCY, "platform.wrong_currency", problem))
    if row.problems:
        return None
    assert isinstance(created, dt.datetime)
    figures = cast(dict[str, Decimal], values)
    if status.casefold() in _CANCELLED:
        figures["orders"] = figures["paid_amount"] = figures["refunds"] = _ZERO
    else:
        figures["orders"] = _ONE
        figures["paid_amount"] = figures["order_amount"]
        figures["refunds"] = figures.get("order_refund", _ZERO)
    detail = {"status": status, "sku": sku}
    return PlatformRow(
        "orders", str(order), row.number, created, zone, created.date(), figures, detail
    )


def _income(row: _Row, zone: ZoneInfo, currency: str) -> PlatformRow | None:
    ident = row.get("income_id")
    kind = row.get("type")
    created = row.get("created")
    values = _values(row, ("settlement", "revenue", "income_refund", "fees"))
    found = row.text("currency")
    if found and found.upper() != currency:
        row.add(
            Problem(
                row.number,
                _CURRENCY,
                "platform.wrong_currency",
                {"found": found, "currency": currency},
            )
        )
    if row.problems:
        return None
    assert isinstance(created, dt.datetime)
    day = created.replace(tzinfo=dt.UTC).astimezone(zone).date()
    detail = {"type": str(kind), "settled": row.text("settled")}
    key = f"{ident}|{kind}"
    return PlatformRow("income", key, row.number, created, dt.UTC, day, values, detail)


_BUILDERS: dict[Kind, Callable[[_Row, ZoneInfo, str], PlatformRow | None]] = {
    "live": _live,
    "orders": _orders,
    "income": _income,
}


def iter_records(
    rows: Iterator[tuple[int, list[str]]], header: Header, terms: ExportTerms, source: str
) -> Iterator[PlatformRow]:
    """The records of the rows after the header, checked against the deal's terms.

    Raises:
        ImportRefused: After the last row, if any row or the header had a problem (the
            records yielded so far must then be dropped), or when there is no data row.
    """
    zone = ZoneInfo(terms.timezone)
    columns = _columns(header)
    build = _BUILDERS[header.kind]
    currency = terms.currency
    starts = terms.starts
    problems = _currency_problems(header, terms.currency)
    currency_column = header.labels.get("currency") or _CURRENCY
    total = len(problems)
    first = True
    count = 0
    for number, cells in rows:
        # Only a row whose first cell is blank can be all blank: the usual row costs one check.
        if not cells or (not cells[0].strip() and not any(c.strip() for c in cells)):
            continue
        if first and _description_row(header, cells):
            first = False
            continue
        first = False
        row = _Row(columns, number, cells)
        record = build(row, zone, currency)
        if record is not None and record.day < starts:
            row.add(
                Problem(
                    number,
                    "",
                    "platform.before_start",
                    {"day": record.day.isoformat(), "starts": terms.starts.isoformat()},
                )
            )
        if row.problems:
            total += len(row.problems)
            if len(problems) < MAX_KEPT:
                problems += _as_in_file(row.problems, currency_column)
            continue
        assert record is not None
        count += 1
        yield record
    if not count and not total:
        problems.append(Problem(0, "", "platform.no_rows"))
        total = 1
    if problems:
        raise ImportRefused(source, problems, total)


@dataclass(frozen=True)
class ParsedExport:
    """A whole file, checked: its kind and records (one per natural key), in file order."""

    kind: Kind
    records: list[PlatformRow]

    @property
    def days(self) -> list[dt.date]:
        """The distinct business days the records fall on, sorted."""
        return sorted({r.day for r in self.records})


def _merge(kept: PlatformRow, again: PlatformRow) -> PlatformRow:
    """Two rows with one natural key in one file: an order's SKU lines, or an id's lines."""
    if kept.kind == "orders":
        # Order amounts and refunds are per order and repeat on every SKU line; units add up.
        values = dict(kept.values)
        values["quantity"] = kept.values.get("quantity", Decimal(0)) + again.values.get(
            "quantity", Decimal(0)
        )
        skus = ",".join(s for s in (kept.detail["sku"], again.detail["sku"]) if s)
        return PlatformRow(
            kept.kind,
            kept.key,
            kept.row,
            kept.local,
            kept.zone,
            kept.day,
            values,
            {**kept.detail, "sku": skus},
        )
    if kept.kind == "income":
        values = {
            k: kept.values.get(k, Decimal(0)) + again.values.get(k, Decimal(0))
            for k in kept.values.keys() | again.values.keys()
        }
        return dataclasses.replace(kept, values=values)
    return again  # the same session listed twice: the later line is the newer figure


def load_export(
    data: bytes,
    source: str,
    terms: ExportTerms,
    kind: Kind | None = None,
    limits: Limits | None = None,
) -> ParsedExport:
    """Read, detect, map and check a whole export file.

    Args:
        data: The file's bytes (CSV or XLSX).
        source: Its name, for messages.
        terms: The deal's currency, time zone, first day and extra header map.
        kind: The export's kind; detected from the headers when ``None``.
        limits: Size limits (defaults when ``None``).

    Returns:
        The checked records, one per natural key.

    Raises:
        ImportRefused: Anything wrong, with every problem found (up to a limit).
    """
    rows = read_rows(data, source, limits)
    header = find_header(rows, source, kind, terms.columns)
    merged: dict[str, PlatformRow] = {}
    for record in iter_records(rows, header, terms, source):
        kept = merged.get(record.key)
        merged[record.key] = record if kept is None else _merge(kept, record)
    return ParsedExport(header.kind, list(merged.values()))
