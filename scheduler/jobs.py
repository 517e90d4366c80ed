"""The deal-level jobs: decide from the ledger what a due slot means, and fan it out.

A job never sends anything itself. It reads the ledger and returns the messages to enqueue (one
per linked chat, keyed by deal, kind, slot and chat) and the escalations to start; the service
stores them together with the job's result in one transaction, so a job that is run twice (its
first runner died) stores each message once.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core import Outgoing, platform_of
from bot.core.i18n import Translate, join_clauses, join_list, translator
from bot.core.ports import LedgerReader, PlatformData
from bot.core.render import fmt_money, fmt_target, fmt_time, fmt_value, label, period_name
from bot.core.views.aligned import aligned_notes
from bot.core.views.kpi import status_line
from bot.core.views.platform import platform_lines
from kpi.formula import BinOp, Name
from kpi.model import SIDES, Deal, Entry, Schedule, Side, Target, Verdict, other_side
from kpi.money import format_percent
from kpi.pace import TargetStatus
from kpi.periods import business_day, period_containing, previous_period
from kpi.platform.store import PlatformSpan, PlatformStore
from kpi.platform.truth import PlatformDays
from kpi.sides import Figure, agrees, contested, resolve
from kpi.snapshot import Snapshot, current_period, records_span, snapshot, split_records
from kpi.statement_store import statement_on
from scheduler import messages
from scheduler.escalation import (
    DISAGREEMENT_OPEN,
    EscalationRecord,
    Escalations,
    Resolution,
    describe,
    paged,
    plan_escalation,
    plan_resolution,
)
from scheduler.outbox import NewEscalation, NewRow, Outbox, OutboxRow, missed_since_previous
from scheduler.recap import ChartData, compose_recap, recap_week

__all__ = ["DISAGREEMENT_OPEN", "JobOutcome", "Jobs", "RecapLedger", "fee_effect", "withdrawn"]

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class JobOutcome:
    """What a job decided: messages to enqueue, escalations to start and to end, a result to
    keep (stored together, in the transaction that finishes the job's claim)."""

    messages: list[NewRow] = field(default_factory=list)
    escalations: list[NewEscalation] = field(default_factory=list)
    resolutions: list[Resolution] = field(default_factory=list)
    """Open pace escalations a pace check found back on pace (each ended once, whoever runs
    the check, however often)."""
    result: dict[str, Any] = field(default_factory=dict)
    chart: ChartData | None = None
    """A recap's chart, drawn by the caller off the event loop and attached to every message."""


def _fan_out(
    deal: Deal, kind: str, slot: str, chats: Sequence[str], msg: Outgoing, now: dt.datetime
) -> list[NewRow]:
    payload = messages.encode(msg)
    return [NewRow(deal.id, kind, slot, chat, now, payload) for chat in chats]


def withdrawn(rows: Sequence[NewRow], lines: Collection[str]) -> list[NewRow]:
    """A pace check's messages without the lines of escalations it did not end after all
    (between the check's decision and its store, an ``/ack`` ended them first). A message left
    with its title alone is not sent: those lines were all it had to say."""
    kept = []
    for row in rows:
        if row.payload is None:
            kept.append(row)
            continue
        msg = messages.decode(row.payload, row.chat)
        text = [line for line in msg.text.split("\n") if line not in lines]
        if len(text) == 1:
            continue
        payload = messages.encode(replace(msg, to="", text="\n".join(text)))
        kept.append(replace(row, payload=payload))
    return kept


def _ratio_on_target(snap: Snapshot, target: Target) -> dict[str, Decimal] | None:
    """For a target on a ratio of two reported metrics (``refunds / gmv``, ``gmv /
    ad_spend``), the one input that puts it on target at the period's end, the other at its
    projection: an at-most ratio by its numerator (refunds at 8% of GMV), an at-least one by
    its denominator (ad spend at GMV / 3), so that the volume the fee is paid on stays as
    projected and the difference is the ratio's own. None for any other formula."""
    info = snap.deal.metrics.get(target.metric)
    tree = info.formula.tree if info and info.formula else None
    if not (
        isinstance(tree, BinOp)
        and tree.op == "/"
        and isinstance(tree.left, Name)
        and isinstance(tree.right, Name)
        and {tree.left.name, tree.right.name} <= set(snap.deal.base_metrics)
    ):
        return None
    numerator, denominator = tree.left.name, tree.right.name
    if target.direction == "at_most":
        base = snap.projected.get(denominator)
        return None if base is None else {numerator: target.value * base}
    base = snap.projected.get(numerator)
    if base is None or target.value == 0:
        return None
    return {denominator: base / target.value}


def fee_effect(tr: Translate, snap: Snapshot, status: TargetStatus) -> str | None:
    """What a target's shortfall means for the fee at the current pace.

    For a reported metric, and a ratio of two (:func:`_ratio_on_target`), it compares the
    projected fee with the fee if the metric ended on its target (everything else at the
    current pace); for another derived one it states the projected fee.
    """
    deal = snap.deal
    target = status.target
    try:
        projected = snap.fee("projected")
        assumed = (
            {target.metric: target.value}
            if target.metric in deal.base_metrics
            else _ratio_on_target(snap, target)
        )
        on_target = snap.fee("projected", assumed) if assumed else None
    except (ValueError, ArithmeticError, LookupError):
        log.exception("fee effect for %s", deal.id)
        return None
    if on_target is not None and on_target.total != projected.total:
        return tr(
            "pace.fee_cost",
            projected=fmt_money(deal, projected.total),
            on_target=fmt_money(deal, on_target.total),
            difference=fmt_money(deal, abs(on_target.total - projected.total)),
            metric=label(deal, target.metric),
        )
    if on_target is not None:  # on target, alone, it would not move the fee: say so
        return tr(
            "pace.fee_no_effect",
            projected=fmt_money(deal, projected.total),
            metric=label(deal, target.metric),
        )
    return tr("pace.fee_projected", projected=fmt_money(deal, projected.total))


def _arisen(figure: Figure) -> dt.datetime | None:
    """When a disagreement or dispute started standing: its latest contributing record."""
    stamps = [e.recorded_at for e in (figure.seller, figure.agency) if e is not None]
    stamps += [d.recorded_at for d in figure.disputes]
    return max(stamps) if stamps else None


def _behind_pace(
    tr: Translate,
    snap: Snapshot,
    deal: Deal,
    slot: str,
    now: dt.datetime,
    warned_before: set[str],
) -> tuple[list[str], list[str], list[NewEscalation]]:
    """The targets behind the warning pace: their status lines (each with what it does to
    the fee), their metrics, and the escalations to start (below the escalation pace, or
    warned about in the previous check too)."""
    rules = deal.schedule
    lines: list[str] = []
    warned: list[str] = []
    starts: list[NewEscalation] = []
    for status in snap.statuses:
        if status.pace is None or status.pace >= rules.warn_below:
            continue
        metric = status.target.metric
        warned.append(metric)
        lines.append(status_line(tr, snap.deal, status))
        # A ratio over fewer days than were reported says so, as in /kpi.
        aligned = snap.totals.aligned
        lines.extend("   " + note for note in aligned_notes(tr, snap.deal, aligned, {metric}))
        effect = fee_effect(tr, snap, status)
        if effect:
            lines.append("   " + effect)
        why = _escalation_why(status, rules, warned_before)
        if why is not None:
            detail = _pace_detail(snap.deal, rules, status, why)
            starts.append(plan_escalation(deal, f"pace:{metric}", slot, detail, now))
    return lines, warned, starts


def _escalation_why(status: TargetStatus, rules: Schedule, warned_before: set[str]) -> str | None:
    """Why a target's pace escalates at this check: ``below`` the escalation pace, or behind the
    warning pace when the previous check warned about it too (``repeated``); ``None`` when it
    does not (on pace, behind only for the first time, or no pace to judge)."""
    if status.pace is None or status.pace >= rules.warn_below:
        return None
    if status.pace < rules.escalate_below:
        return "below"
    if status.target.metric in warned_before:
        return "repeated"
    return None


def _pace_detail(terms: Deal, rules: Schedule, status: TargetStatus, why: str) -> dict[str, Any]:
    """What a pace escalation says: the metric, its pace against the threshold it crossed,
    the actual and the target."""
    metric = status.target.metric
    assert status.pace is not None
    return {
        "type": "pace",
        "why": why,
        "metric": metric,
        "pace": format_percent(status.pace),
        "threshold": format_percent(rules.escalate_below if why == "below" else rules.warn_below),
        "actual": fmt_value(terms, metric, status.actual),
        "target": fmt_target(terms, metric, status.target.direction, status.target.value),
    }


def _stale_disagreements(
    tr: Translate, standing: Sequence[Figure], deal: Deal, slot: str, now: dt.datetime
) -> list[NewEscalation]:
    """One escalation per day whose disagreements (``standing``: figures disagreeing or
    disputed, :func:`kpi.sides.contested`) have stood longer than ``DISAGREEMENT_OPEN``,
    however many metrics disagree on it."""
    stale: dict[dt.date, list[tuple[Figure, dt.datetime]]] = {}
    for figure in standing:
        arisen = _arisen(figure)
        if arisen is not None and now - arisen > DISAGREEMENT_OPEN:
            stale.setdefault(figure.day, []).append((figure, arisen))
    starts = []
    for day, figures in sorted(stale.items()):
        # Clauses: each item holds a comma of its own.
        items = join_clauses((_disagreement_item(tr, deal, f) for f, _ in figures), deal.locale)
        detail = {
            "type": "disagreement",
            "day": day.isoformat(),
            "items": items,
            "since": fmt_time(min(arisen for _, arisen in figures), deal.timezone),
        }
        starts.append(plan_escalation(deal, f"disagreement:{day.isoformat()}", slot, detail, now))
    return starts


def _disagreement_item(tr: Translate, terms: Deal, figure: Figure) -> str:
    """One metric of a disagreement escalation: both sides' figures when they differ; when
    they do not (or one side gave none) it is a dispute, said as one: who disputes which
    figure, and why ("seller 1,862, agency 1,862" would contradict "disagree")."""
    seller, agency = figure.seller, figure.agency
    if figure.disputes and (
        seller is None or agency is None or agrees(seller.value, agency.value, terms.tolerance)
    ):
        latest = max(figure.disputes, key=lambda v: v.id)
        disputed = figure.entry(other_side(latest.side))
        return tr(
            "escalation.dispute_item",
            metric=label(terms, figure.metric),
            by=tr(f"side.{latest.side}"),
            of=tr(f"side.{other_side(latest.side)}"),
            value=fmt_value(terms, figure.metric, disputed.value if disputed else None),
            reason=latest.reason,
        )
    return tr(
        "escalation.disagreement_item",
        metric=label(terms, figure.metric),
        seller=fmt_value(terms, figure.metric, seller.value if seller else None),
        agency=fmt_value(terms, figure.metric, agency.value if agency else None),
    )


def _back_on_pace(snap: Snapshot, rules: Schedule, metric: str) -> TargetStatus | None:
    """The metric's status when a pace escalation about it is no longer warranted, else None.

    The judgement that starts one (:func:`_escalation_why`), with the open escalation standing
    for the previous check's warning: so it ends once the pace is back at the warning line,
    and a check missed in between does not end it at a pace still behind it. A metric with no
    pace to judge (no target any more, nothing to measure) is not "back on pace"."""
    status = next((s for s in snap.statuses if s.target.metric == metric), None)
    if status is None or status.pace is None:
        return None
    if _escalation_why(status, rules, {metric}) is not None:
        return None
    return status


def _settled_reasons(deal: Deal, day: dt.date, records: Sequence[EscalationRecord]) -> set[str]:
    """Reasons not to escalate again: one still open, or one a contact acknowledged.

    An open escalation runs its course (``repeat`` up to ``max`` notices, issue 6) and stays
    open, listed by /escalations, until someone acknowledges it or, for a pace shortfall, a
    pace check finds it back on pace. An acknowledged pace shortfall stays quiet for the rest
    of its period (the daily warning in the group goes on; a new period raises it afresh); an
    acknowledged disagreement is about one day and stays settled. One that ended by itself
    (``resolved``) settles nothing: the same metric falling behind again later in the period is
    a new shortfall, and escalates afresh."""
    period_start = period_containing(deal.starts, deal.period, max(day, deal.starts)).start

    def settles(e: EscalationRecord) -> bool:
        if e.status == "open":
            return True
        return e.status == "acked" and (
            e.reason.startswith("disagreement:")
            or business_day(e.started_at, deal.timezone) >= period_start
        )

    return {e.reason for e in records if settles(e)}


def _pace_title(
    tr: Translate, deal: Deal, day: dt.date, warned: Sequence[str], *, alarm: bool = True
) -> str:
    """The warning's first line, with the thresholds when a target is behind. Without
    ``alarm`` (the check only ends escalations that are back on pace) it carries no ⚠."""
    key = "pace.title" if alarm else "pace.title_clear"
    title = tr(key, deal=deal.name, day=day.isoformat())
    if warned:
        rules = deal.schedule
        title += "\n" + tr(
            "pace.threshold",
            warn=format_percent(rules.warn_below),
            escalate=format_percent(rules.escalate_below),
        )
    return title


class RecapLedger(LedgerReader, Protocol):
    """The ledger's read side, with the one read of a recap (``kpi.ledger.Ledger``)."""

    async def recap_records(
        self,
        deal_id: str,
        period_start: dt.date,
        first: dt.date,
        last: dt.date,
        also: Callable[[AsyncConnection], Awaitable[T]],
    ) -> tuple[Deal, list[Entry], list[Verdict], list[tuple[str, str]], T]: ...


@dataclass(frozen=True)
class _RecapReads:
    """What a recap read, resolved: the period, the week, the platform section, the missed
    slots and the chats it goes to."""

    snap: Snapshot
    figures: dict[tuple[dt.date, str], Figure]
    platform: list[str]
    missed: list[OutboxRow]
    chats: list[str]
    closed: bool = False
    """The period's statement is closed (its fee is final, not provisional)."""


@dataclass(frozen=True)
class _SpanDays:
    """The platform's day figures from a span already read; days outside it are asked of
    ``fallback`` (the terms of the period count the platform's figures, the current deal's
    do not)."""

    span: PlatformSpan
    fallback: PlatformDays

    async def platform_days(
        self, deal_id: str, first: dt.date, last: dt.date
    ) -> dict[dt.date, dict[str, Decimal]]:
        if self.span.covers(first, last):
            return self.span.day_figures(first, last)
        return await self.fallback.platform_days(deal_id, first, last)


class Jobs:
    """Runs the recap, pace-check and reminder jobs."""

    def __init__(
        self, ledger: RecapLedger, store: Outbox, platform: PlatformData, *, charts: bool = True
    ) -> None:
        self.ledger = ledger
        self.store = store
        self.platform = platform
        self.charts = charts

    async def run(self, row: OutboxRow, deal: Deal, now: dt.datetime) -> JobOutcome:
        """Decide one due job.

        Args:
            row: The claimed job row (``chat == "*"``).
            deal: The deal's current version.
            now: The present instant.
        """
        day = dt.date.fromisoformat(row.slot)
        if row.kind == "recap":
            return await self.recap(row, deal, day, now)
        if row.kind == "pace":
            return await self.pace(row, deal, day, now)
        if row.kind == "reminder":
            return await self.reminder(row, deal, day, now)
        raise ValueError(f"unknown job kind {row.kind!r}")

    async def _chats(self, deal: Deal) -> list[tuple[str, str]]:
        return await self.ledger.chats_of_deal(deal.id)

    # ------------------------------------------------------------------------ recap

    async def recap(self, row: OutboxRow, deal: Deal, day: dt.date, now: dt.datetime) -> JobOutcome:
        """The weekly recap to every linked chat, mentioning slots missed since the last one.

        Its reads (the period's and the week's records, the linked chats, the slots missed
        since the previous recap, the platform's figures) are one read transaction
        (:meth:`_recap_reads`)."""
        week = recap_week(deal, day)
        if week is None:
            return JobOutcome(result={"reason": "the week is before the deal's start"})
        reads = await self._recap_reads(deal, row.slot, day, week, now)
        message, chart = compose_recap(
            deal, week, reads.snap, reads.figures, reads.platform, missed=reads.missed,
            chart=self.charts, closed=reads.closed,
        )  # fmt: skip
        return JobOutcome(
            messages=_fan_out(deal, "recap", row.slot, reads.chats, message, now),
            result={
                "chats": len(reads.chats),
                "missed": [m.id for m in reads.missed],
                "missed_upto": now.isoformat(),
            },
            chart=chart,
        )

    async def _recap_reads(
        self,
        deal: Deal,
        slot: str,
        day: dt.date,
        week: tuple[dt.date, dt.date],
        now: dt.datetime,
    ) -> _RecapReads:
        """Everything a recap due on ``day`` reads, in one transaction of the ledger's
        (``Ledger.recap_records``): the period's and the week's records, the chats, and on the
        same connection the missed slots and the platform's figures (of the week, and of the
        period too when the deal counts the platform's figures).

        The period is the one of the week's last day, read as of ``day`` (when the recap is
        sent, the week's last day is a past day: its pace and its days not reported are what
        ``/kpi`` and the pace check say on ``day``)."""
        week_start, week_end = week
        period = current_period(deal, week_end)
        first, last = records_span(period, week_start, week_end)
        span = (first, last) if deal.platform.counts else week
        store = self.platform if isinstance(self.platform, PlatformStore) else None

        ended = week_end >= period.end

        async def also(conn: AsyncConnection) -> tuple[list[OutboxRow], PlatformSpan | None, bool]:
            missed = await missed_since_previous(conn, deal.id, "recap", slot, now)
            platform = None if store is None else await store.read_span(conn, deal.id, *span)
            # Only an ended period can be closed: its fee line is final once it is.
            record = await statement_on(conn, deal.id, period.label) if ended else None
            return missed, platform, record is not None and record.closed

        terms, entries, verdicts, chats, (missed, platform, closed) = (
            await self.ledger.recap_records(deal.id, period.start, first, last, also)
        )
        if platform is None:  # another PlatformData: its own reads
            platform = PlatformSpan(
                *span,
                await self.platform.day_figures(deal.id, *span),
                await self.platform.sessions(deal.id, *span),
            )
        source = _SpanDays(platform, self.ledger)
        snap, figures = await split_records(
            source, terms, period, day, entries, verdicts, week_start, week_end
        )
        lines = platform_lines(
            terms, figures, platform.day_figures(*week), platform.sessions(*week)
        )
        return _RecapReads(snap, figures, lines, missed, [chat for chat, _ in chats], closed)

    async def recap_context(
        self, deal_id: str, slot: str, now: dt.datetime
    ) -> tuple[list[OutboxRow], list[str]]:
        """The job slots missed since the previous recap, and the chats the recap goes to.

        What ``Outbox.previous_job`` (the latest recap before ``slot`` that was done, whose
        result says up to when it mentioned missed slots), ``Outbox.missed_between`` (from then
        to ``now``) answer, in one outbox transaction, and the deal's linked chats (the
        ledger's): a recap's reads are most of its cost.
        """

        missed = await self.store.missed_since_previous(deal_id, "recap", slot, now)
        chats = [chat for chat, _ in await self.ledger.chats_of_deal(deal_id)]
        return missed, chats

    # ------------------------------------------------------------------------- pace

    async def pace(self, row: OutboxRow, deal: Deal, day: dt.date, now: dt.datetime) -> JobOutcome:
        """Warn about targets behind pace; start escalations where the rules say so, and end
        the open pace escalations whose target is back on pace."""
        snap = await snapshot(self.ledger, deal, day)
        tr = translator(deal.locale)
        previous = await self.store.previous_job(deal.id, "pace", row.slot)
        warned_before = set(previous.result().get("warned", ())) if previous else set()
        lines, warned, starts = _behind_pace(tr, snap, deal, row.slot, now, warned_before)
        contested = await self._unclosed_previous_disagreements(deal, snap) + snap.disagreements
        starts += _stale_disagreements(tr, contested, deal, row.slot, now)
        if not deal.contacts:
            # Nobody to tell, and nobody who could acknowledge: the group warning stands alone.
            starts = []
        outcome = JobOutcome(result={"warned": warned})
        records = await Escalations(self.store).of_deal(deal.id)
        ended, ended_lines = await self._recovered(tr, snap, deal, records, day, now)
        if not lines and not starts and not ended:
            return outcome
        settled = _settled_reasons(deal, day, records)
        fresh = [s for s in starts if s.reason not in settled]
        outcome.escalations = fresh
        outcome.result["escalated"] = [s.reason for s in fresh]
        outcome.resolutions = ended
        outcome.result["resolved"] = [r.escalation_id for r in ended]
        body = list(lines)
        for start in fresh:
            body.append(tr("pace.escalating", reason=describe(deal, start.detail)))
        body += ended_lines
        if not body:
            return outcome
        title = _pace_title(tr, deal, day, warned, alarm=len(body) > len(ended_lines))
        text = "\n".join([title, *body])
        chats = [chat for chat, _ in await self._chats(deal)]
        outcome.messages = _fan_out(
            deal, "warning", row.slot, chats, Outgoing(to="", text=text, kind="warning"), now
        )
        return outcome

    async def _unclosed_previous_disagreements(self, deal: Deal, snap: Snapshot) -> list[Figure]:
        """The previous period's disagreements while its statement is not closed: one that
        arose in a period's last days comes due for escalation after the period ended, and it
        is what holds its statement up (once closed, the statement settles it)."""
        previous = previous_period(snap.period, deal.starts)
        if previous is None:
            return []

        async def closed(conn: AsyncConnection) -> bool:
            record = await statement_on(conn, deal.id, previous.label)
            return record is not None and record.closed

        terms, entries, verdicts, _, is_closed = await self.ledger.recap_records(
            deal.id, previous.start, previous.start, previous.end, closed
        )
        if is_closed:
            return []
        figures = resolve(entries, verdicts, truth=terms.truth, tolerance=terms.tolerance)
        return contested(figures.values())

    async def _recovered(
        self,
        tr: Translate,
        snap: Snapshot,
        deal: Deal,
        records: Sequence[EscalationRecord],
        day: dt.date,
        now: dt.datetime,
    ) -> tuple[list[Resolution], list[str]]:
        """The open pace escalations that are over: those of this period whose target is back
        on pace (:func:`_back_on_pace`), and those of an earlier period, which ended with it
        (its statement settles what the shortfall cost; left open, one would also keep the
        same metric from escalating in any later period). Each one's resolution, and its line
        in the group's message (what ended, how many unsent notices that cancels, whether
        those already notified hear of it)."""
        ended: list[Resolution] = []
        lines: list[str] = []
        for esc in records:
            if esc.status != "open" or esc.detail.get("type") != "pace":
                continue
            started = business_day(esc.started_at, deal.timezone)
            words: dict[str, Any] = {
                "id": esc.id,
                "metric": label(snap.deal, str(esc.detail["metric"])),
                "started": f"{started:%m-%d}",
            }
            if started < snap.period.start:
                over = period_containing(deal.starts, deal.period, max(started, deal.starts))
                words["period"] = period_name(snap.deal, over)
                found = {"check": day.isoformat(), "period_over": words["period"]}
                keys = ("pace.period_over", "escalation.period_over_note")
            else:
                status = _back_on_pace(snap, deal.schedule, str(esc.detail["metric"]))
                if status is None or status.pace is None:
                    continue
                words["period"] = period_name(snap.deal, snap.period)
                words["pace"] = format_percent(status.pace)
                found = {"check": day.isoformat(), "pace": words["pace"]}
                keys = ("pace.resolved", "escalation.no_longer_needed")
            line = await self._ended_line(tr, esc.id, tr(keys[0], **words), found)
            lines.append(line)
            note = tr(keys[1], deal=deal.name, **words)
            ended.append(plan_resolution(deal, esc, found, now, note=note, line=line))
        return ended, lines

    async def _ended_line(
        self, tr: Translate, escalation_id: int, line: str, found: dict[str, Any]
    ) -> str:
        """An ended escalation's line in the group, with how many of its notices that cancels
        and whether the contacts already notified hear of it."""
        rows = await self.store.rows(escalation_id=escalation_id)
        waiting = sum(1 for r in rows if r.status in ("pending", "claimed"))
        if waiting:
            line += tr("pace.resolved_cancelled", count=waiting)
        if paged((r.chat, r.slot) for r in rows if r.status == "sent"):
            line += tr("pace.resolved_told")
        if "period_over" in found:
            line += tr("pace.period_over_statement", period=found["period_over"])
        return line

    # --------------------------------------------------------------------- reminder

    async def reminder(
        self, row: OutboxRow, deal: Deal, day: dt.date, now: dt.datetime
    ) -> JobOutcome:
        """Tell each side that reported nothing for the day, in its chats, mentioning it."""
        entries = await self.ledger.current_entries(deal.id, day, day)
        reported = {e.side for e in entries}
        missing: list[Side] = [s for s in SIDES if s not in reported]
        outcome = JobOutcome(result={"missing": missing})
        if not missing:
            return outcome
        tr = translator(deal.locale)
        example = self._example(deal)
        # Entries a side already confirmed or disputed need no hint to confirm them.
        answered = {v.entry_id for v in await self.ledger.verdicts(deal.id, day, day)}
        for chat, chat_side in await self._chats(deal):
            sides = missing if chat_side == "shared" else [s for s in missing if s == chat_side]
            if not sides:
                continue
            platform = platform_of(chat)
            mentions = tuple(
                person
                for side in sides
                for person in deal.members.get(side, ())
                if platform_of(person) == platform
            )
            # Both sides: "from either side", not "from the seller, agency".
            text = tr(
                "reminder.text_both" if len(sides) == len(SIDES) else "reminder.text",
                day=day.isoformat(),
                sides=join_list((tr(f"side.{s}") for s in sides), deal.locale),
                example=example,
            )
            text += _confirm_hint(tr, deal, entries, answered, sides)
            outcome.messages.append(
                NewRow(
                    deal.id,
                    "reminder",
                    row.slot,
                    chat,
                    now,
                    messages.encode(Outgoing(to="", text=text, kind="reminder", mentions=mentions)),
                )
            )
        return outcome

    @staticmethod
    def _example(deal: Deal) -> str:
        metrics = list(deal.base_metrics)[:2]
        figures = [Decimal(12000), Decimal(340)]
        pairs = zip(metrics, figures, strict=False)
        return "/report " + " ".join(f"{label(deal, m)} {v}" for m, v in pairs)


def _confirm_hint(
    tr: Translate,
    deal: Deal,
    entries: Sequence[Entry],
    answered: set[int | None],
    sides: list[Side],
) -> str:
    """Under ``truth: agreed`` the other side's figures of the day wait for a silent side: say
    how to confirm them, since staying silent leaves them uncounted."""
    if deal.truth != "agreed":
        return ""
    waiting = sorted(
        (e for e in entries if e.side not in sides and e.id not in answered),
        key=lambda e: e.metric,
    )
    if not waiting:
        return ""
    return "\n" + tr(
        "fc.reminder_confirm",
        count=len(waiting),
        command=f"/confirm #{waiting[0].id}",
    )
