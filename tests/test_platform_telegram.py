"""``/import`` as a Telegram document caption: python-telegram-bot's real HTTP stack downloads
the file (``getFile``) from the fake Bot API, and the core imports it."""

from __future__ import annotations

import datetime as dt

from bot.adapters.telegram import TelegramAdapter
from bot.app import Core
from kpi.platform.store import PlatformStore
from tests import test_telegram
from tests.fakes.telegram_api import FakeTelegram
from tests.platform_files import LIVE, ORDERS, csv_rows, to_csv
from tests.test_telegram import DEAL, GROUP, MEMBER

# The Telegram tests' fixtures: a fake Bot API, a core on a copy of a migrated database with the
# demo deal, and the adapter running against both.
tg = test_telegram.tg
template_db = test_telegram.template_db
database_url = test_telegram.database_url
settings = test_telegram.settings
core = test_telegram.core
adapter = test_telegram.adapter

WEEK = (dt.date(2026, 11, 2), dt.date(2026, 11, 8))


async def test_a_document_with_import_as_caption_is_imported_and_answered(
    tg: FakeTelegram, core: Core, adapter: TelegramAdapter
) -> None:
    tg.push_update(
        tg.document_update(GROUP, LIVE.name, LIVE.read_bytes(), "/import", user_id=MEMBER)
    )
    await tg.wait_for(lambda: len(tg.sent(GROUP)) == 1)
    [answer] = tg.texts(GROUP)
    assert answer == (
        "📥 Stored the live export: 13 sessions, 2026-11-02 to 2026-11-08; 7 day(s) updated, "
        "0 row(s) already imported."
    )
    assert [c.method for c in tg.calls if c.method == "getFile"] == ["getFile"]
    assert len(await PlatformStore(core.engine).sessions(DEAL, *WEEK)) == 13
    history = await PlatformStore(core.engine).imports(DEAL)
    assert [(h.file_name, h.person, h.chat) for h in history] == [
        (LIVE.name, f"telegram:{MEMBER}", f"telegram:{GROUP}")
    ]


async def test_a_bad_document_is_refused_with_the_first_five_problems_and_a_count(
    tg: FakeTelegram, core: Core, adapter: TelegramAdapter
) -> None:
    rows = csv_rows(ORDERS)
    for row in rows[2:9]:
        row[16] = "n/a"
    tg.push_update(tg.document_update(GROUP, "orders.csv", to_csv(rows), "/import", user_id=MEMBER))
    await tg.wait_for(lambda: len(tg.sent(GROUP)) == 1)
    lines = tg.texts(GROUP)[0].splitlines()
    assert lines[0].startswith("orders.csv was not imported (7 problem(s)); nothing was stored.")
    assert (
        lines[1]
        == "orders.csv:3: Order Amount: “n/a” is not an amount. Write it like 5,368.94 or -3.00."
    )
    assert len(lines) == 7 and lines[6] == "… and 2 more problem(s)."
    assert await PlatformStore(core.engine).day_figures(DEAL, *WEEK) == {}


async def test_a_document_without_a_command_caption_is_ignored(
    tg: FakeTelegram, core: Core, adapter: TelegramAdapter
) -> None:
    update = tg.push_update(tg.document_update(GROUP, LIVE.name, LIVE.read_bytes(), "our week"))
    await tg.wait_for(lambda: tg.confirmed_offset > update["update_id"])
    assert tg.sent(GROUP) == [] and not tg.calls_to("getFile")


async def test_sessions_and_a_bare_import_are_answered_as_commands(
    tg: FakeTelegram, core: Core, adapter: TelegramAdapter
) -> None:
    tg.push_message(GROUP, "/sessions 2026-11-02", user_id=MEMBER)
    await tg.wait_for(lambda: len(tg.sent(GROUP)) == 1)
    tg.push_message(GROUP, "/import", user_id=MEMBER)
    await tg.wait_for(lambda: len(tg.sent(GROUP)) == 2)
    first, second = tg.texts(GROUP)
    assert first.startswith("No livestream sessions imported for 2026-11-02.")
    assert second.startswith("Send the Seller Center export file (CSV or XLSX) with /import")
