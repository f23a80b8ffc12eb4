"""The savings report as a PDF: the page's figures, tables and both charts, the Chinese font embedded.

Laid out with reportlab's platypus; the charts are drawn with reportlab's own
graphics (``reportlab.graphics``), so the PDF needs nothing the platform
does not ship. The font is ``core.pdf``'s (WenQuanYi Zen Hei, subset and
embedded), so every reader shows the Chinese text and ``pdftotext`` reads it
back. Tables come from ``finance.exports.report_document``: the same rows
as the CSV and the XLSX.
"""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from django.utils.translation import gettext as _

from core.pdf import register_cjk_font
from finance.charts import money_unit, nice_scale, savings_by_month
from finance.exports import Cell, Document, Table
from finance.selectors import SavingsReport

BLUE = "#0b4a9c"
GREEN = "#1f7a3a"


def _text(value: Cell, kind: str) -> str:
    if value is None:
        return "—"
    if kind == "amount" and isinstance(value, Decimal):
        return f"{value:,}"
    if kind == "rate" and isinstance(value, Decimal):
        return f"{value}%"
    return str(value)


def _table(table: Table, font: str, width: float) -> Any:
    from reportlab.lib import colors
    from reportlab.platypus import Table as PdfTable
    from reportlab.platypus import TableStyle

    shares = {"text": 2.2, "count": 0.8, "amount": 1.6, "rate": 0.9}
    total_share = sum(shares[kind] for kind in table.kinds)
    widths = [width * shares[kind] / total_share for kind in table.kinds]
    rows = [[_text(value, kind) for value, kind in zip(row, table.kinds, strict=True)] for row in table.rows]
    if table.total is not None:
        rows.append([_text(value, kind) for value, kind in zip(table.total, table.kinds, strict=True)])
    flowable = PdfTable([table.header, *rows], colWidths=widths, repeatRows=1, hAlign="LEFT")
    style = [
        ("FONT", (0, 0), (-1, -1), font, 8, 10),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8edf3")),
        ("BOX", (0, 0), (-1, -1), 0.6, colors.HexColor("#555555")),
        ("INNERGRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#aaaaaa")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ]
    for column, kind in enumerate(table.kinds):
        if kind != "text":
            style.append(("ALIGN", (column, 1), (column, -1), "RIGHT"))
    if table.total is not None:
        style.append(("BACKGROUND", (0, -1), (-1, -1), colors.HexColor("#f4f6f8")))
    flowable.setStyle(TableStyle(style))
    return flowable


def _month_chart(report: SavingsReport, font: str, width: float) -> Any:
    from reportlab.graphics.charts.barcharts import VerticalBarChart
    from reportlab.graphics.shapes import Drawing, String
    from reportlab.lib import colors

    layout = savings_by_month(report.months)
    top, step = nice_scale(max((month.figure.savings for month in report.months), default=Decimal(0)))
    divisor, unit = money_unit(top)
    height = 190
    drawing = Drawing(width, height)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 50, 30, width - 70, height - 60
    chart.data = [[float(month.figure.savings / divisor) for month in report.months] or [0.0]]
    chart.valueAxis.valueMin = 0
    chart.valueAxis.valueMax = float(top / divisor)
    chart.valueAxis.valueStep = float(step / divisor)
    chart.valueAxis.labels.fontName = font
    chart.valueAxis.labels.fontSize = 7
    chart.categoryAxis.categoryNames = [bar.label for bar in layout.bars] or [""]
    chart.categoryAxis.labels.fontName = font
    chart.categoryAxis.labels.fontSize = 7
    chart.bars[0].fillColor = colors.HexColor(BLUE)
    chart.bars[0].strokeColor = None
    drawing.add(chart)
    drawing.add(String(0, height - 12, _("各月节约资金（%(unit)s）") % {"unit": unit}, fontName=font, fontSize=10))
    return drawing


def _category_chart(report: SavingsReport, font: str, width: float) -> Any:
    from reportlab.graphics.charts.barcharts import HorizontalBarChart
    from reportlab.graphics.shapes import Drawing, String
    from reportlab.lib import colors

    categories = list(reversed(report.categories))  # reportlab draws the first category at the bottom
    rates = [category.figure.rate or Decimal("0.00") for category in categories]
    top, step = nice_scale(max(rates, default=Decimal(0)))
    row = 20
    height = 50 + row * max(len(categories), 1)
    drawing = Drawing(width, height)
    chart = HorizontalBarChart()
    chart.x, chart.y, chart.width, chart.height = 120, 20, width - 190, row * max(len(categories), 1)
    chart.data = [[float(rate) for rate in rates] or [0.0]]
    chart.valueAxis.valueMin = 0
    chart.valueAxis.valueMax = float(top)
    chart.valueAxis.valueStep = float(step)
    chart.valueAxis.labels.fontName = font
    chart.valueAxis.labels.fontSize = 7
    chart.categoryAxis.categoryNames = [category.label for category in categories] or [""]
    chart.categoryAxis.labels.fontName = font
    chart.categoryAxis.labels.fontSize = 8
    chart.bars[0].fillColor = colors.HexColor(GREEN)
    chart.bars[0].strokeColor = None
    # The exact rates as the page prints them, not reportlab's formatting of a float.
    chart.barLabelFormat = "values"
    chart.barLabelArray = [[f"{rate}%" for rate in rates] or [""]]
    chart.barLabels.fontName = font
    chart.barLabels.fontSize = 7
    chart.barLabels.boxAnchor = "w"
    chart.barLabels.dx = 3
    drawing.add(chart)
    drawing.add(String(0, height - 12, _("各交易类别节约率"), fontName=font, fontSize=10))
    return drawing


def report_pdf(document: Document, report: SavingsReport) -> bytes:
    """A4 landscape: title, period and scope, the breakdown with its total, the two charts, their tables."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    font = register_cjk_font()
    page_width, page_height = landscape(A4)
    margin = 14 * mm
    usable = page_width - 2 * margin
    title_style = ParagraphStyle("title", fontName=font, fontSize=18, leading=24, alignment=1, spaceAfter=6)
    heading = ParagraphStyle("heading", fontName=font, fontSize=11, leading=15, spaceBefore=8, spaceAfter=4)
    body = ParagraphStyle("body", fontName=font, fontSize=8.5, leading=12, wordWrap="CJK")

    def footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(font, 8)
        canvas.setFillColor(colors.HexColor("#333333"))
        canvas.drawString(margin, 8 * mm, _("阳光开标电子招标投标交易平台 · 节约资金统计报表"))
        canvas.drawRightString(page_width - margin, 8 * mm, _("第 %(page)s 页") % {"page": doc.page})
        canvas.restoreState()

    story: list[Any] = [Paragraph(escape(document.title), title_style)]
    for label, value in document.meta:
        story.append(Paragraph(f"{escape(label)}：{escape(value)}", body))
    main, months, categories = document.tables
    story += [Paragraph(escape(main.title), heading), _table(main, font, usable)]
    story += [Spacer(1, 4 * mm), _month_chart(report, font, usable)]
    if report.categories:
        story += [Spacer(1, 4 * mm), _category_chart(report, font, usable)]
    story += [Paragraph(escape(months.title), heading), _table(months, font, usable)]
    if report.categories:
        story += [Paragraph(escape(categories.title), heading), _table(categories, font, usable)]

    buffer = io.BytesIO()
    SimpleDocTemplate(
        buffer,
        pagesize=(page_width, page_height),
        leftMargin=margin,
        rightMargin=margin,
        topMargin=12 * mm,
        bottomMargin=14 * mm,
        title=f"{document.title} {report.period.label}",
        author=_("阳光开标"),
    ).build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()
