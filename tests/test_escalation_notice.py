"""An escalation's notices are written when it starts; each says when that was, so a notice a
day later is not read as today's figures."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.core.ports import EscalationRecord
from kpi.dealfile import load_deal
from scheduler import messages
from scheduler.escalation import merged_notice, plan_escalation

ROOT = Path(__file__).resolve().parents[1]


def _replay(
    tmp_path: Path, lines: list[dict[str, object]], deal: str = "acme-linkstar-us.yaml"
) -> list[dict[str, str]]:
    """``kpibot replay`` of ``lines`` on a demo deal: what the bot sent."""
    script = tmp_path / "s.jsonl"
    script.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n")
    path = ROOT / "bot" / "demo" / deal
    result = CliRunner().invoke(app, ["replay", "--deal", str(path), str(script)])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize(
    ("deal_file", "started", "raised"),
    [
        (
            "acme-linkstar-us.yaml",
            dt.datetime(2026, 11, 3, 18, 0, tzinfo=dt.UTC),
            "raised 11-03 10:00",
        ),
        (
            "shenzhen-wanxiang-cn.yaml",
            dt.datetime(2026, 11, 3, 3, 0, tzinfo=dt.UTC),
            "11-03 11:00 发起",
        ),
    ],
)
def test_every_notice_says_when_the_escalation_was_raised(
    deal_file: str, started: dt.datetime, raised: str
) -> None:
    deal = load_deal((ROOT / "bot" / "demo" / deal_file).read_text(encoding="utf-8"))
    detail = {
        "metric": "gmv",
        "pace": "56%",
        "threshold": "70%",
        "actual": "12,000",
        "target": "≥ 150,000",
    }
    planned = plan_escalation(deal, "pace:gmv", "2026-11-03", detail, started)
    texts = [messages.decode(row.payload, row.chat).text for row in planned.rows]
    assert len(texts) > len(deal.contacts)  # repeats too, each written now
    assert all(raised in text for text in texts)
    assert all("/kpi" in text for text in texts)  # where today's figures are


def test_a_merged_notice_dates_each_escalation_and_points_to_kpi() -> None:
    deal = load_deal((ROOT / "bot" / "demo" / "shenzhen-wanxiang-cn.yaml").read_text("utf-8"))
    pace = {
        "metric": "gmv",
        "pace": "37%",
        "threshold": "70%",
        "actual": "8,000",
        "target": "≥ 150,000",
    }
    other = {"type": "disagreement", "day": "2026-11-09", "items": "成交额", "since": "11-09 22:00"}

    def raised(id_: int, detail: dict[str, str], day: int) -> EscalationRecord:
        started = dt.datetime(2026, 11, day, 3, 0, tzinfo=dt.UTC)
        return EscalationRecord(
            id_, deal.id, "r", "o", "open", detail, started, None, None, None, None
        )

    text = merged_notice(
        deal,
        [
            (raised(1, pace, 10), "pace:gmv@2026-11-10/L1.4"),
            (raised(2, other, 11), "disagreement:2026-11-09@x/L1.1"),
        ],
    ).text
    lines = text.split("\n")
    assert lines[1].endswith("（第 1 级对接人，第 4/4 次；11-10 11:00 发起）")
    assert lines[2].endswith("；11-11 11:00 发起）")
    assert "以上为各提醒发起时的数据；发送 /kpi 查看最新进度。" in lines[-1]


def test_a_dispute_of_agreeing_figures_is_escalated_as_a_dispute_not_a_disagreement(
    tmp_path: Path,
) -> None:
    """Both sides reported 1,862 and the agency disputes it: the notice does not offer to
    accept "the agency's 1,862 instead", and the escalation says who disputes what, not
    "seller 1,862, agency 1,862"."""
    seller = {"chat": "telegram:-1001234", "user": "telegram:5001", "name": "Lily"}
    agency = {"chat": "slack:C0AGENCY", "user": "slack:U0AGENCY1", "name": "Ken"}
    lines = [
        {"at": "2026-11-02T21:00:00-08:00", **seller, "text": "/report gmv 1862", "id": "1"},
        {"at": "2026-11-02T21:10:00-08:00", **agency, "text": "/report gmv 1862", "id": "2"},
        {"at": "2026-11-02T21:11:00-08:00", **agency, "id": "3",
         "text": "/dispute gmv 2026-11-02 late-night orders missing"},
        {"at": "2026-11-05T10:30:00-08:00", "tick": True},
    ]  # fmt: skip
    out = _replay(tmp_path, lines)
    notice = next(o["text"] for o in out if o["kind"] == "notice")
    assert "instead" not in notice and "/report gmv [right figure] 2026-11-02" in notice
    escalated = [
        o["text"]
        for o in out
        if o["to"].startswith("dm:") and "disagree on 2026-11-02" in o["text"]
    ]
    assert escalated and all(
        "gmv (the agency side disputes the seller side's 1,862: late-night orders missing)" in t
        for t in escalated
    )
    assert not any("seller 1,862, agency 1,862" in o["text"] for o in out)


SELLER = {"chat": "telegram:-1001234", "user": "telegram:5001", "name": "Lily"}
AGENCY = {"chat": "slack:C0AGENCY", "user": "slack:U0AGENCY1", "name": "Ken"}
MONTH_END = [
    {"at": "2026-11-30T21:00:00-08:00", **SELLER, "text": "/report gmv 2000", "id": "1"},
    {"at": "2026-11-30T21:05:00-08:00", **AGENCY, "text": "/report gmv 2500", "id": "2"},
]


def test_a_disagreement_of_a_periods_last_days_escalates_after_the_period_ended(
    tmp_path: Path,
) -> None:
    out = _replay(tmp_path, [*MONTH_END, {"at": "2026-12-03T12:00:00-08:00", "tick": True}])
    escalated = [
        o for o in out if o["to"].startswith("dm:") and "disagree on 2026-11-30" in o["text"]
    ]
    assert escalated and escalated[0]["at"] == "2026-12-03T10:00:00-08:00"
    assert "gmv (seller 2,000, agency 2,500)" in escalated[0]["text"]


def test_a_closed_periods_disagreement_is_not_escalated(tmp_path: Path) -> None:
    admin = {"chat": "slack:C0AGENCY", "user": "slack:U0AGENCY2", "name": "Ada"}
    close = [
        {"at": "2026-12-01T09:00:00-08:00", **SELLER, "id": "3",
         "text": "/statement confirm 2026-11 anyway"},
        {"at": "2026-12-01T09:01:00-08:00", **admin, "id": "4",
         "text": "/statement confirm 2026-11 anyway"},
    ]  # fmt: skip
    out = _replay(tmp_path, [*MONTH_END, *close, {"at": "2026-12-04T12:00:00-08:00", "tick": True}])
    assert any("statement is closed" in o["text"] for o in out)
    assert not any("disagree on 2026-11-30" in o["text"] for o in out)


def test_a_pace_warning_prices_a_ratio_target_and_says_when_one_alone_changes_nothing(
    tmp_path: Path,
) -> None:
    """The refund rate is worth the ¥2,000 deduction (refunds at 8% of the projected GMV), and
    ROI on target alone does not move the fee: both said, not just the projected total."""
    shared = {"chat": "telegram:-1003344556677", "user": "telegram:710200302", "name": "陈会计"}
    agency = {"chat": "telegram:-1003344556688", "user": "telegram:583920276", "name": "周安"}
    day1, day2 = "成交额 8000 消耗 4000 退款 1500 订单 100", "成交额 9000 消耗 4000 退款 1000"
    lines = [
        {"at": "2026-11-09T22:00:00+08:00", **agency, "text": f"/report {day1}", "id": "1"},
        {"at": "2026-11-09T22:02:00+08:00", **shared, "text": f"/report {day1}", "id": "2"},
        {"at": "2026-11-10T22:00:00+08:00", **agency, "text": f"/report {day2}", "id": "3"},
        {"at": "2026-11-10T22:02:00+08:00", **shared, "text": f"/report {day2}", "id": "4"},
        {"at": "2026-11-12T11:30:00+08:00", "tick": True},
    ]
    out = _replay(tmp_path, lines, "shenzhen-wanxiang-cn.yaml")
    warning = next(
        o["text"] for o in out if o["kind"] == "warning" and o["at"].startswith("2026-11-12T11:00")
    ).split("\n")
    roi = warning.index(next(line for line in warning if line.startswith("• ROI")))
    assert warning[roi + 1].endswith("；仅 ROI 达标不改变服务费。")
    rate = warning.index(next(line for line in warning if line.startswith("• 退款率")))
    assert warning[rate + 1].endswith("若 退款率 达标则为 ¥3,173.33（相差 ¥2,000.00）。")
