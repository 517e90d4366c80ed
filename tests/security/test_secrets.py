"""No secret leaks: not into any log record at DEBUG, not into the logs kpibot writes, not into
any reply, not into ``repr(Settings)``.

The Slack and Telegram flows run for real against the fakes — commands stored and answered,
429s retried, a token refused, a forged request refused, Socket Mode and webhook mode started,
a database that cannot be reached behind a URL with a password — while every log record is
kept twice: as it was emitted (:class:`RawRecords`, before any handler's filter could edit
it) and as kpibot's own ``setup_logging`` handler writes it (to a buffer), in both the text
and the JSON format. Then every kept string is searched for every secret.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from bot.adapters.slack import SlackAdapter
from bot.adapters.telegram import SECRET_HEADER, TelegramAdapter
from bot.app import Core, build_core
from bot.core import Command, Outgoing, VirtualClock
from bot.logs import JsonFormatter, RedactSecrets, setup_logging
from bot.settings import Settings
from bot.web import bound_port, build_web_app, serve
from kpi.db import upgrade
from kpi.errors import StorageError
from tests.fakes.slack_api import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, FakeSlack
from tests.fakes.telegram_api import TOKEN, FakeTelegram
from tests.test_slack import NOW, Bot, VirtualTime, slack_settings
from tests.test_slack_socket_mode import slash_envelope
from tests.test_telegram import GROUP, MEMBER, make_settings, running

# Built by concatenation so that no source line shown in a traceback carries a whole secret.
DB_PASSWORD = "pg-" + "Pa55word-in-the-url"
UNREACHABLE_DB = "postgresql://kpibot:" + DB_PASSWORD + "@127.0.0.1:9/kpibot"
WEBHOOK_SECRET = "tg-" + "Webhook_Secret-42"
REFUSED_SLACK_TOKEN = "xoxb-" + "refused-0000-token"
REFUSED_TELEGRAM_TOKEN = "999999:" + "REFUSED-telegram-token"

SECRETS = {
    "Slack bot token": BOT_TOKEN,
    "Slack app token": APP_TOKEN,
    "Slack signing secret": SIGNING_SECRET,
    "Telegram bot token": TOKEN,
    "Telegram token's secret part": TOKEN.split(":", 1)[1],
    "Telegram webhook secret": WEBHOOK_SECRET,
    "database password": DB_PASSWORD,
    "refused Slack token": REFUSED_SLACK_TOKEN,
    "refused Telegram token's secret part": REFUSED_TELEGRAM_TOKEN.split(":", 1)[1],
}

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}


def production_settings(**overrides: Any) -> Settings:
    """One Settings holding every secret, as a deployment running both platforms would."""
    values: dict[str, Any] = {
        "database_url": UNREACHABLE_DB,
        "log_level": "DEBUG",
        "slack_bot_token": SecretStr(BOT_TOKEN),
        "slack_app_token": SecretStr(APP_TOKEN),
        "slack_signing_secret": SecretStr(SIGNING_SECRET),
        "telegram_bot_token": SecretStr(TOKEN),
        "telegram_webhook_secret": SecretStr(WEBHOOK_SECRET),
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


# ------------------------------------------------------------------------------ capture


class RawRecords(logging.Handler):
    """Every record as it was emitted: message, arguments, exception, stack, extra fields.

    It sits first on the root logger, so it sees each record before kpibot's handler (whose
    filter rewrites records in place): a secret here was put into a record by someone."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        parts = [record.name, str(record.msg), repr(record.args)]
        try:
            parts.append(record.getMessage())
        except (TypeError, ValueError) as exc:  # a broken format is not our concern here
            parts.append(repr(exc))
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
        parts += [record.exc_text or "", record.stack_info or ""]
        parts += [f"{k}={v!r}" for k, v in record.__dict__.items() if k not in _STANDARD]
        self.texts.append(" | ".join(parts))


@dataclass
class Logs:
    """What was logged during a test, raw and as written, and every reply text seen."""

    raw: RawRecords
    written: dict[str, io.StringIO]
    """kpibot's log output by format (``text``, ``json``)."""
    caplog: pytest.LogCaptureFixture
    replies: list[str] = field(default_factory=list)

    def assert_no_secret(self) -> None:
        haystacks = {
            "a log record": self.raw.texts,
            "the log output": [buffer.getvalue() for buffer in self.written.values()],
            "caplog": [self.caplog.text, *(r.getMessage() for r in self.caplog.records)],
            "a reply": self.replies,
        }
        assert self.raw.texts, "nothing was logged: the capture is broken"
        assert all(buffer.getvalue() for buffer in self.written.values()), "no output"
        for where, texts in haystacks.items():
            for text in texts:
                for name, secret in SECRETS.items():
                    assert secret not in text, f"the {name} is in {where}: {text[:2000]}"


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[Logs]:
    """kpibot's logging as ``setup_logging`` builds it at DEBUG, once per format, each writing
    to a buffer; the raw capture first on the root logger; pytest's caplog at DEBUG too.
    Everything is restored afterwards.

    The JSON handler runs before the text one: each handler's filter cleans the record in
    place, so the first formatter to run is the one that could be handed an uncleaned part."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    caplog.set_level(logging.DEBUG)
    written: dict[str, io.StringIO] = {}
    handlers: list[logging.Handler] = []
    for log_format in ("json", "text"):
        setup_logging(production_settings(log_format=log_format))
        [handler] = root.handlers
        assert isinstance(handler, logging.StreamHandler)
        written[log_format] = io.StringIO()
        handler.setStream(written[log_format])
        handlers.append(handler)
    raw = RawRecords()
    root.handlers[:] = [raw, *handlers, caplog.handler]
    try:
        yield Logs(raw, written, caplog)
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


def slack_texts(fake: FakeSlack) -> list[str]:
    """Every text and block the fake Slack received from the bot."""
    return [
        repr(c.params)
        for c in fake.calls
        if c.method in ("chat.postMessage", "response_url", "files.completeUploadExternal")
    ]


def telegram_texts(tg: FakeTelegram) -> list[str]:
    return [repr(c.params) for c in tg.calls if c.method.startswith("send")]


# ------------------------------------------------------------------------------ Slack


async def test_slack_flows_leak_no_secret(logs: Logs, bot: Bot, tmp_path: Path) -> None:
    """Slash commands answered (one through a 429 on response_url), an event answered
    through a 429 on chat.postMessage, a forged request, a bot token Slack refuses, and
    Socket Mode connected with the app token: no secret anywhere."""
    assert (await bot.command("/report", "gmv 12000")).status == 200
    bot.fake.fail("response_url", status=429, retry_after=1)
    assert (await bot.command("/kpi", "", hook="kpi")).status == 200
    bot.fake.fail("chat.postMessage", status=429, retry_after=1)
    assert (await bot.mention("<@UBOT> report orders 340", event_id="EvSecret1")).status == 200
    assert (await bot.command("/fee", "", secret="forged-" + SIGNING_SECRET)).status == 401
    await bot.adapter.drain()
    assert len(await bot.entries()) == 2

    refused_settings = slack_settings(tmp_path, bot.fake)
    refused_settings.slack_bot_token = SecretStr(REFUSED_SLACK_TOKEN)
    refused = SlackAdapter(bot.core, refused_settings, jitter=lambda: 0.0)
    try:
        delivered = await refused.port.send(Outgoing(to="slack:C0AGENCY", text="recap"))
        assert (delivered.ok, delivered.error) == (False, "invalid_auth")
        logs.replies.append(str(delivered))
    finally:
        await refused.stop()

    socket_settings = slack_settings(tmp_path, bot.fake, slack_app_token=APP_TOKEN)
    socket = SlackAdapter(bot.core, socket_settings, jitter=lambda: 0.0)
    try:
        await socket.start_socket_mode()
        await bot.fake.wait_connected()
        envelope = slash_envelope("env-secret", "refunds 10", bot.fake.response_url("sm"))
        await bot.fake.send_envelope(envelope)
        await bot.fake.wait_ack("env-secret")
        await socket.drain()
    finally:
        await socket.stop()

    logs.replies += slack_texts(bot.fake)
    assert any("Saved" in text for text in logs.replies)
    assert any("request refused: slack bad signature" in text for text in logs.raw.texts)
    assert any("invalid_auth" in text for text in logs.raw.texts)
    logs.assert_no_secret()


async def test_slack_with_an_unreachable_database_leaks_no_password(
    logs: Logs, fake: FakeSlack, tmp_path: Path
) -> None:
    """A Slack command while the database (with a password in its URL) is unreachable: the
    person is told it was not saved; the failure is logged with its traceback; no password."""
    settings = slack_settings(tmp_path, fake)
    settings.database_url = UNREACHABLE_DB
    core = await build_core(settings, clock=VirtualClock(NOW), migrate=False)
    vtime = VirtualTime(fake)
    adapter = SlackAdapter(
        core, settings, monotonic=vtime.monotonic, sleep=vtime.sleep, jitter=lambda: 0.0
    )
    core.add_port(adapter.port)
    runner = await serve(build_web_app(adapter.web_routes()), "127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as http:
            bot = Bot(fake, core, adapter, f"http://127.0.0.1:{bound_port(runner)}/slack/events",
                      http, vtime)  # fmt: skip
            assert (await bot.command("/report", "gmv 12000")).status == 200
            await adapter.drain()
    finally:
        await runner.cleanup()
        await adapter.stop()
        await core.aclose()
    logs.replies += slack_texts(fake)
    assert any("Not saved" in text for text in logs.replies)
    assert any("storage failure" in text for text in logs.raw.texts)
    logs.assert_no_secret()


# ------------------------------------------------------------------------------ Telegram


async def test_telegram_flows_leak_no_secret(
    logs: Logs, tg: FakeTelegram, core: Core, settings: Settings, database_url: str
) -> None:
    """Polling: a report answered through a 429, getUpdates failing once; webhook mode set
    with its secret, a request with a wrong secret refused, a right one answered; a token
    the Bot API refuses: no secret anywhere (httpx logs every URL, and URLs hold the token)."""
    async with running(core, settings):
        tg.fail_next("sendMessage", status=429, retry_after=1)
        tg.push_message(GROUP, "/report gmv 12000", user_id=MEMBER)
        await tg.wait_for(lambda: len(tg.sent(GROUP)) == 1)
        tg.fail_next("getUpdates", status=502, description="Bad Gateway")
        await tg.wait_for(lambda: 502 in [c.status for c in tg.calls_to("getUpdates")])
        tg.push_message(GROUP, "/kpi", user_id=MEMBER)
        await tg.wait_for(lambda: len(tg.sent(GROUP)) == 2)

    webhook_settings = make_settings(
        tg,
        database_url,
        telegram_webhook_url="https://kpibot.example.com/telegram/webhook",
        telegram_webhook_secret=SecretStr(WEBHOOK_SECRET),
    )
    async with running(core, webhook_settings) as adapter:
        runner = await serve(build_web_app(adapter.web_routes()), "127.0.0.1", 0)
        url = f"http://127.0.0.1:{bound_port(runner)}/telegram/webhook"
        try:
            async with aiohttp.ClientSession() as http:
                for secret, status in (("guess", 403), (WEBHOOK_SECRET, 200)):
                    update = tg.message_update(GROUP, "/fee", user_id=MEMBER)
                    headers = {SECRET_HEADER: secret}
                    async with http.post(url, json=update, headers=headers) as response:
                        assert response.status == status
        finally:
            await runner.cleanup()

    refused = TelegramAdapter(
        core, make_settings(tg, database_url, telegram_bot_token=SecretStr(REFUSED_TELEGRAM_TOKEN))
    )
    with pytest.raises(RuntimeError) as caught:
        await refused.start()
    logs.replies.append(str(caught.value))

    logs.replies += telegram_texts(tg)
    assert len(tg.sent(GROUP)) == 3
    # The sends were logged (the method name in any case: the Bot API's are case-insensitive).
    assert any("sendmessage" in text.lower() for text in logs.raw.texts)
    assert any("request refused: telegram bad secret" in text for text in logs.raw.texts)
    logs.assert_no_secret()


# ------------------------------------------------------------------------------ the database


async def test_unreachable_database_leaks_no_password(logs: Logs) -> None:
    """Migrating and handling a command against a database that cannot be reached, its URL
    holding a password: the error, its traceback, the log and the reply say nothing of it."""
    with pytest.raises(StorageError) as caught:
        await upgrade(UNREACHABLE_DB)
    logging.getLogger("kpibot").error("migration failed", exc_info=caught.value)
    logs.replies += [str(caught.value), repr(caught.value)]

    core = await build_core(
        production_settings(), clock=VirtualClock(NOW), migrate=False
    )  # fmt: skip
    try:
        replies = await core.handle(
            Command(chat="telegram:-1", user="telegram:1", text="/kpi", at=NOW, message_id="db")
        )
    finally:
        await core.aclose()
    logs.replies += [r.text for r in replies]
    assert "Not saved" in replies[0].text
    assert any("storage failure" in text for text in logs.raw.texts)
    logs.assert_no_secret()


# ------------------------------------------------------------------------------ the filter


def test_a_secret_that_reaches_a_record_is_redacted_in_every_part(logs: Logs) -> None:
    """Defence in depth: should a library ever put a secret into a record — message,
    arguments, an extra field of any type, an exception's text — kpibot's handler still
    writes ``***``, in the text and in the JSON format.
    (Only the written output is checked here: the raw record holds the secret on purpose.)"""
    log = logging.getLogger("kpibot.test")
    try:
        raise RuntimeError(f"connect failed for {UNREACHABLE_DB}")
    except RuntimeError:
        log.exception(
            "login with %s failed", BOT_TOKEN, extra={"url": f"/bot{TOKEN}/getMe", "n": 3}
        )
    log.warning("detail", extra={"detail": {"secret_token": WEBHOOK_SECRET}})
    for log_format, buffer in logs.written.items():
        written = buffer.getvalue()
        assert "login with *** failed" in written, log_format
        assert "/bot***/getMe" in written and "secret_token" in written, log_format
        for name, secret in SECRETS.items():
            assert secret not in written, f"the {name} was written as {log_format}: {written}"


def test_json_formatter_writes_the_redacted_exception() -> None:
    """The JSON format writes the exception text the filter cleaned, not a fresh raw one."""
    record = logging.LogRecord("kpibot", logging.ERROR, __file__, 1, "boom", None, None)
    try:
        raise RuntimeError(DB_PASSWORD)
    except RuntimeError as exc:
        record.exc_info = (type(exc), exc, exc.__traceback__)
    RedactSecrets([DB_PASSWORD]).filter(record)
    assert DB_PASSWORD not in JsonFormatter().format(record)


# ------------------------------------------------------------------------------ settings


def test_settings_repr_hides_every_secret() -> None:
    """``repr``/``str`` of the settings (what a careless ``log.debug(settings)`` writes)."""
    settings = production_settings()
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        for name, secret in SECRETS.items():
            assert secret not in text, f"the {name} is in {text}"


def test_settings_repr_hides_the_tokens_and_secrets() -> None:
    """The ``SecretStr`` fields are masked in every rendering (this part holds today)."""
    settings = production_settings(database_url="sqlite:///./data/kpibot.db")
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        for name, secret in SECRETS.items():
            assert secret not in text, f"the {name} is in {text}"
