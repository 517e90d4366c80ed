"""Tests of the Slack adapter: the real bolt app and slack_sdk against a fake Slack on 127.0.0.1.

Requests are signed like Slack signs them and posted to the app served by ``bot.web``; the
assertions are on what the fake Slack received and on the ledger of the real core (SQLite).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from bot.adapters.slack import (
    ChannelPacer,
    SlackAdapter,
    escape_mrkdwn,
    plain_text,
    render_blocks,
    render_text,
    slash_message_id,
    slash_text,
)
from bot.app import Core, build_core
from bot.core import Attachment, Command, Outgoing, VirtualClock
from bot.core.rich import Rich
from bot.settings import Settings
from bot.web import bound_port, build_web_app, serve
from kpi.commands import split_command
from kpi.model import Entry
from tests.fakes.slack_api import (
    BOT_TOKEN,
    BOT_USER,
    SIGNING_SECRET,
    TEAM,
    FakeSlack,
    signed_headers,
)

DEAL = "acme-linkstar-us"
AGENCY_CHANNEL = "C0AGENCY"
SHARED_CHANNEL = "C0SHARED"
UNLINKED_CHANNEL = "C09STRANGER"
AGENCY_ADMIN = "U0AGENCY2"
SELLER_MEMBER = "U0SELLER2"  # a member of the deal, not an admin
NOW = dt.datetime(2026, 11, 10, 20, 0, tzinfo=dt.UTC)  # 12:00 in Los Angeles
TODAY = dt.date(2026, 11, 10)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4

DEAL_YAML = """\
id: acme-linkstar-us
name: ACME Home x Linkstar (TikTok Shop US)
currency: USD
timezone: America/Los_Angeles
locale: en
starts: 2026-11-01
period: month
trial: {periods: 1}
truth: seller
tolerance: 2%
metrics:
  gmv: "Gross merchandise value, USD"
  orders: "Paid orders"
  ad_spend: "TikTok Ads spend, USD"
  refunds: "Refunded amount, USD"
  net_gmv: gmv - refunds
  roi: gmv / ad_spend
targets:
  gmv: {at_least: 50000}
  roi: {at_least: 2.5}
fees:
  base: 3000
  commission:
    on: net_gmv
    tiers: graduated
    bands:
      - {up_to: 50000, rate: 5%}
      - {rate: 8%}
  bonus: {when: [gmv, roi], amount: 1000}
  deduction: {on: gmv, step: 10%, per_step: 10%, of: base, cap: 50%}
  trial_terms: {base: 1500, deduction: none}
members:
  seller: [slack:U0SELLER1, slack:U0SELLER2]
  agency: [slack:U0AGENCY1, slack:U0AGENCY2]
admins: [slack:U0SELLER1, slack:U0AGENCY2]
contacts:
  - {who: slack:U0SELLER1, side: seller, level: 1, name: Mia Chen}
  - {who: slack:U0AGENCY1, side: agency, level: 1, name: Leo Wang}
chats:
  - {id: slack:C0AGENCY, side: agency}
  - {id: slack:C0SELLER, side: seller}
  - {id: slack:C0SHARED, side: shared}
schedule:
  recap: mon 09:00
"""


def deal_text() -> str:
    """A deal whose chats are all Slack channels (the example deal's terms)."""
    return DEAL_YAML


def slack_settings(tmp_path: Path, fake: FakeSlack, **extra: Any) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite:///{tmp_path}/kpibot.db",
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=fake.api_url,
        **extra,
    )


async def build_test_core(settings: Settings, clock: VirtualClock) -> Core:
    core = await build_core(settings, clock=clock)
    await core.apply_deal_text(deal_text(), "test-deal.yaml")
    return core


@dataclass
class VirtualTime:
    """A monotonic clock that only moves when someone sleeps on it; sleeps are recorded.

    ``calls_at_sleep`` remembers how many calls the fake Slack had seen when each sleep began,
    which shows what the sleep stood between."""

    fake: FakeSlack | None = None
    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)
    calls_at_sleep: list[int] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.calls_at_sleep.append(len(self.fake.calls) if self.fake else 0)
        wake = self.now + seconds
        await asyncio.sleep(0)
        self.now = max(self.now, wake)


@dataclass
class Bot:
    """Everything one test talks to."""

    fake: FakeSlack
    core: Core
    adapter: SlackAdapter
    url: str
    http: aiohttp.ClientSession
    time: VirtualTime

    async def command(
        self,
        command: str,
        text: str = "",
        *,
        channel: str = AGENCY_CHANNEL,
        user: str = AGENCY_ADMIN,
        timestamp: int | None = None,
        secret: str = SIGNING_SECRET,
        hook: str = "hook",
    ) -> aiohttp.ClientResponse:
        """Post a signed slash command, as Slack does."""
        body = urlencode(
            {
                "token": "legacy-unused",
                "team_id": TEAM,
                "team_domain": "fake",
                "channel_id": channel,
                "channel_name": "ops",
                "user_id": user,
                "user_name": user.lower(),
                "command": command,
                "text": text,
                "api_app_id": "A0FAKE",
                "is_enterprise_install": "false",
                "response_url": self.fake.response_url(hook),
                "trigger_id": f"trig.{time.monotonic_ns()}",
            }
        )
        headers = signed_headers(body, secret=secret, timestamp=timestamp)
        async with self.http.post(self.url, data=body, headers=headers) as response:
            await response.read()
            return response

    async def mention(
        self,
        text: str,
        *,
        event_id: str,
        channel: str = AGENCY_CHANNEL,
        user: str = AGENCY_ADMIN,
        retry: int | None = None,
    ) -> aiohttp.ClientResponse:
        """Post a signed Events API ``app_mention`` (a retry adds ``X-Slack-Retry-Num``)."""
        body = json.dumps(
            {
                "token": "legacy-unused",
                "team_id": TEAM,
                "api_app_id": "A0FAKE",
                "event": {
                    "type": "app_mention",
                    "user": user,
                    "text": text,
                    "ts": "1762804800.000200",
                    "channel": channel,
                    "event_ts": "1762804800.000200",
                },
                "type": "event_callback",
                "event_id": event_id,
                "event_time": 1762804800,
                "authorizations": [
                    {"team_id": TEAM, "user_id": BOT_USER, "is_bot": True, "enterprise_id": None}
                ],
            }
        )
        headers = signed_headers(body, content_type="application/json")
        if retry is not None:
            headers["X-Slack-Retry-Num"] = str(retry)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        async with self.http.post(self.url, data=body, headers=headers) as response:
            await response.read()
            return response

    async def entries(self) -> list[Entry]:
        return await self.core.ledger.current_entries(DEAL, dt.date(2026, 11, 1), TODAY)

    def answers(self) -> list[str]:
        """Every text the bot sent back, through response_url or chat.postMessage."""
        return [
            str(c.params.get("text", ""))
            for c in self.fake.calls
            if c.method in ("response_url", "chat.postMessage")
        ]


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    server = await FakeSlack(users={AGENCY_ADMIN: {"display_name": "Leo W"}}).start()
    yield server
    await server.aclose()


@pytest.fixture
async def bot(tmp_path: Path, fake: FakeSlack) -> AsyncIterator[Bot]:
    settings = slack_settings(tmp_path, fake)
    core = await build_test_core(settings, VirtualClock(NOW))
    vtime = VirtualTime(fake)
    adapter = SlackAdapter(
        core, settings, monotonic=vtime.monotonic, sleep=vtime.sleep, jitter=lambda: 0.0
    )
    core.add_port(adapter.port)
    runner = await serve(build_web_app(adapter.web_routes()), "127.0.0.1", 0)
    url = f"http://127.0.0.1:{bound_port(runner)}/slack/events"
    async with aiohttp.ClientSession() as http:
        yield Bot(fake, core, adapter, url, http, vtime)
    await runner.cleanup()
    await adapter.stop()
    await core.aclose()


# --- what must show ---------------------------------------------------------------------------


async def test_report_from_agency_channel_stores_one_entry_and_answers(bot: Bot) -> None:
    response = await bot.command("/report", "gmv 12000")
    assert response.status == 200
    await bot.adapter.drain()

    entries = await bot.entries()
    assert [(e.metric, e.value, e.side) for e in entries] == [("gmv", Decimal(12000), "agency")]
    entry = entries[0]
    assert entry.person == f"slack:{AGENCY_ADMIN}"
    assert entry.person_name == "Leo W"  # from users.info
    assert entry.chat == f"slack:{AGENCY_CHANNEL}"

    [answer] = bot.fake.of("response_url")
    assert answer.params["response_type"] == "in_channel"
    assert "Saved" in answer.params["text"]
    assert "12,000" in answer.params["text"]


async def test_a_slack_request_leaves_the_bots_own_loggers_as_they_were(bot: Bot) -> None:
    """bolt configures a logger named after the app on each request; it must not be the
    bot's own: the command log (``kpibot``, INFO) stayed silent while Slack was on."""
    own = logging.getLogger("kpibot")
    before = (own.level, list(own.filters), own.disabled)
    response = await bot.command("/report", "gmv 12000")
    assert response.status == 200
    await bot.adapter.drain()
    assert (own.level, list(own.filters), own.disabled) == before


async def test_acknowledges_before_storing_and_says_saved_only_after(bot: Bot) -> None:
    """The HTTP answer (the ack) comes back while the core is still storing; the answer to the
    person is posted only once the core has returned."""
    release = asyncio.Event()
    handle = bot.core.handle

    async def slow_handle(cmd: Command) -> list[Outgoing]:
        await release.wait()
        return await handle(cmd)

    bot.core.handle = slow_handle  # type: ignore[method-assign]
    response = await bot.command("/report", "gmv 12000")
    assert response.status == 200
    assert await bot.entries() == []
    assert bot.fake.of("response_url") == []

    release.set()
    await bot.adapter.drain()
    assert len(await bot.entries()) == 1
    assert "Saved" in bot.fake.of("response_url")[0].params["text"]


async def test_storage_failure_is_told_not_saved(bot: Bot) -> None:
    async def broken(cmd: Command) -> list[Outgoing]:
        raise RuntimeError("database is on fire")

    bot.core.handle = broken  # type: ignore[method-assign]
    assert (await bot.command("/report", "gmv 12000")).status == 200
    await bot.adapter.drain()
    [text] = bot.answers()
    assert "Not saved" in text
    assert "Saved" not in text.replace("Not saved", "")


async def test_retried_event_stores_one_entry(bot: Bot) -> None:
    first = await bot.mention(f"<@{BOT_USER}> report gmv 12000", event_id="Ev0001")
    retry = await bot.mention(f"<@{BOT_USER}> report gmv 12000", event_id="Ev0001", retry=1)
    assert (first.status, retry.status) == (200, 200)
    await bot.adapter.drain()

    entries = await bot.entries()
    assert [(e.metric, e.value) for e in entries] == [("gmv", Decimal(12000))]
    texts = [c.params["text"] for c in bot.fake.of("chat.postMessage")]
    assert len(texts) == 2
    assert sum("Saved" in t for t in texts) == 1
    assert sum("Already recorded" in t for t in texts) == 1


async def test_double_submitted_command_stores_one_entry(bot: Bot) -> None:
    minute_start = int(time.time()) // 60 * 60
    for offset in (0, 2):  # two submits two seconds apart, within one minute
        assert (
            await bot.command("/report", "gmv 12000", timestamp=minute_start + offset)
        ).status == 200
    await bot.adapter.drain()
    assert len(await bot.entries()) == 1
    texts = [c.params["text"] for c in bot.fake.of("response_url")]
    # Two invocations, two keys: whichever is stored first is "Saved", the other is the figure
    # already on record (their answers may come back in either order).
    assert sorted("Saved" in t for t in texts) == [False, True]
    assert sum("Already recorded" in t for t in texts) == 1


async def test_double_submit_across_a_minute_boundary_stores_one_entry(bot: Bot) -> None:
    """Two keys, one entry: the core treats the figure already on record as a no-op."""
    minute_start = int(time.time()) // 60 * 60
    for ts in (minute_start - 1, minute_start + 1):
        assert (await bot.command("/report", "gmv 12000", timestamp=ts)).status == 200
    await bot.adapter.drain()
    assert len(await bot.entries()) == 1


async def test_a_slash_command_typed_again_within_a_minute_is_stored_again(bot: Bot) -> None:
    """Slack never retries a slash command: 12000, 13000, then 12000 again is a correction
    back to 12000, not "Already recorded" (issue 11, item 1)."""
    minute_start = int(time.time()) // 60 * 60
    for offset, text in enumerate(("gmv 12000", "gmv 13000", "gmv 12000")):
        response = await bot.command("/report", text, timestamp=minute_start + offset)
        assert response.status == 200
        await bot.adapter.drain()

    assert [(e.metric, e.value) for e in await bot.entries()] == [("gmv", Decimal(12000))]
    texts = [c.params["text"] for c in bot.fake.of("response_url")]
    assert all("Saved" in t for t in texts)
    assert "corrects 13,000" in texts[2]
    await bot.command("/kpi", timestamp=minute_start + 5)
    await bot.adapter.drain()
    assert "gmv 12,000" in bot.fake.of("response_url")[-1].params["text"]


@pytest.mark.parametrize(
    ("secret", "age"),
    [("not-the-secret", 0), (SIGNING_SECRET, 6 * 60)],
    ids=["wrong-signature", "six-minutes-old"],
)
async def test_forged_or_stale_requests_are_refused(bot: Bot, secret: str, age: int) -> None:
    response = await bot.command(
        "/report", "gmv 12000", secret=secret, timestamp=int(time.time()) - age
    )
    assert response.status == 401
    await bot.adapter.drain()
    assert await bot.entries() == []
    assert bot.answers() == []


async def test_unsigned_request_is_refused(bot: Bot) -> None:
    body = urlencode({"command": "/report", "text": "gmv 1", "channel_id": AGENCY_CHANNEL})
    async with bot.http.post(
        bot.url, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    ) as response:
        assert response.status == 401
    assert await bot.entries() == []


async def test_unlinked_channel_learns_nothing_about_any_deal(bot: Bot) -> None:
    probes = [
        ("/report", "gmv 12000"),
        ("/kpi", ""),
        ("/kpi", f"#{DEAL}"),
        ("/fee", ""),
        ("/history", ""),
        ("/confirm", "gmv"),
        ("/dispute", "gmv wrong"),
        ("/statement", ""),
        ("/kpibot", "whoami"),
    ]
    for command, text in probes:
        assert (await bot.command(command, text, channel=UNLINKED_CHANNEL)).status == 200
    await bot.mention(f"<@{BOT_USER}> kpi", event_id="Ev0002", channel=UNLINKED_CHANNEL)
    await bot.adapter.drain()

    texts = bot.answers()
    assert len(texts) == len(probes) + 1
    secrets = ["acme", "linkstar", "50,000", "3,000", "1,500", "U0SELLER1", "Mia Chen"]
    for text in texts:
        for word in secrets:
            assert word.lower() not in text.lower(), (word, text)
    assert sum("not linked to a deal" in t for t in texts) >= 5
    assert await bot.entries() == []


async def test_non_admin_is_refused_admin_only_commands(bot: Bot) -> None:
    # A member of the deal, not an admin, tries to link a new channel and unlink a linked one.
    await bot.command("/kpibot", f"link #{DEAL} seller", channel="C09NEW", user=SELLER_MEMBER)
    await bot.command("/kpibot", "unlink", channel=SHARED_CHANNEL, user=SELLER_MEMBER)
    await bot.adapter.drain()
    link_refusal, unlink_refusal = bot.answers()
    assert "Only an admin" in link_refusal
    assert "Only a deal admin can use /unlink" in unlink_refusal
    assert await bot.core.ledger.deals_for_chat("slack:C09NEW") == []
    assert await bot.core.ledger.deals_for_chat(f"slack:{SHARED_CHANNEL}") == [(DEAL, "shared")]

    # The same command from an admin goes through (so the refusal was about the person); an
    # agency admin links a chat as the agency's (a seller chat is not theirs to open).
    await bot.command("/kpibot", f"link #{DEAL} agency", channel="C09NEW", user=AGENCY_ADMIN)
    await bot.adapter.drain()
    assert "now linked" in bot.answers()[-1]
    assert await bot.core.ledger.deals_for_chat("slack:C09NEW") == [(DEAL, "agency")]


async def test_429_is_retried_after_retry_after(bot: Bot) -> None:
    bot.fake.fail("chat.postMessage", status=429, retry_after=7)
    delivered = await bot.core.deliver(Outgoing(to=f"slack:{AGENCY_CHANNEL}", text="recap"))
    assert delivered.ok
    first, second = bot.fake.of("chat.postMessage")
    assert first.params["text"] == second.params["text"] == "recap"
    # The only wait was the one Retry-After asked for, and it stood between the two attempts.
    assert bot.time.sleeps == [7.0]
    assert bot.time.calls_at_sleep == [bot.fake.calls.index(first) + 1]


async def test_429_on_a_command_answer_is_retried(bot: Bot) -> None:
    bot.fake.fail("chat.postMessage", status=429, retry_after=2)
    await bot.mention(f"<@{BOT_USER}> report gmv 12000", event_id="Ev0003")
    await bot.adapter.drain()
    posts = bot.fake.of("chat.postMessage")
    assert len(posts) == 2
    assert "Saved" in posts[1].params["text"]
    assert bot.time.sleeps == [2.0]
    assert len(await bot.entries()) == 1


async def test_429_on_response_url_is_retried(bot: Bot) -> None:
    bot.fake.fail("response_url", status=429, retry_after=3)
    await bot.command("/report", "gmv 12000")
    await bot.adapter.drain()
    first, second = bot.fake.of("response_url")
    assert first.params == second.params
    assert bot.time.sleeps == [3.0]
    assert bot.fake.of("chat.postMessage") == []


async def test_block_kit_fee_answer_carries_the_same_total_as_the_text(bot: Bot) -> None:
    await bot.command("/report", "gmv 12000 refunds 500 ad_spend 2000 orders 300")
    await bot.adapter.drain()
    await bot.command("/fee", "", hook="fee")
    await bot.adapter.drain()
    [answer] = [c for c in bot.fake.of("response_url") if c.params["hook"] == "fee"]
    blocks = answer.params["blocks"]
    text = answer.params["text"]
    assert blocks and blocks[0]["type"] == "header"

    block_text = "\n".join(_block_strings(blocks))
    total_in_text = _total(text)
    assert total_in_text is not None, text
    assert _total(block_text) == total_in_text
    assert total_in_text != "1,500.00"  # more than the trial base fee: the report counted
    # Every amount, in order, is the same in both forms.
    money = re.compile(r"USD [\d,]+\.\d\d")
    assert money.findall(block_text) == money.findall(text) != []


def _block_strings(blocks: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for block in blocks:
        if "text" in block:
            out.append(block["text"]["text"])
        out.extend(f["text"] for f in block.get("fields", ()))
        out.extend(e["text"] for e in block.get("elements", ()))
    return out


def _total(text: str) -> str | None:
    """The amount on the line that states the total (``Total … $4,115.00``)."""
    for line in text.splitlines():
        if re.search(r"\btotal\b|合计", line, re.IGNORECASE):
            amounts = re.findall(r"\d[\d,]*(?:\.\d+)?", line.replace("*", ""))
            if amounts:
                return amounts[-1]
    return None


async def test_chart_upload_goes_through_the_three_step_flow(bot: Bot) -> None:
    recap = Outgoing(
        to=f"slack:{SHARED_CHANNEL}",
        text="Weekly recap",
        kind="recap",
        rich=Rich.of("Weekly recap", [(None, ["gmv 12,000"])]),
        files=(Attachment("gmv.png", PNG, title="GMV against target"),),
    )
    delivered = await bot.core.deliver(recap)
    assert delivered.ok

    methods = [c.method for c in bot.fake.calls if c.method != "auth.test"]
    assert methods == [
        "chat.postMessage",
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]
    get_url, upload, complete = (bot.fake.of(m)[0] for m in methods[1:])
    assert get_url.params["filename"] == "gmv.png"
    assert int(get_url.params["length"]) == len(PNG)
    assert upload.body == PNG
    assert upload.path.endswith("/" + upload.params["file_id"])
    assert complete.params["channel_id"] == SHARED_CHANNEL
    assert json.loads(complete.params["files"]) == [
        {"id": upload.params["file_id"], "title": "GMV against target"}
    ]
    # The upload is the second post to the channel: the pacer spaced it one second later.
    assert bot.time.sleeps == [1.0]


# --- more behaviour ---------------------------------------------------------------------------


async def test_direct_messages_open_a_conversation_once(bot: Bot) -> None:
    for text in ("first", "second"):
        delivered = await bot.core.deliver(
            Outgoing(to="dm:slack:U0SELLER1", text=text, kind="escalation")
        )
        assert delivered.ok
    [opened] = bot.fake.of("conversations.open")
    assert opened.params["users"] == "U0SELLER1"
    assert [c.params["channel"] for c in bot.fake.of("chat.postMessage")] == ["D0SELLER1"] * 2


async def test_hostile_text_cannot_ping_and_mentions_render(bot: Bot) -> None:
    msg = Outgoing(
        to=f"slack:{AGENCY_CHANNEL}",
        text="reason: <!channel> & <@U0EVIL> *x*",
        kind="reminder",
        mentions=("slack:U0AGENCY1", "telegram:583920114", "slack:<!here>"),
    )
    assert (await bot.core.deliver(msg)).ok
    [post] = bot.fake.of("chat.postMessage")
    assert post.params["text"] == "<@U0AGENCY1> reason: &lt;!channel&gt; &amp; &lt;@U0EVIL&gt; *x*"


async def test_hostile_text_in_blocks_is_escaped() -> None:
    msg = Outgoing(
        to="slack:C1",
        text="t",
        rich=Rich.from_json({
            "title": "<!channel> title",
            "sections": [{"title": "<!here>", "lines": ["a <@U1> & b"]}],
            "footer": "<https://evil|click>",
        }),
    )
    blocks = render_blocks(msg)
    assert blocks is not None
    mrkdwn = "\n".join(_block_strings(blocks[1:]))
    assert "<" not in mrkdwn and ">" not in mrkdwn
    assert "&lt;!here&gt;" in mrkdwn and "&lt;@U1&gt; &amp; b" in mrkdwn
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "<!channel> title"},
    }


async def test_display_names_are_cached(bot: Bot) -> None:
    await bot.command("/report", "gmv 12000")
    await bot.command("/report", "orders 300")
    await bot.adapter.drain()
    assert len(bot.fake.of("users.info")) == 1
    assert {e.person_name for e in await bot.entries()} == {"Leo W"}


async def test_users_info_failure_does_not_lose_the_report(bot: Bot) -> None:
    bot.fake.fail("users.info", status=200, error="missing_scope", retry_after=None)
    await bot.command("/report", "gmv 12000")
    await bot.adapter.drain()
    [entry] = await bot.entries()
    assert entry.person == f"slack:{AGENCY_ADMIN}"
    assert entry.person_name == ""
    assert "Saved" in bot.answers()[0]


async def test_mention_is_stripped_and_unescaped(bot: Bot) -> None:
    await bot.mention(f"<@{BOT_USER}>   report gmv 12000 orders 340", event_id="Ev0004")
    await bot.adapter.drain()
    assert sorted((e.metric, e.value) for e in await bot.entries()) == [
        ("gmv", Decimal(12000)),
        ("orders", Decimal(340)),
    ]
    [post] = bot.fake.of("chat.postMessage")
    assert post.params["channel"] == AGENCY_CHANNEL


async def test_kpibot_umbrella_command(bot: Bot) -> None:
    await bot.command("/kpibot", "whoami", user=AGENCY_ADMIN)
    await bot.command("/kpibot", "", user=AGENCY_ADMIN, hook="help")
    await bot.adapter.drain()
    # The two commands are handled concurrently: their answers may come in either order.
    answers = bot.answers()
    assert len(answers) == 2
    whoami = next(a for a in answers if a.startswith("You are"))
    help_ = next(a for a in answers if a.startswith("kpibot commands"))
    assert f"slack:{AGENCY_ADMIN}" in whoami and "Leo W" in whoami
    assert "/report" in help_


async def test_response_url_failure_falls_back_to_chat_post_message(bot: Bot) -> None:
    bot.fake.fail("response_url", status=404, error="expired_url")
    await bot.command("/report", "gmv 12000")
    await bot.adapter.drain()
    [post] = bot.fake.of("chat.postMessage")
    assert post.params["channel"] == AGENCY_CHANNEL
    assert "Saved" in post.params["text"]


async def test_refused_delivery_is_reported_not_raised(bot: Bot) -> None:
    bot.fake.fail("chat.postMessage", status=200, error="not_in_channel", retry_after=None)
    delivered = await bot.core.deliver(Outgoing(to="slack:C0NOTIN", text="x"))
    assert not delivered.ok
    assert delivered.error == "not_in_channel"


@pytest.mark.parametrize(
    ("method", "error"),
    [
        ("conversations.open", "cannot_dm_bot"),
        ("conversations.open", "user_not_found"),
        ("conversations.open", "user_disabled"),
        ("conversations.open", "channel_not_found"),
        ("chat.postMessage", "not_in_channel"),
        ("chat.postMessage", "messages_tab_disabled"),
    ],
)
async def test_a_refused_direct_message_is_dm_refused(bot: Bot, method: str, error: str) -> None:
    """Whatever Slack calls it, a person who cannot be sent a DM is ``dm_refused``, the answer
    the scheduler turns into a note in the deal's group (as for Telegram)."""
    bot.fake.fail(method, status=200, error=error, retry_after=None)
    delivered = await bot.core.deliver(
        Outgoing(to="dm:slack:U0SELLER1", text="escalation", kind="escalation")
    )
    assert not delivered.ok
    assert delivered.error == "dm_refused"


async def test_a_refused_dm_channel_is_opened_afresh_and_groups_keep_slack_errors(
    bot: Bot,
) -> None:
    dm = Outgoing(to="dm:slack:U0SELLER1", text="escalation", kind="escalation")
    assert (await bot.core.deliver(dm)).ok
    bot.fake.fail("chat.postMessage", status=200, error="channel_not_found", retry_after=None)
    assert (await bot.core.deliver(dm)).error == "dm_refused"
    assert (await bot.core.deliver(dm)).ok
    assert len(bot.fake.of("conversations.open")) == 2  # the stale channel was forgotten
    # A group the bot is not in is not a refused DM: Slack's own error stands.
    bot.fake.fail("chat.postMessage", status=200, error="channel_not_found", retry_after=None)
    assert (await bot.core.deliver(Outgoing(to="slack:C0GONE", text="x"))).error == (
        "channel_not_found"
    )
    # Nor is a failure that is not a refusal.
    bot.fake.fail("conversations.open", status=200, error="internal_error", retry_after=None)
    assert (await bot.core.deliver(Outgoing(to="dm:slack:U0NEW", text="x"))).error == (
        "internal_error"
    )


async def test_url_verification_challenge(bot: Bot) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "x"})
    headers = signed_headers(body, content_type="application/json")
    async with bot.http.post(bot.url, data=body, headers=headers) as response:
        assert response.status == 200
        assert (await response.json()) == {"challenge": "abc123"}


async def test_healthz_and_metrics(bot: Bot) -> None:
    base = bot.url.removesuffix("/slack/events")
    async with bot.http.get(base + "/healthz") as response:
        assert response.status == 200
        assert await response.json() == {"ok": True}
    await bot.command("/kpi", "")
    await bot.adapter.drain()
    async with bot.http.get(base + "/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        assert "kpibot_commands" in await response.text()


def test_web_routes_need_a_signing_secret(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        slack_bot_token=BOT_TOKEN,
        slack_api_url="http://127.0.0.1:9/api/",
    )

    async def check() -> None:
        adapter = SlackAdapter(_NoCore(), settings)
        try:
            with pytest.raises(ValueError, match="SLACK_SIGNING_SECRET"):
                adapter.web_routes()
        finally:
            await adapter.stop()

    asyncio.run(check())


class _NoCore:
    clock = VirtualClock(NOW)

    async def handle(self, cmd: Command) -> list[Outgoing]:
        return []

    async def deliver(self, msg: Outgoing) -> Any:
        raise AssertionError("not used")


# --- the pacer --------------------------------------------------------------------------------


async def test_pacer_spaces_posts_to_one_channel_and_not_others() -> None:
    vtime = VirtualTime()
    pacer = ChannelPacer(1.0, monotonic=vtime.monotonic, sleep=vtime.sleep)
    started: list[tuple[str, float]] = []

    async def post(channel: str) -> None:
        await pacer.wait(channel)
        started.append((channel, vtime.now))

    await asyncio.gather(post("C1"), post("C1"), post("C2"), post("C1"), post("C2"))
    one = [t for c, t in started if c == "C1"]
    two = [t for c, t in started if c == "C2"]
    assert one == [1000.0, 1001.0, 1002.0]
    assert two[0] == 1000.0  # C2 did not wait for C1
    assert two[1] - two[0] >= 1.0


async def test_pacer_on_the_real_clock_keeps_the_interval() -> None:
    """The production clock and sleep: starts to one channel are at least ``interval`` apart."""
    pacer = ChannelPacer(0.05)
    started: list[float] = []

    async def post() -> None:
        await pacer.wait("C1")
        started.append(time.monotonic())

    await asyncio.gather(*(post() for _ in range(4)))
    gaps = [b - a for a, b in itertools.pairwise(started)]
    assert all(gap >= 0.05 - 1e-3 for gap in gaps), gaps


async def test_fan_out_to_one_channel_is_paced_through_the_port(bot: Bot) -> None:
    await asyncio.gather(
        *(bot.core.deliver(Outgoing(to=f"slack:{SHARED_CHANNEL}", text=f"m{i}")) for i in range(3))
    )
    assert len(bot.fake.of("chat.postMessage")) == 3
    assert bot.time.sleeps == [1.0, 1.0]


# --- translation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "text", "expected"),
    [
        ("/report", "gmv 12000", "/report gmv 12000"),
        ("/kpi", "", "/kpi"),
        ("/fee", "if gmv 60000", "/fee if gmv 60000"),
        ("/kpibot", "help", "/help"),
        ("/kpibot", "", "/help"),
        ("/kpibot", "whoami", "/whoami"),
        ("/kpibot", "link #acme-linkstar-us seller", "/link #acme-linkstar-us seller"),
        ("/kpibot", "link <#C123|acme-linkstar-us> seller", "/link #acme-linkstar-us seller"),
        ("/dispute", "gmv a &amp; b &lt;3", "/dispute gmv a & b <3"),
    ],
)
def test_slash_text(command: str, text: str, expected: str) -> None:
    assert slash_text(command, text) == expected


def test_plain_text_strips_only_the_bot() -> None:
    assert plain_text("<@UBOT> report gmv 1", "UBOT") == "report gmv 1"
    assert plain_text("<@UBOT|kpibot> kpi", "UBOT") == "kpi"
    assert plain_text("<@UBOT> dispute gmv ask <@U2>", "UBOT") == "dispute gmv ask @U2"
    assert plain_text("see <https://x.test/a|the sheet> <!here>") == "see the sheet @here"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<@U123ABC> report gmv 1", "@U123ABC report gmv 1"),
        ("<@U123ABC|kpibot> report gmv 1", "@U123ABC report gmv 1"),
        ("<@U123ABC>report gmv 1", "@U123ABC report gmv 1"),
        ("<@U123ABC|kpibot>: report gmv 1", "@U123ABC: report gmv 1"),
        ("<@U123ABC>,report gmv 1", "@U123ABC, report gmv 1"),
        ("ask <@U2>, please", "ask @U2, please"),  # only the leading mention gets a space
    ],
)
def test_a_leading_slack_mention_becomes_the_neutral_one(text: str, expected: str) -> None:
    """Slack's ``<@U123ABC>`` and ``<@U123ABC|name>`` are turned into the ``@U123ABC`` the core
    parses, so the core knows nothing of Slack's syntax; the command reads as before."""
    assert plain_text(text) == expected
    names = ("kpibot", "U123ABC")
    if expected.startswith("@U123ABC"):
        assert split_command(plain_text(text), names) == ("report", "gmv 1")
    assert split_command(plain_text("<@U123ABC>"), names) is None
    assert split_command(plain_text("<@U999XYZ> report gmv 1"), names) is None
    assert split_command(plain_text("<@U999XYZ> report gmv 1")) == ("report", "gmv 1")


def test_slash_message_id_is_one_key_per_invocation() -> None:
    assert slash_message_id(team="T1", trigger_id="13.9", fallback="f") == "slash:T1:13.9"
    assert slash_message_id(team="T1", trigger_id="13.9", fallback="f") != slash_message_id(
        team="T1", trigger_id="14.2", fallback="f"
    )
    assert slash_message_id(team="T1", trigger_id="", fallback="f") == "slash:T1:f"


def test_render_text_escapes_and_mentions() -> None:
    msg = Outgoing(to="slack:C1", text="a < b & c > d", mentions=("slack:U1", "slack:W2"))
    assert render_text(msg) == "<@U1> <@W2> a &lt; b &amp; c &gt; d"
    assert escape_mrkdwn("&lt;") == "&amp;lt;"


def test_manifest_declares_every_command_the_least_scopes_and_the_mention_event() -> None:
    import yaml

    from bot.adapters.slack import COMMANDS

    path = Path(__file__).resolve().parents[1] / "bot" / "adapters" / "slack_manifest.yaml"
    manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
    commands = [c["command"] for c in manifest["features"]["slash_commands"]]
    assert commands == ["/" + name for name in COMMANDS]
    assert all(c["should_escape"] is False for c in manifest["features"]["slash_commands"])
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == [
        "app_mentions:read",
        "channels:history",
        "chat:write",
        "commands",
        "files:read",
        "files:write",
        "groups:history",
        "im:write",
        "users:read",
    ]
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == [
        "app_mention",
        "message.channels",
        "message.groups",
    ]


def test_long_rich_messages_stay_within_block_kit_limits() -> None:
    long_lines = [f"line {i} " + "x" * 90 for i in range(80)]  # ~8,000 characters
    msg = Outgoing(
        to="slack:C1",
        text="t",
        rich=Rich.from_json({
            "title": "T" * 200,
            "sections": [
                {"title": "big", "lines": long_lines},
                {"title": "huge", "lines": ["y" * 7000]},
            ],
        }),
    )
    blocks = render_blocks(msg)
    assert blocks is not None
    assert len(blocks[0]["text"]["text"]) == 150
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert all(0 < len(text) <= 3000 for text in sections)
    # Nothing is lost: the pieces put back together are the lines.
    joined = "\n".join(sections)
    assert all(line in joined for line in long_lines)
    assert joined.count("y") == 7000

    many = Outgoing(
        to="slack:C1",
        text="t",
        rich=Rich.of("x", [(f"s{i}", ["a"]) for i in range(80)]),
    )
    many_blocks = render_blocks(many)
    assert many_blocks is not None and len(many_blocks) == 50


async def test_export_uploads_the_workbook_through_files_upload_v2(bot: Bot) -> None:
    """``/export`` (issue 16): the period's XLSX goes into the channel in the three-step upload."""
    import io

    from openpyxl import load_workbook

    assert (await bot.command("/export")).status == 200
    await bot.adapter.drain()

    [get_url] = bot.fake.of("files.getUploadURLExternal")
    assert get_url.params["filename"].endswith(".xlsx")
    [upload] = bot.fake.of("upload")
    book = load_workbook(io.BytesIO(upload.body))
    assert book.sheetnames == ["ledger", "verdicts", "daily", "statement"]
    [complete] = bot.fake.of("files.completeUploadExternal")
    assert complete.params["channel_id"] == AGENCY_CHANNEL
