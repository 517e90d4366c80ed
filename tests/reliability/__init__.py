"""Reliability suite: redelivery, crashes, database loss, concurrency and fuzzing."""
