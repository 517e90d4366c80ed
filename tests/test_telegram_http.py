"""python-telegram-bot's transport on aiohttp (bot/adapters/telegram_http.py): the errors,
timeouts, bodies and proxies ``HTTPXRequest`` has, against a small server on 127.0.0.1.

The whole Telegram adapter runs on this transport in tests/test_telegram.py; these are the
cases a well-behaved fake Bot API never shows."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from telegram import Bot, InputFile, ReplyParameters
from telegram.error import NetworkError, TimedOut
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter

from bot.adapters.telegram_http import AiohttpRequest, env_proxy

SLOW = 2.0


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """``/echo`` answers what it got; ``/slow`` answers after ``SLOW`` s; ``/moved`` redirects."""
    seen: list[dict[str, Any]] = []

    async def echo(request: web.Request) -> web.Response:
        if request.content_type == "application/json":
            fields: dict[str, Any] = await request.json()
        else:
            form = await request.post()
            fields = {
                k: (v.filename if isinstance(v, web.FileField) else v) for k, v in form.items()
            }
        agent = request.headers["User-Agent"]
        seen.append({"type": request.content_type, "fields": fields, "ua": agent})
        return web.json_response({"ok": True, "result": True})

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(SLOW)
        return web.json_response({"ok": True, "result": True})

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/echo")

    app = web.Application()
    app.router.add_post("/echo", echo)
    app.router.add_post("/slow", slow)
    app.router.add_post("/moved", moved)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


@pytest.fixture
async def request_() -> AsyncIterator[AiohttpRequest]:
    transport = AiohttpRequest(read_timeout=0.2)
    await transport.initialize()
    try:
        yield transport
    finally:
        await transport.shutdown()


def data(**fields: Any) -> RequestData:
    return RequestData([RequestParameter.from_input(k, v) for k, v in fields.items()])


async def test_fields_go_as_json_and_files_as_multipart(
    server: tuple[str, list[dict[str, Any]]], request_: AiohttpRequest
) -> None:
    """A call without files is one JSON object, nested values as JSON (not JSON strings); a
    call with files is multipart, its other fields as form parts."""
    url, seen = server
    reply = ReplyParameters(7, allow_sending_without_reply=True)
    fields = data(chat_id=-100, text="é <b>", reply_parameters=reply)
    status, body = await request_.do_request(f"{url}/echo", "POST", fields)
    assert status == 200 and json.loads(body)["ok"]
    photo = InputFile(b"\x89PNG", filename="chart.png")
    await request_.do_request(f"{url}/echo", "POST", data(chat_id=-100, photo=photo))
    form, multipart = seen
    assert form["type"] == "application/json"
    assert form["fields"] == {
        "chat_id": -100,
        "text": "é <b>",
        "reply_parameters": {"message_id": 7, "allow_sending_without_reply": True},
    }
    assert multipart["type"] == "multipart/form-data"
    assert multipart["fields"].pop("chat_id") == "-100"
    assert list(multipart["fields"].values()) == ["chart.png"]
    assert form["ua"] == AiohttpRequest.USER_AGENT


async def test_a_slow_answer_is_timed_out_and_a_refused_connection_a_network_error(
    server: tuple[str, list[dict[str, Any]]], request_: AiohttpRequest
) -> None:
    url, _ = server
    with pytest.raises(TimedOut):
        await request_.do_request(f"{url}/slow", "POST", data(x=1))
    # A longer read timeout for this call (as getUpdates asks for its long poll) waits it out.
    status, _ = await request_.do_request(f"{url}/slow", "POST", data(x=1), read_timeout=SLOW * 3)
    assert status == 200
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed = unused.getsockname()[1]
    with pytest.raises(NetworkError):
        await request_.do_request(f"http://127.0.0.1:{closed}/echo", "POST", data(x=1))


async def test_a_redirect_is_not_followed(
    server: tuple[str, list[dict[str, Any]]], request_: AiohttpRequest
) -> None:
    url, seen = server
    status, _ = await request_.do_request(f"{url}/moved", "POST", data(x=1))
    assert status == 302 and seen == []


async def test_bot_errors_and_lifecycle(server: tuple[str, list[dict[str, Any]]]) -> None:
    """Unstarted, it refuses to send; python-telegram-bot's Bot runs on it end to end."""
    transport = AiohttpRequest()
    url, _ = server
    with pytest.raises(RuntimeError, match="not initialized"):
        await transport.do_request(f"{url}/echo", "POST")
    bot = Bot("123:abc", base_url=f"{url}/bot", request=transport, get_updates_request=transport)
    assert bot.request is transport
    assert transport.read_timeout == 5.0


def test_the_proxy_comes_from_the_environment_as_httpx_reads_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY", "https_proxy", "http_proxy",
                 "all_proxy", "no_proxy"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    assert env_proxy("https", "api.telegram.org") is None
    monkeypatch.setenv("ALL_PROXY", "http://all:3128")
    assert env_proxy("https", "api.telegram.org") == "http://all:3128"
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")
    assert env_proxy("https", "api.telegram.org") == "http://proxy:3128"
    monkeypatch.setenv("NO_PROXY", "telegram.org,localhost")
    assert env_proxy("https", "api.telegram.org") is None
