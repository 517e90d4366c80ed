"""Answers that cannot mislead about money or sides: the fee to date under the cap, unusual
figures, one side rule, disputes told to the other side, the first day of a period.

Pure rules are tested directly; whole answers go through the core (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.app import Core, build_core
from bot.core import Command, Outgoing, VirtualClock
from bot.core.i18n import t
from bot.settings import Settings
from kpi.fees import FeeStatement, compute_fee
from kpi.model import FeePlan, Target
from kpi.money import quantize_money
from kpi.snapshot import snapshot
from scheduler.recap import fee_lines
from tests.test_fees_props import CURRENCIES, PROPS, fractions, plans, targets, values

ROOT = Path(__file__).resolve().parents[1]
US_TEXT = (ROOT / "bot" / "demo" / "acme-linkstar-us.yaml").read_text(encoding="utf-8")
CN_TEXT = (ROOT / "bot" / "demo" / "shenzhen-wanxiang-cn.yaml").read_text(encoding="utf-8")
US, CN = "acme-linkstar-us", "shenzhen-wanxiang-cn"
LA = ZoneInfo("America/Los_Angeles")

SELLER_CHAT, SELLER, SELLER2 = "telegram:-1001234", "telegram:5001", "telegram:5002"
AGENCY_CHAT, AGENCY, AGENCY_ADMIN = "slack:C0AGENCY", "slack:U0AGENCY1", "slack:U0AGENCY2"
SHARED_CHAT = "telegram:-1009999"


def local(day: int, hour: int = 22, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, 0, tzinfo=LA)


async def make_core(db_url: str, *texts: str) -> Core:
    clock = VirtualClock(local(3))
    settings = Settings(database_url=db_url, _env_file=None)  # type: ignore[call-arg]
    core = await build_core(settings, clock=clock)
    for index, text in enumerate(texts):
        await core.apply_deal_text(text, f"deal{index}.yaml")
    return core


@pytest.fixture
async def core(db_url: str) -> AsyncIterator[Core]:
    made = await make_core(db_url, US_TEXT)
    yield made
    await made.aclose()


_counter = iter(range(1, 10**6))


async def send(
    core: Core, chat: str, user: str, text: str, *, at: dt.datetime | None = None, name: str = ""
) -> list[Outgoing]:
    """One command at ``at`` (the virtual clock moves there); every reply."""
    when = at or local(3)
    assert isinstance(core.clock, VirtualClock)
    core.clock.set(when)
    return await core.handle(
        Command(
            chat=chat, user=user, text=text, at=when, name=name, message_id=f"g{next(_counter)}"
        )
    )


async def say(core: Core, chat: str, user: str, text: str, **kw: object) -> str:
    """The text of the first reply."""
    return (await send(core, chat, user, text, **kw))[0].text  # type: ignore[arg-type]


# --- 1. the fee to date never above the cap ----------------------------------------------------


def _fee(
    plan: FeePlan,
    goals: tuple[Target, ...],
    figures: dict[str, Decimal | None],
    view: str,
    currency: str,
    fraction: Decimal,
) -> FeeStatement:
    return compute_fee(
        plan,
        targets=goals,
        values=figures,
        view=view,  # type: ignore[arg-type]
        currency=currency,
        base_fraction=fraction,
    )


@PROPS
@given(
    plan=plans(),
    goals=targets,
    figures=values,
    currency=st.sampled_from(CURRENCIES),
    fraction=fractions,
)
def test_the_fee_to_date_lies_between_zero_and_the_cap_the_projection_applies(
    plan: FeePlan,
    goals: tuple[Target, ...],
    figures: dict[str, Decimal | None],
    currency: str,
    fraction: Decimal,
) -> None:
    to_date = _fee(plan, goals, figures, "to_date", currency, fraction)
    assert to_date.total >= 0
    if plan.cap is not None:
        assert to_date.total <= quantize_money(plan.cap * fraction, currency)
    capped = to_date.line("cap")
    assert (capped is not None) == (
        to_date.total
        < sum((line.amount for line in to_date.lines if line.kind != "cap"), Decimal(0))
    )
    if plan.deduction is None:
        # Nothing the period's end may take away: the projection on the same figures (the
        # minimum on top, the same cap) is never below what is earned so far.
        projected = _fee(plan, goals, figures, "projected", currency, fraction)
        assert to_date.total <= projected.total


async def test_fee_to_date_says_the_cap_holds_it(core: Core) -> None:
    capped = US_TEXT.replace("cap: 20000", "cap: 5000")
    await core.apply_deal_text(capped, "capped.yaml")
    await say(core, SELLER_CHAT, SELLER, "/report gmv 150000 orders 300")
    text = await say(core, SELLER_CHAT, SELLER, "/fee")
    to_date = text.split("At this pace")[0]
    # November is the trial (base 1,500): 1,500 + 50,000 x 5% + 100,000 x 8% = 12,000 so far.
    assert (
        "capped at USD 5,000.00 by the contract (earned so far before the cap: "
        "USD 12,000.00): USD -7,000.00" in to_date
    )
    assert "Total to date: USD 5,000.00" in to_date
    deal = await core.ledger.current_deal(US)
    assert deal is not None
    snap = await snapshot(core.ledger, deal[0], dt.date(2026, 11, 3))
    recap = fee_lines(lambda key, **kw: t(key, "en", **kw), snap)
    assert recap[0].startswith("Fee to date: USD 5,000.00 (capped at USD 5,000.00 by the contract)")


async def test_fee_to_date_under_the_cap_has_no_cap_line(core: Core) -> None:
    await say(core, SELLER_CHAT, SELLER, "/report gmv 15000")
    text = await say(core, SELLER_CHAT, SELLER, "/fee")
    assert "by the contract" not in text
    assert "Total to date: USD 2,250.00" in text
