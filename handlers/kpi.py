"""``/kpi``: the period to date against every target, with pace, disagreements and definitions."""

from __future__ import annotations

from bot.core import Outgoing
from bot.core.context import Context
from bot.core.views.kpi import flatten, kpi_rich
from handlers.statement import shown_period
from kpi.snapshot import snapshot


async def kpi(ctx: Context) -> list[Outgoing]:
    """``/kpi [PERIOD]``: where this period (or a past one, like ``/fee PERIOD``) stands.

    Raises:
        UserError: ``period.bad_label`` for words that name no period (the right form is
            given), ``kpi.future_period`` for a period that has not started.
    """
    assert ctx.deal is not None
    args = ctx.args.strip()
    period = shown_period(ctx.deal, ctx.today, args, command="kpi")
    snap = await snapshot(ctx.ledger, ctx.deal, ctx.today, period=period)
    rich = kpi_rich(ctx.t, snap, command="kpi")
    return [ctx.reply(flatten(rich), rich=rich)]
