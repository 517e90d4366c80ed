"""The ledger repository: deals and their versions, chat links, entries, corrections, verdicts.

Every method is one database transaction, except reports: those go through a group commit
(:class:`kpi.batch.GroupCommit`). A report that finds its lane idle is its own transaction;
reports that queue up while their lane is committing share one, and each is answered only
once that transaction committed. A shared batch stores its reports in bulk (one statement
reads the heads they touch, one inserts every entry, one or two move the heads; see
``_store_reports``) and leaves to a savepoint of its own each report that bulk could store
differently than one report after another would (a correction of a figure the same batch
stores, an unchanged re-send, a redelivery); when the bulk fails, every report of the batch
runs in its own savepoint, so one bad report rejects only itself. By default every report
takes the one lane; with more lanes, reports on the same (deal, day, side) take the same one,
so lanes never wait on each other's head locks.

Entries are never updated or deleted: a correction is a new entry that supersedes the current
one, and the ``heads`` table points at the current entry of each (deal, day, metric, side).
Writers lock that head row (``SELECT ... FOR UPDATE`` on PostgreSQL; ``BEGIN IMMEDIATE``
serializes all writers on SQLite), so concurrent corrections form one chain and the last one
committed is current; a head that does not exist yet is created only if it still does not, so
two first reports never start two chains. A repeated source message is stored once: the
database's unique key decides, and a retried write finds the copy (a redelivery in the same
shared transaction too: it sees the copy its savepoint's predecessor stored).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import cached_property
from types import MappingProxyType
from typing import Any, Literal, NamedTuple, TypeVar, cast

from sqlalchemy import Row, and_, bindparam, delete, func, insert, select, tuple_, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kpi.batch import MAX_BATCH, WINDOW, BatchStats, GroupCommit
from kpi.db import transaction
from kpi.model import SIDES, ChatSide, Deal, Entry, Side, Verdict, other_side
from kpi.platform.store import PlatformStore, figures_on
from kpi.statement_store import statement_on
from kpi.statements import StoredStatement
from kpi.storage import (
    canonical_decimal,
    chat_aliases,
    chat_links,
    deal_versions,
    deals,
    entries,
    heads,
    verdicts,
)
from kpi.unusual import LOOKBACK_DAYS
from kpi.unusual import WINDOW as USUAL_WINDOW

__all__ = ["DealVersion", "Ledger", "ReportResult"]

log = logging.getLogger(__name__)

T = TypeVar("T")

ATTEMPTS = 6
"""How often a write transaction is tried when it loses a race (deadlock, serialization
failure, a concurrent insert of the same key). A loss means another writer committed first
and the next attempt builds on what it committed (a redelivered message is then found, a new
head is then locked), so few attempts are needed however many writers there are."""

# PostgreSQL SQLSTATEs worth retrying: serialization_failure, deadlock_detected.
_CHAT_SIDES = ("seller", "agency", "shared")
_MAX_ALIAS_HOPS = 16


class _LostRace(Exception):
    """A head this transaction read as absent was created by a concurrent one: retry."""


# The statements of the report path are built once, with their values bound at execution:
# building a statement anew costs about as much Python time as SQLite takes to run it.
_LOCK_HEADS = (
    select(heads.c.metric, heads.c.entry_id)
    .where(
        heads.c.deal_id == bindparam("deal_id"),
        heads.c.day == bindparam("day"),
        heads.c.side == bindparam("side"),
        heads.c.metric.in_(bindparam("metrics", expanding=True)),
    )
    .order_by(heads.c.metric)
    .with_for_update()
)

_DAY_HEADS = (
    select(entries)
    .join(heads, heads.c.entry_id == entries.c.id)
    .where(
        heads.c.deal_id == bindparam("deal_id"),
        heads.c.day == bindparam("day"),
        heads.c.metric.in_(bindparam("metrics", expanding=True)),
    )
)

_INSERT_ENTRIES = insert(entries).returning(entries.c.id, entries.c.metric)

# A head that did not exist is created only if it still does not: a concurrent first report
# that created it meanwhile makes this one retry (and then supersede it), never start a
# second chain. DO NOTHING rather than DO UPDATE ... WHERE: the latter would wait for the
# row's lock, which a writer waiting on this transaction may hold (a deadlock, found only
# after PostgreSQL's deadlock_timeout), where DO NOTHING just reports the row as taken.
_CREATE_HEADS = {
    name: insert_for(heads)
    .on_conflict_do_nothing(
        index_elements=[heads.c.deal_id, heads.c.day, heads.c.metric, heads.c.side]
    )
    .returning(heads.c.metric)
    for name, insert_for in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}

# The same, for many reports at once (a shared batch's bulk, see _store_reports): keys are
# (deal_id, day, side, metric) tuples to lock, (deal_id, day, metric) tuples to read.
_LOCK_MANY_HEADS = (
    select(heads.c.deal_id, heads.c.day, heads.c.side, heads.c.metric, heads.c.entry_id)
    .where(
        tuple_(heads.c.deal_id, heads.c.day, heads.c.side, heads.c.metric).in_(
            bindparam("keys", expanding=True)
        )
    )
    .order_by(heads.c.deal_id, heads.c.day, heads.c.side, heads.c.metric)
    .with_for_update()
)

_MANY_DAY_HEADS = (
    select(entries)
    .join(heads, heads.c.entry_id == entries.c.id)
    .where(
        tuple_(heads.c.deal_id, heads.c.day, heads.c.metric).in_(
            bindparam("keys", expanding=True)
        )
    )
)

# A metric's current figures over a span of days, for several (deal_id, metric) pairs at once:
# what the unusual-figure check of the reports in a transaction reads (see _recent_on).
def _recent_figures_query() -> Any:
    """A metric's current figures before a day, for several (deal_id, metric) pairs: at most
    ``rows`` a pair, the newest (ranked in the database, so a long history is not read)."""
    ranked = (
        select(
            heads.c.deal_id,
            heads.c.metric,
            heads.c.day,
            heads.c.side,
            entries.c.value,
            func.row_number()
            .over(
                partition_by=(heads.c.deal_id, heads.c.metric),
                order_by=(heads.c.day.desc(), heads.c.side),
            )
            .label("n"),
        )
        .join(entries, heads.c.entry_id == entries.c.id)
        .where(
            tuple_(heads.c.deal_id, heads.c.metric).in_(bindparam("pairs", expanding=True)),
            heads.c.day >= bindparam("first"),
            heads.c.day < bindparam("last"),
        )
        .subquery()
    )
    return (
        select(ranked.c.deal_id, ranked.c.metric, ranked.c.day, ranked.c.side, ranked.c.value)
        .where(ranked.c.n <= bindparam("rows"))
        .order_by(ranked.c.day.desc())
    )


_RECENT_FIGURES = _recent_figures_query()

RECENT_DAYS = LOOKBACK_DAYS
"""How many days before a report's day :attr:`ReportResult.recent` looks: the unusual-figure
check's look-back."""
RECENT_WINDOW = USUAL_WINDOW
"""How many of those days with a figure :attr:`ReportResult.recent` keeps (the latest)."""

RecentFigure = tuple[dt.date, Side, Decimal]
"""A current figure of a metric: its day, side and value."""


async def _recent_on(
    conn: AsyncConnection, keys: Sequence[tuple[str, str, dt.date]]
) -> dict[tuple[str, str, dt.date], tuple[RecentFigure, ...]]:
    """For each ``(deal_id, metric, day)``: the metric's current figures on its latest
    :data:`RECENT_WINDOW` days with a figure among the :data:`RECENT_DAYS` days before ``day``
    (newest first), read in ``conn``'s transaction with one statement for all (the reports of
    a batch ask together)."""
    if not keys:
        return {}
    pairs = sorted({(deal_id, metric) for deal_id, metric, _ in keys})
    first, last = min(day for *_, day in keys), max(day for *_, day in keys)
    # The latest RECENT_WINDOW days before a day hold at most two figures each; before the
    # batch's latest day, a report's days are among the newest 2 x (window + days between).
    params = {
        "pairs": pairs,
        "first": first - dt.timedelta(days=RECENT_DAYS),
        "last": last,
        "rows": 2 * (RECENT_WINDOW + (last - first).days),
    }
    found: dict[tuple[str, str], list[RecentFigure]] = {}
    for deal_id, metric, day, side, value in await conn.execute(_RECENT_FIGURES, params):
        found.setdefault((str(deal_id), str(metric)), []).append((day, cast(Side, side), value))
    return {
        (deal_id, metric, day): _latest_days(found.get((deal_id, metric), ()), day)
        for deal_id, metric, day in keys
    }


def _latest_days(figures: Sequence[RecentFigure], day: dt.date) -> tuple[RecentFigure, ...]:
    """Of ``figures`` (newest first), those of the latest :data:`RECENT_WINDOW` days with one
    before ``day``, within :data:`RECENT_DAYS` of it."""
    since = day - dt.timedelta(days=RECENT_DAYS)
    kept: list[RecentFigure] = []
    days: set[dt.date] = set()
    for figure in figures:
        if figure[0] >= day:
            continue
        if figure[0] < since or (figure[0] not in days and len(days) == RECENT_WINDOW):
            break
        days.add(figure[0])
        kept.append(figure)
    return tuple(kept)


_INSERT_MANY_ENTRIES = insert(entries).returning(
    entries.c.id, entries.c.deal_id, entries.c.message_key, entries.c.metric
)

# A head that existed is locked by this transaction, so it still points at the entry read.
_MOVE_HEADS = (
    update(heads)
    .where(
        heads.c.deal_id == bindparam("key_deal_id"),
        heads.c.day == bindparam("key_day"),
        heads.c.metric == bindparam("key_metric"),
        heads.c.side == bindparam("key_side"),
    )
    .values(entry_id=bindparam("new_entry_id"))
)


_NO_FIGURES: Mapping[str, Decimal] = MappingProxyType({})


@dataclass(frozen=True)
class ReportResult:
    """What :meth:`Ledger.record_report` stored.

    ``entries`` are in the order of the reported values; ``superseded[i]`` is the entry that
    ``entries[i]`` replaced (``None`` for a first report). ``duplicate`` is true when
    nothing new was written: either the message had already been stored, and ``entries`` are
    the stored ones (in the order of the reported values when they name the same metrics), or
    ``unchanged`` is true too (``skip_unchanged``: every value was already current, and
    ``entries`` are those current entries). ``others[i]`` is the other side's current entry
    for ``entries[i]``'s metric on that day (``None`` when it has not reported), read in the
    same transaction."""

    entries: tuple[Entry, ...]
    superseded: tuple[Entry | None, ...]
    duplicate: bool
    unchanged: bool = False
    others: tuple[Entry | None, ...] = ()
    kept: tuple[bool, ...] = ()
    """``kept[i]``: ``entries[i]`` is the side's figure already on record, re-sent with the same
    value (``skip_unchanged``), so nothing was stored for it (empty: none was kept)."""
    platform: Mapping[str, Decimal] = field(default_factory=lambda: _NO_FIGURES)
    """The platform's own figures of the day from imported exports (export figure names, as
    :meth:`PlatformStore.day_figures` gives them), read in the same transaction, so the reply
    can compare without another read; empty when none was imported, and for a duplicate."""
    statement: StoredStatement | None = None
    """The record of the period given as ``ended_period`` (confirmations, the statement once
    closed), read in the same transaction; ``None`` when there is none, when no period was
    given, and for a duplicate."""

    recent: Mapping[str, tuple[RecentFigure, ...]] | None = None
    """For each reported metric, its current figures (both sides, newest first) on its latest
    :data:`RECENT_WINDOW` days with a figure among the :data:`RECENT_DAYS` days before the
    report's day, read in the same transaction, for the reply's unusual-figure check; ``None``
    when not read (a duplicate, or every value unchanged)."""

    def is_kept(self, index: int) -> bool:
        """Whether the value at ``index`` was the figure on record, stored again as nothing."""
        return bool(self.kept) and self.kept[index]


class DealVersion(NamedTuple):
    """One applied version of a deal file."""

    version: int
    effective: dt.date
    applied_at: dt.datetime
    source_text: str


class Ledger:
    """The append-only KPI ledger over an async SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(
        self,
        engine: AsyncEngine,
        parse_deal: Callable[[str], Deal],
        *,
        batch_window: float = WINDOW,
        max_batch: int = MAX_BATCH,
        batch_lanes: int | None = None,
    ) -> None:
        """Create the repository.

        Args:
            engine: An engine from :func:`kpi.db.make_engine`, on a migrated database.
            parse_deal: Rebuilds a :class:`Deal` from a stored deal-file text (in production
                ``kpi.dealfile.load_deal`` with its source name bound).
            batch_window: Seconds a group commit of reports stays open to take in reports that
                arrive while it runs (a report that finds none running never waits).
            max_batch: Reports in one shared transaction at most (1: each report alone).
            batch_lanes: Lanes of the group commit, over which the reports' (deal, day, side)
                are spread (default 1: a batch's reports are stored in bulk, see
                :class:`kpi.batch.GroupCommit`).
        """
        self._engine = engine
        self._parse_deal = parse_deal
        self._platform = PlatformStore(engine)
        self._reports = GroupCommit(
            engine,
            window=batch_window,
            max_batch=max_batch,
            lanes=batch_lanes,
            attempts=ATTEMPTS,
            retry_on=(sa_exc.IntegrityError, _LostRace),
            label="ledger",
            bulk=_store_reports,
        )
        # Versions are immutable, so a parsed version never goes stale.
        self._deal_cache: dict[tuple[str, int], Deal] = {}

    @property
    def engine(self) -> AsyncEngine:
        """The engine this ledger writes to."""
        return self._engine

    @property
    def report_batches(self) -> BatchStats:
        """What the group commit of reports has committed so far (transactions, reports)."""
        return self._reports.stats

    # ----------------------------------------------------------------------------- deals

    async def apply_deal(
        self, deal: Deal, source_text: str, *, effective: dt.date, applied_at: dt.datetime
    ) -> int:
        """Store a deal file as the deal's newest version.

        If ``source_text`` is exactly the current version's text, nothing is written (so
        applying the same files at every start is harmless). Otherwise a new version is added,
        the deal's name is updated, and the deal's chat links are made to match ``deal.chats``
        (chat ids that moved, see :meth:`migrate_chat`, are linked under their new id).

        Args:
            deal: The parsed deal (``parse_deal(source_text)``).
            source_text: The deal file's text, kept verbatim.
            effective: The first day the terms apply.
            applied_at: When the file was applied (aware).

        Returns:
            The version number now current.
        """

        async def work(conn: AsyncConnection) -> int:
            return await _store_version(conn, deal, source_text, effective, applied_at)

        version = await self._write(work)
        self._deal_cache.setdefault((deal.id, version), replace(deal, effective=effective))
        return version

    async def current_deal(self, deal_id: str) -> tuple[Deal, int] | None:
        """The deal's current terms and version number, or ``None`` for an unknown deal."""

        async def work(conn: AsyncConnection) -> tuple[int, dt.date] | None:
            row = (
                await conn.execute(
                    select(deal_versions.c.version, deal_versions.c.effective)
                    .join(deals, deals.c.id == deal_versions.c.deal_id)
                    .where(
                        deals.c.id == deal_id,
                        deal_versions.c.version == deals.c.current_version,
                    )
                )
            ).one_or_none()
            return None if row is None else (int(row.version), row.effective)

        found = await self._read(work)
        if found is None:
            return None
        version, effective = found
        return await self._deal_version(deal_id, version, effective), version

    async def deal_versions(self, deal_id: str) -> list[DealVersion]:
        """Every version of a deal, oldest first (empty for an unknown deal)."""

        async def work(conn: AsyncConnection) -> list[DealVersion]:
            rows = await conn.execute(
                select(
                    deal_versions.c.version,
                    deal_versions.c.effective,
                    deal_versions.c.applied_at,
                    deal_versions.c.source_text,
                )
                .where(deal_versions.c.deal_id == deal_id)
                .order_by(deal_versions.c.version)
            )
            return [DealVersion(*row) for row in rows]

        return await self._read(work)

    async def deal_for_period(self, deal_id: str, period_start: dt.date) -> Deal:
        """The terms that govern a period: the version in effect on its first day.

        That is the version with the latest ``effective`` date on or before ``period_start``
        (the highest version number among equal dates); a period before every version's
        effective date gets the earliest version.

        Raises:
            LookupError: The deal was never applied.
        """

        async def work(conn: AsyncConnection) -> tuple[int, dt.date] | None:
            columns = select(deal_versions.c.version, deal_versions.c.effective).where(
                deal_versions.c.deal_id == deal_id
            )
            row = (
                await conn.execute(
                    columns.where(deal_versions.c.effective <= period_start)
                    .order_by(deal_versions.c.effective.desc(), deal_versions.c.version.desc())
                    .limit(1)
                )
            ).one_or_none()
            if row is None:
                row = (
                    await conn.execute(columns.order_by(deal_versions.c.version).limit(1))
                ).one_or_none()
            return None if row is None else (int(row.version), row.effective)

        found = await self._read(work)
        if found is None:
            raise LookupError(f"unknown deal {deal_id!r}")
        return await self._deal_version(deal_id, *found)

    async def list_deals(self) -> list[str]:
        """The ids of every applied deal, sorted."""

        async def work(conn: AsyncConnection) -> list[str]:
            rows = await conn.execute(select(deals.c.id).order_by(deals.c.id))
            return [str(deal_id) for deal_id in rows.scalars()]

        return await self._read(work)

    async def _deal_version(self, deal_id: str, version: int, effective: dt.date) -> Deal:
        key = (deal_id, int(version))
        cached = self._deal_cache.get(key)
        if cached is not None:
            return cached

        async def work(conn: AsyncConnection) -> str:
            return await _version_text(conn, deal_id, version)

        parsed = self._parse_deal(await self._read(work))
        # The stored date is authoritative: it is what the deal was applied with.
        deal = replace(parsed, effective=effective)
        self._deal_cache[key] = deal
        return deal

    # ------------------------------------------------------------------------------ chats

    async def deals_for_chat(self, chat_id: str) -> list[tuple[str, str]]:
        """The deals a chat is linked to, as ``(deal id, side)`` sorted by deal id.

        A chat that moved (Telegram group to supergroup) answers for its new id too.
        """

        async def work(conn: AsyncConnection) -> list[tuple[str, str]]:
            resolved = await _resolve_chat(conn, chat_id)
            rows = await conn.execute(
                select(chat_links.c.deal_id, chat_links.c.side)
                .where(chat_links.c.chat_id.in_(_both(chat_id, resolved)))
                .order_by(chat_links.c.deal_id)
            )
            found: dict[str, str] = {}
            for deal_id, side in rows:
                found.setdefault(str(deal_id), str(side))
            return sorted(found.items())

        return await self._read(work)

    async def chats_of_deal(self, deal_id: str) -> list[tuple[str, str]]:
        """The chats linked to a deal as ``(chat id, side)``, by chat id (where its recaps,
        warnings and acknowledgements go)."""

        async def work(conn: AsyncConnection) -> list[tuple[str, str]]:
            rows = await conn.execute(self._CHATS_OF_DEAL, {"deal_id": deal_id})
            return [(str(chat), str(side)) for chat, side in rows]

        return await self._read(work)

    async def deal_heads(self) -> list[tuple[str, int, dt.datetime]]:
        """Every deal as ``(id, current version, first applied at)``, by id (what the
        scheduler enumerates its slots from)."""

        async def work(conn: AsyncConnection) -> list[tuple[str, int, dt.datetime]]:
            rows = await conn.execute(
                select(deals.c.id, deals.c.current_version, deals.c.created_at).order_by(deals.c.id)
            )
            return [(str(r.id), int(r.current_version), r.created_at) for r in rows]

        return await self._read(work)

    async def platform_days(
        self, deal_id: str, first: dt.date, last: dt.date
    ) -> dict[dt.date, dict[str, Decimal]]:
        """The platform's own figures per business day, from the imported exports: asked of
        the platform store, which owns those tables (``truth: platform`` reads them)."""
        return await self._platform.day_figures(deal_id, first, last)

    async def link_chat(self, chat_id: str, deal_id: str, side: ChatSide) -> None:
        """Link a chat to a deal (or change the side it speaks for).

        Raises:
            ValueError: ``side`` is not seller, agency or shared.
            LookupError: The deal was never applied.
        """
        if side not in _CHAT_SIDES:
            raise ValueError(f"chat side must be one of {_CHAT_SIDES}, not {side!r}")

        async def work(conn: AsyncConnection) -> None:
            await _require_deal(conn, deal_id)
            resolved = await _resolve_chat(conn, chat_id)
            await _upsert_link(conn, resolved, deal_id, side)

        await self._write(work)

    async def unlink_chat(self, chat_id: str, deal_id: str) -> bool:
        """Remove a chat's link to a deal. Returns whether there was one."""

        async def work(conn: AsyncConnection) -> bool:
            resolved = await _resolve_chat(conn, chat_id)
            result = await conn.execute(
                delete(chat_links).where(
                    chat_links.c.chat_id.in_(_both(chat_id, resolved)),
                    chat_links.c.deal_id == deal_id,
                )
            )
            return bool(result.rowcount)

        return await self._write(work)

    async def migrate_chat(self, old_chat_id: str, new_chat_id: str, at: dt.datetime) -> None:
        """Follow a chat that changed its id (Telegram's group-to-supergroup migration).

        The old chat's links move to the new id (a link the new chat already has is kept), and
        an alias is recorded so that anything still keyed by the old id resolves to the new.
        Re-running it is harmless.
        """
        if old_chat_id == new_chat_id:
            return

        async def work(conn: AsyncConnection) -> None:
            target = await _resolve_chat(conn, new_chat_id)
            if target == old_chat_id:  # a move back: forget the alias instead of looping
                await conn.execute(
                    delete(chat_aliases).where(chat_aliases.c.old_chat_id == new_chat_id)
                )
                target = new_chat_id
            moved = await conn.execute(
                select(chat_links.c.deal_id, chat_links.c.side).where(
                    chat_links.c.chat_id == old_chat_id
                )
            )
            for deal_id, side in moved.all():
                await _insert_link_if_missing(conn, target, str(deal_id), str(side))
            await conn.execute(delete(chat_links).where(chat_links.c.chat_id == old_chat_id))
            # Older aliases pointing at the old id now point straight at the new one.
            await conn.execute(
                update(chat_aliases)
                .where(chat_aliases.c.new_chat_id == old_chat_id)
                .values(new_chat_id=target)
            )
            await _upsert(
                conn,
                chat_aliases,
                {"old_chat_id": old_chat_id, "new_chat_id": target, "migrated_at": at},
                keys=("old_chat_id",),
                update=("new_chat_id", "migrated_at"),
            )

        await self._write(work)

    # ---------------------------------------------------------------------------- entries

    async def record_report(
        self,
        *,
        deal_id: str,
        day: dt.date,
        values: Sequence[tuple[str, Decimal]],
        side: Side,
        person: str,
        person_name: str,
        chat: str,
        message_key: str,
        at: dt.datetime,
        skip_unchanged: bool = False,
        ended_period: str | None = None,
    ) -> ReportResult:
        """Store one message's figures: all of them, or none.

        Each value becomes a new entry that supersedes the current entry of its (day, metric,
        side) and becomes current itself. A ``message_key`` already stored for this deal (a
        platform redelivery or retry, even one racing this call) stores nothing and returns
        the stored entries with ``duplicate=True``. Returns once the transaction this report
        shares with those that came with it (group commit, one savepoint each) committed.

        Args:
            deal_id: An applied deal.
            day: The business day the figures are for.
            values: ``(metric, value)`` pairs; metrics distinct; values must fit the column
                (see :func:`kpi.storage.value_fits`).
            side: The reporting side.
            person: The reporter's identity (``platform:id``).
            person_name: The reporter's display name.
            chat: The source chat identity.
            message_key: The source message's stable key.
            at: When the message was received (aware).
            skip_unchanged: A value equal to the current figure of its (day, metric, side)
                that ``person`` reported is not stored (re-sending one's figure on record is
                never a correction, alone or with other metrics): its entry in the result is
                the current one, marked in ``kept``. When every value is unchanged nothing is
                stored and the result has ``duplicate=True`` and ``unchanged=True``.
            ended_period: The label of the report's period when that period has ended: its
                statement record is read with the report (``ReportResult.statement``), so a
                late figure's effect on a closed statement needs no read of its own.

        Returns:
            What was stored, what it superseded, and the other side's current figures.

        Raises:
            ValueError: No values, a repeated metric, a bad side, or a value that does not fit.
            LookupError: The deal was never applied.
            StorageError: The database failed; nothing was stored.
        """
        report = _Report(
            deal_id=deal_id, day=day, values=tuple(values), side=side, person=person,
            person_name=person_name, chat=chat, message_key=message_key, at=at,
            skip_unchanged=skip_unchanged, ended_period=ended_period,
        )
        report.check()
        # The key names the heads the report locks: reports on the same ones share a lane.
        return await self._reports.run(report.writer(), key=(deal_id, day, side), item=report)

    async def record_verdict(
        self,
        *,
        deal_id: str,
        day: dt.date,
        metric: str,
        kind: Literal["confirm", "dispute"],
        side: Side,
        person: str,
        person_name: str,
        entry_id: int | None,
        reason: str,
        chat: str,
        message_key: str,
        at: dt.datetime,
    ) -> tuple[Verdict, bool]:
        """Store a side's confirmation of, or dispute against, a figure.

        A side's verdicts on one entry are exclusive and idempotent: when the side's latest
        verdict on ``entry_id`` is already this one (a confirmation, or a dispute with the same
        reason), nothing is written and that verdict is returned. A dispute after a
        confirmation (or the reverse) is stored and takes its place; both stay in the history.

        Returns:
            The verdict, and whether nothing was written: the message was stored before (the
            stored verdict has this ``message_key``) or the side's standing verdict is already
            this one (it has another ``message_key``).

        Raises:
            ValueError: A bad kind or side.
            LookupError: The deal, or the entry named by ``entry_id``, does not exist.
            StorageError: The database failed; nothing was stored.
        """
        if kind not in ("confirm", "dispute"):
            raise ValueError(f"verdict kind must be confirm or dispute, not {kind!r}")
        _check_side(side)
        row = {
            "deal_id": deal_id,
            "day": day,
            "metric": metric,
            "kind": kind,
            "side": side,
            "person": person,
            "person_name": person_name,
            "entry_id": entry_id,
            "reason": reason,
            "chat": chat,
            "message_key": message_key,
            "recorded_at": at,
        }

        async def work(conn: AsyncConnection) -> tuple[Verdict, bool]:
            return await _store_verdict(conn, row)

        return await self._write(work)

    async def current_entries(self, deal_id: str, start: dt.date, end: dt.date) -> list[Entry]:
        """The current entry of every (day, metric, side) with ``start <= day <= end``.

        The query reads only the period's heads through the primary key, so its cost does
        not grow with the deal's history. Ordered by day, metric, side.
        """

        async def work(conn: AsyncConnection) -> list[Entry]:
            rows = await conn.execute(
                select(entries)
                .join(heads, heads.c.entry_id == entries.c.id)
                .where(heads.c.deal_id == deal_id, heads.c.day.between(start, end))
                .order_by(heads.c.day, heads.c.metric, heads.c.side)
            )
            return [_to_entry(row) for row in rows]

        return await self._read(work)

    async def verdicts(self, deal_id: str, start: dt.date, end: dt.date) -> list[Verdict]:
        """Every verdict on a day in ``[start, end]``, oldest first."""

        async def work(conn: AsyncConnection) -> list[Verdict]:
            rows = await conn.execute(
                select(verdicts)
                .where(verdicts.c.deal_id == deal_id, verdicts.c.day.between(start, end))
                .order_by(verdicts.c.id)
            )
            return [_to_verdict(row) for row in rows]

        return await self._read(work)

    async def history(
        self,
        deal_id: str,
        *,
        metric: str | None = None,
        day: dt.date | None = None,
        limit: int = 50,
    ) -> list[Entry]:
        """Entries of a deal, newest first, superseded ones included (the audit trail).

        Args:
            deal_id: The deal.
            metric: Only this metric.
            day: Only this business day.
            limit: At most this many entries.
        """

        async def work(conn: AsyncConnection) -> list[Entry]:
            query = select(entries).where(entries.c.deal_id == deal_id)
            if metric is not None:
                query = query.where(entries.c.metric == metric)
            if day is not None:
                query = query.where(entries.c.day == day)
            rows = await conn.execute(query.order_by(entries.c.id.desc()).limit(limit))
            return [_to_entry(row) for row in rows]

        return await self._read(work)

    async def entry(self, entry_id: int) -> Entry | None:
        """One entry by id, current or superseded."""

        async def work(conn: AsyncConnection) -> Entry | None:
            return await _entry(conn, entry_id)

        return await self._read(work)

    async def last_report_day(self, deal_id: str, side: Side) -> dt.date | None:
        """The latest business day for which a side has a figure, or ``None``."""

        async def work(conn: AsyncConnection) -> dt.date | None:
            day = (
                await conn.execute(
                    select(func.max(heads.c.day)).where(
                        heads.c.deal_id == deal_id, heads.c.side == side
                    )
                )
            ).scalar_one_or_none()
            return cast("dt.date | None", day)

        return await self._read(work)

    async def ledger_position(self, deal_id: str) -> tuple[int, int]:
        """Where a deal's ledger stands: its highest entry id and highest verdict id (0: none).

        Anything with a higher id was written later (ids follow the ledger's order, unlike the
        times a platform stamps on messages), which is how a closed period finds late changes.
        """

        async def work(conn: AsyncConnection) -> tuple[int, int]:
            return await _last_id(conn, entries, deal_id), await _last_id(conn, verdicts, deal_id)

        return await self._read(work)

    async def entries_for_message(self, deal_id: str, message_key: str) -> list[Entry]:
        """The entries stored from one source message, in storage order."""

        async def work(conn: AsyncConnection) -> list[Entry]:
            return await _message_entries(conn, deal_id, message_key)

        return await self._read(work)

    async def entries_between(self, deal_id: str, start: dt.date, end: dt.date) -> list[Entry]:
        """Every entry on a day in ``[start, end]``, superseded ones included, oldest first.

        The audit trail of a period (dashboard, exports); it reads through the
        ``(deal_id, day)`` index, so its cost follows the period, not the deal's history.
        """

        async def work(conn: AsyncConnection) -> list[Entry]:
            rows = await conn.execute(
                select(entries)
                .where(entries.c.deal_id == deal_id, entries.c.day.between(start, end))
                .order_by(entries.c.id)
            )
            return [_to_entry(row) for row in rows]

        return await self._read(work)

    async def period_records(
        self, deal_id: str, period_start: dt.date, first: dt.date, last: dt.date
    ) -> tuple[Deal, list[Entry], list[Verdict]]:
        """The terms of a period and the records of some days, read in one transaction.

        What :meth:`deal_for_period` (``period_start``), :meth:`current_entries` and
        :meth:`verdicts` (``first`` to ``last``) answer, in the same orders, from one state of
        the ledger: a snapshot or a recap needs all three, and one read transaction costs a
        third of three (each is a round trip of its own to the database).

        Raises:
            LookupError: The deal was never applied.
        """

        async def work(
            conn: AsyncConnection,
        ) -> tuple[tuple[int, dt.date] | None, list[Entry], list[Verdict]]:
            return await self._period_rows(conn, deal_id, period_start, first, last)

        governing, current, judged = await self._read(work)
        if governing is None:
            raise LookupError(f"unknown deal {deal_id!r}")
        return await self._deal_version(deal_id, *governing), current, judged

    async def recap_records(
        self,
        deal_id: str,
        period_start: dt.date,
        first: dt.date,
        last: dt.date,
        also: Callable[[AsyncConnection], Awaitable[T]],
    ) -> tuple[Deal, list[Entry], list[Verdict], list[tuple[str, str]], T]:
        """:meth:`period_records` and :meth:`chats_of_deal`, and what ``also`` reads on the same
        connection (a recap's missed slots and platform figures), in one read transaction: a
        recap's reads are most of its cost, and each transaction is round trips of its own.

        Raises:
            LookupError: The deal was never applied.
        """

        async def work(conn: AsyncConnection) -> tuple[Any, list[tuple[str, str]], T]:
            records = await self._period_rows(conn, deal_id, period_start, first, last)
            rows = await conn.execute(self._CHATS_OF_DEAL, {"deal_id": deal_id})
            return records, [(str(chat), str(side)) for chat, side in rows], await also(conn)

        (governing, current, judged), chats, extra = await self._read(work)
        if governing is None:
            raise LookupError(f"unknown deal {deal_id!r}")
        terms = await self._deal_version(deal_id, *governing)
        return terms, current, judged, chats, extra

    async def _period_rows(
        self,
        conn: AsyncConnection,
        deal_id: str,
        period_start: dt.date,
        first: dt.date,
        last: dt.date,
    ) -> tuple[tuple[int, dt.date] | None, list[Entry], list[Verdict]]:
        """:meth:`period_records`' reads on ``conn``: the governing version (``None``: the deal
        was never applied), the current entries and the verdicts."""
        by_date, earliest, current_q, verdicts_q = self._period_queries()
        days = {"deal_id": deal_id, "first": first, "last": last}
        version = (
            await conn.execute(by_date, {"deal_id": deal_id, "period_start": period_start})
        ).one_or_none()
        if version is None:  # a period before every version: the earliest governs it
            version = (await conn.execute(earliest, {"deal_id": deal_id})).one_or_none()
        if version is None:
            return None, [], []
        found = await conn.execute(current_q, days)
        judgements = await conn.execute(verdicts_q, days)
        return (
            (int(version.version), version.effective),
            [_to_entry(row) for row in found],
            [_to_verdict(row) for row in judgements],
        )

    _CHATS_OF_DEAL = (
        select(chat_links.c.chat_id, chat_links.c.side)
        .where(chat_links.c.deal_id == bindparam("deal_id"))
        .order_by(chat_links.c.chat_id)
    )
    """:meth:`chats_of_deal`'s statement, built once (building costs more than running)."""

    _period_statements: tuple[Any, Any, Any, Any] | None = None

    @classmethod
    def _period_queries(cls) -> tuple[Any, Any, Any, Any]:
        """:meth:`period_records`' statements (the governing version, the earliest version,
        the current entries, the verdicts), built on first use and kept: building a statement
        costs more than running it; the values are bound when it runs."""
        if cls._period_statements is None:
            versions = select(deal_versions.c.version, deal_versions.c.effective).where(
                deal_versions.c.deal_id == bindparam("deal_id")
            )
            cls._period_statements = (
                versions.where(deal_versions.c.effective <= bindparam("period_start"))
                .order_by(deal_versions.c.effective.desc(), deal_versions.c.version.desc())
                .limit(1),
                versions.order_by(deal_versions.c.version).limit(1),
                select(entries)
                .join(heads, heads.c.entry_id == entries.c.id)
                .where(
                    heads.c.deal_id == bindparam("deal_id"),
                    heads.c.day.between(bindparam("first"), bindparam("last")),
                )
                .order_by(heads.c.day, heads.c.metric, heads.c.side),
                select(verdicts)
                .where(
                    verdicts.c.deal_id == bindparam("deal_id"),
                    verdicts.c.day.between(bindparam("first"), bindparam("last")),
                )
                .order_by(verdicts.c.id),
            )
        return cls._period_statements

    # ------------------------------------------------------------------------ transactions

    async def _read(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        return await self._run(work, write=False)

    async def _write(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        return await self._run(work, write=True)

    async def _run(self, work: Callable[[AsyncConnection], Awaitable[T]], *, write: bool) -> T:
        """One transaction under the shared policy (``kpi.db.transaction``); a report's first
        attempt that met a key it did not check for (``_LostRace``, see record_report) is
        retried like any lost race."""
        return await transaction(
            self._engine,
            work,
            write=write,
            attempts=ATTEMPTS,
            retry_on=(sa_exc.IntegrityError, _LostRace),
            label="ledger",
        )


# ------------------------------------------------------------------------------ reports


@dataclass(frozen=True)
class _Report:
    """One message's figures on their way into the ledger (:meth:`Ledger.record_report`)."""

    deal_id: str
    day: dt.date
    values: tuple[tuple[str, Decimal], ...]
    side: Side
    person: str
    person_name: str
    chat: str
    message_key: str
    at: dt.datetime
    skip_unchanged: bool
    ended_period: str | None = None

    @cached_property
    def metrics(self) -> list[str]:
        """The reported metrics, in the order they were given."""
        return [metric for metric, _ in self.values]

    def check(self) -> None:
        """Refuse a report that cannot be stored, before it reaches the database."""
        if not self.values:
            raise ValueError("a report needs at least one value")
        if len(set(self.metrics)) != len(self.metrics):
            raise ValueError(f"a metric is repeated in one report: {self.metrics}")
        _check_side(self.side)

    def writer(self) -> Callable[[AsyncConnection], Awaitable[ReportResult]]:
        """The report's write, for a group commit: its first attempt assumes a new message for
        a known deal and lets the database's keys object (the message's unique key, the
        deal's foreign key), which saves two reads on every report; an attempt that follows a
        lost race of any kind (often a redelivery of this very message, racing it) looks for
        the stored copy first."""
        tries = 0

        async def work(conn: AsyncConnection) -> ReportResult:
            nonlocal tries
            tries += 1
            return await self.store(conn, careful=tries > 1)

        return work

    async def store(self, conn: AsyncConnection, *, careful: bool) -> ReportResult:
        """Store the figures in ``conn``'s transaction; see :meth:`Ledger.record_report`."""
        if careful:
            stored = await self._stored_copy(conn)
            if stored is not None:
                return stored
            await _require_deal(conn, self.deal_id)
        previous, others = await self._current(conn)
        kept = self._kept(previous)
        if len(kept) == len(self.values):
            return await self._unchanged(conn, previous, others)
        # Written in metric order, the order heads are locked in (see _lock_heads), so that
        # two multi-metric reports never wait on each other in a cycle.
        written = [pair for pair in sorted(self.values, key=lambda p: p[0]) if pair[0] not in kept]
        new_ids = await self._insert(conn, written, previous)
        moved = [(metric, new_ids[metric]) for metric, _ in written]
        await _move_heads(conn, self.deal_id, self.day, self.side, moved, previous)
        result = self._result(new_ids, dict(written), previous, others, kept)
        key = (self.deal_id, self.day)
        return replace(
            result,
            platform=(await figures_on(conn, [key])).get(key, {}),
            statement=await self.statement(conn),
            recent=self.recent(await _recent_on(conn, self.recent_keys)),
        )

    @property
    def recent_keys(self) -> list[tuple[str, str, dt.date]]:
        """What :func:`_recent_on` reads for this report: each metric on its day."""
        return [(self.deal_id, metric, self.day) for metric in self.metrics]

    def recent(
        self, found: Mapping[tuple[str, str, dt.date], tuple[RecentFigure, ...]]
    ) -> dict[str, tuple[RecentFigure, ...]]:
        """This report's part of what :func:`_recent_on` read, by metric."""
        return {key[1]: found.get(key, ()) for key in self.recent_keys}

    async def statement(self, conn: AsyncConnection) -> StoredStatement | None:
        """The record of ``ended_period``, read in ``conn``'s transaction."""
        if self.ended_period is None:
            return None
        return await statement_on(conn, self.deal_id, self.ended_period)

    async def _stored_copy(self, conn: AsyncConnection) -> ReportResult | None:
        """The message as stored before (a redelivery), in the order of the reported values
        when it names the same metrics; ``None`` when it is new."""
        stored = await _message_entries(conn, self.deal_id, self.message_key)
        if not stored:
            return None
        metrics = self.metrics
        if sorted(entry.metric for entry in stored) == sorted(metrics):
            stored.sort(key=lambda entry: metrics.index(entry.metric))
        return await _duplicate_report(conn, stored)

    async def _current(
        self, conn: AsyncConnection
    ) -> tuple[dict[str, Entry | None], tuple[Entry | None, ...]]:
        """The side's current entry of each reported metric (its head locked until commit) and
        the other side's, in the order of the reported values.

        Raises:
            _LostRace: A first report of one of these heads committed between the lock and
                the read: this transaction does not hold that head.
        """
        metrics = self.metrics
        locked = await _lock_heads(conn, self.deal_id, self.day, self.side, metrics)
        current = await _day_heads(conn, self.deal_id, self.day, metrics)
        previous = {metric: current.get((metric, self.side)) for metric in metrics}
        if locked is not None and locked != {
            metric: entry.id for metric, entry in previous.items() if entry is not None
        }:
            raise _LostRace(f"a concurrent report created a head of {self.deal_id} on {self.day}")
        other = other_side(self.side)
        return previous, tuple(current.get((metric, other)) for metric in metrics)

    def _kept(self, previous: dict[str, Entry | None]) -> set[str]:
        """The metrics whose value is this person's figure on record (``skip_unchanged``).

        Another person of the side sending the same figure takes it over: newest wins, and
        the figure is then theirs (the reply names whom it corrects)."""
        if not self.skip_unchanged:
            return set()
        return {
            metric
            for metric, value in self.values
            if (head := previous[metric]) is not None
            and head.value == value
            and head.person == self.person
        }

    async def _unchanged(
        self,
        conn: AsyncConnection,
        previous: dict[str, Entry | None],
        others: tuple[Entry | None, ...],
    ) -> ReportResult:
        """Every value was already on record: nothing is stored."""
        heads_now = [cast(Entry, previous[metric]) for metric in self.metrics]
        duplicate = await _duplicate_report(conn, heads_now, others=others)
        return replace(duplicate, unchanged=True, kept=(True,) * len(heads_now))

    async def _insert(
        self,
        conn: AsyncConnection,
        written: list[tuple[str, Decimal]],
        previous: dict[str, Entry | None],
    ) -> dict[str, int]:
        """Insert the new entries; returns their ids by metric.

        A list of parameter sets is sent as one multi-row INSERT ("insertmanyvalues"), and,
        unlike .values(rows), its compiled form is cached. A unique violation (the message is
        stored) or a foreign-key one (unknown deal) rolls back; the retry tells which."""
        inserted = await conn.execute(_INSERT_ENTRIES, self.rows(written, previous))
        return {str(metric): int(entry_id) for entry_id, metric in inserted}

    def rows(
        self, written: list[tuple[str, Decimal]], previous: dict[str, Entry | None]
    ) -> list[dict[str, Any]]:
        """The ``entries`` rows of the written values."""
        return [
            {
                "deal_id": self.deal_id,
                "day": self.day,
                "metric": metric,
                "value": value,
                "side": self.side,
                "person": self.person,
                "person_name": self.person_name,
                "chat": self.chat,
                "message_key": self.message_key,
                "recorded_at": self.at,
                "supersedes": _id_of(previous[metric]),
            }
            for metric, value in written
        ]

    def _result(
        self,
        new_ids: dict[str, int],
        written: dict[str, Decimal],
        previous: dict[str, Entry | None],
        others: tuple[Entry | None, ...],
        kept: set[str],
    ) -> ReportResult:
        """What was stored. The new entries are built here from what was written, not read
        back; kept values are the entries on record."""
        made = {
            metric: self._entry(new_ids[metric], metric, value, previous[metric])
            for metric, value in written.items()
        }
        made.update({metric: cast(Entry, previous[metric]) for metric in kept})
        metrics = self.metrics
        return ReportResult(
            entries=tuple(made[metric] for metric in metrics),
            superseded=tuple(None if metric in kept else previous[metric] for metric in metrics),
            duplicate=False,
            others=others,
            kept=tuple(metric in kept for metric in metrics) if kept else (),
        )

    def _entry(self, entry_id: int, metric: str, value: Decimal, previous: Entry | None) -> Entry:
        return Entry(
            id=entry_id,
            deal_id=self.deal_id,
            day=self.day,
            metric=metric,
            value=canonical_decimal(value),
            side=self.side,
            person=self.person,
            person_name=self.person_name,
            chat=self.chat,
            message_key=self.message_key,
            recorded_at=self.at.astimezone(dt.UTC),
            supersedes=_id_of(previous),
        )


# ------------------------------------------------------------------------ reports in bulk

_HeadKey = tuple[str, dt.date, str, str]
"""``(deal_id, day, side, metric)``: one head."""
_DayKey = tuple[str, dt.date, str]
"""``(deal_id, day, metric)``: a metric's heads of both sides."""


async def _store_reports(
    conn: AsyncConnection, reports: list[_Report]
) -> list[ReportResult | None]:
    """Many reports' first attempts together, for a batch of the group commit: one statement
    reads every head they touch (on PostgreSQL, those that exist are then locked and read
    again), one inserts all their entries, one or two move and create their heads, one reads
    the platform's figures of their days.

    A report is left to its own write (``None`` in its place, run after this, in its own
    savepoint) when running it here could differ from running the reports one after another:
    it re-sends a figure on record (``skip_unchanged``), it writes a head an earlier report of
    the batch writes, its message is an earlier one's, or it touches a metric of a day a
    report left to its own write touches. The other side's figure in a result is the one an
    earlier report of the batch stored, as it would be one after another.

    Raises:
        _LostRace: A concurrent writer created a head these reports read as absent.
        sqlalchemy.exc.IntegrityError: A message was stored before, or a deal is unknown: the
            caller rolls this back and runs each report on its own.
    """
    state = await _heads_of(conn, reports)
    chosen = _bulk_plan(reports, state)
    if not any(chosen):
        return [None] * len(reports)
    rows: list[dict[str, Any]] = []
    for report, previous in filter(None, chosen):
        rows += report.rows(sorted(report.values, key=lambda p: p[0]), previous)
    inserted = await conn.execute(_INSERT_MANY_ENTRIES, rows)
    ids = {(str(d), str(key), str(m)): int(entry_id) for entry_id, d, key, m in inserted}
    moved: list[dict[str, Any]] = []
    created: list[dict[str, Any]] = []
    results: list[ReportResult | None] = []
    for plan in chosen:
        if plan is None:
            results.append(None)
            continue
        report, previous = plan
        new_ids = {m: ids[(report.deal_id, report.message_key, m)] for m in report.metrics}
        more_moved, more_created = _head_moves(
            report.deal_id, report.day, report.side, sorted(new_ids.items()), previous
        )
        moved += more_moved
        created += more_created
        other = other_side(report.side)
        others = tuple(state.get((report.deal_id, report.day, other, m)) for m in report.metrics)
        result = report._result(new_ids, dict(report.values), previous, others, set())
        state.update({(e.deal_id, e.day, e.side, e.metric): e for e in result.entries})
        results.append(result)
    await _apply_head_moves(conn, moved, created, f"{len(rows)} reported figures")
    stored = [report for report, result in zip(reports, results, strict=True) if result is not None]
    return await _with_reads(conn, reports, results, stored)


async def _with_reads(
    conn: AsyncConnection,
    reports: list[_Report],
    results: list[ReportResult | None],
    stored: list[_Report],
) -> list[ReportResult | None]:
    """The results of a bulk with what their replies read in the same transaction, one
    statement each for all ``stored`` reports: the platform's figures of their days, each
    metric's recent figures; and each one's statement record."""
    platform = await figures_on(conn, [(report.deal_id, report.day) for report in stored])
    recent = await _recent_on(conn, [key for report in stored for key in report.recent_keys])
    return [
        None
        if r is None
        else replace(
            r,
            platform=platform.get((report.deal_id, report.day), {}),
            statement=await report.statement(conn),
            recent=report.recent(recent),
        )
        for r, report in zip(results, reports, strict=True)
    ]


async def _heads_of(conn: AsyncConnection, reports: list[_Report]) -> dict[_HeadKey, Entry]:
    """The current entries of every (day, metric) the reports touch, both sides, by head.

    On PostgreSQL the reports' own heads that exist are then locked (in key order, one
    statement) and read again: a head locked after waiting for another writer is newer than
    the first read. Most reports are a day's first (no head yet): nothing to lock, one read.

    Raises:
        _LostRace: A head was created between the reads and the lock.
    """
    own = sorted({(r.deal_id, r.day, r.side, m) for r in reports for m in r.metrics})
    keys = sorted({(deal_id, day, metric) for deal_id, day, _, metric in own})
    state = await _read_heads(conn, keys)
    existing = [key for key in own if key in state]
    if conn.dialect.name != "postgresql" or not existing:
        return state
    rows = await conn.execute(_LOCK_MANY_HEADS, {"keys": existing})
    locked = {(str(d), day, str(s), str(m)): int(e) for d, day, s, m, e in rows}
    state = await _read_heads(conn, keys)
    if any(locked.get(key) != (state[key].id if key in state else None) for key in own):
        raise _LostRace("a concurrent report created a head of a batch's report")
    return state


async def _read_heads(conn: AsyncConnection, keys: list[_DayKey]) -> dict[_HeadKey, Entry]:
    """The current entries of the (deal, day, metric) ``keys``, both sides, by head."""
    found = await conn.execute(_MANY_DAY_HEADS, {"keys": keys})
    return {(e.deal_id, e.day, e.side, e.metric): e for e in map(_to_entry, found)}


def _bulk_plan(
    reports: list[_Report], state: dict[_HeadKey, Entry]
) -> list[tuple[_Report, dict[str, Entry | None]] | None]:
    """Each report with its side's current entries when it can be stored in bulk (see
    :func:`_store_reports`), else ``None``."""
    plan: list[tuple[_Report, dict[str, Entry | None]] | None] = []
    claimed: set[_HeadKey] = set()
    messages: set[tuple[str, str]] = set()
    left: set[_DayKey] = set()
    for report in reports:
        days = {(report.deal_id, report.day, m) for m in report.metrics}
        own = {(report.deal_id, report.day, report.side, m) for m in report.metrics}
        previous = {
            m: state.get((report.deal_id, report.day, report.side, m)) for m in report.metrics
        }
        message = (report.deal_id, report.message_key)
        if days & left or own & claimed or message in messages or report._kept(previous):
            left |= days
            plan.append(None)
            continue
        claimed |= own
        messages.add(message)
        plan.append((report, previous))
    return plan


# ------------------------------------------------------------------------------ helpers


async def _store_version(
    conn: AsyncConnection,
    deal: Deal,
    source_text: str,
    effective: dt.date,
    applied_at: dt.datetime,
) -> int:
    """Add ``source_text`` as the deal's newest version, unless it is the current version's
    text; returns the version now current (see :meth:`Ledger.apply_deal`)."""
    current = (
        await conn.execute(
            select(deals.c.current_version).where(deals.c.id == deal.id).with_for_update()
        )
    ).scalar_one_or_none()
    if current is not None and await _version_text(conn, deal.id, int(current)) == source_text:
        return int(current)
    if current is None:
        version = 1
        await conn.execute(
            insert(deals).values(
                id=deal.id, name=deal.name, current_version=1, created_at=applied_at
            )
        )
    else:
        version = int(current) + 1
        await conn.execute(
            update(deals)
            .where(deals.c.id == deal.id)
            .values(name=deal.name, current_version=version)
        )
    await conn.execute(
        insert(deal_versions).values(
            deal_id=deal.id,
            version=version,
            effective=effective,
            applied_at=applied_at,
            source_text=source_text,
        )
    )
    await _sync_links(conn, deal)
    return version


async def _version_text(conn: AsyncConnection, deal_id: str, version: int) -> str:
    text = (
        await conn.execute(
            select(deal_versions.c.source_text).where(
                deal_versions.c.deal_id == deal_id, deal_versions.c.version == version
            )
        )
    ).scalar_one()
    return str(text)


async def _sync_links(conn: AsyncConnection, deal: Deal) -> None:
    """Make the deal's chat links match ``deal.chats`` (moved chats under their new id)."""
    wanted: dict[str, str] = {}
    for link in deal.chats:
        wanted[await _resolve_chat(conn, link.id)] = link.side
    stale = delete(chat_links).where(chat_links.c.deal_id == deal.id)
    if wanted:
        stale = stale.where(chat_links.c.chat_id.not_in(wanted))
    await conn.execute(stale)
    for chat_id, side in wanted.items():
        await _upsert_link(conn, chat_id, deal.id, side)


def _both(chat_id: str, resolved: str) -> tuple[str, ...]:
    return (chat_id,) if chat_id == resolved else (chat_id, resolved)


def _check_side(side: str) -> None:
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, not {side!r}")


async def _require_deal(conn: AsyncConnection, deal_id: str) -> None:
    found = (await conn.execute(select(deals.c.id).where(deals.c.id == deal_id))).first()
    if found is None:
        raise LookupError(f"unknown deal {deal_id!r}")


async def _resolve_chat(conn: AsyncConnection, chat_id: str) -> str:
    """Follow chat aliases to the chat's newest id."""
    current = chat_id
    for _ in range(_MAX_ALIAS_HOPS):
        following = (
            await conn.execute(
                select(chat_aliases.c.new_chat_id).where(chat_aliases.c.old_chat_id == current)
            )
        ).scalar_one_or_none()
        if following is None or following == chat_id:
            return current
        current = str(following)
    return current


def _insert_for(conn: AsyncConnection, table: Any) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


async def _upsert(
    conn: AsyncConnection,
    table: Any,
    values: dict[str, Any],
    *,
    keys: Iterable[str],
    update: Iterable[str],
) -> None:
    statement = _insert_for(conn, table).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: statement.excluded[name] for name in update},
    )
    await conn.execute(statement)


async def _upsert_link(conn: AsyncConnection, chat_id: str, deal_id: str, side: str) -> None:
    await _upsert(
        conn,
        chat_links,
        {"chat_id": chat_id, "deal_id": deal_id, "side": side},
        keys=("chat_id", "deal_id"),
        update=("side",),
    )


async def _insert_link_if_missing(
    conn: AsyncConnection, chat_id: str, deal_id: str, side: str
) -> None:
    statement = _insert_for(conn, chat_links).values(chat_id=chat_id, deal_id=deal_id, side=side)
    await conn.execute(statement.on_conflict_do_nothing(index_elements=["chat_id", "deal_id"]))


async def _lock_heads(
    conn: AsyncConnection, deal_id: str, day: dt.date, side: str, metrics: Sequence[str]
) -> dict[str, int] | None:
    """Lock a side's existing heads of a day's metrics until commit (PostgreSQL).

    One statement, locking in metric order (PostgreSQL sorts before it locks), so two
    multi-metric reports never wait on each other in a cycle. A waiting writer goes on once
    the holder commits, and the read that follows (a new snapshot, READ COMMITTED) sees what
    it committed, so each correction supersedes the one committed just before it. The lock
    cannot share a statement with that read: a row found by waiting is newer than the
    statement's snapshot, and so is the entry it points at.

    Returns:
        The locked heads' entry ids by metric; ``None`` on SQLite, where there is nothing to
        lock: ``BEGIN IMMEDIATE`` already excludes every other writer.
    """
    if conn.dialect.name != "postgresql":
        return None
    rows = await conn.execute(
        _LOCK_HEADS, {"deal_id": deal_id, "day": day, "side": side, "metrics": list(metrics)}
    )
    return {str(metric): int(entry_id) for metric, entry_id in rows}


async def _day_heads(
    conn: AsyncConnection, deal_id: str, day: dt.date, metrics: Iterable[str]
) -> dict[tuple[str, str], Entry]:
    """The current entries of a day's metrics, both sides, keyed by ``(metric, side)``."""
    rows = await conn.execute(
        _DAY_HEADS, {"deal_id": deal_id, "day": day, "metrics": list(metrics)}
    )
    return {(entry.metric, entry.side): entry for entry in map(_to_entry, rows)}


async def _move_heads(
    conn: AsyncConnection,
    deal_id: str,
    day: dt.date,
    side: str,
    new_ids: Sequence[tuple[str, int]],
    previous: dict[str, Entry | None],
) -> None:
    """Point a side's heads at the new entries: one statement for the heads that existed,
    one for those that did not (a report of one figure needs only one of them).

    Raises:
        _LostRace: A concurrent writer created one of the new heads first.
    """
    moved, created = _head_moves(deal_id, day, side, new_ids, previous)
    await _apply_head_moves(conn, moved, created, f"{deal_id} on {day}")


def _head_moves(
    deal_id: str,
    day: dt.date,
    side: str,
    new_ids: Sequence[tuple[str, int]],
    previous: dict[str, Entry | None],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The parameters of :data:`_MOVE_HEADS` (heads that existed) and of
    :data:`_CREATE_HEADS` (heads that did not) for one report's new entries."""
    moved = [
        {
            "key_deal_id": deal_id,
            "key_day": day,
            "key_metric": metric,
            "key_side": side,
            "new_entry_id": new_id,
        }
        for metric, new_id in new_ids
        if previous[metric] is not None
    ]
    created = [
        {"deal_id": deal_id, "day": day, "metric": metric, "side": side, "entry_id": new_id}
        for metric, new_id in new_ids
        if previous[metric] is None
    ]
    return moved, created


async def _apply_head_moves(
    conn: AsyncConnection, moved: list[dict[str, Any]], created: list[dict[str, Any]], what: str
) -> None:
    """Move and create heads (one statement each, when there are any).

    Raises:
        _LostRace: A concurrent writer created one of the new heads first.
    """
    if moved:
        await conn.execute(_MOVE_HEADS, moved)
    if created:
        # In key order: two batches creating the same heads then wait for each other in the
        # same order, never in a cycle.
        created = sorted(created, key=lambda h: (h["deal_id"], h["day"], h["side"], h["metric"]))
        done = (await conn.execute(_CREATE_HEADS[conn.dialect.name], created)).all()
        if len(done) != len(created):
            raise _LostRace(f"a concurrent report created a head of {what}")


def _id_of(entry: Entry | None) -> int | None:
    return None if entry is None else entry.id


async def _entry(conn: AsyncConnection, entry_id: int) -> Entry | None:
    row = (await conn.execute(select(entries).where(entries.c.id == entry_id))).one_or_none()
    return None if row is None else _to_entry(row)


async def _message_entries(conn: AsyncConnection, deal_id: str, message_key: str) -> list[Entry]:
    rows = await conn.execute(
        select(entries)
        .where(entries.c.deal_id == deal_id, entries.c.message_key == message_key)
        .order_by(entries.c.id)
    )
    return [_to_entry(row) for row in rows]


async def _duplicate_report(
    conn: AsyncConnection,
    stored: list[Entry],
    *,
    others: tuple[Entry | None, ...] | None = None,
) -> ReportResult:
    """A result that writes nothing: ``stored`` with what they superseded and, unless given,
    the other side's current entries."""
    superseded_ids = [entry.supersedes for entry in stored if entry.supersedes is not None]
    found: dict[int, Entry] = {}
    if superseded_ids:
        rows = await conn.execute(select(entries).where(entries.c.id.in_(superseded_ids)))
        found = {entry.id: entry for entry in map(_to_entry, rows)}
    if others is None:
        current: dict[tuple[str, str], Entry] = {}
        if stored:
            current = await _day_heads(
                conn, stored[0].deal_id, stored[0].day, {e.metric for e in stored}
            )
        others = tuple(current.get((e.metric, other_side(e.side))) for e in stored)
    return ReportResult(
        entries=tuple(stored),
        superseded=tuple(None if e.supersedes is None else found[e.supersedes] for e in stored),
        duplicate=True,
        others=others,
    )


async def _store_verdict(conn: AsyncConnection, row: dict[str, Any]) -> tuple[Verdict, bool]:
    """Store a verdict (the values of its row) unless its message or its side's standing
    verdict already holds it; see :meth:`Ledger.record_verdict`."""
    existing = await _verdict_for_message(conn, row["deal_id"], row["message_key"])
    if existing is not None:
        return existing, True
    await _require_deal(conn, row["deal_id"])
    if row["entry_id"] is not None:
        standing = await _same_standing_verdict(conn, row)
        if standing is not None:
            return standing, True
    new_id = (
        await conn.execute(insert(verdicts).values(**row).returning(verdicts.c.id))
    ).scalar_one()
    stored = (await conn.execute(select(verdicts).where(verdicts.c.id == new_id))).one()
    return _to_verdict(stored), False


async def _same_standing_verdict(conn: AsyncConnection, row: dict[str, Any]) -> Verdict | None:
    """The side's standing verdict on the row's entry when it is already this one (the same
    kind, and for a dispute the same reason).

    Locking the (immutable) entry serializes the verdicts on it on PostgreSQL, so two
    confirmations sent at once store one (SQLite serializes every writer).

    Raises:
        LookupError: The entry does not exist.
    """
    entry_id = row["entry_id"]
    locked = select(entries.c.id).where(entries.c.id == entry_id).with_for_update()
    if (await conn.execute(locked)).first() is None:
        raise LookupError(f"unknown entry {entry_id}")
    standing = await _standing_verdict(conn, entry_id, row["side"])
    if standing is None or standing.kind != row["kind"]:
        return None
    return standing if row["kind"] == "confirm" or standing.reason == row["reason"] else None


async def _verdict_for_message(
    conn: AsyncConnection, deal_id: str, message_key: str
) -> Verdict | None:
    row = (
        await conn.execute(
            select(verdicts).where(
                and_(verdicts.c.deal_id == deal_id, verdicts.c.message_key == message_key)
            )
        )
    ).one_or_none()
    return None if row is None else _to_verdict(row)


async def _standing_verdict(conn: AsyncConnection, entry_id: int, side: str) -> Verdict | None:
    """A side's latest verdict on an entry (the one that stands)."""
    row = (
        await conn.execute(
            select(verdicts)
            .where(verdicts.c.entry_id == entry_id, verdicts.c.side == side)
            .order_by(verdicts.c.id.desc())
            .limit(1)
        )
    ).one_or_none()
    return None if row is None else _to_verdict(row)


async def _last_id(conn: AsyncConnection, table: Any, deal_id: str) -> int:
    found = (
        await conn.execute(select(func.max(table.c.id)).where(table.c.deal_id == deal_id))
    ).scalar_one_or_none()
    return 0 if found is None else int(found)


def _to_entry(row: Row[Any]) -> Entry:
    return Entry(
        id=int(row.id),
        deal_id=row.deal_id,
        day=row.day,
        metric=row.metric,
        value=row.value,
        side=cast(Side, row.side),
        person=row.person,
        person_name=row.person_name,
        chat=row.chat,
        message_key=row.message_key,
        recorded_at=row.recorded_at,
        supersedes=None if row.supersedes is None else int(row.supersedes),
    )


def _to_verdict(row: Row[Any]) -> Verdict:
    return Verdict(
        id=int(row.id),
        deal_id=row.deal_id,
        day=row.day,
        metric=row.metric,
        kind=cast(Literal["confirm", "dispute"], row.kind),
        side=cast(Side, row.side),
        person=row.person,
        person_name=row.person_name,
        entry_id=None if row.entry_id is None else int(row.entry_id),
        reason=row.reason,
        chat=row.chat,
        message_key=row.message_key,
        recorded_at=row.recorded_at,
    )
