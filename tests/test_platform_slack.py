"""A Slack file share with ``/import`` as its message: slack-bolt's real event handling, the file
downloaded with the bot token from the fake Slack, and the core importing it."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from kpi.platform.store import PlatformStore
from tests import test_slack
from tests.fakes.slack_api import BOT_USER, TEAM, signed_headers
from tests.platform_files import LIVE
from tests.test_slack import AGENCY_CHANNEL, DEAL, Bot

# The Slack tests' fixtures: a fake Slack, and the adapter over HTTP with a core behind it.
fake = test_slack.fake
bot = test_slack.bot

MEMBER = "U0AGENCY1"  # an agency member of the Slack tests' deal
STRANGER = "U0NOBODY"  # in the agency's channel, but on neither side
WEEK = (dt.date(2026, 11, 2), dt.date(2026, 11, 8))


async def share(bot: Bot, text: str, files: list[dict[str, Any]], user: str = MEMBER) -> None:
    """Post a signed ``message`` event of subtype ``file_share``, as the Events API does."""
    body = json.dumps(
        {
            "team_id": TEAM,
            "api_app_id": "A0FAKE",
            "type": "event_callback",
            "event_id": f"Ev{len(bot.fake.calls)}",
            "event_time": 1762804800,
            "event": {
                "type": "message",
                "subtype": "file_share",
                "user": user,
                "text": text,
                "files": files,
                "ts": "1762804800.000300",
                "channel": AGENCY_CHANNEL,
                "channel_type": "channel",
                "event_ts": "1762804800.000300",
            },
            "authorizations": [
                {"team_id": TEAM, "user_id": BOT_USER, "is_bot": True, "enterprise_id": None}
            ],
        }
    )
    headers = signed_headers(body, content_type="application/json")
    async with bot.http.post(bot.url, data=body, headers=headers) as response:
        assert response.status == 200
    await bot.adapter.drain()


async def test_a_file_shared_with_import_is_downloaded_with_the_token_and_imported(
    bot: Bot,
) -> None:
    await share(bot, "import", [bot.fake.share_file(LIVE.name, LIVE.read_bytes())])
    [download] = bot.fake.of("download")
    assert download.params["file_id"] == "F0001"
    assert bot.answers() == [
        "📥 Stored the live export: 13 sessions, 2026-11-02 to 2026-11-08; 7 day(s) updated, "
        "0 row(s) already imported."
    ]
    store = PlatformStore(bot.core.engine)
    assert len(await store.sessions(DEAL, *WEEK)) == 13
    [record] = await store.imports(DEAL)
    assert (record.person, record.chat) == (f"slack:{MEMBER}", f"slack:{AGENCY_CHANNEL}")


async def test_a_file_shared_without_a_command_or_by_a_non_member_stores_nothing(
    bot: Bot,
) -> None:
    await share(bot, "our week", [bot.fake.share_file(LIVE.name, LIVE.read_bytes())])
    assert bot.fake.of("download") == [] and bot.answers() == []
    await share(bot, "/import", [bot.fake.share_file(LIVE.name, LIVE.read_bytes())], STRANGER)
    [answer] = bot.answers()
    assert answer.startswith("Only members of the seller or the agency may import")
    assert await PlatformStore(bot.core.engine).day_figures(DEAL, *WEEK) == {}
