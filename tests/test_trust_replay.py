"""Issue 11 end to end: ``tests/replays/trust.jsonl`` played through the real core and scheduler.

The script (run it with ``kpibot replay tests/replays/trust.jsonl --deal
tests/replays/trust-deal.yaml``) plays, on the example deal under ``truth: agreed``: a figure
re-sent with another metric (item 2), an agency member typing in the seller's chat (4), a yuan
figure in a USD deal and a fractional count (6, 7), confirming by value, a second confirm
(8, 9), the settled disagreement never raised again while an unsettled one escalates until a
confirmation settles it too (10), and
``/kpi``'s pending list (11).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.app import run_replay
from bot.replay import parse_script

HERE = Path(__file__).resolve().parent / "replays"
SCRIPT = (HERE / "trust.jsonl").read_text(encoding="utf-8").splitlines()
DEAL = (HERE / "trust-deal.yaml").read_text(encoding="utf-8")
SELLER_CHAT = "telegram:-1001234"


@pytest.fixture
async def sent(db_url: str) -> list[dict[str, Any]]:
    return await run_replay([("trust-deal.yaml", DEAL)], parse_script(SCRIPT), db_url=db_url)


def answer(sent: list[dict[str, Any]], at: str) -> str:
    """The reply to the script's message sent at ``2026-11-`` + ``at`` (Los Angeles time)."""
    found = [
        r["text"]
        for r in sent
        if r["at"] == f"2026-11-{at}-08:00" and r["kind"] in ("reply", "error")
    ]
    assert len(found) == 1, found
    return str(found[0])


async def test_the_trust_script_plays_every_rule_end_to_end(sent: list[dict[str, Any]]) -> None:
    # 2: the figure on record sent again with another metric is kept, not corrected.
    resent = answer(sent, "03T22:01:00")
    assert "gmv 12,000  (#1, unchanged: already on record)" in resent
    assert "orders 340  (#2)" in resent and "corrects" not in resent
    # 4: an agency member in the seller's chat is refused.
    assert "you are on the agency side" in answer(sent, "03T22:02:00")
    # 6 and 7: a yuan figure in a USD deal, and a count with a fraction.
    assert "marked ¥, but this deal counts money in USD" in answer(sent, "03T22:03:00")
    assert "orders is a count, so it takes a whole number" in answer(sent, "03T22:03:30")
    # 11: the pending figure, with both values and who must act.
    pending = answer(sent, "03T22:20:00")
    assert (
        "2026-11-03 gmv: seller 12,000, agency 50,000; the sides differ; either side may "
        "accept the other's figure: /confirm gmv 2026-11-03"
    ) in pending
    # 8: a confirmation of a value that is no longer the agency's figure confirms nothing.
    assert "is now 50,000, not 20,000: nothing confirmed" in answer(sent, "03T22:21:00")
    assert "Confirmed the agency side's gmv 50,000 for 2026-11-03 (#5)" in answer(
        sent, "03T22:22:00"
    )
    # 9: a second confirmation is a no-op.
    assert "already confirmed by Lily; nothing changed" in answer(sent, "03T22:23:00")
    # 10: settled: the confirmed figure counts and the disagreement is gone from /kpi ...
    settled = answer(sent, "03T22:24:00")
    assert "gmv 50,000 (target ≥ 50,000)" in settled
    assert "Disagreements" not in settled and "Pending" not in settled
    # ... and from every warning, escalation and recap, while the unsettled one escalates.
    scheduled = [r for r in sent if r["kind"] not in ("reply", "error")]
    notices = [r for r in scheduled if r["kind"] == "escalation" and "2026-11-04" in r["text"]]
    assert notices and all("viewers (seller 1,000, agency 2,000)" in r["text"] for r in notices)
    # Confirming the agency's viewers settles 2026-11-04: its escalation closes, and none of
    # its remaining notices goes out.
    assert "its escalation is closed" in answer(sent, "07T11:30:00")
    assert max(r["at"] for r in notices) < "2026-11-07T11:30:00-08:00"
    assert not [r for r in scheduled if "12,000" in r["text"] or "2026-11-03 gmv" in r["text"]]
    assert "2026-11-03 gmv" not in answer(sent, "09T11:00:00")
