"""``/export [PERIOD]``: a period's ledger, daily figures and statement as an XLSX file.

:func:`period_sheets` is the one builder of a period's export; the command line
(``kpibot export``) and the dashboard's download use it too.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from bot.core import Attachment, Outgoing
from bot.core.context import Context
from bot.core.i18n import Translate
from bot.core.ports import LedgerReader, StatementStore
from bot.core.render import period_name
from handlers.statement import CSV_HEADER, build_statement, resolve_period
from kpi.export import Cell, Sheet, daily_sheet, ledger_sheet, verdict_sheet, xlsx_bytes
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
) -> list[Sheet]:
    """A period's export: the audit trail, verdicts, daily figures by side, the statement.

    Args:
        ledger: The ledger's read side.
        statements: The confirmed and closed statements.
        deal: The deal (its current version; the period is judged by its own terms).
        today: The business day the period is seen from.
        period: The period.
        t: The translation of the statement's line descriptions.
    """
    snap = await snapshot(ledger, deal, today, period=period)
    trail = await ledger.entries_between(deal.id, period.start, period.end)
    view = await build_statement(ledger, statements, deal, today, period, t)
    # The amount goes out as a number (a deduction's "-300.00" is not text to neutralise).
    rows: list[tuple[Cell, ...]] = [(*r[:4], Decimal(r[4]), r[5]) for r in view.rows]
    statement = Sheet("statement", CSV_HEADER, rows)
    return [
        ledger_sheet(trail, {e.id for e in snap.entries}),
        verdict_sheet(snap.verdicts),
        daily_sheet(snap.figures.values()),
        statement,
    ]


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
    sheets = await period_sheets(ctx.ledger, ctx.services.statements, deal, today, period, ctx.t)
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
