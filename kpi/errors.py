"""The domain's errors. ``UserError`` is safe to show to a chat user; its ``code`` is a key of the
message catalog (``bot/locales/*.yaml``) and ``params`` fill the message's placeholders."""

from __future__ import annotations

from typing import Any


class KpiError(Exception):
    """Base of every error raised by ``kpi``."""


class UserError(KpiError, ValueError):
    """Bad input from a person. Nothing was stored; the message says what was wrong."""

    def __init__(self, code: str, **params: Any) -> None:
        self.code = code
        self.params = params
        detail = ", ".join(f"{k}={v!r}" for k, v in params.items())
        super().__init__(f"{code}({detail})" if detail else code)


class DealFileError(KpiError, ValueError):
    """A deal file was rejected whole. ``problems`` lists ``(key path, line, message)``.

    ``codes`` maps a problem's index to ``(catalog key, params)`` for the problems that have a
    rendering in the message catalog (issue 18's contract terms), so that the command line can
    print them in the file's ``locale`` (``kpibot deal check`` on a ``locale: zh`` file)."""

    def __init__(
        self,
        source: str,
        problems: list[tuple[str, int | None, str]],
        *,
        codes: dict[int, tuple[str, dict[str, Any]]] | None = None,
        locale: str = "en",
    ) -> None:
        self.source = source
        self.problems = problems
        self.codes = codes or {}
        self.locale = locale
        lines = [
            f"{source}:{line if line is not None else '?'}: {key}: {message}"
            for key, line, message in problems
        ]
        super().__init__("deal file rejected:\n" + "\n".join(lines))


class StorageError(KpiError, RuntimeError):
    """The ledger could not be read or written (database unreachable, lock timeout)."""
