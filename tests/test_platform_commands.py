"""The three ways in: ``kpibot import``, a replayed ``/import`` with a file, and ``/sessions``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from bot.cli import app
from tests.platform_files import LIVE, ORDERS, csv_rows, to_csv

ROOT = Path(__file__).resolve().parents[1]
DEAL = ROOT / "bot" / "demo" / "acme-linkstar-us.yaml"
ZH_DEAL = ROOT / "bot" / "demo" / "shenzhen-wanxiang-cn.yaml"
runner = CliRunner()


def applied_db(tmp_path: Path) -> str:
    db = f"sqlite:///{tmp_path / 'k.db'}"
    assert runner.invoke(app, ["deal", "apply", str(DEAL), "--db", db]).exit_code == 0
    return db


def test_import_prints_what_it_stored_and_a_second_import_stores_nothing(tmp_path: Path) -> None:
    db = applied_db(tmp_path)
    first = runner.invoke(app, ["import", str(LIVE), "--deal", "acme-linkstar-us", "--db", db])
    assert first.exit_code == 0, first.output
    assert first.stdout == (
        "📥 Stored the live export: 13 sessions, 2026-11-02 to 2026-11-08; 7 day(s) updated, "
        "0 row(s) already imported.\n"
    )
    again = runner.invoke(
        app, ["import", str(LIVE), "--deal", "acme-linkstar-us", "--kind", "live", "--db", db]
    )
    assert again.exit_code == 0, again.output
    assert "0 day(s) updated, 13 row(s) already imported." in again.stdout


def test_import_refuses_a_bad_file_whole_with_exit_2_and_file_row_column_lines(
    tmp_path: Path,
) -> None:
    db = applied_db(tmp_path)
    rows = csv_rows(ORDERS)
    rows[4][16] = "12,x"
    bad = tmp_path / "orders.csv"
    bad.write_bytes(to_csv(rows))
    result = runner.invoke(app, ["import", str(bad), "--deal", "acme-linkstar-us", "--db", db])
    assert result.exit_code == 2
    assert "orders.csv:5: Order Amount: “12,x” is not an amount." in result.stderr
    good = runner.invoke(app, ["import", str(ORDERS), "--deal", "acme-linkstar-us", "--db", db])
    # Nothing was stored before:
    assert "7 day(s) updated, 0 row(s) already imported." in good.stdout


def test_import_answers_in_the_deals_language_or_lang(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'k.db'}"
    assert runner.invoke(app, ["deal", "apply", str(ZH_DEAL), "--db", db]).exit_code == 0
    cny = tmp_path / "live-cny.csv"
    cny.write_bytes(LIVE.read_bytes().replace(b"($)", "(¥)".encode()))
    deal = "shenzhen-wanxiang-cn"
    stored = runner.invoke(app, ["import", str(cny), "--deal", deal, "--db", db])
    assert stored.exit_code == 0, stored.output
    assert stored.stdout == (
        "📥 已导入直播数据：13 场直播，2026-11-02 至 2026-11-08；更新了 7 天，0 行此前已导入。\n"
    )
    refused = runner.invoke(app, ["import", str(LIVE), "--deal", deal, "--db", db])
    assert refused.exit_code == 2
    assert refused.stderr.startswith("live-analysis")
    assert "未导入（2 处问题），没有保存任何数据" in refused.stderr
    english = runner.invoke(app, ["import", str(LIVE), "--deal", deal, "--lang", "en", "--db", db])
    assert english.exit_code == 2 and "nothing was stored" in english.stderr.lower()


def test_import_with_the_wrong_kind_or_an_unknown_deal_says_so(tmp_path: Path) -> None:
    db = applied_db(tmp_path)
    wrong = runner.invoke(
        app, ["import", str(LIVE), "--deal", "acme-linkstar-us", "--kind", "orders", "--db", db]
    )
    assert wrong.exit_code == 2
    assert "this is a live export, not orders." in wrong.stderr
    unknown = runner.invoke(app, ["import", str(LIVE), "--deal", "nope", "--db", db])
    assert unknown.exit_code == 1 and "unknown deal 'nope'" in unknown.stderr
    kind = runner.invoke(app, ["import", str(LIVE), "--deal", "x", "--kind", "video"])
    assert kind.exit_code == 2 and "--kind must be live, orders or income" in kind.stderr


def replay(tmp_path: Path, deal: Path, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    shutil.copy(LIVE, tmp_path / "live.csv")
    script = tmp_path / "s.jsonl"
    script.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n")
    result = runner.invoke(app, ["replay", "--deal", str(deal), str(script)])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def line(at: str, text: str, user: str = "telegram:5001", **more: Any) -> dict[str, Any]:
    return {"at": at, "chat": "telegram:-1001234", "user": user, "text": text, **more}


def test_a_replayed_import_with_a_file_is_answered_like_a_report(tmp_path: Path) -> None:
    out = replay(
        tmp_path,
        DEAL,
        [
            line("2026-11-06T09:00:00-08:00", "/import", file="live.csv", id="1"),
            line("2026-11-06T09:01:00-08:00", "/import live", file="live.csv", id="2"),
            line("2026-11-06T09:02:00-08:00", "/import"),
            line("2026-11-06T09:03:00-08:00", "/import", "telegram:9999", file="live.csv"),
            line("2026-11-06T09:04:00-08:00", "/sessions 2026-11-02"),
        ],
    )
    texts = [o["text"] for o in out]
    assert texts[0].startswith(
        "📥 Stored the live export: 13 sessions, 2026-11-02 to 2026-11-08; 7 day(s) updated"
    )
    assert texts[1].endswith("0 day(s) updated, 13 row(s) already imported.")
    assert texts[2].startswith("Send the Seller Center export file (CSV or XLSX) with /import")
    assert texts[3].startswith("Only members of the seller or the agency may import")
    assert texts[4].splitlines() == [
        "Livestream sessions 2026-11-02 (2):",
        "• 11-02 10:05 ACME Home, 2h 08min: GMV USD 5,368.94, 72 orders, 5,186 viewers",
        "• 11-02 20:00 Lily @ ACME, 1h 53min: GMV USD 6,306.28, 75 orders, 13,264 viewers",
    ]


def test_a_script_line_naming_a_missing_file_stops_the_replay(tmp_path: Path) -> None:
    script = tmp_path / "s.jsonl"
    script.write_text(json.dumps(line("2026-11-06T09:00:00-08:00", "/import", file="no.csv")))
    result = runner.invoke(app, ["replay", "--deal", str(DEAL), str(script)])
    assert result.exit_code == 2
    assert "s.jsonl:1: cannot read 'file' 'no.csv'" in result.stderr


def test_the_recap_says_how_many_days_match_the_platform_and_names_the_best_session(
    tmp_path: Path,
) -> None:
    shutil.copy(ORDERS, tmp_path / "orders.csv")
    agency = {"chat": "slack:C0AGENCY", "user": "slack:U0AGENCY1"}
    out = replay(
        tmp_path,
        DEAL,
        [
            line("2026-11-06T09:00:00-08:00", "/import", file="live.csv", id="1"),
            line("2026-11-06T09:01:00-08:00", "/import", file="orders.csv", id="2"),
            line("2026-11-06T09:02:00-08:00", "/report gmv 11675.22 2026-11-02", id="3"),
            line("2026-11-06T09:03:00-08:00", "/report gmv 12000 2026-11-03", id="4"),
            {**line("2026-11-06T09:04:00-08:00", "/report gmv 3357.61 2026-11-03"), **agency},
            {"at": "2026-11-09T09:00:00-08:00", "tick": True},
        ],
    )
    recap = next(o["text"] for o in out if o["kind"] == "recap" and o["to"] == "slack:C0AGENCY")
    section = recap.split("Against the platform (TikTok Shop exports)\n")[1].splitlines()
    assert section[:5] == [
        "Matches the platform: 1 of 2 days",
        "⚠ 11-03 gmv: seller 12,000 · platform 8,872.44",
        "⚠ 11-03 gmv: agency 3,357.61 · platform 8,872.44",
        "Best session: 11-08 20:00 Lily @ ACME, 2h 34min: GMV USD 8,732.81, 153 orders, "
        "11,768 viewers",
        "Weakest session: 11-04 20:05 Lily @ ACME, 3h 17min: GMV USD 3,235.24, 79 orders, "
        "13,143 viewers",
    ]


def test_an_import_compares_the_days_it_covers_with_what_the_sides_typed(
    tmp_path: Path,
) -> None:
    agency = {"chat": "slack:C0AGENCY", "user": "slack:U0AGENCY1"}
    out = replay(
        tmp_path,
        DEAL,
        [
            line("2026-11-06T09:02:00-08:00", "/report gmv 11675.22 2026-11-02", id="1"),
            line("2026-11-06T09:03:00-08:00", "/report gmv 12000 2026-11-03", id="2"),
            {**line("2026-11-06T09:04:00-08:00", "/report gmv 3357.61 2026-11-03"), **agency},
            line("2026-11-06T09:05:00-08:00", "/import", file="live.csv", id="3"),
            line("2026-11-06T09:06:00-08:00", "/report gmv 9000 2026-10-30", id="4"),
        ],
    )
    stored = "📥 Stored the live export: 13 sessions"
    imported = next(o["text"] for o in out if o["text"].startswith(stored))
    assert imported.splitlines()[1:] == [
        "Matches the platform: 1 of 2 days",
        "⚠ 11-03 gmv: seller 12,000 · platform 8,872.44",
        "⚠ 11-03 gmv: agency 3,357.61 · platform 8,872.44",
        "/history METRIC DATE shows both sides' figures beside the platform's; a side corrects "
        "its own with /report METRIC VALUE DATE.",
    ]


def test_an_import_of_days_nobody_typed_says_only_what_it_stored(tmp_path: Path) -> None:
    out = replay(
        tmp_path,
        DEAL,
        [
            line("2026-11-06T09:00:00-08:00", "/report gmv 9000 2026-11-01", id="1"),
            line("2026-11-06T09:05:00-08:00", "/import", file="live.csv", id="2"),
        ],
    )
    assert out[-1]["text"] == (
        "📥 Stored the live export: 13 sessions, 2026-11-02 to 2026-11-08; 7 day(s) updated, "
        "0 row(s) already imported."
    )


def test_in_chinese_the_comparison_names_metrics_and_sides_in_chinese(tmp_path: Path) -> None:
    (tmp_path / "live-cny.csv").write_bytes(LIVE.read_bytes().replace(b"($)", "(¥)".encode()))
    agency = {"chat": "telegram:-1003344556688", "user": "telegram:583920114"}
    out = replay(
        tmp_path,
        ZH_DEAL,
        [
            {**line("2026-11-06T09:00:00+08:00", "/report 成交额 2万 11-03", id="1"), **agency},
            {**line("2026-11-06T09:01:00+08:00", "/import", file="live-cny.csv", id="2"), **agency},
        ],
    )
    imported = out[-1]["text"].splitlines()
    assert imported[0].startswith("📥 已导入直播数据：13 场直播，2026-11-02 至 2026-11-08")
    # Nothing counts yet (the seller has not confirmed): no "0 of 0 days" line.
    assert imported[1:] == [
        "⚠ 11-03 成交额：服务商 20,000 · 平台 8,872.44",
        "发送 /history 指标 日期 可对照双方数据与平台数据；"
        "如需更正本方数据：/report 指标 数值 日期。",
    ]


def test_a_recap_without_imports_has_no_platform_section(tmp_path: Path) -> None:
    out = replay(
        tmp_path,
        DEAL,
        [
            line("2026-11-06T09:02:00-08:00", "/report gmv 11675.22 2026-11-02", id="3"),
            {"at": "2026-11-09T09:00:00-08:00", "tick": True},
        ],
    )
    recap = next(o["text"] for o in out if o["kind"] == "recap")
    assert "platform" not in recap.casefold()


def test_history_shows_who_imported_which_file_when(tmp_path: Path) -> None:
    out = replay(
        tmp_path,
        DEAL,
        [
            line("2026-11-06T09:00:00-08:00", "/history", id="0"),
            line("2026-11-06T09:01:00-08:00", "/import", file="live.csv", id="1", name="Mia"),
            line("2026-11-06T09:02:00-08:00", "/history", id="2"),
            line("2026-11-06T09:03:00-08:00", "/report gmv 12000", id="3"),
            line("2026-11-06T09:04:00-08:00", "/history", id="4"),
            line("2026-11-06T09:05:00-08:00", "/history gmv", id="5"),
        ],
    )
    texts = [o["text"] for o in out]
    assert "Imported platform files" not in texts[0]
    assert texts[2].splitlines()[0] == "Imported platform files (newest first):"
    assert texts[2].splitlines()[1].startswith(
        "• 11-06 09:01 Mia: live.csv (live, 13 rows, 13 new or changed, SHA-256 "
    )
    assert "12,000" in texts[4] and "Imported platform files (newest first):" in texts[4]
    assert "Imported platform files" not in texts[5]
