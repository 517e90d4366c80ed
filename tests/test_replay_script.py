"""Replay scripts: malformed lines stop the run with their line number."""

from __future__ import annotations

import json

import pytest

from bot.replay import ScriptError, parse_script

GOOD = {
    "at": "2026-11-03T22:10:00-08:00",
    "chat": "telegram:-1001234",
    "user": "telegram:5001",
    "text": "/report gmv 1.2万",
    "id": "m-17",
}


def test_message_and_tick_lines_parse() -> None:
    steps = parse_script(
        [json.dumps(GOOD), "", '{"at": "2026-11-04T00:00:00-08:00", "tick": true}']
    )
    assert [s.lineno for s in steps] == [1, 3]
    assert steps[0].command is not None and steps[0].command.message_id == "m-17"
    assert steps[1].command is None


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "JSON object"),
        (json.dumps({**GOOD, "at": "2026-11-03T22:10:00"}), "UTC offset"),
        (json.dumps({**GOOD, "at": "yesterday"}), "not an ISO time"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "at"}), "'at' is required"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "text"}), "'text'"),
        (json.dumps({**GOOD, "chat": "-1001234"}), "identity"),
        (json.dumps({**GOOD, "colour": "red"}), "unknown keys"),
        (json.dumps({"at": GOOD["at"], "tick": True, "text": "x"}), "unknown keys"),
    ],
)
def test_malformed_line_names_its_line(line: str, problem: str) -> None:
    with pytest.raises(ScriptError) as info:
        parse_script([json.dumps(GOOD), line])
    assert info.value.lineno == 2
    assert problem in info.value.problem


def test_time_may_not_go_backwards() -> None:
    earlier = {**GOOD, "at": "2026-11-03T21:00:00-08:00"}
    with pytest.raises(ScriptError, match="backwards"):
        parse_script([json.dumps(GOOD), json.dumps(earlier)])
