"""The notes saying a ratio was computed over the days all its inputs were reported (not the
period's totals), for `/kpi`, `/fee` and the recap. Pure rendering, shared by handlers and
the scheduler."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from bot.core.i18n import Translate, join_clauses
from bot.core.render import fmt_list, label
from kpi.model import Deal, FeePlan, Target
from kpi.pace import Aligned


def aligned_note(t: Translate, deal: Deal, aligned: Aligned) -> str | None:
    """``ROI over 5 of 7 days (the days both GMV and ad spend were reported)``; None when no
    day was left out (every day with any of its inputs has them all). An ``unreported: zero``
    input (refunds) is not named (:attr:`kpi.pace.Aligned.inputs`): ``refund_rate over 5 of 7
    days (the days gmv has counted figures)``."""
    if not aligned.left_out:
        return None
    names = [label(deal, name) for name in aligned.inputs]
    zero = "none" if aligned.days == 0 else "note"
    words: dict[str, object] = {
        "metric": label(deal, aligned.metric),
        "days": aligned.days,
        "of_days": aligned.of_days,
    }
    if len(names) == 1:
        return t(f"aligned.{zero}_one", input=names[0], **words)
    if len(names) == 2:
        return t(f"aligned.{zero}_two", first=names[0], second=names[1], **words)
    return t(f"aligned.{zero}_all", inputs=fmt_list(deal, names), **words)


def aligned_notes(
    t: Translate,
    deal: Deal,
    aligned: Mapping[str, Aligned],
    shown: Collection[str] | None = None,
) -> list[str]:
    """A note per non-linear metric (of ``shown``, all when None) that left days out, in the
    deal's metric order."""
    notes = []
    for name in deal.metrics:
        found = aligned.get(name)
        if found is None or (shown is not None and name not in shown):
            continue
        note = aligned_note(t, deal, found)
        if note is not None:
            notes.append(note)
    return notes


def fee_metrics(plan: FeePlan, targets: Collection[Target]) -> set[str]:
    """The metrics a fee plan's amounts depend on: the commission's, the targets a bonus,
    a deduction or the performance score judges, and the guarantee's."""
    used: set[str] = set()
    if plan.commission is not None:
        used.add(plan.commission.on)
    for bonus in plan.bonuses:
        used.update(bonus.when)
    used.update(deduction.on for deduction in plan.deductions)
    if plan.performance is not None:
        used.update(target.metric for target in targets if target.weight is not None)
    if plan.guarantee is not None:
        used.add(plan.guarantee.on)
    return used


def fee_aligned_note(
    t: Translate,
    deal: Deal,
    plan: FeePlan,
    targets: Collection[Target],
    aligned: Mapping[str, Aligned],
) -> list[str]:
    """One line, when a fee term depends on a ratio that left days out: ``The fee uses ROI
    over 5 of 7 days (...)``. A ratio with no aligned day at all has no value, and the fee
    line judging it already says so."""
    usable = {name: found for name, found in aligned.items() if found.days}
    notes = aligned_notes(t, deal, usable, fee_metrics(plan, targets))
    if not notes:
        return []
    return [t("aligned.fee", notes=join_clauses(notes, deal.locale))]
