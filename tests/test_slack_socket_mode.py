"""Socket Mode: the real bolt AsyncSocketModeHandler against a fake Socket Mode WebSocket server.

The fake Web API answers ``apps.connections.open`` with the ws:// URL of its own WebSocket
endpoint, says ``hello``, pushes envelopes, and records the app's acknowledgements.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.slack import SlackAdapter
from bot.app import Core
from bot.core import VirtualClock
from tests.fakes.slack_api import APP_TOKEN, BOT_USER, TEAM, FakeSlack
from tests.test_slack import (
    AGENCY_ADMIN,
    AGENCY_CHANNEL,
    DEAL,
    NOW,
    TODAY,
    VirtualTime,
    build_test_core,
    slack_settings,
)


@dataclass
class SocketBot:
    fake: FakeSlack
    core: Core
    adapter: SlackAdapter

    async def entries(self) -> list[Any]:
        return await self.core.ledger.current_entries(DEAL, dt.date(2026, 11, 1), TODAY)


@pytest.fixture
async def socket_bot(tmp_path: Path) -> AsyncIterator[SocketBot]:
    fake = await FakeSlack(users={AGENCY_ADMIN: {"display_name": "Leo W"}}).start()
    # Socket Mode needs no signing secret and no HTTP server: the WebSocket is authenticated
    # by the app-level token.
    settings = slack_settings(tmp_path, fake, slack_app_token=APP_TOKEN)
    settings.slack_signing_secret = None
    core = await build_test_core(settings, VirtualClock(NOW))
    vtime = VirtualTime(fake)
    adapter = SlackAdapter(
        core, settings, monotonic=vtime.monotonic, sleep=vtime.sleep, jitter=lambda: 0.0
    )
    core.add_port(adapter.port)
    await adapter.start_socket_mode()
    await fake.wait_connected()
    yield SocketBot(fake, core, adapter)
    await adapter.stop()
    await core.aclose()
    await fake.aclose()


def slash_envelope(envelope_id: str, text: str, response_url: str) -> dict[str, Any]:
    return {
        "envelope_id": envelope_id,
        "type": "slash_commands",
        "accepts_response_payload": True,
        "payload": {
            "token": "legacy-unused",
            "team_id": TEAM,
            "team_domain": "fake",
            "channel_id": AGENCY_CHANNEL,
            "channel_name": "ops",
            "user_id": AGENCY_ADMIN,
            "user_name": "leo",
            "command": "/report",
            "text": text,
            "api_app_id": "A0FAKE",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": "trig." + envelope_id,
        },
    }


def mention_envelope(envelope_id: str, event_id: str, retry: int) -> dict[str, Any]:
    return {
        "envelope_id": envelope_id,
        "type": "events_api",
        "accepts_response_payload": False,
        "retry_attempt": retry,
        "retry_reason": "timeout" if retry else "",
        "payload": {
            "token": "legacy-unused",
            "team_id": TEAM,
            "api_app_id": "A0FAKE",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": 1762804800,
            "event": {
                "type": "app_mention",
                "user": AGENCY_ADMIN,
                "text": f"<@{BOT_USER}> report orders 340",
                "ts": "1762804800.000300",
                "channel": AGENCY_CHANNEL,
                "event_ts": "1762804800.000300",
            },
            "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
        },
    }


async def test_slash_command_over_socket_mode_is_acked_stored_and_answered(
    socket_bot: SocketBot,
) -> None:
    fake = socket_bot.fake
    [opened] = fake.of("apps.connections.open")
    assert opened.token == APP_TOKEN

    await fake.send_envelope(slash_envelope("env-1", "gmv 12000", fake.response_url("sm")))
    ack = await fake.wait_ack("env-1")
    assert ack == {"envelope_id": "env-1"}  # an empty ack: the answer comes separately

    await socket_bot.adapter.drain()
    entries = await socket_bot.entries()
    assert [(e.metric, e.value, e.side) for e in entries] == [("gmv", Decimal(12000), "agency")]
    assert entries[0].person_name == "Leo W"
    [answer] = fake.of("response_url")
    assert answer.params["hook"] == "sm"
    assert "Saved" in answer.params["text"]


async def test_redelivered_event_over_socket_mode_stores_one_entry(
    socket_bot: SocketBot,
) -> None:
    fake = socket_bot.fake
    await fake.send_envelope(mention_envelope("env-2", "Ev0100", retry=0))
    await fake.wait_ack("env-2")
    await socket_bot.adapter.drain()
    await fake.send_envelope(mention_envelope("env-3", "Ev0100", retry=1))
    await fake.wait_ack("env-3")
    await socket_bot.adapter.drain()

    entries = await socket_bot.entries()
    assert [(e.metric, e.value) for e in entries] == [("orders", Decimal(340))]
    texts = [c.params["text"] for c in fake.of("chat.postMessage")]
    assert ["Saved" in t for t in texts] == [True, False]
