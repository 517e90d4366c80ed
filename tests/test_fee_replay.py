"""``/fee``, ``/fee if`` and ``/statement`` end to end: replay scripts through the real core.

Each script runs twice, through ``bot.replay.run_replay`` and through ``kpibot replay`` (typer's
CliRunner), and both must send exactly the same messages. Covered: the issue's worked example
in English, the same deal in Chinese, the Chinese weekly example deal (truth: agreed, whole-volume
tiers) and a currency without minor units (JPY).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from bot.app import run_replay
from bot.cli import app
from bot.replay import parse_script

ROOT = Path(__file__).resolve().parents[1]
ACME = (ROOT / "bot" / "demo" / "acme-linkstar-us.yaml").read_text(encoding="utf-8")
WANXIANG = (ROOT / "bot" / "demo" / "shenzhen-wanxiang-cn.yaml").read_text(encoding="utf-8")
LA = ZoneInfo("America/Los_Angeles")
SHANGHAI = ZoneInfo("Asia/Shanghai")

SELLER_CHAT, AGENCY_CHAT = "telegram:-1001234", "slack:C0AGENCY"
SELLER_ADMIN, AGENCY_ADMIN = "telegram:5001", "slack:U0AGENCY2"


def acme_variant(*, locale: str = "en", currency: str = "USD") -> str:
    """The example deal in another language or currency (everything else unchanged)."""
    text = ACME.replace("locale: en ", f"locale: {locale} ").replace(
        "currency: USD", f"currency: {currency}"
    )
    assert f"locale: {locale}" in text and f"currency: {currency}" in text
    return text


class Script:
    """A replay script being written; each message at its own instant, so replies can be
    found by the time they were sent."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self.lines: list[str] = []
        self.count = 0

    def say(self, when: tuple[int, ...], chat: str, user: str, text: str, name: str = "") -> str:
        """Add a message at ``when`` = (month, day, hour[, minute]) of 2026 in the deal's zone;
        returns the time replies to it carry."""
        self.count += 1
        month, day, hour, *rest = when
        minute = rest[0] if rest else 0
        at = dt.datetime(2026, month, day, hour, minute, tzinfo=self.tz).isoformat()
        self.lines.append(
            json.dumps(
                {
                    "at": at,
                    "chat": chat,
                    "user": user,
                    "name": name,
                    "text": text,
                    "id": f"m-{self.count}",
                },
                ensure_ascii=False,
            )
        )
        return at


def replies_at(sent: list[dict[str, Any]], at: str) -> list[dict[str, Any]]:
    return [record for record in sent if record["at"] == at]


def one_reply(sent: list[dict[str, Any]], at: str) -> str:
    """The answer to the message sent at ``at`` (scheduled recaps and warnings of the same
    instant have other kinds)."""
    found = [r for r in replies_at(sent, at) if r["kind"] in ("reply", "error")]
    assert len(found) == 1, found
    return str(found[0]["text"])


def play(deal_text: str, script: Script, tmp_path: Path) -> list[dict[str, Any]]:
    """Run the script through run_replay and through ``kpibot replay``; both must agree."""
    steps = parse_script(script.lines)
    direct = asyncio.run(run_replay([("deal.yaml", deal_text)], steps))
    deal_file = tmp_path / "deal.yaml"
    deal_file.write_text(deal_text, encoding="utf-8")
    script_file = tmp_path / "script.jsonl"
    script_file.write_text("\n".join(script.lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["replay", str(script_file), "--deal", str(deal_file)])
    assert result.exit_code == 0, result.output
    via_cli = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert via_cli == direct
    return direct


def worked_example(script: Script, *, gmv: str = "2000") -> None:
    """The seller reports gmv, refunds 100 and ad_spend 500 for each of Nov 1-10."""
    for day in range(1, 11):
        script.say(
            (11, day, 22),
            SELLER_CHAT,
            SELLER_ADMIN,
            f"/report gmv {gmv} refunds 100 ad_spend 500",
            "Lily",
        )


def close_november(script: Script, anyway: str = "anyway") -> tuple[str, str]:
    """Both admins close November. Only Nov 1-10 were reported, so each says to close it
    as it stands (``anyway``, or a Chinese word for it)."""
    seller = script.say(
        (12, 2, 9, 1), SELLER_CHAT, SELLER_ADMIN, f"/statement confirm {anyway}", "Lily"
    )
    agency = script.say(
        (12, 2, 9, 2),
        AGENCY_CHAT,
        AGENCY_ADMIN,
        f"/statement confirm 2026-11 {anyway}",
        "Ops head",
    )
    return seller, agency


# ------------------------------------------------------------------------------ English


def test_the_worked_example_in_english(tmp_path: Path) -> None:
    script = Script(LA)
    worked_example(script)
    fee = script.say((11, 10, 23), SELLER_CHAT, SELLER_ADMIN, "/fee")
    what_if = script.say((11, 10, 23, 5), AGENCY_CHAT, "slack:U0AGENCY1", "/fee if gmv 40000")
    current = script.say((11, 10, 23, 10), SELLER_CHAT, SELLER_ADMIN, "/statement")
    ended = script.say((12, 2, 9), SELLER_CHAT, SELLER_ADMIN, "/statement")
    _, agency = close_november(script)
    script.say((12, 3, 9), SELLER_CHAT, SELLER_ADMIN, "/report gmv 40000 2026-11-05")
    past_fee = script.say((12, 3, 10), SELLER_CHAT, SELLER_ADMIN, "/fee 2026-11")
    sent = play(ACME, script, tmp_path)

    text = one_reply(sent, fee)
    # The table, line by line: to date ...
    assert "fee for 2026-11 (trial terms), day 10 of 30" in text
    assert "• base fee (trial): USD 1,500.00" in text
    assert "• commission on net_gmv 19,000: 19,000 × 5%: USD 950.00" in text
    assert "• bonus: not yet met (gmv): USD 0.00" in text
    assert "Total to date: USD 2,450.00" in text
    # ... and the projection over 30 days of 10 elapsed.
    assert "At this pace (projected over 30 days)" in text
    assert "gmv 60,000" in text and "refunds 3,000" in text and "net_gmv 57,000" in text
    assert "ad_spend 15,000" in text and "roi 4.00" in text
    assert "• commission on net_gmv 57,000: 50,000 × 5% + 7,000 × 8%: USD 3,060.00" in text
    assert "• bonus: targets met (gmv, roi): USD 1,000.00" in text
    assert "Projected at period end: USD 5,560.00" in text
    assert "• at this pace gmv ends at 60,000: target met (counts toward the bonus)" in text
    assert text.index("Total to date") < text.index("Projected at period end")

    text = one_reply(sent, what_if)
    assert "2026-11 if the period ended with gmv 40,000" in text
    # net_gmv 40,000 - 3,000 = 37,000 x 5% = 1,850.00; gmv 40,000 < 50,000: no bonus.
    assert "37,000 × 5%: USD 1,850.00" in text
    assert "• bonus: not yet met (gmv): USD 0.00" in text
    assert "Total: USD 3,350.00" in text

    text = one_reply(sent, current)
    assert "statement for 2026-11: NOT FINAL, day 10 of 30" in text
    assert "Total to date: USD 2,450.00" in text and "USD 5,560.00" in text

    text = one_reply(sent, ended)
    assert "statement for 2026-11 (ended 2026-11-30; not closed yet)" in text
    # Final: 1,500 + 950 + 0 = 2,450, topped up to the minimum 3,000.
    assert "• minimum guarantee USD 3,000.00: top-up: USD 550.00" in text
    assert "Total: USD 3,000.00" in text
    assert "/statement confirm 2026-11" in text

    closing = [r for r in replies_at(sent, agency) if "statement is closed" in r["text"]]
    assert "🔒 The 2026-11 statement is closed" in closing[0]["text"]
    assert {r["to"] for r in closing} == {AGENCY_CHAT, SELLER_CHAT, "telegram:-1009999"}

    text = one_reply(sent, past_fee)
    assert "🔒 closed 2026-12-02 09:02" in text
    assert "Total: USD 3,000.00" in text
    assert "2026-11-05 gmv 40,000" in text and "at the close it counted 2,000" in text
    assert "On today's figures the total would be USD 5,560.00" in text


def test_a_currency_without_minor_units(tmp_path: Path) -> None:
    # gmv 2,001 a day: net_gmv 20,010 - 1,000 = 19,010 x 5% = 950.5 → JPY 951 (half-up).
    # Projected: gmv 60,030, net_gmv 57,030 → 50,000 x 5% + 7,030 x 8% = 2,500 + 562.4
    # = 3,062.4 → JPY 3,062; bonus 1,000; total 1,500 + 3,062 + 1,000 = JPY 5,562.
    script = Script(LA)
    worked_example(script, gmv="2001")
    fee = script.say((11, 10, 23), SELLER_CHAT, SELLER_ADMIN, "/fee")
    ended = script.say((12, 2, 9), SELLER_CHAT, SELLER_ADMIN, "/statement")
    sent = play(acme_variant(currency="JPY"), script, tmp_path)

    text = one_reply(sent, fee)
    assert "• base fee (trial): JPY 1,500\n" in text
    assert "19,010 × 5%: JPY 951\n" in text
    assert "Total to date: JPY 2,451\n" in text
    assert "50,000 × 5% + 7,030 × 8%: JPY 3,062\n" in text
    assert "Projected at period end: JPY 5,562\n" in text
    assert "JPY 951.00" not in text and ".00" not in text.split("Rounding")[0].replace("4.00", "")

    # Final: 1,500 + 951 = 2,451, topped up to 3,000 by 549.
    text = one_reply(sent, ended)
    assert "top-up: JPY 549\n" in text
    assert "Total: JPY 3,000\n" in text


# ------------------------------------------------------------------------------ Chinese


def test_the_worked_example_in_chinese(tmp_path: Path) -> None:
    script = Script(LA)
    worked_example(script)
    fee = script.say((11, 10, 23), SELLER_CHAT, SELLER_ADMIN, "/fee")
    what_if = script.say((11, 10, 23, 5), SELLER_CHAT, SELLER_ADMIN, "/fee 如果 gmv 4万")
    ended = script.say((12, 2, 9), SELLER_CHAT, SELLER_ADMIN, "/statement")
    seller, agency = close_november(script, "仍确认")
    closed = script.say((12, 2, 9, 3), SELLER_CHAT, SELLER_ADMIN, "/statement 2026年11月")
    sent = play(acme_variant(locale="zh"), script, tmp_path)

    text = one_reply(sent, fee)
    assert "2026年11月服务费（试运营期条款），第 10/30 天" in text
    assert "截至目前" in text
    assert "• 基础服务费（试运营期）：US$1,500.00" in text
    assert "净成交额 19,000 提成（19,000 × 5%）：US$950.00" in text
    assert "• 达成奖励（暂未达标：成交额）：US$0.00" in text
    assert "截至目前合计：US$2,450.00" in text
    assert "50,000 × 5% + 7,000 × 8%）：US$3,060.00" in text
    assert "• 达成奖励（已达标：成交额、ROI）：US$1,000.00" in text
    assert "预计期末合计：US$5,560.00" in text

    text = one_reply(sent, what_if)
    assert "假设测算：2026年11月 期末数据为 成交额 40,000" in text
    assert "合计：US$3,350.00" in text

    text = one_reply(sent, ended)
    assert "2026年11月结算单（2026-11-30 已结束，待双方确认）" in text
    assert "保底补差（保底 US$3,000.00）：US$550.00" in text
    assert "合计：US$3,000.00" in text

    assert "已代表卖家按当前数据确认 2026年11月 结算单（合计 US$3,000.00）" in one_reply(
        sent, seller
    )
    assert any("2026年11月 结算单已锁定" in r["text"] for r in replies_at(sent, agency))
    text = one_reply(sent, closed)
    assert "2026年11月结算单 🔒 2026-12-02 09:02 已锁定" in text
    assert "合计：US$3,000.00" in text


def test_the_chinese_weekly_deal(tmp_path: Path) -> None:
    """深圳万象 × 联星: weekly, truth agreed, whole-volume tiers, bonus 10% of commission, a
    performance fee of 3,000 × the 60/20/20 weighted score (floor 60%, cap 120%), a 保量
    guarantee of 100,000 GMV refunding base in proportion.

    Both sides report the same figures for Mon-Wed (Nov 2-4), so they count. To date:
    base 5,000 + commission on gmv 60,000 at the 3% band (whole) = 1,800.00; score: gmv
    60,000 / 150,000 = 40% × 60% = 24%, roi 4 / 3 = 133% counted as 120% × 20% = 24%, refund
    rate 8% / 5% = 160% counted as 120% × 20% = 24% → 72%, performance 3,000 × 72% =
    2,160.00; bonus unmet; total 8,960.00. Projected over 7 days of 3: gmv 140,000 → the 4%
    band on all of it = 5,600.00; score 93.3% × 60% = 56% + 24% + 24% = 104% → 3,120.00; no
    bonus (140,000 < 150,000); deduction 0.00; guarantee met (140,000 ≥ 100,000): 0.00;
    total 5,000 + 5,600 + 3,120 = 13,720.00. Final (the week's counted figures, gmv 60,000):
    5,000 + 1,800 + 2,160 + 0 - 0 = 8,960 within the minimum 4,000 and the cap 20,000; then
    the guarantee: 60,000 is 40% short of 100,000 → 40% × base 5,000 = 2,000 refunded;
    total 6,960.00.
    """
    shared, seller, agency = "telegram:-1003344556677", "telegram:710200301", "telegram:583920114"
    script = Script(SHANGHAI)
    for day in (2, 3, 4):
        for who, name in ((seller, "王总"), (agency, "林晓")):
            script.say(
                (11, day, 21, 0 if who == seller else 5),
                shared,
                who,
                "/report 成交额 2万 退款 1000 消耗 5000 订单 100 观看 5000",
                name,
            )
    fee = script.say((11, 4, 22), shared, seller, "/费用")
    week = script.say((11, 10, 10), shared, seller, "/statement 2026-W45")
    refused = script.say((11, 10, 10, 1), shared, seller, "/statement 确认 2026-W45", "王总")
    # Thursday to Sunday were never reported: each admin closes the week as it stands.
    first = script.say((11, 10, 10, 2), shared, seller, "/statement 确认 2026-W45 仍然确认", "王总")
    second = script.say(
        (11, 10, 10, 3), shared, agency, "/statement 确认 2026-W45 强制确认", "林晓"
    )
    sent = play(WANXIANG, script, tmp_path)

    text = one_reply(sent, fee)
    assert "• 基础服务费：¥5,000.00" in text
    assert "成交额 60,000 提成（全额按所达档位计：60,000 × 3%）：¥1,800.00" in text
    assert (
        "• 绩效服务费（KPI 得分 = 成交额 40% × 60% + ROI 120% × 20% + 退款率 120% × 20% = 72%，"
        "× ¥3,000.00）：¥2,160.00"
    ) in text
    assert "截至目前合计：¥8,960.00" in text
    assert "140,000 × 4%）：¥5,600.00" in text
    assert "成交额 93.3% × 60% + ROI 120% × 20% + 退款率 120% × 20% = 104%" in text
    assert "• 对赌退款（成交额 140,000，已达保量 100,000，无退款）：¥0.00" in text
    assert "预计期末合计：¥13,720.00" in text
    assert "• 成交额：按当前进度期末预计 140,000，偏离目标 7% → 无达成奖励；贡献得分 56%" in text

    text = one_reply(sent, week)
    assert "2026年第45周（11-02 至 11-08）结算单（2026-11-08 已结束，待双方确认）" in text
    assert (
        "• 对赌退款（成交额 60,000，低于保量 100,000，差额为保量的 40% → "
        "退还基础服务费 ¥5,000.00 的 40%）："
        "-¥2,000.00"
    ) in text
    assert "合计：¥6,960.00" in text
    assert "… 服务商：待服务商管理员确认" in text
    gaps = "⚠ 无人上报的日期（按无数据计）：成交额 4 天：11-05 至 11-08；"
    assert gaps in text and text.index(gaps) < text.index("计费数据")

    text = one_reply(sent, refused)
    assert text.startswith("未确认：2026年第45周 结算单仍有未确认的数据或未上报的日期。")
    assert gaps in text
    assert text.endswith("请发送：/statement confirm 2026年第45周 仍然确认")

    assert "王总 已代表卖家按当前数据确认 2026年第45周 结算单（合计 ¥6,960.00）" in one_reply(
        sent, first
    )
    closing = [r for r in replies_at(sent, second) if r["kind"] == "reply"]
    # The notices to the deal's other chats are statements, not recaps.
    notices = [r for r in replies_at(sent, second) if r["kind"] != "reply"]
    assert notices and {r["kind"] for r in notices} == {"statement"}
    assert (
        "🔒 2026年第45周 结算单已锁定：卖家 王总、服务商 林晓 均已确认，合计 ¥6,960.00"
        in (closing[0]["text"])
    )


@pytest.mark.parametrize("locale", ["en", "zh"])
def test_statement_help_forms_are_in_both_languages(locale: str, tmp_path: Path) -> None:
    """A rejected /statement says what was wrong and shows the right form, in either language."""
    script = Script(LA)
    refused = script.say((12, 2, 9), AGENCY_CHAT, "slack:U0AGENCY1", "/statement confirm")
    future = script.say((12, 2, 9, 1), SELLER_CHAT, SELLER_ADMIN, "/fee 2027-03")
    sent = play(acme_variant(locale=locale), script, tmp_path)
    # In Chinese the period is named as people say it, and typed back as it is shown.
    month, next_month = ("2026年11月", "2026年12月") if locale == "zh" else ("2026-11", "2026-12")
    assert f"/statement confirm {month}" in one_reply(sent, refused)
    assert f"/fee {next_month}" in one_reply(sent, future)
