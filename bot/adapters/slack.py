"""The Slack adapter: slack-bolt's AsyncApp in, core commands through, slack_sdk Web API out."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
from cachetools import TTLCache
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import parse_body
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.adapters.common import answer, guess_locale, send_replies
from bot.core import (
    Attachment,
    Command,
    Delivered,
    Outgoing,
    PortLimits,
    native_id,
    platform_of,
)
from bot.core.i18n import t
from bot.core.ports import AdapterCore
from bot.web import BodyRefused, RateLimitedWarning, read_body

if TYPE_CHECKING:
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
    from slack_sdk.http_retry.request import HttpRequest
    from slack_sdk.http_retry.response import HttpResponse
    from slack_sdk.http_retry.state import RetryState

    from bot.settings import Settings

log = logging.getLogger("kpibot.slack")

PLATFORM = "slack"
COMMANDS: tuple[str, ...] = (
    "report",
    "kpi",
    "fee",
    "whatif",
    "history",
    "confirm",
    "dispute",
    "statement",
    "ack",
    "escalations",
    "whoami",
    "link",
    "unlink",
    "dashboard",
    "export",
    "kpibot",
)
"""The slash commands the manifest declares (without the slash): every command ``/help``
lists, and the ``/kpibot`` umbrella for the rest (``/kpibot help``)."""

EVENTS_PATH = "/slack/events"
MAX_BODY = 512 * 1024
"""The largest body ``/slack/events`` reads (Slack's own payloads are far smaller)."""
MAX_AGE = 5 * 60
"""How far (seconds) a request's signed timestamp may be from now, either way (Slack's rule)."""
_TIMESTAMP = re.compile(r"[0-9]{1,12}")

Sleep = Callable[[float], Awaitable[None]]
Monotonic = Callable[[], float]

# Block Kit limits (https://docs.slack.dev/reference/block-kit/blocks): a header's text is at
# most 150 characters, a section's 3,000, and a message carries at most 50 blocks.
_HEADER_MAX = 150
_SECTION_MAX = 3000
_BLOCKS_MAX = 50

# Slack's encoded entities in incoming text: <@U123>, <@U123|name>, <#C123|name>, <!here>,
# <https://x|label>.
_ENTITY = re.compile(r"<([^<>]*)>")
# A user mention at the very start (``<@U123ABC>report``, ``<@U123ABC|name>: report``): it is
# followed by a space, so that it reads as the neutral ``@U123ABC report`` the core parses.
_LEADING_USER = re.compile(r"^(\s*<@[A-Za-z0-9]+(?:\|[^<>]*)?>[:,]?)(?=[^\s:,])")


# -- text in and out ---------------------------------------------------------------------------


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters.

    With ``<`` and ``>`` escaped, a user's ``<!channel>`` or ``<@U123>`` shows as text and
    pings nobody; ``&`` is escaped first so that an existing ``&lt;`` stays literal."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plain_text(text: str, bot_user: str | None = None) -> str:
    """Slack's encoded message text as the person typed it.

    Mentions of the bot disappear (``<@UBOT> report gmv 1`` → ``report gmv 1``), other users
    become ``@U123`` (the neutral mention the core reads: ``<@U123|name> kpi`` → ``@U123 kpi``),
    channels ``#name``, links their label, and ``&amp; &lt; &gt;`` are decoded.
    """

    def entity(match: re.Match[str]) -> str:
        target, _, label = match.group(1).partition("|")
        if target.startswith("@"):
            if bot_user is not None and target[1:] == bot_user:
                return ""
            return target
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!"):
            return label or "@" + target[1:].split("^", 1)[0]
        return label or target

    decoded = _ENTITY.sub(entity, _LEADING_USER.sub(r"\1 ", text, count=1))
    decoded = decoded.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return " ".join(decoded.split())


def slash_text(command: str, text: str) -> str:
    """The core's command text for a slash command.

    ``/report`` + ``gmv 12000`` → ``/report gmv 12000``; ``/kpibot`` is an umbrella whose first
    word is the command: ``/kpibot link #deal seller`` → ``/link #deal seller``, and a bare
    ``/kpibot`` → ``/help``. (The umbrella also helps workspaces where another app already owns
    ``/report``: ``/kpibot report gmv 12000`` works the same.)"""
    body = plain_text(text)
    if command.lstrip("/") == "kpibot":
        return "/" + body if body else "/help"
    return f"{command} {body}".strip()


def mention_text(text: str, bot_user: str | None) -> str:
    """The core's command text for an ``app_mention``: the mention of the bot removed and the
    rest read as a command (``<@UBOT> report gmv 12000`` → ``/report gmv 12000``; a bare
    mention → ``/help``)."""
    body = plain_text(text, bot_user)
    if not body:
        return "/help"
    return body if body.startswith(("/", "／")) else "/" + body


def slash_message_id(*, team: str, trigger_id: str, fallback: str) -> str:
    """A stable id for one slash-command invocation: ``slash:<team>:<trigger_id>``.

    Slack never retries a slash command, so every request is a command of its own: typing
    ``/report gmv 12000`` again (after ``/report gmv 13000``, say) must be stored again, never
    answered "Already recorded". ``trigger_id`` is unique per invocation, and it is in the
    signed request, so every replica derives the same key. A double submit gets two keys and
    is still harmless: the core stores nothing for a figure already on record. ``fallback``
    (a digest of the whole signed payload) serves a payload without a ``trigger_id``."""
    return f"slash:{team}:{trigger_id or fallback}"


def _chunks(text: str, size: int) -> Iterator[str]:
    """``text`` cut at line breaks into pieces of at most ``size`` characters."""
    piece = ""
    for line in text.split("\n"):
        while len(line) > size:
            if piece:
                yield piece
                piece = ""
            yield line[:size]
            line = line[size:]
        candidate = f"{piece}\n{line}" if piece else line
        if len(candidate) > size:
            yield piece
            piece = line
        else:
            piece = candidate
    if piece:
        yield piece


def mention_line(mentions: Sequence[str]) -> str:
    """``<@U1> <@U2>`` for the Slack people among ``mentions`` (``slack:U1`` identities)."""
    ids = [native_id(m) for m in mentions if platform_of(m) == PLATFORM]
    return " ".join(f"<@{uid}>" for uid in ids if re.fullmatch(r"[UW][A-Z0-9]+", uid))


def render_text(msg: Outgoing) -> str:
    """The mrkdwn ``text`` of a message: escaped text, led by the mentions."""
    mentions = mention_line(msg.mentions)
    body = escape_mrkdwn(msg.text)
    return f"{mentions} {body}" if mentions else body


def render_blocks(msg: Outgoing) -> list[dict[str, Any]] | None:
    """Block Kit for ``msg.rich`` (a :class:`bot.core.rich.Rich`: title, sections, footer).

    Every string is the core's plain text, escaped here. ``None`` when there is nothing rich.
    """
    rich = msg.rich
    if rich is None:
        return None
    blocks: list[dict[str, Any]] = []
    mentions = mention_line(msg.mentions)
    if mentions:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": mentions}})
    title = rich.title.strip()
    if title:
        # plain_text is never parsed for mentions, so it needs no escaping, only the limit.
        header = title if len(title) <= _HEADER_MAX else title[: _HEADER_MAX - 1] + "…"
        blocks.append({"type": "header", "text": {"type": "plain_text", "text": header}})
    for section in rich.sections:
        head = (section.title or "").strip()
        lines = [escape_mrkdwn(line) for line in section.lines]
        text = "\n".join(([f"*{escape_mrkdwn(head)}*"] if head else []) + lines)
        blocks.extend(
            {"type": "section", "text": {"type": "mrkdwn", "text": chunk}}
            for chunk in _chunks(text, _SECTION_MAX)
            if chunk.strip()
        )
    footer = rich.footer.strip()
    if footer:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": escape_mrkdwn(footer)[:_SECTION_MAX]}],
            }
        )
    if len(blocks) > _BLOCKS_MAX:
        # The text fallback stays whole; the blocks say where the rest is.
        blocks = blocks[: _BLOCKS_MAX - 1]
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "…"}]})
    return blocks or None


# -- verification ------------------------------------------------------------------------------


def check_timestamp(timestamp: str, now: float) -> str | None:
    """Why ``X-Slack-Request-Timestamp`` is refused, or ``None`` when it is fresh.

    Only 1 to 12 ASCII digits are a timestamp: ``str.isdigit`` also accepts ``²`` and ``int``
    accepts 5,000 digits, and each of those used to end in a 500 with a traceback."""
    if not _TIMESTAMP.fullmatch(timestamp):
        return "bad timestamp"
    if abs(now - int(timestamp)) > MAX_AGE:
        return "stale timestamp"
    return None


def check_signature(secret: bytes, timestamp: str, signature: str, body: bytes) -> str | None:
    """Why ``X-Slack-Signature`` is refused for the raw ``body``, or ``None`` when it matches.

    The HMAC is computed over the bytes as received: slack_sdk's ``SignatureVerifier`` decodes
    them as UTF-8 first, which raises on a body that is not, before anything is verified."""
    base = b"v0:" + timestamp.encode("ascii") + b":" + body
    expected = b"v0=" + hmac.new(secret, base, hashlib.sha256).hexdigest().encode("ascii")
    given = signature.encode("utf-8", "surrogateescape")
    return None if hmac.compare_digest(expected, given) else "bad signature"


def parse_signed(body: bytes, content_type: str) -> dict[str, Any] | None:
    """A signed body as bolt will read it, or ``None`` when it is malformed (answered 400).

    bolt's own parser is used, so what passes here is exactly what bolt gets; anything it
    would raise on, or read as something other than an object, is refused here instead."""
    try:
        parsed = parse_body(body.decode("utf-8"), content_type or None)
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(parsed, dict):
        return None
    if not all(isinstance(parsed.get(key, {}), dict) for key in ("event", "team", "user")):
        return None
    return parsed


class ShortLines(logging.Filter):
    """Keeps bolt's log records to one short line: control characters escaped, cut at 300.

    bolt puts request bodies into some messages (unhandled requests, missing acks); a body is
    what the sender chose, so it must neither fill the log nor start a forged line."""

    LIMIT = 300

    def filter(self, record: logging.LogRecord) -> bool:
        message = repr(record.getMessage())[1:-1]
        if len(message) > self.LIMIT:
            message = message[: self.LIMIT] + "…"
        record.msg, record.args = message, None
        return True


_SHORT_LINES = ShortLines()
_BOLT_LOGGER = "kpibot.slack.bolt"


def _sdk_logger(name: str) -> logging.Logger:
    """A logger for bolt or slack_sdk, at ``kpibot.slack``'s level unless one is set for it.

    Both test ``logger.level <= DEBUG`` before composing their debug lines (every request's
    headers and body, every listener checked); a logger left at ``NOTSET`` (0) passes that
    test, so they composed each line only for logging to drop it. With an explicit level
    they compose nothing unless DEBUG is asked for (``kpibot.slack`` at DEBUG, or this
    logger's own level)."""
    logger = logging.getLogger(name)
    if logger.level == logging.NOTSET:
        logger.setLevel(log.getEffectiveLevel())
    return logger


def _bolt_logger() -> logging.Logger:
    """bolt's base logger, with :class:`ShortLines`; bolt copies its filters (and its level)
    to the loggers of its middlewares, so this must run before the ``AsyncApp`` is built."""
    logger = _sdk_logger(_BOLT_LOGGER)
    if _SHORT_LINES not in logger.filters:
        logger.addFilter(_SHORT_LINES)
    return logger


def _locale_of(body: dict[str, Any]) -> str:
    """Chinese when the person wrote Chinese (the deal's language is not known yet)."""
    return guess_locale(str(body.get("text") or ""))


def _ephemeral(text: str) -> BoltResponse:
    """An acknowledgement that shows ``text`` to the person who typed the command only."""
    body = json.dumps({"response_type": "ephemeral", "text": text}, ensure_ascii=False)
    return BoltResponse(status=200, body=body, headers={"content-type": "application/json"})


# -- rate limits -------------------------------------------------------------------------------


def _retry_after(response: HttpResponse) -> float:
    for name, values in response.headers.items():
        if name.lower() == "retry-after" and values:
            with contextlib.suppress(ValueError):
                return max(0.0, float(values[0]))
    return 1.0


class RetryAfterHandler(AsyncRateLimitErrorRetryHandler):
    """slack_sdk's 429 handler (retry after ``Retry-After``), with its sleep passed in.

    The only change from the SDK's handler is that the wait goes through ``sleep`` (a virtual
    one in tests) and the jitter through ``jitter``; the SDK's own adds up to one second of
    random jitter too, which spreads replicas that were throttled together."""

    def __init__(
        self,
        max_retry_count: int = 3,
        *,
        sleep: Sleep = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self._sleep = sleep
        self._jitter = jitter

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is None:
            raise error or RuntimeError("retry without a response")
        state.next_attempt_requested = True
        wait = _retry_after(response) + self._jitter()
        log.warning("slack rate limited; retrying in %.1fs", wait, extra={"url": request.url})
        await self._sleep(wait)
        state.increment_current_attempt()


class ChannelPacer:
    """Keeps at least ``interval`` seconds between the starts of posts to one channel.

    Slack allows about one message per second per channel (bursts are tolerated briefly, then
    429). Senders to one channel queue in arrival order (``asyncio.Lock`` is fair); the next
    start is counted from the previous one's actual start, so a late wake-up on a busy event
    loop never lets two posts bunch up. Different channels never wait for each other."""

    def __init__(
        self,
        interval: float = 1.0,
        *,
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.interval = interval
        self._monotonic = monotonic
        self._sleep = sleep
        self._last: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def wait(self, channel: str) -> None:
        """Return when a post to ``channel`` may start (the caller posts right away)."""
        lock = self._locks.setdefault(channel, asyncio.Lock())
        async with lock:
            last = self._last.get(channel)
            if last is not None:
                due = last + self.interval
                now = self._monotonic()
                if due > now:
                    await self._sleep(due - now)
                # max(): a timer may fire a hair early; the record must not be earlier than due.
                self._last[channel] = max(self._monotonic(), due)
            else:
                self._last[channel] = self._monotonic()
        if len(self._last) > 10_000:
            self._forget_idle()

    def _forget_idle(self) -> None:
        """Drop channels that would not wait anyway, so the maps do not grow without end."""
        now = self._monotonic()
        for channel, last in list(self._last.items()):
            lock = self._locks.get(channel)
            if last + self.interval <= now and (lock is None or not lock.locked()):
                del self._last[channel]
                self._locks.pop(channel, None)


# -- the delivery port -------------------------------------------------------------------------


DM_REFUSALS = frozenset(
    {
        # conversations.open
        "cannot_dm_bot",
        "user_not_found",
        "user_not_visible",
        "user_disabled",
        "channel_not_found",
        "restricted_action",
        # chat.postMessage to the direct-message channel
        "not_in_channel",
        "is_archived",
        "messages_tab_disabled",
    }
)
"""Slack's answers that mean a person cannot be sent a direct message (deactivated, a bot, not
visible to the app, DMs to the app turned off...). ``send`` reports them for ``dm:`` addresses
as ``error="dm_refused"``, as the Telegram port does, so that the scheduler posts its note in
the deal's group instead of retrying."""


LIMITS = PortLimits(per_chat_per_second=1.0, paces_itself=True)
"""Slack's limit for chat.postMessage: about one message a second in one channel. The port keeps
it itself (:class:`ChannelPacer`), so the scheduler's pacer passes its sends through."""


class SlackPort:
    """The ``DeliveryPort`` for Slack: chat.postMessage, files_upload_v2, conversations.open."""

    platform = PLATFORM
    limits = LIMITS

    mention = "/kpibot"
    """How a channel addresses the bot before a command word: the umbrella command."""

    def __init__(self, client: AsyncWebClient, pacer: ChannelPacer) -> None:
        self.client = client
        self.pacer = pacer
        self._dm_channels: dict[str, str] = {}

    async def channel_for(self, to: str) -> str:
        """The Slack channel id for an address: ``slack:C1`` → ``C1``; ``dm:slack:U1`` → the
        direct-message channel opened (once, then cached) with conversations.open."""
        if to.startswith("dm:"):
            person = to[3:]
            if platform_of(person) != PLATFORM:
                raise ValueError(f"not a Slack person: {person!r}")
            user = native_id(person)
            channel = self._dm_channels.get(user)
            if channel is None:
                opened = await self.client.conversations_open(users=user)
                channel = str(opened["channel"]["id"])
                self._dm_channels[user] = channel
            return channel
        if platform_of(to) != PLATFORM:
            raise ValueError(f"not a Slack chat: {to!r}")
        return native_id(to)

    async def send(self, message: Outgoing) -> Delivered:
        """Post ``message``: Block Kit when it is rich (always with the text fallback), then its
        files through the three-step upload. Never raises for Slack's refusals.

        Returns:
            ``Delivered(ok=True, message_id="<channel>:<ts>")``, or ``ok=False`` with Slack's
            error code; for a direct message Slack refuses (:data:`DM_REFUSALS`), the error is
            ``dm_refused``.
        """
        posted_text = False
        try:
            channel = await self.channel_for(message.to)
            await self.pacer.wait(channel)
            posted = await self.client.chat_postMessage(
                channel=channel,
                text=render_text(message),
                blocks=render_blocks(message),
                unfurl_links=False,
                unfurl_media=False,
            )
            posted_text = True
            message_id = f"{posted.get('channel', channel)}:{posted.get('ts')}"
            if message.files:
                await self.pacer.wait(channel)
                await self.client.files_upload_v2(
                    channel=channel,
                    file_uploads=[
                        {
                            "file": f.content,
                            "filename": f.filename,
                            "title": f.title or f.filename,
                        }
                        for f in message.files
                    ],
                )
            return Delivered(ok=True, message_id=message_id)
        except SlackApiError as exc:
            error = str(exc.response.get("error") or exc.response.status_code)
            log.warning("slack refused a message", extra={"to": message.to, "error": error})
            if message.to.startswith("dm:") and not posted_text and error in DM_REFUSALS:
                # A cached DM channel may be what went stale: open it afresh next time.
                self._dm_channels.pop(native_id(message.to[3:]), None)
                return Delivered(ok=False, error="dm_refused")
            return Delivered(ok=False, error=error)
        except (SlackClientError, aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("slack delivery failed", extra={"to": message.to, "error": repr(exc)})
            return Delivered(ok=False, error=type(exc).__name__)


class SameWorkspace(AsyncMiddleware):
    """bolt middleware: only the workspace (and Enterprise Grid org) this app is installed in
    may use it. bolt's authorization ran ``auth.test`` (once, cached) before this, so
    ``authorize_result`` says where the token belongs; the request says where it is from. A
    user id from another workspace must not pass for an admin with the same id.

    A class rather than a function: bolt calls a function middleware with arguments it
    matches by name on every request; this one it calls directly."""

    def __init__(self, refused: Callable[[str], None]) -> None:
        self._refused = refused

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],  # bolt's name for it
    ) -> BoltResponse | None:
        """Pass the request on, or answer it here when it comes from another workspace."""
        context = req.context
        installed = context.authorize_result
        if installed is None or (
            (installed.enterprise_id or None) == (context.enterprise_id or None)
            and (installed.team_id is None or installed.team_id == context.team_id)
        ):
            return await next()
        self._refused("slack other workspace")
        if req.body.get("command"):
            return _ephemeral(t("hardening.other_workspace", _locale_of(req.body)))
        return BoltResponse(status=200, body="")


# -- the adapter -------------------------------------------------------------------------------


class SlackAdapter:
    """Slack in and out. Build it inside the running event loop (it opens an HTTP session).

    The wiring registers ``port`` with the core (``core.add_port``). The adapter listens for
    the slash commands in ``COMMANDS`` and ``app_mention`` events, acknowledges at once, and
    hands each command to ``core.handle`` in a background task whose answers go back through
    the command's ``response_url`` or the port.

    Args:
        core: The running core (``bot.app.Core``).
        settings: ``SLACK_BOT_TOKEN`` is required; ``SLACK_SIGNING_SECRET`` for HTTP mode,
            ``SLACK_APP_TOKEN`` for Socket Mode; ``SLACK_API_URL`` is the Web API base.
        monotonic: The clock of the channel pacer and the name cache (tests: a virtual one).
        sleep: How the pacer and the 429 handler wait (tests: a virtual one).
        jitter: Extra seconds added to each ``Retry-After`` wait.
        post_interval: Least seconds between two posts to one channel.
        name_ttl: Seconds a display name from users.info is reused.
        max_concurrent: Commands handled at the same time; the rest wait in order.
        max_pending: Commands acknowledged but not yet answered; past it, a command is told
            "busy, try again" and an event is answered 503 (Slack retries it later).
        wall: Seconds since the epoch, for the 5-minute window of signed timestamps.
    """

    def __init__(
        self,
        core: AdapterCore,
        settings: Settings,
        *,
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
        post_interval: float = 1.0,
        name_ttl: float = 3600.0,
        max_concurrent: int = 16,
        max_pending: int = 2000,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if settings.slack_bot_token is None:
            raise ValueError("SLACK_BOT_TOKEN is not set")
        self.core = core
        self.settings = settings
        self._monotonic = monotonic
        self._wall = wall
        # Bounded both ways: 10,000 people at most, each for name_ttl seconds.
        self._names: TTLCache[str, str] = TTLCache(10_000, name_ttl, timer=monotonic)
        self._tasks: set[asyncio.Task[None]] = set()
        self._max_pending = max_pending
        self._refused = RateLimitedWarning(log)
        # Commands are acknowledged at once but handled at most ``max_concurrent`` at a time:
        # a burst then queues here, in order, instead of as hundreds of writers contending
        # for the database (SQLite has one writer; a queue there ends in "database is locked").
        self._slots = asyncio.Semaphore(max_concurrent)
        self._socket: AsyncSocketModeHandler | None = None
        # One pooled session for every Web API call: a new session per call (the SDK's
        # default) costs a TCP and TLS handshake each time.
        self._session = aiohttp.ClientSession()
        self._retry_handlers: list[AsyncRetryHandler] = [
            AsyncConnectionErrorRetryHandler(),
            RetryAfterHandler(sleep=sleep, jitter=jitter),
        ]
        self._sdk_log = _sdk_logger("kpibot.slack.sdk")
        self.client = AsyncWebClient(
            token=settings.slack_bot_token.get_secret_value(),
            base_url=settings.slack_api_url,
            session=self._session,
            retry_handlers=self._retry_handlers,
            logger=self._sdk_log,
        )
        secret = settings.slack_signing_secret
        self._secret = secret.get_secret_value().encode() if secret is not None else b""
        self.app = self._bolt_app()
        self.port = SlackPort(
            self.client, ChannelPacer(post_interval, monotonic=monotonic, sleep=sleep)
        )

    def _bolt_app(self) -> AsyncApp:
        app = AsyncApp(
            client=self.client,
            signing_secret=self._secret.decode(),
            # bolt configures a logger named after the app for every request (its level and
            # filters copied from ``logger``): named "kpibot", that silenced the bot's own
            # INFO command log whenever Slack was on. The name of bolt's own logger is safe.
            name=_BOLT_LOGGER,
            logger=_bolt_logger(),
            # handle_http verifies the raw bytes before bolt sees them; bolt's verifier would
            # log a refused body whole, and Socket Mode has no signatures.
            request_verification_enabled=False,
            # The listeners only acknowledge and start the command's task, so bolt may run
            # them before it answers Slack. Otherwise bolt runs each in a task of its own and
            # polls every 10 ms for its ack(): that poll was most of the time to acknowledge.
            process_before_response=True,
        )
        app.middleware(SameWorkspace(self._refused))
        for name in COMMANDS:
            app.command("/" + name)(self._on_command)
        app.event("app_mention")(self._on_mention)
        # A file shared with "/import" as its message (issue 15); other messages are ignored.
        app.event({"type": "message", "subtype": "file_share"})(self._on_file_share)
        return app

    # -- running ---------------------------------------------------------------------------

    def web_routes(self) -> list[tuple[str, str, Callable[[web.Request], Awaitable[web.Response]]]]:
        """``/slack/events`` for ``bot.web.build_web_app`` (Events API and slash commands).

        Raises:
            ValueError: ``SLACK_SIGNING_SECRET`` is not set, or blank (``SLACK_SIGNING_SECRET=``
                copied from ``.env.example``): no request could be verified, so HTTP mode
                cannot work.
        """
        secret = self.settings.slack_signing_secret
        if secret is None or not secret.get_secret_value().strip():
            raise ValueError("SLACK_SIGNING_SECRET is required for the Slack HTTP endpoint")
        return [("POST", EVENTS_PATH, self.handle_http)]

    async def handle_http(self, request: web.Request) -> web.Response:
        """One Slack HTTP request: verified on its raw bytes, then parsed, then given to bolt.

        Nothing of an unverified request is decoded, parsed or logged: it gets 401 (413 when
        too large, 408 when too slow) and at most one short rate-limited WARNING line. A signed
        body that is malformed gets 400; when too many commands are pending, 503 or a "busy"
        answer (:meth:`_busy`)."""
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        reason = check_timestamp(timestamp, self._wall())
        raw = b""
        if reason is None:
            try:
                raw = await read_body(request, MAX_BODY)
            except BodyRefused as refused:
                self._refused(f"slack body {refused.reason}")
                return refused.response()
            signature = request.headers.get("X-Slack-Signature", "")
            reason = check_signature(self._secret, timestamp, signature, raw)
        if reason is not None:
            self._refused(f"slack {reason}")
            return web.Response(status=401, text="invalid request")
        body = parse_signed(raw, request.content_type)
        if body is None:
            self._refused("slack malformed signed body")
            return web.Response(status=400, text="malformed request")
        if len(self._tasks) >= self._max_pending:
            return await to_aiohttp_response(self._busy(body))
        bolt_request = AsyncBoltRequest(
            body=raw.decode("utf-8"),
            query=request.query_string,
            headers=request.headers,  # type: ignore[arg-type]
        )
        return await to_aiohttp_response(await self.app.async_dispatch(bolt_request))

    def _busy(self, body: dict[str, Any]) -> BoltResponse:
        """The answer when ``max_pending`` commands are waiting: a slash command is told to
        try again (Slack never retries one); an event gets 503 and Slack redelivers it."""
        self._refused("slack busy")
        if body.get("command"):
            return _ephemeral(t("hardening.busy", _locale_of(body)))
        return BoltResponse(status=503, body="busy", headers={"Retry-After": "60"})

    async def start_socket_mode(self) -> None:
        """Connect to Slack over Socket Mode with ``SLACK_APP_TOKEN`` and return once connected.

        Raises:
            ValueError: ``SLACK_APP_TOKEN`` is not set.
        """
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        if self.settings.slack_app_token is None:
            raise ValueError("SLACK_APP_TOKEN is not set")
        self._socket = AsyncSocketModeHandler(
            self.app,
            app_token=self.settings.slack_app_token.get_secret_value(),
            web_client=self.client,
        )
        await self._socket.connect_async()

    async def drain(self) -> None:
        """Wait until every command received so far has been answered."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self) -> None:
        """Stop receiving, finish the commands in flight, and close connections."""
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        await self.drain()
        await self._session.close()

    # -- incoming --------------------------------------------------------------------------

    async def _on_command(
        self,
        ack: Callable[..., Awaitable[Any]],
        command: dict[str, Any],
        request: AsyncBoltRequest,
    ) -> None:
        # Acknowledge first: Slack shows an error after 3 seconds, and the database may be slow.
        await ack()
        self._spawn(self._run_command(command, _request_timestamp(request)))

    async def _on_mention(
        self, body: dict[str, Any], event: dict[str, Any], context: dict[str, Any]
    ) -> None:
        # bolt acknowledges events itself before calling this listener.
        self._spawn(self._run_mention(body, event, context.get("bot_user_id")))

    async def _on_file_share(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        text = plain_text(str(event.get("text") or "")).strip()
        # Slack's composer may take a leading "/" for a slash command, so "import" works too.
        if text.casefold().startswith(("import", "导入")):
            text = "/" + text
        if not text.startswith("/") or not event.get("files"):
            return  # an ordinary file in the channel: not for the bot
        self._spawn(self._run_file_share(body, event, text))

    async def _run_file_share(self, body: dict[str, Any], event: dict[str, Any], text: str) -> None:
        channel = str(event.get("channel", ""))
        user = str(event.get("user", ""))
        files = tuple([await self._download(f) for f in event.get("files") or []])
        cmd = Command(
            chat=f"{PLATFORM}:{channel}",
            user=f"{PLATFORM}:{user}",
            text=text,
            at=self.core.clock.now(),
            name=await self.display_name(user),
            message_id=str(body.get("event_id") or f"ts:{event.get('ts')}"),
            is_direct=event.get("channel_type") == "im",
            files=files,
        )
        await self._deliver(await self._handle(cmd), cmd, None)

    async def _download(self, file: dict[str, Any]) -> Attachment:
        """A shared file's bytes, with the bot token (``files:read``). At most one byte more
        than the import limit is read: the import then refuses the file as too large."""
        assert self.settings.slack_bot_token is not None
        url = str(file.get("url_private_download") or file.get("url_private") or "")
        name = str(file.get("name") or file.get("id") or "file")
        token = self.settings.slack_bot_token.get_secret_value()
        limit = self.settings.import_max_bytes + 1
        async with self._session.get(url, headers={"Authorization": f"Bearer {token}"}) as got:
            got.raise_for_status()
            content = b""
            while len(content) < limit:
                chunk = await got.content.read(limit - len(content))
                if not chunk:
                    break
                content += chunk
        return Attachment(name, content, str(file.get("mimetype") or "application/octet-stream"))

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_command(self, command: dict[str, Any], timestamp: int | None) -> None:
        channel = str(command.get("channel_id", ""))
        user = str(command.get("user_id", ""))
        name = str(command.get("command", ""))
        raw = str(command.get("text") or "")
        if timestamp is None:
            timestamp = int(self.core.clock.now().timestamp())
        cmd = Command(
            chat=f"{PLATFORM}:{channel}",
            user=f"{PLATFORM}:{user}",
            text=slash_text(name, raw),
            at=self.core.clock.now(),
            name=await self.display_name(user),
            message_id=slash_message_id(
                team=str(command.get("team_id", "")),
                trigger_id=str(command.get("trigger_id") or ""),
                fallback=hashlib.sha256(
                    f"{channel} {user} {name} {raw} {timestamp}".encode()
                ).hexdigest()[:32],
            ),
            is_direct=channel.startswith("D") or command.get("channel_name") == "directmessage",
        )
        answers = await self._handle(cmd)
        await self._deliver(answers, cmd, str(command.get("response_url") or "") or None)

    async def _run_mention(
        self, body: dict[str, Any], event: dict[str, Any], bot_user: str | None
    ) -> None:
        channel = str(event.get("channel", ""))
        user = str(event.get("user", ""))
        cmd = Command(
            chat=f"{PLATFORM}:{channel}",
            user=f"{PLATFORM}:{user}",
            text=mention_text(str(event.get("text") or ""), bot_user),
            at=self.core.clock.now(),
            name=await self.display_name(user),
            # A retry (X-Slack-Retry-Num) carries the same event_id, so it maps to the same
            # ledger key; the event's ts is the fallback for payloads without one.
            message_id=str(body.get("event_id") or f"ts:{event.get('ts')}"),
            is_direct=event.get("channel_type") == "im",
        )
        await self._deliver(await self._handle(cmd), cmd, None)

    async def _handle(self, cmd: Command) -> list[Outgoing]:
        async with self._slots:
            return await answer(self.core.handle, cmd)

    async def _deliver(
        self, answers: list[Outgoing], cmd: Command, response_url: str | None
    ) -> None:
        async def here(msg: Outgoing) -> Delivered | None:
            if response_url is None or msg.files:
                return None
            return await self._respond(response_url, msg)

        await send_replies(
            answers,
            cmd,
            here=here,
            port=self.port,
            deliver=lambda msg: self.core.deliver(msg),
            who=lambda person: self._names.get(native_id(person)),
        )

    async def _respond(self, response_url: str, msg: Outgoing) -> Delivered | None:
        """Answer in the command's own chat through its ``response_url`` (what bolt's
        ``respond`` does, on our pooled session and 429 handling): it works where the bot is
        not a member, and it does not count against chat.postMessage limits. ``None`` when
        Slack did not take it: the port posts it instead."""
        hook = AsyncWebhookClient(
            url=response_url,
            session=self._session,
            retry_handlers=self._retry_handlers,
            logger=self._sdk_log,
        )
        try:
            sent = await hook.send(
                text=render_text(msg), blocks=render_blocks(msg), response_type="in_channel"
            )
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("response_url failed", extra={"error": repr(exc)})
            return None
        if sent.status_code != 200:
            log.warning("response_url refused", extra={"status": sent.status_code})
            return None
        return Delivered(ok=True)

    async def display_name(self, user: str) -> str:
        """The person's Slack display name from users.info, cached for ``name_ttl`` seconds.

        Empty when Slack does not say (the core then shows the identity)."""
        cached = self._names.get(user)
        if cached is not None:
            return cached
        try:
            info = await self.client.users_info(user=user)
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("users.info failed", extra={"user": user, "error": repr(exc)})
            return ""
        person = info.get("user") or {}
        profile = person.get("profile") or {}
        name = str(
            profile.get("display_name")
            or profile.get("real_name")
            or person.get("real_name")
            or person.get("name")
            or ""
        )
        self._names[user] = name
        return name


def _request_timestamp(request: AsyncBoltRequest) -> int | None:
    """Slack's signed ``X-Slack-Request-Timestamp`` (absent in Socket Mode)."""
    values = request.headers.get("x-slack-request-timestamp") or []
    try:
        return int(values[0]) if values else None
    except ValueError:
        return None
