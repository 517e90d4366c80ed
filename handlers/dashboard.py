"""``/dashboard``: a signed link to the deal's dashboard; ``/dashboard revoke`` (admins)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from bot.core import Outgoing
from bot.core.context import Context
from kpi.errors import UserError
from kpi.model import ChatSide

REVOKE_WORDS = frozenset({"revoke", "撤销", "作废"})


async def dashboard(ctx: Context) -> list[Outgoing]:
    """``/dashboard``: a link valid for ``DASHBOARD_LINK_DAYS``, seen as this chat's side."""
    assert ctx.deal is not None
    deal = ctx.deal
    links = ctx.services.dashboard  # present only when SECRET_KEY is set
    if links is None:
        raise UserError("dashboard.not_configured")
    words = ctx.args.split()
    now = ctx.cmd.at
    if words and words[0].casefold() in REVOKE_WORDS:
        if not ctx.is_admin:
            raise UserError("dashboard.revoke_admin_only")
        await links.revoke(deal.id, now)
        return [ctx.reply(ctx.t("dashboard.revoked", name=deal.name))]
    if words:
        raise UserError("dashboard.usage", given=ctx.args.strip())
    side: ChatSide = ctx.chat_side or "shared"
    token = links.token(deal.id, side, now)
    until = (now + dt.timedelta(days=links.days)).astimezone(ZoneInfo(deal.timezone))
    text = ctx.t(
        "dashboard.link",
        name=deal.name,
        side=ctx.t(f"side.{side}"),
        until=until.strftime("%Y-%m-%d %H:%M"),
        tz=deal.timezone,
        url=links.url(token),
    )
    return [ctx.reply(text)]
