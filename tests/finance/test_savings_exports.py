"""The savings exports, opened and read back: CSV parsed, XLSX read with openpyxl, PDF text extracted.

Each must carry the page's figures. The lots (2025, Beijing time): alice's
agency's construction lot in January (control 1,000,000.00, award
950,000.00) and medical lot in April (3,000,000.00, 2,700,000.00); agnes's
agency's government lot in March (800,000.00, 799,999.99). Total: control
4,800,000.00, award 4,449,999.99, savings 350,000.01, rate 7.29%.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import subprocess
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from openpyxl import load_workbook

pytestmark = pytest.mark.django_db

SH = ZoneInfo("Asia/Shanghai")
D = Decimal
QUERY = "period=year&year=2025&by=category"


@pytest.fixture
def awards(savings_award):
    return [
        savings_award(at=dt.datetime(2025, 1, 15, 10, tzinfo=SH), control="1000000.00", award="950000.00",
                      name="一月工程标段"),
        savings_award(at=dt.datetime(2025, 3, 20, 10, tzinfo=SH), control="800000.00", award="799999.99",
                      agent="agnes", category="government", name="三月采购标段"),
        savings_award(at=dt.datetime(2025, 4, 1, 9, tzinfo=SH), control="3000000.00", award="2700000.00",
                      category="medical", name="四月医疗标段"),
    ]


def _download(people, person: str, url: str) -> bytes:
    client = Client()
    client.force_login(people[person])
    response = client.get(url)
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Disposition"].startswith("attachment;")
    return response.content


def _sections(content: bytes) -> dict[str, list[list[str]]]:
    """The CSV's tables by title: the rows after each title line (header first)."""
    assert content.startswith(b"\xef\xbb\xbf"), "UTF-8 with a byte-order mark, for Excel"
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    sections: dict[str, list[list[str]]] = {}
    current: list[list[str]] | None = None
    for index, row in enumerate(rows):
        if not row:
            current = None
        elif current is None and index > 0 and len(row) == 1 and rows[index - 1] == []:
            current = sections.setdefault(row[0], [])
        elif current is not None:
            current.append(row)
    return sections


def test_the_csv_carries_the_pages_figures(awards, people):
    content = _download(people, "fay", f"/finance/savings/export.csv?{QUERY}")
    sections = _sections(content)
    header, *rows = sections["节约资金统计（按交易类别）"]
    assert header == ["分组", "标段数", "招标控制价（元）", "中标价（元）", "节约资金（元）", "节约率（%）"]
    assert rows == [
        ["工程建设", "1", "1000000.00", "950000.00", "50000.00", "5.00"],
        ["政府采购", "1", "800000.00", "799999.99", "0.01", "0.00"],
        ["药品和医用耗材采购", "1", "3000000.00", "2700000.00", "300000.00", "10.00"],
        ["合计", "3", "4800000.00", "4449999.99", "350000.01", "7.29"],
    ]
    months = sections["各月节约资金"]
    assert len(months) == 13 and months[4] == ["2025年4月", "1", "3000000.00", "2700000.00", "300000.00", "10.00"]
    assert months[6] == ["2025年6月", "0", "0.00", "0.00", "0.00", ""]
    assert [row[0] for row in sections["各交易类别节约率"][1:]] == ["工程建设", "政府采购", "药品和医用耗材采购"]
    meta = dict(row for row in csv.reader(io.StringIO(content.decode("utf-8-sig"))) if len(row) == 2)
    assert meta["统计期间"] == "2025年（2025-01-01 — 2025-12-31）" and meta["统计范围"] == "全部代理机构"
    assert "节约资金 = 招标控制价 － 中标价" in meta["统计口径"]


def test_the_xlsx_holds_numbers_with_two_decimals_not_text(awards, people):
    workbook = load_workbook(io.BytesIO(_download(people, "fay", f"/finance/savings/export.xlsx?{QUERY}")))
    assert workbook.sheetnames == ["节约率报表", "各月节约资金", "各交易类别节约率"]
    sheet = workbook["节约率报表"]
    rows = [row for row in sheet.iter_rows() if row[0].value in ("工程建设", "政府采购", "药品和医用耗材采购", "合计")]
    assert [cell.value for cell in rows[0]][:2] == ["工程建设", 1]
    total = rows[-1]
    assert total[0].value == "合计" and total[1].value == 3
    for cell, expected in zip(total[2:], ("4800000.00", "4449999.99", "350000.01", "7.29"), strict=True):
        assert isinstance(cell.value, int | float), f"{cell.coordinate} is {type(cell.value)}"
        assert D(str(cell.value)).quantize(D("0.01")) == D(expected)
    assert [cell.number_format for cell in total[2:]] == ["#,##0.00", "#,##0.00", "#,##0.00", "0.00"]
    assert total[1].number_format == "0"
    months = workbook["各月节约资金"]
    april = next(row for row in months.iter_rows() if row[0].value == "2025年4月")
    assert [cell.value for cell in april[1:5]] == [1, 3000000, 2700000, 300000]
    june = next(row for row in months.iter_rows() if row[0].value == "2025年6月")
    assert june[5].value is None, "no rate for a month without lots"


def test_the_pdf_shows_the_figures_in_chinese_with_the_font_embedded(awards, people, tmp_path):
    path = tmp_path / "report.pdf"
    path.write_bytes(_download(people, "fay", f"/finance/savings/export.pdf?{QUERY}"))
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, text=True).stdout
    for expected in ("节约资金统计报表", "2025年", "全部代理机构", "工程建设", "政府采购", "药品和医用耗材采购",
                     "4,800,000.00", "4,449,999.99", "350,000.01", "7.29%", "各月节约资金", "各交易类别节约率",
                     "2025年4月", "10.00%", "合计", "节约资金 = 招标控制价 － 中标价"):
        assert expected in text, expected
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, check=True, text=True).stdout
    cjk = [line for line in fonts.splitlines() if "SunbidCJK" in line or "WenQuanYi" in line]
    assert cjk and all(" yes " in line for line in cjk), fonts


def test_the_lot_exports_list_every_lot_and_add_up_to_the_figure(awards, people):
    sections = _sections(_download(people, "fay", "/finance/savings/lots/export.csv?period=year&year=2025&by=month"))
    header, *rows = sections["节约资金明细（全部）"]
    assert header[:2] == ["项目编号", "标段"] and header[-4:] == [
        "招标控制价（元）", "中标价（元）", "节约资金（元）", "节约率（%）"
    ]
    lots, total = rows[:-1], rows[-1]
    assert [row[1] for row in lots] == ["第1标段 一月工程标段", "第1标段 三月采购标段", "第1标段 四月医疗标段"]
    assert [row[7] for row in lots] == ["2025-01-15 10:00", "2025-03-20 10:00", "2025-04-01 09:00"]
    assert sum(D(row[10]) for row in lots) == D(total[10]) == D("350000.01")
    assert total[0] == "合计（3 个标段）" and total[-1] == "7.29"

    workbook = load_workbook(io.BytesIO(_download(
        people, "alice", "/finance/savings/lots/export.xlsx?period=year&year=2025&by=category&key=construction"
    )))
    sheet = workbook["节约资金明细"]
    names = [row[1].value for row in sheet.iter_rows() if row[0].value and str(row[0].value).startswith("SAVINGS-")]
    assert names == ["第1标段 一月工程标段"]
    total = next(row for row in sheet.iter_rows() if str(row[0].value).startswith("合计"))
    assert [total[index].value for index in (8, 9, 10)] == [1000000, 950000, 50000]


def test_an_agents_exports_hold_only_their_agencys_lots(awards, people):
    sections = _sections(_download(people, "agnes", f"/finance/savings/export.csv?{QUERY}"))
    assert sections["节约资金统计（按交易类别）"][1:] == [
        ["政府采购", "1", "800000.00", "799999.99", "0.01", "0.00"],
        ["合计", "1", "800000.00", "799999.99", "0.01", "0.00"],
    ]
    lots = _sections(_download(people, "agnes", "/finance/savings/lots/export.csv?period=year&year=2025&by=month"))
    assert [row[1] for row in lots["节约资金明细（全部）"][1:-1]] == ["第1标段 三月采购标段"]
