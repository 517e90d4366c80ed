"""Backup and restore: a month of the demo, dumped and restored, reads back identical
(SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import Core, all_tables, build_core, run_replay
from bot.core import Command, VirtualClock
from bot.replay import demo_files, parse_script
from bot.settings import Settings
from kpi.db import make_engine, upgrade
from kpi.export_backup import BackupError, dump, restore
from tests.conftest import _fresh_pg_database

WANXIANG_FILE = Path(__file__).resolve().parents[1] / "bot" / "demo" / "shenzhen-wanxiang-cn.yaml"

AFTER = dt.datetime(2026, 12, 2, 18, tzinfo=dt.UTC)
ASKS = [
    ("telegram:-1001234", "telegram:5001", "/fee"),
    ("telegram:-1001234", "telegram:5001", "/fee 2026-11"),
    ("telegram:-1001234", "telegram:5001", "/statement 2026-11"),
    ("telegram:-1001234", "telegram:5001", "/kpi 2026-11"),
    ("slack:C0AGENCY", "slack:U0AGENCY1", "/history"),
    ("slack:C0AGENCY", "slack:U0AGENCY1", "/escalations"),
    ("telegram:-1003344556677", "telegram:710200301", "/fee"),
    ("telegram:-1003344556677", "telegram:710200301", "/statement"),
]


@pytest.fixture
async def target_url(db_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """A second empty database on the same backend as ``db_url``."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    async for url in _fresh_pg_database():
        yield url


async def backup_of(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        return [line async for line in dump(engine, all_tables())]
    finally:
        await engine.dispose()


async def answers(url: str) -> list[str]:
    settings = Settings(database_url=url, _env_file=None)  # type: ignore[call-arg]
    core: Core = await build_core(settings, clock=VirtualClock(AFTER))
    try:
        out = []
        for chat, user, text in ASKS:
            replies = await core.handle(Command(chat=chat, user=user, text=text, at=AFTER))
            out.extend(r.text for r in replies)
        return out
    finally:
        await core.aclose()


async def test_a_restored_backup_reproduces_every_statement_and_fee_answer(
    db_url: str, target_url: str
) -> None:
    texts, script = demo_files()
    texts.append((WANXIANG_FILE.name, WANXIANG_FILE.read_text(encoding="utf-8")))
    await run_replay(texts, parse_script(script), db_url=db_url)
    lines = await backup_of(db_url)
    assert json.loads(lines[0])["kpibot_backup"] == 1
    tables = {json.loads(line)["table"] for line in lines[1:]}
    assert {"deals", "deal_versions", "chat_links", "entries", "verdicts", "statements",
            "statement_confirmations", "escalations"} <= tables  # fmt: skip

    await upgrade(target_url)
    engine = make_engine(target_url)
    try:
        counts = await restore(engine, all_tables(), lines)
    finally:
        await engine.dispose()
    assert counts["entries"] == sum('"table": "entries"' in line for line in lines)

    assert await backup_of(target_url) == lines  # every row, byte for byte
    before = await answers(db_url)
    assert any("USD 7,102.80" in text for text in before)  # the closed November statement
    assert await answers(target_url) == before


async def test_the_restored_database_takes_new_reports_after_the_restored_ids(
    db_url: str, target_url: str
) -> None:
    texts, script = demo_files()
    texts.append((WANXIANG_FILE.name, WANXIANG_FILE.read_text(encoding="utf-8")))
    await run_replay(texts, parse_script(script)[:12], db_url=db_url)
    lines = await backup_of(db_url)
    await upgrade(target_url)
    engine = make_engine(target_url)
    try:
        await restore(engine, all_tables(), lines)
    finally:
        await engine.dispose()
    settings = Settings(database_url=target_url, _env_file=None)  # type: ignore[call-arg]
    core = await build_core(settings, clock=VirtualClock(AFTER))
    try:
        replies = await core.handle(
            Command(
                chat="telegram:-1001234",
                user="telegram:5001",
                text="/report gmv 2500 2026-12-01",
                at=AFTER,
                message_id="after-restore",
            )
        )
        assert replies[0].kind == "reply", replies[0].text
    finally:
        await core.aclose()


async def test_a_restore_into_a_database_with_rows_is_refused_and_writes_nothing(
    db_url: str,
) -> None:
    texts, script = demo_files()
    texts.append((WANXIANG_FILE.name, WANXIANG_FILE.read_text(encoding="utf-8")))
    await run_replay(texts, parse_script(script)[:6], db_url=db_url)
    lines = await backup_of(db_url)
    engine = make_engine(db_url)
    try:
        with pytest.raises(BackupError, match="not empty"):
            await restore(engine, all_tables(), lines)
    finally:
        await engine.dispose()
    assert await backup_of(db_url) == lines


async def test_a_malformed_backup_is_refused_with_its_line_number(db_url: str) -> None:
    await upgrade(db_url)
    [header] = await backup_of(db_url)  # an empty database: the header alone
    engine = make_engine(db_url)
    try:
        with pytest.raises(BackupError, match="line 1: not a kpibot backup"):
            await restore(engine, all_tables(), ['{"hello": 1}'])
        with pytest.raises(BackupError, match="line 2: not JSON"):
            await restore(engine, all_tables(), [header, "{oops"])
    finally:
        await engine.dispose()


async def test_a_sqlite_backup_moves_to_postgresql_unchanged(sqlite_url: str, pg_url: str) -> None:
    texts, script = demo_files()
    await run_replay(texts, parse_script(script)[:40], db_url=sqlite_url)
    lines = await backup_of(sqlite_url)
    await upgrade(pg_url)
    engine = make_engine(pg_url)
    try:
        await restore(engine, all_tables(), lines)
    finally:
        await engine.dispose()
    assert await backup_of(pg_url) == lines
    assert await answers(pg_url) == await answers(sqlite_url)
