"""How `/fee`, statements and the recap say the fee: its lines, targets' effects, the rich form.
Pure rendering over a snapshot and a fee statement, shared by handlers and the scheduler."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from decimal import Decimal
from typing import Any

from bot.core.i18n import Translate, join_clauses, join_list, label_sep
from bot.core.render import (
    fmt_list,
    fmt_money,
    fmt_pair,
    fmt_value,
    label,
    pct,
    period_name,
    score_missing,
    score_shares,
)
from bot.core.rich import Rich
from bot.core.views.aligned import fee_aligned_note
from bot.core.views.kpi import (
    any_reported,
    counted_note,
    first_day_note,
    period_notes,
    rich_message,
)
from bot.core.views.settled import pending_summary
from kpi.fees import FeeLine, FeeStatement, shortfall, target_met
from kpi.model import Deal
from kpi.money import format_percent
from kpi.snapshot import Snapshot


def _rate_parts(bands: Any, deal: Deal, metric: str) -> str:
    parts = [
        f"{fmt_value(deal, metric, portion)} × {format_percent(rate, 2).replace('.00%', '%')}"
        for portion, rate, _amount in bands
        if portion
    ]
    return " + ".join(parts) if parts else "0"


def _prorated(t: Translate, d: Mapping[str, Any], deal: Deal, snap: Snapshot) -> str:
    """`` (USD 3,000.00 prorated 10/30 days)`` when a clipped period scaled the amount."""
    if d.get("fraction", 1) == 1:
        return ""
    # No space before a full-width bracket: "基础服务费（¥5,000.00 按 5/7 天折算）".
    return ("" if deal.locale == "zh" else " ") + t(
        "fee.prorated",
        full=fmt_money(deal, d["full"]),
        days=snap.period.days,
        of_days=snap.period.calendar_days,
    )


def _points(t: Translate, fraction: Decimal) -> str:
    """Percentage points (``3.4pt``, ``3.4 个百分点``) of a difference between two rates."""
    # Two places: a rate shown as 11.3% may be 11.25%, and its 3.25 points decide the steps.
    points = format_percent(fraction, 2).removesuffix("%").rstrip("0").removesuffix(".")
    return t("contracts.points", points=points)


def _performance_text(t: Translate, deal: Deal, d: Mapping[str, Any]) -> str:
    """The score as the sum of its terms, the floor when it applies, and the amount."""
    words = {
        "score": pct(d["score"]),
        "shares": score_shares(t, deal, d["shares"], with_share=False),
        "missing": score_missing(t, deal, d["missing"]),
    }
    if d["below_floor"]:
        return t("contracts.performance_floor", floor=pct(d["floor"]), **words)
    return t("contracts.performance", full=fmt_money(deal, d["full"]), **words)


def _guarantee_text(t: Translate, deal: Deal, d: Mapping[str, Any]) -> str:
    """Whether the guarantee was met, and how the refund was reckoned."""
    metric = d["metric"]
    words = {
        "metric": label(deal, metric),
        "actual": fmt_value(deal, metric, d["actual"]),
        "at_least": fmt_value(deal, metric, d["at_least"]),
    }
    if d["actual"] is None:
        return t("contracts.guarantee_undefined", **words)
    if not d["shortfall"]:
        return t("contracts.guarantee_met", **words)
    of = t("fee.of_base") if d["of"] == "base" else t("contracts.of_fees")
    text = t(
        f"contracts.guarantee_{d['refund']}",
        short=pct(d["shortfall"]),
        steps=d["steps"],
        step=pct(d["step"] or Decimal(0)),
        per_step=pct(d["per_step"] or Decimal(0)),
        of=of,
        of_amount=fmt_money(deal, d["of_amount"]),
        **words,
    )
    if d.get("bound"):
        text += t(f"sem.bound_{d['bound']}", amount=fmt_money(deal, d["bound_amount"]), of=of)
    return text


def _deduction_text(t: Translate, deal: Deal, d: Mapping[str, Any]) -> str:
    """How the deduction was judged: undefined, met, under one step, or its steps and bound."""
    metric = d["metric"]
    name = label(deal, metric)
    if d["target"] is None:
        return t("sem.deduction_no_target", metric=name)
    if d["actual"] is None:
        return t("sem.deduction_undefined", metric=name)
    at_most = d["direction"] == "at_most"
    points = d.get("unit") == "points"
    words = {
        "metric": name,
        "actual": fmt_value(deal, metric, d["actual"]),
        "target": fmt_value(deal, metric, d["target"]),
        "short": _points(t, d["points"]) if points else pct(d["shortfall"]),
        # "over 8.0% by 150%" could read as points or as a share: a share names its base.
        "over": t("fee.points_over", points=_points(t, d["points"]))
        if points
        else t("fee.share_of_limit", share=pct(d["shortfall"])),
        "step": _points(t, d["step"]) if points else pct(d["step"]),
    }
    if not d["shortfall"]:
        return t("sem.deduction_within" if at_most else "fee.deduction_none", **words)
    if not d["steps"]:
        key = "sem.deduction_over_under_step" if at_most else "sem.deduction_short_under_step"
        return t(key, **words)
    text = t(
        "sem.deduction_over" if at_most else "fee.deduction",
        steps=d["steps"],
        per_step=pct(d["per_step"]),
        of=t(f"fee.of_{d['of']}"),
        of_amount=fmt_money(deal, d["of_amount"]),
        **words,
    )
    if d.get("bound"):
        text += t(
            f"sem.bound_{d['bound']}",
            amount=fmt_money(deal, d["bound_amount"]),
            of=t(f"fee.of_{d['of']}"),
        )
    return text


def fee_line_text(
    t: Translate,
    deal: Deal,
    line: FeeLine,
    snap: Snapshot,
    values: Mapping[str, Decimal | None] | None = None,
) -> str:
    """How one fee line was computed, in words a person can check by hand.

    ``values`` are the figures the statement used (pass ``statement.values``; the period to
    date when omitted): a commission on a sum names the inputs it counted as 0 because
    nobody reported them."""
    d: Mapping[str, Any] = line.detail
    if line.kind == "base":
        text = t("fee.base_trial") if d.get("trial") else t("fee.base")
        return text + _prorated(t, d, deal, snap)
    if line.kind == "commission":
        metric = d["metric"]
        calc = _rate_parts(d["bands"], deal, metric)
        whole = d["tiers"] == "whole" and len(d["bands"])
        key = "fee.commission_whole" if whole else "fee.commission"
        shown = values if values is not None else snap.totals.values
        amount = shown.get(metric)
        if amount is None:
            # Nothing to take a commission on yet: say so, not "gmv — × … (0)".
            return t("sem.commission_no_figure", metric=label(deal, metric))
        if not d["bands"] or amount <= 0:
            calc = t("sem.commission_nothing")
        figure = fmt_value(deal, metric, amount)
        text = t(key, metric=label(deal, metric), figure=figure, calc=calc)
        missing = snap.unreported_inputs(metric, shown)
        if missing:
            text += t("sem.not_reported", names=fmt_list(deal, (label(deal, m) for m in missing)))
        return text
    if line.kind == "bonus":
        when = fmt_list(deal, (label(deal, m) for m in d["when"]))
        if d["met"]:
            return t("fee.bonus_met", when=when)
        unmet = fmt_list(deal, (label(deal, m) for m in d["unmet"]))
        # Once the period has ended the bonus is lost, not pending: "not met", not "not yet".
        key = "views.bonus_unmet_final" if snap.closed else "fee.bonus_unmet"
        return t(key, when=unmet or when)
    if line.kind == "deduction":
        return _deduction_text(t, deal, d)
    if line.kind == "performance":
        return _performance_text(t, deal, d)
    if line.kind == "guarantee":
        return _guarantee_text(t, deal, d)
    if line.kind == "minimum":
        text = t("fee.minimum", minimum=fmt_money(deal, d["minimum"]))
        return text + _prorated(t, d, deal, snap)
    return _cap_text(t, deal, d) + _prorated(t, d, deal, snap)


def _cap_text(t: Translate, deal: Deal, d: Mapping[str, Any]) -> str:
    """The cap's line: a reduction of the closing fee, or what limits the fee so far."""
    if d.get("to_date"):  # the period is open: the fee earned so far is held at the cap
        cap, before = fmt_money(deal, d["cap"]), fmt_money(deal, d["before"])
        return t("guards.cap_to_date", cap=cap, before=before)
    return t("fee.cap", cap=fmt_money(deal, d["cap"]))


def statement_lines(t: Translate, deal: Deal, statement: FeeStatement, snap: Snapshot) -> list[str]:
    """Every line with its amount, then the total."""
    sep = label_sep(deal.locale)
    return [
        f"• {fee_line_text(t, deal, line, snap, statement.values)}{sep}"
        f"{fmt_money(deal, line.amount)}"
        for line in statement.lines
    ]


def owed_lines(t: Translate, deal: Deal, statement: FeeStatement) -> list[str]:
    """ "The agency owes the seller ¥X" when a guarantee refund took the total below zero."""
    if not statement.owed_by_agency:
        return []
    return [t("contracts.owed", amount=fmt_money(deal, statement.owed_by_agency))]


def totals_text(deal: Deal, values: Mapping[str, Decimal | None]) -> str:
    """The figures a statement used, in the deal's metric order; ``—`` for one with no value
    (never ``0``: a metric nobody reported is not a metric of zero)."""
    return fmt_list(deal, (fmt_pair(deal, name, values.get(name)) for name in deal.metrics))


def _effects(t: Translate, snap: Snapshot, projected: FeeStatement, metric: str) -> list[str]:
    """What one metric's projected figure does to each term that names it."""
    deal, plan = snap.deal, snap.plan
    target = deal.target_for(metric)
    value = projected.values.get(metric)
    effects = []
    if any(metric in bonus.when for bonus in plan.bonuses) and target is not None:
        met = target_met(target, value)
        effects.append(t("fee.effect_bonus_kept" if met else "fee.effect_bonus_lost"))
    performance = projected.line("performance")
    if performance is not None:
        effects.extend(
            t("contracts.effect_share", share=pct(share["share"]))
            for share in performance.detail["shares"]
            if share["metric"] == metric and share["achievement"] is not None
        )
    for line in (*projected.lines_of("deduction"), *projected.lines_of("guarantee")):
        if line.detail["metric"] == metric and line.amount:
            key = (
                "fee.effect_deduction" if line.kind == "deduction" else "contracts.effect_guarantee"
            )
            effects.append(t(key, amount=fmt_money(deal, line.amount)))
    return effects


def target_effects(t: Translate, snap: Snapshot, projected: FeeStatement) -> list[str]:
    """What each target's pace does to the fee ("GMV ends at 41,300, 17% short: ...")."""
    deal = snap.deal
    out = []
    for status in snap.statuses:
        target = status.target
        metric = target.metric
        value = projected.values.get(metric)
        effects = join_clauses(_effects(t, snap, projected, metric), deal.locale)
        if value is None:
            key = "sem.effect_undefined" if any_reported(snap, metric) else "fee.effect_no_data"
            out.append(t(key, metric=label(deal, metric)))
        elif target_met(target, value):
            out.append(
                t(
                    "fee.effect_ok",
                    metric=label(deal, metric),
                    projected=fmt_value(deal, metric, value),
                    effects=effects or t("fee.effect_nothing"),
                )
            )
        else:
            out.append(
                t(
                    "sem.effect_over" if target.direction == "at_most" else "fee.effect_short",
                    metric=label(deal, metric),
                    projected=fmt_value(deal, metric, value),
                    target=fmt_value(deal, metric, target.value),
                    short=format_percent(shortfall(target, value), 0),
                    effects=effects or t("fee.effect_nothing"),
                )
            )
    return out + _guarantee_only(t, snap, projected)


def _guarantee_only(t: Translate, snap: Snapshot, projected: FeeStatement) -> list[str]:
    """The guarantee's refund when its metric has no target (no target line carries it)."""
    deal = snap.deal
    line = projected.line("guarantee")
    if line is None or not line.amount or deal.target_for(line.detail["metric"]) is not None:
        return []
    metric = line.detail["metric"]
    return [
        t(
            "contracts.effect_guarantee_only",
            metric=label(deal, metric),
            projected=fmt_value(deal, metric, line.detail["actual"]),
            at_least=fmt_value(deal, metric, line.detail["at_least"]),
            amount=fmt_money(deal, line.amount),
        )
    ]


def why_lower(tr: Translate, deal: Deal, to_date: FeeStatement, projected: FeeStatement) -> str:
    """Why the projected fee is below the fee so far ("" if nothing explains it): what only
    the period's end applies (deductions, the guarantee refund, then the minimum) and what the
    projected figures no longer earn (a bonus off target, a lower performance fee)."""
    reasons = [
        tr("recapday.bonus", amount=fmt_money(deal, now.amount), metrics=join_list(
            (label(deal, m) for m in then.detail["unmet"]), deal.locale
        ))
        for now, then in zip(to_date.lines_of("bonus"), projected.lines_of("bonus"), strict=False)
        if then.amount < now.amount
    ]  # fmt: skip
    now_perf, then_perf = to_date.line("performance"), projected.line("performance")
    if now_perf is not None and then_perf is not None and then_perf.amount < now_perf.amount:
        reasons.append(
            tr("recapday.performance", amount=fmt_money(deal, now_perf.amount - then_perf.amount))
        )
    reasons.extend(
        tr(
            "recapday.deduction",
            amount=fmt_money(deal, -d.amount),
            metric=label(deal, d.detail["metric"]),
        )
        for d in projected.lines_of("deduction")
        if d.amount < 0
    )
    guarantee = projected.line("guarantee")
    if guarantee is not None and guarantee.amount < 0:
        metric = guarantee.detail["metric"]
        reasons.append(tr(
            "recapday.guarantee",
            amount=fmt_money(deal, -guarantee.amount),
            metric=label(deal, metric),
            at_least=fmt_value(deal, metric, guarantee.detail["at_least"]),
        ))  # fmt: skip
    if not reasons:
        return ""
    text = join_clauses(reasons, deal.locale)
    minimum = projected.line("minimum")
    if minimum is not None:
        text += tr("recapday.minimum", amount=fmt_money(deal, minimum.detail["minimum"]))
    return tr("recapday.lower", reasons=text)


def fee_rich(t: Translate, snap: Snapshot, *, command: str | None = None) -> Rich:
    """``/fee`` for the current period: to date, projected, and what each target does;
    ``command`` (``fee``) names the command the first-day note points to."""
    deal = snap.deal
    to_date = snap.fee("to_date")
    projected = snap.fee("projected")
    title = t(
        "fee.title_trial" if snap.trial else "fee.title",
        deal=deal.name,
        period=period_name(deal, snap.period, dates=True),
        day=snap.elapsed_days,
        days=snap.period.days,
    ) + counted_note(t, snap)
    projected_total = t("fee.total_projected", total=fmt_money(deal, projected.total))
    if projected.total < to_date.total:  # says why, or it reads as a fee that shrinks
        projected_total += why_lower(t, deal, to_date, projected)
    return rich_message(
        title,
        [
            (None, first_day_note(t, snap, command)),
            (
                t("fee.to_date"),
                [
                    *statement_lines(t, deal, to_date, snap),
                    t("fee.total_to_date", total=fmt_money(deal, to_date.total)),
                ],
            ),
            (
                t("fee.projected_head", days=snap.period.days),
                [
                    t("fee.totals", totals=totals_text(deal, projected.values)),
                    *statement_lines(t, deal, projected, snap),
                    projected_total,
                    *owed_lines(t, deal, projected),
                ],
            ),
            (t("fee.targets"), target_effects(t, snap, projected)),
            (
                None,
                [
                    *fee_aligned_note(t, deal, snap.plan, snap.targets, snap.totals.aligned),
                    *period_notes(t, snap),
                    *pending_summary(t, snap),
                ],
            ),
        ],
        footer=t("fee.footer", truth=t(f"truth.{deal.truth}")),
    )


def final_rich(
    t: Translate,
    snap: Snapshot,
    statement: FeeStatement,
    *,
    what_if: str = "",
    overrides: Collection[str] = (),
) -> Rich:
    """A closed period's statement, or a what-if: every line and the total.

    ``overrides`` are the metrics a what-if set: a ratio reading one of them is taken on the
    figures shown, not over its aligned days, so the note about those days leaves it out."""
    deal = snap.deal
    key = "fee.what_if_title" if what_if else "fee.final_title"
    title = t(key, deal=deal.name, period=period_name(deal, snap.period), what_if=what_if)
    aligned = {
        name: found
        for name, found in snap.totals.aligned.items()
        if not any(used in overrides for used in found.sums)
    }
    figures = [t("fee.totals", totals=totals_text(deal, statement.values))]
    if what_if and any(name not in overrides for name in deal.base_metrics):
        figures.append(t("guards.if_others_projected"))
    return rich_message(
        title,
        [
            (None, figures),
            (
                None,
                [
                    *statement_lines(t, deal, statement, snap),
                    t("fee.total_final", total=fmt_money(deal, statement.total)),
                    *owed_lines(t, deal, statement),
                    *fee_aligned_note(t, deal, snap.plan, snap.targets, aligned),
                ],
            ),
        ],
        footer=t("fee.footer", truth=t(f"truth.{deal.truth}")),
    )
