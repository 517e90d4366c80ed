"""A deal's linked TikTok shop: tokens encrypted at rest, and which days are final."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    ForeignKey,
    PrimaryKeyConstraint,
    Row,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.tiktok.api import Shop, Tokens
from kpi.db import transaction
from kpi.storage import UtcDateTime, metadata

__all__ = ["Link", "LinkStore", "Vault", "tiktok_days", "tiktok_links"]

tiktok_links = Table(
    "tiktok_links",
    metadata,
    Column("deal_id", String(100), ForeignKey("deals.id"), primary_key=True),
    Column("shop_id", String(100), nullable=False),
    Column("shop_name", Text, nullable=False),
    Column("region", String(10), nullable=False),
    Column("cipher", Text, nullable=False),
    Column("seller_name", Text, nullable=False),
    # Fernet tokens (encrypted with a key derived from SECRET_KEY), never the plain tokens.
    Column("access_token", Text, nullable=False),
    Column("access_expires", UtcDateTime, nullable=False),
    Column("refresh_token", Text, nullable=False),
    Column("refresh_expires", UtcDateTime, nullable=False),
    Column("linked_at", UtcDateTime, nullable=False),
)

tiktok_days = Table(
    "tiktok_days",
    metadata,
    Column("deal_id", String(100), ForeignKey("deals.id"), nullable=False),
    Column("day", Date, nullable=False),
    # A day is final once the API's latest_available_date reached it and every page was stored.
    Column("final", Boolean, nullable=False),
    Column("synced_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("deal_id", "day"),
)


class Vault:
    """Encrypts tokens and signs authorization states with a key derived from SECRET_KEY."""

    def __init__(self, secret_key: str) -> None:
        """Derive the Fernet key (HKDF-SHA256, own ``info``: not the dashboard's key)."""
        raw = HKDF(hashes.SHA256(), 32, None, b"kpibot tiktok tokens").derive(secret_key.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(raw))

    def seal(self, text: str, now: dt.datetime) -> str:
        """``text`` encrypted and authenticated."""
        return self._fernet.encrypt_at_time(text.encode(), int(now.timestamp())).decode()

    def open(self, token: str, now: dt.datetime, ttl: int | None = None) -> str:
        """The text of a sealed token (no older than ``ttl`` seconds if given).

        Raises:
            ValueError: The token was not sealed with this key, was changed, or is too old.
        """
        try:
            if ttl is None:
                return self._fernet.decrypt(token.encode()).decode()
            return self._fernet.decrypt_at_time(token.encode(), ttl, int(now.timestamp())).decode()
        except InvalidToken:
            raise ValueError("not a valid token") from None


@dataclass(frozen=True)
class Link:
    """A deal's shop and its (decrypted) tokens."""

    deal_id: str
    shop: Shop
    tokens: Tokens


class LinkStore:
    """The ``tiktok_links`` and ``tiktok_days`` tables over the ledger's engine."""

    def __init__(self, engine: AsyncEngine, vault: Vault) -> None:
        """Create the store on a migrated database."""
        self._engine = engine
        self._vault = vault

    def _token_values(self, tokens: Tokens, now: dt.datetime) -> dict[str, str | dt.datetime]:
        return {
            "access_token": self._vault.seal(tokens.access_token, now),
            "access_expires": tokens.access_expires,
            "refresh_token": self._vault.seal(tokens.refresh_token, now),
            "refresh_expires": tokens.refresh_expires,
            "seller_name": tokens.seller_name,
        }

    async def link(self, deal_id: str, shop: Shop, tokens: Tokens, now: dt.datetime) -> None:
        """Link ``shop`` to the deal (replacing an earlier link), tokens encrypted."""
        values = {
            "deal_id": deal_id,
            "shop_id": shop.id,
            "shop_name": shop.name,
            "region": shop.region,
            "cipher": shop.cipher,
            "linked_at": now,
            **self._token_values(tokens, now),
        }

        async def work(conn: AsyncConnection) -> None:
            await conn.execute(delete(tiktok_links).where(tiktok_links.c.deal_id == deal_id))
            await conn.execute(insert(tiktok_links), values)

        await transaction(self._engine, work, write=True, label="tiktok")

    async def save_tokens(self, deal_id: str, tokens: Tokens, now: dt.datetime) -> None:
        """Store refreshed tokens."""

        async def work(conn: AsyncConnection) -> None:
            await conn.execute(
                update(tiktok_links)
                .where(tiktok_links.c.deal_id == deal_id)
                .values(**self._token_values(tokens, now))
            )

        await transaction(self._engine, work, write=True, label="tiktok")

    async def get(self, deal_id: str) -> Link | None:
        """The deal's link, tokens decrypted (``None`` if the deal has no shop linked)."""

        async def work(conn: AsyncConnection) -> Link | None:
            query = select(tiktok_links).where(tiktok_links.c.deal_id == deal_id)
            return _link(self._vault, (await conn.execute(query)).first())

        return await transaction(self._engine, work, write=False, label="tiktok")

    async def final_days(self, deal_id: str, first: dt.date, last: dt.date) -> set[dt.date]:
        """The days from ``first`` to ``last`` already synced for good."""

        async def work(conn: AsyncConnection) -> set[dt.date]:
            rows = await conn.execute(
                select(tiktok_days.c.day).where(
                    tiktok_days.c.deal_id == deal_id,
                    tiktok_days.c.final.is_(True),
                    tiktok_days.c.day >= first,
                    tiktok_days.c.day <= last,
                )
            )
            return {r.day for r in rows}

        return await transaction(self._engine, work, write=False, label="tiktok")

    async def mark_day(self, deal_id: str, day: dt.date, final: bool, now: dt.datetime) -> None:
        """Note that ``day`` was synced whole (``final``: never fetched again)."""

        async def work(conn: AsyncConnection) -> None:
            key = (tiktok_days.c.deal_id == deal_id) & (tiktok_days.c.day == day)
            await conn.execute(delete(tiktok_days).where(key))
            values = {"deal_id": deal_id, "day": day, "final": final, "synced_at": now}
            await conn.execute(insert(tiktok_days), values)

        await transaction(self._engine, work, write=True, label="tiktok")


def _link(vault: Vault, row: Row[Any] | None) -> Link | None:
    """A ``tiktok_links`` row as a link, its tokens decrypted."""
    if row is None:
        return None
    tokens = Tokens(
        vault.open(row.access_token, row.linked_at),
        row.access_expires,
        vault.open(row.refresh_token, row.linked_at),
        row.refresh_expires,
        row.seller_name,
    )
    shop = Shop(row.shop_id, row.shop_name, row.region, row.cipher)
    return Link(row.deal_id, shop, tokens)
