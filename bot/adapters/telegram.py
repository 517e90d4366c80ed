"""The Telegram adapter on python-telegram-bot v22: updates in, core commands, HTML replies out."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import html
import json
import logging
import os
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Iterable, MutableMapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aiohttp import web
from cachetools import LRUCache
from telegram import BotCommand, Message, ReplyParameters, Update
from telegram.constants import ChatAction, ChatType, MessageEntityType, ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BaseRateLimiter,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.adapters.common import answer, send_replies
from bot.adapters.common import send_dm_or_report as send_dm_or_report
from bot.adapters.telegram_http import AiohttpRequest
from bot.core import Attachment, Command, Delivered, Outgoing, PortLimits, native_id, platform_of
from bot.core.i18n import t
from bot.core.ports import AdapterCore
from bot.logs import redact_loggers
from bot.web import BodyRefused, RateLimitedWarning, read_body

if TYPE_CHECKING:
    from bot.settings import Settings
    from bot.web import Route

log = logging.getLogger("kpibot.telegram")

PLATFORM = "telegram"
MESSAGE_LIMIT = 4096
"""Telegram's limit on a message's text after entity parsing, in UTF-16 code units."""
CAPTION_LIMIT = 1024
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY = 256 * 1024
"""The largest webhook body read: an update carries at most a few 4,096-character texts."""
ALLOWED_UPDATES = ("message",)
"""Only messages: commands, mentions and the migration service messages all arrive as these."""

COMMANDS = (
    "report", "kpi", "fee", "history", "confirm", "dispute", "statement", "ack", "escalations",
    "dashboard", "export", "help", "start", "whoami", "link", "unlink", "sessions", "import",
)  # fmt: skip
"""Commands the bot answers (``/cmd`` and ``/cmd@botname``); the core routes them."""

MENU = (
    "report", "kpi", "fee", "history", "confirm", "dispute", "statement", "ack", "escalations",
    "dashboard", "export", "whoami", "link",
)  # fmt: skip
"""Commands shown in Telegram's menu, described from the ``help.<command>`` catalog entries."""
MENU_LOCALES = ("en", "zh")
HELP_MENU = {"en": "All commands, with examples", "zh": "全部命令与示例"}
"""``/help`` has no ``help.help`` catalog entry to describe it."""

_DEFAULT_LIMITER: Any = object()


def is_group_chat(address: str) -> bool:
    """Whether ``telegram:<id>`` is a group: group, supergroup and channel ids are negative, a
    private chat's (the person's own id) positive."""
    return native_id(address).startswith("-")


LIMITS = PortLimits(
    per_second=30, per_chat_per_second=1, group_per_minute=20, is_group=is_group_chat
)
"""Telegram's limits (Bot API FAQ): 30 messages a second for the whole bot, about one a second
in one chat, 20 a minute in one group."""


# ---------------------------------------------------------------------------------------------
# Text: escaping and splitting


def utf16_len(text: str) -> int:
    """The length Telegram counts: UTF-16 code units (an emoji outside the BMP counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split plain text into chunks of at most ``limit`` UTF-16 units, on line boundaries.

    Lines are kept whole where they fit; a line longer than ``limit`` is cut at the last space
    before the limit (or at the limit when there is none).

    Args:
        text: Plain text (not yet escaped): Telegram's limit is on the visible text.
        limit: Largest chunk, in UTF-16 code units.

    Returns:
        The chunks, in order, without the newline that separated two chunks; never empty
        strings unless ``text`` itself is empty.
    """
    if utf16_len(text) <= limit:
        return [text]
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for line in _cut_long_lines(text.split("\n"), limit):
        length = utf16_len(line)
        # +1 for the newline that joins it to the chunk so far.
        if current and size + 1 + length > limit:
            chunks.append("\n".join(current))
            current, size = [], 0
        size += length + (1 if current else 0)
        current.append(line)
    if current:
        chunks.append("\n".join(current))
    return [c for c in chunks if c.strip()] or [text[:limit]]


def _cut_long_lines(lines: Iterable[str], limit: int) -> Iterable[str]:
    for line in lines:
        while utf16_len(line) > limit:
            cut = _prefix_fitting(line, limit)
            space = line.rfind(" ", 0, cut)
            if space > 0:
                cut = space
            yield line[:cut].rstrip()
            line = line[cut:].lstrip(" ")
        yield line


def _prefix_fitting(text: str, limit: int) -> int:
    """The number of code points of ``text`` whose UTF-16 length fits in ``limit``."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def escape(text: str) -> str:
    """Escape text for Telegram's HTML parse mode (``<``, ``>``, ``&``)."""
    return html.escape(text, quote=False)


def mention_html(user_id: str, name: str) -> str:
    """A mention that notifies the user even without a username."""
    return f'<a href="tg://user?id={html.escape(user_id)}">{escape(name)}</a>'


# ---------------------------------------------------------------------------------------------
# Out: the delivery port


class TelegramPort:
    """Sends :class:`~bot.core.Outgoing` messages through python-telegram-bot's bot.

    Addresses are ``telegram:<chat id>`` or ``dm:telegram:<user id>``. All text is escaped and
    sent in HTML parse mode; long text is split; files go out as photos (images) or documents.
    """

    platform = PLATFORM

    def __init__(
        self,
        application: Application[Any, Any, Any, Any, Any, Any],
        *,
        names: MutableMapping[str, str] | None = None,
        on_migrated: Callable[[int, int], Awaitable[None]] | None = None,
    ) -> None:
        self.application = application
        self.limits = replace(LIMITS, paces_itself=application.bot.rate_limiter is not None)
        """Telegram's limits; python-telegram-bot's rate limiter, when there is one, applies
        them itself, so the scheduler's pacer does not pace twice."""
        self.names: MutableMapping[str, str] = (
            names if names is not None else LRUCache(maxsize=10_000)
        )
        """Display names by user id, learned from incoming messages (for mentions); the
        10,000 most recently used are kept."""
        self.on_migrated = on_migrated

    @property
    def mention(self) -> str:
        """How a group addresses the bot before a command word (``@kpi_bot 上报 …``)."""
        try:
            return "@" + self.application.bot.username
        except RuntimeError:  # not started yet (get_me not called): the usual name
            return "@kpibot"

    async def send(self, message: Outgoing, *, reply_to: int | None = None) -> Delivered:
        """Send one message; ``reply_to`` threads it under that message of the same chat.

        Returns:
            ``Delivered(ok=True, message_id="<chat>:<id>")`` for the first message sent, or
            ``ok=False`` with ``error``: ``dm_refused`` (the person never started the bot or
            blocked it), ``forbidden`` (the bot is not in the chat), ``rate_limited``,
            ``timed_out``, ``network``, ``bad_address`` or ``bad_request: <Telegram's text>``.
        """
        direct = message.to.startswith("dm:")
        target = message.to.removeprefix("dm:")
        if platform_of(target) != PLATFORM:
            return Delivered(ok=False, error="bad_address")
        try:
            chat_id = int(native_id(target))
        except (IndexError, ValueError):
            return Delivered(ok=False, error="bad_address")
        try:
            try:
                return await self._send(chat_id, message, reply_to)
            except ChatMigrated as exc:
                # The group became a supergroup: move its identity, then resend there.
                if self.on_migrated is not None:
                    await self.on_migrated(chat_id, exc.new_chat_id)
                return await self._send(exc.new_chat_id, message, None)
        except Forbidden as exc:
            log.warning("telegram refused a send", extra={"to": message.to, "reason": exc.message})
            return Delivered(ok=False, error="dm_refused" if direct else "forbidden")
        except BadRequest as exc:
            if direct and "chat not found" in exc.message.lower():
                return Delivered(ok=False, error="dm_refused")
            log.warning("telegram rejected a send", extra={"to": message.to, "reason": exc.message})
            return Delivered(ok=False, error=f"bad_request: {exc.message}")
        except RetryAfter:
            return Delivered(ok=False, error="rate_limited")
        except TimedOut:
            # The message may or may not have gone out; the caller decides whether to retry.
            return Delivered(ok=False, error="timed_out")
        except NetworkError:
            return Delivered(ok=False, error="network")
        except TelegramError as exc:
            log.warning("telegram error on send", extra={"to": message.to, "reason": exc.message})
            return Delivered(ok=False, error=f"telegram: {exc.message}")

    async def _send(self, chat_id: int, message: Outgoing, reply_to: int | None) -> Delivered:
        header = self._mentions(message.mentions)
        # The mention line rides on the first chunk, so the first chunk has less room.
        header_len = utf16_len(header[0]) + 1 if header else 0
        chunks = split_text(message.text, MESSAGE_LIMIT - header_len)
        bodies = [escape(chunk) for chunk in chunks]
        if header:
            bodies[0] = header[1] + "\n" + bodies[0] if message.text else header[1]
        reply = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
        files = list(message.files)
        first: int | None = None
        # One image and a short text: a single photo with the text as its caption.
        if (
            len(files) == 1
            and _is_image(files[0])
            and len(chunks) == 1
            and utf16_len(chunks[0]) + header_len <= CAPTION_LIMIT
        ):
            sent = await self._send_file(chat_id, files[0], bodies[0], reply)
            return Delivered(ok=True, message_id=f"{chat_id}:{sent.message_id}")
        for body in bodies:
            if not body.strip():
                continue
            sent_id = await self._send_text(chat_id, body, reply if first is None else None)
            first = first if first is not None else sent_id
        for attachment in files:
            caption = (
                escape(split_text(attachment.title, CAPTION_LIMIT)[0]) if attachment.title else ""
            )
            sent = await self._send_file(
                chat_id, attachment, caption, reply if first is None else None
            )
            first = first if first is not None else sent.message_id
        if first is None:
            return Delivered(ok=False, error="empty")
        return Delivered(ok=True, message_id=f"{chat_id}:{first}")

    async def _send_text(self, chat_id: int, html_text: str, reply: ReplyParameters | None) -> int:
        """``sendMessage`` in HTML parse mode; the sent message's id.

        Through ``do_api_request`` without a return type: the answer stays the Bot API's JSON,
        of which only ``message_id`` is needed, where ``send_message`` would build a whole
        ``telegram.Message`` from it (a fifth of the adapter's CPU per update). The request
        is the same (the rate limiter, the retries, the errors: ``RetryAfter``, ``Forbidden``,
        ``ChatMigrated``...). The method name is written in lower case: the Bot API's method
        names are case-insensitive, and python-telegram-bot warns when ``do_api_request`` is
        given the name of a method it has (``sendMessage``)."""
        kwargs: dict[str, Any] = {"chat_id": chat_id, "text": html_text, "parse_mode": "HTML"}
        if reply is not None:
            kwargs["reply_parameters"] = reply
        result = await self.application.bot.do_api_request("sendmessage", api_kwargs=kwargs)
        return int(result["message_id"])

    async def _send_file(
        self, chat_id: int, attachment: Attachment, caption: str, reply: ReplyParameters | None
    ) -> Message:
        bot = self.application.bot
        if _is_image(attachment):
            return await bot.send_photo(
                chat_id,
                attachment.content,
                caption=caption or None,
                parse_mode=ParseMode.HTML,
                filename=attachment.filename,
                reply_parameters=reply,
            )
        return await bot.send_document(
            chat_id,
            attachment.content,
            caption=caption or None,
            parse_mode=ParseMode.HTML,
            filename=attachment.filename,
            reply_parameters=reply,
        )

    def _mentions(self, people: Sequence[str]) -> tuple[str, str] | None:
        """The mention line as (visible text, HTML), or None when nobody is on Telegram."""
        visible: list[str] = []
        marked: list[str] = []
        for person in people:
            if platform_of(person) != PLATFORM:
                continue
            user_id = native_id(person)
            name = self.names.get(user_id, user_id)
            visible.append(name)
            marked.append(mention_html(user_id, name))
        if not marked:
            return None
        return " ".join(visible), " ".join(marked)


def _is_image(attachment: Attachment) -> bool:
    return attachment.mime in ("image/png", "image/jpeg", "image/webp")


# ---------------------------------------------------------------------------------------------
# In: the adapter


def _credentials(settings: Settings) -> tuple[str, str]:
    """The bot token and the webhook secret, both kept out of every log from now on: httpx logs
    each request URL (Telegram's carry the token), python-telegram-bot each call's parameters
    at DEBUG (setWebhook's ``secret_token``)."""
    if settings.telegram_bot_token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    token = settings.telegram_bot_token.get_secret_value()
    secret = _webhook_secret(settings, token)
    redact_loggers(("httpx", "telegram", log.name), (token, secret))
    return token, secret


def _webhook_secret(settings: Settings, token: str) -> str:
    """``TELEGRAM_WEBHOOK_SECRET``, or one derived from the token. A blank secret
    (``TELEGRAM_WEBHOOK_SECRET=`` as in .env.example) counts as unset: an empty secret would
    match a request that carries no secret header at all."""
    configured = settings.telegram_webhook_secret
    if configured is not None and configured.get_secret_value().strip():
        return configured.get_secret_value()
    return webhook_secret_from_token(token)


def _build_application(
    token: str,
    settings: Settings,
    rate_limiter: BaseRateLimiter[Any] | None,
    requests: tuple[AiohttpRequest, AiohttpRequest],
) -> Application[Any, Any, Any, Any, Any, Any]:
    """python-telegram-bot's application: on aiohttp (:mod:`bot.adapters.telegram_http`), no
    updater (see ``_poll``), no job queue (the scheduler owns timing), Telegram's limits unless
    ``rate_limiter`` is ``None``."""
    if rate_limiter is _DEFAULT_LIMITER:
        # 30 a second is per bot token: with REPLICAS replicas, each takes its share.
        rate_limiter = AIORateLimiter(
            overall_max_rate=LIMITS.per_second / settings.replicas,
            group_max_rate=LIMITS.group_per_minute,
            max_retries=3,
        )
    builder = (
        ApplicationBuilder()
        .token(token)
        .base_url(settings.telegram_base_url)
        # Files people send (/import) download from the same server's /file/bot path.
        .base_file_url(settings.telegram_base_url.removesuffix("bot") + "file/bot")
        .request(requests[0])
        .get_updates_request(requests[1])
        .updater(None)
        .job_queue(None)
    )
    if rate_limiter is not None:
        builder = builder.rate_limiter(rate_limiter)
    return builder.build()


async def _after(
    previous: asyncio.Future[None] | None, send: Awaitable[None], slots: asyncio.Semaphore
) -> None:
    """``send`` in one of ``slots``, once ``previous`` is done; a failure is logged, never
    passed on."""
    if previous is not None:
        await previous
    try:
        async with slots:
            await send
    except Exception:
        log.exception("telegram replies failed")


class _Typing:
    """Shows "typing…" in a chat while a command takes longer than ``after`` seconds (Telegram
    shows it for 5 s a time). Until then it is a timer, not a task: most commands are answered
    sooner, and a task started and cancelled for each would cost more than the timer."""

    def __init__(self, bot: Any, chat_id: int, after: float) -> None:
        self._bot = bot
        self._chat_id = chat_id
        self._task: asyncio.Task[None] | None = None
        self._timer = asyncio.get_running_loop().call_later(after, self._start)

    def _start(self) -> None:
        self._task = asyncio.create_task(self._show())

    async def _show(self) -> None:
        while True:
            with contextlib.suppress(TelegramError):
                await self._bot.send_chat_action(self._chat_id, ChatAction.TYPING)
            await asyncio.sleep(4.5)

    async def stop(self) -> None:
        self._timer.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@dataclass(frozen=True)
class _Replies:
    """A command's answers, waiting to be sent after its update was acknowledged."""

    message: Message
    cmd: Command
    replies: list[Outgoing]


class TelegramAdapter:
    """Runs the Telegram side of the bot: polling or webhook in, core commands, replies out.

    Build it with the core and the settings, register :attr:`port` with the core, then
    ``await start()``; in webhook mode also serve :meth:`web_routes` on the shared HTTP server.
    ``await stop()`` shuts it down.
    """

    def __init__(
        self,
        core: AdapterCore,
        settings: Settings,
        *,
        rate_limiter: BaseRateLimiter[Any] | None = _DEFAULT_LIMITER,
        poll_timeout: float = 30.0,
        typing_after: float = 1.0,
        concurrency: int = 8,
        seen_capacity: int = 10_000,
        reply_senders: int = 4,
        reply_backlog: int = 256,
        reply_drain: float = 30.0,
    ) -> None:
        """Build the python-telegram-bot application (no network until :meth:`start`).

        Args:
            core: The platform-neutral core.
            settings: ``TELEGRAM_BOT_TOKEN`` (required), ``TELEGRAM_BASE_URL``,
                ``TELEGRAM_WEBHOOK_URL`` and ``TELEGRAM_WEBHOOK_SECRET`` are read.
            rate_limiter: Defaults to ``AIORateLimiter`` at 30 messages/s overall (divided by
                ``REPLICAS``) and 20 per minute per group, retrying ``RetryAfter`` up to 3
                times. ``None`` disables it.
            poll_timeout: Long-polling timeout passed to ``getUpdates``, in seconds.
            typing_after: Show "typing…" when the core takes longer than this, in seconds.
            concurrency: Chats processed at once; one chat's updates are always in order.
            seen_capacity: How many recent ``update_id`` values to remember in this process.
            reply_senders: Webhook mode: background senders of replies (a chat always uses
                the same one, so its replies keep their order).
            reply_backlog: Webhook mode: commands whose replies may wait per sender; when a
                chat's sender is full, its updates get 503 and Telegram redelivers them later.
            reply_drain: Webhook mode: seconds :meth:`stop` waits for queued replies.
        """
        token, self._secret = _credentials(settings)
        # python-telegram-bot 22 warns on every RetryAfter unless this opt-in to its future
        # behaviour (durations as timedelta) is set; we read them as timedelta either way.
        os.environ.setdefault("PTB_TIMEDELTA", "true")
        self.core = core
        self.settings = settings
        self.webhook_url = settings.telegram_webhook_url or None
        self._requests = (AiohttpRequest(), AiohttpRequest(connection_pool_size=1))
        """The HTTP transports of Bot API calls and of ``getUpdates``."""
        self.application = _build_application(token, settings, rate_limiter, self._requests)
        self.port = TelegramPort(self.application, on_migrated=self._migrated)
        self.poll_timeout = poll_timeout
        self.typing_after = typing_after
        self._limit = asyncio.Semaphore(concurrency)
        self._seen: OrderedDict[int, None] = OrderedDict()
        self._seen_capacity = seen_capacity
        self._stopping = asyncio.Event()
        self._poller: asyncio.Task[None] | None = None
        self._started = False
        self._refused = RateLimitedWarning(log)
        self._init_replies(concurrency, reply_senders, reply_backlog)
        self.reply_drain = reply_drain
        self._add_handlers()

    def _init_replies(self, concurrency: int, senders: int, backlog: int) -> None:
        """How replies go out. Polling: in a chain per chat beside the processing, all gone
        before the batch is confirmed. Webhook: from background senders after the 200."""
        self._sending: dict[int, asyncio.Future[None]] = {}
        """Polling: each chat's replies being sent, the last in a chain (``_send_in_turn``)."""
        self._send_slots = asyncio.Semaphore(concurrency)
        """Polling: chats whose replies are being sent at once."""
        self._queues: list[asyncio.Queue[_Replies]] = (
            [asyncio.Queue(backlog) for _ in range(senders)] if self.webhook_url else []
        )
        """Webhook: replies waiting for their background sender (a chat always uses one)."""
        self._senders: list[asyncio.Task[None]] = []

    def _add_handlers(self) -> None:
        app = self.application
        app.add_handler(
            CommandHandler(COMMANDS, self._on_command, filters=filters.UpdateType.MESSAGE)
        )
        app.add_handler(
            MessageHandler(
                filters.UpdateType.MESSAGE & filters.Entity(MessageEntityType.MENTION),
                self._on_mention,
            )
        )
        app.add_handler(
            MessageHandler(
                filters.UpdateType.MESSAGE & filters.Document.ALL & filters.CaptionRegex(r"^\s*/"),
                self._on_document,
            )
        )
        app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, self._on_migrate))
        app.add_error_handler(self._on_error)

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def username(self) -> str:
        """The bot's username (known after :meth:`start`)."""
        return self.application.bot.username

    async def start(self) -> None:
        """Connect (``getMe``), set the command menu, then poll or register the webhook."""
        try:
            await self.application.initialize()
        except BaseException as exc:
            # The HTTP sessions opened before getMe failed; nothing else will close them.
            for request in self._requests:
                await request.shutdown()
            if isinstance(exc, InvalidToken):
                # python-telegram-bot's message quotes the token; keep it out of logs.
                raise RuntimeError("TELEGRAM_BOT_TOKEN was rejected by the Bot API") from None
            raise
        await self.application.start()
        self._started = True
        await self._set_menu()
        if self.webhook_url:
            self._senders = [
                asyncio.create_task(self._send_queued(queue), name=f"telegram-replies-{index}")
                for index, queue in enumerate(self._queues)
            ]
            await self.application.bot.set_webhook(
                self.webhook_url, secret_token=self._secret, allowed_updates=ALLOWED_UPDATES
            )
            log.info("telegram webhook set", extra={"path": self.webhook_path})
        else:
            # getUpdates answers 409 while a webhook is set (e.g. left over from webhook mode).
            await self.application.bot.delete_webhook(drop_pending_updates=False)
            self._stopping.clear()
            self._poller = asyncio.create_task(self._poll(), name="telegram-polling")
            log.info("telegram polling started")

    async def stop(self) -> None:
        """Stop polling (confirming what was processed) and close the HTTP client.

        In webhook mode the webhook stays registered: other replicas may still serve it."""
        if self._poller is not None:
            self._stopping.set()
            await self._poller
            self._poller = None
        await self._replies_sent()
        # Replies of acknowledged updates go out before the HTTP client closes, for as long
        # as a stop may take (a rate-limited group sends 20 a minute).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.reply_drain):
                for queue in self._queues:
                    await queue.join()
        unsent = sum(queue.qsize() for queue in self._queues)
        if unsent:
            log.warning("telegram replies not sent at stop", extra={"commands": unsent})
        for sender in self._senders:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        self._senders = []
        if self._started:
            self._started = False
            await self.application.stop()
            await self.application.shutdown()

    async def _set_menu(self) -> None:
        for locale in MENU_LOCALES:
            commands = [BotCommand(name, _menu_text(name, locale)) for name in (*MENU, "help")]
            try:
                # English is the default menu, for every language without its own.
                await self.application.bot.set_my_commands(
                    commands, language_code=None if locale == "en" else locale
                )
            except TelegramError as exc:
                # A missing menu must not keep the bot from answering.
                log.warning(
                    "set_my_commands failed", extra={"locale": locale, "reason": exc.message}
                )

    # -- polling ---------------------------------------------------------------------------

    async def _poll(self) -> None:
        """Long-poll ``getUpdates`` and confirm a batch only after it was processed.

        python-telegram-bot's ``Updater`` confirms a batch with the next ``getUpdates`` while
        the batch may still be queued; a crash then loses it. Here the offset moves past a
        batch only after every update in it went through the core, so a crash means
        redelivery, and the ledger's unique source key turns redelivery into "already recorded".
        """
        bot = self.application.bot
        offset: int | None = None
        backoff = 1.0
        while not self._stopping.is_set():
            fetch = asyncio.ensure_future(
                bot.get_updates(
                    offset=offset,
                    timeout=dt.timedelta(seconds=self.poll_timeout),
                    allowed_updates=ALLOWED_UPDATES,
                )
            )
            stop = asyncio.ensure_future(self._stopping.wait())
            done, _ = await asyncio.wait({fetch, stop}, return_when=asyncio.FIRST_COMPLETED)
            if fetch not in done:
                # Stopping while waiting: nothing fetched is lost, it was never confirmed.
                fetch.cancel()
                with contextlib.suppress(asyncio.CancelledError, TelegramError):
                    await fetch
                break
            stop.cancel()
            try:
                updates = fetch.result()
            except TelegramError as exc:
                # Network trouble, a second poller (Conflict), even a revoked token: keep the
                # bot alive and retry with backoff; the log says why.
                wait = exc.retry_after if isinstance(exc, RetryAfter) else backoff
                level = logging.WARNING if isinstance(exc, NetworkError) else logging.ERROR
                log.log(level, "telegram polling failed; retrying", extra={"reason": str(exc)})
                seconds = wait.total_seconds() if isinstance(wait, dt.timedelta) else float(wait)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), seconds)
                backoff = min(backoff * 2, 30.0)
                continue
            backoff = 1.0
            if updates:
                await self.process_updates(updates)
                offset = updates[-1].update_id + 1
        if offset is not None:
            # Confirm the last batch, so that a restart does not fetch it again.
            with contextlib.suppress(TelegramError):
                await bot.get_updates(offset=offset, timeout=0, allowed_updates=ALLOWED_UPDATES)

    async def process_updates(self, updates: Sequence[Update]) -> None:
        """Process a batch: chats concurrently, each chat's updates in order.

        Args:
            updates: Updates as ``getUpdates`` returned them (ascending ``update_id``).
        """
        by_chat: dict[int | None, list[Update]] = {}
        for update in updates:
            if self._first_time(update.update_id):
                chat = update.effective_chat.id if update.effective_chat else None
                by_chat.setdefault(chat, []).append(update)
        try:
            await asyncio.gather(*(self._in_order(batch) for batch in by_chat.values()))
        finally:
            await self._replies_sent()

    async def _in_order(self, updates: list[Update]) -> None:
        async with self._limit:
            for update in updates:
                await self.application.process_update(update)

    def _send_in_turn(self, chat_id: int, send: Coroutine[Any, Any, None]) -> None:
        """Send a command's replies once the chat's earlier replies went, without holding the
        chat's processing slot: the chat's next command (or another chat's) is handled
        meanwhile, so a reply's round trip to Telegram never idles the core. Replies keep their
        order; :meth:`process_updates` waits for all of them before its batch is confirmed."""
        previous = self._sending.get(chat_id)
        self._sending[chat_id] = asyncio.ensure_future(_after(previous, send, self._send_slots))

    async def _replies_sent(self) -> None:
        """Return once every reply chained by :meth:`_send_in_turn` went (or failed)."""
        while self._sending:
            pending = list(self._sending.values())
            self._sending.clear()
            await asyncio.gather(*pending)

    def _first_time(self, update_id: int) -> bool:
        """False for an ``update_id`` this process already took. A cheap filter only: the
        ledger's unique source key is what keeps redeliveries from counting twice."""
        if update_id in self._seen:
            return False
        self._seen[update_id] = None
        if len(self._seen) > self._seen_capacity:
            self._seen.popitem(last=False)
        return True

    # -- webhook ---------------------------------------------------------------------------

    @property
    def webhook_path(self) -> str:
        """The path of ``TELEGRAM_WEBHOOK_URL`` (what the shared HTTP server must route)."""
        return urlsplit(self.webhook_url or "").path or "/"

    def web_routes(self) -> list[Route]:
        """The webhook route for :func:`bot.web.build_web_app`; empty in polling mode."""
        if not self.webhook_url:
            return []
        return [("POST", self.webhook_path, self.handle_webhook)]

    async def handle_webhook(self, request: web.Request) -> web.Response:
        """Check the secret header, then store the update's command, then answer; replies go
        out afterwards from a background sender (:meth:`_send_queued`).

        Handling before the 200 means a crash mid-command makes Telegram redeliver, rather
        than the update being lost (the ledger dedupes the redelivery); sending after it means
        a slow or rate-limited chat never delays the answer past Telegram's webhook timeout.
        A refused request is logged as one short rate-limited line, without its content.
        """
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(given, self._secret.encode()):
            self._refused("telegram bad secret")
            return web.Response(status=403, text="forbidden")
        if not self._started:
            # Stopping (or not started): Telegram retries later, perhaps on another replica.
            return web.Response(status=503, text="not running")
        try:
            update = self._parse_update(await read_body(request, MAX_BODY))
        except BodyRefused as refused:
            self._refused(f"telegram body {refused.reason}")
            return refused.response()
        if update is None:
            self._refused("telegram malformed update")
            return web.Response(status=400, text="not an update")
        chat = update.effective_chat
        if self._queues and self._queue_for(chat.id if chat else None).full():
            self._refused("telegram busy")
            return web.Response(status=503, text="busy")
        if self._first_time(update.update_id):
            try:
                await self.application.process_update(update)
            except Exception:
                # The handlers' own errors go to _on_error inside process_update; what gets
                # out is python-telegram-bot tripping over a malformed update (a dict as a
                # chat id): a bad request, not a reason for Telegram to redeliver it.
                self._refused("telegram update not processable")
                return web.Response(status=400, text="not an update")
        return web.Response(text="ok")

    def _parse_update(self, raw: bytes) -> Update | None:
        """The update in a webhook body, or ``None`` when it is not one."""
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                return None
            update = Update.de_json(data, self.application.bot)
            message = update.message
            if not isinstance(update.update_id, int) or (
                message is not None
                and not (
                    isinstance(message.chat.id, int)
                    and (message.from_user is None or isinstance(message.from_user.id, int))
                    and isinstance(message.text, str | None)
                )
            ):
                return None
        except Exception:
            # python-telegram-bot's de_json raises whatever malformed data trips it on
            # (``"message": "x"`` is an AttributeError); the secret was right, the body is not.
            return None
        return update

    def _queue_for(self, chat_id: object) -> asyncio.Queue[_Replies]:
        # A chat id is an int from Telegram; a malformed one (with the right secret) shares
        # the first sender rather than failing here.
        return self._queues[chat_id % len(self._queues) if isinstance(chat_id, int) else 0]

    async def _send_queued(self, queue: asyncio.Queue[_Replies]) -> None:
        """Send queued replies, in order, until cancelled."""
        while True:
            pending = await queue.get()
            try:
                await self._send_replies(pending.message, pending.cmd, pending.replies)
            except Exception:
                # A bug in sending must not stop this sender for the other chats it serves.
                log.exception("telegram replies failed", extra={"chat": pending.cmd.chat})
            finally:
                queue.task_done()

    # -- handlers --------------------------------------------------------------------------

    def to_command(self, message: Message, files: tuple[Attachment, ...] = ()) -> Command:
        """Translate a Telegram message (with a sender) into the core's
        :class:`~bot.core.Command`. The text goes through untouched: the core's parser strips
        a ``@botname`` suffix (``/report@botname gmv 1.2万``) or a leading ``@botname``."""
        sender = message.from_user
        assert sender is not None
        chat_id = message.chat.id
        return Command(
            chat=f"{PLATFORM}:{chat_id}",
            user=f"{PLATFORM}:{sender.id}",
            name=sender.full_name,
            text=message.text or message.caption or "",
            at=message.date,
            message_id=f"{chat_id}:{message.message_id}",
            is_direct=message.chat.type == ChatType.PRIVATE,
            files=files,
        )

    async def _on_document(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A file with a command as its caption (``/import``): downloaded with ``getFile``."""
        message = update.message
        if message is None or message.from_user is None or message.document is None:
            return
        document = message.document
        handle = await document.get_file()
        content = bytes(await handle.download_as_bytearray())
        name = document.file_name or f"{document.file_unique_id}.csv"
        mime = document.mime_type or "application/octet-stream"
        await self._run(message, self.to_command(message, (Attachment(name, content, mime),)))

    async def _on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is None or message.from_user is None or not message.text:
            return
        await self._run(message, self.to_command(message))

    async def _on_mention(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``@botname report gmv 12000``: a command by mention, as in Slack."""
        message = update.message
        if message is None or message.from_user is None or not message.text:
            return
        head = message.text.lstrip().split(maxsplit=1)
        if not head or head[0].lower() != f"@{self.username}".lower():
            return
        await self._run(message, self.to_command(message))

    async def _run(self, message: Message, cmd: Command) -> None:
        if message.from_user is not None:
            self.port.names[str(message.from_user.id)] = message.from_user.full_name
        typing = _Typing(self.application.bot, message.chat.id, self.typing_after)
        try:
            replies = await answer(self.core.handle, cmd)
        finally:
            await typing.stop()
        if self._queues:
            # Webhook: the command is stored; its replies wait for the background sender.
            await self._queue_for(message.chat.id).put(_Replies(message, cmd, replies))
        else:
            self._send_in_turn(message.chat.id, self._send_replies(message, cmd, replies))

    async def _send_replies(self, message: Message, cmd: Command, replies: list[Outgoing]) -> None:
        async def here(reply: Outgoing) -> Delivered:
            return await self.port.send(reply, reply_to=message.message_id)

        await send_replies(
            replies,
            cmd,
            here=here,
            port=self.port,
            deliver=lambda reply: self.core.deliver(reply),
            who=lambda person: self.port.names.get(native_id(person)),
        )

    async def _on_migrate(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A group became a supergroup: Telegram sends ``migrate_to_chat_id`` in the old chat
        and ``migrate_from_chat_id`` in the new one. Either moves the chat's links and history."""
        message = update.message
        if message is None:
            return
        if message.migrate_to_chat_id:
            old, new = message.chat.id, message.migrate_to_chat_id
        elif message.migrate_from_chat_id:
            old, new = message.migrate_from_chat_id, message.chat.id
        else:
            return
        await self._migrated(old, new, message.date)

    async def _migrated(self, old: int, new: int, at: dt.datetime | None = None) -> None:
        when = at if at is not None else self.core.clock.now()
        await self.core.migrate_chat(f"{PLATFORM}:{old}", f"{PLATFORM}:{new}", when)
        log.info("telegram chat migrated", extra={"old": old, "new": new})

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error(
            "telegram update failed",
            exc_info=context.error,
            extra={"update_id": getattr(update, "update_id", None)},
        )


def webhook_secret_from_token(token: str) -> str:
    """A webhook secret derived from the bot token, for when ``TELEGRAM_WEBHOOK_SECRET`` is unset.

    Every replica derives the same value, and it reveals nothing about the token.
    """
    return hmac.new(token.encode(), b"kpibot telegram webhook", hashlib.sha256).hexdigest()


def _menu_text(command: str, locale: str) -> str:
    """The menu description: the explanation part of the command's ``/help`` line."""
    if command == "help":
        return HELP_MENU[locale]
    try:
        line = t(f"help.{command}", locale)
    except KeyError:
        return command
    text = re.split(r"\s+[—-]\s+", line, maxsplit=1)[-1].strip()
    return (text[:1].upper() + text[1:256]) or command
