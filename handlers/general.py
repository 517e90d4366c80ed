"""``/help``, ``/whoami``, and the admin's ``/link`` and ``/unlink``."""

from __future__ import annotations

import re

from bot.core import Outgoing
from bot.core.context import Context, person_locale
from bot.core.i18n import join_list
from kpi.errors import UserError
from kpi.model import ChatSide, Deal
from kpi.sides import Acting, acting_side

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
    "dashboard",
    "export",
    "whoami",
    "link",
    "unlink",
)


async def _chat_locale(ctx: Context) -> None:
    """Answer in the language of the deal linked to the chat, before any deal is resolved; in
    a chat with no deal yet, in the language of the person's deals (unless they typed Chinese)."""
    if ctx.deal is None:
        linked = await ctx.ledger.deals_for_chat(ctx.cmd.chat)
        if len(linked) == 1:
            current = await ctx.ledger.current_deal(linked[0][0])
            if current is not None:
                ctx.locale = current[0].locale
        elif not linked and ctx.locale != "zh":
            ctx.locale = await person_locale(ctx.ledger, ctx.cmd.user) or ctx.locale


def _mention(ctx: Context) -> str:
    """How to address the bot before a command word on this chat's platform: the platform's
    port knows (``@username`` on Telegram, ``/kpibot`` on Slack); ``@kpibot`` otherwise."""
    return ctx.services.mention(ctx.cmd.chat)


LINK_SIDES = {"卖家": "seller", "服务商": "agency", "共用": "shared", "双方共用": "shared"}
"""Chinese words for the side a chat is linked as (``/link #项目ID 服务商``)."""


async def help_(ctx: Context) -> list[Outgoing]:
    """``/help``: every command and its form, in the chat's language (in Chinese, also the
    Chinese command words and how to address the bot before them)."""
    await _chat_locale(ctx)
    lines = [ctx.t("help.title")]
    lines += [ctx.t(f"help.{name}") for name in HELP_COMMANDS]
    if ctx.locale == "zh":
        lines.append(ctx.t("help.aliases", mention=_mention(ctx)))
    lines.append(ctx.t("help.footer"))
    return [ctx.reply("\n".join(lines))]


async def whoami(ctx: Context) -> list[Outgoing]:
    """``/whoami``: your identity, your side and role, and the deals this chat sees."""
    user = ctx.cmd.user
    await _chat_locale(ctx)
    linked = await ctx.ledger.deals_for_chat(ctx.cmd.chat)
    pairs = [(side, await ctx.ledger.current_deal(deal_id)) for deal_id, side in linked]
    deals = [(side, found[0]) for side, found in pairs if found is not None]
    # The platform may give no name (a console or a bare id): the deals' contacts may.
    known_as = next(
        (c.name for _, d in deals for c in d.contacts if c.who == user and c.name), None
    )
    given = ctx.cmd.name if ctx.cmd.name != user else None
    lines = [ctx.t("whoami.you", who=user, name=given or known_as or user)]
    if not linked:
        lines.append(ctx.t("router.not_linked"))
        return [ctx.reply("\n".join(lines))]
    for chat_side, deal in deals:
        deal_id = deal.id
        ctx.locale = deal.locale
        acting = acting_side(deal, user, chat_side)  # type: ignore[arg-type]
        side = acting.side
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
                roles=join_list(roles, ctx.locale) if roles else "—",
            )
        )
        lines.append(_side_rule(ctx, acting, chat_side))
    return [ctx.reply("\n".join(lines))]


def _side_rule(ctx: Context, acting: Acting, chat_side: str) -> str:
    """The one side rule as it applies to this person in this chat (what /report, /confirm,
    /dispute and /statement confirm will do), in a sentence."""
    names = {
        "side": ctx.t(f"side.{acting.listed or 'none'}"),
        "chat_side": ctx.t(f"side.{chat_side}"),
    }
    if acting.refusal is not None:
        return ctx.t(f"guards.whoami_{acting.refusal}", **names)
    if chat_side == "shared":
        return ctx.t("guards.whoami_shared", **names)
    key = "guards.whoami_own_chat" if acting.listed else "guards.whoami_unlisted"
    return ctx.t(key, **names)


_BARE_ID = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.\-]{0,62}[A-Za-z0-9])?")
"""A deal id as a tag has it, typed without the ``#``."""


def _bare_deal_id(args: str) -> tuple[str | None, str]:
    """``/link acme-linkstar-us agency``: the first word as the deal id when it is not a side
    word (``/link agency`` still lacks a deal), and the rest."""
    first, _, rest = args.strip().partition(" ")
    side_words = {*LINK_SIDES, "seller", "agency", "shared"}
    if not _BARE_ID.fullmatch(first) or first.lower() in side_words or first.isdigit():
        return None, args
    return first, rest


async def link(ctx: Context) -> list[Outgoing]:
    """``/link #deal-id seller|agency|shared``: link this chat to a deal (deal admins only), as
    the admin's own side (:meth:`~kpi.model.Deal.side_of_admin`) or shared.

    A deal that does not exist and one the person is not listed on (neither admin, member nor
    contact) get the same answer, naming only the deals this person may link, so the command
    cannot be used to discover deals; a listed non-admin is told only an admin can link."""
    from kpi.commands import extract_deal_tag

    await _chat_locale(ctx)
    tag, rest = extract_deal_tag(ctx.args)
    if tag is None:
        tag, rest = _bare_deal_id(rest)
    word = rest.strip().lower() or "shared"
    side = LINK_SIDES.get(word, word)
    if tag is None or side not in ("seller", "agency", "shared"):
        raise UserError("link.usage")
    chat_side: ChatSide = side  # type: ignore[assignment]
    current = await ctx.ledger.current_deal(tag)
    if current is None or not _listed(current[0], ctx.cmd.user):
        return [ctx.reply(await _no_such_deal(ctx, tag), kind="error")]
    if ctx.cmd.user not in current[0].admins:
        return [ctx.reply(ctx.t("link.refused", tag=tag), kind="error")]
    deal = current[0]
    ctx.locale = deal.locale
    own = deal.side_of_admin(ctx.cmd.user)
    if own is None:
        return [ctx.reply(ctx.t("hardening.link_no_side", deal=deal.id), kind="error")]
    if chat_side not in (own, "shared"):
        # Linking a chat as the other side would let this admin report that side's figures.
        text = ctx.t(
            "hardening.link_other_side", deal=deal.id, side=ctx.t(f"side.{own}"), keyword=own
        )
        return [ctx.reply(text, kind="error")]
    await ctx.ledger.link_chat(ctx.cmd.chat, deal.id, chat_side)
    ctx.forget()
    return [ctx.reply(ctx.t("link.done", deal=deal.id, name=deal.name, side=ctx.t(f"side.{side}")))]


def _listed(deal: Deal, person: str) -> bool:
    """Whether the deal names ``person`` at all: admin, member or contact."""
    return (
        person in deal.admins
        or deal.side_of_member(person) is not None
        or any(contact.who == person for contact in deal.contacts)
    )


async def _no_such_deal(ctx: Context, tag: str) -> str:
    """``/link #tag`` for no deal this person is listed on: the deals they may link (those
    they are an admin of), else how a deal is loaded. Other deals are never named."""
    mine = []
    for deal_id in sorted(await ctx.ledger.list_deals()):
        found = await ctx.ledger.current_deal(deal_id)
        if found is not None and ctx.cmd.user in found[0].admins:
            mine.append(f"#{deal_id}")
    if mine:
        return ctx.t("guards.link_no_deal_yours", tag=tag, deals=join_list(mine, ctx.locale))
    return ctx.t("guards.link_no_deal", tag=tag)


async def unlink(ctx: Context) -> list[Outgoing]:
    """``/unlink [#deal-id]``: remove this chat's link (deal admins only)."""
    assert ctx.deal is not None
    await ctx.ledger.unlink_chat(ctx.cmd.chat, ctx.deal.id)
    ctx.forget()
    return [ctx.reply(ctx.t("unlink.done", deal=ctx.deal.id))]
