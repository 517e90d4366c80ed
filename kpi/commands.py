"""Parsing chat commands: the command word, deal tags, metric names, days and metric/value pairs."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

from kpi.errors import UserError
from kpi.model import MetricKind
from kpi.money import minor_units
from kpi.numbers import (
    fold_width,
    format_plain,
    is_unit_token,
    looks_numeric,
    mark_fits,
    parse_figure,
)

__all__ = [
    "ALIASES",
    "ReportArgs",
    "Units",
    "check_unit",
    "extract_deal_tag",
    "parse_day",
    "parse_metric_day",
    "parse_report",
    "parse_what_if",
    "resolve_metric",
    "split_command",
]

# ---------------------------------------------------------------------------------------------
# The command word

# A leading mention is written @name (the adapters turn a platform's own syntax into this).
_MENTION = r"@(?P<name>[A-Za-z0-9_.\-]+)[:,]?\s+"
_HEAD: Final = re.compile(
    rf"\s*(?:{_MENTION})?(?P<slash>/)?(?P<cmd>[^\W\d_]\w{{0,63}})"
    rf"(?:@(?P<suffix>[A-Za-z0-9_]+))?(?=\s|\Z)"
)


def _names(bot_names: Collection[str]) -> set[str]:
    return {name.lstrip("@").casefold() for name in bot_names}


def split_command(text: str, bot_names: Collection[str] = ()) -> tuple[str, str] | None:
    """Split a message into its command word and the rest.

    Understood: ``/report gmv 12000``, ``/report@kpibot gmv 12000`` (Telegram; the suffix must
    be one of ``bot_names`` unless that is empty), the full-width slash ``／report``, a leading
    mention ``@kpibot report gmv 1`` or ``@U123ABC report gmv 1`` (the mention must name one of
    ``bot_names`` unless that is empty), with any whitespace or newlines around.

    Args:
        text: The message text as the platform delivered it.
        bot_names: The bot's user names and platform user ids (with or without ``@``), compared
            case-insensitively. Empty means any name is taken to be this bot.

    Returns:
        ``(command, rest)`` with the command lowercased and the rest stripped at both ends but
        otherwise untouched, or None when the text is not a command to this bot.
    """
    folded = fold_width(text)  # same length as text, so offsets carry over to the original
    match = _HEAD.match(folded)
    if match is None:
        return None
    names = _names(bot_names)
    mention = match["name"]
    if mention is None and match["slash"] is None:
        return None
    if names and mention is not None and mention.casefold() not in names:
        return None
    if names and match["suffix"] is not None and match["suffix"].casefold() not in names:
        return None
    return match["cmd"].lower(), text[match.end() :].strip()


# ---------------------------------------------------------------------------------------------
# Deal tags

# A tag has a letter somewhere: "#12" is entry 12 as /history numbers it (/confirm #12).
_TAG: Final = re.compile(
    r"(?:^|\s+)#(?P<id>(?![0-9]+(?:\s|\Z))[A-Za-z0-9](?:[A-Za-z0-9_.\-]{0,62}[A-Za-z0-9])?)"
    r"(?=\s|\Z)"
)


def extract_deal_tag(args: str) -> tuple[str | None, str]:
    """Pull a ``#deal-id`` token out of a command's arguments.

    A chat linked to several deals says which one with a tag anywhere among the arguments:
    ``/report #acme-us gmv 12000``. The same tag may repeat; two different tags are refused.
    Digits alone (``#12``) are no tag but an entry number, left in the arguments.

    Args:
        args: The arguments after the command word.

    Returns:
        ``(deal id as typed, or None; the arguments without the tag)``.

    Raises:
        UserError: ``command.two_deals`` (params ``first``, ``second``).
    """
    folded = fold_width(args)
    found = list(_TAG.finditer(folded))
    if not found:
        return None, args.strip()
    first = found[0]["id"]
    for other in found[1:]:
        if other["id"].casefold() != first.casefold():
            raise UserError("command.two_deals", first=first, second=other["id"])
    kept: list[str] = []
    at = 0
    for match in found:
        kept.append(args[at : match.start()])
        at = match.end()
    kept.append(args[at:])
    return first, "".join(kept).strip()


# ---------------------------------------------------------------------------------------------
# Metric names

ALIASES: Final[Mapping[str, str]] = {
    # English
    "spend": "ad_spend",
    "adspend": "ad_spend",
    "ads_spend": "ad_spend",
    "refund": "refunds",
    "order": "orders",
    "viewer": "viewers",
    "follower": "new_followers",
    "followers": "new_followers",
    "hours": "live_hours",
    # Chinese
    "成交额": "gmv",
    "销售额": "gmv",
    "成交金额": "gmv",
    "支付金额": "gmv",
    "成交订单": "orders",
    "广告消耗": "ad_spend",
    "广告": "ad_spend",
    "投放": "ad_spend",
    "场观": "viewers",
    "退款后成交额": "net_gmv",
    "投产": "roi",
    "成交转化率": "cvr",
    "订单": "orders",
    "订单数": "orders",
    "订单量": "orders",
    "单量": "orders",
    "投流": "ad_spend",
    "消耗": "ad_spend",
    "广告费": "ad_spend",
    "退款": "refunds",
    "退款额": "refunds",
    "退款金额": "refunds",
    "观看": "viewers",
    "观看人数": "viewers",
    "涨粉": "new_followers",
    "新增粉丝": "new_followers",
    "直播时长": "live_hours",
    # Derived metrics, so that reporting one is explained rather than called unknown.
    "投产比": "roi",
    "客单价": "aov",
    "退款率": "refund_rate",
    "转化率": "cvr",
    "净成交额": "net_gmv",
}
"""Other words for metrics (casefolded). An alias applies only when its target is a metric of
the deal, so a deal may define ``spend`` itself."""


_JOINERS: Final = re.compile(r"[\s\-]+")


def _key(word: str) -> str:
    # ad-spend, Ad Spend and ad_spend are one metric.
    return _JOINERS.sub("_", fold_width(word).strip().casefold())


def _by_key(known: Collection[str], words: Mapping[str, str] | None = None) -> dict[str, str]:
    """Known names by ``_key``, plus a deal's own words for them (its metric labels)."""
    by_key = {_key(name): name for name in known}
    for word, name in (words or {}).items():
        if name in known:
            by_key.setdefault(_key(word), name)
    return by_key


def _lookup(word: str, by_key: Mapping[str, str]) -> str | None:
    """The metric ``word`` names, given the known names keyed by ``_key``."""
    key = _key(word)
    if key in by_key:
        return by_key[key]
    target = ALIASES.get(key)
    return by_key.get(target) if target is not None else None


def _known_text(known: Collection[str]) -> str:
    return ", ".join(sorted(known))


def resolve_metric(
    word: str,
    known: Collection[str],
    *,
    code: str = "report.unknown_metric",
    words: Mapping[str, str] | None = None,
) -> str:
    """The metric a word names: the name itself (any case) or an alias such as ``spend``/``投流``.

    Args:
        word: What the user typed.
        known: The metric names it may resolve to.
        code: The catalog key raised when nothing matches (each command shows its own form).
        words: The deal's own words for its metrics (labels), each to its metric name.

    Returns:
        The name as spelled in ``known``.

    Raises:
        UserError: ``code`` (default ``report.unknown_metric``) with params ``word`` and
            ``known`` (the sorted names, comma-joined).
    """
    name = _lookup(word, _by_key(known, words))
    if name is None:
        raise UserError(code, word=word, known=_known_text(known))
    return name


# ---------------------------------------------------------------------------------------------
# Days

_RELATIVE: Final = {
    "today": 0,
    "今天": 0,
    "今日": 0,
    "yesterday": 1,
    "ytd": 1,
    "yday": 1,
    "昨天": 1,
    "昨日": 1,
    "前天": 2,
    # Future days are named only to be refused with the right reason (not "unknown metric").
    "tomorrow": -1,
    "明天": -1,
    "明日": -1,
    "后天": -2,
}
_FULL_DATE: Final = re.compile(
    r"(?P<y>[0-9]{4})(?:(?P<sep>[-/.])(?P<m>[0-9]{1,2})(?P=sep)(?P<d>[0-9]{1,2})"
    r"|年(?P<cm>[0-9]{1,2})月(?P<cd>[0-9]{1,2})[日号]?)"
)
# No dotted month-day: 11.20 is a figure.
_MONTH_DAY: Final = re.compile(
    r"(?P<m>[0-9]{1,2})(?:[-/](?P<d>[0-9]{1,2})|月(?P<cd>[0-9]{1,2})[日号]?)"
)


def parse_day(word: str, *, today: dt.date) -> dt.date | None:
    """Read a business day: ``today``/``今天``, ``yesterday``/``昨天``/``ytd``, ``前天``,
    ``2026-11-20``, ``2026/11/20``, ``2026.11.20``, ``2026年11月20日``, ``11-20``, ``11/20``,
    ``11月20日`` (the last three in today's year).

    Args:
        word: One token.
        today: The current business day in the deal's time zone.

    Returns:
        The day, or None when the word is not date-like.

    Raises:
        UserError: ``report.bad_date`` (param ``word``) for a date-like word that is no day
            (``2026-02-30``); ``report.future_date`` (params ``day``, ``today``, ISO text).
    """
    folded = fold_width(word).strip().casefold()
    if folded in _RELATIVE:
        relative = today - dt.timedelta(days=_RELATIVE[folded])
        if relative > today:
            raise UserError("report.future_date", day=relative.isoformat(), today=today.isoformat())
        return relative
    full = _FULL_DATE.fullmatch(folded)
    month_day = None if full else _MONTH_DAY.fullmatch(folded)
    if full is not None:
        year = int(full["y"])
        month = int(full["m"] or full["cm"])
        day_of_month = int(full["d"] or full["cd"])
    elif month_day is not None:
        year = today.year
        month = int(month_day["m"])
        day_of_month = int(month_day["d"] or month_day["cd"])
    else:
        return None
    try:
        day = dt.date(year, month, day_of_month)
    except ValueError:
        raise UserError("report.bad_date", word=word.strip()) from None
    if day > today:
        raise UserError("report.future_date", day=day.isoformat(), today=today.isoformat())
    return day


def _two_dates(first: dt.date, second: dt.date) -> UserError:
    return UserError("report.two_dates", first=first.isoformat(), second=second.isoformat())


def _check_start(day: dt.date, starts: dt.date) -> None:
    if day < starts:
        raise UserError("report.before_start", day=day.isoformat(), starts=starts.isoformat())


# ---------------------------------------------------------------------------------------------
# Metric/value pairs


@dataclass(frozen=True)
class ReportArgs:
    """What ``/report`` said: the business day and the figures in the order typed."""

    day: dt.date
    values: tuple[tuple[str, Decimal], ...]


@dataclass(frozen=True)
class _Codes:
    """The catalog keys of one command, so every message shows that command's form."""

    usage: str
    missing_value: str
    value_without_metric: str
    duplicate: str
    unknown: str
    derived: str


_REPORT_CODES: Final = _Codes(
    "report.usage",
    "report.missing_value",
    "report.value_without_metric",
    "report.duplicate_metric",
    "report.unknown_metric",
    "report.derived_metric",
)
_WHAT_IF_CODES: Final = _Codes(
    "fee.if_usage",
    "fee.if_missing_value",
    "fee.if_value_without_metric",
    "fee.if_duplicate_metric",
    "fee.if_unknown_metric",
    "fee.if_derived_metric",
)

# "=" and ":" tie a metric to its value (gmv=12000, gmv：12000); commas, semicolons and 、
# separate pairs unless a digit follows (that comma groups thousands); 。 ends a sentence.
_SEPARATORS: Final = re.compile(r"[=:。]|[,;、](?![0-9])")
# A metric word glued to its value: 成交额1.2万, gmv12k.
_GLUED: Final = re.compile(
    r"(?P<word>[^\W\d]+)(?P<value>[-+]?(?:US\$|\$|¥)?[-+]?[0-9.].*)", re.IGNORECASE
)


# A comma (either width) before a figure or date that no thousands group could start (four
# or more digits, or a month-day such as 11-12 / 11月12日) separates items: "12000，2026-11-12".
# The ideographic comma 、 never groups digits: it always separates.
_SEPARATING_COMMA: Final = re.compile(r"[,，](?=[0-9０-９]{4}|[0-9０-９]{1,2}[-/月])|、")


def _tokens(args: str) -> list[str]:
    return _SEPARATORS.sub(" ", fold_width(_SEPARATING_COMMA.sub(" ", args))).split()


@dataclass(frozen=True)
class Units:
    """What a deal's figures are: each reported metric's kind and the deal's currency."""

    kinds: Mapping[str, MetricKind]
    currency: str


def check_unit(metric: str, value: Decimal, mark: str | None, text: str, units: Units) -> None:
    """Refuse a figure that is not of its metric's kind (see :class:`kpi.model.Metric`).

    Args:
        metric: The metric's name.
        value: The figure read.
        mark: The currency mark written with it (``parse_figure``), or None.
        text: The figure as typed, for the message.
        units: The deal's kinds and currency.

    Raises:
        UserError: ``trust.wrong_currency`` (a money figure marked with another currency),
            ``trust.not_money`` (a currency mark on a count or number), ``trust.count_whole``
            (a count that is not a whole number). Params ``metric``, ``text``, ``currency``.
    """
    kind = units.kinds.get(metric, "number")
    params = {"metric": metric, "text": text, "currency": units.currency}
    if mark is not None and kind != "money":
        raise UserError("trust.not_money", **params)
    if mark is not None and not mark_fits(mark, units.currency):
        raise UserError("trust.wrong_currency", mark=mark.upper(), **params)
    if kind == "count" and value != value.to_integral_value():
        raise UserError("trust.count_whole", **params)
    if kind != "number" and _DOT_THOUSANDS.search(text):
        # "12.000" is twelve thousand where a dot groups thousands, and 12 where it marks
        # decimals: never guess with money or counts.
        raise UserError("trust.dot_thousands", joined=text.replace(".", ""), **params)
    if kind == "money":
        places = minor_units(units.currency)
        exponent = value.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > places:
            # The example is the figure itself, rounded half-up as fee lines are.
            step = Decimal(1).scaleb(-places)
            rounded = format_plain(value.quantize(step, rounding=ROUND_HALF_UP))
            raise UserError("trust.money_digits", places=places, rounded=rounded, **params)


_DOT_THOUSANDS: Final = re.compile(
    r"(?<![\d.,])[1-9]\d{0,2}(?:\.\d{3})+(?![\d.,]|\s*[万千亿wWkKmM])"
)
"""A figure whose dots could group thousands (``12.000``, ``1.250.000``), not before a unit;
never one starting with 0 (``0.001`` has decimals: no group of thousands starts with 0)."""


_THOUSANDS: Final = re.compile(r"[0-9]{3}")

_NAME: Final = re.compile(r"[a-z_][a-z0-9_]*")
_PERIOD_LIKE: Final = re.compile(
    r"[0-9]{4}(?:-?[Ww][0-9]{1,2}|-?[Qq][1-4]|年第[0-9]{1,2}周|年?[Qq][1-4]"
    r"|[-/年][0-9]{1,2}月?(?:[-/][0-9]{1,2}日?)?)"
)
"""A date or period as typed (``2026-11``, ``2026-W45``, ``2026-Q4``, ``2026-11-20``)."""


def _base_inputs(metric: str, derived: Mapping[str, str]) -> list[str]:
    """The reported metrics a derived one is computed from, in formula order (derived inputs
    of the formula expanded to theirs), so an error can say what to report instead."""
    out: list[str] = []
    for name in _NAME.findall(derived[metric]):
        found = _base_inputs(name, derived) if name in derived and name != metric else [name]
        out.extend(n for n in found if n not in out)
    return out


def _refuse_derived(
    metric: str, derived: Mapping[str, str], reportable: Collection[str], codes: _Codes
) -> None:
    """A derived metric is computed: name its formula and the reported metrics to give instead,
    in the deal's order so the sample reads naturally (``gmv 12000 refunds 2000``)."""
    order = list(reportable)
    inputs = sorted(
        _base_inputs(metric, derived), key=lambda n: order.index(n) if n in order else len(order)
    )
    pairs = " ".join(f"{name} {12000 if at == 0 else 2000}" for at, name in enumerate(inputs))
    raise UserError(
        codes.derived,
        metric=metric,
        formula=derived[metric],
        inputs=", ".join(inputs),
        pairs=pairs,
    )


def _refuse_period(token: str, today: dt.date | None) -> None:
    """``/fee if gmv 60000 2026-11``: a what-if (no ``today``) assumes the current period's
    totals, so a period or date is not one of its figures; say so rather than ask its metric."""
    if today is None and _PERIOD_LIKE.fullmatch(fold_width(token)):
        raise UserError("fee.if_period", value=token)


def _refuse_spaced_figure(tokens: list[str], at: int) -> None:
    """``gmv 12 000``: a figure grouped with spaces reads as two; say how to write it."""
    if at > 0 and looks_numeric(tokens[at - 1]) and _THOUSANDS.fullmatch(tokens[at]):
        typed = f"{tokens[at - 1]} {tokens[at]}"
        raise UserError("report.spaced_figure", text=typed, joined=typed.replace(" ", ""))


def _parse_pairs(
    tokens: list[str],
    *,
    reportable: Collection[str],
    derived: Mapping[str, str],
    codes: _Codes,
    today: dt.date | None,
    units: Units | None = None,
    words: Mapping[str, str] | None = None,
) -> tuple[list[tuple[str, Decimal]], dt.date | None]:
    """Walk ``METRIC VALUE`` pairs, with at most one day anywhere when ``today`` is given, each
    figure checked against ``units`` when given; ``words`` are the deal's labels for metrics."""
    names = _by_key([*reportable, *(name for name in derived if name not in reportable)], words)
    walk = _PairWalk(tokens, names, today, reportable, derived, codes)
    values: list[tuple[str, Decimal]] = []
    seen: set[str] = set()
    day: dt.date | None = None
    while walk.at < len(tokens):
        found = walk.date_of(tokens[walk.at])
        if found is not None:
            if day is not None:
                raise _two_dates(day, found)
            day = found
            walk.at += 1
            continue
        metric, glued_value = walk.metric(seen)
        text = walk.figure(metric, glued_value)
        value, mark = parse_figure(text)
        if units is not None:
            check_unit(metric, value, mark, text, units)
        values.append((metric, value))
        seen.add(metric)
    return values, day


@dataclass
class _PairWalk:
    """:func:`_parse_pairs`' cursor over the tokens, and what it reads them against."""

    tokens: list[str]
    names: dict[str, str]
    """Metric names (reported and derived) by ``_key``, plus the deal's words for them."""
    today: dt.date | None
    """The business day (a day may be given), or ``None`` (a what-if: no day)."""
    reportable: Collection[str]
    derived: Mapping[str, str]
    codes: _Codes
    at: int = 0
    """The next token to read."""

    def date_of(self, token: str) -> dt.date | None:
        return parse_day(token, today=self.today) if self.today is not None else None

    def metric_of(self, token: str) -> tuple[str | None, str | None]:
        """The metric a token names, and a value glued to it."""
        name = _lookup(token, self.names)
        if name is not None:
            return name, None
        glued = _GLUED.fullmatch(token)
        if glued is not None and looks_numeric(glued["value"]):
            name = _lookup(glued["word"], self.names)
            if name is not None:
                return name, glued["value"]
        return None, None

    def metric(self, seen: Collection[str]) -> tuple[str, str | None]:
        """Read the metric of a pair (and a value glued to it); refuse anything else."""
        token, codes = self.tokens[self.at], self.codes
        if looks_numeric(token) or is_unit_token(token):
            _refuse_spaced_figure(self.tokens, self.at)
            _refuse_period(token, self.today)
            raise UserError(codes.value_without_metric, value=token)
        if self.at + 1 < len(self.tokens):
            pair = f"{token} {self.tokens[self.at + 1]}"
            if _lookup(pair, self.names) is not None:  # a name in two words: "ad spend"
                token = pair
                self.at += 1
        metric, glued_value = self.metric_of(token)
        if metric is None:
            raise UserError(codes.unknown, word=token, known=_known_text(self.reportable))
        if metric in self.derived and metric not in self.reportable:
            _refuse_derived(metric, self.derived, self.reportable, self.codes)
        if metric in seen:
            raise UserError(codes.duplicate, metric=metric)
        self.at += 1
        return metric, glued_value

    def figure(self, metric: str, glued_value: str | None) -> str:
        """Read the figure of ``metric``'s pair, units included: ``12000``, ``$ 12000``."""
        tokens = self.tokens
        if glued_value is not None:
            parts = [glued_value]
        else:
            if self.at >= len(tokens):
                raise UserError(self.codes.missing_value, metric=metric)
            parts = [tokens[self.at]]
            numeric = looks_numeric(parts[0])
            if self.date_of(parts[0]) is not None or (
                not numeric and self.metric_of(parts[0])[0] is not None
            ):
                raise UserError(self.codes.missing_value, metric=metric)
            if not numeric and is_unit_token(parts[0]) and self.at + 1 < len(tokens):  # "$ 12000"
                self.at += 1
                parts.append(tokens[self.at])
            self.at += 1
        # A unit after a space belongs to the figure: "1.2 万", "12000 USD".
        while self.at < len(tokens) and is_unit_token(tokens[self.at]):
            parts.append(tokens[self.at])
            self.at += 1
        return " ".join(parts)


def parse_report(
    args: str,
    *,
    reportable: Collection[str],
    derived: Mapping[str, str],
    today: dt.date,
    starts: dt.date,
    units: Units | None = None,
    words: Mapping[str, str] | None = None,
) -> ReportArgs:
    """Read ``/report`` arguments: ``METRIC VALUE`` pairs and at most one day, in any order.

    Examples: ``gmv 12000``, ``gmv 12k orders 340 spend 2100``, ``yesterday gmv 1.2万``,
    ``gmv=12000 2026-11-20``, ``成交额 1.2万 订单 340``, ``gmv 1.2 万``.

    Args:
        args: The text after the command word (and after any deal tag).
        reportable: The deal's base metric names.
        derived: The deal's derived metric names, each with its formula text.
        today: The current business day in the deal's time zone (the default day).
        starts: The deal's first day.
        units: The deal's metric kinds and currency: a figure of another kind is refused
            (:func:`check_unit`). None accepts any figure.
        words: The deal's own words for its metrics (labels), each to its metric name.

    Returns:
        The day and the figures in the order typed.

    Raises:
        UserError: ``report.usage``, ``report.missing_value``, ``report.value_without_metric``,
            ``report.unknown_metric``, ``report.derived_metric``, ``report.duplicate_metric``,
            ``report.two_dates``, ``report.bad_date``, ``report.future_date``,
            ``report.before_start``, the ``number.*`` errors of ``parse_amount`` and the
            ``trust.*`` errors of :func:`check_unit`.
    """
    values, day = _parse_pairs(
        _tokens(args),
        reportable=reportable,
        derived=derived,
        codes=_REPORT_CODES,
        today=today,
        units=units,
        words=words,
    )
    if not values:
        raise UserError("report.usage")
    day = day if day is not None else today
    _check_start(day, starts)
    return ReportArgs(day=day, values=tuple(values))


def parse_what_if(
    args: str,
    *,
    known: Collection[str],
    words: Mapping[str, str] | None = None,
    units: Units | None = None,
    derived: Mapping[str, str] | None = None,
) -> dict[str, Decimal]:
    """Read the ``METRIC VALUE`` pairs of ``/fee if gmv 60000 refunds 2000``.

    Args:
        args: The text after ``if``.
        known: The metric names a period total may be given for.
        words: The deal's own words for its metrics (labels), each to its metric name.
        units: The deal's metric kinds and currency: an assumed figure is checked as
            ``/report`` checks a reported one (:func:`check_unit`).
        derived: The deal's derived metric names, each with its formula text: naming one
            says it is computed and which totals to assume instead.

    Returns:
        Metric name to the assumed period total, in the order typed.

    Raises:
        UserError: ``fee.if_usage``, ``fee.if_missing_value``, ``fee.if_value_without_metric``,
            ``fee.if_unknown_metric``, ``fee.if_derived_metric``, ``fee.if_duplicate_metric``,
            ``fee.if_period``, the ``number.*`` errors and, with ``units``, the ``trust.*`` unit
            errors of :func:`check_unit`.
    """
    values, _ = _parse_pairs(
        _tokens(args),
        reportable=known,
        derived=derived or {},
        codes=_WHAT_IF_CODES,
        today=None,
        units=units,
        words=words,
    )
    if not values:
        raise UserError("fee.if_usage")
    return dict(values)


# ---------------------------------------------------------------------------------------------
# METRIC [DATE] [REST]

_WORD: Final = re.compile(r"\S+")


def parse_metric_day(
    args: str,
    *,
    known: Collection[str],
    today: dt.date,
    starts: dt.date,
    need_metric: bool,
    words: Mapping[str, str] | None = None,
) -> tuple[str | None, dt.date | None, str]:
    """Read a leading metric and day, in either order, and keep the rest as typed.

    Serves ``/confirm METRIC [DATE]``, ``/dispute METRIC [DATE] REASON`` and
    ``/history [METRIC] [DATE]``. A ``:`` or ``,`` right after the metric or day is dropped
    (``/dispute gmv: wrong``). A word that is neither ends the scan; when no metric was needed
    the caller decides what a non-empty rest means (``resolve_metric`` on its first word gives
    the unknown-metric message).

    Args:
        args: The text after the command word (and after any deal tag).
        known: The metric names allowed.
        today: The current business day in the deal's time zone.
        starts: The deal's first day.
        need_metric: Whether a metric is required.
        words: The deal's own words for its metrics (labels), each to its metric name.

    Returns:
        ``(metric or None, day or None, rest)`` with the rest stripped at both ends, its inner
        spacing and case kept.

    Raises:
        UserError: ``command.missing_metric`` (param ``known``), ``command.unknown_metric``
            (params ``word``, ``known``), ``report.two_dates``, ``report.bad_date``,
            ``report.future_date``, ``report.before_start``.
    """
    metric, day, rest_at, first_unread = _scan_metric_day(args, _by_key(known, words), today)
    if need_metric and metric is None:
        if first_unread is None:
            raise UserError("command.missing_metric", known=_known_text(known))
        raise UserError("command.unknown_metric", word=first_unread, known=_known_text(known))
    if day is not None:
        _check_start(day, starts)
    return metric, day, args[rest_at:].strip()


def _scan_metric_day(
    args: str, names: Mapping[str, str], today: dt.date
) -> tuple[str | None, dt.date | None, int, str | None]:
    """:func:`parse_metric_day`'s scan: the metric and day found, where the rest starts, and
    the first word that is neither (as typed; ``None`` when the scan ended otherwise)."""
    metric: str | None = None
    day: dt.date | None = None
    rest_at = 0
    for match in _WORD.finditer(fold_width(args)):
        word = match.group().rstrip(":,;、")
        if not word and (metric is not None or day is not None):
            rest_at = match.end()  # a lone ":" after "gmv"
            continue
        found = parse_day(word, today=today) if word else None
        if found is not None:
            if day is not None:
                raise _two_dates(day, found)
            day = found
        elif metric is None and word and (name := _lookup(word, names)) is not None:
            metric = name
        else:
            return metric, day, rest_at, args[match.start() : match.end()]
        rest_at = match.end()
        if metric is not None and day is not None:
            break
    return metric, day, rest_at, None
