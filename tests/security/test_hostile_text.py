"""Hostile text: what people type (names, dispute reasons) and what a deal file says (the deal's
name, metric descriptions) cannot break the formatting or inject markup or mentions.

One core runs both adapters against both fakes, with the demo deal: the seller's Telegram
group and the agency's Slack channel. A Telegram user and a Slack user with markup in their
names report and dispute with markup in their reasons, the deal file gets markup in its name
and a metric's description, and then both sides ask for everything that shows them
(/kpi, /fee, /history, /whoami, /statement), and a reminder mentions people.

What the fake servers received is the evidence:

* Telegram: every message was accepted by the fake, which parses HTML as Telegram does (an
  unknown tag, an unmatched one, a stray ``<`` or ``&`` is refused); the only markup in any
  of them is the bot's own ``tg://user`` mention links; and the hostile strings are shown
  verbatim as text.
* Slack: in every ``text`` and every mrkdwn string of every block, no ``<`` is left but the
  bot's own ``<@U…>`` mentions, every ``&`` starts an entity, and the hostile strings arrive
  in their escaped form; a header (``plain_text``, which Slack never parses) is the only
  place a ``<`` may stand as itself.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from bot.adapters.slack import SlackAdapter, escape_mrkdwn
from bot.app import Core
from bot.core import Outgoing
from bot.settings import Settings
from bot.web import bound_port, build_web_app, serve
from kpi.dealfile import load_deal
from tests.fakes.slack_api import BOT_TOKEN, SIGNING_SECRET, Call, FakeSlack
from tests.fakes.telegram_api import FakeTelegram, parse_html
from tests.test_slack import AGENCY_ADMIN, AGENCY_CHANNEL, Bot, VirtualTime
from tests.test_telegram import DEMO_DEAL, GROUP, OTHER_MEMBER, running

HOSTILE = (
    '<b>x</b></code><a href="https://evil.example">click</a> &amp; *bold* '
    "<!channel> <!here> <@U123> <https://evil.example|click>"
)
"""Telegram HTML, an entity, Slack mrkdwn and Slack mentions, as a person types them."""

SLACK_TYPED = (
    "&lt;b&gt;x&lt;/b&gt; &amp;amp; *bold* <!channel> <!here> <@U123|bob> "
    "<https://evil.example|click>"
)
"""The same typed into Slack, as Slack encodes it in a slash command's ``text``."""
SLACK_TYPED_PLAIN = "<b>x</b> &amp; *bold* @channel @here @U123 click"
"""What the adapter makes of it (``plain_text``): what is stored and shown back."""

HOSTILE_YAML = "'" + HOSTILE.replace("'", "''") + "'"


def hostile_deal() -> str:
    """The demo deal with the hostile string as its name and as gmv's description."""
    text = DEMO_DEAL.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^name: .*$", f"name: {HOSTILE_YAML}", text)
    text = re.sub(r'(?m)^  gmv: ".*"$', f"  gmv: {{description: {HOSTILE_YAML}}}", text)
    assert text.count(HOSTILE_YAML) == 2
    return text


# ------------------------------------------------------------------------------ the bench


@dataclass
class Both:
    """One core, the Telegram adapter polling the fake Bot API, the Slack app served."""

    core: Core
    tg: FakeTelegram
    slack: Bot

    async def telegram(self, text: str, *, first_name: str = HOSTILE) -> str:
        """A message in the seller's group by a member named ``first_name``; the answer."""

        def answers() -> list[Any]:
            return [c for c in self.tg.calls_to("sendMessage") if c.params["chat_id"] == str(GROUP)]

        before = len(answers())
        self.tg.push_message(
            GROUP, text, user_id=OTHER_MEMBER, first_name=first_name, last_name=None
        )
        await self.tg.wait_for(lambda: len(answers()) > before)
        last = answers()[-1]
        assert last.status == 200, f"Telegram refused the answer to {text!r}: {last.params}"
        return parse_html(last.params["text"])

    async def slack_command(self, command: str, text: str = "") -> str:
        """A slash command in the agency's channel; the answer (as Slack would show its text)."""
        before = len(self.slack.answers())
        assert (await self.slack.command(command, text)).status == 200
        await self.slack.adapter.drain()
        answers = self.slack.answers()
        assert len(answers) == before + 1, answers
        return answers[-1]


@pytest.fixture
async def both(
    tg: FakeTelegram, core: Core, settings: Settings, fake: FakeSlack
) -> AsyncIterator[Both]:
    settings.slack_bot_token = SecretStr(BOT_TOKEN)
    settings.slack_signing_secret = SecretStr(SIGNING_SECRET)
    settings.slack_api_url = fake.api_url
    fake.users[AGENCY_ADMIN] = {"display_name": HOSTILE}
    vtime = VirtualTime(fake)
    slack = SlackAdapter(
        core, settings, monotonic=vtime.monotonic, sleep=vtime.sleep, jitter=lambda: 0.0
    )
    core.add_port(slack.port)
    runner = await serve(build_web_app(slack.web_routes()), "127.0.0.1", 0)
    url = f"http://127.0.0.1:{bound_port(runner)}/slack/events"
    try:
        async with running(core, settings), aiohttp.ClientSession() as http:
            yield Both(core, tg, Bot(fake, core, slack, url, http, vtime))
    finally:
        await runner.cleanup()
        await slack.stop()


# ------------------------------------------------------------------------------ the checks

TG_MENTION = re.compile(r'<a href="tg://user\?id=\d+">|</a>')
SLACK_MENTION = re.compile(r"<@[UW][A-Z0-9]+>")
BARE_AMPERSAND = re.compile(r"&(?!amp;|lt;|gt;)")


def telegram_problems(tg: FakeTelegram) -> list[str]:
    """Every Telegram send that was refused, was not HTML, or carries markup not the bot's."""
    problems = []
    for call in tg.calls:
        if not call.method.startswith("send") or call.method == "sendChatAction":
            continue
        raw = str(call.params.get("text", call.params.get("caption", "")))
        if call.status != 200:
            problems.append(f"{call.method} refused ({call.status}): {raw!r}")
            continue
        if call.params.get("parse_mode") != "HTML":
            problems.append(f"{call.method} without parse_mode HTML: {raw!r}")
        parse_html(raw)  # valid in Telegram's subset (the fake accepted it; say so again)
        if "<" in TG_MENTION.sub("", raw):
            problems.append(f"markup that is not the bot's own in {raw!r}")
    return problems


def slack_strings(fake: FakeSlack) -> list[tuple[str, str]]:
    """Every string the bot sent Slack, with its kind: ``text``, ``mrkdwn`` or ``plain_text``."""
    out: list[tuple[str, str]] = []
    for call in fake.calls:
        if call.method not in ("chat.postMessage", "response_url"):
            continue
        out.append(("text", str(call.params.get("text", ""))))
        blocks = call.params.get("blocks") or []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        for block in blocks:
            for obj in (block.get("text"), *block.get("fields", ()), *block.get("elements", ())):
                if obj:
                    out.append((obj["type"], obj["text"]))
    return out


def slack_problems(fake: FakeSlack) -> list[str]:
    """Every Slack string where a user's ``<…>`` or a bare ``&`` could be read as markup."""
    problems = []
    for kind, text in slack_strings(fake):
        if kind == "plain_text":
            continue  # shown literally by Slack: nothing in it is markup
        if "<" in SLACK_MENTION.sub("", text) or ">" in SLACK_MENTION.sub("", text):
            problems.append(f"an unescaped < or > in {kind}: {text!r}")
        if BARE_AMPERSAND.search(text):
            problems.append(f"a bare & in {kind}: {text!r}")
    return problems


# ------------------------------------------------------------------------------ the test


async def test_hostile_names_reasons_and_deal_text_cannot_inject_markup(both: Both) -> None:
    """Names, reasons, the deal's name and a metric's description, full of Telegram HTML,
    Slack mrkdwn and mentions, are shown as text on both platforms, and nothing else is."""
    # People: a hostile Slack display name and Telegram name report; both dispute.
    assert "Saved" in await both.slack_command("/report", "gmv 2000")
    assert "Saved" in await both.telegram("/report gmv 1800")
    disputed = await both.telegram(f"/dispute gmv {HOSTILE}")
    # The reason, shown as typed, ends the first line (the next says which chats were told).
    assert disputed.splitlines()[0].endswith(HOSTILE)
    assert escape_mrkdwn(SLACK_TYPED_PLAIN) in await both.slack_command(
        "/dispute", f"gmv {SLACK_TYPED}"
    )

    # The deal file: a hostile name and metric description.
    await both.core.apply_deal_text(hostile_deal(), "hostile.yaml")

    # Everything that shows them, on both sides.
    telegram_kpi = await both.telegram("/kpi")
    for command in ("/history gmv", "/whoami", "/fee", "/statement"):
        await both.telegram(command)
    slack_kpi = await both.slack_command("/kpi")
    slack_history = await both.slack_command("/history", "gmv")
    for command, text in (("/kpibot", "whoami"), ("/fee", ""), ("/statement", "")):
        await both.slack_command(command, text)

    # A reminder that mentions people on each platform (the Telegram name was learned above).
    reminder = "No agency figures for today yet."
    for to, mentions in (
        (f"telegram:{GROUP}", (f"telegram:{OTHER_MEMBER}",)),
        (f"slack:{AGENCY_CHANNEL}", ("slack:U0AGENCY1", "slack:<!here>", "slack:U1|x>")),
    ):
        assert (await both.core.deliver(Outgoing(to=to, text=reminder, mentions=mentions))).ok

    # Telegram: every message valid, no markup but the bot's mentions, hostile text verbatim.
    assert telegram_problems(both.tg) == []
    visible = "\n".join(both.tg.texts(GROUP))
    assert HOSTILE in telegram_kpi  # the deal's name, the description, the dispute reason
    assert telegram_kpi.count(HOSTILE) >= 3, telegram_kpi
    assert SLACK_TYPED_PLAIN in telegram_kpi  # the Slack side's reason, across platforms
    assert f"{HOSTILE}\n{reminder}" in visible  # the mention's name, as text
    raw = [str(c.params["text"]) for c in both.tg.sent(GROUP)]
    assert sum(html.escape(HOSTILE, quote=False) in text for text in raw) >= 5  # escaped forms
    mention = [c for c in both.tg.sent(GROUP) if reminder in parse_html(c.params["text"])]
    assert mention[0].params["text"].startswith(f'<a href="tg://user?id={OTHER_MEMBER}">&lt;b&gt;')

    # Slack: nothing unescaped anywhere; the hostile strings arrive escaped.
    assert slack_problems(both.slack.fake) == []
    escaped = escape_mrkdwn(HOSTILE)
    assert escaped in slack_kpi and escaped in slack_history
    assert slack_kpi.count(escaped) >= 3, slack_kpi  # name, description, the Telegram reason
    strings = slack_strings(both.slack.fake)
    assert any(kind == "plain_text" and HOSTILE in text for kind, text in strings)  # header
    assert all("<!channel>" not in text for kind, text in strings if kind != "plain_text")
    [post] = [c for c in both.slack.fake.of("chat.postMessage") if reminder in c.params["text"]]
    assert post.params["text"] == f"<@U0AGENCY1> {reminder}"  # no mention smuggled in an id


def test_the_checks_catch_what_they_look_for() -> None:
    """The checks above are not vacuous: raw hostile strings fail them."""
    fake = FakeSlack()
    fake.calls.append(_call("chat.postMessage", {"text": "ping <!channel>"}))
    fake.calls.append(_call("response_url", {"text": "a & b", "blocks": [_mrkdwn("<@U1|x>")]}))
    assert len(slack_problems(fake)) == 3
    with pytest.raises(ValueError):
        parse_html(HOSTILE)


def _call(method: str, params: dict[str, Any]) -> Call:
    return Call(method, params, BOT_TOKEN, 0.0)


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def test_hostile_deal_file_loads() -> None:
    """The hostile deal file is a valid deal (the test above really applied it)."""
    deal = load_deal(hostile_deal(), "hostile.yaml")
    assert deal.name == HOSTILE
    assert deal.metrics["gmv"].description == HOSTILE
