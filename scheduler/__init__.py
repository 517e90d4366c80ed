"""Scheduled work: recaps, pace checks, reminders and escalations, delivered through the outbox.

``bot.app.install_scheduler`` builds :class:`scheduler.service.SchedulerService` over the
ledger's read side and the delivery ports; ``scheduler.runner`` wakes it on a timer.
"""
