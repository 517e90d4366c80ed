"""Reading Seller Center exports: kinds, header variants, formats, and whole-file refusals."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import zipfile
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from handlers.imports import render_refusal
from kpi.platform.parse import ExportTerms, ParsedExport, load_export
from kpi.platform.problems import ImportRefused
from kpi.platform.read import Limits
from kpi.platform.values import CellError, parse_duration, parse_money, parse_time
from tests.platform_files import INCOME, LIVE, ORDERS, TERMS, csv_rows, to_csv, to_xlsx


def day_totals(parsed: ParsedExport, figure: str) -> dict[dt.date, Decimal]:
    totals: dict[dt.date, Decimal] = defaultdict(Decimal)
    for record in parsed.records:
        totals[record.day] += record.values.get(figure, Decimal(0))
    return dict(totals)


def refusal(data: bytes, name: str = "f.csv", terms: ExportTerms = TERMS) -> list[str]:
    with pytest.raises(ImportRefused) as caught:
        load_export(data, name, terms)
    return render_refusal(caught.value, "en")


def test_the_live_sample_is_13_sessions_summed_per_launch_day() -> None:
    parsed = load_export(LIVE.read_bytes(), LIVE.name, TERMS)
    assert parsed.kind == "live"
    assert len(parsed.records) == 13
    assert parsed.days[0] == dt.date(2026, 11, 2) and parsed.days[-1] == dt.date(2026, 11, 8)
    gmv = day_totals(parsed, "live_gmv")
    assert gmv[dt.date(2026, 11, 2)] == Decimal("5368.94") + Decimal("6306.28")
    assert len(gmv) == 7
    first = parsed.records[0]
    assert first.key == "7301@2026-11-02T10:05"
    assert first.detail["duration"] == str(2 * 3600 + 8 * 60)
    assert first.at == dt.datetime(2026, 11, 2, 18, 5, tzinfo=dt.UTC)  # 10:05 in Los Angeles


def test_the_orders_sample_skips_its_description_row_and_does_not_count_cancelled_orders() -> None:
    parsed = load_export(ORDERS.read_bytes(), ORDERS.name, TERMS)
    assert parsed.kind == "orders"
    assert len(parsed.records) == 40
    cancelled = [r for r in parsed.records if r.detail["status"] == "Cancelled"]
    assert len(cancelled) == 7
    assert all(r.values["orders"] == 0 and r.values["paid_amount"] == 0 for r in cancelled)
    total_paid = sum(r.values["paid_amount"] for r in parsed.records)
    assert sum(day_totals(parsed, "orders").values()) == 33
    assert total_paid == sum(
        r.values["order_amount"] for r in parsed.records if r.detail["status"] != "Cancelled"
    )
    assert day_totals(parsed, "refunds")[dt.date(2026, 11, 8)] == Decimal("132.30")


def test_the_income_sample_places_utc_times_on_the_deals_business_day() -> None:
    parsed = load_export(INCOME.read_bytes(), INCOME.name, TERMS)
    assert parsed.kind == "income"
    assert len(parsed.records) == 25
    first = parsed.records[0]
    # 2026-11-02 10:00 UTC is 02:00 in Los Angeles, the same day; fees stay negative.
    assert first.day == dt.date(2026, 11, 2)
    assert first.values["fees"] == Decimal("-22.23")
    assert first.values["income_refund"] == 0 and not first.values["income_refund"].is_signed()


def test_a_utc_time_before_midnight_in_the_deals_zone_lands_on_the_previous_day() -> None:
    rows = csv_rows(INCOME)
    rows[1][2] = "2026/11/03 05:00:00"  # 2026-11-02 21:00 in Los Angeles
    parsed = load_export(to_csv(rows), "i.csv", TERMS)
    assert parsed.records[0].day == dt.date(2026, 11, 2)


@pytest.mark.parametrize("path", [LIVE, ORDERS, INCOME], ids=lambda p: p.name.split("-")[0])
@pytest.mark.parametrize("numbers", [False, True], ids=["text-cells", "number-cells"])
def test_an_xlsx_of_a_sample_reads_the_same_as_the_csv(path: Path, numbers: bool) -> None:
    from_csv = load_export(path.read_bytes(), path.name, TERMS)
    from_xlsx = load_export(to_xlsx(csv_rows(path), numbers), "x.xlsx", TERMS)
    strip = [dataclasses.replace(r, row=0) for r in from_csv.records]
    assert [dataclasses.replace(r, row=0) for r in from_xlsx.records] == strip


def test_csv_without_bom_and_in_gb18030_with_chinese_headers_reads_the_same() -> None:
    rows = csv_rows(LIVE)
    expected = load_export(LIVE.read_bytes(), "a.csv", TERMS).records
    assert load_export(to_csv(rows), "a.csv", TERMS).records == expected
    chinese = {
        "Creator ID": "达人ID",
        "Launched Time": "开播时间",
        "Duration": "直播时长",
        "LIVE gross merchandise value ($)": "直播成交金额($)",
        "Viewers": "观看人数",
    }
    rows[2] = [chinese.get(h, h) for h in rows[2]]
    rows[3][1] = "家居旗舰店"
    parsed = load_export(to_csv(rows, "gb18030"), "zh.csv", TERMS)
    assert parsed.records[0].detail["creator"] == "家居旗舰店"
    assert [r.values for r in parsed.records] == [r.values for r in expected]


def test_renamed_headers_between_versions_are_the_same_column() -> None:
    rows = csv_rows(INCOME)
    rows[0][0] = "Order/Adjustment ID"
    rows[0][2] = "Order created time (UTC)"
    assert len(load_export(to_csv(rows), "i.csv", TERMS).records) == 25


def test_a_deals_column_map_reads_a_header_no_alias_knows() -> None:
    rows = csv_rows(ORDERS)
    rows[0][16] = "Tổng tiền đơn hàng"
    with pytest.raises(ImportRefused):
        load_export(to_csv(rows), "o.csv", TERMS)
    terms = dataclasses.replace(TERMS, columns={"Tổng tiền đơn hàng": "order_amount"})
    assert len(load_export(to_csv(rows), "o.csv", terms).records) == 40


def test_a_currency_in_the_header_other_than_the_deals_refuses_the_file() -> None:
    rows = csv_rows(LIVE)
    rows[2] = [h.replace("($)", "(RM)") for h in rows[2]]
    lines = refusal(to_csv(rows), "live.csv")
    assert "live.csv:3: LIVE gross merchandise value (RM): the currency is RM" in lines[1]
    myr = dataclasses.replace(TERMS, currency="MYR")
    assert len(load_export(to_csv(rows), "live.csv", myr).records) == 13


def test_a_row_in_another_currency_refuses_the_file() -> None:
    rows = csv_rows(ORDERS)
    rows[5][-1] = "CNY"
    assert "o.csv:6: Currency: the currency is CNY, but this deal is in USD" in "\n".join(
        refusal(to_csv(rows), "o.csv")
    )


def test_every_bad_cell_is_named_by_file_row_and_column() -> None:
    rows = csv_rows(LIVE)
    rows[3][5] = "lots"
    rows[5][3] = "2026/13/40 10:00"
    rows[6][4] = "forever"
    lines = refusal(to_csv(rows), "live.csv")
    assert lines[0].startswith("live.csv was not imported (3 problem(s)); nothing was stored.")
    assert lines[1] == (
        "live.csv:4: LIVE gross merchandise value ($): “lots” is not an amount. "
        "Write it like 5,368.94 or -3.00."
    )
    assert lines[2].startswith("live.csv:6: Launched Time: “2026/13/40 10:00” is not a real")
    assert lines[3].startswith("live.csv:7: Duration: “forever” is not a duration.")


def test_a_missing_required_column_is_named() -> None:
    rows = [[c for i, c in enumerate(r) if i != 16] for r in csv_rows(ORDERS)]
    lines = refusal(to_csv(rows), "o.csv")
    assert lines[1].startswith("o.csv:1: Order Amount: required column missing for a orders")


def test_a_row_before_the_deal_starts_refuses_the_file() -> None:
    late = dataclasses.replace(TERMS, starts=dt.date(2026, 11, 3))
    lines = refusal(LIVE.read_bytes(), "live.csv", late)
    assert lines[0].startswith("live.csv was not imported (2 problem(s))")
    assert "live.csv:4: 2026-11-02 is before this deal starts on 2026-11-03." in lines[1]


def test_files_that_are_no_export_are_refused_with_what_to_send() -> None:
    assert "not a known TikTok Shop export" in refusal(b"name,age\nann,3\n")[1]
    assert "empty" in refusal(b"  \n")[1]
    assert "neither CSV text" in refusal(b"\x00\x01\x02\xff\xfe\x00")[1]
    assert "cannot be read" in refusal(b"PK\x03\x04 this is no zip", "x.xlsx")[1]
    assert "headers but no rows" in refusal(LIVE.read_bytes().split(b"\r\n7301")[0])[1]


def test_a_file_over_the_size_limit_is_refused_before_it_is_read() -> None:
    with pytest.raises(ImportRefused) as caught:
        load_export(LIVE.read_bytes(), "live.csv", TERMS, limits=Limits(max_bytes=100))
    assert caught.value.problems[0].code == "platform.too_large"


def test_an_xlsx_that_expands_too_far_or_has_too_many_cells_is_refused() -> None:
    data = to_xlsx(csv_rows(ORDERS))
    with pytest.raises(ImportRefused) as caught:
        load_export(data, "o.xlsx", TERMS, limits=Limits(max_expanded=10_000))
    assert caught.value.problems[0].code == "platform.xlsx_expands"
    with pytest.raises(ImportRefused) as caught:
        load_export(data, "o.xlsx", TERMS, limits=Limits(max_cells=500))
    assert caught.value.problems[0].code == "platform.xlsx_cells"


def test_a_zip_that_is_no_workbook_is_refused() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("hello.txt", "hi")
    assert "cannot be read" in refusal(out.getvalue(), "x.xlsx")[1]


def test_an_order_listed_once_per_sku_counts_once_with_its_units_added() -> None:
    rows = csv_rows(ORDERS)
    again = list(rows[2])
    again[4], again[7] = "1729000000000000999", "5"
    rows.insert(3, again)
    parsed = load_export(to_csv(rows), "o.csv", TERMS)
    assert len(parsed.records) == 40
    order = parsed.records[0]
    assert order.values["quantity"] == 7 and order.values["paid_amount"] == Decimal("125.17")


def test_a_spreadsheet_rounded_id_is_refused_with_the_fix() -> None:
    rows = csv_rows(ORDERS)
    rows[2][0] = "5.76E+17"
    assert "rounded to a number" in "\n".join(refusal(to_csv(rows)))


def test_problem_lines_read_in_chinese() -> None:
    rows = csv_rows(LIVE)
    rows[3][5] = "很多"
    with pytest.raises(ImportRefused) as caught:
        load_export(to_csv(rows), "live.csv", TERMS)
    lines = render_refusal(caught.value, "zh")
    assert lines[0].startswith("live.csv 未导入（1 处问题），没有保存任何数据。")
    assert lines[1] == (
        "live.csv 第 4 行，“LIVE gross merchandise value ($)”列："
        "“很多”不是有效金额。应为 5,368.94 或 -3.00 这样的数字。"
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("2h 8min", 7680), ("45min", 2700), ("104s", 104), ("2小时8分钟", 7680), ("2:08:00", 7680)],
)
def test_durations_in_the_forms_exports_write(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "value"),
    [("5,368.94", "5368.94"), ("-3.00", "-3.00"), ("(3.00)", "-3.00"), ("$12.50", "12.50"),
     ("RM 1,200", "1200"), ("-0.00", "0.00")],
)  # fmt: skip
def test_amounts_in_the_forms_exports_write(text: str, value: str) -> None:
    assert parse_money(text) == Decimal(value)
    assert str(parse_money(text)) == value


@pytest.mark.parametrize("text", ["=1+1", "1.23456", "NaN", "Infinity", "12 apples", ""])
def test_amounts_that_are_no_amounts_are_refused(text: str) -> None:
    with pytest.raises(CellError):
        parse_money(text)


def test_times_in_the_forms_exports_write() -> None:
    expected = dt.datetime(2026, 11, 6, 14, 9, 44)  # noqa: DTZ001
    assert parse_time("11/06/2026 02:09:44 PM") == expected
    assert parse_time("2026/11/06 14:09:44") == expected
    assert parse_time("2026-11-06 14:09:44") == expected
    assert parse_time("12/01/2026 12:05 AM") == dt.datetime(2026, 12, 1, 0, 5)  # noqa: DTZ001
    with pytest.raises(CellError):
        parse_time("11/06/2026 14:09:44 PM")


def test_a_problem_names_the_column_as_the_file_writes_it() -> None:
    rows = csv_rows(LIVE)
    rows[2] = [{"Duration": "直播时长"}.get(h, h) for h in rows[2]]
    rows[3][4] = "很久"
    lines = refusal(to_csv(rows, "gb18030"), "zh.csv")
    assert lines[1].startswith("zh.csv:4: 直播时长: “很久” is not a duration.")


def test_an_xlsx_openpyxl_refuses_is_read_by_calamine(monkeypatch: pytest.MonkeyPatch) -> None:
    from kpi.platform import read

    monkeypatch.setattr(read, "_openpyxl_rows", lambda data: None)  # as if openpyxl refused it
    parsed = load_export(to_xlsx(csv_rows(LIVE), numbers=True), "x.xlsx", TERMS)
    expected = load_export(LIVE.read_bytes(), "x.csv", TERMS)
    assert [r.values for r in parsed.records] == [r.values for r in expected.records]
    assert [r.key for r in parsed.records] == [r.key for r in expected.records]


def test_a_bom_followed_by_bytes_that_are_no_utf8_is_refused_not_a_crash() -> None:
    data = LIVE.read_bytes().replace(b"acme_live_lily", b"acme_live_\xff\xfe", 1)
    assert "neither CSV text" in refusal(data)[1]
