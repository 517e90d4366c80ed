"""How the platform's own figures are said: sessions, days that match or differ, whose figure
counts. Shared by ``/sessions``, ``/kpi``, ``/report`` and the weekly recap."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal

from bot.core.i18n import Translate, t
from bot.core.ports import PlatformData
from bot.core.render import fmt_time, fmt_value, label
from kpi.model import Deal
from kpi.money import format_figure, format_money
from kpi.platform.evidence import Difference, best_and_worst, differences, matching_days
from kpi.platform.store import Session
from kpi.platform.terms import platform_metrics
from kpi.sides import Figure

CHAT_PROBLEMS = 5
"""Problems a chat reply lists; the rest are counted."""


def _duration(length: dt.timedelta, locale: str) -> str:
    minutes = int(length.total_seconds()) // 60
    return t("sessions.duration", locale, hours=minutes // 60, minutes=f"{minutes % 60:02d}")


def session_line(deal: Deal, session: Session, locale: str) -> str:
    """One session: start, creator, length, GMV, orders and viewers."""
    figures = session.figures
    gmv = figures.get("live_gmv")
    return t(
        "sessions.line",
        locale,
        start=fmt_time(session.start, deal.timezone),
        creator=session.nickname or session.creator or session.creator_id,
        duration=_duration(session.duration, locale),
        gmv=format_money(gmv, deal.currency, locale) if gmv is not None else "—",
        orders=format_figure(figures["live_orders"]) if "live_orders" in figures else "—",
        viewers=format_figure(figures["viewers"]) if "viewers" in figures else "—",
    )


async def platform_recap_lines(
    store: PlatformData,
    deal: Deal,
    figures: Mapping[tuple[dt.date, str], Figure],
    first: dt.date,
    last: dt.date,
) -> list[str]:
    """The recap's platform section: days matching the platform, figures that differ from it,
    the best and worst session (nothing when no export covers the days)."""
    days = await store.day_figures(deal.id, first, last)
    return platform_lines(deal, figures, days, await store.sessions(deal.id, first, last))


def evidence_lines(
    deal: Deal,
    figures: Mapping[tuple[dt.date, str], Figure],
    platform: Mapping[dt.date, Mapping[str, Decimal]],
    *,
    if_any_differ: str | None = None,
) -> list[str]:
    """Days whose counted figures match the platform's (``platform``: its figure of each deal
    metric per day, :func:`platform_days`), then each typed figure that differs from it, and
    ``if_any_differ`` after them when there are any (what to do about them)."""
    locale = deal.locale
    matching, compared = matching_days(figures, platform, deal.tolerance)
    lines = []
    if compared:  # "0 of 0 days" says nothing: no counted figure to compare yet
        lines.append(t("platform.recap_matches", locale, matching=matching, compared=compared))
    diffs = differences(figures, platform, deal.tolerance)
    lines += [difference_line(deal, d, locale) for d in diffs[:CHAT_PROBLEMS]]
    if len(diffs) > CHAT_PROBLEMS:
        lines.append(t("platform.recap_more", locale, count=len(diffs) - CHAT_PROBLEMS))
    if diffs and if_any_differ:
        lines.append(if_any_differ)
    return lines


def platform_lines(
    deal: Deal,
    figures: Mapping[tuple[dt.date, str], Figure],
    days: dict[dt.date, dict[str, Decimal]],
    found: Sequence[Session],
) -> list[str]:
    """:func:`platform_recap_lines` from the platform's day figures and sessions already read
    (``PlatformStore.day_figures`` and ``sessions`` of the same days)."""
    platform = platform_metrics(deal, days)
    if not platform and not found:
        return []
    locale = deal.locale
    lines = evidence_lines(deal, figures, platform)
    ranked = best_and_worst(found)
    if ranked is not None:
        lines.append(
            t("platform.recap_best", locale, session=session_line(deal, ranked[0], locale))
        )
        lines.append(
            t("platform.recap_worst", locale, session=session_line(deal, ranked[1], locale))
        )
    return lines


async def platform_days(
    store: PlatformData, deal: Deal, first: dt.date, last: dt.date
) -> dict[dt.date, dict[str, Decimal]]:
    """The platform's figure of each deal metric per day, from the imported exports (a day or
    metric no export covers is absent)."""
    found = await store.day_figures(deal.id, first, last)
    return platform_metrics(deal, found)


def difference_line(deal: Deal, diff: Difference, locale: str) -> str:
    """``11-03 gmv: seller 12,000 · platform 11,675.22``."""
    return t(
        "platform.differs",
        locale,
        day=f"{diff.day:%m-%d}",
        metric=label(deal, diff.metric),
        side=t(f"side.{diff.side}", locale),
        typed=fmt_value(deal, diff.metric, diff.typed),
        platform=fmt_value(deal, diff.metric, diff.platform),
    )


def truth_text(tr: Translate, deal: Deal) -> str:
    """Whose figure counts, for footers (``tr`` translates a key with its params): with
    ``truth: platform``, the platform's, then the fallback's."""
    rule = tr(f"truth.{deal.truth}")
    return tr("truth.platform", fallback=rule) if deal.platform.counts else rule
