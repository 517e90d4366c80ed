"""``/fee``: fee to date and at this pace, ``/fee if ...`` what-ifs, ``/fee PERIOD`` past ones."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import ROUND_CEILING, Decimal

from bot.core import Outgoing
from bot.core.context import Context
from bot.core.render import fmt_list, fmt_pair, fmt_value, label, period_name
from bot.core.views.fee import fee_rich, final_rich
from bot.core.views.kpi import flatten
from handlers.report import units
from handlers.statement import past_fee_rich, shown_period
from kpi.commands import parse_what_if
from kpi.errors import UserError
from kpi.numbers import format_plain
from kpi.snapshot import Snapshot, snapshot

_WHAT_IF = re.compile(r"(?:what\s*if|if|如果|假设)(?:\s+|$)", re.IGNORECASE)
"""How a what-if starts: ``/fee if gmv 60000``, ``/fee what if gmv 60k``, ``/fee 假设 成交额
6万``."""


async def fee(ctx: Context) -> list[Outgoing]:
    """``/fee``, ``/fee if gmv 60000 [...]``, ``/fee 2026-11``."""
    assert ctx.deal is not None
    deal = ctx.deal
    args = ctx.args.strip()
    asked = _WHAT_IF.match(args)
    if asked is not None:
        return await _what_if(ctx, args[asked.end() :])
    period = shown_period(deal, ctx.today, args, command="fee")  # the same rule as /kpi
    snap = await snapshot(ctx.ledger, deal, ctx.today, period=period)
    if args and snap.closed:
        # An ended period named by its label: its stored statement once both sides
        # closed it (later corrections flagged), else the final view on today's figures.
        rich = await past_fee_rich(ctx.t, ctx.services.statements, snap)
    else:
        rich = fee_rich(ctx.t, snap, command="fee")
    return [ctx.reply(flatten(rich), rich=rich)]


async def whatif(ctx: Context) -> list[Outgoing]:
    """``/whatif gmv 60000 [...]``: the same as ``/fee if gmv 60000 [...]`` (people look for a
    what-if under its own name)."""
    return await _what_if(ctx, ctx.args.strip())


async def _what_if(ctx: Context, text: str) -> list[Outgoing]:
    """The fee at the end of the current period if its totals were those ``text`` gives."""
    assert ctx.deal is not None
    deal = ctx.deal
    overrides = parse_what_if(
        text,
        known=deal.base_metrics,
        words=deal.metric_words,
        units=units(deal),
        derived=deal.formulas,
    )
    period = shown_period(deal, ctx.today, None, command="fee")
    snap = await snapshot(ctx.ledger, deal, ctx.today, period=period)
    _refuse_below_counted(snap, overrides)
    statement = snap.fee("projected", overrides)
    shown = fmt_list(deal, (fmt_pair(deal, m, v) for m, v in overrides.items()))
    rich = final_rich(ctx.t, snap, statement, what_if=shown, overrides=overrides.keys())
    return [ctx.reply(flatten(rich), rich=rich)]


def _refuse_below_counted(snap: Snapshot, overrides: Mapping[str, Decimal]) -> None:
    """A what-if states the period's totals at its end: a base metric assumed below what is
    already counted for it this period cannot happen (it would read as a negative rest of the
    period, e.g. net_gmv below 0 or refund_rate above 100%). Refuse it, with a form that can."""
    deal = snap.deal
    for metric, assumed in overrides.items():
        counted = snap.totals.values.get(metric)
        if counted is None or assumed >= counted:
            continue
        projected = snap.projected.get(metric)
        example = _round_up(max(counted, projected or counted))
        # The whole question again, this figure corrected: the others the person assumed stay.
        form = " ".join(
            f"{label(deal, m)} {format_plain(example if m == metric else v)}"
            for m, v in overrides.items()
        )
        raise UserError(
            "guards.if_below_counted",
            metric=metric,
            value=fmt_value(deal, metric, assumed),
            counted=fmt_value(deal, metric, counted),
            period=period_name(deal, snap.period),
            form=form,
        )


def _round_up(value: Decimal) -> Decimal:
    """``value`` rounded up to two significant digits (248,000 to 250000; 0 stays 0), for an
    example total that is round and not below ``value``."""
    if value <= 0:
        return Decimal(0)
    step = Decimal(10) ** max(value.adjusted() - 1, 0)
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step
