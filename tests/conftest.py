"""Shared fixtures: databases (SQLite and PostgreSQL), a migrated engine, the ledger, a deal.

Database fixtures (all function-scoped; every test gets a new, empty database):

``db_url``
    Parametrized over ``sqlite`` (a file in ``tmp_path``) and ``postgres`` (a freshly created,
    uniquely named database, dropped after the test). A test that takes it runs once per
    backend. The URL is in settings form (``sqlite:///...``, ``postgresql://...``); pass it to
    ``kpi.db.make_engine``/``upgrade``, which add the async driver.
``sqlite_url`` / ``pg_url``
    The same, for a test that needs one backend only (tests taking ``pg_url`` are marked
    ``postgres`` automatically).
``engine``
    An ``AsyncEngine`` on ``db_url``, migrated to the newest schema; disposed after the test.
``ledger``
    A ``kpi.ledger.Ledger`` on ``engine`` (no deal applied yet), whose deal parser is
    ``parse_deal``.
``deal_ledger``
    ``ledger`` with ``deal`` applied as version 1, effective ``deal.starts``.

Deal fixtures:

``deal_text`` / ``deal`` / ``parse_deal``
    The demo deal file ``bot/demo/acme-linkstar-us.yaml``, the ``Deal`` loaded from it, and
    the parser (``kpi.dealfile.load_deal``) the ledger fixtures rebuild stored versions with.

PostgreSQL runs on ``127.0.0.1:5432`` as user ``postgres`` (trust auth). ``KPIBOT_TEST_PG``
overrides the server URL (default ``postgresql://postgres@127.0.0.1:5432/postgres``, the
maintenance database used to create and drop test databases). Tests on PostgreSQL carry the
``postgres`` marker (``-m "not postgres"`` deselects them). An unreachable server skips them,
except when ``CI=true``: then they fail, so CI never passes without having run them.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import NoReturn

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from kpi.db import make_engine, upgrade
from kpi.dealfile import load_deal
from kpi.ledger import Ledger
from kpi.model import Deal

ROOT = Path(__file__).resolve().parents[1]
DEMO_DEAL = ROOT / "bot" / "demo" / "acme-linkstar-us.yaml"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"
APPLIED_AT = dt.datetime(2026, 10, 25, tzinfo=dt.UTC)

_pg_problem: list[str] = []  # why the server was unreachable, remembered for the session


# ------------------------------------------------------------------------------ databases


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that take ``pg_url`` need the server: mark them, so ``-m`` can select them."""
    for item in items:
        if "pg_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


def pg_server_url() -> str:
    """The PostgreSQL maintenance-database URL tests connect to (settings form)."""
    return os.environ.get("KPIBOT_TEST_PG", PG_DEFAULT)


def _asyncpg_dsn(url: str) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


def _unreachable(reason: str) -> NoReturn:
    message = f"PostgreSQL unreachable at {make_url(pg_server_url())!r}: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: PostgreSQL tests must run)")
    pytest.skip(message)


async def _admin_connection() -> asyncpg.Connection:
    if _pg_problem:
        _unreachable(_pg_problem[0])
    try:
        return await asyncpg.connect(_asyncpg_dsn(pg_server_url()), timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        _pg_problem.append(f"{type(exc).__name__}: {exc}")
        _unreachable(_pg_problem[0])


async def _fresh_pg_database() -> AsyncIterator[str]:
    name = f"kpibot_test_{uuid.uuid4().hex[:16]}"
    admin = await _admin_connection()
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield make_url(pg_server_url()).set(database=name).render_as_string(hide_password=False)
    finally:
        admin = await _admin_connection()
        try:
            # FORCE: a test that failed may have left a connection open.
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A new empty database on each backend; see the module docstring."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'kpibot.db'}"
        return
    async for url in _fresh_pg_database():
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A new SQLite database file (not yet created)."""
    return f"sqlite:///{tmp_path / 'kpibot.db'}"


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A new empty PostgreSQL database, dropped after the test. Mark the test ``postgres``."""
    async for url in _fresh_pg_database():
        yield url


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """A migrated engine on ``db_url``."""
    await upgrade(db_url)
    eng = make_engine(db_url)
    try:
        yield eng
    finally:
        await eng.dispose()


# ---------------------------------------------------------------------------------- deals


@pytest.fixture
def deal_text() -> str:
    """The demo deal file's text, as it would be stored."""
    return DEMO_DEAL.read_text(encoding="utf-8")


@pytest.fixture
def parse_deal() -> Callable[[str], Deal]:
    """The deal parser the ledger fixtures use: ``kpi.dealfile.load_deal``."""
    return lambda text: load_deal(text, str(DEMO_DEAL))


@pytest.fixture
def deal(deal_text: str, parse_deal: Callable[[str], Deal]) -> Deal:
    """The demo deal (``acme-linkstar-us``, monthly, starts 2026-11-01, three linked chats)."""
    return parse_deal(deal_text)


@pytest.fixture
def ledger(engine: AsyncEngine, parse_deal: Callable[[str], Deal]) -> Ledger:
    """A ledger on a migrated, empty database."""
    return Ledger(engine, parse_deal)


@pytest.fixture
async def deal_ledger(ledger: Ledger, deal: Deal, deal_text: str) -> Ledger:
    """``ledger`` with ``deal`` applied (version 1, effective ``deal.starts``)."""
    await ledger.apply_deal(deal, deal_text, effective=deal.starts, applied_at=APPLIED_AT)
    return ledger
