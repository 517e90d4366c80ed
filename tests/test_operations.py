"""Operations: what ``/metrics`` shows (commands, store failures, outbox lag, open escalations)
and the router's structured command log (``LOG_FORMAT=json``)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text, update

from bot.app import Core, build_core
from bot.core import Command, Outgoing, VirtualClock
from bot.core.i18n import t
from bot.logs import setup_logging
from bot.settings import Settings
from bot.web import bound_port, build_web_app, serve
from scheduler import messages
from scheduler.escalation import Escalations, start_escalation
from scheduler.outbox import NewEscalation, NewRow, Outbox
from scheduler.tables import outbox
from tests.test_scheduler_support import SELLER, SELLER_CHAT, deal_yaml

T0 = dt.datetime(2026, 11, 3, 17, 0, tzinfo=dt.UTC)  # 09:00 in the deal's Los Angeles
DEAL_ID = "acme-linkstar-us"
BOT_TOKEN = "123456:ops-test-SECRET-token-value"
UNLINKED_CHAT = "slack:C0NOTLINKED"


@pytest.fixture
async def core(sqlite_url: str) -> AsyncIterator[Core]:
    """The bot core on SQLite at ``T0`` with the demo deal applied (no platform attached)."""
    settings = Settings(database_url=sqlite_url, _env_file=None)  # type: ignore[call-arg]
    built = await build_core(settings, clock=VirtualClock(T0))
    await built.apply_deal_text(deal_yaml())
    try:
        yield built
    finally:
        await built.aclose()


@pytest.fixture
async def metrics_url() -> AsyncIterator[str]:
    """``/metrics`` on the bot's own HTTP server (``bot.web``), on a free local port."""
    runner = await serve(build_web_app(), "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{bound_port(runner)}/metrics"
    finally:
        await runner.cleanup()


async def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample ``/metrics`` serves, by sample name and labels."""
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        body = await response.text()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    """One sample's value (0 when the series does not exist yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def report(core: Core, body: str, message_id: str, chat: str = SELLER_CHAT) -> Command:
    return Command(chat, SELLER, body, core.clock.now(), "Lily", message_id)


# ---------------------------------------------------------------------------------- /metrics


async def test_metrics_count_commands_handled_and_store_failures(
    core: Core, metrics_url: str
) -> None:
    """A command through the core counts as handled (by platform and outcome); a ledger
    failure answered with "Not saved" counts as a store failure and as an error outcome."""
    before = await scrape(metrics_url)
    saved = await core.handle(report(core, "/report gmv 1000 2026-11-01", "ops-1"))
    assert [r.kind for r in saved] == ["reply"]
    # The database refuses the next write: its table is gone.
    async with core.engine.begin() as conn:
        await conn.execute(text("DROP TABLE heads"))
    failed = await core.handle(report(core, "/report gmv 1200 2026-11-02", "ops-2"))
    assert [(r.kind, r.text) for r in failed] == [("error", t("router.storage_failed", "en"))]
    after = await scrape(metrics_url)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("kpibot_commands_total", platform="telegram", outcome="ok") == 1
    assert delta("kpibot_commands_total", platform="telegram", outcome="error") == 1
    assert delta("kpibot_store_failures_total") == 1


def escalation(deal_id: str, *dues: dt.datetime) -> NewEscalation:
    """An escalation of ``deal_id`` with one direct message due at each of ``dues``."""
    payload = messages.encode(Outgoing(to="", text="escalated", kind="escalation"))
    rows = tuple(
        NewRow(deal_id, "escalation", f"pace:gmv@2026-11-03/L1.{n}", f"dm:{SELLER}", due, payload)
        for n, due in enumerate(dues, 1)
    )
    detail = {"type": "pace", "metric": "gmv"}
    return NewEscalation(deal_id, "pace:gmv", "2026-11-03", detail, T0, rows)


async def test_metrics_show_outbox_lag_and_open_escalations(core: Core, metrics_url: str) -> None:
    """Each tick sets the outbox lag (age of the oldest due row not yet sent, 0 when none)
    and the escalations open (not acknowledged, with a message still to send)."""
    other = Outbox(core.engine, worker="other-replica")
    payload = messages.encode(Outgoing(to="", text="recap", kind="recap"))
    stuck = NewRow(
        "d0", "recap", "2026-11-03", "telegram:-1000001", T0 - dt.timedelta(seconds=90), payload
    )
    later = NewRow(
        "d0", "recap", "2026-11-10", "telegram:-1000001", T0 + dt.timedelta(days=7), payload
    )
    long_sent = NewRow(
        "d0", "recap", "2026-10-27", "telegram:-1000001", T0 - dt.timedelta(days=7), payload, "sent"
    )
    await other.enqueue([stuck, later, long_sent], T0 - dt.timedelta(days=7))
    # Another replica holds the due row under a lease this tick cannot break: it stays unsent.
    (held,) = await other.claim(
        T0 - dt.timedelta(seconds=90), dt.timedelta(minutes=5), 10, at=T0 - dt.timedelta(seconds=60)
    )

    hour = dt.timedelta(hours=1)
    ids: dict[str, int | None] = {}

    async def start_all(conn: Any) -> None:
        ids["waiting"] = await start_escalation(
            conn, escalation("d1", T0 + hour, T0 + 5 * hour), T0
        )
        ids["ran_out"] = await start_escalation(conn, escalation("d2", T0 - 9 * hour), T0)
        ids["acked"] = await start_escalation(conn, escalation("d3", T0 + hour), T0)

    await other.write(start_all)
    # "d2" sent its every message unacknowledged (it has run its course); "d3" was acknowledged.
    async with core.engine.begin() as conn:
        await conn.execute(
            update(outbox)
            .where(outbox.c.escalation_id == ids["ran_out"])
            .values(status="sent", finished_at=T0 - 9 * hour)
        )
    escalations = Escalations(other)
    assert await escalations.ack("d3", person=SELLER, name="Lily", note="", at=T0)

    await core.tick(T0)
    samples = await scrape(metrics_url)
    assert value(samples, "kpibot_outbox_lag_seconds") == 90
    assert value(samples, "kpibot_escalations_open") == 1

    # The other replica sends its row and someone acknowledges "d1": nothing lags, none open.
    assert await other.finish(held, "sent", T0, message_id="m1")
    assert await escalations.ack("d1", person=SELLER, name="Lily", note="", at=T0)
    assert isinstance(core.clock, VirtualClock)
    core.clock.set(T0 + dt.timedelta(seconds=30))
    await core.tick(core.clock.now())
    samples = await scrape(metrics_url)
    assert value(samples, "kpibot_outbox_lag_seconds") == 0
    assert value(samples, "kpibot_escalations_open") == 0


# ------------------------------------------------------------------------------------- logs


@pytest.fixture
def json_logs(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """Configures logging as ``kpibot run`` does with ``LOG_FORMAT=json`` (``.configure(level)``)
    and yields a function returning the router's records written since the last call, parsed.

    Request it before ``core``, so that the core's database threads are stopped before the
    captured stream is closed and the original handlers come back."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    monkeypatch.setenv("LOG_FORMAT", "json")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", BOT_TOKEN)

    def configure(level: str) -> None:
        monkeypatch.setenv("LOG_LEVEL", level)
        settings = Settings(_env_file=None)  # type: ignore[call-arg]
        assert settings.log_format == "json"
        setup_logging(settings)

    def records() -> list[dict[str, Any]]:
        lines = capsys.readouterr().err.splitlines()
        parsed = [json.loads(line) for line in lines if line.startswith("{")]
        return [r for r in parsed if r["logger"] == "kpibot.router"]

    records.configure = configure  # type: ignore[attr-defined]
    try:
        yield records
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


async def test_every_command_is_logged_as_json_with_deal_command_and_outcome(
    json_logs: Any, core: Core
) -> None:
    """One INFO record per command with deal, command, chat, platform, outcome and ms; the
    command's text is not in it."""
    json_logs.configure("INFO")
    json_logs()  # drop what was logged while starting
    await core.handle(report(core, "/report gmv 1000 2026-11-01", "log-1"))
    await core.handle(report(core, "/report gmv lots 2026-11-01", "log-2"))
    await core.handle(report(core, "/kpi", "log-3", chat=UNLINKED_CHAT))
    await core.handle(report(core, "/frobnicate", "log-4"))
    await core.handle(report(core, "just chatting", "log-5"))  # not a command: not logged
    records = json_logs()
    assert [r["level"] for r in records] == ["INFO"] * 4
    fields = [
        {k: r[k] for k in ("deal", "command", "chat", "platform", "outcome")} for r in records
    ]
    assert fields == [
        {"deal": DEAL_ID, "command": "report", "chat": SELLER_CHAT, "platform": "telegram",
         "outcome": "ok"},
        {"deal": DEAL_ID, "command": "report", "chat": SELLER_CHAT, "platform": "telegram",
         "outcome": "rejected"},
        {"deal": None, "command": "kpi", "chat": UNLINKED_CHAT, "platform": "slack",
         "outcome": "refused"},
        {"deal": None, "command": "frobnicate", "chat": SELLER_CHAT, "platform": "telegram",
         "outcome": "unknown"},
    ]  # fmt: skip
    assert all(isinstance(r["ms"], float) and r["ms"] >= 0 for r in records)
    assert all("text" not in r and "1000" not in json.dumps(r) for r in records)


async def test_the_command_text_is_logged_at_debug_only_and_secrets_are_redacted(
    json_logs: Any, core: Core
) -> None:
    """At DEBUG a second record carries the text, with any configured secret replaced."""
    json_logs.configure("DEBUG")
    json_logs()
    await core.handle(report(core, f"/report gmv 1000 2026-11-01 {BOT_TOKEN}", "log-6"))
    records = json_logs()
    assert [(r["level"], r["outcome"]) for r in records] == [
        ("INFO", "rejected"),
        ("DEBUG", "rejected"),
    ]
    assert records[1]["text"] == "/report gmv 1000 2026-11-01 ***"
    assert BOT_TOKEN not in json.dumps(records)
