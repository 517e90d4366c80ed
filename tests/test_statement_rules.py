"""The statement rules of kpi.statements, without a database: what a confirmation does."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from dataclasses import replace
from decimal import Decimal

from kpi.model import Side
from kpi.statements import Confirmation, StoredStatement, decide_confirmation

AT = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)


def confirmation(side: Side, person: str, digest: str, key: str) -> Confirmation:
    return Confirmation(
        side=side,
        person=person,
        person_name=person.title(),
        chat=f"chat-{side}",
        message_key=key,
        at=AT,
        total=Decimal("3000.00"),
        digest=digest,
    )


def period(*confirmations: Confirmation, status: str = "open") -> StoredStatement:
    return StoredStatement(
        deal_id="deal",
        period="2026-11",
        period_start=dt.date(2026, 11, 1),
        period_end=dt.date(2026, 11, 30),
        status="closed" if status == "closed" else "open",
        confirmations=confirmations,
        statement=None,
        figures=(),
        closed_at=None,
    )


SELLER = confirmation("seller", "sam", "A", "m1")
AGENCY = confirmation("agency", "ada", "A", "m2")


def test_the_first_confirmation_of_a_period_is_recorded_and_voids_nothing() -> None:
    decision = decide_confirmation(period(), SELLER)
    assert (decision.outcome, decision.writes, decision.closes) == ("recorded", True, False)
    assert decision.voided is None


def test_the_other_side_confirming_the_same_statement_closes_the_period() -> None:
    decision = decide_confirmation(period(SELLER), AGENCY)
    assert (decision.outcome, decision.writes, decision.closes) == ("closed", True, True)


def test_the_other_side_confirming_other_figures_voids_the_first_confirmation() -> None:
    decision = decide_confirmation(period(SELLER), replace(AGENCY, digest="B"))
    assert decision.outcome == "reconfirm"
    assert decision.voids == SELLER and decision.voided == SELLER


def test_a_side_confirming_new_figures_replaces_its_own_earlier_confirmation() -> None:
    again = replace(SELLER, digest="B", message_key="m3")
    decision = decide_confirmation(period(SELLER), again)
    assert (decision.outcome, decision.replaces, decision.voided) == ("recorded", SELLER, SELLER)


def test_the_other_sides_voiding_is_what_a_reconfirm_reports_even_when_both_are_voided() -> None:
    mine_before = replace(SELLER, digest="B")
    again = replace(SELLER, digest="C", message_key="m3")
    decision = decide_confirmation(period(mine_before, AGENCY), again)
    assert decision.outcome == "reconfirm"
    assert (decision.replaces, decision.voids, decision.voided) == (mine_before, AGENCY, AGENCY)


def test_nothing_is_written_for_a_redelivery_a_closed_period_a_repeat_or_one_person_alone() -> None:
    cases = {
        "duplicate": (period(SELLER), replace(AGENCY, message_key="m1")),
        "already_closed": (period(SELLER, status="closed"), AGENCY),
        "already_confirmed": (period(SELLER), replace(SELLER, message_key="m3")),
        "same_person": (period(SELLER), replace(AGENCY, person="sam")),
    }
    for outcome, (record, new) in cases.items():
        decision = decide_confirmation(record, new)
        assert (decision.outcome, decision.writes, decision.voided) == (outcome, False, None)


def test_a_voided_confirmation_no_longer_stands() -> None:
    voided = replace(SELLER, voided_at=AT)
    assert decide_confirmation(period(voided), AGENCY).outcome == "recorded"


def test_the_rules_import_no_database_library() -> None:
    code = "import sys, kpi.statements; print(any(m.startswith('sqlalchemy') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
