"""The message catalog is complete in English and Chinese, and every key used exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.core.i18n import LOCALES, catalog, placeholders, t

ROOT = Path(__file__).resolve().parents[1]


def test_every_message_has_both_languages_with_the_same_placeholders() -> None:
    for key, texts in catalog().items():
        assert set(texts) == set(LOCALES), key
        assert all(texts[loc].strip() for loc in LOCALES), key
        assert placeholders(texts["en"]) == placeholders(texts["zh"]), key


def test_keys_used_in_code_exist() -> None:
    """Every literal catalog key in ctx.t(...)/t(...)/UserError(...) calls is defined."""
    pattern = re.compile(r"""(?:\bt|UserError)\(\s*["']([a-z_]+\.[a-z_.]+)["']""")
    used: set[str] = set()
    for folder in ("bot", "handlers", "kpi", "scheduler"):
        for path in (ROOT / folder).rglob("*.py"):
            used |= set(pattern.findall(path.read_text(encoding="utf-8")))
    missing = sorted(k for k in used if k not in catalog())
    assert not missing


def test_translation_falls_back_to_english_and_fills_params() -> None:
    assert t("router.which_deal", "en", deals="#a, #b").endswith("/kpi #deal-id")
    assert "#a, #b" in t("router.which_deal", "zh", deals="#a, #b")
    assert t("side.seller", "fr") == "seller"


def test_unknown_key_is_an_error() -> None:
    with pytest.raises(KeyError):
        t("no.such.key")
