"""A fake Slack: the Web API, response_url hooks, file uploads and a Socket Mode WebSocket.

It runs on 127.0.0.1 (port 0) so that the real slack_sdk and slack-bolt talk to it over HTTP,
records every call it receives, and can be told to answer 429 with ``Retry-After`` or a Slack
error. ``signed_headers`` signs request bodies the way Slack does, for the app under test.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web
from slack_sdk.signature import SignatureVerifier

BOT_USER = "UBOT"
BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"
SIGNING_SECRET = "test-signing-secret"
TEAM = "T0TEAM"


def signed_headers(
    body: str,
    *,
    secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
    content_type: str = "application/x-www-form-urlencoded",
) -> dict[str, str]:
    """Headers that make ``body`` a correctly signed Slack request at ``timestamp``."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
    }


@dataclass(frozen=True)
class Call:
    """One request the fake received."""

    method: str
    """The Web API method (``chat.postMessage``), ``upload`` or ``response_url``."""
    params: dict[str, Any]
    token: str | None
    at: float
    """``time.monotonic()`` when it arrived."""
    path: str = ""
    body: bytes = b""


@dataclass
class _Failure:
    status: int
    error: str
    retry_after: int | None
    remaining: int


@dataclass
class FakeSlack:
    """The fake Slack server: ``await start()``, point the SDK at ``api_url``, ``aclose()``."""

    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    acks: list[dict[str, Any]] = field(default_factory=list)
    """Socket Mode acknowledgement envelopes received from the app."""

    def __post_init__(self) -> None:
        self._failures: dict[str, list[_Failure]] = {}
        self._ts = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._sockets: list[web.WebSocketResponse] = []
        self._connected = asyncio.Event()
        self._ack_arrived = asyncio.Condition()
        self._call_arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.socket_messages: list[str] = []
        self.shared: dict[str, tuple[str, bytes]] = {}
        """Files people shared, by id: name and bytes (downloaded with the bot token)."""

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/response/{hook}", self._response_url)
        app.router.add_get("/socket-mode", self._socket_mode)
        app.router.add_get("/files-pri/{file_id}/{name}", self._download)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def aclose(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base}/api/"

    def share_file(self, name: str, content: bytes) -> dict[str, Any]:
        """A file as a ``file_share`` message event lists it; its bytes download from
        ``url_private_download`` with the bot token only."""
        file_id = f"F{next(self._file_ids):04d}"
        self.shared[file_id] = (name, content)
        url = f"{self.base}/files-pri/{file_id}/{name}"
        return {
            "id": file_id, "name": name, "title": name, "mimetype": "text/csv",
            "filetype": "csv", "size": len(content), "url_private": url,
            "url_private_download": url,
        }  # fmt: skip

    async def _download(self, request: web.Request) -> web.Response:
        await self._record("download", request, {"file_id": request.match_info["file_id"]})
        if request.headers.get("Authorization") != f"Bearer {BOT_TOKEN}":
            # Slack answers an unauthenticated download with its HTML login page.
            return web.Response(text="<html>sign in</html>", content_type="text/html")
        _name, content = self.shared[request.match_info["file_id"]]
        return web.Response(body=content, content_type="application/octet-stream")

    def response_url(self, hook: str = "hook") -> str:
        return f"{self.base}/response/{hook}"

    # -- control ---------------------------------------------------------------------------

    def fail(
        self,
        method: str,
        *,
        status: int = 429,
        error: str = "ratelimited",
        retry_after: int | None = 1,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with ``status`` (429 + Retry-After by
        default, or 200 with ``{"ok": false, "error": error}``)."""
        self._failures.setdefault(method, []).append(_Failure(status, error, retry_after, times))

    def of(self, method: str) -> list[Call]:
        """The calls of one method, in arrival order."""
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, predicate: Callable[[list[Call]], bool], within: float = 5.0) -> None:
        """Wait until the recorded calls satisfy ``predicate`` (for asynchronous senders)."""
        async with asyncio.timeout(within), self._call_arrived:
            await self._call_arrived.wait_for(lambda: predicate(self.calls))

    # -- Web API ---------------------------------------------------------------------------

    async def _record(self, method: str, request: web.Request, params: dict[str, Any]) -> Call:
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth else params.get("token")
        call = Call(method, params, token, time.monotonic(), request.path, await request.read())
        self.calls.append(call)
        async with self._call_arrived:
            self._call_arrived.notify_all()
        return call

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            raw = await request.read()
            ctype = request.content_type
            if ctype == "application/json":
                params.update(json.loads(raw or b"{}"))
            elif ctype == "application/x-www-form-urlencoded":
                params.update(parse_qsl(raw.decode()))
        return params

    def _pop_failure(self, method: str) -> _Failure | None:
        queue = self._failures.get(method)
        if not queue:
            return None
        failure = queue[0]
        failure.remaining -= 1
        if failure.remaining <= 0:
            queue.pop(0)
        return failure

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        call = await self._record(method, request, params)
        failure = self._pop_failure(method)
        if failure is not None:
            headers = {}
            if failure.retry_after is not None:
                headers["Retry-After"] = str(failure.retry_after)
            return web.json_response(
                {"ok": False, "error": failure.error}, status=failure.status, headers=headers
            )
        if method == "apps.connections.open":
            if call.token != APP_TOKEN:
                return web.json_response({"ok": False, "error": "invalid_auth"})
        elif call.token != BOT_TOKEN:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        return web.json_response(handler(params))

    def _m_auth_test(self, _p: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fake.slack.com/",
            "team": "Fake",
            "user": "kpibot",
            "team_id": TEAM,
            "user_id": BOT_USER,
            "bot_id": "BBOT",
            "is_enterprise_install": False,
        }

    def _m_chat_postMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        ts = f"{1700000000 + next(self._ts)}.000100"
        message = {"text": p.get("text")}
        return {"ok": True, "channel": p.get("channel"), "ts": ts, "message": message}

    def _m_users_info(self, p: dict[str, Any]) -> dict[str, Any]:
        user = p.get("user", "")
        info = self.users.get(user)
        if info is None:
            info = {"display_name": f"Person {user}", "real_name": f"Person {user} Real"}
        return {
            "ok": True,
            "user": {
                "id": user,
                "name": user.lower(),
                "real_name": info.get("real_name", ""),
                "profile": {
                    "display_name": info.get("display_name", ""),
                    "real_name": info.get("real_name", ""),
                },
            },
        }

    def _m_conversations_open(self, p: dict[str, Any]) -> dict[str, Any]:
        users = str(p.get("users", ""))
        return {"ok": True, "channel": {"id": "D" + users.lstrip("U")}}

    def _m_files_getUploadURLExternal(self, p: dict[str, Any]) -> dict[str, Any]:
        file_id = f"F{next(self._file_ids):04d}"
        return {"ok": True, "upload_url": f"{self.base}/upload/{file_id}", "file_id": file_id}

    def _m_files_completeUploadExternal(self, p: dict[str, Any]) -> dict[str, Any]:
        files = json.loads(p.get("files", "[]"))
        return {"ok": True, "files": [{"id": f["id"], "title": f.get("title", "")} for f in files]}

    def _m_apps_connections_open(self, _p: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket-mode"}

    # -- uploads and response_url ------------------------------------------------------------

    async def _upload(self, request: web.Request) -> web.Response:
        body = await request.read()
        await self._record("upload", request, {"file_id": request.match_info["file_id"]})
        return web.Response(text=f"OK - {len(body)}")

    async def _response_url(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        params["hook"] = request.match_info["hook"]
        await self._record("response_url", request, params)
        failure = self._pop_failure("response_url")
        if failure is not None:
            headers = {}
            if failure.retry_after is not None:
                headers["Retry-After"] = str(failure.retry_after)
            return web.Response(status=failure.status, text=failure.error, headers=headers)
        return web.Response(text="ok")

    # -- Socket Mode -----------------------------------------------------------------------

    async def _socket_mode(self, request: web.Request) -> web.WebSocketResponse:
        # autoping answers the SDK's "sdk-ping-pong:<t>" pings with matching pongs.
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_str(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": 1,
                    "debug_info": {"host": "fake", "approximate_connection_time": 18060},
                    "connection_info": {"app_id": "A0FAKE"},
                }
            )
        )
        self._connected.set()
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self.socket_messages.append(msg.data)
                    data = json.loads(msg.data)
                    if "envelope_id" in data:
                        async with self._ack_arrived:
                            self.acks.append(data)
                            self._ack_arrived.notify_all()
        finally:
            self._sockets.remove(ws)
        return ws

    async def wait_connected(self, within: float = 5.0) -> None:
        async with asyncio.timeout(within):
            await self._connected.wait()

    async def send_envelope(self, envelope: dict[str, Any]) -> None:
        """Push one Socket Mode envelope to every connected app."""
        for ws in self._sockets:
            await ws.send_str(json.dumps(envelope))

    async def wait_ack(self, envelope_id: str, within: float = 5.0) -> dict[str, Any]:
        """The app's acknowledgement of ``envelope_id``."""

        def found() -> bool:
            return any(a.get("envelope_id") == envelope_id for a in self.acks)

        async with asyncio.timeout(within), self._ack_arrived:
            await self._ack_arrived.wait_for(found)
        return next(a for a in self.acks if a.get("envelope_id") == envelope_id)
