"""Alembic migrations of the ledger schema; run them with ``kpi.db.upgrade``."""
