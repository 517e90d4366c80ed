"""The domain's value types: deals, metrics, targets, fee plans, schedules, ledger entries.

Everything here is an immutable value. Money and KPI values are ``Decimal``; percentages are
stored as fractions (``8%`` is ``Decimal("0.08")``). Nothing here does I/O or reads a clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from kpi.formula import Formula

Side = Literal["seller", "agency"]
ChatSide = Literal["seller", "agency", "shared"]
Truth = Literal["seller", "agency", "agreed"]
PeriodKind = Literal["week", "month", "quarter"]
Direction = Literal["at_least", "at_most"]
Locale = Literal["en", "zh"]
MetricKind = Literal["money", "count", "number"]
Unreported = Literal["missing", "zero"]

SIDES: tuple[Side, ...] = ("seller", "agency")
ZERO = Decimal(0)


def other_side(side: Side) -> Side:
    """The opposite party."""
    return "agency" if side == "seller" else "seller"


@dataclass(frozen=True)
class Metric:
    """A metric of a deal: reported (``formula is None``) or derived from other metrics."""

    name: str
    description: str
    formula: Formula | None = None
    kind: MetricKind = "number"
    """What a reported figure is: ``money`` (in the deal's currency; its currency marks
    accepted), ``count`` (a whole number, no currency mark) or ``number`` (any figure, no
    currency mark)."""
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    """Display names per locale set by the deal (``label: {zh: …, en: …}``); the catalog's
    built-in ``metric.NAME`` labels apply where none is set."""
    unreported: Unreported = "missing"
    """What a day without a figure of this reported metric is in a ratio over a period
    (:func:`kpi.pace.aligned_values`): ``missing`` (the default: the day is left out of the
    ratio) or ``zero`` (a metric reported only when non-zero, like refunds: a day whose other
    inputs of the ratio count has 0 of it). Period totals are the same either way."""

    @property
    def derived(self) -> bool:
        return self.formula is not None


@dataclass(frozen=True)
class Target:
    """A period target on one metric."""

    metric: str
    direction: Direction
    value: Decimal
    weight: Decimal | None = None


@dataclass(frozen=True)
class Band:
    """One commission band; ``up_to`` is the band's upper bound on the cumulative figure
    (``None`` for the open top band). ``rate`` is a fraction."""

    rate: Decimal
    up_to: Decimal | None = None


@dataclass(frozen=True)
class Commission:
    """Commission on a metric's period total. A flat rate is one open band."""

    on: str
    bands: tuple[Band, ...]
    tiers: Literal["graduated", "whole"] = "graduated"


@dataclass(frozen=True)
class Bonus:
    """Paid when every target on the metrics in ``when`` is met.

    Either a fixed ``amount`` or a ``percent`` (fraction) ``of`` a fee line
    (``commission``, ``base`` or ``subtotal`` = base + commission)."""

    when: tuple[str, ...]
    amount: Decimal | None = None
    percent: Decimal | None = None
    of: Literal["commission", "base", "subtotal"] | None = None


@dataclass(frozen=True)
class Deduction:
    """Shortfall deduction on the target of metric ``on``.

    shortfall = (target - actual) / target for at_least targets, (actual - target) / target for
    at_most targets. Every full ``step`` of shortfall deducts ``per_step`` x the ``of`` amount
    (``base`` or ``total`` = base + commission + bonus). The deduction never exceeds ``cap_rate``
    x the ``of`` amount nor ``cap_amount`` when they are set."""

    on: str
    step: Decimal
    per_step: Decimal
    of: Literal["base", "total"] = "base"
    cap_rate: Decimal | None = None
    cap_amount: Decimal | None = None
    unit: Literal["relative", "points"] = "relative"
    """``relative``: ``step`` is a fraction of the target (``10%``); ``points``: ``step`` is in
    percentage points of the figure itself (``1pt`` is ``Decimal("0.01")``), so refund rate
    11.4% against ``at_most: 8%`` is 3 steps of 1pt (issue 18)."""


@dataclass(frozen=True)
class Performance:
    """The performance fee (绩效服务费): ``amount`` x the weighted KPI score.

    The score is the weighted sum of each weighted target's achievement (``actual / target``
    for at_least, ``target / actual`` for at_most), each counted up to ``cap``. Below ``floor``
    the performance fee is 0 (issue 18)."""

    amount: Decimal
    floor: Decimal = Decimal(0)
    cap: Decimal = Decimal(1)


@dataclass(frozen=True)
class Guarantee:
    """A guarantee clause (对赌/保量): when ``on`` misses ``at_least``, the agency refunds.

    ``refund`` is ``proportional`` (the shortfall's share of the ``of`` amount) or ``stepped``
    (every full ``step`` of shortfall refunds ``per_step`` of it). ``of`` is ``base`` or
    ``fees`` (the fee before the guarantee). The refund is bounded by ``cap_rate`` x the ``of``
    amount (default 100%) and by ``cap_amount`` when set."""

    on: str
    at_least: Decimal
    refund: Literal["proportional", "stepped"] = "proportional"
    of: Literal["base", "fees"] = "base"
    step: Decimal | None = None
    per_step: Decimal | None = None
    cap_rate: Decimal = Decimal(1)
    cap_amount: Decimal | None = None


@dataclass(frozen=True)
class FeePlan:
    """The fee plan (费用结构) for ordinary periods, or the resolved trial terms.

    ``bonus`` and ``deduction`` are one term or several (a deal file may list them);
    :attr:`bonuses` and :attr:`deductions` always give a tuple."""

    base: Decimal | None = None
    commission: Commission | None = None
    bonus: Bonus | tuple[Bonus, ...] | None = None
    deduction: Deduction | tuple[Deduction, ...] | None = None
    minimum: Decimal | None = None
    cap: Decimal | None = None
    performance: Performance | None = None
    guarantee: Guarantee | None = None

    @property
    def bonuses(self) -> tuple[Bonus, ...]:
        """Every bonus term, in the order written."""
        if self.bonus is None:
            return ()
        return self.bonus if isinstance(self.bonus, tuple) else (self.bonus,)

    @property
    def deductions(self) -> tuple[Deduction, ...]:
        """Every deduction term, in the order written."""
        if self.deduction is None:
            return ()
        return self.deduction if isinstance(self.deduction, tuple) else (self.deduction,)


@dataclass(frozen=True)
class Escalation:
    """Escalation timing: next level after ``after``, repeats every ``repeat`` up to ``max``."""

    after: dt.timedelta = dt.timedelta(hours=4)
    repeat: dt.timedelta = dt.timedelta(hours=12)
    max: int = 3
    quiet: tuple[dt.time, dt.time] | None = None


@dataclass(frozen=True)
class Schedule:
    """When the bot speaks up, in the deal's time zone. ``recap_weekday`` is 0 for Monday."""

    recap_weekday: int | None = 0
    recap_time: dt.time | None = dt.time(9, 0)
    reminder: dt.time | None = None
    pace_check: dt.time | None = None
    warn_below: Decimal = Decimal("0.9")
    escalate_below: Decimal = Decimal("0.75")
    escalation: Escalation = field(default_factory=Escalation)
    platform_sync: dt.time | None = None
    """When the linked TikTok shop's figures are fetched each day (``None``: never)."""


@dataclass(frozen=True)
class Contact:
    """A designated contact (指定对接人) in the escalation chain."""

    who: str
    side: Side
    level: int
    name: str = ""


@dataclass(frozen=True)
class ChatLink:
    """A chat linked to a deal and whose side it speaks for."""

    id: str
    side: ChatSide


GmvBasis = Literal["live_gmv", "attributed_gmv", "order_amount"]


@dataclass(frozen=True)
class PlatformTerms:
    """How a deal reads TikTok Shop exports (its deal file's ``platform:`` section).

    ``gmv_basis`` says what the contract's GMV is; ``refunds`` whether the order export's
    refunds count as the ``refunds`` metric; ``metrics`` maps a deal metric to a platform
    figure (over the defaults); ``columns`` maps a file's header to an export field.
    """

    gmv_basis: GmvBasis = "live_gmv"
    refunds: bool = True
    counts: bool = False
    """``truth: platform``: the platform's figure counts where there is one; on other days the
    deal's ``truth`` (the deal file's ``fallback:``) decides."""
    metrics: tuple[tuple[str, str], ...] = ()
    columns: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Deal:
    """One seller-agency engagement, as loaded from its deal file."""

    id: str
    name: str
    currency: str
    timezone: str
    locale: Locale
    starts: dt.date
    period: PeriodKind
    trial_periods: int
    truth: Truth
    tolerance: Decimal
    metrics: dict[str, Metric]
    targets: tuple[Target, ...]
    fees: FeePlan
    trial_fees: FeePlan | None
    members: dict[Side, tuple[str, ...]]
    admins: tuple[str, ...]
    contacts: tuple[Contact, ...]
    chats: tuple[ChatLink, ...]
    schedule: Schedule
    effective: dt.date | None = None
    """The day these terms take effect (``None``: the loader's caller decides)."""
    ends: dt.date | None = None
    """The deal's last day (``None``: open-ended); its last period is clipped to it."""
    members_only: bool = False
    """Only people listed in ``members`` may report or confirm, even in a one-side chat."""
    platform: PlatformTerms = field(default_factory=PlatformTerms)
    """How TikTok Shop exports are read for this deal (issue 15)."""

    @property
    def base_metrics(self) -> tuple[str, ...]:
        return tuple(name for name, m in self.metrics.items() if not m.derived)

    @property
    def formulas(self) -> dict[str, str]:
        """Each derived metric's name to its formula as written (for parsing and errors)."""
        return {n: m.formula.text for n, m in self.metrics.items() if m.formula is not None}

    @property
    def metric_words(self) -> dict[str, str]:
        """The deal's own labels for its metrics, each to the metric's name (for parsing)."""
        return {text: name for name, m in self.metrics.items() for text in m.labels.values()}

    def side_of_member(self, person: str) -> Side | None:
        for side in SIDES:
            if person in self.members.get(side, ()):
                return side
        return None

    def listed_side(self, person: str) -> Side | None:
        """The side the deal lists a person on: where ``members`` lists them, else their one
        ``contacts`` side; ``None`` for someone listed on no (or both) sides. What a person
        may do for a side in a given chat is :func:`kpi.sides.acting_side`'s one rule."""
        side = self.side_of_member(person)
        if side is not None:
            return side
        sides = {contact.side for contact in self.contacts if contact.who == person}
        return sides.pop() if len(sides) == 1 else None

    def side_of_admin(self, person: str) -> Side | None:
        """The side an admin acts for (:meth:`listed_side`); ``None`` for a non-admin or an
        admin of no (or both) sides."""
        return self.listed_side(person) if person in self.admins else None

    def chat(self, chat_id: str) -> ChatLink | None:
        for link in self.chats:
            if link.id == chat_id:
                return link
        return None

    def target_for(self, metric: str) -> Target | None:
        for target in self.targets:
            if target.metric == metric:
                return target
        return None


@dataclass(frozen=True)
class Entry:
    """One immutable ledger entry: a side's figure for one metric on one business day."""

    id: int
    deal_id: str
    day: dt.date
    metric: str
    value: Decimal
    side: Side
    person: str
    person_name: str
    chat: str
    message_key: str
    recorded_at: dt.datetime
    supersedes: int | None = None


@dataclass(frozen=True)
class Verdict:
    """A side's confirmation of, or dispute against, the other side's entry."""

    id: int
    deal_id: str
    day: dt.date
    metric: str
    kind: Literal["confirm", "dispute"]
    side: Side
    person: str
    person_name: str
    entry_id: int | None
    reason: str
    chat: str
    message_key: str
    recorded_at: dt.datetime
