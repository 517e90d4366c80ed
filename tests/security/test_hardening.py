"""The HTTP surface under hostile traffic (issue 19): one test per numbered finding.

1 log flooding and forged lines, 2 unauthenticated 500s, 3 the Telegram webhook answering only
after its replies, 4 ``/link`` to a side the admin is not on, 5 Slack ``team_id`` ignored,
6 no read timeout, 7 unbounded caches and queues, 8 ``"message": "x"`` → 500, 9 ``/metrics``
open on the public port. Each ran against the real bolt app / python-telegram-bot and the fake
platform servers (``tests/fakes``), with kpibot's own log setup writing to a buffer.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from pydantic import SecretStr
from telegram.ext import BaseRateLimiter

from bot import web as bot_web
from bot.adapters.slack import SlackAdapter
from bot.adapters.telegram import SECRET_HEADER, TelegramAdapter, TelegramPort
from bot.app import Core
from bot.core import Command, Outgoing
from bot.router import Router
from bot.settings import Settings
from bot.web import bound_port, build_web_app, serve
from kpi.dealfile import DealFileError, load_deal
from tests.fakes.slack_api import SIGNING_SECRET, TEAM
from tests.fakes.telegram_api import FakeTelegram
from tests.security.conftest import Written
from tests.test_slack import AGENCY_ADMIN, AGENCY_CHANNEL, DEAL_YAML, Bot, slack_settings
from tests.test_telegram import GROUP, MEMBER, WEBHOOK_URL, all_entries, make_settings, running

SECRET = "s3cret-Token_1"
ONE_MB = 1_000_000
FORGED = "\n2026-12-02 10:14:00,000 CRITICAL kpibot forged line"


def sign(body: bytes, timestamp: str | None = None, secret: str = SIGNING_SECRET) -> dict[str, str]:
    """Slack's signature headers over the raw bytes (any bytes, UTF-8 or not)."""
    ts = timestamp if timestamp is not None else str(int(time.time()))
    digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + digest.hexdigest()}


def slash(text: str, *, team: str = TEAM, user: str = AGENCY_ADMIN) -> bytes:
    return urlencode(
        {
            "token": "legacy-token-value",
            "team_id": team,
            "channel_id": AGENCY_CHANNEL,
            "channel_name": "ops",
            "user_id": user,
            "command": "/report",
            "text": text,
            "api_app_id": "A0FAKE",
            "response_url": "https://hooks.slack.example/commands/T0/secret-response-url",
            "trigger_id": f"trig.{time.monotonic_ns()}",
        }
    ).encode()


async def post(bot_: Bot, body: bytes, headers: dict[str, str]) -> int:
    headers = {"Content-Type": "application/x-www-form-urlencoded", **headers}
    async with bot_.http.post(bot_.url, data=body, headers=headers) as response:
        await response.read()
        return response.status


# -------------------------------------------------------- 1. log flooding and forged lines


async def test_unsigned_megabyte_posts_add_one_short_line_to_the_log_in_all(
    bot: Bot, written: Written
) -> None:
    """20 unsigned 1 MB posts, one with a forged log line inside, and a stale but genuinely
    signed command: all refused, and the log grows by one short line per reason (rate-limited),
    with nothing of any body: no forged line, no response_url, no legacy token."""
    flood = b"text=" + b"A" * ONE_MB
    forged = ("text=" + FORGED * 10).encode() + b"B" * ONE_MB
    statuses = [await post(bot, flood, {}) for _ in range(19)]
    statuses.append(await post(bot, forged, sign(forged, secret="not-the-secret")))
    stale = slash("gmv 12000")
    statuses.append(await post(bot, stale, sign(stale, str(int(time.time()) - 3600))))

    assert set(statuses) <= {401, 413}  # 413: the signed-looking one is read, and too large
    assert written.size < 200 * len(statuses)
    # One line per reason (no timestamp, too large, stale) in the minute, each short.
    assert len(written.lines) <= 3
    assert all(len(line) < 200 for line in written.lines)
    text = written.buffer.getvalue()
    assert "AAAA" not in text and "CRITICAL" not in text
    assert "secret-response-url" not in text and "legacy-token-value" not in text
    assert await bot.entries() == []


# --------------------------------------------------------- 2. unauthenticated 500s


NOW_TS = "{now}"
UNSIGNED_CASES = [
    pytest.param(b"\xff\xfe\x00 not utf-8", "application/json", NOW_TS, id="non-utf8"),
    pytest.param(b'{"type": "event_callback", "event": {', "application/json", NOW_TS, id="trunc"),
    pytest.param(b"[1,2]", "application/json", NOW_TS, id="json-array"),
    pytest.param(b"payload=%7Bnot-json", "application/x-www-form-urlencoded", NOW_TS, id="payload"),
    pytest.param(b"text=hi", "application/x-www-form-urlencoded", "²", id="superscript-ts"),
    pytest.param(b"text=hi", "application/x-www-form-urlencoded", "9" * 5000, id="5000-digit-ts"),
    pytest.param(b"text=hi", "application/x-www-form-urlencoded", "１２３", id="fullwidth-ts"),
    pytest.param(b"text=hi", "application/x-www-form-urlencoded", " 123", id="spaced-ts"),
]


@pytest.mark.parametrize(("body", "content_type", "timestamp"), UNSIGNED_CASES)
async def test_unverified_bodies_are_refused_before_anything_parses_them(
    bot: Bot, written: Written, body: bytes, content_type: str, timestamp: str
) -> None:
    """Bodies that used to be decoded and parsed before the signature check (500 with an ERROR
    traceback) are refused with 401 and no ERROR."""
    ts = timestamp.replace(NOW_TS, str(int(time.time())))
    headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts}
    headers["X-Slack-Signature"] = "v0=" + "0" * 64
    assert await post(bot, body, headers) == 401
    assert written.errors == []
    assert "Traceback" not in written.buffer.getvalue()


@pytest.mark.parametrize(
    "raw",
    [
        b"\x00\xff garbage\r\n\r\n",
        b"POST /slack/events HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 20_000 + b"\r\n\r\n",
        b"POST /slack/events HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        b"GET /%ff\nCRITICAL forged HTTP/1.1\r\n\r\n",
        b"POST /slack/events HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
    ids=["garbage", "long-header", "negative-length", "forged-line", "bad-chunk"],
)
async def test_requests_that_are_not_http_get_400_and_no_traceback(
    bot: Bot, written: Written, raw: bytes
) -> None:
    """aiohttp used to log each with an ERROR and a traceback quoting the bytes sent."""
    runner = await serve(build_web_app(bot.adapter.web_routes()), "127.0.0.1", 0)
    try:
        for _ in range(3):
            reader, writer = await asyncio.open_connection("127.0.0.1", bound_port(runner))
            writer.write(raw)
            assert b" 400 " in await reader.readline()
            writer.close()
            await writer.wait_closed()
        await asyncio.sleep(0.05)
    finally:
        await runner.cleanup()
    assert written.errors == []
    assert len(written.lines) <= 1
    assert "CRITICAL" not in written.buffer.getvalue()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"\xff\xfe not utf-8", "application/json"),
        (b'{"type": "event_callback", "event": {', "application/json"),
        (b"[1,2]", "application/json"),
        (b"payload=%7Bnot-json", "application/x-www-form-urlencoded"),
        (b'{"type": "event_callback", "event": "x"}', "application/json"),
    ],
)
async def test_malformed_signed_bodies_get_400_without_an_error(
    bot: Bot, written: Written, body: bytes, content_type: str
) -> None:
    headers = {"Content-Type": content_type, **sign(body)}
    assert await post(bot, body, headers) == 400
    assert written.errors == []


async def test_bolt_logs_a_signed_unhandled_event_as_one_short_line(
    bot: Bot, written: Written
) -> None:
    """bolt answers 404 to an event no listener handles and warns with a multi-line suggestion:
    it stays one line, cut short, escaped."""
    event = {
        "type": "event_callback",
        "team_id": TEAM,
        "event_id": "EvUnhandled1",
        "event": {"type": "reaction_added", "user": AGENCY_ADMIN, "reaction": FORGED * 500},
    }
    body = json.dumps(event).encode()
    assert await post(bot, body, {"Content-Type": "application/json", **sign(body)}) == 404
    bolt_lines = [line for line in written.lines if "slack.bolt" in line or "slack_bolt" in line]
    assert bolt_lines
    assert all(len(line.encode()) < 600 for line in bolt_lines)
    # Every line is a record of its own (bolt's multi-line suggestion is escaped into one).
    assert all(
        line[:2] == "20" and "10:14:00,000 CRITICAL" not in line[:40] for line in written.lines
    )


# ---------------------------------------------- 3. the webhook acknowledges before replying


class HeldSends(BaseRateLimiter[int]):
    """A rate limiter that holds every Bot API call until released: a slow platform."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def process_request(  # type: ignore[override]
        self, callback: Any, args: Any, kwargs: Any, endpoint: str, data: Any, rate_limit_args: Any
    ) -> Any:
        if endpoint.lower() in ("sendmessage", "sendphoto", "senddocument"):
            await self.release.wait()
        return await callback(*args, **kwargs)


@pytest.fixture
def webhook_settings(tg: FakeTelegram, database_url: str) -> Settings:
    return make_settings(
        tg,
        database_url,
        telegram_webhook_url=WEBHOOK_URL,
        telegram_webhook_secret=SecretStr(SECRET),
    )


@pytest.fixture
async def webhook(
    core: Core, webhook_settings: Settings, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[TelegramAdapter, str, HeldSends]]:
    held = HeldSends()
    async with running(core, webhook_settings, rate_limiter=held) as adapter:
        runner = await serve(build_web_app(adapter.web_routes()), "127.0.0.1", 0)
        try:
            yield adapter, f"http://127.0.0.1:{bound_port(runner)}/telegram/webhook", held
        finally:
            held.release.set()
            await runner.cleanup()


async def test_webhook_answers_once_stored_while_the_reply_is_still_held(
    tg: FakeTelegram, core: Core, webhook: tuple[TelegramAdapter, str, HeldSends]
) -> None:
    _, url, held = webhook
    update = tg.message_update(GROUP, "/report gmv 12000", user_id=MEMBER)
    async with aiohttp.ClientSession() as http:
        answer = http.post(url, json=update, headers={SECRET_HEADER: SECRET})
        async with asyncio.timeout(5):
            async with answer as response:
                assert response.status == 200
    assert len(await all_entries(core)) == 1
    assert tg.sent(GROUP) == []  # the reply is still held by the "platform"
    held.release.set()
    await tg.wait_for(lambda: len(tg.sent(GROUP)) == 1)


async def test_a_huge_unknown_word_gets_one_short_answer(
    tg: FakeTelegram, webhook: tuple[TelegramAdapter, str, HeldSends]
) -> None:
    """``/report <a 100,000-character word>``: the error quoting the word used to come back
    whole, in 25 messages; now one message quotes its start."""
    _, url, held = webhook
    held.release.set()
    word = "x" * 100_000
    update = tg.message_update(GROUP, f"/report {word}", user_id=MEMBER)
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, json=update, headers={SECRET_HEADER: SECRET}) as response,
    ):
        assert response.status == 200
    await tg.wait_for(lambda: len(tg.sent(GROUP)) >= 1)
    await asyncio.sleep(0.2)
    [reply] = tg.texts(GROUP)
    assert len(reply) < 300
    # At most 40 characters of a typed word are quoted back (issue 13): 39 and an ellipsis.
    assert "x" * 39 + "…" in reply and "x" * 40 not in reply


async def test_a_full_reply_backlog_answers_503_and_telegram_redelivers(
    tg: FakeTelegram, core: Core, webhook_settings: Settings
) -> None:
    """One sender with room for one waiting command: while the platform holds the first reply,
    a second command is stored and queued, a third gets 503 (not stored: Telegram redelivers)."""
    held = HeldSends()
    async with running(core, webhook_settings, rate_limiter=held, reply_senders=1,
                       reply_backlog=1) as adapter:  # fmt: skip
        runner = await serve(build_web_app(adapter.web_routes()), "127.0.0.1", 0)
        url = f"http://127.0.0.1:{bound_port(runner)}/telegram/webhook"
        statuses = []
        try:
            async with aiohttp.ClientSession() as http:
                for text in ("/report gmv 1000", "/report orders 10", "/report refunds 5"):
                    update = tg.message_update(GROUP, text, user_id=MEMBER)
                    headers = {SECRET_HEADER: SECRET}
                    async with http.post(url, json=update, headers=headers) as response:
                        statuses.append(response.status)
                    await asyncio.sleep(0.1)  # the sender takes the first reply and waits
            assert statuses == [200, 200, 503]
            assert len(await all_entries(core)) == 2
        finally:
            held.release.set()
            await runner.cleanup()
    assert len(tg.sent(GROUP)) == 2


# --------------------------------------------------- 4. admins link only their own side


def _say(core: Core, chat: str, user: str, text: str, *, direct: bool = False) -> Command:
    return Command(
        chat=chat, user=user, text=text, at=core.clock.now(), message_id=None, is_direct=direct
    )


async def test_a_seller_admin_cannot_link_a_chat_as_the_agency(core: Core) -> None:
    """``telegram:5001`` is a seller admin of the demo deal: ``agency`` is refused (and the chat
    stays unlinked); ``seller`` and ``shared`` are allowed."""
    chat, admin = "telegram:-777", f"telegram:{MEMBER}"
    [refused] = await core.handle(_say(core, chat, admin, "/link #acme-linkstar-us agency"))
    assert refused.kind == "error"
    assert "seller" in refused.text
    assert await core.ledger.deals_for_chat(chat) == []

    [done] = await core.handle(_say(core, chat, admin, "/link #acme-linkstar-us seller"))
    assert done.kind != "error"
    assert await core.ledger.deals_for_chat(chat) == [("acme-linkstar-us", "seller")]
    [shared] = await core.handle(_say(core, "telegram:-778", admin, "/link #acme-linkstar-us"))
    assert shared.kind != "error"


def test_deal_check_refuses_an_admin_on_no_side() -> None:
    text = DEAL_YAML.replace(
        "admins: [slack:U0SELLER1, slack:U0AGENCY2]",
        "admins: [slack:U0SELLER1, slack:U0AGENCY2, slack:U0NOBODY]",
    )
    with pytest.raises(DealFileError) as caught:
        load_deal(text, "deal.yaml")
    assert "admins[2]" in str(caught.value)
    assert "slack:U0NOBODY is on no side" in str(caught.value)
    # An admin who is only a contact keeps their contact's side (deal files of today work).
    contact_only = DEAL_YAML.replace(
        "admins: [slack:U0SELLER1, slack:U0AGENCY2]", "admins: [slack:U0AGENCY2]"
    ).replace("seller: [slack:U0SELLER1, slack:U0SELLER2]", "seller: [slack:U0SELLER2]")
    contact_only = contact_only.replace(
        "admins: [slack:U0AGENCY2]", "admins: [slack:U0AGENCY2, slack:U0SELLER1]"
    )
    assert load_deal(contact_only, "deal.yaml").side_of_admin("slack:U0SELLER1") == "seller"


# ----------------------------------------------------- 5. Slack workspace must match


async def test_a_command_from_another_workspace_is_not_taken(bot: Bot) -> None:
    """The agency admin's user id, but from team ``T0OTHER``: nothing stored, and the person
    is told why (bolt's auth.test says the app is installed in ``TEAM``)."""
    body = slash("gmv 12000", team="T0OTHER")
    async with bot.http.post(
        bot.url,
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", **sign(body)},
    ) as response:
        assert response.status == 200
        answer = await response.json()
    await bot.adapter.drain()
    assert await bot.entries() == []
    assert "workspace" in answer["text"]
    # The same command from the installed workspace is taken.
    ok = slash("gmv 12000")
    assert await post(bot, ok, sign(ok)) == 200
    await bot.adapter.drain()
    assert len(await bot.entries()) == 1


# ---------------------------------------------------------------- 6. read timeouts


async def test_slow_connections_are_closed(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    """200 connections that never finish their headers are closed after the header timeout;
    a body that stops arriving gets 408 after the body timeout."""
    app = build_web_app(bot.adapter.web_routes())
    runner = await serve(app, "127.0.0.1", 0, header_timeout=0.5)
    port = bound_port(runner)
    monkeypatch.setattr(bot_web, "BODY_TIMEOUT", 0.5)
    try:
        streams = [await asyncio.open_connection("127.0.0.1", port) for _ in range(200)]
        for _, writer in streams:
            writer.write(b"POST /slack/events HTTP/1.1\r\nHost: x\r\n")
        async with asyncio.timeout(5):
            closed = await asyncio.gather(*(reader.read() for reader, _ in streams))
        assert all(data == b"" for data in closed)

        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head = sign(b"x" * 100)
        writer.write(
            b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in head.items()).encode()
            + b"\r\n"
            + b"x" * 10
        )
        async with asyncio.timeout(5):
            status_line = await reader.readline()
        assert b" 408 " in status_line
        for _, w in [*streams, (reader, writer)]:
            w.close()
            with contextlib.suppress(ConnectionError):
                await w.wait_closed()
    finally:
        await runner.cleanup()


# -------------------------------------------------------- 7. bounded caches and queues


async def test_router_caches_keep_a_bounded_number_of_chats(core: Core) -> None:
    router = Router(
        {}, ledger=core.ledger, clock=core.clock, services=core.services, cache_size=50
    )
    for n in range(500):
        await router.links(f"telegram:-{n}")
    assert router.cached()[0] <= 50


async def test_telegram_names_are_bounded(webhook: tuple[TelegramAdapter, str, HeldSends]) -> None:
    adapter, _, _ = webhook
    port: TelegramPort = adapter.port
    for n in range(20_000):
        port.names[str(n)] = f"person {n}"
    assert len(port.names) <= 10_000
    assert port.names.get("19999") == "person 19999"


async def test_pending_slack_commands_are_bounded_and_the_rest_told_to_retry(
    tmp_path: Path, bot: Bot
) -> None:
    """With 5 commands pending, the 6th is answered "busy, try again" at once and not queued."""
    release = asyncio.Event()
    handle = bot.core.handle

    async def slow(cmd: Command) -> list[Outgoing]:
        await release.wait()
        return await handle(cmd)

    bot.core.handle = slow  # type: ignore[method-assign]
    adapter = SlackAdapter(bot.core, slack_settings(tmp_path, bot.fake), max_pending=5)
    runner = await serve(build_web_app(adapter.web_routes()), "127.0.0.1", 0)
    url = f"http://127.0.0.1:{bound_port(runner)}/slack/events"
    try:
        answers = []
        for n in range(8):
            body = slash(f"orders {n + 1}")
            headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
            async with bot.http.post(url, data=body, headers=headers) as response:
                assert response.status == 200
                answers.append(await response.text())
        assert len(adapter._tasks) == 5
        assert sum("busy" in a for a in answers) == 3
        release.set()
        await adapter.drain()
    finally:
        await runner.cleanup()
        await adapter.stop()


# ------------------------------------------------- 8. malformed update with the right secret


@pytest.mark.parametrize(
    "update",
    [
        {"update_id": 1, "message": "x"},
        {"update_id": [1], "message": None},
        [1, 2],
        "x",
        {
            "update_id": 7,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": {"a": 1}, "type": "group"},
                "from": {"id": 5001, "is_bot": False, "first_name": "A"},
                "text": "/report gmv 1",
                "entities": [{"type": "bot_command", "offset": 0, "length": 7}],
            },
        },
    ],
)
async def test_a_malformed_update_with_the_right_secret_is_400_not_500(
    written: Written, webhook: tuple[TelegramAdapter, str, HeldSends], update: Any
) -> None:
    _, url, _ = webhook
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, json=update, headers={SECRET_HEADER: SECRET}) as response,
    ):
        assert response.status == 400
    assert written.errors == []


# --------------------------------------------------------------------- 9. /metrics


async def test_metrics_are_not_on_the_public_port_without_a_token_or_their_own_port() -> None:
    plain = Settings(_env_file=None)  # type: ignore[call-arg]
    token = Settings(_env_file=None, metrics_token=SecretStr("m-token-1"))  # type: ignore[call-arg]
    own = Settings(_env_file=None, metrics_port=0)  # type: ignore[call-arg]
    async with aiohttp.ClientSession() as http:
        runner = await serve(build_web_app((), plain), "127.0.0.1", 0)
        base = f"http://127.0.0.1:{bound_port(runner)}"
        async with http.get(base + "/metrics") as response:
            assert response.status == 404
        async with http.get(base + "/healthz") as response:
            assert await response.json() == {"ok": True}
        await runner.cleanup()

        runner = await serve(build_web_app((), token), "127.0.0.1", 0)
        base = f"http://127.0.0.1:{bound_port(runner)}"
        for given in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "m-token-1"}):
            async with http.get(base + "/metrics", headers=given) as response:
                assert response.status == 401
        good = {"Authorization": "Bearer m-token-1"}
        async with http.get(base + "/metrics", headers=good) as response:
            assert response.status == 200
            assert "kpibot_" in await response.text()
        await runner.cleanup()

        app = build_web_app((), own)
        runner = await serve(app, "127.0.0.1", 0)
        side = bot_web.metrics_runner(app)
        assert side is not None
        async with http.get(f"http://127.0.0.1:{bound_port(runner)}/metrics") as response:
            assert response.status == 404
        async with http.get(f"http://127.0.0.1:{bound_port(side)}/metrics") as response:
            assert response.status == 200
        await runner.cleanup()
        assert not side.addresses  # stopped with the main server


def test_timestamps_are_parsed_strictly() -> None:
    from bot.adapters.slack import check_timestamp

    now = 1_800_000_000.0
    assert check_timestamp(str(int(now)), now) is None
    assert check_timestamp(str(int(now) - 301), now) == "stale timestamp"
    for bad in ("²", "9" * 13, "", " 1", "1.5", "-1", "١٢٣"):
        assert check_timestamp(bad, now) == "bad timestamp"
