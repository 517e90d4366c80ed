"""``/statement [PERIOD]``: a period's statement with every line; ``/statement confirm`` closes it.

Three states of a period, three kinds of statement:

* the current period: the to-date and projected views, marked as not final;
* an ended period not yet closed: the final view on the counted figures as they stand, with
  who has confirmed it and how to close it;
* a closed period: the statement stored when an admin of each side confirmed it, exactly as it
  was, plus a warning that lists every figure recorded after the close (not applied).

The same views serve ``/fee PERIOD`` for a past period and ``kpibot statement`` on the
command line (:func:`statement_report`, which also gives the CSV rows).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from bot.core import MessageKind, Outgoing
from bot.core.context import Context
from bot.core.i18n import Translate
from bot.core.ports import LedgerReader, StatementStore
from bot.core.render import fmt_day, fmt_list, fmt_value, label, period_name
from bot.core.rich import Rich, Section
from bot.core.views.aligned import fee_aligned_note
from bot.core.views.fee import (
    fee_line_text,
    fee_rich,
    final_rich,
    owed_lines,
    statement_lines,
    totals_text,
)
from bot.core.views.kpi import (
    counted_note,
    disagreement_lines,
    flatten,
    rich_message,
    status_notes,
)
from bot.core.views.settled import (
    close_command,
    closed_missing_lines,
    how_to_close,
    open_lines,
    statement_confirm_command,
    unsettled_lines,
    unsettled_refusal,
)
from kpi.errors import UserError
from kpi.fees import FeeStatement
from kpi.model import SIDES, ZERO, ChatSide, Deal, Side, other_side
from kpi.money import format_money
from kpi.periods import (
    Period,
    business_day,
    period_by_label,
    period_containing,
    previous_period,
)
from kpi.snapshot import Snapshot, build_snapshot, current_period, snapshot
from kpi.statements import (
    ConfirmOutcome,
    ConfirmResult,
    StoredStatement,
    encode_statement,
    late_entries,
    late_verdicts,
    statement_digest,
)

T = Translate

CONFIRM_WORDS = frozenset({"confirm", "确认"})
"""The sub-command that confirms (``/statement confirm 2026-11``, ``/statement 确认``)."""

ANYWAY_WORDS = frozenset({"anyway", "强制", "仍然确认", "强制确认", "仍然", "仍确认"})
"""Closes a period with figures still open or days unreported (``/statement confirm 2026-11
anyway``, ``/statement confirm 2026年11月 仍然确认``)."""

CSV_HEADER = ("period", "view", "kind", "description", "amount", "currency")

Row = tuple[str, str, str, str, str, str]
"""One CSV row, in the order of :data:`CSV_HEADER`."""


@dataclass(frozen=True)
class StatementView:
    """A period's statement, rendered: the rich reply and the rows of its CSV form.

    ``rows`` follow :data:`CSV_HEADER`, one per fee line plus a ``total`` row per view; the
    amount is the plain decimal (``1500.00``), without grouping."""

    rich: Rich
    rows: list[Row]
    final: bool
    """True for an ended period (closed or not); False for the current one."""
    closed: bool
    record: StoredStatement | None = None
    """The stored statement a closed view shows (its figures: what counted at the close)."""


# ------------------------------------------------------------------------------ periods


def default_period(deal: Deal, today: dt.date) -> Period:
    """The most recent period that has ended, or the current one when none has."""
    current = period_containing(deal.starts, deal.period, max(today, deal.starts))
    return previous_period(current, deal.starts) or current


def resolve_period(deal: Deal, today: dt.date, label: str | None, *, command: str) -> Period:
    """The period a command names (``None``: :func:`default_period`).

    Raises:
        UserError: ``period.bad_label`` / ``period.before_start`` for a label that names no
            period of the deal; ``statement.future_period`` for one that has not started.
    """
    if not label:
        return default_period(deal, today)
    relative = _relative_period(deal, today, label)
    period = relative or period_by_label(deal.starts, deal.period, label)
    if period.start > today:
        current = period_containing(deal.starts, deal.period, max(today, deal.starts))
        raise UserError(
            f"{command}.future_period",
            period=period_name(deal, period),
            start=period.start.isoformat(),
            current=period_name(deal, current),
        )
    return period


_THIS = {"this", "current", "本期", "这期", "这一期"}
_LAST = {"last", "previous", "上期", "上一期"}
_UNIT_WORDS = {
    "week": ({"this week", "本周", "这周"}, {"last week", "上周", "上一周"}),
    "month": ({"this month", "本月", "这个月"}, {"last month", "上月", "上个月"}),
    "quarter": ({"this quarter", "本季度", "这个季度"}, {"last quarter", "上季度", "上个季度"}),
}
"""Period words people type after /kpi, /fee, /statement, /export (``/kpi last week``,
``/进度 上周``): the current or the previous period, in words of the deal's own period kind
or in words of any kind (上期, last)."""


def _relative_period(deal: Deal, today: dt.date, label: str) -> Period | None:
    """The period ``label`` names in words (this/last period), or None when it is not such a
    word. "Last" in the deal's first period is refused: there is no earlier one yet."""
    word = " ".join(label.lower().split())
    this_words, last_words = _UNIT_WORDS.get(deal.period, (set(), set()))
    current = current_period(deal, today)  # the first before the start, the last after the end
    if word in _THIS or word in this_words:
        return current
    if word not in _LAST and word not in last_words:
        return None
    previous = previous_period(current, deal.starts)
    if previous is None:
        raise UserError(
            "period.no_last", starts=deal.starts.isoformat(), first=period_name(deal, current)
        )
    return previous


def shown_period(deal: Deal, today: dt.date, label: str | None, *, command: str) -> Period:
    """The period ``/kpi`` and ``/fee`` show (one rule for both): the one a label names
    (:func:`resolve_period`), else the period containing today, even on its first day, when
    it is nearly empty (the answer then points to the period that just ended)."""
    if label:
        return resolve_period(deal, today, label, command=command)
    return current_period(deal, today)


# ------------------------------------------------------------------------------ rendering


def _money(deal: Deal, amount: Any) -> str:
    return format_money(amount, deal.currency, deal.locale)


def _local(at: dt.datetime, deal: Deal) -> str:
    return at.astimezone(ZoneInfo(deal.timezone)).strftime("%Y-%m-%d %H:%M")


def _rows(t: T, snap: Snapshot, statement: FeeStatement, view: str) -> list[Row]:
    deal = snap.deal
    rows: list[Row] = [
        (
            snap.period.label,
            view,
            line.kind,
            fee_line_text(t, deal, line, snap, statement.values),
            str(line.amount),
            statement.currency,
        )
        for line in statement.lines
    ]
    rows.append(
        (
            snap.period.label,
            view,
            "total",
            t("fee.of_total"),
            str(statement.total),
            statement.currency,
        )
    )
    for text in owed_lines(t, deal, statement):
        # The one negative total (a guarantee refund larger than the fee) says who pays whom.
        owed = str(statement.owed_by_agency)
        rows.append((snap.period.label, view, "owed_by_agency", text, owed, statement.currency))
    return rows


def _body(t: T, snap: Snapshot, statement: FeeStatement) -> list[tuple[str | None, list[str]]]:
    deal = snap.deal
    head = [t("fee.totals", totals=totals_text(deal, statement.values))]
    if statement.trial:
        head.insert(0, t("statement.trial"))
    return [
        (None, head),
        (
            t("statement.lines"),
            [
                *statement_lines(t, deal, statement, snap),
                t("statement.total", total=_money(deal, statement.total)),
                *owed_lines(t, deal, statement),
            ],
        ),
    ]


def _confirmation_lines(
    t: T,
    snap: Snapshot,
    record: StoredStatement | None,
    now: FeeStatement | None = None,
    still_open: Sequence[str] = (),
) -> list[str]:
    """Who confirmed the period: :func:`confirmation_line` of each side."""
    return [confirmation_line(t, snap, record, side, now, still_open)[0] for side in SIDES]


def confirmation_line(
    t: T,
    snap: Snapshot,
    record: StoredStatement | None,
    side: Side,
    now: FeeStatement | None = None,
    still_open: Sequence[str] = (),
) -> tuple[str, str]:
    """Whether ``side`` confirmed the period, and its state (``waiting``, ``outdated`` or
    ``confirmed``). With ``now`` (the statement on today's figures, for a period not closed
    yet), a confirmation of other figures is outdated: it closes nothing, and its side must
    confirm again (with the anyway word while ``still_open``, the period's
    :func:`unsettled_lines`, has anything)."""
    deal = snap.deal
    found = record.confirmation(side) if record is not None else None
    side_name = t(f"side.{side}")
    if found is None:
        return t("statement.waiting_for", side=side_name), "waiting"
    said = {
        "side": side_name,
        "who": found.who,
        "at": _local(found.at, deal),
        "total": _money(deal, found.total),
    }
    if now is not None and found.digest != statement_digest(encode_statement(now)):
        command = close_command(t, snap, still_open)
        text = t("open.confirmation_outdated", now=_money(deal, now.total), command=command, **said)
        return text, "outdated"
    return t("statement.confirmed_by", **said), "confirmed"


def counted_since(snap: Snapshot, record: StoredStatement) -> Snapshot:
    """``snap`` with what counts after the close: a figure left pending by a late entry (not
    confirmed yet) keeps the value it counted at the close, since nothing replaced it yet."""
    figures = dict(snap.figures)
    for key, figure in snap.figures.items():
        old = record.figure(*key)
        if figure.value is None and figure.status == "pending" and old is not None:
            figures[key] = replace(figure, value=old.value)
    return build_snapshot(snap.deal, snap.period, snap.today, figures, snap.entries, snap.verdicts)


def late_lines(t: T, snap: Snapshot, record: StoredStatement) -> list[str]:
    """The figures recorded after a close, each with what counted at the close; one that is
    pending says it does not count until the other side confirms it."""
    deal = snap.deal
    lines = []
    for entry in late_entries(record, snap.entries):
        old = record.figure(entry.day, entry.metric)
        figure = snap.figures.get((entry.day, entry.metric))
        pending = figure is not None and figure.value is None and figure.status == "pending"
        key = "fc.late_entry_pending" if pending else "statement.late_entry"
        counted = old.value if old is not None else None
        lines.append(
            t(
                # Nothing counted at the close: said in words, not as "counted none".
                key if counted is not None else f"{key}_none",
                other=t(f"side.{other_side(entry.side)}"),
                day=fmt_day(entry.day),
                metric=label(deal, entry.metric),
                value=fmt_value(deal, entry.metric, entry.value),
                side=t(f"side.{entry.side}"),
                who=entry.person_name or entry.person,
                at=_local(entry.recorded_at, deal),
                old=fmt_value(deal, entry.metric, counted) if counted is not None else "",
            )
        )
    for verdict in late_verdicts(record, snap.verdicts):
        lines.append(
            t(
                f"statement.late_verdict_{verdict.kind}",
                day=fmt_day(verdict.day),
                metric=label(deal, verdict.metric),
                who=verdict.person_name or verdict.person,
                side=t(f"side.{verdict.side}"),
                at=_local(verdict.recorded_at, deal),
                reason=verdict.reason,
            )
        )
    return lines


def late_metric_lines(t: T, snap: Snapshot, record: StoredStatement) -> list[str]:
    """Per metric, the period total the stored statement used and what it would be with the
    listed late changes: the difference is the sum of the changes to the counted figures of
    the listed days (so it adds up line by line). ``snap`` is :func:`counted_since`'s, so a
    pending late entry changes nothing here."""
    deal = snap.deal
    changed = {(e.day, e.metric) for e in late_entries(record, snap.entries)}
    changed |= {(v.day, v.metric) for v in late_verdicts(record, snap.verdicts)}
    diffs: dict[str, Decimal] = {}
    for day, metric in changed:
        old = record.figure(day, metric)
        now = snap.figures.get((day, metric))
        new_value = now.value if now is not None and now.value is not None else ZERO
        diffs[metric] = diffs.get(metric, ZERO) + new_value - (old.value if old else ZERO)
    lines = []
    for metric, diff in sorted(diffs.items()):
        if not diff:
            continue  # a late entry that changes no counted figure (e.g. still pending)
        stored = sum((f.value for f in record.figures if f.metric == metric), ZERO)
        lines.append(
            t(
                "trust.late_metric",
                metric=label(deal, metric),
                old=fmt_value(deal, metric, stored),
                new=fmt_value(deal, metric, stored + diff),
                diff=("+" if diff > 0 else "") + fmt_value(deal, metric, diff),
            )
        )
    return lines


def ended_period(deal: Deal, today: dt.date, day: dt.date) -> Period | None:
    """The period of ``day`` when it has ended by ``today`` (only then can it be confirmed
    and closed), else ``None``: a report for it may be late for a closed statement."""
    period = period_containing(deal.starts, deal.period, max(day, deal.starts))
    last = min(period.end, deal.ends) if deal.ends is not None else period.end
    return None if last >= today else period


async def late_effect(
    t: T,
    ledger: LedgerReader,
    deal: Deal,
    today: dt.date,
    period: Period | None,
    record: StoredStatement | None,
    *,
    key: str = "trust.closed_period",
) -> str | None:
    """For a figure (or, with ``key`` ``trust.closed_period_verdict``, a confirmation or a
    dispute) just recorded in ``period`` (:func:`ended_period`), whose statement ``record`` was
    read with it: if the period is closed, say so, and what the statement will show (a late
    correction, and the fee it would give); None otherwise."""
    if period is None or record is None or not record.closed or record.statement is None:
        return None
    assert record.closed_at is not None
    snap = counted_since(await snapshot(ledger, deal, today, period=period), record)
    now = snap.fee("final").total
    stored = record.statement.total
    return t(
        key,
        period=period_name(deal, period),
        closed=_local(record.closed_at, deal),
        stored=_money(deal, stored),
        effect=(
            t("trust.fee_would_be", total=_money(deal, now), diff=_signed(deal, now - stored))
            if now != stored
            else t("trust.fee_unchanged", total=_money(deal, stored))
        ),
    )


def late_section(t: T, snap: Snapshot, record: StoredStatement) -> list[str]:
    """The lines under ``statement.late_head`` of a closed period (none when nothing was
    recorded after the close): each late figure or verdict, each metric's total with them,
    and the total the fee would have on today's figures when it differs. ``/statement`` and
    the dashboard show these same lines."""
    assert record.statement is not None
    deal = snap.deal
    late = late_lines(t, snap, record)
    if not late:
        return []
    counted = counted_since(snap, record)
    late.extend(late_metric_lines(t, counted, record))
    now, stored = counted.fee("final"), record.statement
    if now.total != stored.total:
        late.append(
            t(
                "statement.late_total",
                total=_money(deal, now.total),
                diff=_signed(deal, now.total - stored.total),
            )
        )
    return late


def closed_open_lines(t: T, snap: Snapshot, record: StoredStatement) -> list[str]:
    """What a statement closed anyway left open: the figures still pending or disputed, and
    the days nobody had reported (``/statement`` and the dashboard show these lines)."""
    lines = closed_missing_lines(t, snap, record)
    if record.open_figures:
        items = open_lines(t, snap.deal, record.open_figures)
        lines.insert(0, t("trust.closed_with_open", items=items))
    return lines


def closed_view(t: T, snap: Snapshot, record: StoredStatement) -> StatementView:
    """A closed period: the stored statement as it was, and what was recorded since."""
    assert record.statement is not None and record.closed_at is not None
    deal = snap.deal
    stored = record.statement
    sections = _body(t, snap, stored)
    sections.append((t("statement.confirmations"), _confirmation_lines(t, snap, record)))
    closed_open = closed_open_lines(t, snap, record)
    if closed_open:
        sections.append((None, closed_open))
    late = late_section(t, snap, record)
    if late:
        sections.append((t("statement.late_head"), late))
    rich = rich_message(
        t(
            "statement.closed_title",
            deal=deal.name,
            period=period_name(deal, snap.period, dates=True),
            closed=_local(record.closed_at, deal),
        ),
        sections,
        footer=t("statement.closed_note") + "\n" + t("fee.footer", truth=t(f"truth.{deal.truth}")),
    )
    rows = _rows(t, snap, stored, "final")
    return StatementView(rich, rows, final=True, closed=True, record=record)


def _signed(deal: Deal, amount: Any) -> str:
    text = _money(deal, amount)
    if amount <= 0:
        return text
    # "USD +12.00", or "+¥12.00" where the language writes a symbol.
    code = f"{deal.currency} "
    return text.replace(code, code + "+") if text.startswith(code) else "+" + text


def open_view(t: T, snap: Snapshot, record: StoredStatement | None) -> StatementView:
    """An ended period not yet closed: the final view on today's figures, and who confirmed."""
    deal = snap.deal
    statement = snap.fee("final")
    # What is still open comes first, before any total can be read as settled.
    still_open = unsettled_lines(t, snap)
    sections = [(None, still_open), *_body(t, snap, statement)]
    sections.append((t("kpi.disagreements"), disagreement_lines(t, snap)))
    aligned = fee_aligned_note(t, deal, snap.plan, snap.targets, snap.totals.aligned)
    sections.append((None, [*status_notes(t, snap), *aligned]))
    sections.append(
        (
            t("statement.confirmations"),
            [
                *_confirmation_lines(t, snap, record, statement, still_open),
                how_to_close(t, snap, still_open),
            ],
        )
    )
    rich = rich_message(
        t(
            "statement.open_title",
            deal=deal.name,
            period=period_name(deal, snap.period, dates=True),
            end=snap.period.end.isoformat(),
        ),
        sections,
        footer=t("fee.footer", truth=t(f"truth.{deal.truth}")),
    )
    # Ended but not closed by both sides: an export must not call these figures final.
    return StatementView(rich, _rows(t, snap, statement, "unclosed"), final=True, closed=False)


def current_view(t: T, snap: Snapshot) -> StatementView:
    """The current period: to date and projected, clearly not final."""
    deal = snap.deal
    title = t(
        "statement.current_title",
        deal=deal.name,
        period=period_name(deal, snap.period, dates=True),
        day=snap.elapsed_days,
        days=snap.period.days,
    ) + counted_note(t, snap)
    notice = t(
        "statement.not_final",
        period=period_name(deal, snap.period),
        end=snap.period.end.isoformat(),
    )
    rich = fee_rich(t, snap).retitled(title).with_first(Section(None, (notice,)))
    rows = _rows(t, snap, snap.fee("to_date"), "to_date") + _rows(
        t, snap, snap.fee("projected"), "projected"
    )
    return StatementView(rich, rows, final=False, closed=False)


async def build_statement(
    ledger: LedgerReader,
    statements: StatementStore,
    deal: Deal,
    today: dt.date,
    period: Period,
    t: T,
) -> StatementView:
    """The statement of ``period`` as of ``today``, in whichever of the three states it is."""
    snap = await snapshot(ledger, deal, today, period=period)
    if not snap.closed:  # Snapshot.closed: the period has ended
        return current_view(t, snap)
    record = await statements.get(deal.id, period.label)
    if record is not None and record.closed:
        return closed_view(t, snap, record)
    return open_view(t, snap, record)


async def past_fee_rich(t: T, statements: StatementStore, snap: Snapshot) -> Rich:
    """``/fee PERIOD`` for an ended period: the stored statement once closed, else the final
    view on today's figures with a line saying it is not closed yet."""
    record = await statements.get(snap.deal.id, snap.period.label)
    if record is not None and record.closed:
        return closed_view(t, snap, record).rich
    unsettled = unsettled_lines(t, snap)
    lines = (
        *_confirmation_lines(t, snap, record, snap.fee("final"), unsettled),
        how_to_close(t, snap, unsettled),
    )
    rich = final_rich(t, snap, snap.fee("final"))
    if unsettled:  # what is still open, before the figures, as /statement shows it
        rich = rich.with_first(Section(None, tuple(unsettled)))
    return rich.with_last(Section(t("statement.confirmations"), lines))


async def statement_report(
    ledger: LedgerReader,
    statements: StatementStore,
    deal_id: str,
    label: str | None,
    *,
    now: dt.datetime,
    today: dt.date | None = None,
    locale: str | None = None,
) -> StatementView:
    """``kpibot statement``: the same statement as the chat command, for the command line.

    Args:
        ledger: The ledger's read side.
        statements: The confirmed and closed statements.
        deal_id: The deal.
        label: The period label (``None``: :func:`default_period`).
        now: The current instant (aware); its business day in the deal's time zone judges
            whether the period has ended.
        today: A business day to use instead of ``now``'s (to see a statement as of a day).
        locale: The language (default: the deal's).

    Raises:
        LookupError: Unknown deal.
        UserError: A bad or future period label.
    """
    from bot.core.i18n import t as translate

    current = await ledger.current_deal(deal_id)
    if current is None:
        raise LookupError(f"unknown deal {deal_id!r}")
    deal = current[0]
    lang = locale or deal.locale
    day = today if today is not None else business_day(now, deal.timezone)

    def t(key: str, /, **params: Any) -> str:
        return translate(key, lang, **params)

    period = resolve_period(deal, day, label, command="statement")
    return await build_statement(ledger, statements, deal, day, period, t)


# ------------------------------------------------------------------------------ the command


async def statement(ctx: Context) -> list[Outgoing]:
    """``/statement [PERIOD]`` and ``/statement confirm [PERIOD]``."""
    assert ctx.deal is not None
    words = ctx.args.split()
    if words and words[0].casefold() in CONFIRM_WORDS:
        period_label, anyway = split_anyway(words[1:])
        return await _confirm(ctx, period_label, anyway=anyway)
    period = resolve_period(ctx.deal, ctx.today, ctx.args.strip(), command="statement")
    view = await build_statement(
        ctx.ledger, ctx.services.statements, ctx.deal, ctx.today, period, ctx.t
    )
    return [ctx.reply(flatten(view.rich), rich=view.rich)]


def split_anyway(words: Sequence[str]) -> tuple[str, bool]:
    """The period label of ``/statement confirm ...`` and whether it says to confirm anyway.

    ``仍然 确认`` typed apart reads as ``仍然确认``: the ``确认`` after an anyway word is part of
    it, not of the period label."""
    rest: list[str] = []
    anyway = False
    for word in words:
        folded = word.casefold()
        if folded in ANYWAY_WORDS:
            anyway = True
        elif anyway and folded in CONFIRM_WORDS:
            continue
        else:
            rest.append(word)
    return " ".join(rest), anyway


def _side_chats(ctx: Context, sides: tuple[ChatSide, ...]) -> list[str]:
    """The deal's chats of ``sides`` (the current deal file's), other than this one."""
    assert ctx.deal is not None
    return [c.id for c in ctx.deal.chats if c.side in sides and c.id != ctx.cmd.chat]


async def _confirm(ctx: Context, period_label: str, *, anyway: bool) -> list[Outgoing]:
    deal = ctx.deal
    assert deal is not None
    today = ctx.today
    period = resolve_period(deal, today, period_label, command="statement")
    # A period that has not ended is refused first: sending a non-admin to an admin for a
    # confirmation that cannot succeed yet would be a step for nothing.
    _check_ended(deal, today, period)
    side = _confirming_side(ctx, deal, period, anyway=anyway)
    # Read before the figures: whatever is written after this is a late change.
    position = await ctx.ledger.ledger_position(deal.id)
    snap = await snapshot(ctx.ledger, deal, today, period=period)
    if not anyway:
        _check_agreed(ctx.t, snap)
    result = await ctx.services.statements.confirm(
        deal_id=deal.id,
        period=period,
        side=side,
        person=ctx.cmd.user,
        person_name=ctx.cmd.name,
        chat=ctx.cmd.chat,
        message_key=ctx.message_key,
        at=ctx.cmd.at,
        statement=snap.fee("final"),
        figures=snap.figures.values(),
        position=position,
    )
    return _confirm_replies(ctx, snap, side, result)


def _confirming_side(ctx: Context, deal: Deal, period: Period, *, anyway: bool) -> Side:
    """The side an admin confirms for (:func:`kpi.sides.acting_side`, as for /report); a
    user error for anybody else (giving an admin the command as typed, ``anyway`` kept), and
    for an admin in the other side's chat."""
    if not ctx.is_admin:
        command = statement_confirm_command(ctx.t, deal, period, anyway=anyway)
        raise UserError("statement.confirm_admin_only", command=command)
    acting = ctx.acting
    assert acting is not None
    if acting.side is not None:
        return acting.side
    if acting.refusal != "no_side":  # the one side rule: the other side's chat is refused
        raise ctx.refusal(acting)
    chats = fmt_list(
        deal,
        (
            f"{c.id}（{ctx.t(f'side.{c.side}')}）"
            if deal.locale == "zh"
            else f"{c.id} ({ctx.t(f'side.{c.side}')})"
            for c in deal.chats
            if c.side != "shared"
        ),
    )
    raise UserError(
        "statement.confirm_no_side", chats=chats or "—", period=period_name(deal, period)
    )


def _check_ended(deal: Deal, today: dt.date, period: Period) -> None:
    """A user error unless ``period`` has ended by ``today``, naming one that has, if any."""
    if today > period.end:
        return
    previous = previous_period(period, deal.starts)
    if previous is None:
        raise UserError(
            "statement.confirm_none_ended",
            period=period_name(deal, period),
            end=period.end.isoformat(),
        )
    raise UserError(
        "statement.confirm_not_ended",
        period=period_name(deal, period),
        end=period.end.isoformat(),
        example=period_name(deal, previous),
    )


def _check_agreed(t: T, snap: Snapshot) -> None:
    """A user error when the period has no figure at all, figures not agreed yet, or days
    nobody reported (:func:`bot.core.views.settled.unsettled_refusal`)."""
    deal, period = snap.deal, snap.period
    if not snap.figures:
        # A period nobody reported is more likely forgotten than a fee of the fixed terms
        # alone: close it only when an admin says so.
        raise UserError(
            "views.statement_nothing_reported",
            period=period_name(deal, period),
            metric=label(deal, deal.base_metrics[0]),
            end=period.end.isoformat(),
        )
    refusal = unsettled_refusal(t, snap)
    if refusal is not None:
        raise refusal


# ------------------------------------------------------------------------------ confirm replies


@dataclass(frozen=True)
class _Confirmed:
    """A confirmation's outcome, with what its replies name."""

    ctx: Context
    snap: Snapshot
    side: Side
    result: ConfirmResult
    period: str
    """The period's name: in Chinese "2026年11月", which reads naturally and is typed back."""
    names: dict[str, str]
    """The ``side``, ``other`` and ``period`` every reply names."""
    who: str
    """The confirming person."""
    total: str
    """The final statement's total, as the person was shown it."""

    @classmethod
    def of(cls, ctx: Context, snap: Snapshot, side: Side, result: ConfirmResult) -> _Confirmed:
        period = period_name(snap.deal, snap.period)
        other = other_side(side)
        names = {"side": ctx.t(f"side.{side}"), "other": ctx.t(f"side.{other}"), "period": period}
        who = ctx.cmd.name or ctx.cmd.user
        total = _money(snap.deal, snap.fee("final").total)
        return cls(ctx, snap, side, result, period, names, who, total)

    @property
    def deal(self) -> Deal:
        return self.snap.deal

    @cached_property
    def still_open(self) -> list[str]:
        """What the statement still has open (:func:`unsettled_lines`), read once."""
        return unsettled_lines(self.ctx.t, self.snap)

    @property
    def command(self) -> str:
        """What an admin of the other side types to confirm the statement as it is now."""
        return close_command(self.ctx.t, self.snap, self.still_open)

    @property
    def record(self) -> StoredStatement:
        return self.result.record

    @property
    def other(self) -> Side:
        return other_side(self.side)

    def notify(self, sides: tuple[ChatSide, ...], text: str, kind: MessageKind) -> list[Outgoing]:
        """``text`` to the deal's other chats of ``sides``."""
        return [Outgoing(to=to, text=text, kind=kind) for to in _side_chats(self.ctx, sides)]


def _confirm_replies(
    ctx: Context, snap: Snapshot, side: Side, result: ConfirmResult
) -> list[Outgoing]:
    return _CONFIRM_REPLIES[result.outcome](_Confirmed.of(ctx, snap, side, result))


def _duplicate(c: _Confirmed) -> list[Outgoing]:
    t, record = c.ctx.t, c.record
    view = closed_view(t, c.snap, record) if record.closed else open_view(t, c.snap, record)
    return [c.ctx.reply(t("statement.duplicate") + "\n" + flatten(view.rich), rich=view.rich)]


def _same_person(c: _Confirmed) -> list[Outgoing]:
    theirs = c.record.confirmation(c.other)
    assert theirs is not None
    raise UserError(
        "statement.confirm_same_person", other=c.names["other"], period=c.period, who=theirs.who
    )


def _already_closed(c: _Confirmed) -> list[Outgoing]:
    closed_at = c.record.closed_at
    assert closed_at is not None
    text = c.ctx.t("statement.already_closed", period=c.period, closed=_local(closed_at, c.deal))
    return [c.ctx.reply(text)]


def _already_confirmed(c: _Confirmed) -> list[Outgoing]:
    mine = c.record.confirmation(c.side)
    assert mine is not None
    text = c.ctx.t(
        "statement.already_confirmed",
        who=mine.who,
        at=_local(mine.at, c.deal),
        total=_money(c.deal, mine.total),
        command=c.command,
        **c.names,
    )
    return [c.ctx.reply(text)]


def _closed(c: _Confirmed) -> list[Outgoing]:
    record = c.record
    seller = record.confirmation("seller")
    agency = record.confirmation("agency")
    assert seller is not None and agency is not None and record.statement is not None
    notice = c.ctx.t(
        "statement.closed_now",
        period=c.period,
        seller=seller.who,
        agency=agency.who,
        total=_money(c.deal, record.statement.total),
    )
    view = closed_view(c.ctx.t, c.snap, record)
    reply = c.ctx.reply(notice + "\n\n" + flatten(view.rich), rich=view.rich)
    return [reply, *c.notify(("seller", "agency", "shared"), notice, "statement")]


def _reconfirm(c: _Confirmed) -> list[Outgoing]:
    voided = c.result.voided
    assert voided is not None
    old = _money(c.deal, voided.total)
    t, names = c.ctx.t, {**c.names, "command": c.command}
    warning = t("statement.reconfirm", who=voided.who, old=old, total=c.total, **names)
    again = t("statement.confirm_again", who=c.who, old=old, total=c.total, **names)
    reply = c.ctx.reply(warning, kind="warning")
    return [reply, *c.notify((c.other, "shared"), again, "warning")]


def _recorded(c: _Confirmed) -> list[Outgoing]:
    """One side confirmed. When the statement still has something open (so this admin said
    ``anyway``), both messages name it and give the other side the command that works: a plain
    ``/statement confirm`` would be refused for the same open items."""
    t, names = c.ctx.t, c.names
    if c.still_open:
        extra = {"items": "\n".join(c.still_open), "command": c.command}
        mine, theirs = "statement.confirmed_one_as_is", "statement.confirm_request_as_is"
    else:
        extra = {}
        mine, theirs = "statement.confirmed_one", "statement.confirm_request"
    reply = c.ctx.reply(t(mine, who=c.who, total=c.total, **names, **extra))
    request = t(theirs, who=c.who, total=c.total, **names, **extra)
    return [reply, *c.notify((c.other, "shared"), request, "statement")]


_CONFIRM_REPLIES: dict[ConfirmOutcome, Callable[[_Confirmed], list[Outgoing]]] = {
    "duplicate": _duplicate,
    "same_person": _same_person,
    "already_closed": _already_closed,
    "already_confirmed": _already_confirmed,
    "closed": _closed,
    "reconfirm": _reconfirm,
    "recorded": _recorded,
}
"""What each confirmation outcome replies (``same_person`` is a user error)."""
