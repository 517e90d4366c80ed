"""Scheduled work: recaps, pace checks, reminders and escalations, delivered through the outbox."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.app import Core

__all__ = ["SERVICE", "install"]

SERVICE = "scheduler"
"""The key of the running ``SchedulerService`` in ``core.router.services``."""


def install(core: Core, **options: Any) -> None:
    """Make ``core.tick(now)`` run the scheduled work, and give handlers the service.

    Appends the service's ``tick`` to ``core.ticks`` (replay calls it as the script's time
    passes; ``scheduler.runner`` calls it every 30 seconds) and its ``next_due`` to
    ``core.next_due`` (replay moves its clock to each due instant), and registers the service as
    ``core.router.services["scheduler"]`` for ``/ack`` and ``/escalations``. Installing again
    without options changes nothing; with options, the new service replaces the old one.

    Args:
        core: The bot core.
        **options: Passed to :class:`scheduler.service.SchedulerService` (tests: ``pacer``,
            ``sleep``, ``batch``, ``charts``, ``worker``...).
    """
    from scheduler.service import SchedulerService

    previous = core.router.services.get(SERVICE)
    if previous is not None:
        if not options:
            return
        core.ticks.remove(previous.tick)
        core.next_due.remove(previous.next_due)
    service = SchedulerService(core, **options)
    core.ticks.append(service.tick)
    core.next_due.append(service.next_due)
    core.router.services[SERVICE] = service
