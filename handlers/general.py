"""``/help``, ``/whoami``, and the admin's ``/link`` and ``/unlink``."""

from __future__ import annotations

from bot.core import Outgoing
from bot.router import Context
from kpi.errors import UserError
from kpi.model import ChatSide

HELP_COMMANDS = (
    "report",
    "kpi",
    "fee",
    "statement",
    "history",
    "import",
    "sessions",
    "confirm",
    "dispute",
    "ack",
    "escalations",
    "whoami",
    "link",
    "unlink",
)


async def help_(ctx: Context) -> list[Outgoing]:
    """``/help``: every command and its form, in the chat's language."""
    if ctx.deal is None:
        linked = await ctx.ledger.deals_for_chat(ctx.cmd.chat)
        if len(linked) == 1:
            current = await ctx.ledger.current_deal(linked[0][0])
            if current is not None:
                ctx.locale = current[0].locale
    lines = [ctx.t("help.title")]
    lines += [ctx.t(f"help.{name}") for name in HELP_COMMANDS]
    lines.append(ctx.t("help.footer"))
    return [ctx.reply("\n".join(lines))]


async def whoami(ctx: Context) -> list[Outgoing]:
    """``/whoami``: your identity, your side and role, and the deals this chat sees."""
    user = ctx.cmd.user
    lines = [ctx.t("whoami.you", who=user, name=ctx.cmd.name or user)]
    linked = await ctx.ledger.deals_for_chat(ctx.cmd.chat)
    if not linked:
        lines.append(ctx.t("router.not_linked"))
        return [ctx.reply("\n".join(lines))]
    for deal_id, chat_side in linked:
        current = await ctx.ledger.current_deal(deal_id)
        if current is None:
            continue
        deal = current[0]
        ctx.locale = deal.locale
        side = chat_side if chat_side in ("seller", "agency") else deal.side_of_member(user)
        roles = []
        if user in deal.admins:
            roles.append(ctx.t("whoami.admin"))
        for contact in deal.contacts:
            if contact.who == user:
                roles.append(ctx.t("whoami.contact", level=contact.level))
        lines.append(
            ctx.t(
                "whoami.deal",
                deal=deal_id,
                name=deal.name,
                chat_side=ctx.t(f"side.{chat_side}"),
                side=ctx.t(f"side.{side}") if side else ctx.t("side.none"),
                roles=", ".join(roles) if roles else "—",
            )
        )
    return [ctx.reply("\n".join(lines))]


async def link(ctx: Context) -> list[Outgoing]:
    """``/link #deal-id seller|agency|shared``: link this chat to a deal (deal admins only).

    The same refusal is given whether the deal does not exist or the person is not its admin,
    so the command cannot be used to discover deals."""
    from kpi.commands import extract_deal_tag

    tag, rest = extract_deal_tag(ctx.args)
    side = rest.strip().lower() or "shared"
    if tag is None or side not in ("seller", "agency", "shared"):
        raise UserError("link.usage")
    chat_side: ChatSide = side  # type: ignore[assignment]
    current = await ctx.ledger.current_deal(tag)
    if current is None or ctx.cmd.user not in current[0].admins:
        return [ctx.reply(ctx.t("link.refused", tag=tag), kind="error")]
    deal = current[0]
    ctx.locale = deal.locale
    await ctx.ledger.link_chat(ctx.cmd.chat, deal.id, chat_side)
    ctx.forget()
    return [ctx.reply(ctx.t("link.done", deal=deal.id, name=deal.name, side=ctx.t(f"side.{side}")))]


async def unlink(ctx: Context) -> list[Outgoing]:
    """``/unlink [#deal-id]``: remove this chat's link (deal admins only)."""
    assert ctx.deal is not None
    await ctx.ledger.unlink_chat(ctx.cmd.chat, ctx.deal.id)
    ctx.forget()
    return [ctx.reply(ctx.t("unlink.done", deal=ctx.deal.id))]
