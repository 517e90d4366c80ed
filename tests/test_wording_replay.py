"""What people read, played through ``kpibot replay``'s runner in Chinese and English.

The Chinese demo deal (深圳万象 × 联星, weekly, CNY) and the same deal in English: metric
labels, periods and money as each language writes them (items 1-3, 6), escalation notices
numbered without gaps and merged per person and moment (items 7-10), and errors that name the
next step (item 14).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from tests.test_scheduler_support import by_time, register_escalation_routes, replay, tick
from tests.test_zh_text import chinese_problems

DEAL = (Path(__file__).resolve().parents[1] / "bot/demo/shenzhen-wanxiang-cn.yaml").read_text()
SHARED, AGENCY_CHAT = "telegram:-1003344556677", "telegram:-1003344556688"
BOSS, ACCOUNTANT = "telegram:710200301", "telegram:710200302"
LIN, ZHOU = "telegram:583920114", "telegram:583920276"
CST = "+08:00"


def say(at: str, chat: str, user: str, text: str, *, name: str, message_id: str) -> dict[str, Any]:
    """A message line from a named person in a chat of the Chinese deal."""
    return {"at": at, "chat": chat, "user": user, "name": name, "text": text, "id": message_id}


def deal_text(locale: str) -> str:
    """The demo deal in ``locale``; viewers carry the deal's own label."""
    text = DEAL.replace("locale: zh", f"locale: {locale}")
    plain = "  viewers: {description: 当日直播间观看人数（去重）, kind: count}\n"
    assert plain in text, "the demo deal's viewers line changed; update this test"
    return text.replace(
        plain,
        "  viewers:\n    description: 当日直播间观看人数（去重）\n    kind: count\n"
        "    label: {zh: 场观人数, en: unique viewers}\n",
    )


def week(
    gmv_by_day: dict[int, tuple[int, int]], spend_by_day: dict[int, int] | None = None
) -> list[dict[str, Any]]:
    """Both sides report each day of week 45 at 20:30/20:40 (seller, agency figures); both
    report the day's ad_spend (5,000 unless ``spend_by_day`` says otherwise)."""
    lines = []
    for day, (seller, agency) in gmv_by_day.items():
        spend = (spend_by_day or {}).get(day, 5000)
        lines.append(
            say(
                f"2026-11-{day:02d}T20:30:00{CST}",
                SHARED,
                BOSS,
                f"/report 成交额 {seller} 订单数 300 广告消耗 {spend} 退款 600 场观人数 9000",
                name="王总",
                message_id=f"s{day}",
            )
        )
        lines.append(
            say(
                f"2026-11-{day:02d}T20:40:00{CST}",
                AGENCY_CHAT,
                LIN,
                f"/report gmv {agency} orders 300 spend {spend} refunds 600 viewers 9000",
                name="林晓",
                message_id=f"a{day}",
            )
        )
        lines.append(tick(f"2026-11-{day:02d}T23:59:00{CST}"))
    return lines


def texts(sent: list[dict[str, Any]], at: str, to: str | None = None) -> list[str]:
    return [m["text"] for m in sent if m["at"].startswith(at) and (to is None or m["to"] == to)]


async def play(
    locale: str, extra: list[dict[str, Any]], *, spend: dict[int, int] | None = None
) -> list[dict[str, Any]]:
    steady = {d: (14000, 14000) for d in range(2, 9)}
    steady[4] = (14000, 16000)  # a disagreement on Wednesday
    lines = [*week(steady, spend), *extra, tick(f"2026-11-09T10:30:00{CST}")]
    return await replay(deal_text(locale), by_time(lines))


ASKS = [
    ("2026-11-03T20:50:00", "/kpi"),
    ("2026-11-03T20:51:00", "/fee"),
    ("2026-11-03T20:52:00", "/report 成交额 1.4万 昨天"),
]


@pytest.mark.parametrize("locale", ["zh", "en"])
async def test_labels_periods_and_money_read_as_each_language_writes_them(locale: str) -> None:
    extra = [
        say(f"{at}{CST}", SHARED, BOSS, text, name="王总", message_id=f"q{i}")
        for i, (at, text) in enumerate(ASKS)
    ]
    sent = await play(locale, extra)
    kpi, fee, report = (texts(sent, at, SHARED)[0] for at, _ in ASKS)
    recap = texts(sent, "2026-11-09T10:00", SHARED)[0]
    if locale == "zh":
        assert "— 2026年第45周（11-02 至 11-08），第 2/7 天" in kpi
        assert "• 成交额 28,000（目标 ≥ 150,000）· 预计达成 65%" in kpi
        assert "ROI：成交额 ÷ 广告消耗" in kpi
        assert "场观人数 18,000" in kpi  # the deal's own label
        assert "• 基础服务费：¥5,000.00" in fee and "截至目前合计：¥5,840.00" in fee
        assert "达成奖励（暂未达标：成交额、ROI）：¥0.00" in fee
        assert "2026-11-02 已记录：成交额 14,000" in report  # the label is accepted as input
        assert "上周合计：成交额 84,000 · 退款金额 4,200 · 广告消耗 35,000" in recap
        # The week's counted figures (Wednesday's disagreement not counted): base 5,000 +
        # gmv 84,000 × 3% = 2,520 + performance 3,000 × score 76.3% (gmv 84,000 / 150,000 =
        # 56% × 60% = 33.6%; roi over the 6 days both gmv and ad spend count, 84,000 /
        # 30,000 = 2.8 / 3 = 93.3% × 20% = 18.7%; refund rate 3,600 / 84,000 = 4.3% against
        # 8%, counted as 120% × 20% = 24%) = 2,288 → 9,808.00. The closed week's statement
        # then refunds 16% of base (84,000 is 16% short of the 100,000 guarantee) = 800 →
        # 9,008.00: the week is over, so only that fee is shown, provisional until both sides
        # close the statement.
        assert "本期服务费（暂定，以锁定的结算单为准）：¥9,008.00 · KPI 加权得分 76.3%" in recap
        assert "ROI 按 7 天中 6 天计算（成交额与广告消耗都已计入的日子）" in recap
        assert "¥9,808.00" not in recap and "截至目前" not in recap
        # Every message of the week: no keys, no ASCII punctuation between Chinese.
        for message in sent:
            assert chinese_problems(message["text"]) == [], message["text"]
    else:
        assert "— week 45 (Nov 2–8), day 2 of 7" in kpi
        assert "• gmv 28,000 (target ≥ 150,000) · pace 65%" in kpi
        assert "unique viewers 18,000" in kpi
        assert "base fee: CNY 5,000.00" in fee
        assert "Already recorded for 2026-11-02: gmv 14,000" in report
        assert "Week totals: gmv 84,000 · refunds 4,200 · ad_spend 35,000" in recap


@pytest.mark.parametrize("locale", ["zh", "en"])
async def test_escalation_notices_are_numbered_without_gaps_across_quiet_hours(
    locale: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gmv at 65% of pace on Tuesday 11:00 escalates (below 70%). Level 1 gets 11:00 and
    17:00; the 23:00 notice waits for the quiet hours' end (09:00) as 3/4; 4/4 follows at
    15:00, repeat (6h) after it. The first notice says what triggers an escalation."""
    register_escalation_routes(monkeypatch)
    sent = await play(locale, [])
    notices = [m for m in sent if m["to"] == f"dm:{BOSS}" and m["at"] < "2026-11-05"]
    times = [m["at"][5:16] for m in notices]
    assert times == ["11-03T11:00", "11-03T17:00", "11-04T09:00", "11-04T15:00"]
    rounds = (
        ["第 1/4 次", "第 2/4 次", "第 3/4 次", "第 4/4 次"]
        if locale == "zh"
        else ["notice 1 of 4", "notice 2 of 4", "notice 3 of 4", "notice 4 of 4"]
    )
    assert all(r in m["text"] for r, m in zip(rounds, notices, strict=True))
    first = notices[0]["text"]
    if locale == "zh":
        assert "升级规则：目标预计达成率低于 70%" in first and "超过 48 小时" in first
    else:
        assert "at two checks in a row" in first and "more than 48 hours" in first
    assert "48" not in notices[1]["text"]


@pytest.mark.parametrize("locale", ["zh", "en"])
async def test_escalations_due_to_one_person_at_one_moment_go_as_one_message_and_ack_lists_them(
    locale: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Saturday 11:00: roi warned twice in a row and Wednesday's disagreement open for two
    days both escalate; each contact gets one message listing both, with one /ack hint.

    Pace counts the days up to yesterday, and roi is taken over the days both gmv and
    ad_spend count: Wednesday's pending gmv leaves Wednesday out. With 3,000 a day spent
    Monday to Wednesday roi stays on pace on Thursday (28,000 / 6,000 = 4.67); 12,000 on
    Thursday puts it behind on Friday (42,000 / 18,000 = 2.33, 78%) and 5,000 on Friday
    keeps it behind on Saturday (56,000 / 23,000 = 2.43, 81%): a warning at two checks in a
    row, at the very check where the disagreement turns 48 hours old."""
    register_escalation_routes(monkeypatch)
    ack = say(
        f"2026-11-07T12:00:00{CST}", SHARED, BOSS, "/ack 已跟进", name="王总", message_id="ack"
    )
    listing = say(
        f"2026-11-07T12:01:00{CST}", SHARED, BOSS, "/escalations", name="王总", message_id="ls"
    )
    spend = {2: 3000, 3: 3000, 4: 3000, 5: 12000, 6: 5000, 7: 8000, 8: 8000}
    sent = await play(locale, [ack, listing], spend=spend)
    at_once = [
        m for m in sent if m["at"].startswith("2026-11-07T11:00") and m["to"] == f"dm:{BOSS}"
    ]
    assert len(at_once) == 1
    text = at_once[0]["text"]
    assert len([line for line in text.splitlines() if "/ack" in line]) == 1
    assert "1. " in text and "2. " in text
    acked = texts(sent, "2026-11-07T12:00", SHARED)[0]
    lines = acked.splitlines()
    assert len([line for line in lines if line.startswith("• #")]) >= 2
    assert ("已停止" in acked) if locale == "zh" else ("stopped" in acked)
    # /escalations gives the note as each language writes a remark: no dash in Chinese.
    listed = texts(sent, "2026-11-07T12:01", SHARED)[0]
    note = "（说明：已跟进）" if locale == "zh" else " — “已跟进”"
    assert listed.count(note) >= 2, listed
    # Nothing more reaches the boss about these after the /ack.
    assert not [
        m for m in sent if m["to"] == f"dm:{BOSS}" and "2026-11-07T12" < m["at"] < "2026-11-08"
    ]


ERRORS = [
    ("/report gmv 100 tomorrow", ("是未来的日期", "in the future")),
    ("/report gmv 12 000", ("12000", "12000")),
    ("/history foo", ("“foo”不是本项目的指标", "“foo” is not a metric")),
    ("/report " + "利润" * 40 + " 3万", ("…", "…")),
    ("/" + "x" * 60, ("“/" + "x" * 39 + "…”", "“/" + "x" * 39 + "…”")),
]


@pytest.mark.parametrize("locale", ["zh", "en"])
async def test_errors_name_the_next_step(locale: str) -> None:
    lines = [
        say(f"2026-11-03T21:{10 + i}:00{CST}", SHARED, BOSS, text, name="王总", message_id=f"e{i}")
        for i, (text, _) in enumerate(ERRORS)
    ]
    sent = await play(locale, lines)
    for i, (_, expected) in enumerate(ERRORS):
        reply = texts(sent, f"2026-11-03T21:{10 + i}", SHARED)[0]
        assert expected[0 if locale == "zh" else 1] in reply, reply
    # An unknown word is quoted at most 40 characters long.
    long_reply = texts(sent, "2026-11-03T21:13", SHARED)[0]
    assert "利润" * 20 not in long_reply
    assert dt.date(2026, 11, 4).isoformat() in texts(sent, "2026-11-03T21:10", SHARED)[0]


COMMAND_SET = [
    ("/foo", ("未知命令“/foo”", "Unknown command “/foo”")),
    ("/kpibot kpi", ("第 2/7 天", "day 2 of 7")),
    ("/进度", ("第 2/7 天", "day 2 of 7")),
    ("@kpibot 明细 成交额", ("历史记录", "History")),
    ("/help", ("@kpibot 上报 成交额 1.2万", "kpibot commands")),
    ("/kpi 2026年第45周", ("— 2026年第45周（11-02 至 11-08），第 2/7 天", "— week 45 (Nov 2–8)")),
    ("/report 成交额 1.4万 广告消耗 5000 11月3日", ("成交额 14,000", "gmv 14,000")),
]


@pytest.mark.parametrize("locale", ["zh", "en"])
async def test_one_command_set_in_the_chats_language(locale: str) -> None:
    """The umbrella /kpibot COMMAND and the Chinese command words work in any chat; an
    unknown command is answered in the deal's language; zh /help names the Chinese words."""
    lines = [
        say(f"2026-11-03T21:{10 + i}:00{CST}", SHARED, BOSS, text, name="王总", message_id=f"c{i}")
        for i, (text, _) in enumerate(COMMAND_SET)
    ]
    sent = await play(locale, lines)
    for i, (_, expected) in enumerate(COMMAND_SET):
        reply = texts(sent, f"2026-11-03T21:{10 + i}", SHARED)[0]
        assert expected[0 if locale == "zh" else 1] in reply, reply
    help_text = texts(sent, "2026-11-03T21:14", SHARED)[0]
    assert ("中文命令词" in help_text) == (locale == "zh")


async def test_whoami_names_the_person_from_the_deals_contacts_when_the_platform_gives_none() -> (
    None
):
    line = {
        "at": f"2026-11-03T21:00:00{CST}",
        "chat": SHARED,
        "user": BOSS,
        "text": "/whoami",
        "id": "w",
    }
    sent = await play("zh", [line])
    reply = texts(sent, "2026-11-03T21:00", SHARED)[0]
    assert reply.startswith("您是 王总（ID：telegram:710200301）。")
    assert "角色：管理员、第 1 级升级对接人" in reply


NEW_GROUP = "telegram:-1003344550000"  # a group the bot was just added to: no deal linked
NEW_GROUP_ASKS = [
    ("/whoami", ("您是 王总（ID：telegram:710200301）。", "You are 王总 (telegram:710200301).")),
    ("/kpi", ("本群尚未绑定项目。", "This chat is not linked to a deal.")),
    ("/foo", ("未知命令“/foo”", "Unknown command “/foo”")),
    ("/link", ("格式：/link #项目ID", "Form: /link #deal-id")),
    ("/help", ("也可用中文命令词", "kpibot commands")),
]


@pytest.mark.parametrize("locale", ["zh", "en"])
async def test_a_chat_with_no_deal_yet_is_answered_in_the_language_of_the_persons_deals(
    locale: str,
) -> None:
    """The boss adds the bot to a new group and asks before linking it: the answers come in
    the language of the boss's deal; a stranger (in no deal) keeps the English default."""
    lines = [
        say(f"2026-11-03T21:{10 + i}:00{CST}", NEW_GROUP, BOSS, ask, name="王总", message_id=str(i))
        for i, (ask, _) in enumerate(NEW_GROUP_ASKS)
    ]
    at = f"2026-11-03T21:30:00{CST}"
    stranger = say(at, NEW_GROUP, "telegram:999", "/whoami", name="小周", message_id="s")
    # The side said in Chinese: 共用 is shared.
    link = "/link #shenzhen-wanxiang-cn 共用"
    linked = say(f"2026-11-03T21:31:00{CST}", NEW_GROUP, BOSS, link, name="王总", message_id="l")
    sent = await play(locale, [*lines, stranger, linked])
    for i, (_, expected) in enumerate(NEW_GROUP_ASKS):
        reply = texts(sent, f"2026-11-03T21:{10 + i}", NEW_GROUP)[0]
        assert expected[0 if locale == "zh" else 1] in reply, reply
    assert texts(sent, "2026-11-03T21:30", NEW_GROUP)[0].startswith("You are 小周 (telegram:999).")
    done = texts(sent, "2026-11-03T21:31", NEW_GROUP)[0]
    assert ("作为双方共用群" if locale == "zh" else "as the shared side") in done, done
