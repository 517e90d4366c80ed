"""The domain's value types: deals, metrics, targets, fee plans, schedules, ledger entries.

Everything here is an immutable value. Money and KPI values are ``Decimal``; percentages are
stored as fractions (``8%`` is ``Decimal("0.08")``). Nothing here does I/O or reads a clock.
"""

from __future__ import annotations

import datetime as dt
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


@dataclass(frozen=True)
class FeePlan:
    """The fee plan (费用结构) for ordinary periods, or the resolved trial terms."""

    base: Decimal | None = None
    commission: Commission | None = None
    bonus: Bonus | None = None
    deduction: Deduction | None = None
    minimum: Decimal | None = None
    cap: Decimal | None = None


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
    platform: PlatformTerms = field(default_factory=PlatformTerms)
    """How TikTok Shop exports are read for this deal (issue 15)."""

    @property
    def base_metrics(self) -> tuple[str, ...]:
        return tuple(name for name, m in self.metrics.items() if not m.derived)

    def side_of_member(self, person: str) -> Side | None:
        for side in SIDES:
            if person in self.members.get(side, ()):
                return side
        return None

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
