"""The Telegram adapter: python-telegram-bot's real HTTP stack against a fake Bot API server.

Every test runs the real core (SQLite in ``tmp_path``, the demo deal applied) behind the
adapter, and python-telegram-bot talks HTTP to ``tests/fakes/telegram_api.py`` on 127.0.0.1.
Waits are on events the fake records, never on sleeps.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import shutil
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from bot.adapters.common import send_dm_or_report
from bot.adapters.telegram import (
    LIMITS,
    SECRET_HEADER,
    TelegramAdapter,
    is_group_chat,
    split_text,
    utf16_len,
    webhook_secret_from_token,
)
from bot.app import Core, build_core
from bot.core import Attachment, Command, Outgoing, VirtualClock
from bot.core.i18n import t
from bot.settings import Settings
from bot.web import bound_port, build_web_app, serve
from kpi.model import Entry
from tests.fakes.telegram_api import BOT_USERNAME, TOKEN, FakeTelegram, parse_html

ROOT = Path(__file__).resolve().parents[1]
DEMO_DEAL = ROOT / "bot" / "demo" / "acme-linkstar-us.yaml"
DEAL = "acme-linkstar-us"
GROUP = -1001234  # linked to the demo deal, seller side
MEMBER = 5001  # a seller member, admin and level-1 contact
OTHER_MEMBER = 5002  # a seller member
NOW = dt.datetime(2026, 11, 20, 20, 0, tzinfo=dt.UTC)
WEBHOOK_URL = "https://kpibot.example.com/telegram/webhook"


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


def make_settings(tg: FakeTelegram, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "telegram_bot_token": SecretStr(TOKEN),
        "telegram_base_url": tg.base_url,
        "telegram_webhook_url": None,
        "telegram_webhook_secret": None,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per module with the demo deal applied; tests copy it.
    Migrating takes about a second, which would otherwise be most of each test's time."""
    path = tmp_path_factory.mktemp("telegram") / "template.db"

    async def make() -> None:
        settings = Settings(_env_file=None, database_url=f"sqlite:///{path}")  # type: ignore[call-arg]
        built = await build_core(settings, clock=VirtualClock(NOW))
        await built.apply_deal_text(DEMO_DEAL.read_text(encoding="utf-8"), str(DEMO_DEAL))
        await built.aclose()

    # A thread of its own: this module-scoped fixture must not touch the tests' event loops.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, make()).result()
    return path


@pytest.fixture
def database_url(template_db: Path, tmp_path: Path) -> str:
    """A fresh copy of the template database."""
    path = tmp_path / "kpibot.db"
    shutil.copyfile(template_db, path)
    return f"sqlite:///{path}"


@pytest.fixture
def settings(tg: FakeTelegram, database_url: str) -> Settings:
    return make_settings(tg, database_url)


@pytest.fixture
async def core(settings: Settings) -> AsyncIterator[Core]:
    built = await build_core(settings, clock=VirtualClock(NOW), migrate=False)
    try:
        yield built
    finally:
        await built.aclose()


@pytest.fixture
async def adapter(core: Core, settings: Settings) -> AsyncIterator[TelegramAdapter]:
    async with running(core, settings) as started:
        yield started


class running:
    """Start an adapter for the core and stop it afterwards (``async with running(...)``)."""

    def __init__(self, core: Any, settings: Settings, **kwargs: Any) -> None:
        kwargs.setdefault("poll_timeout", 1)
        kwargs.setdefault("typing_after", 60)
        self.adapter = TelegramAdapter(core, settings, **kwargs)
        self.core = core

    async def __aenter__(self) -> TelegramAdapter:
        self.core.add_port(self.adapter.port)
        await self.adapter.start()
        return self.adapter

    async def __aexit__(self, *exc: object) -> None:
        await self.adapter.stop()


async def all_entries(core: Core) -> list[Entry]:
    """Every entry of the deal, superseded ones included."""
    return await core.ledger.history(DEAL, limit=1000)


async def processed(tg: FakeTelegram, update: dict[str, Any]) -> None:
    """Wait until the adapter confirmed ``update`` (it confirms only after processing it)."""
    await tg.wait_for(lambda: tg.confirmed_offset > update["update_id"])


# ------------------------------------------------------------------------- what must show


@pytest.mark.parametrize("command", ["/report gmv 1.2万", f"/report@{BOT_USERNAME} gmv 1.2万"])
async def test_group_report_stores_one_entry_and_answers(
    tg: FakeTelegram, core: Core, adapter: TelegramAdapter, command: str
) -> None:
    """A group member's ``/report gmv 1.2万`` (with or without ``@botname``) stores one entry
    of 12,000 for the seller side and answers in the group, threaded under the command."""
    update = tg.push_message(GROUP, command, user_id=MEMBER)

    await tg.wait_for(lambda: len(tg.sent(GROUP)) == 1)

    [entry] = await all_entries(core)
    assert (entry.metric, entry.value, entry.side) == ("gmv", Decimal(12000), "seller")
    assert entry.person == f"telegram:{MEMBER}"
    assert entry.person_name == "Xiao Lin"
    assert entry.chat == f"telegram:{GROUP}"
    assert entry.day == dt.date(2026, 11, 20)  # 10:00 in Los Angeles
    [answer] = tg.texts(GROUP)
    assert "Saved" in answer and "12,000" in answer
    [call] = tg.sent(GROUP)
    assert call.params["parse_mode"] == "HTML"
    assert f'"message_id": {update["message"]["message_id"]}' in call.params["reply_parameters"]


async def test_same_update_twice_stores_one_entry(
    tg: FakeTelegram, core: Core, settings: Settings, adapter: TelegramAdapter
) -> None:
    """The same update delivered twice stores one entry: in one process the update_id is
    skipped; in a new process (restart, or another replica) the ledger's unique source key
    answers "already recorded" and stores nothing."""
    update = tg.message_update(GROUP, "/report gmv 12000", user_id=MEMBER)
    tg.push_update(update)
    tg.push_update(update)  # Telegram redelivers: same update_id, same message
    await tg.wait_for(lambda: len(tg.sent(GROUP)) == 1)
    await processed(tg, update)
    assert len(await all_entries(core)) == 1
    assert len(tg.sent(GROUP)) == 1

    # A new process knows nothing of the first: only the database can stop the double count.
    await adapter.stop()
    async with running(core, settings):
        again = tg.push_update(update)
        await tg.wait_for(lambda: len(tg.sent(GROUP)) == 2)
        await processed(tg, again)

    assert len(await all_entries(core)) == 1
    assert "Already recorded" in tg.texts(GROUP)[1]


async def test_webhook_refuses_missing_or_wrong_secret(
    tg: FakeTelegram, core: Core, database_url: str
) -> None:
    """Webhook mode registers the URL with its secret, does not poll, and refuses updates
    without the right ``X-Telegram-Bot-Api-Secret-Token`` (403): nothing is stored or sent.
    The right secret is accepted and the report stored before the 200 (the reply after it)."""
    settings = make_settings(
        tg,
        database_url,
        telegram_webhook_url=WEBHOOK_URL,
        telegram_webhook_secret=SecretStr("s3cret-Token_1"),
    )
    async with running(core, settings) as adapter:
        assert tg.webhook is not None
        assert tg.webhook["url"] == WEBHOOK_URL
        assert tg.webhook["secret_token"] == "s3cret-Token_1"
        assert adapter.web_routes()[0][:2] == ("POST", "/telegram/webhook")

        runner = await serve(build_web_app(adapter.web_routes()), "127.0.0.1", 0)
        url = f"http://127.0.0.1:{bound_port(runner)}/telegram/webhook"
        update = tg.message_update(GROUP, "/report gmv 12000", user_id=MEMBER)
        try:
            async with aiohttp.ClientSession() as http:
                for headers in ({}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: ""}):
                    async with http.post(url, json=update, headers=headers) as response:
                        assert response.status == 403
                assert await all_entries(core) == []
                assert tg.sent() == []

                headers = {SECRET_HEADER: "s3cret-Token_1"}
                async with http.post(url, json=update, headers=headers) as response:
                    assert response.status == 200
                # Stored before the answer; the reply follows from the background sender.
                assert len(await all_entries(core)) == 1
                await tg.wait_for(lambda: len(tg.sent(GROUP)) == 1)

                async with http.post(url, data=b"not json", headers=headers) as response:
                    assert response.status == 400

                # A replica that is stopping asks Telegram to retry rather than drop it.
                await adapter.stop()
                later = tg.message_update(GROUP, "/report gmv 13000", user_id=MEMBER)
                async with http.post(url, json=later, headers=headers) as response:
                    assert response.status == 503
        finally:
            await runner.cleanup()
    assert tg.calls_to("getUpdates") == []
    assert tg.webhook is not None  # other replicas still serve it


async def test_group_to_supergroup_migration_keeps_the_deal_link(
    tg: FakeTelegram, core: Core, adapter: TelegramAdapter
) -> None:
    """When a linked group becomes a supergroup, the new chat id keeps the deal link and
    sees the history reported in the old group."""
    old, new = -4001, -1004001
    await core.ledger.link_chat(f"telegram:{old}", DEAL, "seller")
    tg.push_message(old, "/report gmv 9000", user_id=MEMBER, title="Linkstar")
    await tg.wait_for(lambda: len(tg.sent(old)) == 1)

    # Telegram sends both service messages: one in the old chat, one in the new.
    tg.push_message(old, "", user_id=MEMBER, extra={"migrate_to_chat_id": new})
    last = tg.push_message(new, "", user_id=MEMBER, extra={"migrate_from_chat_id": old})
    await processed(tg, last)

    assert await core.ledger.deals_for_chat(f"telegram:{new}") == [(DEAL, "seller")]
    tg.push_message(new, "/history gmv", user_id=MEMBER)
    await tg.wait_for(lambda: len(tg.sent(new)) == 1)
    [answer] = tg.texts(new)
    assert "9,000" in answer
    assert "not linked" not in answer


async def test_sending_to_a_migrated_group_follows_it(
    tg: FakeTelegram, core: Core, adapter: TelegramAdapter
) -> None:
    """A send to a group that has migrated (Telegram answers ``migrate_to_chat_id``) is
    resent to the supergroup, and the link moves even if the service message was missed."""
    old, new = -4002, -1004002
    await core.ledger.link_chat(f"telegram:{old}", DEAL, "seller")
    tg.migrate_chat(old, new)

    delivered = await core.deliver(Outgoing(to=f"telegram:{old}", text="Weekly recap"))

    assert delivered.ok and delivered.message_id is not None
    assert delivered.message_id.startswith(f"{new}:")
    assert tg.texts(new) == ["Weekly recap"]
    assert await core.ledger.deals_for_chat(f"telegram:{new}") == [(DEAL, "seller")]


async def test_unlinked_chat_learns_nothing(
    tg: FakeTelegram, core: Core, adapter: TelegramAdapter
) -> None:
    """A chat not linked to a deal gets only the generic answer: no deal id, name, party or
    figure, whatever it asks, even naming the deal; and nothing is stored."""
    stranger = -1009999999
    tg.push_message(GROUP, "/report gmv 7777", user_id=MEMBER)
    await tg.wait_for(lambda: len(tg.sent(GROUP)) == 1)
    asks = ["/kpi", "/fee", "/history", "/report gmv 100", f"/kpi #{DEAL}", "/whoami"]
    for text in asks:
        tg.push_message(stranger, text, user_id=MEMBER)

    await tg.wait_for(lambda: len(tg.sent(stranger)) == len(asks))

    generic = t("router.not_linked", "en")
    *refusals, whoami = tg.texts(stranger)
    assert refusals == [generic] * (len(asks) - 1)
    assert whoami == f"You are Xiao Lin (telegram:{MEMBER}).\n{generic}"
    for secret in (DEAL, "ACME", "Linkstar", "7,777", "USD", "Seller ops lead"):
        assert secret not in generic
    assert len(await all_entries(core)) == 1


async def test_retry_after_is_honoured(
    tg: FakeTelegram, core: Core, adapter: TelegramAdapter
) -> None:
    """A 429 with ``retry_after: 1`` on the answer is retried, not before a second has
    passed; the report is stored once and the answer arrives once."""
    tg.fail_next("sendMessage", status=429, retry_after=1)
    tg.push_message(GROUP, "/report gmv 12000", user_id=MEMBER)

    await tg.wait_for(lambda: len(tg.sent(GROUP)) == 1)

    refused, accepted = tg.calls_to("sendMessage")
    assert (refused.status, accepted.status) == (429, 200)
    assert accepted.at - refused.at >= 1.0
    assert len(await all_entries(core)) == 1


async def test_long_answer_arrives_as_two_messages(
    tg: FakeTelegram, core: Core, adapter: TelegramAdapter
) -> None:
    """A 6,000-character answer arrives as two messages, split on a line boundary, each
    within Telegram's 4,096 limit, together the whole text (hostile characters included)."""
    lines = [f"{day:03d} <b>gmv</b> & co: {'x' * 60}" for day in range(200)]
    text = "\n".join(lines)[:6000]
    assert len(text) == 6000

    delivered = await core.deliver(Outgoing(to=f"telegram:{GROUP}", text=text))

    assert delivered.ok
    first, second = tg.texts(GROUP)
    assert utf16_len(first) <= 4096 and utf16_len(second) <= 4096
    assert f"{first}\n{second}" == text
    assert first.endswith("x" * 60)  # cut between lines, not inside one


async def test_direct_message_to_contact_who_never_started_the_bot_is_reported_in_group(
    tg: FakeTelegram, core: Core, adapter: TelegramAdapter
) -> None:
    """Telegram refuses a DM to a person who never started the bot (403). The port says
    ``dm_refused``; the caller reports it in the group, mentioning the contact and carrying
    the message, instead of failing silently."""
    tg.forbid_chat(OTHER_MEMBER)
    escalation = Outgoing(
        to=f"dm:telegram:{OTHER_MEMBER}",
        text="Escalation: GMV is at 62% of pace for November.",
        kind="escalation",
    )

    direct = await core.deliver(escalation)
    assert (direct.ok, direct.error) == (False, "dm_refused")

    reported = await send_dm_or_report(adapter.port, escalation, f"telegram:{GROUP}", who="Chen")

    assert (reported.ok, reported.error) == (False, "dm_refused")
    assert reported.message_id is not None and reported.message_id.startswith(f"{GROUP}:")
    [notice] = tg.texts(GROUP)
    assert "Could not send a direct message to Chen" in notice
    assert "GMV is at 62% of pace" in notice
    [call] = tg.sent(GROUP)
    assert f'href="tg://user?id={OTHER_MEMBER}"' in call.params["text"]


async def test_direct_message_reply_refused_during_a_command_is_reported_in_the_chat(
    tg: FakeTelegram, settings: Settings
) -> None:
    """When a command's answer includes a DM that Telegram refuses, the adapter reports the
    refusal in the chat the command came from."""

    class DmCore:
        clock = VirtualClock(NOW)

        async def handle(self, cmd: Command) -> list[Outgoing]:
            return [
                Outgoing(to=cmd.chat, text="Escalated."),
                Outgoing(to=f"dm:telegram:{OTHER_MEMBER}", text="Please look at GMV."),
            ]

        def add_port(self, port: Any) -> None:
            pass

    tg.forbid_chat(OTHER_MEMBER)
    async with running(DmCore(), settings):
        tg.push_message(GROUP, "/ack", user_id=MEMBER)
        await tg.wait_for(lambda: len(tg.sent(GROUP)) == 2)
    assert f"Could not send a direct message to telegram:{OTHER_MEMBER}" in tg.texts(GROUP)[1]


# ------------------------------------------------------------------------- more behaviour


async def test_start_sets_the_menu_in_english_and_chinese_and_polls(
    tg: FakeTelegram, adapter: TelegramAdapter
) -> None:
    """At start: the command menu in English (the default) and Chinese, no webhook left
    over (polling needs none), then long polling."""
    english = {c["command"]: c["description"] for c in tg.commands[""]}
    chinese = {c["command"]: c["description"] for c in tg.commands["zh"]}
    expected = {"report", "kpi", "fee", "history", "confirm", "dispute", "statement", "ack"}
    assert expected | {"help", "whoami", "link"} <= set(english)
    assert set(english) == set(chinese)
    assert "上报" in chinese["report"]
    assert english["report"].startswith("Report the day's figures")
    assert tg.calls_to("deleteWebhook")
    await tg.wait_for(lambda: bool(tg.calls_to("getUpdates")))


async def test_update_is_confirmed_only_after_it_was_processed(
    tg: FakeTelegram, core: Core, settings: Settings
) -> None:
    """No loss: while the core works on an update, ``getUpdates`` has not confirmed it, so a
    crash at that moment means Telegram delivers it again."""
    entered, release = asyncio.Event(), asyncio.Event()

    class SlowCore:
        clock = core.clock
        ledger = core.ledger

        async def handle(self, cmd: Command) -> list[Outgoing]:
            entered.set()
            await release.wait()
            return await core.handle(cmd)

        async def deliver(self, msg: Outgoing) -> Any:
            return await core.deliver(msg)

        def add_port(self, port: Any) -> None:
            core.add_port(port)

    async with running(SlowCore(), settings):
        update = tg.push_message(GROUP, "/report gmv 12000", user_id=MEMBER)
        await entered.wait()
        assert tg.confirmed_offset <= update["update_id"]
        release.set()
        await processed(tg, update)
    assert len(await all_entries(core)) == 1


async def test_a_chats_replies_keep_its_order_and_the_batch_waits_for_them(
    tg: FakeTelegram, core: Core, settings: Settings
) -> None:
    """Replies go out beside the processing (the chat's next command is handled while the
    previous answer travels), yet in the order of the commands, each under its own command;
    and the batch is confirmed only once every reply went."""
    held, all_handled = asyncio.Event(), asyncio.Event()
    sends: list[str] = []

    class CountingCore:
        clock = core.clock
        ledger = core.ledger
        handled = 0

        async def handle(self, cmd: Command) -> list[Outgoing]:
            replies = await core.handle(cmd)
            self.handled += 1
            if self.handled == 3:
                all_handled.set()
            return replies

        async def deliver(self, msg: Outgoing) -> Any:
            return await core.deliver(msg)

        def add_port(self, port: Any) -> None:
            core.add_port(port)

    async with running(CountingCore(), settings) as adapter:
        original = adapter.port.send

        async def held_first(message: Outgoing, *, reply_to: int | None = None) -> Any:
            sends.append(message.text)
            if len(sends) == 1:
                await held.wait()
            return await original(message, reply_to=reply_to)

        adapter.port.send = held_first  # type: ignore[method-assign]
        updates = [
            tg.push_message(GROUP, f"/report {metric} {value}", user_id=MEMBER)
            for metric, value in (("gmv", 100), ("orders", 7), ("refunds", 5))
        ]
        # All three are handled while the first reply is held.
        await asyncio.wait_for(all_handled.wait(), 10)
        assert tg.sent(GROUP) == [] and tg.confirmed_offset <= updates[0]["update_id"]
        held.set()
        await processed(tg, updates[-1])
    texts = tg.texts(GROUP)
    assert ["gmv" in texts[0], "orders" in texts[1], "refunds" in texts[2]] == [True] * 3
    for call, update in zip(tg.sent(GROUP), updates, strict=True):
        assert f'"message_id": {update["message"]["message_id"]}' in call.params["reply_parameters"]


async def test_a_core_failure_is_answered_not_saved(
    tg: FakeTelegram, settings: Settings
) -> None:
    """Should the core raise (a bug: it answers user and storage errors itself), the person
    is still told the command was not saved, in the language they wrote in, as on Slack."""

    class BrokenCore:
        clock = VirtualClock(NOW)

        async def handle(self, cmd: Command) -> list[Outgoing]:
            raise RuntimeError("database is on fire")

        def add_port(self, port: Any) -> None:
            pass

    async with running(BrokenCore(), settings):
        tg.push_message(GROUP, "/report gmv 1", user_id=MEMBER)
        tg.push_message(GROUP, "/report 成交额 1", user_id=MEMBER)
        await tg.wait_for(lambda: len(tg.sent(GROUP)) == 2)
    english, chinese = tg.texts(GROUP)
    assert english == t("router.storage_failed", "en")
    assert chinese == t("router.storage_failed", "zh")


async def test_polling_survives_errors_from_get_updates(
    tg: FakeTelegram, core: Core, adapter: TelegramAdapter
) -> None:
    """A failed ``getUpdates`` (here 409: another poller) is logged and retried after a
    backoff; polling does not die, and the next update is answered."""
    tg.fail_next("getUpdates", status=409, description="Conflict: terminated by other getUpdates")
    await tg.wait_for(lambda: 409 in [c.status for c in tg.calls_to("getUpdates")])
    tg.push_message(GROUP, "/report gmv 12000", user_id=MEMBER)

    await tg.wait_for(lambda: len(tg.sent(GROUP)) == 1)

    assert len(await all_entries(core)) == 1


async def test_typing_is_shown_while_the_core_works(
    tg: FakeTelegram, core: Core, settings: Settings
) -> None:
    """A slow command shows "typing…" in the chat before the answer."""

    class WaitsForTyping:
        clock = core.clock
        ledger = core.ledger

        async def handle(self, cmd: Command) -> list[Outgoing]:
            await tg.wait_for(lambda: bool(tg.calls_to("sendChatAction")))
            return await core.handle(cmd)

        async def deliver(self, msg: Outgoing) -> Any:
            return await core.deliver(msg)

        def add_port(self, port: Any) -> None:
            core.add_port(port)

    async with running(WaitsForTyping(), settings, typing_after=0):
        tg.push_message(GROUP, "/report gmv 12000", user_id=MEMBER)
        await tg.wait_for(lambda: len(tg.sent(GROUP)) == 1)
    [typing] = tg.calls_to("sendChatAction")
    assert (int(typing.params["chat_id"]), typing.params["action"]) == (GROUP, "typing")


async def test_hostile_names_and_text_are_escaped(
    tg: FakeTelegram, core: Core, adapter: TelegramAdapter
) -> None:
    """User-supplied text cannot inject markup: a name full of HTML comes back as text
    (the fake refuses any malformed or unsupported HTML, as Telegram does)."""
    evil = '<a href="https://evil.example">click</a> & <b>'
    tg.push_message(GROUP, "/whoami", user_id=MEMBER, first_name=evil, last_name=None)

    await tg.wait_for(lambda: len(tg.sent(GROUP)) == 1)

    [answer] = tg.texts(GROUP)
    assert evil in answer
    assert "<a href" not in tg.sent(GROUP)[0].params["text"]


async def test_mention_and_commands_for_other_bots(
    tg: FakeTelegram, core: Core, adapter: TelegramAdapter
) -> None:
    """``@botname report …`` works like the command; ``/report@otherbot`` is not ours."""
    tg.push_message(GROUP, "/report@other_bot gmv 1", user_id=MEMBER)
    tg.push_message(GROUP, "hello @someone_else report gmv 2", user_id=MEMBER)
    tg.push_message(GROUP, f"@{BOT_USERNAME} report orders 340", user_id=MEMBER)

    await tg.wait_for(lambda: len(tg.sent(GROUP)) == 1)

    [entry] = await all_entries(core)
    assert (entry.metric, entry.value) == ("orders", Decimal(340))


async def test_direct_chat_is_direct(
    tg: FakeTelegram, core: Core, adapter: TelegramAdapter
) -> None:
    """In a private chat the command is direct: a member sees their deals by membership."""
    tg.push_message(MEMBER, "/start", user_id=MEMBER)
    tg.push_message(MEMBER, "/kpi", user_id=MEMBER)

    await tg.wait_for(lambda: len(tg.sent(MEMBER)) == 2)

    help_text, kpi = tg.texts(MEMBER)
    assert "/report" in help_text
    assert "not linked" not in kpi


async def test_chart_goes_out_as_a_photo(
    tg: FakeTelegram, core: Core, adapter: TelegramAdapter
) -> None:
    """A recap with a chart: short text rides as the photo's caption; long text goes first
    as messages, then the photo with its title."""
    chart = Attachment("recap.png", b"\x89PNG\r\n\x1a\nfake", title="GMV <vs> target")

    short = await core.deliver(Outgoing(to=f"telegram:{GROUP}", text="Week 47", files=(chart,)))
    long = await core.deliver(Outgoing(to=f"telegram:{GROUP}", text="y" * 2000, files=(chart,)))

    assert short.ok and long.ok
    methods = [c.method for c in tg.sent(GROUP)]
    assert methods == ["sendPhoto", "sendMessage", "sendPhoto"]
    photos = tg.calls_to("sendPhoto")
    assert all(p.files for p in photos)
    assert tg.texts(GROUP) == ["Week 47", "y" * 2000, "GMV <vs> target"]


async def test_mentions_notify_people(
    tg: FakeTelegram, core: Core, adapter: TelegramAdapter
) -> None:
    """``Outgoing.mentions`` become Telegram user links, with names learned from messages."""
    tg.push_message(GROUP, "/whoami", user_id=MEMBER)
    await tg.wait_for(lambda: len(tg.sent(GROUP)) == 1)

    await core.deliver(
        Outgoing(
            to=f"telegram:{GROUP}",
            text="No seller figures for today yet.",
            kind="reminder",
            mentions=(f"telegram:{MEMBER}", "slack:U0AGENCY1"),
        )
    )

    assert tg.texts(GROUP)[1] == "Xiao Lin\nNo seller figures for today yet."
    assert f'<a href="tg://user?id={MEMBER}">Xiao Lin</a>' in tg.sent(GROUP)[1].params["text"]


async def test_token_never_reaches_the_logs(
    tg: FakeTelegram, core: Core, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """httpx logs every request URL, and Telegram's URLs carry the bot token: it is
    redacted, at every level."""
    caplog.set_level(logging.DEBUG)
    async with running(core, settings):
        tg.push_message(GROUP, "/report gmv 1", user_id=MEMBER)
        await tg.wait_for(lambda: len(tg.sent(GROUP)) == 1)
    # The send was logged (its method name in any case: the Bot API's are case-insensitive).
    assert any("sendmessage" in r.getMessage().lower() for r in caplog.records)
    assert not any(TOKEN in r.getMessage() for r in caplog.records)


async def test_rejected_token_does_not_leak(tg: FakeTelegram, database_url: str) -> None:
    """A token the Bot API rejects fails start with a message that does not quote it."""
    settings = make_settings(tg, database_url, telegram_bot_token=SecretStr("999:wrong-token"))
    adapter = TelegramAdapter(object(), settings)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError) as caught:
        await adapter.start()
    assert "wrong-token" not in str(caught.value)


async def test_port_paces_itself_so_the_scheduler_does_not_pace_twice(
    adapter: TelegramAdapter, core: Core, settings: Settings
) -> None:
    """With the rate limiter (the default) the port applies Telegram's limits itself; without
    it, the port declares the same limits for the scheduler's pacer to keep."""
    assert adapter.port.limits.paces_itself
    bare = TelegramAdapter(core, settings, rate_limiter=None)
    assert bare.port.limits == LIMITS and not bare.port.limits.paces_itself
    assert (LIMITS.per_second, LIMITS.per_chat_per_second, LIMITS.group_per_minute) == (30, 1, 20)


def test_negative_ids_are_groups_and_positive_ids_people() -> None:
    assert is_group_chat(f"telegram:{GROUP}") and is_group_chat("telegram:-4321")
    assert not is_group_chat(f"telegram:{MEMBER}")


def test_webhook_secret_defaults_to_one_derived_from_the_token() -> None:
    """Without ``TELEGRAM_WEBHOOK_SECRET`` every replica derives the same valid secret."""
    secret = webhook_secret_from_token(TOKEN)
    assert secret == webhook_secret_from_token(TOKEN)
    assert TOKEN not in secret and len(secret) == 64 and secret.isalnum()


# ------------------------------------------------------------------------------ splitting


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 10, ["short"]),
        ("aaa\nbbb\nccc", 7, ["aaa\nbbb", "ccc"]),
        ("one two three", 8, ["one two", "three"]),
        ("abcdefghij", 4, ["abcd", "efgh", "ij"]),
        ("😀😀😀", 4, ["😀😀", "😀"]),  # an emoji is two UTF-16 units
    ],
)
def test_split_text(text: str, limit: int, expected: list[str]) -> None:
    assert split_text(text, limit) == expected


@pytest.mark.parametrize("size", [4096, 4097, 6000, 9000, 12289])
def test_split_text_keeps_every_chunk_within_the_limit(size: int) -> None:
    lines = [f"line {n}: " + "数据" * (n % 40) for n in range(2000)]
    text = "\n".join(lines)[:size]
    chunks = split_text(text)
    assert all(utf16_len(c) <= 4096 for c in chunks)
    assert "\n".join(chunks) == text
    assert len(chunks) <= -(-size // 4000)  # lines are short: little room is wasted


def test_fake_parses_html_like_telegram() -> None:
    assert parse_html("a &lt;b&gt; &amp; <b>bold</b>") == "a <b> & bold"
    for bad in ("<script>x</script>", "a < b", "AT&T", "<b>open"):
        with pytest.raises(ValueError):
            parse_html(bad)


async def test_export_sends_the_workbook_as_a_document(
    tg: FakeTelegram, core: Core, adapter: TelegramAdapter
) -> None:
    """``/export`` (issue 16): the period's XLSX goes out with ``sendDocument``, not as a photo."""
    import io

    from openpyxl import load_workbook

    tg.push_message(GROUP, "/export", user_id=MEMBER)

    await tg.wait_for(lambda: len(tg.sent(GROUP)) == 2)

    assert [c.method for c in tg.sent(GROUP)] == ["sendMessage", "sendDocument"]
    [content] = tg.calls_to("sendDocument")[0].files.values()
    assert load_workbook(io.BytesIO(content)).sheetnames == [
        "ledger",
        "verdicts",
        "daily",
        "statement",
    ]
    assert "daily figures by side" in tg.texts(GROUP)[0]


async def test_chinese_help_names_the_bots_own_mention_and_the_chinese_words_work_after_it(
    tg: FakeTelegram, core: Core, adapter: TelegramAdapter
) -> None:
    """``/上报`` never reaches a bot in a Telegram group, so the Chinese /help shows the words
    after the bot's real @username, and ``@bot 进度`` is answered."""
    text = DEMO_DEAL.read_text(encoding="utf-8").replace("locale: en", "locale: zh", 1)
    await core.apply_deal_text(text, str(DEMO_DEAL))
    tg.push_message(GROUP, "/help", user_id=MEMBER)
    await tg.wait_for(lambda: len(tg.sent(GROUP)) == 1)
    tg.push_message(GROUP, f"@{BOT_USERNAME} 进度", user_id=MEMBER)
    await tg.wait_for(lambda: len(tg.sent(GROUP)) == 2)
    help_text, kpi_text = tg.texts(GROUP)
    assert f"@{BOT_USERNAME} 上报 成交额 1.2万" in help_text
    assert "目标" in kpi_text and "预计达成" in kpi_text
