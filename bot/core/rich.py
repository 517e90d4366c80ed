"""The structured form of a reply: a title, sections of lines, a footer.

``Outgoing.text`` is always the plain text (:meth:`Rich.text`); an adapter that can show more
(Slack's Block Kit) renders the structure instead. The outbox stores it as JSON
(:meth:`Rich.to_json`, :meth:`Rich.from_json`), so a recap sent after a restart looks the same.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Rich", "Section"]


@dataclass(frozen=True)
class Section:
    """A block of lines, with a heading or none."""

    title: str | None
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Rich:
    """A reply's structure. Sections without lines are left out when it is built."""

    title: str
    sections: tuple[Section, ...] = ()
    footer: str = ""

    @classmethod
    def of(
        cls, title: str, sections: Iterable[tuple[str | None, Sequence[str]]], footer: str = ""
    ) -> Rich:
        """Build from ``(heading, lines)`` pairs, dropping the empty ones."""
        kept = tuple(Section(head, tuple(lines)) for head, lines in sections if lines)
        return cls(title, kept, footer)

    def text(self) -> str:
        """The plain-text form: the canonical text of every reply."""
        parts = [self.title]
        for section in self.sections:
            if section.title:
                parts.append(section.title)
            parts.extend(section.lines)
        if self.footer:
            parts.append(self.footer)
        return "\n".join(parts)

    def retitled(self, title: str) -> Rich:
        return dataclasses.replace(self, title=title)

    def with_first(self, section: Section) -> Rich:
        """This message with ``section`` before the others."""
        return dataclasses.replace(self, sections=(section, *self.sections))

    def with_last(self, section: Section) -> Rich:
        """This message with ``section`` after the others."""
        return dataclasses.replace(self, sections=(*self.sections, section))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form (the outbox keeps queued messages so)."""
        return {
            "title": self.title,
            "sections": [{"title": s.title, "lines": list(s.lines)} for s in self.sections],
            "footer": self.footer,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Rich:
        """The inverse of :meth:`to_json`."""
        sections = tuple(
            Section(s.get("title"), tuple(s.get("lines") or ())) for s in data.get("sections") or ()
        )
        return cls(str(data.get("title") or ""), sections, str(data.get("footer") or ""))
