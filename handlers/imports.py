"""``/import`` (a Seller Center export sent with it), ``/sessions [DATE]``, and the one import path
the command line, the chats and the replay share."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from typing import Any, get_args

from bot.core import Outgoing
from bot.core.context import Context
from bot.core.i18n import t
from bot.core.ports import PlatformData
from bot.core.render import fmt_time
from bot.core.views.platform import CHAT_PROBLEMS, evidence_lines, platform_days, session_line
from kpi.commands import parse_day
from kpi.errors import UserError
from kpi.model import Deal
from kpi.money import format_figure
from kpi.platform.headers import Kind
from kpi.platform.parse import load_export
from kpi.platform.problems import ImportRefused, Problem
from kpi.platform.read import Limits
from kpi.platform.store import ImportResult, Uploader
from kpi.platform.terms import export_terms
from kpi.sides import resolve

__all__ = [
    "history",
    "import_",
    "import_file",
    "render_refusal",
    "render_result",
    "sessions",
]

IMPORTS_SHOWN = 10
"""Imports /history lists."""

KINDS: tuple[str, ...] = get_args(Kind)


async def import_file(
    store: PlatformData,
    deal: Deal,
    data: bytes,
    file_name: str,
    uploader: Uploader,
    now: dt.datetime,
    *,
    kind: Kind | None = None,
    max_bytes: int | None = None,
) -> ImportResult:
    """Check a whole export against the deal and store it: the one path of every way in.

    Raises:
        ImportRefused: Anything wrong with the file; nothing was stored.
    """
    limits = Limits(max_bytes=max_bytes) if max_bytes is not None else Limits()
    terms = export_terms(deal)
    # Parsing a large file takes a while: off the event loop, so other chats are answered.
    parsed = await asyncio.to_thread(load_export, data, file_name, terms, kind, limits)
    return await store.import_export(
        deal.id, parsed, data=data, file_name=file_name, uploader=uploader, now=now
    )


def _n(count: int) -> str:
    """A count as the bot writes numbers: ``1,234``."""
    return format_figure(Decimal(count))


def render_result(result: ImportResult, locale: str) -> str:
    """``📥 Stored the live export: 13 sessions, 2026-11-02 to 2026-11-08; 7 day(s) updated, 0
    row(s) already imported.`` (one day: that day alone)."""
    first = result.first_day.isoformat() if result.first_day else "—"
    last = result.last_day.isoformat() if result.last_day else "—"
    span = first if first == last else t("platform.stored_span", locale, first=first, last=last)
    return t(
        "platform.stored",
        locale,
        kind=t(f"platform.kind.{result.kind}", locale),
        count=_n(result.rows),
        what=t(f"platform.what.{result.kind}", locale),
        span=span,
        days=_n(len(result.days)),
        already=_n(result.already),
    )


def _problem_params(problem: Problem, locale: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for k, v in problem.params.items():
        if k in ("kind", "found") and v in KINDS:  # words of the reader's language (直播, 订单)
            params[k] = t(f"platform.kind.{v}", locale)
        elif isinstance(v, int) and not isinstance(v, bool):  # a size or limit: 20,971,520
            params[k] = _n(v)
        else:
            params[k] = v
    reason = params.pop("reason", None)  # what the CSV reader found, as a catalog key
    if reason is not None and locale != "en":  # English shows the csv module's own words
        params["detail"] = t(reason, locale)
    return params


def _problem_line(problem: Problem, source: str, locale: str) -> str:
    """``FILE:ROW: column: problem`` (``FILE 第 ROW 行，“column”列：problem`` in Chinese)."""
    where = t("import.at_row", locale, file=source, row=problem.row) if problem.row else source
    what = t(problem.code, locale, **_problem_params(problem, locale))
    if problem.column:
        return t("import.problem_in_column", locale, where=where, column=problem.column, what=what)
    return t("import.problem", locale, where=where, what=what)


def render_refusal(refused: ImportRefused, locale: str, limit: int | None = None) -> list[str]:
    """A heading, ``FILE:ROW: column: problem`` lines (up to ``limit``), the rest counted."""
    shown = refused.problems if limit is None else refused.problems[:limit]
    lines = [t("platform.refused", locale, file=refused.source, count=_n(refused.total))]
    lines += [_problem_line(p, refused.source, locale) for p in shown]
    if refused.total > len(shown):
        lines.append(t("platform.refused_more", locale, count=_n(refused.total - len(shown))))
    return lines


def _kind_arg(args: str) -> Kind | None:
    words = args.split()
    if not words:
        return None
    if len(words) > 1 or words[0].casefold() not in KINDS:
        raise UserError("platform.import_usage")
    return words[0].casefold()  # type: ignore[return-value]


async def import_(ctx: Context) -> list[Outgoing]:
    """``/import [live|orders|income]`` with a file: store a Seller Center export (members only)."""
    assert ctx.deal is not None  # needs_deal
    # A chat's side is not enough: only a listed member of a side may bring in evidence.
    if ctx.deal.side_of_member(ctx.cmd.user) is None:
        raise UserError("platform.not_member", person=ctx.cmd.user)
    kind = _kind_arg(ctx.args)
    if not ctx.cmd.files:
        raise UserError("platform.import_usage")
    max_bytes = ctx.services.import_max_bytes
    uploader = Uploader(ctx.cmd.user, ctx.cmd.name, ctx.cmd.chat)
    lines: list[str] = []
    covered: list[dt.date] = []  # the first and last days of each stored export
    for file in ctx.cmd.files:
        try:
            result = await import_file(
                ctx.services.platform, ctx.deal, file.content, file.filename, uploader,
                ctx.clock.now(), kind=kind, max_bytes=max_bytes,
            )  # fmt: skip
        except ImportRefused as refused:
            lines += render_refusal(refused, ctx.locale, CHAT_PROBLEMS)
            continue
        lines.append(render_result(result, ctx.locale))
        covered += [day for day in (result.first_day, result.last_day) if day is not None]
    if covered:
        lines += await _against_typed(ctx, ctx.deal, min(covered), max(covered))
    return [ctx.reply("\n".join(lines))]


async def _against_typed(ctx: Context, deal: Deal, first: dt.date, last: dt.date) -> list[str]:
    """After an import: how the days it covers compare with the figures both sides typed, so
    a contradiction is seen when the evidence arrives, not at the next recap; nothing when
    nobody typed a figure for those days."""
    entries = await ctx.ledger.current_entries(deal.id, first, last)
    if not entries:
        return []
    verdicts = await ctx.ledger.verdicts(deal.id, first, last)
    figures = resolve(entries, verdicts, truth=deal.truth, tolerance=deal.tolerance)
    platform = await platform_days(ctx.services.platform, deal, first, last)
    return evidence_lines(deal, figures, platform, if_any_differ=ctx.t("import.differs_hint"))


async def sessions(ctx: Context) -> list[Outgoing]:
    """``/sessions [DATE]``: the day's livestream sessions (default: the last 7 days)."""
    deal = ctx.deal
    assert deal is not None  # needs_deal
    words = ctx.args.split()
    if len(words) > 1:
        raise UserError("sessions.usage")
    today = ctx.today
    first, last = today - dt.timedelta(days=6), today
    if words:
        day = parse_day(words[0], today=today)
        if day is None:
            raise UserError("sessions.usage")
        first = last = day
    found = await ctx.services.platform.sessions(deal.id, first, last)
    span = (
        first.isoformat()
        if first == last
        else ctx.t("import.span", first=first.isoformat(), last=last.isoformat())
    )
    if not found:
        return [ctx.reply(ctx.t("sessions.none", span=span))]
    lines = [ctx.t("sessions.title", span=span, count=len(found))]
    lines += ["• " + session_line(deal, s, ctx.locale) for s in found]
    return [ctx.reply("\n".join(lines))]


async def history(ctx: Context) -> list[Outgoing]:
    """``/history``: the ledger's entries (:func:`handlers.report.history`), then, without a
    metric or date, the latest imports: who imported which file when."""
    from handlers.report import history as ledger_history

    answers = await ledger_history(ctx)
    deal = ctx.deal
    if deal is None or ctx.args.strip() or not answers:
        return answers
    found = await ctx.services.platform.imports(deal.id, limit=IMPORTS_SHOWN)
    if not found:
        return answers
    lines = [ctx.t("platform.history_title")]
    lines += [
        ctx.t(
            "platform.history_line",
            file=record.file_name,
            kind=ctx.t(f"platform.kind.{record.kind}"),
            who=record.person_name or record.person,
            at=fmt_time(record.imported_at, deal.timezone),
            rows=_n(record.rows),
            stored=_n(record.stored),
            sha=record.sha256[:12],
        )
        for record in found
    ]
    first = answers[0]
    # With imports but no typed entries, "nothing recorded yet" would be wrong.
    text = "" if first.text == ctx.t("history.empty") else first.text
    merged = "\n".join(part for part in (text, *lines) if part)
    return [ctx.reply(merged, kind=first.kind), *answers[1:]]
