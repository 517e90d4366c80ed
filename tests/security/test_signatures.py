"""Who may talk to the bot over HTTP: Slack's request signatures and Telegram's webhook secret.

Slack: the real bolt app served on 127.0.0.1 (``tests/test_slack.py``'s bench) gets slash
commands and Events API callbacks that are unsigned, wrongly signed, altered after signing,
replayed with another timestamp, or too old or too new. Each is refused with 401, and then
nothing is stored, nobody is answered and Slack is not even asked who the sender is. A control
proves the same request, signed properly, is stored.

Telegram: the webhook refuses an update without the exact secret header (403), stores and
sends nothing; the secret is never empty, whatever the settings say.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from pydantic import SecretStr

from bot.adapters.slack import SlackAdapter
from bot.adapters.telegram import SECRET_HEADER, webhook_secret_from_token
from bot.app import Core
from bot.settings import Settings
from bot.web import bound_port, build_web_app, serve
from tests.fakes.slack_api import BOT_USER, SIGNING_SECRET, TEAM, FakeSlack, signed_headers
from tests.fakes.telegram_api import TOKEN, FakeTelegram
from tests.test_slack import AGENCY_ADMIN, AGENCY_CHANNEL, Bot, slack_settings
from tests.test_telegram import DEAL, GROUP, MEMBER, make_settings, running

FIVE_MINUTES = 5 * 60
_ids = itertools.count(1)


# ------------------------------------------------------------------------------ Slack


def slash_body(bot: Bot, text: str = "gmv 12000") -> tuple[str, str]:
    """A slash command as Slack posts it (form-encoded), and its content type."""
    body = urlencode(
        {
            "token": "legacy-unused",
            "team_id": TEAM,
            "channel_id": AGENCY_CHANNEL,
            "channel_name": "ops",
            "user_id": AGENCY_ADMIN,
            "command": "/report",
            "text": text,
            "api_app_id": "A0FAKE",
            "response_url": bot.fake.response_url(),
            "trigger_id": f"trig.{next(_ids)}",
        }
    )
    return body, "application/x-www-form-urlencoded"


def event_body(bot: Bot, text: str = "gmv 12000") -> tuple[str, str]:
    """An ``app_mention`` Events API callback (JSON), and its content type."""
    body = json.dumps(
        {
            "token": "legacy-unused",
            "team_id": TEAM,
            "api_app_id": "A0FAKE",
            "type": "event_callback",
            "event_id": f"Ev{next(_ids):06d}",
            "event_time": int(time.time()),
            "event": {
                "type": "app_mention",
                "user": AGENCY_ADMIN,
                "text": f"<@{BOT_USER}> report {text}",
                "ts": "1762804800.000200",
                "channel": AGENCY_CHANNEL,
            },
            "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
        }
    )
    return body, "application/json"


PAYLOADS = {"slash-command": slash_body, "event": event_body}


async def post(bot: Bot, body: str, headers: dict[str, str]) -> int:
    async with bot.http.post(bot.url, data=body.encode(), headers=headers) as response:
        await response.read()
        return response.status


async def assert_nothing_happened(bot: Bot) -> None:
    """Nothing stored, nothing answered, and Slack never asked about the sender."""
    await bot.adapter.drain()
    assert await bot.entries() == []
    assert [c.method for c in bot.fake.calls if c.method != "auth.test"] == []


def forged(body: str, content_type: str, now: int) -> dict[str, dict[str, str]]:
    """Requests a forger could make from ``body``, by name: header sets to post with it."""
    good = signed_headers(body, content_type=content_type, timestamp=now)
    minute_ago = signed_headers(body, content_type=content_type, timestamp=now - 60)
    return {
        "unsigned": {"Content-Type": content_type},
        "no-signature": {k: v for k, v in good.items() if k != "X-Slack-Signature"},
        "no-timestamp": {k: v for k, v in good.items() if k != "X-Slack-Request-Timestamp"},
        "empty-signature": {**good, "X-Slack-Signature": ""},
        "wrong-secret": signed_headers(
            body, content_type=content_type, timestamp=now, secret="not-" + SIGNING_SECRET
        ),
        "signature-of-another-version": {
            **good,
            "X-Slack-Signature": "v1=" + good["X-Slack-Signature"][3:],
        },
        # A request signed a minute ago, replayed with the timestamp header moved to now.
        "replayed-new-timestamp": {**minute_ago, "X-Slack-Request-Timestamp": str(now)},
        # A genuine request signed six minutes ago, replayed exactly as it was.
        "replayed-stale": signed_headers(
            body, content_type=content_type, timestamp=now - FIVE_MINUTES - 60
        ),
        # Signed with the right secret but dated outside the five-minute window.
        "stale-timestamp": signed_headers(
            body, content_type=content_type, timestamp=now - FIVE_MINUTES - 1
        ),
        "future-timestamp": signed_headers(
            body, content_type=content_type, timestamp=now + FIVE_MINUTES + 60
        ),
        "timestamp-not-a-number": {**good, "X-Slack-Request-Timestamp": "now"},
    }


@pytest.mark.parametrize("payload", list(PAYLOADS))
async def test_slack_refuses_a_request_it_cannot_trust(bot: Bot, payload: str) -> None:
    """Every forgery of :func:`forged` (unsigned, half-signed, wrong secret, replayed with a
    new timestamp, stale, future, garbled timestamp) of a slash command or an event is
    answered 401, and nothing happens."""
    body, content_type = PAYLOADS[payload](bot)
    forgeries = forged(body, content_type, int(time.time()))
    statuses = {name: await post(bot, body, headers) for name, headers in forgeries.items()}
    assert statuses == dict.fromkeys(forgeries, 401)
    await assert_nothing_happened(bot)


@pytest.mark.parametrize("payload", list(PAYLOADS))
async def test_slack_refuses_a_body_altered_after_signing(bot: Bot, payload: str) -> None:
    """The signature covers the body: the figure changed in transit is refused."""
    body, content_type = PAYLOADS[payload](bot, "gmv 12000")
    headers = signed_headers(body, content_type=content_type)
    altered = body.replace("12000", "99000")
    assert altered != body
    assert await post(bot, altered, headers) == 401
    await assert_nothing_happened(bot)


@pytest.mark.parametrize("payload", list(PAYLOADS))
async def test_slack_accepts_the_same_request_signed_properly(bot: Bot, payload: str) -> None:
    """The control: the requests above, signed as Slack signs them (four and a half minutes
    ago is still inside the window), are stored — so the refusals were about the signature."""
    body, content_type = PAYLOADS[payload](bot)
    headers = signed_headers(
        body, content_type=content_type, timestamp=int(time.time()) - FIVE_MINUTES + 30
    )
    assert await post(bot, body, headers) == 200
    await bot.adapter.drain()
    assert [(e.metric, str(e.value)) for e in await bot.entries()] == [("gmv", "12000")]


@pytest.mark.parametrize("payload", list(PAYLOADS))
async def test_slack_replay_inside_the_window_stores_nothing_new(bot: Bot, payload: str) -> None:
    """Slack's signature has no nonce, so an exact replay inside five minutes passes the
    signature check; the ledger's source key (event id, or the slash command's key) makes it
    "already recorded" instead of a second entry."""
    body, content_type = PAYLOADS[payload](bot)
    headers = signed_headers(body, content_type=content_type)
    assert await post(bot, body, headers) == 200
    await bot.adapter.drain()
    assert await post(bot, body, headers) == 200
    await bot.adapter.drain()
    assert len(await bot.entries()) == 1
    assert sum("Already recorded" in text for text in bot.answers()) == 1


@pytest.mark.parametrize("secret", [None, "", "   "])
async def test_slack_http_mode_needs_a_real_signing_secret(
    tmp_path: Path, fake: FakeSlack, secret: str | None
) -> None:
    """Without a signing secret (unset, empty or blank) the HTTP endpoint is not served: bolt
    would otherwise check signatures against an empty key anyone can sign with."""
    settings = slack_settings(tmp_path, fake)
    settings.slack_signing_secret = None if secret is None else SecretStr(secret)
    adapter = SlackAdapter(_NoCore(), settings)
    try:
        with pytest.raises(ValueError, match="SLACK_SIGNING_SECRET"):
            adapter.web_routes()
    finally:
        await adapter.stop()


class _NoCore:
    """A core that must never be reached."""

    clock: Any = None

    async def handle(self, cmd: Any) -> Any:
        raise AssertionError("a refused request reached the core")

    async def deliver(self, msg: Any) -> Any:
        raise AssertionError("a refused request reached the core")


# ------------------------------------------------------------------------------ Telegram

WEBHOOK_URL = "https://kpibot.example.com/telegram/webhook"
SECRET = "w3bhook-Secret_value"


@asynccontextmanager
async def webhook(
    tg: FakeTelegram, core: Core, settings: Settings
) -> AsyncIterator[Callable[[dict[str, str]], Awaitable[int]]]:
    """Run the adapter in webhook mode behind the shared HTTP server; yield a function that
    posts a fresh ``/report`` update with the given headers and returns the status."""
    async with running(core, settings) as adapter:
        runner = await serve(build_web_app(adapter.web_routes()), "127.0.0.1", 0)
        url = f"http://127.0.0.1:{bound_port(runner)}{adapter.webhook_path}"
        try:
            async with aiohttp.ClientSession() as http:

                async def post(headers: dict[str, str]) -> int:
                    update = tg.message_update(GROUP, "/report gmv 12000", user_id=MEMBER)
                    async with http.post(url, json=update, headers=headers) as response:
                        return response.status

                yield post
        finally:
            await runner.cleanup()


def wrong_headers(secret: str) -> list[dict[str, str]]:
    """Headers that are not ``secret``: missing, empty, near misses, and the bot token."""
    return [
        {},
        {SECRET_HEADER: ""},
        {SECRET_HEADER: secret[:-1]},
        {SECRET_HEADER: secret + "x"},
        {SECRET_HEADER: secret.upper() if secret != secret.upper() else secret.lower()},
        {SECRET_HEADER: TOKEN},
        {"X-Telegram-Bot-Api-Secret": secret},  # the wrong header name
    ]


async def assert_nothing_stored_or_sent(tg: FakeTelegram, core: Core) -> None:
    assert await core.ledger.history(DEAL) == []
    assert tg.sent() == []


async def test_telegram_webhook_refuses_anything_but_the_configured_secret(
    tg: FakeTelegram, core: Core, database_url: str
) -> None:
    """With ``TELEGRAM_WEBHOOK_SECRET`` set: every header that is not exactly it is refused
    with 403 (the update never reaches the core); the exact secret is accepted (control)."""
    settings = make_settings(
        tg,
        database_url,
        telegram_webhook_url=WEBHOOK_URL,
        telegram_webhook_secret=SecretStr(SECRET),
    )
    async with webhook(tg, core, settings) as post:
        assert [await post(headers) for headers in wrong_headers(SECRET)] == [403] * 7
        await assert_nothing_stored_or_sent(tg, core)
        assert tg.webhook is not None and tg.webhook["secret_token"] == SECRET

        assert await post({SECRET_HEADER: SECRET}) == 200
        assert len(await core.ledger.history(DEAL)) == 1


@pytest.mark.parametrize("configured", [None, "", "  "], ids=["unset", "empty", "blank"])
async def test_telegram_webhook_secret_is_never_empty(
    tg: FakeTelegram, core: Core, database_url: str, configured: str | None
) -> None:
    """Without a usable ``TELEGRAM_WEBHOOK_SECRET`` (unset, or empty in the environment) the
    webhook still demands a secret: the one derived from the token, which is what Telegram
    was told. A request without the header, or with an empty one, is refused."""
    settings = make_settings(
        tg,
        database_url,
        telegram_webhook_url=WEBHOOK_URL,
        telegram_webhook_secret=None if configured is None else SecretStr(configured),
    )
    derived = webhook_secret_from_token(TOKEN)
    async with webhook(tg, core, settings) as post:
        assert [await post(headers) for headers in wrong_headers(derived)] == [403] * 7
        await assert_nothing_stored_or_sent(tg, core)
        assert tg.webhook is not None and tg.webhook["secret_token"] == derived

        assert await post({SECRET_HEADER: derived}) == 200
        assert len(await core.ledger.history(DEAL)) == 1


def test_derived_webhook_secret_differs_per_token() -> None:
    """Two bots never share a derived secret, and neither secret reveals its token."""
    other = "654321:ANOTHER-token"
    assert webhook_secret_from_token(TOKEN) != webhook_secret_from_token(other)
    assert TOKEN.split(":")[1] not in webhook_secret_from_token(TOKEN)
