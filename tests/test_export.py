"""Exports: formula injection neutralised, exact values, and the CLI (export, backup, restore,
dashboard-link) on a month of the demo."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from bot.app import run_replay
from bot.cli import app
from bot.replay import demo_files, parse_script
from kpi.export import Sheet, jsonl_lines, neutralise, write_csv, xlsx_bytes

runner = CliRunner()
HOSTILE = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "plain", "-"]


@pytest.mark.parametrize("text", HOSTILE)
def test_a_cell_a_spreadsheet_would_run_as_a_formula_is_made_text(text: str) -> None:
    safe = neutralise(text)
    assert not safe.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert safe.endswith(text)


def test_plain_text_and_numbers_are_left_alone() -> None:
    assert neutralise("Lily (seller)") == "Lily (seller)"
    assert neutralise("12000.5") == "12000.5"


SHEET = Sheet(
    "ledger",
    ("who", "value", "day", "at"),
    [
        ("=cmd|' /C calc'!A0", Decimal("0.1"), dt.date(2026, 11, 3), None),
        ("Lily", Decimal("-300.00"), dt.date(2026, 11, 4), dt.datetime(2026, 11, 4, tzinfo=dt.UTC)),
    ],
)


def test_csv_neutralises_formulas_and_keeps_values_exact(tmp_path: Path) -> None:
    [path] = write_csv([SHEET], tmp_path / "out.csv")
    assert path.name == "out-ledger.csv"
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel reads it as UTF-8
    rows = list(csv.reader(path.open(encoding="utf-8-sig")))
    assert rows[1][0] == "'=cmd|' /C calc'!A0"
    assert rows[1][1:] == ["0.1", "2026-11-03", ""]
    # A number is never a formula: a negative amount stays a number.
    assert rows[2][1] == "-300.00"


def test_xlsx_cells_are_text_never_formulas(tmp_path: Path) -> None:
    book = load_workbook(io.BytesIO(xlsx_bytes([SHEET])))
    cells = list(book["ledger"].iter_rows(min_row=2, values_only=True))
    assert cells[0][0] == "'=cmd|' /C calc'!A0"
    assert cells[0][1] == "0.1"
    assert cells[1][3] == "2026-11-04T00:00:00+00:00"


def test_jsonl_names_each_rows_sheet_and_columns() -> None:
    first = json.loads(next(iter(jsonl_lines([SHEET]))))
    assert first == {
        "sheet": "ledger",
        "who": "=cmd|' /C calc'!A0",  # JSON is data, not a spreadsheet: left as typed
        "value": "0.1",
        "day": "2026-11-03",
        "at": None,
    }


# ------------------------------------------------------------------------------ CLI


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
    texts, script = demo_files()
    asyncio.run(run_replay(texts, parse_script(script), db_url=url))
    return url


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("SECRET_KEY", "cli-secret")
    monkeypatch.setenv("PUBLIC_URL", "https://kpi.example.com")


def test_export_xlsx_holds_the_ledger_daily_figures_and_statement(
    env: None, demo_db: str, tmp_path: Path
) -> None:
    out = tmp_path / "nov.xlsx"
    args = ["export", "--deal", "acme-linkstar-us", "--period", "2026-11"]
    result = runner.invoke(app, [*args, "--format", "xlsx", "--out", str(out), "--db", demo_db])
    assert result.exit_code == 0, result.output
    book = load_workbook(out)
    statement = list(book["statement"].iter_rows(min_row=2, values_only=True))
    assert statement[-1][:3] == ("2026-11", "final", "total")
    assert statement[-1][4] == "7102.80"  # the closed statement's total
    ledger = list(book["ledger"].iter_rows(min_row=2, values_only=True))
    corrections = [r for r in ledger if r[10]]
    assert corrections and all(r[11] == "yes" for r in corrections[-1:])
    assert any(r[11] == "no" for r in ledger)  # superseded entries are kept, marked


def test_export_csv_writes_one_file_per_table(env: None, demo_db: str, tmp_path: Path) -> None:
    out = tmp_path / "nov.csv"
    args = ["export", "--deal", "acme-linkstar-us", "--period", "2026-11", "--format", "csv"]
    result = runner.invoke(app, [*args, "--out", str(out), "--db", demo_db])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in tmp_path.glob("nov-*.csv"))
    assert names == ["nov-daily.csv", "nov-ledger.csv", "nov-statement.csv", "nov-verdicts.csv"]


def test_export_refuses_bad_arguments_and_writes_nothing(
    env: None, demo_db: str, tmp_path: Path
) -> None:
    out = tmp_path / "x.jsonl"
    no_deal = runner.invoke(app, ["export", "--format", "jsonl", "--out", str(out)])
    assert no_deal.exit_code == 2 and "--deal" in no_deal.output
    all_xlsx = runner.invoke(app, ["export", "--all", "--format", "xlsx", "--out", str(out)])
    assert all_xlsx.exit_code == 2 and "--format jsonl" in all_xlsx.output
    bad_lang = runner.invoke(app, ["export", "--deal", "acme-linkstar-us", "--format", "jsonl",
                                   "--out", str(out), "--lang", "fr"])  # fmt: skip
    assert bad_lang.exit_code == 2 and "en or zh" in bad_lang.output
    args = ["export", "--deal", "nope", "--format", "jsonl", "--out", str(out), "--db", demo_db]
    unknown = runner.invoke(app, args)
    assert unknown.exit_code == 1 and "unknown deal 'nope'" in unknown.output
    assert not out.exists()


def test_backup_then_restore_then_the_statement_reads_the_same(
    env: None, demo_db: str, tmp_path: Path
) -> None:
    backup = tmp_path / "all.jsonl"
    done = runner.invoke(app, ["export", "--all", "--format", "jsonl", "--out", str(backup),
                               "--db", demo_db])  # fmt: skip
    assert done.exit_code == 0, done.output
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    restored = runner.invoke(app, ["restore", str(backup), "--db", fresh])
    assert restored.exit_code == 0, restored.output
    assert "entries" in restored.output
    again = runner.invoke(app, ["restore", str(backup), "--db", fresh])
    assert again.exit_code == 1 and "not empty" in again.output
    show = ["statement", "--deal", "acme-linkstar-us", "--period", "2026-11", "--db"]
    assert runner.invoke(app, [*show, fresh]).output == runner.invoke(app, [*show, demo_db]).output


def test_dashboard_link_prints_a_link_and_refuses_bad_input(env: None, demo_db: str) -> None:
    ok = runner.invoke(app, ["dashboard-link", "--deal", "acme-linkstar-us", "--side", "agency",
                             "--days", "2", "--db", demo_db])  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith("https://kpi.example.com/d/")
    bad_side = runner.invoke(app, ["dashboard-link", "--deal", "acme-linkstar-us", "--side", "x"])
    assert bad_side.exit_code == 2 and "seller, agency or shared" in bad_side.output
    unknown = runner.invoke(app, ["dashboard-link", "--deal", "nope", "--db", demo_db])
    assert unknown.exit_code == 1 and "unknown deal" in unknown.output


def test_web_and_dashboard_link_without_a_secret_key_say_what_to_set(
    env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SECRET_KEY")
    for args in (["web"], ["dashboard-link", "--deal", "acme-linkstar-us"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and "SECRET_KEY" in result.output


@pytest.mark.parametrize("args", [["web"], ["dashboard-link"], ["export"], ["restore"]])
def test_the_new_commands_have_help(args: list[str]) -> None:
    result = runner.invoke(app, [*args, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def test_the_daily_sheet_of_a_closed_period_says_what_counted_at_the_close(
    env: None, tmp_path: Path
) -> None:
    """A figure recorded after the close: the daily sheet's current figure is the new one, and
    its counted-at-close column the one the statement used, so the sheet reconciles."""
    import json

    url = f"sqlite:///{tmp_path / 'k.db'}"
    seller = {"chat": "telegram:-1001234", "user": "telegram:5001", "name": "Lily"}
    admin = {"chat": "slack:C0AGENCY", "user": "slack:U0AGENCY2", "name": "Ada"}
    lines = [
        {"at": "2026-11-30T21:00:00-08:00", **seller, "text": "/report gmv 1800", "id": "1"},
        {"at": "2026-12-01T09:00:00-08:00", **seller, "id": "2",
         "text": "/statement confirm 2026-11 anyway"},
        {"at": "2026-12-01T09:01:00-08:00", **admin, "id": "3",
         "text": "/statement confirm 2026-11 anyway"},
        {"at": "2026-12-01T09:02:00-08:00", **seller, "id": "4",
         "text": "/report gmv 2500 2026-11-30"},
    ]  # fmt: skip
    texts, _ = demo_files()
    deal = [t for t in texts if "acme" in t[0]]
    asyncio.run(run_replay(deal, parse_script(json.dumps(x) for x in lines), db_url=url))
    out = tmp_path / "nov.xlsx"
    args = ["export", "--deal", "acme-linkstar-us", "--period", "2026-11", "--db", url]
    result = runner.invoke(app, [*args, "--format", "xlsx", "--out", str(out)])
    assert result.exit_code == 0, result.output
    book = load_workbook(out)
    daily = list(book["daily"].iter_rows(values_only=True))
    assert daily[0][-1] == "counted_at_close"
    gmv = next(r for r in daily[1:] if r[:2] == ("2026-11-30", "gmv"))
    assert (gmv[4], gmv[-1]) == ("2500", "1800")  # counts now / counted in the statement
