"""The ``kpibot`` command line: help everywhere, deal files, replay, demo, run without platforms."""

from __future__ import annotations

import itertools
import json
import logging
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app

ROOT = Path(__file__).resolve().parents[1]
DEAL = ROOT / "bot" / "demo" / "acme-linkstar-us.yaml"
runner = CliRunner()


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["run"],
        ["db"],
        ["db", "upgrade"],
        ["deal"],
        ["deal", "apply"],
        ["deal", "check"],
        ["deal", "list"],
        ["chat"],
        ["replay"],
        ["demo"],
    ],
)
def test_every_command_has_help(args: list[str]) -> None:
    result = runner.invoke(app, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_run_without_a_platform_names_the_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    for name in ("SLACK_BOT_TOKEN", "TELEGRAM_BOT_TOKEN", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    result = runner.invoke(app, ["run"])
    assert result.exit_code == 2
    assert "SLACK_BOT_TOKEN" in result.output and "TELEGRAM_BOT_TOKEN" in result.output


def test_deal_apply_then_list(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'k.db'}"
    applied = runner.invoke(app, ["deal", "apply", str(DEAL), "--db", db])
    assert applied.exit_code == 0, applied.output
    assert "deal acme-linkstar-us version 1" in applied.output
    again = runner.invoke(app, ["deal", "apply", str(DEAL), "--db", db])
    assert "version 1" in again.output  # the same text is not a new version
    listed = runner.invoke(app, ["deal", "list", "--db", db])
    assert "acme-linkstar-us v1" in listed.output and "telegram:-1001234 (seller)" in listed.output


def test_invalid_deal_file_is_rejected_with_key_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        DEAL.read_text(encoding="utf-8").replace(
            "refund_rate: {at_most: 8%}", "refund_ratio: {at_most: 8%}"
        )
    )
    db = f"sqlite:///{tmp_path / 'k.db'}"
    result = runner.invoke(app, ["deal", "apply", str(bad), "--db", db])
    assert result.exit_code == 1
    assert "targets.refund_ratio" in result.output
    line = next(
        i for i, text in enumerate(bad.read_text().splitlines(), 1) if "refund_ratio" in text
    )
    assert f"bad.yaml:{line}:" in result.output
    listed = runner.invoke(app, ["deal", "list", "--db", db])
    assert "acme" not in listed.output


def test_replay_prints_one_json_line_per_message(tmp_path: Path) -> None:
    script = tmp_path / "s.jsonl"
    lines = [
        {
            "at": "2026-11-03T22:10:00-08:00",
            "chat": "telegram:-1001234",
            "user": "telegram:5001",
            "name": "Seller ops lead",
            "text": "/report gmv 1.2万",
            "id": "m-17",
        },
        {
            "at": "2026-11-03T22:11:00-08:00",
            "chat": "telegram:-1001234",
            "user": "telegram:5001",
            "text": "/report gmv 1.2万",
            "id": "m-17",
        },
        {
            "at": "2026-11-03T22:12:00-08:00",
            "chat": "telegram:-1001234",
            "user": "telegram:5001",
            "text": "/report gmv lots",
        },
    ]
    script.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n")
    result = runner.invoke(app, ["replay", "--deal", str(DEAL), str(script)])
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["kind"] for o in out] == ["reply", "reply", "error"]
    assert out[0]["at"] == "2026-11-03T22:10:00-08:00"
    assert out[0]["to"] == "telegram:-1001234"
    assert "gmv 12,000" in out[0]["text"]
    assert "Already recorded" in out[1]["text"]


def test_replay_sends_what_a_command_queued_at_the_commands_own_time(tmp_path: Path) -> None:
    """A dispute's notice to the other side goes out with the dispute, as a running bot's
    scheduler sends it within seconds; not at the next scheduled job's time."""
    script = tmp_path / "s.jsonl"
    lines = [
        {"at": "2026-11-03T21:00:00-08:00", "chat": "telegram:-1001234",
         "user": "telegram:5001", "text": "/report gmv 12000"},
        {"at": "2026-11-03T21:05:00-08:00", "chat": "slack:C0AGENCY",
         "user": "slack:U0AGENCY1", "text": "/dispute gmv refunds not deducted"},
        {"at": "2026-11-03T21:20:00-08:00", "tick": True},
    ]  # fmt: skip
    script.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    result = runner.invoke(app, ["replay", "--deal", str(DEAL), str(script)])
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.stdout.splitlines()]
    notices = [o for o in out if o["kind"] == "notice"]
    assert [(o["to"], o["at"]) for o in notices] == [
        ("telegram:-1001234", "2026-11-03T21:05:00-08:00")
    ]
    assert "disputed your gmv 12,000" in notices[0]["text"]


def test_replay_stops_on_a_malformed_line(tmp_path: Path) -> None:
    script = tmp_path / "s.jsonl"
    script.write_text('{"at": "2026-11-03T22:10:00-08:00", "tick": true}\n{"at": 5}\n')
    result = runner.invoke(app, ["replay", "--deal", str(DEAL), str(script)])
    assert result.exit_code == 2
    assert "s.jsonl:2:" in result.output


def test_demo_plays_the_bundled_week() -> None:
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    assert "Saved for 2026-11-03" in result.output
    assert "seller 1,950 vs agency 2,000" in result.output
    assert "Total to date: USD" in result.output


def _scheduled(output: str) -> list[tuple[str, str, str]]:
    """The transcript's scheduled messages as ``(kind, "Mon 2026-11-02 09:00", first line)``."""
    found = []
    lines = output.splitlines()
    for header, body in itertools.pairwise(lines):
        match = re.fullmatch(r"  kpibot → .+? \[(\w+)\] at (\w{3} [\d-]{10} \d\d:\d\d):", header)
        if match:
            found.append((match[1], match[2], body.strip()))
    return found


def test_demo_fires_scheduled_work_at_its_own_time_and_prints_no_log_lines() -> None:
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    scheduled = _scheduled(result.output)
    recaps = [at for kind, at, text in scheduled if text.startswith("📊 Weekly recap")]
    reminders = [at for kind, at, _ in scheduled if kind == "reminder"]
    warnings = [at for kind, at, _ in scheduled if kind == "warning"]
    assert recaps and reminders and warnings
    assert all(at.startswith("Mon ") and at.endswith(" 09:00") for at in recaps)
    assert all(at.endswith(" 22:30") for at in reminders)
    assert all(at.endswith(" 10:00") for at in warnings)
    assert any(kind == "escalation" for kind, _, _ in scheduled)
    # Nothing came due while "the bot was down": replay never is.
    assert "missed" not in result.output and "offline" not in result.output
    assert " WARNING " not in result.output and "INFO" not in result.output


def test_demo_shows_errors_but_no_lower_log_records(monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.app

    async def noisy_replay(*args: object, **kwargs: object) -> list[dict[str, str]]:
        logging.getLogger("kpibot.scheduler").warning("missed slot (past the grace window)")
        logging.getLogger("kpibot.scheduler").info("scheduler started")
        logging.getLogger("kpibot.scheduler").error("scheduled tick failed")
        return []

    monkeypatch.setattr(bot.app, "run_replay", noisy_replay)
    # As in a fresh process: no handler, so Python itself would print warnings to stderr.
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    level = logging.getLogger().level
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    assert "missed slot" not in result.output and "scheduler started" not in result.output
    assert "ERROR kpibot.scheduler scheduled tick failed" in result.output
    assert logging.getLogger().level == level  # the demo leaves logging as it found it


def test_deal_apply_says_from_which_period_a_change_takes_effect(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'k.db'}"
    first = runner.invoke(app, ["deal", "apply", str(DEAL), "--db", db])
    assert "Takes effect from 2026-11-01, the start of period 2026-11." in first.output
    # A change dated inside December applies from January: a period keeps the terms it
    # started with (issue 12, item 10).
    changed = tmp_path / "changed.yaml"
    changed.write_text(
        DEAL.read_text(encoding="utf-8").replace("base: 3000", "base: 3500")
        + "effective: 2026-12-15\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["deal", "apply", str(changed), "--db", db])
    assert result.exit_code == 0, result.output
    assert "version 2" in result.output
    assert (
        "Takes effect from 2027-01-01, the start of the next period (2027-01); "
        "2026-12 keeps the terms it started with."
    ) in result.output


def test_export_into_a_folder_that_does_not_exist_says_so_and_exits_2(tmp_path: Path) -> None:
    out = tmp_path / "missing" / "x.xlsx"
    result = runner.invoke(
        app, ["export", "--deal", "acme-linkstar-us", "--format", "xlsx", "--out", str(out)]
    )
    assert result.exit_code == 2
    assert "no such folder" in result.output
    assert not out.parent.exists()
