"""The whole bot without a platform: commands in, replies out, ledger checked (SQLite and PG)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.app import Core, build_core
from bot.core import Command, Outgoing, VirtualClock
from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEAL_TEXT = (ROOT / "bot" / "demo" / "acme-linkstar-us.yaml").read_text(encoding="utf-8")
LA = ZoneInfo("America/Los_Angeles")

SELLER_CHAT, SELLER = "telegram:-1001234", "telegram:5001"
AGENCY_CHAT, AGENCY = "slack:C0AGENCY", "slack:U0AGENCY1"
SHARED_CHAT, AGENCY_TG = "telegram:-1009999", "telegram:7001"


def local(day: int, hour: int = 22, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=LA)


@pytest.fixture
async def core(db_url: str) -> AsyncIterator[Core]:
    clock = VirtualClock(local(3))
    settings = Settings(database_url=db_url, _env_file=None)  # type: ignore[call-arg]
    core = await build_core(settings, clock=clock)
    await core.apply_deal_text(DEAL_TEXT, "acme.yaml")
    yield core
    await core.aclose()


async def say(
    core: Core,
    chat: str,
    user: str,
    text: str,
    *,
    at: dt.datetime | None = None,
    msg_id: str | None = None,
    name: str = "",
) -> list[Outgoing]:
    when = at or local(3)
    assert isinstance(core.clock, VirtualClock)
    core.clock.set(when)
    return await core.handle(
        Command(chat=chat, user=user, text=text, at=when, name=name, message_id=msg_id)
    )


async def entries(core: Core, day: int = 3) -> dict[tuple[str, str], Decimal]:
    d = dt.date(2026, 11, day)
    return {
        (e.metric, e.side): e.value
        for e in await core.ledger.current_entries("acme-linkstar-us", d, d)
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/report gmv 12000", {"gmv": Decimal("12000")}),
        ("/report gmv 12,000.50", {"gmv": Decimal("12000.50")}),
        ("/report gmv 12k", {"gmv": Decimal("12000")}),
        ("/report gmv 1.2w", {"gmv": Decimal("12000")}),
        ("/report gmv 1.2万", {"gmv": Decimal("12000")}),
        ("/report gmv $12,000", {"gmv": Decimal("12000")}),
        (
            "/report GMV 12000 orders 340 spend 2100",
            {"gmv": Decimal("12000"), "orders": Decimal("340"), "ad_spend": Decimal("2100")},
        ),
        (
            "/report 成交额 1.2万 订单 340 投流 2100 退款 300",
            {
                "gmv": Decimal("12000"),
                "orders": Decimal("340"),
                "ad_spend": Decimal("2100"),
                "refunds": Decimal("300"),
            },
        ),
        ("/report@kpibot gmv 12000", {"gmv": Decimal("12000")}),
    ],
)
async def test_report_forms_store_exact_decimals(
    core: Core, text: str, expected: dict[str, Decimal]
) -> None:
    replies = await say(core, SELLER_CHAT, SELLER, text, msg_id="m1")
    assert replies[0].kind == "reply"
    assert "Saved for 2026-11-03" in replies[0].text
    assert await entries(core) == {(m, "seller"): v for m, v in expected.items()}


async def test_report_for_yesterday_and_a_given_date(core: Core) -> None:
    await say(core, SELLER_CHAT, SELLER, "/report gmv 100 yesterday", msg_id="a")
    await say(core, SELLER_CHAT, SELLER, "/report gmv 200 2026-11-01", msg_id="b")
    assert await entries(core, 2) == {("gmv", "seller"): Decimal("100")}
    assert await entries(core, 1) == {("gmv", "seller"): Decimal("200")}


async def test_business_day_is_the_deals_time_zone(core: Core) -> None:
    # 23:30 in Los Angeles is already the next day in UTC; the figure is for the local day.
    await say(core, SELLER_CHAT, SELLER, "/report gmv 5", at=local(3, 23, 30), msg_id="tz")
    assert await entries(core, 3) == {("gmv", "seller"): Decimal("5")}


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("/report gmv -5", "/report"),
        ("/report gmv abc", "12000"),
        ("/report gvm 2000", "Known:"),
        ("/report gmv 2000 2026-12-25", "future"),
        ("/report gmv 2000 2026-10-01", "2026-11-01"),
        ("/report gmv NaN", "12000"),
        ("/report gmv inf", "12000"),
        ("/report gmv 1e30", "12000"),
        ("/report gmv 99999999999999", "12000"),
        ("/report roi 3", "gmv / ad_spend"),
        ("/report gmv 100 orders abc", "12000"),
        ("/report gmv 100 gmv 200", "gmv"),
        ("/report", "/report gmv"),
    ],
)
async def test_bad_input_is_explained_and_stores_nothing(
    core: Core, text: str, needle: str
) -> None:
    replies = await say(core, SELLER_CHAT, SELLER, text, msg_id="bad")
    assert len(replies) == 1
    assert replies[0].kind == "error"
    assert needle in replies[0].text
    assert await core.ledger.history("acme-linkstar-us") == []


async def test_redelivered_message_is_stored_once(core: Core) -> None:
    first = await say(core, SELLER_CHAT, SELLER, "/report gmv 12000 orders 340", msg_id="m-17")
    again = await say(core, SELLER_CHAT, SELLER, "/report gmv 12000 orders 340", msg_id="m-17")
    assert "Saved" in first[0].text
    assert "Already recorded" in again[0].text
    assert len(await core.ledger.history("acme-linkstar-us")) == 2


async def test_resending_the_same_figure_is_not_a_correction(core: Core) -> None:
    await say(core, SELLER_CHAT, SELLER, "/report gmv 12000", msg_id="x1")
    replies = await say(core, SELLER_CHAT, SELLER, "/report gmv 12000", msg_id="x2")
    assert "Already recorded" in replies[0].text
    assert len(await core.ledger.history("acme-linkstar-us")) == 1


async def test_correction_supersedes_and_keeps_history(core: Core) -> None:
    await say(core, SELLER_CHAT, SELLER, "/report gmv 1800", msg_id="c1")
    replies = await say(core, SELLER_CHAT, SELLER, "/report gmv 1950", msg_id="c2")
    assert "corrects 1,800" in replies[0].text
    assert await entries(core) == {("gmv", "seller"): Decimal("1950")}
    history = await say(core, SELLER_CHAT, SELLER, "/history gmv", msg_id="h")
    text = history[0].text
    assert "1,950" in text and "1,800" in text and "superseded" in text


async def test_disagreement_is_flagged_and_truth_side_counts(core: Core) -> None:
    await say(core, SELLER_CHAT, SELLER, "/report gmv 1800", msg_id="s")
    replies = await say(core, AGENCY_CHAT, AGENCY, "/report gmv 2000", msg_id="a")
    assert "differ by more than 2.0%" in replies[0].text
    kpi = (await say(core, AGENCY_CHAT, AGENCY, "/kpi", msg_id="k"))[0].text
    assert "seller 1,800 vs agency 2,000 → counted 1,800" in kpi
    assert "gmv 1,800 (target ≥ 50,000)" in kpi
    # Within tolerance is not a disagreement.
    await say(core, AGENCY_CHAT, AGENCY, "/report orders 100", msg_id="a2")
    replies = await say(core, SELLER_CHAT, SELLER, "/report orders 101", msg_id="s2")
    assert "differ" not in replies[0].text


async def test_only_the_other_side_reported_counts_provisionally(core: Core) -> None:
    replies = await say(core, AGENCY_CHAT, AGENCY, "/report gmv 2000", msg_id="a")
    assert "counts provisionally" in replies[0].text
    kpi = (await say(core, SELLER_CHAT, SELLER, "/kpi", msg_id="k"))[0].text
    assert "Provisional" in kpi and "2026-11-03 gmv" in kpi
    assert "gmv 2,000 (target" in kpi


async def test_shared_chat_side_comes_from_members(core: Core) -> None:
    await say(core, SHARED_CHAT, AGENCY_TG, "/report gmv 700", msg_id="sh1")
    assert await entries(core) == {("gmv", "agency"): Decimal("700")}
    replies = await say(core, SHARED_CHAT, "telegram:9999", "/report gmv 100", msg_id="sh2")
    assert replies[0].kind == "error" and "admin" in replies[0].text
    assert await entries(core) == {("gmv", "agency"): Decimal("700")}


async def test_unlinked_chat_learns_nothing(core: Core) -> None:
    await say(core, SELLER_CHAT, SELLER, "/report gmv 1800", msg_id="s")
    for text in ("/kpi", "/fee", "/history", "/report gmv 5", "/kpi #acme-linkstar-us", "/whoami"):
        replies = await say(core, "telegram:-777", SELLER, text, msg_id=text)
        joined = " ".join(r.text for r in replies)
        assert "acme" not in joined.lower() and "ACME" not in joined
        assert "1,800" not in joined
    assert len(await core.ledger.history("acme-linkstar-us")) == 1


async def test_a_chat_linked_to_two_deals_names_the_deal(core: Core) -> None:
    second = DEAL_TEXT.replace("id: acme-linkstar-us", "id: acme-linkstar-uk").replace(
        "  - {id: slack:C0AGENCY, side: agency}\n", ""
    )
    await core.apply_deal_text(second, "uk.yaml")
    replies = await say(core, SELLER_CHAT, SELLER, "/report gmv 10", msg_id="q")
    assert "#acme-linkstar-uk" in replies[0].text and "#acme-linkstar-us" in replies[0].text
    assert await core.ledger.history("acme-linkstar-us") == []
    await say(core, SELLER_CHAT, SELLER, "/report #acme-linkstar-uk gmv 10", msg_id="q2")
    assert len(await core.ledger.history("acme-linkstar-uk")) == 1
    assert await core.ledger.history("acme-linkstar-us") == []


async def test_agreed_truth_needs_confirmation(core: Core) -> None:
    agreed = (
        DEAL_TEXT.replace("truth: seller", "truth: agreed")
        .replace("id: acme-linkstar-us", "id: acme-agreed")
        .replace("telegram:-1001234", "telegram:-2001")
        .replace("slack:C0AGENCY", "slack:C2")
        .replace("telegram:-1009999", "telegram:-2009")
    )
    await core.apply_deal_text(agreed, "agreed.yaml")
    replies = await say(core, "slack:C2", AGENCY, "/report gmv 2000", msg_id="g1")
    assert "confirms" in replies[0].text
    kpi = (await say(core, "telegram:-2001", SELLER, "/kpi", msg_id="g2"))[0].text
    assert "Pending confirmation" in kpi and "gmv — (target" in kpi  # pending is not 0
    confirm = (await say(core, "telegram:-2001", SELLER, "/confirm gmv", msg_id="g3"))[0].text
    assert "Confirmed the agency side's gmv 2,000 for 2026-11-03" in confirm
    kpi = (await say(core, "telegram:-2001", SELLER, "/kpi", msg_id="g4"))[0].text
    assert "gmv 2,000 (target" in kpi and "Pending" not in kpi


async def test_dispute_needs_a_reason_and_is_shown(core: Core) -> None:
    await say(core, SELLER_CHAT, SELLER, "/report gmv 1800", msg_id="s")
    refused = await say(core, AGENCY_CHAT, AGENCY, "/dispute gmv", msg_id="d0")
    assert refused[0].kind == "error" and "/dispute gmv" in refused[0].text
    await say(
        core, AGENCY_CHAT, AGENCY, "/dispute gmv 2026-11-03 refunds were not deducted", msg_id="d1"
    )
    kpi = (await say(core, SELLER_CHAT, SELLER, "/kpi", msg_id="k"))[0].text
    assert "refunds were not deducted" in kpi


async def test_admin_commands_are_for_admins(core: Core) -> None:
    refused = await say(
        core, "telegram:-555", AGENCY_TG, "/link #acme-linkstar-us seller", msg_id="l1"
    )
    assert refused[0].kind == "error"
    assert await core.ledger.deals_for_chat("telegram:-555") == []
    assert refused[0].text == "Only an admin of #acme-linkstar-us can link a chat to it."
    # No such deal: said, with the deals this person may link (tests/test_whatif.py has the
    # rule for people no deal lists, who learn no deal's name).
    nosuch = await say(core, "telegram:-555", SELLER, "/link #no-such-deal seller", msg_id="l2")
    assert nosuch[0].kind == "error"
    assert nosuch[0].text.startswith("There is no deal #no-such-deal among the deals you can")
    assert "You are an admin of: #acme-linkstar-us." in nosuch[0].text
    done = await say(core, "telegram:-555", SELLER, "/link #acme-linkstar-us seller", msg_id="l3")
    assert "linked to #acme-linkstar-us" in done[0].text
    assert await core.ledger.deals_for_chat("telegram:-555") == [("acme-linkstar-us", "seller")]
    unlink = await say(core, AGENCY_CHAT, AGENCY, "/unlink", msg_id="l4")
    assert unlink[0].kind == "error" and "admin" in unlink[0].text


async def test_storage_failure_says_not_saved() -> None:
    settings = Settings(database_url="postgresql://postgres@127.0.0.1:9/nowhere", _env_file=None)  # type: ignore[call-arg]
    core = await build_core(settings, clock=VirtualClock(local(3)), migrate=False)
    try:
        replies = await core.handle(
            Command(
                chat=SELLER_CHAT, user=SELLER, text="/report gmv 5", at=local(3), message_id="z"
            )
        )
    finally:
        await core.aclose()
    assert replies[0].kind == "error"
    assert "Not saved" in replies[0].text


async def test_help_and_whoami_follow_the_deal_locale(core: Core) -> None:
    zh = DEAL_TEXT.replace("locale: en", "locale: zh").replace(
        "id: acme-linkstar-us", "id: acme-zh"
    )
    zh = zh.replace("telegram:-1001234", "telegram:-3001").replace("slack:C0AGENCY", "slack:C3")
    zh = zh.replace("telegram:-1009999", "telegram:-3009")
    await core.apply_deal_text(zh, "zh.yaml")
    help_zh = (await say(core, "telegram:-3001", SELLER, "/help", msg_id="h1"))[0].text
    assert "上报当日数据" in help_zh
    help_en = (await say(core, SELLER_CHAT, SELLER, "/help", msg_id="h2"))[0].text
    assert "report the day's figures" in help_en
    who = (await say(core, "telegram:-3001", SELLER, "/whoami", msg_id="h3"))[0].text
    assert "卖家" in who and "管理员" in who
    saved = (await say(core, "telegram:-3001", SELLER, "/report gmv 1.2万", msg_id="h4"))[0].text
    assert "已保存" in saved


async def test_earlier_period_keeps_its_terms(core: Core) -> None:
    # November (trial, base 1,500) is reported; in December the base changes to 4,000.
    for day in range(1, 11):
        await say(
            core,
            SELLER_CHAT,
            SELLER,
            f"/report gmv 2000 refunds 100 ad_spend 500 2026-11-{day:02d}",
            at=local(10, 23),
            msg_id=f"n{day}",
        )
    fee_nov = (await say(core, SELLER_CHAT, SELLER, "/fee", at=local(10, 23), msg_id="f1"))[0].text
    assert "USD 2,450.00" in fee_nov and "USD 5,560.00" in fee_nov
    changed = DEAL_TEXT.replace("  base: 3000\n", "  base: 4000\n")
    dec = dt.datetime(2026, 12, 5, 12, tzinfo=LA)
    assert isinstance(core.clock, VirtualClock)
    core.clock.set(dec)
    await core.apply_deal_text(changed, "v2.yaml")
    versions = await core.ledger.deal_versions("acme-linkstar-us")
    assert [v[1] for v in versions] == [dt.date(2026, 11, 1), dt.date(2026, 12, 1)]
    past = (await say(core, SELLER_CHAT, SELLER, "/fee 2026-11", at=dec, msg_id="f2"))[0].text
    assert "base fee (trial): USD 1,500.00" in past
    now = (await say(core, SELLER_CHAT, SELLER, "/fee", at=dec, msg_id="f3"))[0].text
    assert "base fee: USD 4,000.00" in now


async def test_an_unexpected_failure_still_gets_an_answer(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.core.context import Route

    async def broken(ctx: object) -> list[Outgoing]:
        raise RuntimeError("a bug")

    monkeypatch.setitem(core.router.routes, "kpi", Route(broken))
    replies = await say(core, SELLER_CHAT, SELLER, "/kpi", msg_id="bug")
    assert replies[0].kind == "error"
    assert "Something went wrong" in replies[0].text


async def test_reports_after_the_deal_ends_are_refused_and_change_nothing(core: Core) -> None:
    ending = DEAL_TEXT.replace("starts: 2026-11-01", "starts: 2026-11-01\nends: 2026-11-02")
    await core.apply_deal_text(ending, "acme.yaml")
    refused = await say(core, SELLER_CHAT, SELLER, "/report gmv 2000", msg_id="end1")
    assert "ended on 2026-11-02" in refused[0].text
    assert "2026-11-03" in refused[0].text
    assert await entries(core) == {}
    # A day up to the end is still taken.
    saved = await say(core, SELLER_CHAT, SELLER, "/report gmv 2000 2026-11-02", msg_id="end2")
    assert "2026-11-02" in saved[0].text and "ended" not in saved[0].text
    assert await entries(core, 2) == {("gmv", "seller"): Decimal("2000")}


async def test_a_period_after_the_deal_ended_has_no_statement(core: Core) -> None:
    ending = DEAL_TEXT.replace("starts: 2026-11-01", "starts: 2026-11-01\nends: 2026-11-20")
    await core.apply_deal_text(ending, "acme.yaml")
    later = local(3).replace(month=12, day=15)
    replies = await say(core, SELLER_CHAT, SELLER, "/fee 2026-12", at=later, msg_id="after1")
    assert "2026-12 comes after the deal ended on 2026-11-20" in replies[0].text
    # The last period is November, clipped to Nov 1-20 (20 of 30 days): the trial's base
    # 1,500 x 20/30 = 1,000.00.
    replies = await say(core, SELLER_CHAT, SELLER, "/fee 2026-11", at=later, msg_id="after2")
    assert "USD 1,500.00 prorated 20/30 days): USD 1,000.00" in replies[0].text
