"""Scheduled work: recaps, pace checks, reminders and escalations, delivered through the outbox."""
