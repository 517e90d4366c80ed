"""Prometheus metrics exposed on ``/metrics``: commands, store failures, outbox lag, escalations."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

COMMANDS = Counter(
    "kpibot_commands_total", "Chat commands handled", ["platform", "outcome"]
)
STORE_FAILURES = Counter("kpibot_store_failures_total", "Ledger writes or reads that failed")
OUTBOX_LAG = Gauge(
    "kpibot_outbox_lag_seconds", "Age of the oldest due outbox message not yet sent"
)
ESCALATIONS_OPEN = Gauge(
    "kpibot_escalations_open", "Escalations not acknowledged with notices still to send"
)
