"""The scheduler's tables (SQLAlchemy Core, on the ledger's shared ``MetaData``).

``outbox`` holds every scheduled thing the bot does, keyed deterministically by
``(deal_id, kind, slot, chat)``: deal-level *jobs* (``chat = "*"``: a recap, pace check or
reminder that is due, or was missed) and the *messages* they fan out to chats and people. The
unique key makes enqueueing idempotent across replicas; a claim (status ``claimed`` with a lease)
makes sending exclusive. ``escalations`` holds each escalation's state, and
``scheduler_cursors`` the last slot day each (deal, kind) was enumerated up to.

An escalation is ``open`` until a contact acknowledges it (``acked``) or, for a pace shortfall,
until a later pace check finds the target back on pace (``resolved``: it ended by itself).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from kpi.storage import UtcDateTime, metadata

__all__ = ["ESCALATION_STATUSES", "JOB_CHAT", "OUTBOX_STATUSES", "cursors", "escalations", "outbox"]

JOB_CHAT = "*"
"""The ``chat`` of a deal-level job row (it fans out to chats when processed)."""

OUTBOX_STATUSES = ("pending", "claimed", "sent", "done", "missed", "skipped", "cancelled", "failed")
"""``pending`` waits for ``due_at``; ``claimed`` is held by a sender until ``lease_until``;
``sent`` (a message) and ``done`` (a job) are final, as are ``missed`` (a job slot older than the
grace window), ``skipped`` (nothing to say), ``cancelled`` (its escalation was acknowledged or
resolved before it was due) and ``failed`` (the platform kept refusing)."""

ESCALATION_STATUSES = ("open", "acked", "resolved")
"""``open`` sends its notices as they come due; ``acked`` (a contact acknowledged it) and
``resolved`` (a pace check found its target back on pace) are final, and cancel the notices not
yet sent."""

_ID = BigInteger().with_variant(Integer(), "sqlite")


def _id_column() -> Column[int]:
    # SQLite only auto-increments an INTEGER PRIMARY KEY.
    return Column("id", _ID, primary_key=True, autoincrement=True)


outbox = Table(
    "outbox",
    metadata,
    _id_column(),
    Column("deal_id", String(100), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("slot", String(200), nullable=False),
    Column("chat", String(200), nullable=False),
    Column("due_at", UtcDateTime, nullable=False),
    Column("status", String(10), nullable=False),
    Column("payload", Text, nullable=True),
    Column("escalation_id", _ID, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("claimed_by", String(100), nullable=True),
    Column("lease_until", UtcDateTime, nullable=True),
    Column("message_id", String(200), nullable=True),
    Column("error", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    # The deterministic key: enqueueing the same slot twice, from any replica, stores one row.
    UniqueConstraint("deal_id", "kind", "slot", "chat"),
    CheckConstraint(
        "status IN ('pending', 'claimed', 'sent', 'done', 'missed', 'skipped', 'cancelled',"
        " 'failed')",
        name="status",
    ),
    # The claim query: due pending rows and expired claims, oldest first.
    Index(None, "status", "due_at"),
    Index(None, "escalation_id"),
)

escalations = Table(
    "escalations",
    metadata,
    _id_column(),
    Column("deal_id", String(100), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("origin", String(100), nullable=False),
    Column("open_key", String(200), nullable=True),
    Column("status", String(10), nullable=False),
    Column("detail", Text, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("acked_by", String(200), nullable=True),
    Column("acked_name", Text, nullable=True),
    Column("ack_note", Text, nullable=True),
    Column("acked_at", UtcDateTime, nullable=True),
    # A resolved one: when, and what the pace check that ended it found (JSON: its slot day,
    # the metric's pace then).
    Column("resolved_at", UtcDateTime, nullable=True),
    Column("resolution", Text, nullable=True),
    # One escalation per reason and originating check, whoever processes the check.
    UniqueConstraint("deal_id", "reason", "origin"),
    # At most one open escalation per reason: open_key is the reason while open, NULL after
    # (NULLs never collide in a unique constraint, on PostgreSQL and SQLite alike).
    UniqueConstraint("deal_id", "open_key"),
    CheckConstraint("status IN ('open', 'acked', 'resolved')", name="status"),
)

cursors = Table(
    "scheduler_cursors",
    metadata,
    Column("deal_id", String(100), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("last_slot", String(100), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("deal_id", "kind"),
)
