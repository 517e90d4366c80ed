"""The message catalog: every message to users, in English and Simplified Chinese.

The catalog is the YAML files in ``bot/locales/``, merged; each key maps to ``{en: ..., zh: ...}``
with ``str.format`` placeholders. Why not gettext: two languages written side by side in one
file per area keep translations reviewable in a single diff, and the completeness test
(``tests/test_i18n.py``) checks every key has both languages with the same placeholders.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

LOCALES = ("en", "zh")


@lru_cache(maxsize=1)
def catalog() -> Mapping[str, Mapping[str, str]]:
    """All messages, keyed by message key then locale."""
    merged: dict[str, dict[str, str]] = {}
    folder = resources.files("bot") / "locales"
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if not item.name.endswith(".yaml"):
            continue
        data = yaml.safe_load(item.read_text(encoding="utf-8")) or {}
        for key, texts in data.items():
            if key in merged:
                raise ValueError(f"message key {key!r} defined twice (in {item.name})")
            merged[key] = {str(k): str(v) for k, v in texts.items()}
    return merged


def placeholders(text: str) -> set[str]:
    """The ``{name}`` placeholders used by a message."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def t(key: str, locale: str = "en", /, **params: Any) -> str:
    """The message ``key`` in ``locale`` (falling back to English), with ``params`` filled in."""
    texts = catalog().get(key)
    if texts is None:
        raise KeyError(f"no message {key!r} in the catalog")
    template = texts.get(locale) or texts["en"]
    return template.format(**params)
