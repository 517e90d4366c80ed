"""``/export [PERIOD]``: a period's ledger, daily figures and statement as an XLSX file.

:func:`period_sheets` is the one builder of a period's export; the command line
(``kpibot export``) and the dashboard's download use it too. In a language other than English
each sheet also says how people read it (:func:`shown`): Chinese sheet names and headings, the
deal's metric labels, 卖家/服务商 (the XLSX and CSV files); JSON lines keep the English codes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import get_args

from bot.core import Attachment, Outgoing
from bot.core.context import Context
from bot.core.i18n import Translate, metric_label
from bot.core.ports import LedgerReader, StatementStore
from bot.core.render import period_name
from handlers.statement import CSV_HEADER, build_statement, resolve_period
from kpi.export import Cell, Sheet, Shown, daily_sheet, ledger_sheet, verdict_sheet, xlsx_bytes
from kpi.fees import FeeView, LineKind
from kpi.model import Deal
from kpi.periods import Period, period_containing
from kpi.snapshot import snapshot

T = Translate

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def period_sheets(
    ledger: LedgerReader,
    statements: StatementStore,
    deal: Deal,
    today: dt.date,
    period: Period,
    t: T,
    *,
    locale: str | None = None,
) -> list[Sheet]:
    """A period's export: the audit trail, verdicts, daily figures by side, the statement.

    Args:
        ledger: The ledger's read side.
        statements: The confirmed and closed statements.
        deal: The deal (its current version; the period is judged by its own terms).
        today: The business day the period is seen from.
        period: The period.
        t: The translation of the statement's line descriptions, and of the sheets' names,
            headings and codes as people read them.
        locale: ``t``'s language (default: ``t.locale`` if it has one, else the deal's).
    """
    snap = await snapshot(ledger, deal, today, period=period)
    trail = await ledger.entries_between(deal.id, period.start, period.end)
    view = await build_statement(ledger, statements, deal, today, period, t)
    closed = view.record  # the closed statement the view shows, if the period is closed
    at_close = {(f.day, f.metric): f.value for f in closed.figures} if closed else None
    # The amount goes out as a number (a deduction's "-300.00" is not text to neutralise).
    rows: list[tuple[Cell, ...]] = [(*r[:4], Decimal(r[4]), r[5]) for r in view.rows]
    statement = Sheet("statement", CSV_HEADER, rows)
    sheets = [
        ledger_sheet(trail, {e.id for e in snap.entries}),
        verdict_sheet(snap.verdicts),
        daily_sheet(snap.figures.values(), at_close),
        statement,
    ]
    locale = locale or getattr(t, "locale", None) or deal.locale
    if locale == "en":  # the codes are the English export's words
        return sheets
    return [dataclasses.replace(s, shown=shown(s, deal, locale, t)) for s in sheets]


# Per column of a sheet, the catalog key of each code's word (``None``: see :func:`_words`).
_YES_NO = {"yes": "export.yes", "no": "export.no"}
_SIDES = {"seller": "side.seller", "agency": "side.agency"}
_CODES: Mapping[str, Mapping[str, Mapping[str, str] | None]] = {
    "ledger": {"metric": None, "side": _SIDES, "current": _YES_NO},
    "verdicts": {
        "metric": None,
        "side": _SIDES,
        "kind": {"confirm": "export.verdict.confirm", "dispute": "export.verdict.dispute"},
    },
    "daily": {
        "metric": None,
        "counted_side": _SIDES,
        "status": {s: f"dash.status_{s}" for s in ("counted", "provisional", "pending")},
        "disagreement": _YES_NO,
        "confirmed_by": _SIDES,
        "disputed": _YES_NO,
    },
    "statement": {
        "view": {v: f"export.view.{v}" for v in (*get_args(FeeView), "unclosed")},
        "kind": {k: f"export.line.{k}" for k in (*get_args(LineKind), "total", "owed_by_agency")},
    },
}


def shown(sheet: Sheet, deal: Deal, locale: str, t: T) -> Shown:
    """How people read ``sheet`` in ``locale``: its name, headings and codes in words (metrics
    by the deal's labels, as the chat names them)."""
    return Shown(
        title=t(f"export.sheet.{sheet.name}"),
        header=tuple(t(f"export.col.{column}") for column in sheet.header),
        words=_words(sheet, deal, locale, t),
    )


def _words(sheet: Sheet, deal: Deal, locale: str, t: T) -> dict[str, Mapping[str, str]]:
    words: dict[str, Mapping[str, str]] = {}
    for column, keys in _CODES.get(sheet.name, {}).items():
        if keys is not None:
            words[column] = {code: t(key) for code, key in keys.items()}
            continue
        at = sheet.header.index(column)  # a metric column: every metric the rows name
        names = {name for row in sheet.rows if isinstance(name := row[at], str)}
        words[column] = {name: _metric(deal, name, locale) for name in names}
    return words


def _metric(deal: Deal, name: str, locale: str) -> str:
    metric = deal.metrics.get(name)
    return metric_label(name, locale, metric.labels if metric is not None else None)


def chosen_period(deal: Deal, today: dt.date, label: str | None, *, command: str) -> Period:
    """The period ``label`` names, or the current one without a label.

    Raises:
        UserError: A label that names no started period (its message names ``/command``).
    """
    if label:
        return resolve_period(deal, today, label, command=command)
    return period_containing(deal.starts, deal.period, max(today, deal.starts))


def export_filename(deal: Deal, period: Period, extension: str) -> str:
    """``acme-linkstar-us-2026-11.xlsx``."""
    return f"{deal.id}-{period.label}.{extension}"


async def export(ctx: Context) -> list[Outgoing]:
    """``/export [PERIOD]``: the period's workbook, sent into the chat."""
    assert ctx.deal is not None
    deal = ctx.deal
    today = ctx.today
    period = chosen_period(deal, today, ctx.args.strip(), command="export")
    sheets = await period_sheets(
        ctx.ledger, ctx.services.statements, deal, today, period, ctx.t, locale=ctx.locale
    )
    attachment = Attachment(
        filename=export_filename(deal, period, "xlsx"),
        content=xlsx_bytes(sheets),
        mime=XLSX_MIME,
        title=ctx.t("export.title", name=deal.name, period=period_name(deal, period)),
    )
    text = ctx.t(
        "export.sent", name=deal.name, period=period_name(deal, period), entries=len(sheets[0].rows)
    )
    return [Outgoing(to=ctx.cmd.chat, text=text, files=(attachment,))]
