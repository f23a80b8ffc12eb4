"""CSV and XLSX exports of the savings reports, from the same figures as the page.

Every export is built from a ``SavingsReport`` (or a ``SliceLots``) that the
selectors computed, laid out once as ``Table``s here, so the CSV, the XLSX,
the PDF (``finance.pdf``) and the page cannot disagree:

- CSV: UTF-8 with a byte-order mark (Excel then reads the Chinese text),
  CRLF line ends; amounts as plain decimals with two places (``11800000.00``),
  rates as per cent with two places (``6.13``), no thousands separators;
- XLSX: amounts and rates are numbers, never text, shown with two decimals
  (``#,##0.00`` for yuan, ``0.00`` for per cent); lot counts are integers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _

from finance.periods import REPORT_ZONE
from finance.selectors import Figure, SavingsReport, SliceLots, iter_with_details
from tendering.regions import region_name

Cell = str | int | Decimal | None

AMOUNT_FORMAT = "#,##0.00"
RATE_FORMAT = "0.00"
COUNT_FORMAT = "0"


@dataclass
class Table:
    """A titled table; ``kinds`` says for each column what it holds: "text", "count", "amount" or "rate"."""

    title: str
    header: list[str]
    kinds: list[str]
    rows: Iterable[list[Cell]]
    total: list[Cell] | None = None
    sheet: str = ""


@dataclass
class Document:
    title: str
    meta: list[tuple[str, str]]
    tables: list[Table] = field(default_factory=list)


def definitions() -> str:
    # A fullwidth minus (U+FF0D): the PDF's embedded font has no glyph for the mathematical one (U+2212).
    return _(
        "节约资金 = 招标控制价 － 中标价；节约率 = 节约资金 ÷ 招标控制价（合计行为节约资金合计 ÷ 招标控制价合计）。"
        "按定标日期（北京时间）统计已定标的标段，流标和终止的标段不计入。金额单位：元。"
    )


def _figure_cells(figure: Figure) -> list[Cell]:
    return [figure.lots, figure.control_price, figure.award_price, figure.savings, figure.rate]


def _figure_header(first: str) -> list[str]:
    return [first, _("标段数"), _("招标控制价（元）"), _("中标价（元）"), _("节约资金（元）"), _("节约率（%）")]


_FIGURE_KINDS = ["text", "count", "amount", "amount", "amount", "rate"]


def generated_at() -> str:
    return dt.datetime.now(REPORT_ZONE).strftime("%Y-%m-%d %H:%M")


def report_document(report: SavingsReport) -> Document:
    """The report as the page shows it: the breakdown with its total, then the two charts' series."""
    meta = [
        (_("统计期间"), f"{report.period.label}（{report.period.start.isoformat()} — {report.period.end.isoformat()}）"),
        (_("统计范围"), report.scope.label),
        (_("分组方式"), report.by_label),
        (_("统计口径"), definitions()),
        (_("生成时间"), generated_at()),
    ]
    main = Table(
        title=_("节约资金统计（%(by)s）") % {"by": report.by_label},
        header=_figure_header(_("分组")),
        kinds=_FIGURE_KINDS,
        rows=[[row.label, *_figure_cells(row.figure)] for row in report.rows],
        total=[_("合计"), *_figure_cells(report.total)],
        sheet=_("节约率报表"),
    )
    months = Table(
        title=_("各月节约资金"),
        header=_figure_header(_("月份")),
        kinds=_FIGURE_KINDS,
        rows=[[row.label, *_figure_cells(row.figure)] for row in report.months],
        sheet=_("各月节约资金"),
    )
    categories = Table(
        title=_("各交易类别节约率"),
        header=_figure_header(_("交易类别")),
        kinds=_FIGURE_KINDS,
        rows=[[row.label, *_figure_cells(row.figure)] for row in report.categories],
        sheet=_("各交易类别节约率"),
    )
    return Document(title=_("节约资金统计报表"), meta=meta, tables=[main, months, categories])


def _lot_rows(lots: SliceLots) -> Iterator[list[Cell]]:
    for fact in iter_with_details(lots.facts):
        figure = Figure.of_fact(fact)
        lot = fact.lot
        yield [
            lot.tender.code,
            _("第%(number)s标段 %(name)s") % {"number": lot.number, "name": lot.name},
            fact.tenderer.name,
            fact.agency.name,
            str(fact.get_category_display()),
            region_name(fact.region),
            lot.winner.name if lot.winner else "",
            fact.awarded_at.astimezone(REPORT_ZONE).strftime("%Y-%m-%d %H:%M"),
            figure.control_price,
            figure.award_price,
            figure.savings,
            figure.rate,
        ]


def lots_document(lots: SliceLots) -> Document:
    """Every lot behind a figure, with the figure as the total row: they add up to it to the fen."""
    meta = [
        (_("统计期间"), f"{lots.period.label}（{lots.period.start.isoformat()} — {lots.period.end.isoformat()}）"),
        (_("统计范围"), lots.scope.label),
        (_("统计项"), lots.label),
        (_("统计口径"), definitions()),
        (_("生成时间"), generated_at()),
    ]
    figure = lots.figure
    table = Table(
        title=_("节约资金明细（%(label)s）") % {"label": lots.label},
        header=[
            _("项目编号"),
            _("标段"),
            _("招标人"),
            _("招标代理机构"),
            _("交易类别"),
            _("地区"),
            _("中标人"),
            _("定标时间"),
            _("招标控制价（元）"),
            _("中标价（元）"),
            _("节约资金（元）"),
            _("节约率（%）"),
        ],
        kinds=["text"] * 8 + ["amount", "amount", "amount", "rate"],
        rows=_lot_rows(lots),
        total=[
            _("合计（%(count)s 个标段）") % {"count": figure.lots},
            "", "", "", "", "", "", "",
            figure.control_price,
            figure.award_price,
            figure.savings,
            figure.rate,
        ],
        sheet=_("节约资金明细"),
    )
    return Document(title=_("节约资金明细"), meta=meta, tables=[table])


# --- CSV ------------------------------------------------------------------------------


def _csv_cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:f}"
    return str(value)


def to_csv(document: Document) -> bytes:
    """UTF-8 with BOM: the title, the meta lines, then each table with its title, header and total."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([document.title])
    for label, value in document.meta:
        writer.writerow([label, value])
    for table in document.tables:
        writer.writerow([])
        writer.writerow([table.title])
        writer.writerow(table.header)
        for row in table.rows:
            writer.writerow([_csv_cell(value) for value in row])
        if table.total is not None:
            writer.writerow([_csv_cell(value) for value in table.total])
    return "\ufeff".encode() + buffer.getvalue().encode("utf-8")


# --- XLSX -----------------------------------------------------------------------------


_SHEET_FORBIDDEN = str.maketrans({char: "-" for char in "[]:*?/\\"})


def to_xlsx(document: Document) -> bytes:
    """One sheet per table: title and meta lines on top, then the table; numbers stay numbers.

    Written in openpyxl's write-only mode, row by row, so that a slice of
    many thousands of lots does not sit in memory as cell objects.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=True)
    bold = Font(bold=True)
    heading = PatternFill("solid", fgColor="E8EDF3")
    formats = {"amount": AMOUNT_FORMAT, "rate": RATE_FORMAT, "count": COUNT_FORMAT}
    widths = {"text": 26, "count": 10, "rate": 12, "amount": 20}
    for index, table in enumerate(document.tables):
        sheet = workbook.create_sheet((table.sheet or f"Sheet{index + 1}").translate(_SHEET_FORBIDDEN)[:31])
        for column, kind in enumerate(table.kinds, start=1):
            sheet.column_dimensions[get_column_letter(column)].width = widths[kind]
        header_row = len(document.meta) + 4
        sheet.freeze_panes = f"B{header_row + 1}"

        def styled(
            value: Cell, *, font: Font | None = None, number_format: str | None = None, sheet: Any = sheet
        ) -> WriteOnlyCell:
            cell = WriteOnlyCell(sheet, value=value)
            if font is not None:
                cell.font = font
            if number_format is not None:
                cell.number_format = number_format
            return cell

        sheet.append([styled(document.title, font=Font(bold=True, size=14))])
        for label, value in document.meta:
            sheet.append([styled(label, font=bold), value])
        sheet.append([])
        sheet.append([styled(table.title, font=bold)])
        header = []
        for text in table.header:
            cell = styled(text, font=bold)
            cell.fill = heading
            cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
            header.append(cell)
        sheet.append(header)
        lines: Iterable[tuple[list[Cell], Font | None]] = ((row, None) for row in table.rows)
        if table.total is not None:
            lines = itertools.chain(lines, [(table.total, bold)])
        for row, font in lines:
            sheet.append(
                [
                    styled(value, font=font, number_format=formats.get(kind))
                    for value, kind in zip(row, table.kinds, strict=True)
                ]
            )
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
