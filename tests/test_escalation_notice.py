"""An escalation's notices are written when it starts; each says when that was, so a notice a
day later is not read as today's figures."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from kpi.dealfile import load_deal
from scheduler import messages
from scheduler.escalation import plan_escalation

ROOT = Path(__file__).resolve().parents[1]


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
