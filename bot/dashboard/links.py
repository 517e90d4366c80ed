"""Dashboard links: signed, scoped to one deal and one side, expiring, revocable per deal.

A link's token is an itsdangerous signature (keyed by ``SECRET_KEY``) over the deal, the side
it shows, when it was issued and when it expires. Times come from the caller's clock, so that
tests and replay judge expiry on their own time. Revoking a deal's links stores the instant of
revocation; every token of that deal issued at or before it is refused from then on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import Column, ForeignKey, String, Table, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kpi.db import transaction
from kpi.model import ChatSide
from kpi.storage import UtcDateTime, metadata

ViewSide = ChatSide
"""Whose view a link shows: a chat's side (``shared`` sees both alike)."""
VIEW_SIDES: tuple[ViewSide, ...] = ("seller", "agency", "shared")

_SALT = "kpibot.dashboard.link"

revocations = Table(
    "dashboard_revocations",
    metadata,
    Column("deal_id", String(100), ForeignKey("deals.id"), primary_key=True),
    Column("revoked_at", UtcDateTime, nullable=False),
)
"""One row per deal whose links were revoked: links issued at or before ``revoked_at`` fail."""


@dataclass(frozen=True)
class Grant:
    """What a valid link lets its holder see."""

    deal_id: str
    side: ViewSide
    issued: dt.datetime
    expires: dt.datetime


class LinkRefused(Exception):
    """A token that is tampered with, expired or revoked. The reason is for logs only."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _ms(at: dt.datetime) -> int:
    return int(at.timestamp() * 1000)


def _from_ms(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


class Links:
    """Issues and checks dashboard links for one ``SECRET_KEY`` and one database."""

    def __init__(self, secret: str, engine: AsyncEngine, public_url: str, days: int) -> None:
        """Create the link service.

        Args:
            secret: ``SECRET_KEY``.
            engine: The ledger's engine (revocations are stored there).
            public_url: ``PUBLIC_URL``, the base of every link.
            days: ``DASHBOARD_LINK_DAYS``, the default validity.
        """
        self._serializer = URLSafeSerializer(secret, salt=_SALT)
        self._engine = engine
        self.public_url = public_url.rstrip("/")
        self.days = days

    def token(self, deal_id: str, side: ViewSide, now: dt.datetime, days: int | None = None) -> str:
        """A signed token for ``deal_id`` seen as ``side``, valid ``days`` from ``now``."""
        expires = now + dt.timedelta(days=days or self.days)
        payload = {"d": deal_id, "s": side, "i": _ms(now), "e": _ms(expires)}
        return str(self._serializer.dumps(payload))

    def url(self, token: str) -> str:
        """The address of the dashboard for ``token``."""
        return f"{self.public_url}/d/{token}"

    async def check(self, token: str, now: dt.datetime) -> Grant:
        """The grant a token carries, if it is genuine, unexpired and not revoked.

        Raises:
            LinkRefused: Otherwise (the reason says which, for the log).
        """
        try:
            data: Any = self._serializer.loads(token)
            grant = Grant(
                deal_id=str(data["d"]),
                side=data["s"],
                issued=_from_ms(int(data["i"])),
                expires=_from_ms(int(data["e"])),
            )
        except (BadData, KeyError, TypeError, ValueError):
            raise LinkRefused("bad signature") from None
        if grant.side not in VIEW_SIDES:
            raise LinkRefused("bad side")
        if now >= grant.expires:
            raise LinkRefused("expired")
        revoked = await self.revoked_at(grant.deal_id)
        if revoked is not None and grant.issued <= revoked:
            raise LinkRefused("revoked")
        return grant

    async def revoked_at(self, deal_id: str) -> dt.datetime | None:
        """When the deal's links were last revoked (``None``: never)."""

        async def work(conn: AsyncConnection) -> dt.datetime | None:
            found = await conn.execute(
                select(revocations.c.revoked_at).where(revocations.c.deal_id == deal_id)
            )
            return found.scalar_one_or_none()

        return await transaction(self._engine, work, write=False)

    async def revoke(self, deal_id: str, now: dt.datetime) -> None:
        """Refuse every link of ``deal_id`` issued up to ``now``; later links work."""

        async def work(conn: AsyncConnection) -> None:
            done = await conn.execute(
                revocations.update().where(revocations.c.deal_id == deal_id).values(revoked_at=now)
            )
            if done.rowcount == 0:
                await conn.execute(revocations.insert().values(deal_id=deal_id, revoked_at=now))

        await transaction(self._engine, work, write=True)
