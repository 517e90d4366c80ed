"""Shared pieces of the scheduler tests (no tests here): a deal file to vary, script lines."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from bot.app import run_replay
from bot.core.context import Route
from bot.replay import parse_script

SELLER_CHAT = "telegram:-1001234"
AGENCY_CHAT = "slack:C0AGENCY"
SHARED_CHAT = "telegram:-1009999"
SELLER = "telegram:5001"
SELLER_2 = "telegram:5002"
AGENCY = "slack:U0AGENCY1"
AGENCY_TG = "telegram:7001"
AGENCY_HEAD = "slack:U0AGENCY2"
LINKED = {SELLER_CHAT, AGENCY_CHAT, SHARED_CHAT}

DEFAULT_SCHEDULE = """\
schedule:
  recap: mon 09:00
  reminder: "22:30"
  pace_check: "10:00"
  warn_below: 90%
  escalate_below: 75%
  escalation: {after: 4h, repeat: 12h, max: 3, quiet: "22:00-08:00"}
"""


def deal_yaml(
    *,
    starts: str = "2026-11-01",
    schedule: str = DEFAULT_SCHEDULE,
    locale: str = "en",
    deal_id: str = "acme-linkstar-us",
    name: str = "ACME Home x Linkstar (TikTok Shop US)",
    chats: tuple[tuple[str, str], ...] = (
        (SELLER_CHAT, "seller"),
        (AGENCY_CHAT, "agency"),
        (SHARED_CHAT, "shared"),
    ),
) -> str:
    """The demo deal (``bot/demo/acme-linkstar-us.yaml``), no trial, with a schedule to vary.

    GMV target 50,000 over November (30 days): 1,666.67 a day is on pace, 1,400 a day is at
    84% (a warning), 1,000 a day at 60% (an escalation at once)."""
    links = "\n".join(f"  - {{id: {chat}, side: {side}}}" for chat, side in chats)
    return f"""\
id: {deal_id}
name: {name}
currency: USD
timezone: America/Los_Angeles
locale: {locale}
starts: {starts}
period: month
truth: seller
tolerance: 2%
metrics:
  gmv: "Gross merchandise value incl. refunds, USD"
  orders: "Paid orders"
  ad_spend: "TikTok Ads spend, USD"
  refunds: "Refunded amount, USD"
  net_gmv: gmv - refunds
  roi: gmv / ad_spend
targets:
  gmv: {{at_least: 50000}}
  roi: {{at_least: 2.5}}
fees:
  base: 3000
  commission:
    on: net_gmv
    bands:
      - {{up_to: 50000, rate: 5%}}
      - {{rate: 8%}}
  deduction: {{on: gmv, step: 10%, per_step: 10%, of: base, cap: 50%}}
members:
  seller: [{SELLER}, {SELLER_2}]
  agency: [{AGENCY}, slack:U0AGENCY3, {AGENCY_TG}]
admins: [{SELLER}, {AGENCY_HEAD}]
contacts:
  - {{who: {SELLER}, side: seller, level: 1, name: Seller ops lead}}
  - {{who: {AGENCY}, side: agency, level: 1, name: Agency account manager}}
  - {{who: {AGENCY_HEAD}, side: agency, level: 2, name: Agency head of ops}}
chats:
{links}
{schedule}"""


def tick(at: str) -> dict[str, Any]:
    return {"at": at, "tick": True}


def say(
    at: str,
    user: str,
    text: str,
    *,
    chat: str | None = None,
    direct: bool = False,
    msg_id: str | None = None,
) -> dict[str, Any]:
    """A message line; ``chat`` defaults to the user's side chat (or their DM when direct)."""
    if chat is None:
        chat = user if direct else (SELLER_CHAT if user in (SELLER, SELLER_2) else AGENCY_CHAT)
    line: dict[str, Any] = {"at": at, "chat": chat, "user": user, "text": text}
    line["id"] = msg_id or f"{user}-{at}"
    if direct:
        line["direct"] = True
    return line


def ticks(start: str, end: str, every: dt.timedelta) -> list[dict[str, Any]]:
    """Tick lines from ``start`` to ``end`` inclusive, in ``start``'s offset."""
    first = dt.datetime.fromisoformat(start)
    last = dt.datetime.fromisoformat(end)
    out = []
    at = first
    while at <= last:
        out.append(tick(at.isoformat()))
        at += every
    return out


def report_days(
    first: dt.date, days: int, gmv: int, *, at: str = "21:00:00-08:00", who: str = SELLER
) -> list[dict[str, Any]]:
    """One report a day (gmv with healthy roi) at ``at`` local time."""
    lines = []
    for n in range(days):
        day = first + dt.timedelta(days=n)
        lines.append(
            say(
                f"{day.isoformat()}T{at}",
                who,
                f"/report gmv {gmv} ad_spend {gmv // 4} orders 40 refunds 20",
            )
        )
    return lines


def backfill(
    at: str, first: dt.date, days: int, gmv: int, *, who: str = SELLER
) -> list[dict[str, Any]]:
    """Reports for ``days`` days from ``first``, all sent at ``at`` with explicit dates (so no
    scheduled check runs between them)."""
    stamp = dt.datetime.fromisoformat(at)
    lines = []
    for n in range(days):
        day = first + dt.timedelta(days=n)
        lines.append(
            say(
                (stamp + dt.timedelta(seconds=n)).isoformat(),
                who,
                f"/report gmv {gmv} ad_spend {gmv // 4} orders 40 refunds 20 {day}",
            )
        )
    return lines


def by_time(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(lines, key=lambda line: dt.datetime.fromisoformat(line["at"]))


async def replay(deal_text: str, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run a script through ``bot.replay.run_replay`` (the real core) and return what was sent."""
    steps = parse_script([json.dumps(line) for line in lines])
    return await run_replay([("deal.yaml", deal_text)], steps)


def register_escalation_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make sure ``/ack`` and ``/escalations`` are routed (the lead wires them in the registry)."""
    from handlers import escalation, registry

    if "ack" not in registry.ROUTES:
        monkeypatch.setitem(registry.ROUTES, "ack", Route(escalation.ack))
    if "escalations" not in registry.ROUTES:
        monkeypatch.setitem(registry.ROUTES, "escalations", Route(escalation.escalations))


def of_kind(sent: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [m for m in sent if m["kind"] == kind]
