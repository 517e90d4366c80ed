"""``/fee``: fee to date and at this pace, ``/fee if ...`` what-ifs, ``/fee PERIOD`` past ones."""

from __future__ import annotations

from bot.core import Outgoing
from bot.core.context import Context
from bot.core.render import fmt_list, fmt_pair
from bot.core.views.fee import fee_rich, final_rich
from bot.core.views.kpi import flatten
from handlers.report import units
from handlers.statement import past_fee_rich, shown_period
from kpi.commands import parse_what_if
from kpi.snapshot import snapshot


async def fee(ctx: Context) -> list[Outgoing]:
    """``/fee``, ``/fee if gmv 60000 [...]``, ``/fee 2026-11``."""
    assert ctx.deal is not None
    deal = ctx.deal
    args = ctx.args.strip()
    today = ctx.today
    words = args.split(maxsplit=1)
    if words and words[0].lower() in ("if", "如果", "假设"):
        overrides = parse_what_if(
            words[1] if len(words) > 1 else "",
            known=deal.base_metrics,
            words=deal.metric_words,
            units=units(deal),
            derived=deal.formulas,
        )
        period = shown_period(deal, today, None, command="fee")
        snap = await snapshot(ctx.ledger, deal, today, period=period)
        statement = snap.fee("projected", overrides)
        shown = fmt_list(deal, (fmt_pair(deal, m, v) for m, v in overrides.items()))
        rich = final_rich(ctx.t, snap, statement, what_if=shown, overrides=overrides.keys())
    else:
        period = shown_period(deal, today, args, command="fee")  # the same rule as /kpi
        snap = await snapshot(ctx.ledger, deal, today, period=period)
        if args and snap.closed:
            # An ended period named by its label: its stored statement once both sides
            # closed it (later corrections flagged), else the final view on today's figures.
            rich = await past_fee_rich(ctx.t, ctx.services.statements, snap)
        else:
            rich = fee_rich(ctx.t, snap, command="fee")
    return [ctx.reply(flatten(rich), rich=rich)]
