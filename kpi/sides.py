"""The two-sides rules: which side's figure counts for a day and metric, and whether they agree."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from kpi.model import ChatSide, Deal, Entry, Side, Truth, Verdict, other_side

Status = Literal["counted", "provisional", "pending"]
Refusal = Literal["other_side", "members_only", "no_side"]


@dataclass(frozen=True)
class Acting:
    """Whom a person speaks for in a chat: :func:`acting_side`'s answer.

    ``side`` is the side their figures, confirmations and disputes count for here (``None``
    when refused); ``listed`` the side the deal lists them on (``Deal.listed_side``);
    ``refusal`` why they may not act here, or ``None``."""

    side: Side | None
    listed: Side | None
    refusal: Refusal | None


def acting_side(deal: Deal, person: str, chat_side: ChatSide | None) -> Acting:
    """The one rule for which side a person acts for (``/report``, ``/confirm``,
    ``/dispute``, ``/statement confirm``, and what ``/whoami`` says).

    * A person the deal lists on one side (``members``, else their ``contacts`` side) acts
      for that side, in its own chat or a shared one. In the *other* side's chat they are
      refused (``other_side``): a chat of one side speaks for that side only.
    * In a one-side chat, someone the deal does not list speaks for the chat's side, unless
      the deal is ``members_only`` (then ``members_only``).
    * In a shared chat (or a direct message) only the listing can say the side: someone
      unlisted is refused (``no_side``); under ``members_only``, so is someone listed only
      as a contact (``members_only``).

    Args:
        deal: The deal.
        person: The person's id (``telegram:5001``).
        chat_side: The side the chat is linked as; ``shared`` or ``None`` for a shared chat
            or a direct message.
    """
    listed = deal.listed_side(person)
    member = deal.side_of_member(person) is not None
    if chat_side in ("seller", "agency"):
        if listed is not None and listed != chat_side:
            return Acting(None, listed, "other_side")
        if deal.members_only and not member:
            return Acting(None, listed, "members_only")
        return Acting(chat_side, listed, None)  # type: ignore[arg-type]
    if listed is None:
        return Acting(None, None, "no_side")
    if deal.members_only and not member:
        return Acting(None, listed, "members_only")
    return Acting(listed, listed, None)


def agrees(a: Decimal, b: Decimal, tolerance: Decimal) -> bool:
    """Whether two figures agree within a relative tolerance.

    The rule is ``|a - b| <= tolerance x max(|a|, |b|)``: the gap is measured against the larger
    figure, so the test is symmetric in ``a`` and ``b``, and a gap exactly at the tolerance
    still agrees. Equal figures (zeros included) always agree; a zero and a non-zero figure
    agree only with a tolerance of 1 or more.

    Args:
        a: One side's figure.
        b: The other side's figure.
        tolerance: A fraction, e.g. ``Decimal("0.02")`` for 2%.

    Returns:
        True when the figures agree.

    Raises:
        ValueError: If ``tolerance`` is negative.
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must not be negative, got {tolerance}")
    return abs(a - b) <= tolerance * max(abs(a), abs(b))


@dataclass(frozen=True)
class Figure:
    """What the ledger says about one metric on one business day.

    ``value`` is the figure that counts (None while ``pending``); ``counted_side`` says whose it
    is. ``confirmed_by`` is the side that confirmed the counted entry, if any. ``disputes`` are
    the standing dispute verdicts against either current entry."""

    day: dt.date
    metric: str
    seller: Entry | None
    agency: Entry | None
    value: Decimal | None
    status: Status
    counted_side: Side | None
    disagreement: bool
    confirmed_by: Side | None
    disputes: tuple[Verdict, ...]

    @property
    def counts(self) -> bool:
        """Whether a value counts towards totals (counted or provisional)."""
        return self.value is not None

    @property
    def settled(self) -> bool:
        """A disagreement one side ended by confirming the other's figure: that figure counts,
        and nobody needs to be warned about it again."""
        return self.disagreement and self.confirmed_by is not None

    @property
    def contested(self) -> bool:
        """A disagreement beyond tolerance nobody settled, or a standing dispute: either side
        should look."""
        return (self.disagreement and not self.settled) or bool(self.disputes)

    @property
    def open(self) -> bool:
        """Not yet agreed: pending (counts nothing) or disputed."""
        return self.status == "pending" or bool(self.disputes)

    def entry(self, side: Side) -> Entry | None:
        """The current entry of ``side``."""
        return self.seller if side == "seller" else self.agency


def contested(figures: Iterable[Figure]) -> list[Figure]:
    """The figures either side should look at (:attr:`Figure.contested`), by day and metric."""
    return sorted((f for f in figures if f.contested), key=lambda f: (f.day, f.metric))


@dataclass(frozen=True)
class _Judgement:
    """The other side's standing verdict on one entry."""

    disputes: tuple[Verdict, ...]
    confirmed_at: dt.datetime | None = None
    """When the standing confirmation was recorded (None: not confirmed)."""

    @property
    def confirmed(self) -> bool:
        return self.confirmed_at is not None


_NO_JUDGEMENT = _Judgement(disputes=())


def _judgements(current: Iterable[Entry], verdicts: Iterable[Verdict]) -> dict[int, _Judgement]:
    """The standing verdicts on each current entry, from the other side only.

    A verdict names the entry it is about, so a correction (a new entry) starts with none.
    Verdicts are read in order (recorded time, then id): a confirmation withdraws the disputes
    before it, and a dispute after a confirmation takes the confirmation back."""
    by_id = {entry.id: entry for entry in current}
    collected: dict[int, list[Verdict]] = {}
    for verdict in verdicts:
        entry = by_id.get(verdict.entry_id) if verdict.entry_id is not None else None
        # A side cannot confirm or dispute its own figure; such a verdict means nothing.
        if entry is None or verdict.side == entry.side:
            continue
        collected.setdefault(entry.id, []).append(verdict)
    result: dict[int, _Judgement] = {}
    for entry_id, items in collected.items():
        items.sort(key=lambda v: (v.recorded_at, v.id))
        confirmed_at: dt.datetime | None = None
        disputes: list[Verdict] = []
        for verdict in items:
            if verdict.kind == "confirm":
                confirmed_at = verdict.recorded_at
                disputes = []
            else:
                confirmed_at = None
                disputes.append(verdict)
        result[entry_id] = _Judgement(disputes=tuple(disputes), confirmed_at=confirmed_at)
    return result


def resolve(
    entries: Iterable[Entry],
    verdicts: Iterable[Verdict],
    *,
    truth: Truth,
    tolerance: Decimal,
) -> dict[tuple[dt.date, str], Figure]:
    """Decide, for every day and metric with a figure, which figure counts.

    Rules by the deal's ``truth``:

    * ``seller`` or ``agency``: that side's figure counts (``counted``). When only the other
      side reported, its figure counts ``provisional`` until the truth side reports; if the
      truth side confirms that figure, it has vouched for it and it is ``counted``. A truth
      side that confirms the other side's figure after its own latest report accepts it
      instead of its own: the other side's figure counts (a report of its own after that
      confirmation counts again).
    * ``agreed``: a figure counts once the other side confirmed that very entry (a correction
      needs a new confirmation). When both sides reported figures that :func:`agrees` within
      ``tolerance``, the seller's figure counts: the seller pays the fee, so its number is the
      one it cannot later contest. An explicit confirmation wins over that rule (a seller who
      confirmed the agency's figure gets the agency's figure). Otherwise the figure is
      ``pending`` and its value is None: it does not count.

    ``disagreement`` is set when both sides reported and their figures do not agree.

    Args:
        entries: The current ledger entries (the latest correction per day, metric and side).
            Should two entries of one side for a day and metric slip in, the later one (higher
            id) is taken.
        verdicts: Confirm and dispute verdicts; those not naming a current entry are ignored.
        truth: The deal's truth mode.
        tolerance: The deal's relative tolerance (see :func:`agrees`).

    Returns:
        A figure per ``(day, metric)``.
    """
    latest: dict[tuple[dt.date, str, Side], Entry] = {}
    for entry in entries:
        key = (entry.day, entry.metric, entry.side)
        if key not in latest or entry.id > latest[key].id:
            latest[key] = entry
    judged = _judgements(latest.values(), verdicts)

    pairs: dict[tuple[dt.date, str], dict[Side, Entry]] = {}
    for (day, metric, side), entry in latest.items():
        pairs.setdefault((day, metric), {})[side] = entry

    figures: dict[tuple[dt.date, str], Figure] = {}
    for (day, metric), by_side in sorted(pairs.items()):
        figures[(day, metric)] = _figure(
            day, metric, by_side.get("seller"), by_side.get("agency"), judged, truth, tolerance
        )
    return figures


def _figure(
    day: dt.date,
    metric: str,
    seller: Entry | None,
    agency: Entry | None,
    judged: dict[int, _Judgement],
    truth: Truth,
    tolerance: Decimal,
) -> Figure:
    def judgement(entry: Entry | None) -> _Judgement:
        return judged.get(entry.id, _NO_JUDGEMENT) if entry is not None else _NO_JUDGEMENT

    def confirmed(entry: Entry | None) -> bool:
        return entry is not None and judgement(entry).confirmed

    disagreement = (
        seller is not None
        and agency is not None
        and not agrees(seller.value, agency.value, tolerance)
    )
    disputes = judgement(seller).disputes + judgement(agency).disputes
    by_side: dict[Side, Entry | None] = {"seller": seller, "agency": agency}

    counted: Entry | None = None
    status: Status = "pending"
    if truth != "agreed":
        own, other = by_side[truth], by_side[other_side(truth)]
        accepted = judgement(other).confirmed_at
        if own is not None and other is not None and accepted and accepted >= own.recorded_at:
            counted, status = other, "counted"  # the truth side accepted the other's figure
        elif own is not None:
            counted, status = own, "counted"
        elif other is not None:
            counted = other
            status = "counted" if confirmed(other) else "provisional"
    elif confirmed(seller):
        counted, status = seller, "counted"
    elif confirmed(agency):
        counted, status = agency, "counted"
    elif seller is not None and agency is not None and not disagreement:
        counted, status = seller, "counted"
    if counted is not None and confirmed(counted):
        # The counted figure is vouched for by the other side: disputes of the figure that
        # does not count (the one its reporter gave up by confirming this one) are moot.
        disputes = ()

    return Figure(
        day=day,
        metric=metric,
        seller=seller,
        agency=agency,
        value=counted.value if counted is not None else None,
        status=status,
        counted_side=counted.side if counted is not None else None,
        disagreement=disagreement,
        confirmed_by=(
            other_side(counted.side) if counted is not None and confirmed(counted) else None
        ),
        disputes=disputes,
    )
