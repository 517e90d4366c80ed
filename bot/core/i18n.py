"""The message catalog: every message to users, in English and Simplified Chinese.

The catalog is the YAML files in ``bot/locales/``, merged; each key maps to ``{en: ..., zh: ...}``
with ``str.format`` placeholders. Why not gettext: two languages written side by side in one
file per area keep translations reviewable in a single diff, and the completeness test
(``tests/test_i18n.py``) checks every key has both languages with the same placeholders.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from importlib import resources
from typing import Any, Protocol

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


class Translate(Protocol):
    """A translator bound to one reply's language: ``tr("kpi.title", name=...)``.

    ``Context.t`` is one; :func:`translator` makes one for a locale (the scheduler's)."""

    def __call__(self, key: str, /, **params: Any) -> str: ...


def translator(locale: str) -> Translate:
    """``t`` bound to ``locale``, shaped like ``Context.t``."""
    return _Bound(locale)


class _Bound:
    """``t`` with its locale fixed (a plain class: picklable and cheap to call)."""

    __slots__ = ("locale",)

    def __init__(self, locale: str) -> None:
        self.locale = locale

    def __call__(self, key: str, /, **params: Any) -> str:
        return t(key, self.locale, **params)


# -- what code inserts into messages: metric names, lists, label separators ------------------

_IDENTIFIER = re.compile(r"\b[a-z][a-z0-9_]*\b")
_OPERATORS = {"zh": {"/": "÷", "*": "×"}}


def metric_label(name: str, locale: str, labels: Mapping[str, str] | None = None) -> str:
    """How a metric is named in ``locale``: the deal's own label, the catalog's built-in
    ``metric.NAME`` label, or the key itself (a metric the catalog does not know)."""
    if labels and labels.get(locale):
        return labels[locale]
    texts = catalog().get(f"metric.{name}")
    return texts.get(locale, name) if texts else name


def join_list(items: Iterable[str], locale: str) -> str:
    """A list as the language writes it: ``a, b`` in English, ``甲、乙`` in Chinese."""
    return ("、" if locale == "zh" else ", ").join(items)


def join_clauses(items: Iterable[str], locale: str) -> str:
    """Clauses that may hold commas themselves: ``a; b`` in English, ``甲；乙`` in Chinese."""
    return ("；" if locale == "zh" else "; ").join(items)


def label_sep(locale: str) -> str:
    """What follows a label before its value: ``: `` in English, ``：`` in Chinese."""
    return "：" if locale == "zh" else ": "


def formula_label(text: str, locale: str, label: Callable[[str], str]) -> str:
    """A formula with each metric name shown by ``label`` (``退款金额 ÷ 成交额`` in Chinese)."""
    shown = _IDENTIFIER.sub(lambda m: label(m.group(0)), text)
    for ascii_op, sign in _OPERATORS.get(locale, {}).items():
        shown = shown.replace(f" {ascii_op} ", f" {sign} ")
    return shown


QUOTE_LIMIT = 40
"""At most this many characters of what a person typed are quoted back (an unknown word)."""
_QUOTED = ("word", "value", "text", "label")
# A period label's form as a Chinese reader writes it (YYYY-Www reads as noise).
_ZH_FORMS = {
    "YYYY-Www": "2026-W45 或 2026年第45周",
    "YYYY-MM": "2026-11 或 2026年11月",
    "YYYY-Qn": "2026-Q4 或 2026年Q4",
}


_LABEL_FORMS_ZH = (
    (re.compile(r"^([0-9]{4})-W([0-9]{2})$"), "{0}年第{1}周"),
    (re.compile(r"^([0-9]{4})-([0-9]{2})$"), "{0}年{1}月"),
    (re.compile(r"^([0-9]{4})-(Q[1-4])$"), "{0}年{1}"),
)


def zh_period_label(label: str) -> str:
    """A period label as a Chinese reader writes it, which the period parser reads back.

    ``2026-W45`` → ``2026年第45周``, ``2026-11`` → ``2026年11月``, ``2026-Q4`` → ``2026年Q4``.
    The year is the label's own: ISO week 2026-W01 starts on 2025-12-29, and ``2025年第1周``
    would name another week. A label of another form is returned as it is.
    """
    for pattern, form in _LABEL_FORMS_ZH:
        match = pattern.match(label)
        if match:
            year, part = match.groups()
            return form.format(year, int(part) if part.isdigit() else part)
    return label


def quote(text: str, limit: int = QUOTE_LIMIT) -> str:
    """``text`` cut to ``limit`` characters with ``…``: long input is never echoed whole."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def user_params(
    params: Mapping[str, Any], locale: str, label: Callable[[str], str]
) -> dict[str, Any]:
    """A user error's parameters as its message shows them.

    Metric names (``metric``, the ``known`` list, a ``formula``) become labels in ``locale``;
    what the person typed is quoted at most :data:`QUOTE_LIMIT` characters long.
    """
    out = dict(params)
    if isinstance(out.get("metric"), str):
        out["metric"] = label(out["metric"])
    if isinstance(out.get("known"), str):
        names = [n for n in out["known"].split(", ") if n]
        out["known"] = join_list((label(n) for n in names), locale)
    for key in ("formula", "pairs"):  # metric names among figures: "gmv 12000 refunds 2000"
        if isinstance(out.get(key), str):
            out[key] = formula_label(out[key], locale, label)
    if isinstance(out.get("inputs"), str):
        out["inputs"] = join_list((label(n) for n in out["inputs"].split(", ") if n), locale)
    if locale == "zh" and out.get("form") in _ZH_FORMS:
        out["form"] = _ZH_FORMS[out["form"]]
        if isinstance(out.get("example"), str):  # the Chinese form, which parses back
            out["example"] = zh_period_label(out["example"])
    for key in _QUOTED:
        if isinstance(out.get(key), str):
            out[key] = quote(out[key])
    return out
