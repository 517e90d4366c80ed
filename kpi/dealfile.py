"""The deal file (contract as code): YAML text in, a validated ``kpi.model.Deal`` out.

The loader reads YAML with PyYAML's composer, so every node keeps its line number and every
scalar stays text; numbers become ``Decimal`` here, never through float. A file is accepted
whole or rejected whole: every problem found is collected into one ``DealFileError``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import zoneinfo
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, Literal, TypeVar, cast

import yaml
from babel.numbers import is_currency
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from kpi.errors import DealFileError
from kpi.formula import NAME_PATTERN, Formula, Name
from kpi.model import (
    SIDES,
    Band,
    Bonus,
    ChatLink,
    Commission,
    Contact,
    Deal,
    Deduction,
    Escalation,
    FeePlan,
    GmvBasis,
    Guarantee,
    Metric,
    MetricKind,
    Performance,
    PlatformTerms,
    Schedule,
    Side,
    Target,
    Unreported,
)

__all__ = ["DOCUMENT", "load_deal", "load_deal_file"]

DOCUMENT = "(document)"
"""The key path of problems that concern the whole file (syntax, empty, not a mapping)."""

Problem = tuple[str, int | None, str]
T = TypeVar("T")

_NULL_TAG = "tag:yaml.org,2002:null"
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# Thousands commas must group by three; "1,50" is a typo, not 150.
_AMOUNT = re.compile(r"(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<frac>\d+))?")
_PERCENT = re.compile(r"(?P<num>\d+(?:\.\d+)?)%")
_TIME = re.compile(r"(?P<h>\d{1,2}):(?P<m>\d{2})")
_DURATION = re.compile(r"(?:\d+[smhd])+")
_DURATION_PART = re.compile(r"(\d+)([smhd])")
_IDENTITY = {
    "slack": re.compile(r"[A-Z0-9]+"),
    "telegram": re.compile(r"-?\d+"),
    "console": re.compile(r"[A-Za-z0-9_.@+-]+"),
}
_MAX_INT_DIGITS = 15
_MAX_FRAC_DIGITS = 10
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_WEEKDAYS = {
    **{name: i for i, name in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))},
    **{
        name: i
        for i, name in enumerate(
            ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        )
    },
    **{f"周{c}": i for i, c in enumerate("一二三四五六日")},
    **{f"星期{c}": i for i, c in enumerate("一二三四五六日")},
    "周天": 6,
    "星期天": 6,
}

_TOP_KEYS = (
    "id",
    "name",
    "currency",
    "timezone",
    "locale",
    "starts",
    "ends",
    "effective",
    "period",
    "trial",
    "truth",
    "tolerance",
    "metrics",
    "targets",
    "fees",
    "members",
    "members_only",
    "admins",
    "contacts",
    "chats",
    "schedule",
    "platform",
    "fallback",
)
METRIC_KINDS: tuple[MetricKind, ...] = ("money", "count", "number")
DEFAULT_KINDS: dict[str, MetricKind] = {
    "gmv": "money",
    "refunds": "money",
    "ad_spend": "money",
    "orders": "count",
    "viewers": "count",
}
"""The kind of a usual metric that does not declare one; any other metric is a ``number``."""
UNREPORTED: tuple[Unreported, ...] = ("missing", "zero")
"""What a day without a figure of a reported metric is in a ratio (``unreported:``); the
first is the default, for every metric (refunds included: a deal says ``zero`` itself)."""
_PLAN_KEYS = (
    "base",
    "commission",
    "performance",
    "bonus",
    "deduction",
    "guarantee",
    "minimum",
    "cap",
)
_POINTS = re.compile(r"(?P<num>\d+(?:\.\d+)?)pt")
_NONE = "none"
_OFF = "off"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _clock(raw: str) -> dt.time | None:
    match = _TIME.fullmatch(raw)
    if match is None:
        return None
    hour, minute = int(match["h"]), int(match["m"])
    if hour > 23 or minute > 59:
        return None
    return dt.time(hour, minute)


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


# libyaml's composer is about fifteen times faster than the pure-Python one; both keep line
# marks and leave scalars as text, and both raise the same error types.
_YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _refuse_aliases(text: str) -> None:
    """Aliases are refused: a deal file is read by people, and an alias would make one node
    appear under several key paths. Scanned only when the text could hold one."""
    if "*" not in text:
        return
    for event in yaml.parse(text, Loader=_YAML_LOADER):
        if isinstance(event, AliasEvent):
            raise yaml.composer.ComposerError(
                None,
                None,
                "aliases (*name) are not allowed in deal files; write the value out",
                cast("Any", event.start_mark),  # libyaml's Mark has the same fields
            )


@dataclass
class _Names:
    """What later sections check references against."""

    metrics: frozenset[str]
    targets: frozenset[str]
    percent_targets: frozenset[str] = frozenset()
    """Targets written as a percentage (``at_most: 8%``): the ones a ``1pt`` step fits."""
    weighted: bool = False


_MIN_YEAR = 2000
_MAX_YEAR = 2200


class _Reader:
    """Turns nodes into values, recording a problem (and returning ``None``) when it cannot."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.codes: dict[int, tuple[str, dict[str, Any]]] = {}
        self.locale = "en"

    def problem(
        self, path: str, node: Node | None, message: str, code: str = "", **params: Any
    ) -> None:
        """Record a problem; ``code`` (a catalog key) and ``params`` give it a rendering in
        each language (:attr:`DealFileError.codes`)."""
        if code:
            self.codes[len(self.problems)] = (code, params)
        self.problems.append((path or DOCUMENT, None if node is None else _line(node), message))

    # -- structure -------------------------------------------------------------------------

    def entries(self, node: Node, path: str, what: str) -> list[tuple[str, ScalarNode, Node]]:
        """The (key, key node, value node) pairs of a mapping; duplicate keys are problems."""
        if not isinstance(node, MappingNode):
            self.problem(path, node, f"expected a mapping of {what}")
            return []
        seen: set[str] = set()
        out: list[tuple[str, ScalarNode, Node]] = []
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self.problem(path, key_node, "a key must be a plain word")
                continue
            key = str(key_node.value)
            if key in seen:
                self.problem(_join(path, key), key_node, f"{key!r} is given twice")
                continue
            seen.add(key)
            out.append((key, key_node, value_node))
        return out

    def fields(
        self,
        node: Node,
        path: str,
        allowed: Sequence[str],
        required: Iterable[str] = (),
        example: str = "",
    ) -> dict[str, Node] | None:
        """A mapping with a fixed set of keys. Unknown keys are problems (typo protection)."""
        if not isinstance(node, MappingNode):
            hint = f", e.g. {example}" if example else f" with keys {', '.join(allowed)}"
            self.problem(path, node, f"expected a mapping{hint}")
            return None
        out: dict[str, Node] = {}
        for key, key_node, value_node in self.entries(node, path, "keys"):
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                self.problem(
                    _join(path, key),
                    key_node,
                    f"unknown key {key!r}; {hint}allowed: {', '.join(allowed)}",
                )
                continue
            out[key] = value_node
        for key in required:
            if key not in out:
                self.problem(_join(path, key), node, f"{key!r} is missing")
        return out

    def sequence(self, node: Node, path: str, example: str) -> list[Node]:
        if not isinstance(node, SequenceNode):
            self.problem(path, node, f"expected a list, e.g. {example}")
            return []
        return list(node.value)

    # -- scalars ---------------------------------------------------------------------------

    def text(self, node: Node, path: str, example: str = "") -> str | None:
        """A non-empty scalar, as written."""
        hint = f"; write e.g. {example}" if example else ""
        if not isinstance(node, ScalarNode):
            self.problem(path, node, f"expected a single value, not a list or mapping{hint}")
            return None
        value = str(node.value).strip()
        if node.tag == _NULL_TAG or not value:
            self.problem(path, node, f"a value is needed{hint}")
            return None
        return value

    def choice(self, node: Node, path: str, options: Sequence[str]) -> str | None:
        value = self.text(node, path, options[0])
        if value is None:
            return None
        if value not in options:
            self.problem(path, node, f"{value!r} is not one of: {', '.join(options)}")
            return None
        return value

    def _decimal(self, node: Node, path: str, raw: str, example: str) -> Decimal | None:
        match = _AMOUNT.fullmatch(raw)
        if match is None:
            self.problem(path, node, f"{raw!r} is not a number; write e.g. {example}")
            return None
        digits = match["int"].replace(",", "")
        frac = match["frac"] or ""
        if len(digits.lstrip("0")) > _MAX_INT_DIGITS or len(frac) > _MAX_FRAC_DIGITS:
            self.problem(path, node, f"{raw!r} has too many digits")
            return None
        return Decimal(f"{digits}.{frac}" if frac else digits)

    def amount(self, node: Node, path: str, example: str = "3,000") -> Decimal | None:
        """A plain non-negative number; thousands commas allowed."""
        raw = self.text(node, path, example)
        if raw is None:
            return None
        if raw.endswith("%"):
            self.problem(path, node, f"{raw!r}: write a plain amount here, e.g. {example}")
            return None
        return self._decimal(node, path, raw, example)

    def _percent(self, node: Node, path: str, raw: str, example: str) -> Decimal | None:
        match = _PERCENT.fullmatch(raw)
        if match is None:
            self.problem(path, node, f"{raw!r} is not a percentage; write e.g. {example}")
            return None
        number = match["num"]
        if len(number.split(".")[0].lstrip("0")) > _MAX_INT_DIGITS:
            self.problem(path, node, f"{raw!r} has too many digits")
            return None
        # scaleb keeps the written digits exactly: "5%" is Decimal("0.05").
        return Decimal(number).scaleb(-2)

    def rate(
        self,
        node: Node,
        path: str,
        example: str = "5%",
        *,
        positive: bool = False,
        at_most_100: bool = True,
    ) -> Decimal | None:
        """A percentage that must be written with ``%``; returned as a fraction."""
        raw = self.text(node, path, example)
        if raw is None:
            return None
        if not raw.endswith("%"):
            if _AMOUNT.fullmatch(raw):
                self.problem(
                    path, node, f"{raw!r}: a rate must be written as a percentage, e.g. {example}"
                )
            else:
                self.problem(path, node, f"{raw!r} is not a percentage; write e.g. {example}")
            return None
        value = self._percent(node, path, raw, example)
        if value is None:
            return None
        if at_most_100 and value > 1:
            self.problem(path, node, f"{raw} is out of range: a rate is between 0% and 100%")
            return None
        if positive and value <= 0:
            self.problem(path, node, f"{raw} must be more than 0%")
            return None
        return value

    def number_or_percent(self, node: Node, path: str, example: str) -> Decimal | None:
        raw = self.text(node, path, example)
        if raw is None:
            return None
        if raw.endswith("%"):
            return self._percent(node, path, raw, example)
        return self._decimal(node, path, raw, example)

    def integer(self, node: Node, path: str, minimum: int, example: str) -> int | None:
        raw = self.text(node, path, example)
        if raw is None:
            return None
        if not raw.isascii() or not raw.isdigit() or len(raw) > 6:
            self.problem(path, node, f"{raw!r} is not a whole number; write e.g. {example}")
            return None
        value = int(raw)
        if value < minimum:
            self.problem(path, node, f"{raw} is too small: at least {minimum}")
            return None
        return value

    def date(self, node: Node, path: str) -> dt.date | None:
        raw = self.text(node, path, "2026-11-01")
        if raw is None:
            return None
        if _DATE.fullmatch(raw):
            try:
                day = dt.date.fromisoformat(raw)
            except ValueError:
                pass
            else:
                # Periods, projections and statements reach past the date; keep it in a range
                # where every calendar computation stays valid.
                if _MIN_YEAR <= day.year <= _MAX_YEAR:
                    return day
                years = f"{_MIN_YEAR} to {_MAX_YEAR}"
                self.problem(path, node, f"{raw!r} is out of range; use a year from {years}")
                return None
        self.problem(path, node, f"{raw!r} is not a date; write YYYY-MM-DD, e.g. 2026-11-01")
        return None

    def time(self, node: Node, path: str, example: str) -> dt.time | None:
        raw = self.text(node, path, f'"{example}"')
        if raw is None:
            return None
        value = _clock(raw)
        if value is None:
            self.problem(path, node, f'{raw!r} is not a time of day; write HH:MM, e.g. "{example}"')
        return value

    def duration(self, node: Node, path: str, example: str) -> dt.timedelta | None:
        raw = self.text(node, path, example)
        if raw is None:
            return None
        if not _DURATION.fullmatch(raw):
            self.problem(
                path, node, f"{raw!r} is not a duration; write e.g. {example} (s, m, h or d)"
            )
            return None
        seconds = sum(int(n) * _DURATION_UNITS[unit] for n, unit in _DURATION_PART.findall(raw))
        if seconds <= 0:
            self.problem(path, node, f"{raw} must be longer than zero")
            return None
        if seconds > 366 * 86400:
            self.problem(path, node, f"{raw} is longer than a year")
            return None
        return dt.timedelta(seconds=seconds)

    def identity(self, node: Node, path: str, example: str = "slack:U07ABC123") -> str | None:
        raw = self.text(node, path, example)
        if raw is None:
            return None
        platform, _, native = raw.partition(":")
        pattern = _IDENTITY.get(platform)
        if pattern is None:
            self.problem(
                path,
                node,
                f"{raw!r} is not an identity; write platform:id with platform slack, telegram "
                f"or console, e.g. {example}",
            )
            return None
        if not pattern.fullmatch(native):
            shape = {
                "slack": "an uppercase Slack id such as U07ABC123",
                "telegram": "a numeric Telegram id such as 583920114 or -1002233445566",
                "console": "letters, digits and . _ @ + -",
            }[platform]
            self.problem(path, node, f"{raw!r}: after {platform}: comes {shape}")
            return None
        return raw

    def optional(
        self, fields: dict[str, Node], key: str, path: str, read: Callable[[Node, str], T | None]
    ) -> T | None:
        node = fields.get(key)
        return None if node is None else read(node, _join(path, key))


# -- sections --------------------------------------------------------------------------------


_LABEL_LOCALES: Final = ("en", "zh")


def _labels(r: _Reader, node: Node, path: str) -> dict[str, str] | None:
    """A metric's display names per language: ``label: {zh: 成交额, en: GMV}``."""
    fields = r.fields(node, path, _LABEL_LOCALES, example="{zh: 直播时长, en: live hours}")
    if fields is None:
        return None
    labels = {loc: r.text(text, _join(path, loc), "直播时长") for loc, text in fields.items()}
    if any(text is None for text in labels.values()):
        return None
    return {loc: text for loc, text in labels.items() if text is not None}


_FormulaAt = tuple[str, Node]
"""Where a metric's formula is written (path, node): its references are checked at the end."""


def _metrics(r: _Reader, node: Node) -> dict[str, Metric]:
    entries = r.entries(node, "metrics", "metric names to descriptions or formulas")
    if isinstance(node, MappingNode) and not entries:
        r.problem("metrics", node, "list at least one metric, e.g. gmv: Gross merchandise value")
    known = frozenset(key for key, _, _ in entries)
    metrics: dict[str, Metric] = {}
    formula_nodes: dict[str, _FormulaAt] = {}
    for name, key_node, value_node in entries:
        read = _metric(r, name, key_node, value_node, known)
        if read is None:
            continue
        metrics[name], formula_at = read
        if formula_at is not None:
            formula_nodes[name] = formula_at
    _check_formulas(r, metrics, formula_nodes, known)
    return metrics


def _metric(
    r: _Reader, name: str, key_node: Node, value_node: Node, known: frozenset[str]
) -> tuple[Metric, _FormulaAt | None] | None:
    """One metric (``None`` after a problem), and where its formula is written if it has one.

    ``gmv: Gross merchandise value`` describes a reported metric; ``net_gmv: gmv - refunds``
    (only names of ``known`` metrics) derives one; a mapping gives the fields explicitly.
    """
    path = _join("metrics", name)
    if not NAME_PATTERN.fullmatch(name):
        r.problem(
            path,
            key_node,
            f"{name!r} is not a metric name: use lowercase letters, digits and _, e.g. net_gmv",
        )
        return None
    if isinstance(value_node, MappingNode):
        return _metric_fields(r, name, path, value_node)
    description = r.text(value_node, path, "Gross merchandise value, in USD")
    if description is None:
        return None
    formula = _as_formula(description, known)
    kind = DEFAULT_KINDS.get(name, "number")
    metric = Metric(name=name, description=description, formula=formula, kind=kind, labels={})
    return metric, None if formula is None else (path, value_node)


def _metric_fields(
    r: _Reader, name: str, path: str, node: MappingNode
) -> tuple[Metric, _FormulaAt | None] | None:
    """A metric written as a mapping: ``{description, formula, kind, label, unreported}``."""
    fields = r.fields(node, path, ("description", "formula", "kind", "label", "unreported"))
    if fields is None:
        return None
    if not fields.keys() - {"label", "kind", "unreported"}:
        r.problem(path, node, "give a description, a formula, or both")
        return None
    labels: dict[str, str] = {}
    if "label" in fields:
        read = _labels(r, fields["label"], _join(path, "label"))
        if read is None:
            return None
        labels = read
    description = r.optional(fields, "description", path, r.text)
    if "description" in fields and description is None:
        return None
    formula: Formula | None = None
    formula_at: _FormulaAt | None = None
    if "formula" in fields:
        formula_at = (_join(path, "formula"), fields["formula"])
        formula = _formula(r, *formula_at)
        if formula is None:
            return None
    kind = DEFAULT_KINDS.get(name, "number")
    if "kind" in fields:
        chosen = _metric_kind(r, fields["kind"], _join(path, "kind"), formula)
        if chosen is None:
            return None
        kind = chosen
    unreported: Unreported = "missing"
    if "unreported" in fields:
        unreported = _unreported(r, name, fields["unreported"], _join(path, "unreported"), formula)
    if description is None:
        assert formula is not None
        description = formula.text
    metric = Metric(
        name=name,
        description=description,
        formula=formula,
        kind=kind,
        labels=labels,
        unreported=unreported,
    )
    return metric, formula_at


def _formula(r: _Reader, path: str, node: Node) -> Formula | None:
    """A metric's ``formula:`` field, parsed (``None`` after a problem)."""
    raw = r.text(node, path, "gmv - refunds")
    if raw is None:
        return None
    try:
        return Formula.parse(raw)
    except ValueError as error:
        r.problem(path, node, str(error))
        return None


def _check_formulas(
    r: _Reader,
    metrics: dict[str, Metric],
    formula_nodes: dict[str, _FormulaAt],
    known: frozenset[str],
) -> None:
    """A problem for every formula naming an unknown metric, and for every formula cycle."""
    for name, (path, formula_node) in formula_nodes.items():
        formula = metrics[name].formula
        assert formula is not None
        unknown = sorted(formula.names - known)
        if unknown:
            r.problem(
                path,
                formula_node,
                f"formula uses unknown metric(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}",
            )
    for name, cycle in _cycles(metrics):
        path, formula_node = formula_nodes[name]
        r.problem(path, formula_node, f"formula cycle: {' -> '.join(cycle)}")


def _metric_kind(r: _Reader, node: Node, path: str, formula: Formula | None) -> MetricKind | None:
    """A reported metric's ``kind``; a derived one has none (its formula decides)."""
    if formula is not None:
        r.problem(path, node, "only a reported metric has a kind; remove it or the formula")
        return None
    return cast("MetricKind | None", r.choice(node, path, METRIC_KINDS))


def _unreported(
    r: _Reader, name: str, node: Node, path: str, formula: Formula | None
) -> Unreported:
    """A reported metric's ``unreported``: what a day without its figure is in a ratio. After
    a problem (the file is rejected) the metric is still read, as ``missing``, so that the
    formulas and targets naming it report no problem of their own."""
    if formula is not None:
        r.problem(
            path,
            node,
            f"only a reported metric has 'unreported'; {name} is derived (its formula "
            "decides); remove it or the formula",
        )
        return "missing"
    value = r.text(node, path, "zero")
    if value is None:
        return "missing"
    if value not in UNREPORTED:
        r.problem(
            path,
            node,
            f"{value!r} is not an allowed value of unreported for metric {name}; allowed: "
            "missing (the default: a day without a figure is left out of ratios), zero (a "
            "day without a figure counts as 0, e.g. refunds reported only on days with refunds)",
        )
        return "missing"
    return cast("Unreported", value)


def _as_formula(text: str, known: frozenset[str]) -> Formula | None:
    """The formula a short-form metric value denotes, or ``None`` for a description.

    A value is a formula when it parses as arithmetic that reads at least one name; a lone
    word counts only when it names a metric of the deal (otherwise it is a terse description).
    """
    try:
        formula = Formula.parse(text)
    except ValueError:
        return None
    if not formula.names:
        return None
    if isinstance(formula.tree, Name) and formula.tree.name not in known:
        return None
    return formula


def _cycles(metrics: dict[str, Metric]) -> list[tuple[str, list[str]]]:
    """Each derived metric that depends on itself, with one path that proves it."""
    found: list[tuple[str, list[str]]] = []
    for start, metric in metrics.items():
        if metric.formula is None:
            continue
        # Depth-first search from start's inputs back to start; small graphs, so simple.
        stack: list[tuple[str, list[str]]] = [(n, [start, n]) for n in sorted(metric.formula.names)]
        seen: set[str] = set()
        while stack:
            current, trail = stack.pop()
            if current == start:
                found.append((start, trail))
                break
            if current in seen:
                continue
            seen.add(current)
            inputs = metrics.get(current)
            if inputs is not None and inputs.formula is not None:
                stack.extend((n, [*trail, n]) for n in sorted(inputs.formula.names))
    return found


def _targets(
    r: _Reader, node: Node, metrics: frozenset[str]
) -> tuple[tuple[Target, ...], frozenset[str]]:
    """The targets, and the metrics whose target is written as a percentage."""
    targets: list[Target] = []
    percent: set[str] = set()
    known_problems = len(r.problems)
    for name, key_node, value_node in r.entries(node, "targets", "metric names to targets"):
        target = _target(r, name, key_node, value_node, metrics)
        if target is not None:
            targets.append(target)
            bound = cast("MappingNode", value_node).value
            raw = next(str(v.value) for k, v in bound if k.value == target.direction)
            if raw.strip().endswith("%"):
                percent.add(name)
    weights = [t.weight for t in targets if t.weight is not None]
    total = sum(weights, Decimal(0))
    # A target refused above may have carried a weight: its sum would only mislead.
    if weights and total != 1 and len(r.problems) == known_problems:
        listed = " + ".join(f"{w.scaleb(2).normalize():f}%" for w in weights)
        shown = f"{total.scaleb(2).normalize():f}%"
        r.problem(
            "targets",
            node,
            f"the weights add up to {shown} ({listed}); "
            "they must add up to 100%, e.g. 60% + 20% + 20%",
            "dealfile.weights_sum",
            total=shown,
            listed=listed,
        )
    return tuple(targets), frozenset(percent)


def _target(
    r: _Reader, name: str, key_node: Node, value_node: Node, metrics: frozenset[str]
) -> Target | None:
    path = _join("targets", name)
    if name not in metrics:
        r.problem(
            path,
            key_node,
            f"unknown metric {name!r}; known: {', '.join(sorted(metrics)) or '(none)'}",
        )
        return None
    fields = r.fields(
        value_node,
        path,
        ("at_least", "at_most", "weight"),
        example="{at_least: 50,000}",
    )
    if fields is None:
        return None
    directions = [key for key in ("at_least", "at_most") if key in fields]
    if len(directions) != 1:
        r.problem(
            path,
            value_node,
            "give exactly one of at_least or at_most, e.g. at_least: 50,000",
        )
        return None
    direction = cast("Literal['at_least', 'at_most']", directions[0])
    value = r.number_or_percent(fields[direction], _join(path, direction), "50,000 or 5%")
    weight = r.optional(
        fields,
        "weight",
        path,
        lambda n, p: r.number_or_percent(n, p, "0.5 or 50%"),
    )
    if weight is not None and weight <= 0:
        r.problem(_join(path, "weight"), fields["weight"], "a weight must be more than 0")
        return None
    if value is None or ("weight" in fields and weight is None):
        return None
    return Target(metric=name, direction=direction, value=value, weight=weight)


def _commission(r: _Reader, node: Node, path: str, names: _Names) -> Commission | None:
    fields = r.fields(
        node,
        path,
        ("on", "rate", "bands", "tiers"),
        required=("on",),
        example="{on: net_gmv, rate: 5%}",
    )
    if fields is None:
        return None
    ok = True
    on = r.optional(fields, "on", path, r.text)
    if on is not None and on not in names.metrics:
        r.problem(
            _join(path, "on"),
            fields["on"],
            f"unknown metric {on!r}; known: {', '.join(sorted(names.metrics))}",
        )
        ok = False
    tiers = r.optional(fields, "tiers", path, lambda n, p: r.choice(n, p, ("graduated", "whole")))
    if "tiers" in fields and tiers is None:
        ok = False
    bands: tuple[Band, ...] | None = None
    if ("rate" in fields) == ("bands" in fields):
        r.problem(path, node, "give either rate (e.g. rate: 5%) or bands, not both or neither")
        ok = False
    elif "rate" in fields:
        rate = r.rate(fields["rate"], _join(path, "rate"))
        bands = None if rate is None else (Band(rate=rate),)
    else:
        bands = _bands(r, fields["bands"], _join(path, "bands"))
    if not ok or on is None or bands is None:
        return None
    return Commission(
        on=on,
        bands=bands,
        tiers=cast("Literal['graduated', 'whole']", tiers or "graduated"),
    )


def _bands(r: _Reader, node: Node, path: str) -> tuple[Band, ...] | None:
    items = r.sequence(node, path, "[{up_to: 50,000, rate: 5%}, {rate: 8%}]")
    if not items:
        if isinstance(node, SequenceNode):
            r.problem(path, node, "list at least one band, e.g. - rate: 5%")
        return None
    bands: list[Band] = []
    ok = True
    previous: Decimal | None = None
    for index, item in enumerate(items):
        item_path = f"{path}[{index}]"
        last = index == len(items) - 1
        fields = r.fields(item, item_path, ("up_to", "rate"), required=("rate",))
        if fields is None:
            ok = False
            continue
        rate = r.optional(fields, "rate", item_path, r.rate)
        up_to: Decimal | None = None
        if "up_to" in fields:
            up_to = r.amount(fields["up_to"], _join(item_path, "up_to"), "50,000")
            if up_to is None:
                ok = False
            elif last:
                r.problem(
                    _join(item_path, "up_to"),
                    fields["up_to"],
                    "the last band must be open: remove up_to so that it covers everything above "
                    "the band before it",
                )
                ok = False
            elif up_to <= 0 or (previous is not None and up_to <= previous):
                after = "0" if previous is None else f"{previous:,}"
                r.problem(
                    _join(item_path, "up_to"),
                    fields["up_to"],
                    f"up_to must be more than {after}: bands go up in order",
                )
                ok = False
            else:
                previous = up_to
        elif not last:
            r.problem(
                item_path,
                item,
                "only the last band may be open: give this band an up_to, e.g. up_to: 50,000",
            )
            ok = False
        if rate is None:
            ok = False
            continue
        bands.append(Band(rate=rate, up_to=up_to))
    return tuple(bands) if ok else None


def _bonus(r: _Reader, node: Node, path: str, names: _Names) -> Bonus | None:
    fields = r.fields(
        node,
        path,
        ("when", "amount", "percent", "of"),
        required=("when",),
        example="{when: [gmv, roi], amount: 1000}",
    )
    if fields is None:
        return None
    when = _bonus_when(r, fields, path, names)
    pay = _bonus_pay(r, fields, node, path)
    if when is None or pay is None:
        return None
    amount, percent, of = pay
    return Bonus(when=when, amount=amount, percent=percent, of=of)


def _bonus_when(
    r: _Reader, fields: dict[str, Node], path: str, names: _Names
) -> tuple[str, ...] | None:
    """The targets a bonus waits for: ``when: [gmv, roi]`` (``None`` after a problem)."""
    if "when" not in fields:
        return ()
    node, when_path = fields["when"], _join(path, "when")
    items = r.sequence(node, when_path, "[gmv, roi]")
    if not items and isinstance(node, SequenceNode):
        r.problem(when_path, node, "name at least one target, e.g. [gmv]")
    ok = bool(items)
    when: list[str] = []
    for index, item in enumerate(items):
        item_path = f"{path}.when[{index}]"
        name = r.text(item, item_path, "gmv")
        if name is None:
            ok = False
        elif name not in names.targets:
            r.problem(
                item_path,
                item,
                f"{name!r} has no target; metrics with targets: "
                f"{', '.join(sorted(names.targets)) or '(none)'}",
            )
            ok = False
        elif name in when:
            r.problem(item_path, item, f"{name!r} is listed twice")
            ok = False
        else:
            when.append(name)
    return tuple(when) if ok else None


_BonusOf = Literal["commission", "base", "subtotal"]


def _bonus_pay(
    r: _Reader, fields: dict[str, Node], node: Node, path: str
) -> tuple[Decimal | None, Decimal | None, _BonusOf | None] | None:
    """A bonus's ``amount``, or its ``percent`` ``of`` a line (``None`` after a problem)."""
    if ("amount" in fields) == ("percent" in fields):
        r.problem(
            path, node, "give either amount (e.g. amount: 1000) or percent (e.g. percent: 10%)"
        )
        return None
    if "amount" in fields:
        amount = r.amount(fields["amount"], _join(path, "amount"), "1000")
        if "of" in fields:
            r.problem(_join(path, "of"), fields["of"], "of goes with percent, not with amount")
            return None
        return None if amount is None else (amount, None, None)
    percent = r.rate(fields["percent"], _join(path, "percent"), "10%")
    if "of" not in fields:
        r.problem(_join(path, "of"), node, "a percent bonus needs of: commission, base or subtotal")
        return None
    of = r.choice(fields["of"], _join(path, "of"), ("commission", "base", "subtotal"))
    if percent is None or of is None:
        return None
    return None, percent, cast(_BonusOf, of)


def _deduction(r: _Reader, node: Node, path: str, names: _Names) -> Deduction | None:
    fields = r.fields(
        node,
        path,
        ("on", "step", "per_step", "of", "cap"),
        required=("on", "step", "per_step"),
        example="{on: gmv, step: 10%, per_step: 10%, of: base, cap: 50%}",
    )
    if fields is None:
        return None
    ok = {"on", "step", "per_step"} <= fields.keys()
    on = r.optional(fields, "on", path, r.text)
    if on is not None and on not in names.targets:
        r.problem(
            _join(path, "on"),
            fields["on"],
            f"{on!r} has no target; metrics with targets: "
            f"{', '.join(sorted(names.targets)) or '(none)'}",
        )
        ok = False
    step, unit = _step(r, fields.get("step"), _join(path, "step"))
    if unit == "points" and on is not None and on not in names.percent_targets:
        r.problem(
            _join(path, "step"),
            fields["step"],
            "a step in points needs a target written as a percentage, e.g. at_most: 8%; "
            "for other targets write a relative step, e.g. step: 10%",
            "dealfile.points_need_percent",
        )
        ok = False
    per_step = r.optional(fields, "per_step", path, lambda n, p: r.rate(n, p, "10%"))
    of = r.optional(fields, "of", path, lambda n, p: r.choice(n, p, ("base", "total")))
    if "of" in fields and of is None:
        ok = False
    cap_rate, cap_amount, cap_ok = _cap(r, fields.get("cap"), _join(path, "cap"))
    ok = ok and cap_ok
    if not ok or on is None or step is None or per_step is None:
        return None
    return Deduction(
        on=on,
        step=step,
        per_step=per_step,
        of=cast("Literal['base', 'total']", of or "base"),
        cap_rate=cap_rate,
        cap_amount=cap_amount,
        unit=unit,
    )


def _step(
    r: _Reader, node: Node | None, path: str
) -> tuple[Decimal | None, Literal["relative", "points"]]:
    """A step: relative to the target (``10%``) or in percentage points (``1pt``)."""
    if node is None:
        return None, "relative"
    raw = r.text(node, path, "10% or 1pt")
    if raw is None:
        return None, "relative"
    match = _POINTS.fullmatch(raw)
    if match is None and raw.endswith("%"):
        return r.rate(node, path, "10%", positive=True), "relative"
    if match is None:
        r.problem(
            path,
            node,
            f"{raw!r} is not a step; write a percentage of the target (10%) or percentage "
            "points (1pt)",
            "dealfile.step_form",
            raw=raw,
        )
        return None, "relative"
    points = Decimal(match["num"]).scaleb(-2)
    if points <= 0 or points > 1:
        r.problem(
            path,
            node,
            f"{raw} is out of range: a step in points is above 0pt, at most 100pt",
            "dealfile.points_range",
            raw=raw,
        )
        return None, "points"
    return points, "points"


def _cap(r: _Reader, node: Node | None, path: str) -> tuple[Decimal | None, Decimal | None, bool]:
    """A cap written as a percentage (of the ``of`` amount) or as an amount: (rate, amount, ok)."""
    if node is None:
        return None, None, True
    raw = r.text(node, path, "50% or 2,000")
    if raw is None:
        return None, None, False
    if raw.endswith("%"):
        rate = r.rate(node, path, "50%")
        return rate, None, rate is not None
    amount = r.amount(node, path, "2,000")
    return None, amount, amount is not None


def _performance(r: _Reader, node: Node, path: str, names: _Names) -> Performance | None:
    fields = r.fields(
        node,
        path,
        ("amount", "floor", "cap"),
        required=("amount",),
        example="{amount: 8,000, floor: 60%, cap: 120%}",
    )
    if fields is None:
        return None
    amount = r.optional(fields, "amount", path, lambda n, p: r.amount(n, p, "8,000"))
    floor = r.optional(fields, "floor", path, lambda n, p: r.rate(n, p, "60%"))
    cap = r.optional(fields, "cap", path, lambda n, p: r.rate(n, p, "120%", at_most_100=False))
    ok = amount is not None and all(
        value is not None or key not in fields for key, value in (("floor", floor), ("cap", cap))
    )
    if cap is not None and cap < 1:
        r.problem(
            _join(path, "cap"),
            fields["cap"],
            "a score cap is at least 100%, e.g. 120%",
            "dealfile.score_cap",
        )
        ok = False
    if not names.weighted:
        r.problem(
            path,
            node,
            "the performance fee is paid on the weighted score: give targets a weight, "
            "e.g. gmv: {at_least: 150,000, weight: 60%}",
            "dealfile.performance_needs_weights",
        )
        ok = False
    if not ok or amount is None:
        return None
    return Performance(amount=amount, floor=floor or Decimal(0), cap=cap or Decimal(1))


def _guarantee(r: _Reader, node: Node, path: str, names: _Names) -> Guarantee | None:
    fields = r.fields(
        node,
        path,
        ("on", "at_least", "refund", "of", "cap"),
        required=("on", "at_least"),
        example="{on: gmv, at_least: 100,000, refund: proportional, of: base}",
    )
    if fields is None:
        return None
    on = r.optional(fields, "on", path, r.text)
    ok = on is not None
    if on is not None and on not in names.metrics:
        r.problem(
            _join(path, "on"),
            fields["on"],
            f"unknown metric {on!r}; known: {', '.join(sorted(names.metrics))}",
        )
        ok = False
    at_least = r.optional(
        fields, "at_least", path, lambda n, p: r.number_or_percent(n, p, "100,000 or 90%")
    )
    of = r.optional(fields, "of", path, lambda n, p: r.choice(n, p, ("base", "fees")))
    refund = _refund(r, fields.get("refund"), _join(path, "refund"))
    cap_rate, cap_amount, cap_ok = _cap(r, fields.get("cap"), _join(path, "cap"))
    if not (ok and cap_ok) or at_least is None or refund is None or ("of" in fields and not of):
        return None
    kind, step, per_step = refund
    return Guarantee(
        on=cast("str", on),
        at_least=at_least,
        refund=kind,
        of=cast("Literal['base', 'fees']", of or "base"),
        step=step,
        per_step=per_step,
        cap_rate=Decimal(1) if cap_rate is None else cap_rate,
        cap_amount=cap_amount,
    )


_Refund = tuple[Literal["proportional", "stepped"], Decimal | None, Decimal | None]


def _refund(r: _Reader, node: Node | None, path: str) -> _Refund | None:
    """``proportional`` (the default) or ``{step: 10%, per_step: 20%}``."""
    if node is None:
        return "proportional", None, None
    if isinstance(node, MappingNode):
        fields = r.fields(
            node,
            path,
            ("step", "per_step"),
            required=("step", "per_step"),
            example="{step: 10%, per_step: 20%}",
        )
        if fields is None or len(fields) < 2:
            return None
        step = r.rate(fields["step"], _join(path, "step"), "10%", positive=True)
        per_step = r.rate(fields["per_step"], _join(path, "per_step"), "20%")
        if step is None or per_step is None:
            return None
        return "stepped", step, per_step
    raw = r.text(node, path, "proportional")
    if raw is None:
        return None
    if raw != "proportional":
        r.problem(
            path,
            node,
            f"{raw!r}: write proportional or a step, e.g. {{step: 10%, per_step: 20%}}",
            "dealfile.refund_form",
            raw=raw,
        )
        return None
    return "proportional", None, None


_Part = (
    Decimal
    | Commission
    | Bonus
    | tuple[Bonus, ...]
    | Deduction
    | tuple[Deduction, ...]
    | Performance
    | Guarantee
)


def _terms(
    r: _Reader, node: Node, path: str, read: Callable[[Node, str], T | None]
) -> T | tuple[T, ...] | None:
    """One term (a mapping) or a list of terms, each read by ``read``; ``None`` on a problem."""
    if not isinstance(node, SequenceNode):
        return read(node, path)
    if not node.value:
        r.problem(path, node, "list at least one term, or remove the key", "dealfile.empty_terms")
        return None
    terms = [read(item, f"{path}[{index}]") for index, item in enumerate(node.value)]
    if any(term is None for term in terms):
        return None
    return tuple(cast("list[T]", terms))


def _plan_part(r: _Reader, key: str, node: Node, path: str, names: _Names) -> _Part | None:
    if key == "commission":
        return _commission(r, node, path, names)
    if key == "bonus":
        bonuses: Bonus | tuple[Bonus, ...] | None = _terms(
            r, node, path, lambda n, p: _bonus(r, n, p, names)
        )
        return bonuses
    if key == "deduction":
        deductions: Deduction | tuple[Deduction, ...] | None = _terms(
            r, node, path, lambda n, p: _deduction(r, n, p, names)
        )
        return deductions
    if key == "performance":
        return _performance(r, node, path, names)
    if key == "guarantee":
        return _guarantee(r, node, path, names)
    return r.amount(node, path)


def _plan(
    r: _Reader, fields: dict[str, Node], path: str, names: _Names, allow_none: bool
) -> tuple[dict[str, _Part | None], bool]:
    """The parts given in ``fields``; ``none`` (trial terms only) switches a part off."""
    parts: dict[str, _Part | None] = {}
    ok = True
    for key in _PLAN_KEYS:
        node = fields.get(key)
        if node is None:
            continue
        part_path = _join(path, key)
        if allow_none and isinstance(node, ScalarNode) and str(node.value).strip() == _NONE:
            parts[key] = None
            continue
        value = _plan_part(r, key, node, part_path, names)
        if value is None:
            ok = False
        parts[key] = value
    minimum, cap = parts.get("minimum"), parts.get("cap")
    if isinstance(minimum, Decimal) and isinstance(cap, Decimal) and minimum > cap:
        r.problem(_join(path, "cap"), fields["cap"], f"cap {cap:,} is below minimum {minimum:,}")
        ok = False
    return parts, ok


def _fees(
    r: _Reader, node: Node, names: _Names, trial_periods: int | None
) -> tuple[FeePlan, FeePlan | None]:
    fields = r.fields(node, "fees", (*_PLAN_KEYS, "trial_terms"), example="base: 3,000")
    if fields is None:
        return FeePlan(), None
    parts, _ = _plan(r, fields, "fees", names, allow_none=False)
    plan = FeePlan(**cast("dict[str, Any]", parts))
    trial_fees: FeePlan | None = None
    terms_node = fields.get("trial_terms")
    if terms_node is not None:
        terms = r.fields(terms_node, "fees.trial_terms", _PLAN_KEYS, example="{base: 1,500}")
        if terms is not None:
            trial_parts, trial_ok = _plan(r, terms, "fees.trial_terms", names, allow_none=True)
            # Check the merged plan too: a trial minimum above the plan's cap is as wrong as
            # one above a trial cap.
            merged = {**parts, **trial_parts}
            minimum, cap = merged.get("minimum"), merged.get("cap")
            if (
                trial_ok
                and isinstance(minimum, Decimal)
                and isinstance(cap, Decimal)
                and minimum > cap
            ):
                r.problem(
                    "fees.trial_terms",
                    terms_node,
                    f"during the trial the minimum {minimum:,} is above the cap {cap:,}",
                )
            trial_fees = replace(plan, **cast("dict[str, Any]", trial_parts))
        if trial_periods == 0:
            r.problem(
                "fees.trial_terms",
                terms_node,
                "trial_terms without a trial; add e.g. trial: {periods: 1}",
            )
    if trial_periods and trial_fees is None:
        trial_fees = plan
    return plan, trial_fees


def _identities(r: _Reader, node: Node, path: str, example: str) -> list[tuple[str, Node]]:
    out: list[tuple[str, Node]] = []
    seen: set[str] = set()
    for index, item in enumerate(r.sequence(node, path, f"[{example}]")):
        item_path = f"{path}[{index}]"
        value = r.identity(item, item_path, example)
        if value is None:
            continue
        if value in seen:
            r.problem(item_path, item, f"{value} is listed twice")
            continue
        seen.add(value)
        out.append((value, item))
    return out


def _members(r: _Reader, node: Node) -> dict[Side, tuple[str, ...]] | None:
    fields = r.fields(node, "members", SIDES, example="{seller: [slack:U07ABC123], agency: [...]}")
    if fields is None:
        return None
    members: dict[Side, tuple[str, ...]] = {}
    where: dict[str, Side] = {}
    for side in SIDES:
        side_node = fields.get(side)
        if side_node is None:
            continue
        people = _identities(r, side_node, _join("members", side), "slack:U07ABC123")
        for index, (person, person_node) in enumerate(people):
            other = where.get(person)
            if other is not None:
                r.problem(
                    f"members.{side}[{index}]",
                    person_node,
                    f"{person} is already on the {other} side; a person belongs to one side",
                )
            where[person] = side
        members[side] = tuple(person for person, _ in people)
    return members


def _contacts(
    r: _Reader,
    node: Node,
    members: dict[Side, tuple[str, ...]],
    admins: tuple[str, ...],
) -> tuple[Contact, ...]:
    contacts: list[Contact] = []
    seen: set[tuple[str, str]] = set()
    example = "{who: slack:U07ABC123, side: agency, level: 1, name: Leo Wang}"
    for index, item in enumerate(r.sequence(node, "contacts", f"[{example}]")):
        path = f"contacts[{index}]"
        fields = r.fields(
            item, path, ("who", "side", "level", "name"), ("who", "side", "level"), example
        )
        if fields is None:
            continue
        who = r.optional(fields, "who", path, r.identity)
        side = r.optional(fields, "side", path, lambda n, p: r.choice(n, p, SIDES))
        level = r.optional(fields, "level", path, lambda n, p: r.integer(n, p, 1, "1"))
        name = r.optional(fields, "name", path, r.text)
        if who is None or side is None or level is None or ("name" in fields and name is None):
            continue
        if (who, side) in seen:
            r.problem(
                _join(path, "who"), fields["who"], f"{who} is already a contact of the {side} side"
            )
            continue
        seen.add((who, side))
        side_members = members.get(cast("Side", side))
        other: Side = "agency" if side == "seller" else "seller"
        # Being an admin does not put a person on both sides: a member of one side is never
        # the other side's contact.
        if who in members.get(other, ()):
            r.problem(
                _join(path, "who"),
                fields["who"],
                f"{who} is in members.{other}, so cannot be a contact of the {side} side",
            )
            continue
        if side_members is not None and who not in side_members and who not in admins:
            r.problem(
                _join(path, "who"),
                fields["who"],
                f"{who} is not among members.{side} nor an admin; add them there first",
            )
            continue
        contacts.append(Contact(who=who, side=cast("Side", side), level=level, name=name or ""))
    return tuple(contacts)


def _admins_on_a_side(
    r: _Reader,
    admins: list[tuple[str, Node]],
    members: dict[Side, tuple[str, ...]],
    contacts: tuple[Contact, ...],
) -> None:
    """Every admin acts for one side: the one ``members`` lists them under, else the side of
    their ``contacts`` entry. An admin with neither (or a contact of both sides) could link a
    chat as either side and report the other side's figures, so the file is refused."""
    for index, (who, node) in enumerate(admins):
        if any(who in people for people in members.values()):
            continue
        sides = {contact.side for contact in contacts if contact.who == who}
        if len(sides) == 1:
            continue
        where = "is a contact of both sides" if sides else "is on no side"
        r.problem(
            f"admins[{index}]",
            node,
            f"{who} {where}: list them under members.seller or members.agency"
            + ("" if sides else ", or give them one contacts entry with their side"),
        )


def _chats(r: _Reader, node: Node) -> tuple[ChatLink, ...]:
    chats: list[ChatLink] = []
    seen: set[str] = set()
    example = "{id: slack:C07ABC123, side: shared}"
    for index, item in enumerate(r.sequence(node, "chats", f"[{example}]")):
        path = f"chats[{index}]"
        fields = r.fields(item, path, ("id", "side"), ("id", "side"), example)
        if fields is None:
            continue
        chat_id = r.optional(fields, "id", path, lambda n, p: r.identity(n, p, "slack:C07ABC123"))
        side = r.optional(
            fields, "side", path, lambda n, p: r.choice(n, p, ("seller", "agency", "shared"))
        )
        if chat_id is not None and chat_id in seen:
            r.problem(_join(path, "id"), fields["id"], f"chat {chat_id} is listed twice")
            continue
        if chat_id is None or side is None:
            continue
        seen.add(chat_id)
        chats.append(ChatLink(id=chat_id, side=cast("Literal['seller', 'agency', 'shared']", side)))
    return tuple(chats)


def _recap(r: _Reader, node: Node, path: str) -> tuple[int | None, dt.time | None] | None:
    raw = r.text(node, path, "mon 09:00")
    if raw is None:
        return None
    if raw.lower() == _OFF:
        return None, None
    match = re.fullmatch(r"(\S+?)\s*(\d{1,2}:\d{2})", raw)
    weekday = None if match is None else _WEEKDAYS.get(match[1].lower())
    clock = None if match is None else _clock(match[2])
    if weekday is None or clock is None:
        r.problem(
            path,
            node,
            f"{raw!r} is not a weekly time; write e.g. mon 09:00 (mon..sun or 周一..周日), or off",
        )
        return None
    return weekday, clock


def _optional_time(r: _Reader, node: Node, path: str, example: str) -> dt.time | bool | None:
    """A time of day, ``None`` for ``off``, or ``False`` when invalid."""
    if isinstance(node, ScalarNode) and str(node.value).strip().lower() == _OFF:
        return None
    value = r.time(node, path, example)
    return False if value is None else value


def _schedule(r: _Reader, node: Node) -> Schedule:
    default = Schedule()
    fields = r.fields(
        node,
        "schedule",
        (
            "recap",
            "reminder",
            "pace_check",
            "warn_below",
            "escalate_below",
            "escalation",
            "platform_sync",
        ),
        example='{recap: mon 09:00, reminder: "22:30"}',
    )
    if fields is None:
        return default
    changes: dict[str, Any] = {}
    if "recap" in fields:
        recap = _recap(r, fields["recap"], "schedule.recap")
        if recap is not None:
            changes["recap_weekday"], changes["recap_time"] = recap
    for key, example in (
        ("reminder", "22:30"),
        ("pace_check", "10:00"),
        ("platform_sync", "06:00"),
    ):
        if key in fields:
            value = _optional_time(r, fields[key], _join("schedule", key), example)
            if value is not False:
                changes[key] = value
    for key, example in (("warn_below", "90%"), ("escalate_below", "75%")):
        if key in fields:
            rate = r.rate(fields[key], _join("schedule", key), example)
            if rate is not None:
                changes[key] = rate
    warn = changes.get("warn_below", default.warn_below)
    escalate = changes.get("escalate_below", default.escalate_below)
    if escalate > warn:
        node_for = fields.get("escalate_below") or fields.get("warn_below") or node
        r.problem(
            "schedule.escalate_below",
            node_for,
            f"escalate_below ({escalate:%}) must not be above warn_below ({warn:%})",
        )
    if "escalation" in fields:
        escalation = _escalation(r, fields["escalation"])
        if escalation is not None:
            changes["escalation"] = escalation
    return replace(default, **changes)


def _escalation(r: _Reader, node: Node) -> Escalation | None:
    path = "schedule.escalation"
    fields = r.fields(
        node,
        path,
        ("after", "repeat", "max", "quiet"),
        example='{after: 4h, repeat: 12h, max: 3, quiet: "22:00-08:00"}',
    )
    if fields is None:
        return None
    default = Escalation()
    changes: dict[str, Any] = {}
    for key, example in (("after", "4h"), ("repeat", "12h")):
        if key in fields:
            value = r.duration(fields[key], _join(path, key), example)
            if value is not None:
                changes[key] = value
    if "max" in fields:
        count = r.integer(fields["max"], _join(path, "max"), 1, "3")
        if count is not None:
            changes["max"] = count
    if "quiet" in fields:
        quiet = _quiet(r, fields["quiet"], _join(path, "quiet"))
        if quiet is not False:
            changes["quiet"] = quiet
    return replace(default, **changes)


def _quiet(r: _Reader, node: Node, path: str) -> tuple[dt.time, dt.time] | bool | None:
    raw = r.text(node, path, '"22:00-08:00"')
    if raw is None:
        return False
    if raw.lower() == _OFF:
        return None
    start_text, dash, end_text = raw.partition("-")
    start = _clock(start_text.strip()) if dash else None
    end = _clock(end_text.strip()) if dash else None
    if start is None or end is None:
        r.problem(path, node, f'{raw!r} is not a time range; write e.g. "22:00-08:00", or off')
        return False
    if start == end:
        r.problem(path, node, f"{raw!r} is empty: start and end are the same time")
        return False
    return start, end


def _top(r: _Reader, fields: dict[str, Node]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if "id" in fields:
        raw = r.text(fields["id"], "id", "acme-linkstar-us")
        if raw is not None and (not _SLUG.fullmatch(raw) or raw.isdigit()):
            r.problem(
                "id",
                fields["id"],
                f"{raw!r} is not a deal id: 2-63 lowercase letters, digits and -, with a "
                "letter (#12 is an entry number), e.g. acme-linkstar-us",
            )
        elif raw is not None:
            values["id"] = raw
    if "name" in fields:
        values["name"] = r.text(fields["name"], "name", "Acme Home × Linkstar")
    if "currency" in fields:
        raw = r.text(fields["currency"], "currency", "USD")
        if raw is not None and not (re.fullmatch(r"[A-Z]{3}", raw) and is_currency(raw)):
            r.problem(
                "currency",
                fields["currency"],
                f"{raw!r} is not an ISO 4217 currency code; write e.g. USD, CNY or GBP",
            )
        elif raw is not None:
            values["currency"] = raw
    if "timezone" in fields:
        raw = r.text(fields["timezone"], "timezone", "America/Los_Angeles")
        if raw is not None:
            if _known_zone(raw):
                values["timezone"] = raw
            else:
                r.problem(
                    "timezone",
                    fields["timezone"],
                    f"{raw!r} is not a known time zone; write e.g. America/Los_Angeles or "
                    "Asia/Shanghai",
                )
    for key, options, default in (
        ("locale", ("en", "zh"), "en"),
        ("period", ("month", "week", "quarter"), "month"),
        ("truth", ("seller", "agency", "agreed", "platform"), "seller"),
    ):
        values[key] = r.choice(fields[key], key, options) if key in fields else default
    _fallback(r, fields, values)
    values["platform"] = _platform_terms(r, fields, values["platform_counts"])
    values["starts"] = r.optional(fields, "starts", "", r.date)
    values["effective"] = r.optional(fields, "effective", "", r.date)
    values["ends"] = _ends(r, fields, values["starts"])
    values["tolerance"] = (
        r.rate(fields["tolerance"], "tolerance", "2%") if "tolerance" in fields else Decimal("0.02")
    )
    values["members_only"] = False
    if "members_only" in fields:
        values["members_only"] = r.choice(fields["members_only"], "members_only", ("true", "false"))
    values["trial_periods"] = 0
    if "trial" in fields:
        trial = r.fields(fields["trial"], "trial", ("periods",), ("periods",), "{periods: 1}")
        if trial is not None and "periods" in trial:
            values["trial_periods"] = r.integer(trial["periods"], "trial.periods", 0, "1")
    return values


def _ends(r: _Reader, fields: dict[str, Node], starts: dt.date | None) -> dt.date | None:
    """``ends:``, the deal's last day (issue 12): its last period is clipped and prorated."""
    ends = r.optional(fields, "ends", "", r.date)
    if ends is not None and starts is not None and ends < starts:
        r.problem(
            "ends",
            fields["ends"],
            f"the deal ends ({ends}) before it starts ({starts}); write a date on or after starts:",
        )
    return ends


def _fallback(r: _Reader, fields: dict[str, Node], values: dict[str, Any]) -> None:
    """``truth: platform`` with ``fallback:``, whose figure counts on days without the platform's
    (issue 15): the deal's ``truth`` becomes the fallback, ``platform_counts`` is set."""
    values["platform_counts"] = values["truth"] == "platform"
    if "fallback" in fields and not values["platform_counts"]:
        r.problem("fallback", fields["fallback"], "fallback is only for truth: platform")
    elif values["platform_counts"]:
        if "fallback" not in fields:
            r.problem(
                "fallback",
                fields.get("truth"),
                "truth: platform needs fallback: "
                "seller, agency or agreed (whose figure counts on days without one)",
            )
            return
        values["truth"] = r.choice(fields["fallback"], "fallback", ("seller", "agency", "agreed"))


def _platform_terms(r: _Reader, fields: dict[str, Node], counts: bool) -> PlatformTerms:
    """The deal's platform terms: its ``platform:`` section and ``truth: platform``."""
    node = fields.get("metrics")
    # The metric names as written (the metrics section reports its own problems).
    names = frozenset(
        str(key.value)
        for key, _ in (node.value if isinstance(node, MappingNode) else [])
        if isinstance(key, ScalarNode)
    )
    terms = _platform(r, fields["platform"], names) if "platform" in fields else None
    return replace(terms or PlatformTerms(), counts=counts)


def _platform(r: _Reader, node: Node, metrics: frozenset[str]) -> PlatformTerms | None:
    """The ``platform:`` section: how this deal reads TikTok Shop exports (issue 15)."""
    from kpi.platform.terms import EXPORT_FIELDS, FIGURES

    keys = ("gmv_basis", "refunds", "metrics", "columns")
    fields = r.fields(node, "platform", keys, example="{gmv_basis: live_gmv, refunds: orders}")
    if fields is None:
        return None
    bases = ("live_gmv", "attributed_gmv", "order_amount")
    basis = r.optional(fields, "gmv_basis", "platform", lambda n, p: r.choice(n, p, bases))
    refunds = r.optional(
        fields, "refunds", "platform", lambda n, p: r.choice(n, p, ("orders", _NONE))
    )
    return PlatformTerms(
        gmv_basis=cast(GmvBasis, basis or "live_gmv"),
        refunds=refunds != _NONE,
        metrics=_platform_map(r, fields.get("metrics"), "platform.metrics", FIGURES, metrics),
        columns=_platform_map(r, fields.get("columns"), "platform.columns", EXPORT_FIELDS, None),
    )


def _platform_map(
    r: _Reader,
    node: Node | None,
    path: str,
    allowed: Sequence[str],
    keys: frozenset[str] | None,
) -> tuple[tuple[str, str], ...]:
    """A ``name: value`` map of the platform section; ``keys`` limits the names when given."""
    if node is None:
        return ()
    pairs = []
    for name, key_node, value_node in r.entries(node, path, "names"):
        where = _join(path, name)
        value = r.text(value_node, where, allowed[0])
        if keys is not None and name not in keys:
            known = ", ".join(sorted(keys))
            r.problem(where, key_node, f"{name!r} is not a metric of this deal; known: {known}")
        elif value is not None and value not in allowed:
            r.problem(where, value_node, f"{value!r} is not one of: {', '.join(allowed)}")
        elif value is not None:
            pairs.append((name, value))
    return tuple(pairs)


def _known_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _interpret(r: _Reader, root: Node) -> Deal | None:
    fields = r.fields(
        root,
        "",
        _TOP_KEYS,
        required=("id", "name", "currency", "timezone", "starts", "metrics"),
        example="id: acme-linkstar-us, name: ..., currency: USD, ...",
    )
    if fields is None:
        return None
    values = _top(r, fields)
    r.locale = values["locale"] or "en"
    metrics = _metrics(r, fields["metrics"]) if "metrics" in fields else {}
    known = frozenset(metrics)
    targets, percent = (
        _targets(r, fields["targets"], known) if "targets" in fields else ((), frozenset())
    )
    names = _Names(
        metrics=known,
        targets=frozenset(t.metric for t in targets),
        percent_targets=percent,
        weighted=any(t.weight is not None for t in targets),
    )
    fees, trial_fees = _fee_plans(r, fields, names, values["trial_periods"])
    members, admins, contacts = _people(r, fields)
    chats = _chats(r, fields["chats"]) if "chats" in fields else ()
    schedule = _schedule(r, fields["schedule"]) if "schedule" in fields else Schedule()
    if r.problems:
        return None
    return Deal(
        id=values["id"],
        name=values["name"],
        currency=values["currency"],
        timezone=values["timezone"],
        locale=values["locale"],
        starts=values["starts"],
        period=values["period"],
        trial_periods=values["trial_periods"],
        truth=values["truth"],
        tolerance=values["tolerance"],
        metrics=metrics,
        targets=targets,
        fees=fees,
        trial_fees=trial_fees,
        members=members,
        admins=admins,
        contacts=contacts,
        chats=chats,
        schedule=schedule,
        effective=values["effective"],
        ends=values["ends"],
        members_only=values["members_only"] == "true",
        platform=values["platform"],
    )


def _fee_plans(
    r: _Reader, fields: dict[str, Node], names: _Names, trial_periods: int | None
) -> tuple[FeePlan, FeePlan | None]:
    """The fee plan and the trial terms; without ``fees:``, an empty plan (a trial's too)."""
    if "fees" in fields:
        return _fees(r, fields["fees"], names, trial_periods)
    empty = FeePlan()
    return empty, empty if trial_periods else None


def _people(
    r: _Reader, fields: dict[str, Node]
) -> tuple[dict[Side, tuple[str, ...]], tuple[str, ...], tuple[Contact, ...]]:
    """The deal's members by side, its admins and its contacts (checked against each other)."""
    members_given = (_members(r, fields["members"]) if "members" in fields else None) or {}
    admin_nodes = (
        _identities(r, fields["admins"], "admins", "slack:U07ABC123") if "admins" in fields else []
    )
    admins = tuple(person for person, _ in admin_nodes)
    contacts = (
        _contacts(r, fields["contacts"], members_given, admins) if "contacts" in fields else ()
    )
    _admins_on_a_side(r, admin_nodes, members_given, contacts)
    members: dict[Side, tuple[str, ...]] = {side: members_given.get(side, ()) for side in SIDES}
    return members, admins, contacts


def _compose(text: str, source: str) -> Node:
    try:
        _refuse_aliases(text)
        root = yaml.compose(text, Loader=_YAML_LOADER)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = None if mark is None else int(mark.line) + 1
        message = (
            " ".join(part for part in (error.context, error.problem) if part) or "not valid YAML"
        )
        raise DealFileError(source, [(DOCUMENT, line, f"YAML syntax error: {message}")]) from None
    except yaml.reader.ReaderError as error:
        # A character YAML forbids (control characters); the error has a position, no mark.
        # libyaml counts the position in UTF-8 bytes, the pure-Python reader in characters.
        if _YAML_LOADER is yaml.SafeLoader:
            line = text.count("\n", 0, error.position) + 1
        else:
            line = text.encode("utf-8", "surrogatepass").count(b"\n", 0, error.position) + 1
        character = error.character
        code = f"#x{character:04x}" if isinstance(character, int) else repr(character)
        message = f"character {code} is not allowed in YAML; remove it"
        raise DealFileError(source, [(DOCUMENT, line, message)]) from None
    except yaml.YAMLError as error:
        raise DealFileError(source, [(DOCUMENT, None, f"not valid YAML: {error}")]) from None
    except UnicodeEncodeError:
        # Lone surrogates cannot be handed to libyaml; no real file holds them.
        raise DealFileError(source, [(DOCUMENT, None, "the text is not valid Unicode")]) from None
    except RecursionError:
        raise DealFileError(source, [(DOCUMENT, None, "nested too deeply")]) from None
    if root is None or (isinstance(root, ScalarNode) and root.tag == _NULL_TAG):
        raise DealFileError(
            source, [(DOCUMENT, 1, "the deal file is empty; start with id: your-deal-id")]
        )
    return cast("Node", root)


def load_deal(text: str, source: str = "<deal>") -> Deal:
    """Load and validate a deal file.

    Args:
        text: the deal file's YAML text.
        source: a name for the text in error messages (usually the file path).

    Returns:
        The deal, with every number an exact ``Decimal`` and every reference checked.

    Raises:
        DealFileError: the file was rejected; ``problems`` lists every
            ``(key path, line, message)`` found.
    """
    root = _compose(text, source)
    reader = _Reader()
    if not isinstance(root, MappingNode):
        reader.problem(
            DOCUMENT,
            root,
            "a deal file is a mapping of keys (id:, name:, currency:, ...), not a single value "
            "or a list",
        )
        raise DealFileError(source, reader.problems)
    try:
        deal = _interpret(reader, root)
    except RecursionError:
        raise DealFileError(source, [(DOCUMENT, None, "nested too deeply")]) from None
    if deal is None:
        raise DealFileError(source, reader.problems, codes=reader.codes, locale=reader.locale)
    return deal


def load_deal_file(path: str | Path) -> tuple[Deal, str]:
    """Read and load a deal file.

    Args:
        path: the file to read (UTF-8).

    Returns:
        The deal and the file's raw text (kept so that the applied terms can be stored as
        written).

    Raises:
        DealFileError: the file was rejected, or is not UTF-8 text.
        OSError: the file could not be read.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DealFileError(source, [(DOCUMENT, None, f"not UTF-8 text: {error}")]) from None
    return load_deal(text, source), text
