"""A Chinese deal's export and import speak Chinese; an English deal's stay as they were.

Export: the XLSX and CSV files carry Chinese sheet names, headings, the deal's metric labels,
卖家/服务商 and 是/否, while JSON lines keep the English keys and codes. Import: what /import
answers (counts, problems, the CSV reader's findings) reads as Chinese.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from bot.app import Core, build_core
from bot.core import Attachment, Command, Outgoing, VirtualClock
from bot.core.i18n import catalog, translator
from bot.settings import Settings
from handlers.export import period_sheets
from handlers.imports import render_refusal, render_result
from handlers.statement import CSV_HEADER
from kpi.export import (
    DAILY_HEADER,
    LEDGER_HEADER,
    VERDICT_HEADER,
    Sheet,
    jsonl_lines,
    write_csv,
    xlsx_bytes,
)
from kpi.periods import period_containing
from kpi.platform import read
from kpi.platform.problems import ImportRefused, Problem
from kpi.platform.store import ImportResult
from tests.platform_files import LIVE, ORDERS, csv_rows, to_csv

DEMO = Path(__file__).resolve().parents[1] / "bot" / "demo"
SHANGHAI, LA = ZoneInfo("Asia/Shanghai"), ZoneInfo("America/Los_Angeles")
ZH_CHAT, WANG, LIN = "telegram:-1003344556677", "telegram:710200301", "telegram:583920114"
EN_CHAT, LILY, KEN = "telegram:-1001234", "telegram:5002", "slack:U0AGENCY1"
EN_AGENCY_CHAT = "slack:C0AGENCY"
HOSTILE = '=HYPERLINK("http://x")'

ZH_SHEETS = ["数据记录", "确认与异议", "每日双方数据", "结算单"]
ZH_LEDGER = ("记录编号", "日期", "指标", "数值", "所属方", "用户ID", "姓名", "群聊", "消息编号",
             "记录时间（UTC）", "更正的记录编号", "当前有效")  # fmt: skip
ZH_VERDICTS = ("确认/异议编号", "日期", "指标", "类型", "所属方", "用户ID", "姓名", "记录编号",
               "理由", "群聊", "消息编号", "记录时间（UTC）")  # fmt: skip
ZH_DAILY = ("日期", "指标", "卖家数据", "服务商数据", "计入数值", "计入方", "状态", "数据分歧",
            "确认方", "有异议", "锁定时计入")  # fmt: skip
ZH_STATEMENT = ("考核期", "口径", "类型", "说明", "金额", "币种")


@pytest.fixture
async def core(sqlite_url: str) -> AsyncIterator[Core]:
    settings = Settings(database_url=sqlite_url, _env_file=None)  # type: ignore[call-arg]
    core = await build_core(settings, clock=VirtualClock(dt.datetime(2026, 11, 3, tzinfo=dt.UTC)))
    for name in ("acme-linkstar-us.yaml", "shenzhen-wanxiang-cn.yaml"):
        await core.apply_deal_file(DEMO / name)
    yield core
    await core.aclose()


async def say(
    core: Core, chat: str, user: str, text: str, at: dt.datetime, *files: Attachment
) -> list[Outgoing]:
    assert isinstance(core.clock, VirtualClock)
    core.clock.set(at)
    key = f"{text}@{at.isoformat()}"
    cmd = Command(chat=chat, user=user, text=text, at=at, message_id=key, files=files)
    return await core.handle(cmd)


def rows_of(book_bytes: bytes) -> dict[str, list[tuple[object, ...]]]:
    book = load_workbook(io.BytesIO(book_bytes))
    return {ws.title: list(ws.iter_rows(values_only=True)) for ws in book.worksheets}


async def zh_figures(core: Core) -> None:
    """王总 reports two days, 林晓 reports one figure apart, confirms one, disputes one."""
    day2 = dt.datetime(2026, 11, 2, 22, tzinfo=SHANGHAI)
    await say(core, ZH_CHAT, WANG, "/report 成交额 12000.5 订单数 340 退款 800", day2)
    await say(core, ZH_CHAT, LIN, "/report 成交额 11000 订单数 340", day2)
    await say(core, ZH_CHAT, LIN, "/confirm 退款金额 2026-11-02", day2)
    await say(core, ZH_CHAT, LIN, f"/dispute 成交额 2026-11-02 {HOSTILE}", day2)


# ------------------------------------------------------------------------------ export


async def test_export_of_a_chinese_deal_has_chinese_sheets_headings_labels_and_sides(
    core: Core,
) -> None:
    await zh_figures(core)
    morning = dt.datetime(2026, 11, 3, 9, tzinfo=SHANGHAI)
    [reply] = await say(core, ZH_CHAT, WANG, "/export", morning)
    assert reply.text.startswith("深圳万象家居 × 联星出海 周度代运营 2026年第45周：数据记录")
    sheets = rows_of(reply.files[0].content)
    assert list(sheets) == ZH_SHEETS
    ledger, verdicts, daily, statement = sheets.values()
    assert (ledger[0], verdicts[0], daily[0], statement[0]) == (
        ZH_LEDGER, ZH_VERDICTS, ZH_DAILY, ZH_STATEMENT,
    )  # fmt: skip
    assert {(r[2], r[3], r[4], r[11]) for r in ledger[1:]} == {
        ("成交额", "12000.5", "卖家", "是"),  # exact, as typed: never a float
        ("订单数", "340", "卖家", "是"),
        ("退款金额", "800", "卖家", "是"),
        ("成交额", "11000", "服务商", "是"),
        ("订单数", "340", "服务商", "是"),
    }
    assert [(r[2], r[3], r[4], r[8]) for r in verdicts[1:]] == [
        ("退款金额", "确认", "服务商", None),
        ("成交额", "异议", "服务商", "'" + HOSTILE),  # typed text never runs as a formula
    ]
    by_metric = {r[1]: r for r in daily[1:]}
    assert by_metric["成交额"] == ("2026-11-02", "成交额", "12000.5", "11000", None, None,
                                   "待定", "是", None, "是", None)  # fmt: skip
    assert by_metric["退款金额"][5:] == ("卖家", "已计入", "否", "服务商", "否", None)
    assert {r[1] for r in statement[1:]} == {"截至目前", "期末预测"}
    assert ("2026-W45", "截至目前", "基础服务费", "基础服务费", "5000.00", "CNY") in statement
    assert {r[2] for r in statement[1:]} >= {"基础服务费", "提成", "合计"}


async def test_jsonl_of_a_chinese_deal_keeps_english_keys_and_codes_csv_is_chinese(
    core: Core, tmp_path: Path
) -> None:
    await zh_figures(core)
    sheets = await zh_sheets(core, "zh")
    records = [json.loads(line) for line in jsonl_lines(sheets)]
    assert {r["sheet"] for r in records} == {"ledger", "verdicts", "daily", "statement"}
    first = records[0]
    assert list(first) == ["sheet", *LEDGER_HEADER]
    assert (first["metric"], first["side"], first["current"]) == ("gmv", "seller", "yes")
    dispute = next(r for r in records if r["sheet"] == "verdicts" and r["kind"] == "dispute")
    assert (dispute["metric"], dispute["side"], dispute["reason"]) == ("gmv", "agency", HOSTILE)
    statement = [r for r in records if r["sheet"] == "statement"]
    assert {r["view"] for r in statement} == {"to_date", "projected"}
    assert "total" in {r["kind"] for r in statement}

    paths = write_csv(sheets, tmp_path / "w.csv")
    assert [p.name for p in paths] == [f"w-{name}.csv" for name in ZH_SHEETS]
    with paths[2].open(encoding="utf-8-sig", newline="") as handle:
        daily = list(csv.reader(handle))
    assert tuple(daily[0]) == ZH_DAILY
    assert ["2026-11-02", "成交额", "12000.5", "11000", "", "", "待定", "是", "", "是", ""] in daily
    with paths[1].open(encoding="utf-8-sig", newline="") as handle:
        assert "'" + HOSTILE in [row[8] for row in csv.reader(handle)]


async def zh_sheets(core: Core, locale: str) -> list[Sheet]:
    current = await core.ledger.current_deal("shenzhen-wanxiang-cn")
    assert current is not None
    deal = current[0]
    today = dt.date(2026, 11, 3)
    period = period_containing(deal.starts, deal.period, today)
    tr = translator(locale)
    return await period_sheets(core.ledger, core.services.statements, deal, today, period, tr)


async def test_a_chinese_deal_exported_in_english_keeps_the_codes(core: Core) -> None:
    # The dashboard's ?lang=en: the statement's descriptions and the sheets both in English.
    await zh_figures(core)
    sheets = await zh_sheets(core, "en")
    assert all(s.shown is None for s in sheets)
    assert list(rows_of(xlsx_bytes(sheets))) == ["ledger", "verdicts", "daily", "statement"]


async def test_export_of_an_english_deal_is_unchanged(core: Core) -> None:
    day2 = dt.datetime(2026, 11, 2, 22, tzinfo=LA)
    await say(core, EN_CHAT, LILY, "/report gmv 2100 orders 52", day2)
    await say(core, EN_AGENCY_CHAT, KEN, "/report gmv 2000 orders 50", day2)
    [reply] = await say(core, EN_CHAT, LILY, "/export", dt.datetime(2026, 11, 3, 9, tzinfo=LA))
    sheets = rows_of(reply.files[0].content)
    assert list(sheets) == ["ledger", "verdicts", "daily", "statement"]
    ledger, verdicts, daily, statement = sheets.values()
    assert (ledger[0], verdicts[0], daily[0], statement[0]) == (
        LEDGER_HEADER, VERDICT_HEADER, DAILY_HEADER, CSV_HEADER,
    )  # fmt: skip
    assert {(r[2], r[4], r[11]) for r in ledger[1:]} == {
        ("gmv", "seller", "yes"), ("orders", "seller", "yes"),
        ("gmv", "agency", "yes"), ("orders", "agency", "yes"),
    }  # fmt: skip
    gmv = next(r for r in daily[1:] if r[1] == "gmv")
    assert gmv[2:] == ("2100", "2000", "2100", "seller", "counted", "yes", None, "no", None)
    assert {r[2] for r in statement[1:]} >= {"base", "total"}


def test_a_sheet_shown_with_the_wrong_number_of_headings_is_refused() -> None:
    from kpi.export import Shown

    with pytest.raises(ValueError, match="headings"):
        Sheet("ledger", ("a", "b"), [], Shown("x", ("甲",)))


# ------------------------------------------------------------------------------ import


def cny(path: Path) -> bytes:
    """A sample export of the Shenzhen deal's shop: yuan, not dollars."""
    rows = [[c.replace("($)", "(¥)").replace("USD", "CNY") for c in row] for row in csv_rows(path)]
    return to_csv(rows)


async def test_import_answers_a_chinese_deal_in_chinese(core: Core) -> None:
    at = dt.datetime(2026, 11, 9, 10, tzinfo=SHANGHAI)

    async def send(text: str, name: str, data: bytes) -> str:
        [reply] = await say(core, ZH_CHAT, WANG, text, at, Attachment(name, data, "text/csv"))
        return reply.text

    live = cny(LIVE)
    assert await send("/import", "live.csv", live) == (
        "📥 已导入直播数据：13 场直播，2026-11-02 至 2026-11-08；更新了 7 天，0 行此前已导入。"
    )
    assert (await send("/import live", "live.csv", live)).endswith("更新了 0 天，13 行此前已导入。")
    assert (await send("/import orders", "live.csv", live)).splitlines()[1] == (
        "live.csv：这是直播导出文件，不是订单导出文件。请不指定类型重新导入，或发送订单导出文件。"
    )
    rows = csv_rows(ORDERS)
    rows[0] = [{"Currency": "币种", "Order Amount": "订单金额"}.get(c, c) for c in rows[0]]
    rows[4][16] = "12,x"
    lines = (await send("/import", "订单.csv", to_csv(rows))).splitlines()
    assert lines[0].startswith("订单.csv 未导入（")
    assert "订单.csv 第 5 行，“订单金额”列：“12,x”不是有效金额。" in "\n".join(lines)
    assert "订单.csv 第 3 行，“币种”列：币种为 USD，但本项目的币种是 CNY。" in "\n".join(lines)
    [sessions] = await say(core, ZH_CHAT, WANG, "/sessions", at)
    assert sessions.text.startswith("直播场次 2026-11-03 至 2026-11-09（共 11 场）：")


def test_a_malformed_csv_is_explained_in_chinese_and_in_the_csv_modules_english() -> None:
    data = to_csv(csv_rows(ORDERS)[:4]) + b'"576000000000009999,Completed\n'
    with pytest.raises(ImportRefused) as caught:
        list(read.read_rows(data, "o.csv"))
    [zh_line] = render_refusal(caught.value, "zh")[1:]
    assert zh_line == (
        "o.csv 第 5 行：CSV 格式有误（有一个带引号的单元格缺少结束引号）。"
        "请重新导出，不要手动编辑。"
    )
    [en_line] = render_refusal(caught.value, "en")[1:]
    assert en_line == (
        "o.csv:5: the CSV is malformed (unexpected end of data). Export the file again without "
        "editing it."
    )


def test_every_csv_reason_has_a_message() -> None:
    assert all(key in catalog() for _, key in read._CSV_REASONS)
    assert "import.csv.other" in catalog()


def test_sizes_and_counts_are_grouped_and_chinese_has_no_english_punctuation() -> None:
    problems = [Problem(0, "", "platform.too_large", {"size": 20_971_521, "limit": 20_971_520})]
    lines = render_refusal(ImportRefused("big.csv", problems * 7, total=1234), "zh", limit=5)
    assert lines[0] == ("big.csv 未导入（1,234 处问题），没有保存任何数据。"
                        "请修正文件，或从卖家中心重新导出后再导入。")  # fmt: skip
    assert lines[1] == (
        "big.csv：文件大小为 20,971,521 字节，上限为 20,971,520 字节。请缩短导出的日期范围。"
    )
    assert lines[-1] == "……另有 1,229 处问题。"
    day = dt.date(2026, 11, 2)
    result = ImportResult(1, "orders", 12_345, 12_000, 345, day, day, (day,))
    assert render_result(result, "zh") == (
        "📥 已导入订单数据：12,345 笔订单，2026-11-02；更新了 1 天，345 行此前已导入。"
    )
    assert render_result(result, "en") == (
        "📥 Stored the orders export: 12,345 orders, 2026-11-02; 1 day(s) updated, "
        "345 row(s) already imported."
    )
    for line in [*lines, render_result(result, "zh")]:
        assert not any(mark in line for mark in (": ", ", ", "; ", "(")), line


def test_english_problem_lines_keep_their_form() -> None:
    refused = ImportRefused(
        "o.csv",
        [Problem(5, "Order Amount", "platform.cell.not_amount", {"value": "12,x"}),
         Problem(0, "", "platform.no_rows")],
    )  # fmt: skip
    assert render_refusal(refused, "en")[1:] == [
        "o.csv:5: Order Amount: “12,x” is not an amount. Write it like 5,368.94 or -3.00.",
        "o.csv: the file has headers but no rows. Export a date range with data.",
    ]
