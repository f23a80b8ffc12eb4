"""Importing the pool from CSV (UTF-8 with BOM, GB18030) and XLSX: all or nothing, with a per-row report."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation
from openpyxl import Workbook

from accounts.credit_code import make as make_code
from audit.models import AuditEvent
from audit.selectors import chain_verify
from core.errors import NotPermitted
from experts import id_number, pool
from experts.models import Expert, ExpertStatus

pytestmark = pytest.mark.django_db

HEADER = ["专家编号", "姓名", "身份证号码", "手机号", "电子邮箱", "工作单位", "工作单位统一社会信用代码",
          "职称", "所在地区", "专业代码", "状态"]
ID_1 = id_number.make("33010619720315241")
ID_2 = id_number.make("32050819850706162")
ID_3 = id_number.make("34010319680922053")
EMPLOYER = make_code("12330000470001234")


def good_rows() -> list[list[str]]:
    return [
        ["ZJ100001", "沈立群", ID_1, "13857100001", "shen@example.cn", "浙江省建筑设计研究院", EMPLOYER,
         "副高级", "浙江省", "A0101、A0601", "在库"],
        ["ZJ100002", "顾晓燕", ID_2, "13962500002", "", "", "", "正高级", "江苏省", "B0101;B0103", ""],
        ["ZJ100003", "欧阳振华", ID_3.lower(), "15955100003", "", "", "", "中级", "340000", "C0502", "暂停"],
    ]


def csv_bytes(rows: list[list[str]], *, header: list[str] = HEADER, encoding: str = "utf-8-sig") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def upload(content: bytes, name: str = "专家名单.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, "application/octet-stream")


def run(people, content: bytes, name: str = "专家名单.csv") -> pool.ImportReport:
    return pool.experts_import(actor=people["pat"], file=upload(content, name))


def errors_of(report: pool.ImportReport) -> dict[int, list[tuple[str, str]]]:
    return {row.number: [(e.column, e.message) for e in row.errors] for row in report.failed_rows}


def assert_three_imported(report: pool.ImportReport) -> None:
    assert report.imported, (report.file_errors, errors_of(report))
    assert (report.created, report.updated) == (3, 0)
    assert [row.action for row in report.rows] == ["created"] * 3
    experts = {expert.code: expert for expert in Expert.objects.prefetch_related("specialties")}
    assert set(experts) == {"ZJ100001", "ZJ100002", "ZJ100003"}
    assert experts["ZJ100001"].name == "沈立群"
    assert experts["ZJ100001"].employer_credit_code == EMPLOYER
    assert sorted(s.code for s in experts["ZJ100002"].specialties.all()) == ["B0101", "B0103"]
    assert (experts["ZJ100002"].title, experts["ZJ100002"].region) == ("senior_full", "320000")
    assert experts["ZJ100003"].name == "欧阳振华"
    assert experts["ZJ100003"].id_number == ID_3  # lower-case x normalised
    assert experts["ZJ100003"].status == ExpertStatus.SUSPENDED


def test_a_utf8_csv_with_bom_imports_every_row_and_audits_each(people):
    report = run(people, csv_bytes(good_rows()))
    assert_three_imported(report)
    created = AuditEvent.objects.filter(action="experts.expert.created")
    assert created.count() == 3
    assert {event.data["source"] for event in created} == {"import"}
    summary = AuditEvent.objects.get(action="experts.expert.imported")
    assert summary.data["created"] == 3 and summary.data["file_name"] == "专家名单.csv"
    assert summary.actor_name == "pat"
    payloads = "".join(AuditEvent.objects.values_list("payload", flat=True))
    for number in (ID_1, ID_2, ID_3):
        assert number not in payloads
        assert id_number.mask(number) in payloads
    assert chain_verify().ok


def test_a_utf8_csv_without_bom_imports_too(people):
    assert_three_imported(run(people, csv_bytes(good_rows(), encoding="utf-8")))


def test_a_chinese_file_imports_while_the_administrators_page_is_in_english(people):
    with translation.override("en"):
        assert_three_imported(run(people, csv_bytes(good_rows())))


def test_a_gb18030_csv_as_chinese_excel_saves_it_imports(people):
    content = csv_bytes(good_rows(), encoding="gb18030")
    with pytest.raises(UnicodeDecodeError):
        content.decode("utf-8")
    assert_three_imported(run(people, content))


def test_an_xlsx_workbook_imports_with_numbers_typed_as_numbers(people):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    for row in good_rows():
        # Spreadsheets hold a mobile number typed in as a number.
        sheet.append([int(cell) if index == 3 else cell for index, cell in enumerate(row)])
    buffer = io.BytesIO()
    workbook.save(buffer)
    assert_three_imported(run(people, buffer.getvalue(), "专家名单.xlsx"))


def test_one_bad_row_imports_nothing_and_the_report_names_its_row_and_column(people):
    rows = good_rows()
    rows[1][2] = ID_2[:-1] + ("0" if ID_2[-1] != "0" else "1")  # wrong check character, row 3 of the file
    rows[2][3] = "1595510000"  # mobile one digit short, row 4
    report = run(people, csv_bytes(rows))
    assert not report.imported
    assert errors_of(report) == {
        3: [("身份证号码", "身份证号码校验码错误，请核对后重新输入。")],
        4: [("手机号", "手机号应为11位中国大陆手机号码（以1开头，第2位为3至9）。")],
    }
    assert report.rows[0].ok
    assert not Expert.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="experts.").exists()


def test_a_row_with_several_problems_lists_each_column(people):
    rows = good_rows()[:1]
    rows[0][7], rows[0][8], rows[0][9] = "教授", "杭州", "A01、X1"
    report = run(people, csv_bytes(rows))
    columns = [column for column, _message in errors_of(report)[2]]
    assert columns == ["职称", "所在地区", "专业代码", "专业代码"]


def test_duplicates_inside_the_file_are_refused(people):
    rows = good_rows()
    rows[2][2] = ID_1  # the identity number of row 2
    rows[1][0] = "ZJ100001"  # the code of row 2
    report = run(people, csv_bytes(rows))
    assert not report.imported
    assert errors_of(report) == {
        3: [("专家编号", "与第2行的专家编号重复。")],
        4: [("身份证号码", "与第2行的身份证号码重复。")],
    }
    assert not Expert.objects.exists()


def test_an_identity_number_of_another_expert_in_the_pool_is_refused(people):
    run(people, csv_bytes(good_rows()[:1]))
    rows = good_rows()[1:]
    rows[0][2] = ID_1
    report = run(people, csv_bytes(rows))
    assert errors_of(report) == {2: [("身份证号码", "该身份证号码已登记为专家 ZJ100001。")]}
    assert Expert.objects.count() == 1


def test_a_row_with_a_code_in_the_pool_updates_that_expert(people):
    run(people, csv_bytes(good_rows()))
    rows = good_rows()
    rows[0][3] = "13857109999"
    rows[0][4] = ""  # an empty cell clears the e-mail address
    rows[0][10] = "暂停"
    rows[1][10] = ""  # an empty status keeps the status
    report = run(people, csv_bytes(rows[:2]))
    assert report.imported and (report.created, report.updated) == (0, 2)
    first = Expert.objects.get(code="ZJ100001")
    assert (first.mobile, first.email, first.status) == ("13857109999", "", ExpertStatus.SUSPENDED)
    (updated,) = AuditEvent.objects.filter(action="experts.expert.updated")
    assert updated.data["changes"] == {"mobile": "138****9999", "email": "", "status": "suspended"}
    assert Expert.objects.get(code="ZJ100002").status == ExpertStatus.ACTIVE


def test_a_column_absent_from_the_file_keeps_the_stored_value(people):
    run(people, csv_bytes(good_rows()[:1]))
    header = [title for title in HEADER if title not in ("电子邮箱", "状态")]
    row = [cell for title, cell in zip(HEADER, good_rows()[0], strict=True) if title in header]
    row[1] = "沈立"
    report = run(people, csv_bytes([row], header=header))
    assert report.imported
    expert = Expert.objects.get(code="ZJ100001")
    assert (expert.name, expert.email) == ("沈立", "shen@example.cn")


def test_blank_rows_are_skipped_and_rows_keep_their_spreadsheet_numbers(people):
    rows = good_rows()
    rows.insert(1, [""] * len(HEADER))
    rows[2][3] = "123"
    report = run(people, csv_bytes(rows))
    assert [row.number for row in report.rows] == [2, 4, 5]
    assert list(errors_of(report)) == [4]


def test_a_missing_or_unknown_column_refuses_the_file(people):
    header = [title for title in HEADER if title != "身份证号码"]
    report = run(people, csv_bytes([], header=header))
    assert report.file_errors == ["缺少必需的列：身份证号码。"]
    report = run(people, csv_bytes(good_rows(), header=[*HEADER[:-1], "备注"]))
    assert report.file_errors[0].startswith("第1行有未知的列“备注”。")
    assert not report.imported and not Expert.objects.exists()


def test_required_headers_may_carry_a_star(people):
    header = [f"{title}*" for title in HEADER]
    assert_three_imported(run(people, csv_bytes(good_rows(), header=header)))


def test_files_that_cannot_be_read_are_refused_with_a_reason(people):
    assert run(people, b"\xff\xfe\x00\x00\x81", "a.csv").file_errors == [
        "无法识别文件的字符编码，请将文件另存为 UTF-8 或 GB18030（GBK）编码的 CSV 文件。"
    ]
    assert "xls" in run(people, b"\xd0\xcf\x11\xe0", "old.xls").file_errors[0]
    assert run(people, b"PK\x03\x04broken", "book.xlsx").file_errors == [
        "无法读取该 Excel 文件，请确认文件为 .xlsx 格式且未损坏。"
    ]
    assert run(people, csv_bytes([]), "empty.csv").file_errors == ["文件中没有专家数据。"]


def test_only_the_platform_administrator_imports(people):
    for name in ("sam", "alice", "eve"):
        with pytest.raises(NotPermitted):
            pool.experts_import(actor=people[name], file=upload(csv_bytes(good_rows())))
    assert not Expert.objects.exists()


def test_the_sample_file_in_docs_imports_cleanly(people, settings):
    sample = settings.BASE_DIR / "docs" / "samples" / "experts.csv"
    report = run(people, sample.read_bytes(), "experts.csv")
    assert report.imported, (report.file_errors, errors_of(report))
    assert report.created >= 5


def test_the_template_download_is_the_header_row_with_a_bom():
    content = pool.import_template_csv()
    assert content.startswith(b"\xef\xbb\xbf")
    assert content.decode("utf-8-sig").strip().split(",") == HEADER
