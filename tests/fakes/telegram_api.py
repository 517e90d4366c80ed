"""A fake Telegram Bot API server on 127.0.0.1 for tests and benchmarks.

It speaks the real wire format (``POST /bot<token>/<method>``, form or multipart bodies,
``{"ok": ..., "result": ...}`` answers), so python-telegram-bot's own HTTP stack runs against it
unchanged. It records every call, serves queued updates to ``getUpdates`` (long polling with a
short cap), parses HTML like Telegram does (unknown tags, stray ``<`` or ``&`` are refused), and
can be told to answer 429 with ``retry_after``, 403 for a chat, or "group upgraded" for a chat.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "123456:TEST-token-for-the-fake-bot-api"
BOT_ID = 123456
BOT_USERNAME = "kpibot_test_bot"
DEFAULT_DATE = dt.datetime(2026, 11, 20, 18, 0, tzinfo=dt.UTC)
MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024

# Tags Telegram's HTML parse mode accepts (https://core.telegram.org/bots/api#html-style).
_ALLOWED_TAGS = frozenset(
    {
        "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
        "a", "code", "pre", "blockquote", "tg-emoji",
    }
)  # fmt: skip
_TAG = re.compile(r"<(/?)([a-z-]+)((?:\s+[a-z-]+(?:=\"[^\"<>]*\")?)*)\s*>")
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


class HtmlError(ValueError):
    """The text is not valid Telegram HTML; the message mimics Telegram's."""


def parse_html(text: str) -> str:
    """The visible text of a Telegram HTML message, or :class:`HtmlError`."""
    out: list[str] = []
    stack: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "<":
            match = _TAG.match(text, i)
            if match is None:
                raise HtmlError(f"can't parse entities: unexpected '<' at offset {i}")
            closing, tag = match.group(1) == "/", match.group(2)
            if tag not in _ALLOWED_TAGS:
                raise HtmlError(f'can\'t parse entities: unsupported start tag "{tag}"')
            if closing:
                if not stack or stack[-1] != tag:
                    raise HtmlError(f'can\'t parse entities: unmatched end tag "{tag}"')
                stack.pop()
            else:
                stack.append(tag)
            i = match.end()
        elif ch == "&":
            match = _ENTITY.match(text, i)
            if match is None:
                raise HtmlError(f"can't parse entities: unescaped '&' at offset {i}")
            name = match.group(1)
            if name in _NAMED:
                out.append(_NAMED[name])
            elif name.startswith("#x"):
                out.append(chr(int(name[2:], 16)))
            else:
                out.append(chr(int(name[1:])))
            i = match.end()
        else:
            out.append(ch)
            i += 1
    if stack:
        raise HtmlError(f'can\'t parse entities: unclosed start tag "{stack[-1]}"')
    return "".join(out)


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def chat_type(chat_id: int) -> str:
    """The chat type Telegram's id ranges imply: private > 0, supergroup -100…, else group."""
    if chat_id > 0:
        return "private"
    return "supergroup" if str(chat_id).startswith("-100") else "group"


@dataclass
class Call:
    """One request the fake received."""

    method: str
    params: dict[str, Any]
    files: dict[str, bytes]
    at: float
    """Event-loop time when it arrived (for asserting waits, e.g. ``retry_after``)."""
    status: int = 200


@dataclass
class _Failure:
    method: str
    status: int
    description: str
    parameters: dict[str, Any] | None
    times: int
    chat_id: int | None = None


@dataclass
class FakeTelegram:
    """The fake Bot API. ``async with FakeTelegram() as tg:`` starts and stops it."""

    token: str = TOKEN
    bot_username: str = BOT_USERNAME
    long_poll_cap: float = 0.5
    """Longest wait of a ``getUpdates`` for an update, whatever its ``timeout`` (fast tests)."""
    record_calls: bool = True
    calls: list[Call] = field(default_factory=list)
    commands: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    """``setMyCommands`` by language code (``""`` is the default language)."""
    webhook: dict[str, Any] | None = None
    confirmed_offset: int = 0
    """The highest ``offset`` a ``getUpdates`` has sent: updates below it are confirmed."""
    sent_count: int = 0
    uploads: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    """Files people sent, by ``file_id``: their name and bytes (``getFile``, downloads)."""
    _updates: list[dict[str, Any]] = field(default_factory=list)
    _failures: list[_Failure] = field(default_factory=list)
    _forbidden: dict[int, str] = field(default_factory=dict)
    _migrated: dict[int, int] = field(default_factory=dict)
    _update_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _message_ids: dict[int, itertools.count[int]] = field(default_factory=dict)
    _changed: asyncio.Condition | None = None
    _runner: web.AppRunner | None = None
    _closing: bool = False
    port: int = 0

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> FakeTelegram:
        """Listen on 127.0.0.1 on a free port."""
        self._changed = asyncio.Condition()
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_post("/bot{token}/{method}", self._handle)
        app.router.add_get("/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        """Release waiting long polls and stop listening."""
        self._closing = True
        await self._notify()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """What python-telegram-bot takes as ``base_url`` (the token is appended to it)."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """Where files are downloaded from (``file_path`` is appended after the token)."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    def document_update(
        self, chat_id: int, name: str, content: bytes, caption: str = "", **kwargs: Any
    ) -> dict[str, Any]:
        """A message with a document (and a caption, which may be a command), as Telegram
        sends it; the bytes are kept for ``getFile`` and the download."""
        file_id = f"doc{len(self.uploads) + 1}"
        self.uploads[file_id] = (name, content)
        document = {
            "file_id": file_id, "file_unique_id": f"u-{file_id}", "file_name": name,
            "mime_type": "text/csv", "file_size": len(content),
        }  # fmt: skip
        extra: dict[str, Any] = {"document": document, **kwargs.pop("extra", {})}
        if caption:
            extra["caption"] = caption
            entities = _entities(caption)
            if entities:
                extra["caption_entities"] = entities
        return self.message_update(chat_id, "", extra=extra, **kwargs)

    # -- scripting -------------------------------------------------------------------------

    def next_update_id(self) -> int:
        return next(self._update_ids)

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue a raw update for ``getUpdates``; an ``update_id`` is assigned if missing."""
        update = dict(update)
        update.setdefault("update_id", self.next_update_id())
        self._updates.append(update)
        self._notify_soon()
        return update

    def message_update(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int = 583920114,
        first_name: str = "Xiao",
        last_name: str | None = "Lin",
        message_id: int | None = None,
        date: dt.datetime = DEFAULT_DATE,
        update_id: int | None = None,
        title: str = "Linkstar ops",
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A ``message`` update as Telegram sends it (with the ``bot_command`` entity)."""
        kind = chat_type(chat_id)
        chat: dict[str, Any] = {"id": chat_id, "type": kind}
        if kind == "private":
            chat["first_name"] = first_name
        else:
            chat["title"] = title
        sender: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            sender["last_name"] = last_name
        message: dict[str, Any] = {
            "message_id": message_id if message_id is not None else self._next_message_id(chat_id),
            "date": int(date.timestamp()),
            "chat": chat,
            "from": sender,
        }
        if text:
            message["text"] = text
            entities = _entities(text)
            if entities:
                message["entities"] = entities
        if extra:
            message.update(extra)
        update: dict[str, Any] = {"message": message}
        update["update_id"] = update_id if update_id is not None else self.next_update_id()
        return update

    def push_message(self, chat_id: int, text: str, **kwargs: Any) -> dict[str, Any]:
        """Queue a message update; see :meth:`message_update`."""
        return self.push_update(self.message_update(chat_id, text, **kwargs))

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int | None = 1,
        description: str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with an error (429 by default)."""
        parameters = {"retry_after": retry_after} if status == 429 and retry_after else None
        if description is None:
            description = (
                f"Too Many Requests: retry after {retry_after}" if status == 429 else "Bad Request"
            )
        self._failures.append(_Failure(method, status, description, parameters, times))

    def forbid_chat(
        self,
        chat_id: int,
        description: str = "Forbidden: bot can't initiate conversation with a user",
    ) -> None:
        """Every send to ``chat_id`` gets 403 (a user who never started the bot)."""
        self._forbidden[chat_id] = description

    def migrate_chat(self, old: int, new: int) -> None:
        """Sends to ``old`` get 400 "group chat was upgraded" with ``migrate_to_chat_id``."""
        self._migrated[old] = new

    # -- inspection ------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        """Recorded calls of one method (successful or not)."""
        return [c for c in self.calls if c.method == method]

    def sent(self, chat_id: int | None = None) -> list[Call]:
        """Successful sends (message, photo, document), optionally to one chat."""
        return [
            c
            for c in self.calls
            if c.method in ("sendMessage", "sendPhoto", "sendDocument")
            and c.status == 200
            and (chat_id is None or int(c.params["chat_id"]) == chat_id)
        ]

    def texts(self, chat_id: int | None = None) -> list[str]:
        """The visible text of each successful send (HTML parsed), optionally to one chat."""
        out: list[str] = []
        for call in self.sent(chat_id):
            raw = call.params.get("text", call.params.get("caption", ""))
            html = call.params.get("parse_mode") == "HTML"
            out.append(parse_html(raw) if html else raw)
        return out

    async def wait_for(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        """Wait until ``predicate()`` holds, re-checking after every call the fake receives.

        ``within`` is a safety net that fails a broken test; a passing test never waits for it."""
        assert self._changed is not None, "start() the fake first"
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(predicate)

    # -- the API ---------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        # Method names are case-insensitive in the Bot API; calls are recorded by the name
        # its documentation gives (``sendmessage`` is recorded as ``sendMessage``).
        method = _NAMES.get(request.match_info["method"].lower(), request.match_info["method"])
        params, files = await _read_params(request)
        call = Call(method, params, files, asyncio.get_running_loop().time())
        if self.record_calls:
            self.calls.append(call)
        if method.lower() == "getupdates" and params.get("offset"):
            # The offset confirms earlier updates as soon as the request arrives, even
            # though the answer may wait (long polling).
            self.confirmed_offset = max(self.confirmed_offset, int(params["offset"]))
            await self._notify()
        try:
            response = await self._dispatch(method, params, files)
            call.status = response.status
        finally:
            await self._notify()
        return response

    async def _dispatch(
        self, method: str, params: dict[str, Any], files: dict[str, bytes]
    ) -> web.Response:
        failure = self._take_failure(method)
        if failure is not None:
            return _error(failure.status, failure.description, failure.parameters)
        handler = _METHODS.get(method.lower())
        if handler is None:
            return _error(404, "Not Found: method not found")
        return await handler(self, params, files)

    def _take_failure(self, method: str) -> _Failure | None:
        for failure in self._failures:
            if failure.method == method and failure.times > 0:
                failure.times -= 1
                return failure
        return None

    async def _get_file(self, params: dict[str, Any], files: dict[str, bytes]) -> web.Response:
        file_id = str(params.get("file_id", ""))
        if file_id not in self.uploads:
            return _error(400, "Bad Request: invalid file_id")
        name, content = self.uploads[file_id]
        return _ok(
            {"file_id": file_id, "file_unique_id": f"u-{file_id}", "file_size": len(content),
             "file_path": f"documents/{file_id}/{name}"}
        )  # fmt: skip

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        parts = request.match_info["path"].split("/")
        if len(parts) != 3 or parts[1] not in self.uploads:
            return web.Response(status=404)
        return web.Response(body=self.uploads[parts[1]][1])

    async def _get_me(self, params: dict[str, Any], files: dict[str, bytes]) -> web.Response:
        return _ok(self._bot_user())

    async def _get_updates(self, params: dict[str, Any], files: dict[str, bytes]) -> web.Response:
        if self.webhook is not None:
            return _error(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        wait = min(float(params.get("timeout") or 0), self.long_poll_cap)
        if offset:
            # Telegram forgets confirmed updates.
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        assert self._changed is not None
        if not self._pending(offset) and wait > 0 and not self._closing:
            try:
                async with asyncio.timeout(wait), self._changed:
                    await self._changed.wait_for(lambda: self._closing or self._pending(offset))
            except TimeoutError:
                pass
        return _ok(self._pending(offset)[:limit])

    def _pending(self, offset: int) -> list[dict[str, Any]]:
        return [u for u in self._updates if u["update_id"] >= offset]

    async def _send_message(self, params: dict[str, Any], files: dict[str, bytes]) -> web.Response:
        refusal = self._refusal(params)
        if refusal is not None:
            return refusal
        text = str(params.get("text", ""))
        visible, problem = _visible(text, params.get("parse_mode"))
        if problem is not None:
            return problem
        if not visible.strip():
            return _error(400, "Bad Request: message text is empty")
        if utf16_len(visible) > MESSAGE_LIMIT:
            return _error(400, "Bad Request: message is too long")
        return _ok(self._message(params, text=visible))

    async def _send_photo(self, params: dict[str, Any], files: dict[str, bytes]) -> web.Response:
        return await self._send_media(params, files, "photo")

    async def _send_document(self, params: dict[str, Any], files: dict[str, bytes]) -> web.Response:
        return await self._send_media(params, files, "document")

    async def _send_media(
        self, params: dict[str, Any], files: dict[str, bytes], kind: str
    ) -> web.Response:
        refusal = self._refusal(params)
        if refusal is not None:
            return refusal
        if not files and not params.get(kind):
            return _error(400, f"Bad Request: there is no {kind} in the request")
        caption = str(params.get("caption", ""))
        visible, problem = _visible(caption, params.get("parse_mode"))
        if problem is not None:
            return problem
        if utf16_len(visible) > CAPTION_LIMIT:
            return _error(400, "Bad Request: message caption is too long")
        extra: dict[str, Any] = {"caption": visible} if visible else {}
        size = sum(len(b) for b in files.values())
        if kind == "photo":
            extra["photo"] = [
                {"file_id": "p1", "file_unique_id": "u1", "width": 800, "height": 400,
                 "file_size": size}
            ]  # fmt: skip
        else:
            extra["document"] = {"file_id": "d1", "file_unique_id": "u2", "file_size": size}
        return _ok(self._message(params, **extra))

    async def _send_chat_action(
        self, params: dict[str, Any], files: dict[str, bytes]
    ) -> web.Response:
        refusal = self._refusal(params)
        return refusal if refusal is not None else _ok(True)

    async def _set_webhook(self, params: dict[str, Any], files: dict[str, bytes]) -> web.Response:
        url = str(params.get("url", ""))
        if not url:
            self.webhook = None
            return _ok(True, "Webhook was deleted")
        if not url.startswith("https://"):
            return _error(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            return _error(400, "Bad Request: secret token contains unallowed characters")
        self.webhook = {"url": url, "secret_token": secret, **params}
        return _ok(True, "Webhook was set")

    async def _delete_webhook(
        self, params: dict[str, Any], files: dict[str, bytes]
    ) -> web.Response:
        self.webhook = None
        if str(params.get("drop_pending_updates", "")).lower() == "true":
            self._updates.clear()
        return _ok(True, "Webhook was deleted")

    async def _set_my_commands(
        self, params: dict[str, Any], files: dict[str, bytes]
    ) -> web.Response:
        commands = json.loads(params["commands"]) if isinstance(params.get("commands"), str) else []
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", command.get("command", "")):
                return _error(400, "Bad Request: BOT_COMMAND_INVALID")
        self.commands[str(params.get("language_code", ""))] = commands
        return _ok(True)

    async def _get_my_commands(
        self, params: dict[str, Any], files: dict[str, bytes]
    ) -> web.Response:
        return _ok(self.commands.get(str(params.get("language_code", "")), []))

    # -- helpers ---------------------------------------------------------------------------

    def _refusal(self, params: dict[str, Any]) -> web.Response | None:
        try:
            chat_id = int(params["chat_id"])
        except (KeyError, ValueError):
            return _error(400, "Bad Request: chat not found")
        if chat_id in self._forbidden:
            return _error(403, self._forbidden[chat_id])
        if chat_id in self._migrated:
            return _error(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": self._migrated[chat_id]},
            )
        return None

    def _message(self, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        self.sent_count += 1
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type(chat_id)}
        return {
            "message_id": self._next_message_id(chat_id),
            "date": int(DEFAULT_DATE.timestamp()),
            "chat": chat,
            "from": self._bot_user(),
            **extra,
        }

    def _next_message_id(self, chat_id: int) -> int:
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        return next(counter)

    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "kpibot",
            "username": self.bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _notify(self) -> None:
        if self._changed is not None:
            async with self._changed:
                self._changed.notify_all()

    def _notify_soon(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        loop.create_task(self._notify())  # noqa: RUF006 - fire and forget; a wake-up only


_Handler = Callable[[FakeTelegram, dict[str, Any], dict[str, bytes]], Any]
_METHODS: dict[str, _Handler] = {
    "getme": FakeTelegram._get_me,
    "getfile": FakeTelegram._get_file,
    "getupdates": FakeTelegram._get_updates,
    "sendmessage": FakeTelegram._send_message,
    "sendphoto": FakeTelegram._send_photo,
    "senddocument": FakeTelegram._send_document,
    "sendchataction": FakeTelegram._send_chat_action,
    "setwebhook": FakeTelegram._set_webhook,
    "deletewebhook": FakeTelegram._delete_webhook,
    "setmycommands": FakeTelegram._set_my_commands,
    "getmycommands": FakeTelegram._get_my_commands,
}
_NAMES = {
    name.lower(): name
    for name in (
        "getMe", "getFile", "getUpdates", "sendMessage", "sendPhoto", "sendDocument",
        "sendChatAction", "setWebhook", "deleteWebhook", "setMyCommands", "getMyCommands",
    )
}  # fmt: skip
"""The documented spelling of each method, by its lower-case name."""


def _entities(text: str) -> list[dict[str, Any]]:
    """The ``bot_command`` entity Telegram adds for a leading ``/command[@bot]``, and mentions."""
    entities: list[dict[str, Any]] = []
    command = re.match(r"/[A-Za-z0-9_]+(?:@[A-Za-z0-9_]+)?", text)
    if command:
        entities.append({"type": "bot_command", "offset": 0, "length": len(command.group())})
    for mention in re.finditer(r"(?<![\w@])@[A-Za-z0-9_]{5,32}", text):
        offset = utf16_len(text[: mention.start()])
        entities.append({"type": "mention", "offset": offset, "length": len(mention.group())})
    return entities


def _visible(text: str, parse_mode: Any) -> tuple[str, web.Response | None]:
    if parse_mode != "HTML":
        return text, None
    try:
        return parse_html(text), None
    except HtmlError as exc:
        return "", _error(400, f"Bad Request: {exc}")


async def _read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
    params: dict[str, Any] = dict(request.query)
    files: dict[str, bytes] = {}
    if request.content_type == "application/json":
        body = await request.json()
        params.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()})
    elif request.body_exists:
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                files[key] = value.file.read()
            else:
                params[key] = value
    return params, files


def _ok(result: Any, description: str | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": True, "result": result}
    if description:
        body["description"] = description
    return web.json_response(body)


def _error(status: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)
