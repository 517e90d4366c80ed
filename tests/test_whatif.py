"""A tester's findings (branch whatif): what-ifs below what is already counted, corrections far
from the figure they replace, /link of a deal that does not exist, and Chinese separators.

Whole answers go through the core, in English and Chinese, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from bot.app import Core
from kpi.commands import parse_report
from kpi.errors import UserError
from kpi.numbers import parse_amount
from tests.test_guards import (
    AGENCY_ADMIN,
    CN_AGENCY,
    CN_AGENCY_CHAT,
    CN_SELLER,
    CN_SELLER_CHAT,
    CN_TEXT,
    SELLER,
    SELLER2,
    SELLER_CHAT,
    US,
    US_TEXT,
    cn_local,
    local,
    make_core,
    say,
)

D = Decimal
NEW_CHAT = "telegram:-1005555"
STRANGER = "telegram:5999"


@pytest.fixture
async def core(db_url: str) -> AsyncIterator[Core]:
    made = await make_core(db_url, US_TEXT)
    yield made
    await made.aclose()

# --- 1. a what-if states the period's total at its end -----------------------------------------


async def test_a_what_if_below_the_counted_total_is_refused(core: Core) -> None:
    for day in (1, 2):
        await say(core, SELLER_CHAT, SELLER, "/report gmv 12000", at=local(day))
    text = await say(core, SELLER_CHAT, SELLER, "/fee if gmv 10000", at=local(3))
    assert text == (
        "gmv 10,000 is below the 24,000 already counted in 2026-11: a what-if gives the "
        "period's total at its end, e.g. /fee if gmv 360000"
    )
    # The form it gives is taken; the counted total itself is a possible end.
    for form in ("/fee if gmv 360000", "/fee if gmv 24000"):
        answer = await say(core, SELLER_CHAT, SELLER, form, at=local(3))
        assert "if the period ended with gmv" in answer and "net_gmv -" not in answer


async def test_a_refused_what_if_of_several_metrics_suggests_them_all(core: Core) -> None:
    for day in (1, 2):
        await say(core, SELLER_CHAT, SELLER, "/report gmv 12000 refunds 500", at=local(day))
    text = await say(core, SELLER_CHAT, SELLER, "/fee if gmv 100000 refunds 600", at=local(3))
    assert text.endswith("e.g. /fee if gmv 100000 refunds 15000")  # gmv kept, refunds raised
    answer = await say(core, SELLER_CHAT, SELLER, "/fee if gmv 100000 refunds 15000", at=local(3))
    assert "if the period ended with gmv 100,000, refunds 15,000" in answer


async def test_a_what_if_says_once_that_the_metrics_it_does_not_set_are_projected(
    core: Core,
) -> None:
    await say(core, SELLER_CHAT, SELLER, "/report gmv 12000 orders 300", at=local(2))
    text = await say(core, SELLER_CHAT, SELLER, "/fee if gmv 400000", at=local(3))
    note = "Metrics not set here are at their projected period-end values."
    assert text.count(note) == 1
    assert text.index("figures: ") < text.index(note)
    # /fee itself has no such note: it is the what-if's.
    assert note not in await say(core, SELLER_CHAT, SELLER, "/fee", at=local(3))


async def test_a_chinese_what_if_below_the_counted_total_is_refused(db_url: str) -> None:
    made = await make_core(db_url, CN_TEXT)
    try:
        # truth: agreed: the figure counts once both sides give it.
        await say(made, CN_SELLER_CHAT, CN_SELLER, "/report 成交额 2.4万", at=cn_local(3))
        await say(made, CN_AGENCY_CHAT, CN_AGENCY, "/report 成交额 2.4万", at=cn_local(3))
        text = await say(made, CN_SELLER_CHAT, CN_SELLER, "/fee 假设 成交额 1万", at=cn_local(3))
        assert text.startswith(
            "成交额 10,000 低于 2026年第45周 已计入的 24,000。假设测算填写的是本期期末的总数，"
            "例如：/fee 假设 成交额 "
        )
        assert "保底" not in text and "合计" not in text
        example = text.rsplit(" ", 1)[1]
        assert D(example) >= 24000
        answer = await say(made, CN_SELLER_CHAT, CN_SELLER, f"/fee 假设 成交额 {example}")
        assert answer.count("未指定的指标按本期预计期末值计算。") == 1
    finally:
        await made.aclose()


# --- 2. a correction far from the figure it replaces -------------------------------------------


async def test_a_correction_ten_times_the_figure_it_replaces_is_warned(core: Core) -> None:
    await say(core, SELLER_CHAT, SELLER, "/report gmv 12000", at=local(2))
    text = await say(core, SELLER_CHAT, SELLER, "/report gmv 1.2M", at=local(2, 23))
    assert "gmv 1,200,000  (#2, corrects 12,000)" in text
    assert (
        "⚠ gmv 1,200,000 is more than 10× the 12,000 it replaces for 2026-11-02. It is stored; "
        "if it is a typo, put the old figure back: /report gmv 12000 2026-11-02"
    ) in text
    # The form it gives puts the figure back, and is not warned as far from the typo.
    text = await say(core, SELLER_CHAT, SELLER, "/report gmv 12000 2026-11-02", at=local(3))
    assert "corrects 1,200,000" in text and "⚠" not in text
    # A tenth, down: warned the other way; exactly ten times is not more than ten times.
    text = await say(core, SELLER_CHAT, SELLER, "/report gmv 1000 2026-11-02", at=local(3))
    assert "⚠ gmv 1,000 is less than a tenth of the 12,000 it replaces" in text
    text = await say(core, SELLER_CHAT, SELLER, "/report gmv 10000 2026-11-02", at=local(3))
    assert "⚠" not in text
    # A 0 is typed on purpose, and from 0 there is no scale.
    for figure in ("0", "12000"):
        text = await say(core, SELLER_CHAT, SELLER, f"/report gmv {figure} 2026-11-02")
        assert "⚠" not in text


async def test_a_far_correction_is_warned_once_when_the_history_rule_fires_too(
    core: Core,
) -> None:
    for day in range(1, 6):
        await say(core, SELLER_CHAT, SELLER, "/report gmv 12000", at=local(day))
    await say(core, SELLER_CHAT, SELLER, "/report gmv 12000", at=local(6))
    text = await say(core, SELLER_CHAT, SELLER, "/report gmv 1.2M", at=local(6, 23))
    assert text.count("⚠") == 1
    assert "⚠ gmv 1,200,000 is more than 10× its usual level (12,000" in text
    # Far from the figure it replaces but in line with the usual level: the one rule speaks.
    await say(core, SELLER_CHAT, SELLER, "/report gmv 5000", at=local(7))
    text = await say(core, SELLER_CHAT, SELLER, "/report gmv 60000", at=local(7, 23))
    assert "⚠ gmv 60,000 is more than 10× the 5,000 it replaces for 2026-11-07." in text


async def test_a_far_correction_in_chinese(db_url: str) -> None:
    made = await make_core(db_url, CN_TEXT)
    try:
        await say(made, CN_SELLER_CHAT, CN_SELLER, "/report 成交额 2万", at=cn_local(3))
        text = await say(made, CN_SELLER_CHAT, CN_SELLER, "/report 成交额 200", at=cn_local(3, 22))
        assert (
            "⚠ 成交额 200 不到被替换数值 20,000（2026-11-03）的十分之一。数据已保存。"
            "如有误，请恢复原数值：/report 成交额 20000 2026-11-03"
        ) in text
        text = await say(
            made, CN_SELLER_CHAT, CN_SELLER, "/report 成交额 200万", at=cn_local(3, 23)
        )
        assert "⚠ 成交额 2,000,000 超过被替换数值 200（2026-11-03）的 10 倍。" in text
    finally:
        await made.aclose()


# --- 3. /link of a deal that does not exist ----------------------------------------------------


async def test_link_of_no_such_deal_names_the_deals_the_person_may_link(db_url: str) -> None:
    made = await make_core(db_url, US_TEXT, CN_TEXT)
    try:
        text = await say(made, NEW_CHAT, SELLER, "/link #nonexistent seller")
        assert text == (
            "There is no deal #nonexistent among the deals you can link. You are an admin of: "
            "#acme-linkstar-us. Form: /link #deal-id seller|agency|shared"
        )
        # Someone no deal lists learns no deal's name, and the same for a deal that exists.
        nobody = (
            "There is no deal #{tag} among the deals you can link: you are an admin of no deal "
            "loaded here. A deal is loaded by whoever runs the bot, from its file listing you "
            "under admins: kpibot deal apply DEAL.yaml"
        )
        for tag in ("nonexistent", US):
            text = await say(made, NEW_CHAT, STRANGER, f"/link #{tag} seller")
            assert text == nobody.format(tag=tag)
        # A member who is not an admin is still told only an admin can link it.
        text = await say(made, NEW_CHAT, SELLER2, f"/link #{US} seller")
        assert text == f"Only an admin of #{US} can link a chat to it."
        assert "linked" in await say(made, NEW_CHAT, AGENCY_ADMIN, f"/link #{US} shared")
    finally:
        await made.aclose()


async def test_link_of_no_such_deal_in_chinese(db_url: str) -> None:
    made = await make_core(db_url, US_TEXT, CN_TEXT)
    try:
        text = await say(made, NEW_CHAT, CN_SELLER, "/link #nosuch seller", at=cn_local(3))
        assert text == (
            "您可绑定的项目中没有 #nosuch。您是以下项目的管理员：#shenzhen-wanxiang-cn。"
            "格式：/link #项目ID 卖家|服务商|共用"
        )
        assert US not in text
        # Someone no deal lists, writing Chinese: the same rule, no deal named.
        for tag in ("nosuch", "shenzhen-wanxiang-cn"):
            text = await say(made, NEW_CHAT, "telegram:710299999", f"/link #{tag} 卖家")
            assert text == (
                f"您可绑定的项目中没有 #{tag}：您不是已加载的任何项目的管理员。"
                "项目由运行机器人的人员从项目文件加载（文件的 admins 中需列有您）："
                "kpibot deal apply 项目文件.yaml"
            )
    finally:
        await made.aclose()


# --- 4. Chinese separators and 1万2 --------------------------------------------------------------

REPORTABLE = ("gmv", "orders", "ad_spend", "refunds", "viewers")
WORDS = {"成交额": "gmv", "订单": "orders"}


def report(args: str) -> tuple[dt.date, dict[str, Decimal]]:
    parsed = parse_report(
        args,
        reportable=REPORTABLE,
        derived={},
        today=dt.date(2026, 11, 20),
        starts=dt.date(2026, 11, 1),
        words=WORDS,
    )
    return parsed.day, dict(parsed.values)


@pytest.mark.parametrize(
    ("args", "day", "values"),
    [
        ("成交额 12000，2026-11-12", "2026-11-12", {"gmv": "12000"}),
        ("成交额 12000、2026-11-12", "2026-11-12", {"gmv": "12000"}),
        ("成交额 12000，11-12", "2026-11-12", {"gmv": "12000"}),
        ("成交额 12000，11月12日", "2026-11-12", {"gmv": "12000"}),
        ("gmv 12000,2026-11-12", "2026-11-12", {"gmv": "12000"}),
        ("成交额 1万、订单 340、2026-11-12", "2026-11-12", {"gmv": "10000", "orders": "340"}),
        # A comma that can group thousands still does.
        ("成交额 12，000", "2026-11-20", {"gmv": "12000"}),
        ("成交额 12,000，订单 340", "2026-11-20", {"gmv": "12000", "orders": "340"}),
        ("成交额 1万2，2026-11-12", "2026-11-12", {"gmv": "12000"}),
        ("成交额1万2500", "2026-11-20", {"gmv": "12500"}),
    ],
)
def test_chinese_commas_separate_items(args: str, day: str, values: dict[str, str]) -> None:
    assert report(args) == (dt.date.fromisoformat(day), {k: D(v) for k, v in values.items()})


@pytest.mark.parametrize(
    ("text", "value"),
    [("1万2", "12000"), ("12万3", "123000"), ("1万2500", "12500"), ("1万0500", "10500"),
     ("1w2", "12000"), ("１万２", "12000"), ("¥1万2", "12000")],
)
def test_a_digit_after_wan_is_thousands_and_four_digits_the_rest(text: str, value: str) -> None:
    assert parse_amount(text) == D(value)


@pytest.mark.parametrize("text", ["1万25", "1万250", "1万0", "1.2万3", "1万2k", "1万2万"])
def test_an_ambiguous_rest_after_wan_is_refused(text: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_amount(text)
    assert caught.value.code == "number.not_a_number"


async def test_a_chinese_report_with_a_full_width_comma_before_its_day(db_url: str) -> None:
    made = await make_core(db_url, CN_TEXT)
    try:
        text = await say(
            made, CN_SELLER_CHAT, CN_SELLER, "/report 成交额 1万2，2026-11-02", at=cn_local(3)
        )
        assert "已保存 2026-11-02 数据" in text and "成交额 12,000" in text
    finally:
        await made.aclose()
