"""Fixtures of the security suite: the Slack and Telegram test benches, reused as they are.

``bot``/``fake`` (Slack: the real bolt app served on 127.0.0.1, signed requests, fake Web API)
come from ``tests/test_slack.py``; ``tg``/``core``/``settings``/``database_url`` (Telegram:
the demo deal on a copied SQLite template, fake Bot API) from ``tests/test_telegram.py``.
Importing them here makes them fixtures of this folder, so both benches are the ones their own
suites prove.
"""

from __future__ import annotations

from tests.test_slack import bot, fake  # noqa: F401
from tests.test_telegram import core, database_url, settings, template_db, tg  # noqa: F401
