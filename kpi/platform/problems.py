"""What is wrong with an export: one problem per cell, the whole file refused on any."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["MAX_KEPT", "ImportRefused", "Problem"]

MAX_KEPT = 100
"""Problems kept (and shown) per file; the rest are only counted."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file: its row (1-based line; 0 for the file), column and message.

    ``code`` is a message-catalog key (``bot/locales/platform.yaml``) filled with ``params``.
    """

    row: int
    column: str
    code: str
    params: dict[str, Any] = field(default_factory=dict)


class ImportRefused(ValueError):
    """A file was refused whole; nothing of it was stored."""

    def __init__(self, source: str, problems: list[Problem], total: int | None = None) -> None:
        self.source = source
        self.problems = problems[:MAX_KEPT]
        self.total = total if total is not None else len(problems)
        first = "; ".join(f"{p.row}: {p.column}: {p.code}" for p in self.problems[:5])
        super().__init__(f"{source}: {self.total} problem(s): {first}")
