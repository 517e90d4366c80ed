"""Fixtures of the security suite: the Slack and Telegram test benches, reused as they are.

``bot``/``fake`` (Slack: the real bolt app served on 127.0.0.1, signed requests, fake Web API)
come from ``tests/test_slack.py``; ``tg``/``core``/``settings``/``database_url`` (Telegram:
the demo deal on a copied SQLite template, fake Bot API) from ``tests/test_telegram.py``.
Importing them here makes them fixtures of this folder, so both benches are the ones their own
suites prove. ``written`` is kpibot's production log setup writing into a buffer (the HTTP
hardening tests measure what unauthenticated requests add to it).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from bot.logs import setup_logging
from bot.settings import Settings
from tests.test_slack import bot, fake  # noqa: F401
from tests.test_telegram import core, database_url, settings, template_db, tg  # noqa: F401


@dataclass
class Written:
    """kpibot's log output (``setup_logging``, text format) and every record at ERROR+."""

    buffer: io.StringIO
    errors: list[logging.LogRecord]

    @property
    def size(self) -> int:
        return len(self.buffer.getvalue().encode())

    @property
    def lines(self) -> list[str]:
        return self.buffer.getvalue().splitlines()


class _Errors(logging.Handler):
    def __init__(self, into: list[logging.LogRecord]) -> None:
        super().__init__(logging.ERROR)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record)


@pytest.fixture
def written() -> Iterator[Written]:
    """kpibot's production logging at INFO into a buffer, as ``kpibot run`` sets it up."""
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    setup_logging(Settings(_env_file=None, log_level="INFO"))  # type: ignore[call-arg]
    buffer = io.StringIO()
    [handler] = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    errors: list[logging.LogRecord] = []
    root.addHandler(_Errors(errors))
    try:
        yield Written(buffer, errors)
    finally:
        root.handlers[:] = saved
        root.setLevel(level)
