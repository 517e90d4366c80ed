"""Fuzzing the HTTP surface: random unauthenticated requests to ``/slack/events`` and the webhook.

10,000 requests when ``CI=true`` and 1,000 otherwise (``KPIBOT_FUZZ_EXAMPLES`` overrides both),
as in ``tests/reliability/test_fuzz.py``; the generator is seeded, so a failure repeats. Bodies
are random bytes, broken and well-formed JSON and forms, non-UTF-8, oversized; headers carry
hostile timestamps, signatures, secrets and content types. Every answer must be 400, 401, 403
or 413, no record reaches ERROR, the log grows by under 200 bytes a request, and nothing is
stored or sent.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import SecretStr

from bot.adapters.telegram import SECRET_HEADER
from bot.app import Core
from bot.web import bound_port, build_web_app, serve
from tests.fakes.telegram_api import FakeTelegram
from tests.security.conftest import Written
from tests.security.test_hardening import SECRET, slash
from tests.test_slack import Bot
from tests.test_telegram import GROUP, MEMBER, WEBHOOK_URL, all_entries, make_settings, running

REQUESTS = int(
    os.environ.get(
        "KPIBOT_FUZZ_EXAMPLES", 10_000 if os.environ.get("CI", "").lower() == "true" else 1_000
    )
)
ALLOWED = {400, 401, 403, 413}

pytestmark = pytest.mark.timeout(300)


def _bodies(rng: random.Random, update: dict[str, Any]) -> list[Callable[[], bytes]]:
    def text(n: int) -> str:
        return "".join(rng.choice("aé中\n\r\x00\"'{}[]=&%+ \u2028²") for _ in range(n))

    return [
        lambda: rng.randbytes(rng.randrange(0, 2000)),
        lambda: b"\xff\xfe" + rng.randbytes(rng.randrange(0, 200)),
        lambda: text(rng.randrange(0, 500)).encode(),
        lambda: json.dumps(update).encode()[: rng.randrange(0, 400)],
        lambda: json.dumps(update).encode(),
        lambda: b"[1,2]",
        lambda: b"payload=%7Bnot-json",
        lambda: b"payload=" + rng.randbytes(50),
        lambda: slash(text(rng.randrange(0, 100))),
        lambda: json.dumps({"type": "event_callback", "event": text(20)}).encode(),
        lambda: json.dumps({"update_id": rng.randrange(-5, 5), "message": text(5)}).encode(),
        lambda: b"text=" + b"A" * rng.choice((600_000, 300_000)),
    ]


def _headers(rng: random.Random) -> dict[str, str]:
    now = int(time.time())
    timestamps = [
        str(now), str(now - 301), str(now + 10_000), "²", "9" * 5000, "１２３", " 1", "-1",
        "1e9", "0x10", "", "nan", str(now) + "\u00e9", "٣٣٣",
    ]  # fmt: skip
    signatures = ["", "v0=", "v0=" + "0" * 64, "v0=" + rng.randbytes(32).hex(), "v1=abc", "é" * 9]
    # (Not SECRET + " ": HTTP trims a header value's spaces, so that one is the secret.)
    secrets = ["", "x", SECRET[:-1], SECRET.upper(), "é" + SECRET, SECRET + "\u00a0"]
    types = ["application/json", "application/x-www-form-urlencoded", "text/plain", "a/b; c=d"]
    headers: dict[str, str] = {"Content-Type": rng.choice(types)}
    if rng.random() < 0.9:
        headers["X-Slack-Request-Timestamp"] = rng.choice(timestamps)
    if rng.random() < 0.9:
        headers["X-Slack-Signature"] = rng.choice(signatures)
    if rng.random() < 0.7:
        headers[SECRET_HEADER] = rng.choice(secrets)
    if rng.random() < 0.1:
        headers["X-Slack-Retry-Num"] = rng.choice(["1", "x", "²"])
    return headers


async def test_random_unauthenticated_requests_are_refused_quietly(
    bot: Bot, tg: FakeTelegram, core: Core, database_url: str, written: Written
) -> None:
    settings = make_settings(
        tg,
        database_url,
        telegram_webhook_url=WEBHOOK_URL,
        telegram_webhook_secret=SecretStr(SECRET),
    )
    update = tg.message_update(GROUP, "/report gmv 12000", user_id=MEMBER)
    statuses: Counter[int] = Counter()
    async with running(core, settings) as adapter:
        routes = [*bot.adapter.web_routes(), *adapter.web_routes()]
        runner = await serve(build_web_app(routes), "127.0.0.1", 0)
        base = f"http://127.0.0.1:{bound_port(runner)}"
        before = written.size
        slots = asyncio.Semaphore(16)

        async def one(n: int) -> None:
            # One generator per request: the same n is the same request, whatever the order
            # the requests run in; bodies are made only when their turn comes (some are big).
            rng = random.Random(19_000 + n)
            path = rng.choice(("/slack/events", "/telegram/webhook"))
            async with slots:
                body, headers = rng.choice(_bodies(rng, update))(), _headers(rng)
                async with bot.http.post(base + path, data=body, headers=headers) as response:
                    await response.read()
                    statuses[response.status] += 1

        try:
            await asyncio.gather(*(one(n) for n in range(REQUESTS)))
        finally:
            await runner.cleanup()
    grown = written.size - before

    assert sum(statuses.values()) == REQUESTS
    assert set(statuses) <= ALLOWED, statuses
    assert written.errors == []
    assert grown < 200 * REQUESTS, grown
    assert await all_entries(core) == []
    assert await bot.entries() == []
    assert tg.sent() == []
    assert [c.method for c in bot.fake.calls] == []
