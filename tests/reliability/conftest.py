"""Shared pieces of the reliability suite: the demo deal's core on a given database."""

from __future__ import annotations

import datetime as dt

from bot.app import Core, build_core
from bot.core import VirtualClock
from bot.settings import Settings
from tests.conftest import DEMO_DEAL

DEAL = "acme-linkstar-us"
SELLER_GROUP = -1001234
"""The demo deal's Telegram group, linked on the seller's side."""
SELLER = 5001
"""A seller member (Telegram user id)."""
AGENCY_CHANNEL = "C0AGENCY"
"""The demo deal's Slack channel, linked on the agency's side."""
AGENCY_PERSON = "U0AGENCY1"
"""An agency member (Slack user id)."""


async def demo_core(
    settings: Settings, now: dt.datetime, *, migrate: bool = True, apply: bool = True
) -> Core:
    """A core on ``settings.database_url`` with the demo deal applied (``bot/demo``).

    Args:
        settings: Where the database is, and the platforms' tokens.
        now: The core's virtual clock.
        migrate: Migrate the database first.
        apply: Apply the demo deal (a no-op when it is already the current version).
    """
    core = await build_core(settings, clock=VirtualClock(now), migrate=migrate)
    if apply:
        await core.apply_deal_file(DEMO_DEAL)
    return core
