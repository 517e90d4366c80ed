"""Logging: structured records (deal, command) and a filter that keeps secrets out of logs."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from bot.settings import Settings

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class RedactSecrets(logging.Filter):
    """Replaces every secret it holds with ``***`` in a record's message, exception and fields.

    The one redaction filter: :func:`setup_logging` puts one on kpibot's handler with every
    secret of the settings, and :func:`redact_loggers` one on the loggers of libraries that
    write secrets into records themselves (httpx logs each URL; Telegram's carry the token)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: list[str] = []
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        """Redact these too (blank or very short values are ignored: they would mangle text)."""
        for secret in secrets:
            if secret and len(secret) >= 4 and secret not in self.secrets:
                self.secrets.append(secret)

    def _clean(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg = self._clean(record.getMessage())
            record.args = None
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = self._clean(logging.Formatter().formatException(record.exc_info))
            for key, value in list(record.__dict__.items()):
                if key in _STANDARD or isinstance(value, int | float | bool | None):
                    continue
                # Formatters write other values with str(): clean that, when it holds a secret.
                text = value if isinstance(value, str) else str(value)
                cleaned = self._clean(text)
                if cleaned != text:
                    setattr(record, key, cleaned)
        return True


_LIBRARY_REDACTION = RedactSecrets()
"""The filter :func:`redact_loggers` installs: one, so a secret added later (a second
adapter's token) also reaches the loggers filtered earlier."""


def redact_loggers(names: Iterable[str], secrets: Iterable[str]) -> None:
    """Keep ``secrets`` out of every record made on the loggers ``names`` and their children.

    A logger's filters see only the records made on that very logger, before any handler (so
    even a handler added by a test or a library never sees the secret): each named logger and
    every existing child (python-telegram-bot creates its ``telegram.*`` loggers at import) gets
    the filter."""
    _LIBRARY_REDACTION.add(*secrets)
    roots = tuple(names)
    children = tuple(f"{name}." for name in roots)
    existing = [n for n in logging.root.manager.loggerDict if n.startswith(children)]
    for name in (*roots, *existing):
        logger = logging.getLogger(name)
        if _LIBRARY_REDACTION not in logger.filters:
            logger.addFilter(_LIBRARY_REDACTION)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the record's extra fields (deal, command, chat...)."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD:
                data[key] = value if isinstance(value, int | float | bool | None) else str(value)
        if record.exc_info:
            # RedactSecrets leaves the cleaned traceback in exc_text; format only if it did not.
            data["exc"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``time level logger message key=value ...``."""

    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        extras = " ".join(f"{k}={v}" for k, v in record.__dict__.items() if k not in _STANDARD)
        return f"{base} {extras}".rstrip()


def secret_values(settings: Settings) -> list[str]:
    """Every secret the settings hold, as plain strings (for redaction only)."""
    values = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if hasattr(value, "get_secret_value"):
            values.append(value.get_secret_value())
    url = settings.database_url
    if "@" in url and ":" in url.split("@", 1)[0].split("//", 1)[-1]:
        values.append(url.split("@", 1)[0].split("//", 1)[-1].split(":", 1)[1])
    return values


def setup_logging(settings: Settings) -> None:
    """Configure the root logger from ``LOG_LEVEL`` and ``LOG_FORMAT``."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter()
        if settings.log_format == "json"
        else TextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    handler.addFilter(RedactSecrets(secret_values(settings)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
