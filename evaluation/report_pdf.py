"""The evaluation report (评标报告) as an A4 landscape PDF, the Chinese font embedded.

Made from the signed JSON document and the members' signatures when the last
member signs (``evaluation.services.report_sign``). The JSON is the report;
the PDF shows the same content for people, with the report's SHA-256 in
every footer. The table layout (pre-wrapped cells, rows split across pages)
and the embedded font are the opening record's (``opening.record``,
``core.pdf``), so the two documents of a lot look alike.

Members appear by seat and signing-key fingerprint, never by name: the
report goes to the agent and the tenderer before the result is published
(ER 8).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas
from reportlab.platypus import BaseDocTemplate, Frame, PageTemplate, Spacer

from core.pdf import register_cjk_font
from evaluation.models import EvaluationReport, ReportSignature
from evaluation.scoring import round_half_up
from opening.events import iso
from opening.record import Mono, _paragraph, _Styles, _Table, format_amount
from tendering.models import EvaluationMethod

_STATUS = {
    "valid": gettext_lazy("有效投标"),
    "rejected": gettext_lazy("否决投标"),
    "revoked": gettext_lazy("撤销（开标时未解密）"),
    "withdrawn": gettext_lazy("撤回（开标时未解密）"),
}


def _method(value: str) -> str:
    try:
        return str(EvaluationMethod(value).label)
    except ValueError:
        return value


def _when(value: str | None) -> str:
    if not value:
        return "—"
    # Shown to the second in the platform's zone (Beijing time).
    return timezone.localtime(datetime.fromisoformat(value)).strftime("%Y-%m-%d %H:%M:%S")


def report_pdf(report: EvaluationReport, signatures: Mapping[int, ReportSignature]) -> bytes:
    """The report with every signature received so far (all of them once final)."""
    data = report.data()
    font = register_cjk_font()
    styles = _Styles(font)
    lot = data["lot"]
    comprehensive = lot["evaluation_method"] == EvaluationMethod.COMPREHENSIVE
    page_width, page_height = landscape(A4)
    margin = 12 * mm
    usable = page_width - 2 * margin
    lot_label = _("第%(number)s标段 %(name)s") % {"number": lot["number"], "name": lot["name"]}
    identity = f"{lot['tender_code']}  {lot['tender_title']}  ·  {lot_label}"

    def header(pdf: canvas.Canvas, document: Any) -> None:
        pdf.saveState()
        pdf.setFont(font, 8)
        pdf.setFillColor(colors.HexColor("#333333"))
        top = page_height - 8 * mm
        pdf.drawString(margin, top, identity[:90])
        pdf.drawRightString(page_width - margin, top, _("评标报告"))
        pdf.setStrokeColor(colors.HexColor("#999999"))
        pdf.setLineWidth(0.4)
        pdf.line(margin, top - 2.2 * mm, page_width - margin, top - 2.2 * mm)
        pdf.restoreState()

    class NumberedCanvas(canvas.Canvas):
        """Holds the pages back until the end, so that each footer can say how many there are."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 - reportlab's name
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for number, state in enumerate(self._pages, start=1):
                self.__dict__.update(state)
                self.setFont(font, 8)
                self.setFillColor(colors.HexColor("#333333"))
                self.drawCentredString(
                    page_width / 2, 7 * mm, _("第 %(page)s 页 共 %(pages)s 页") % {"page": number, "pages": total}
                )
                self.setFont("Courier", 7)
                self.drawRightString(page_width - margin, 7 * mm, f"report SHA-256 {report.sha256[:16]}…")
                super().showPage()
            super().save()

    buffer = io.BytesIO()
    document = BaseDocTemplate(
        buffer,
        pagesize=(page_width, page_height),
        leftMargin=margin,
        rightMargin=margin,
        topMargin=14 * mm,
        bottomMargin=13 * mm,
        title=f"{_('评标报告')} {lot['tender_code']} {lot_label}",
        author=_("阳光开标"),
        pageCompression=1,
    )
    frame = Frame(
        document.leftMargin, document.bottomMargin, document.width, document.height,
        leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0,
    )
    document.addPageTemplates([PageTemplate(id="report", frames=[frame], onPage=header)])
    story: list[Any] = [
        _paragraph(_("评标报告"), styles.title),
        _paragraph(_("阳光开标电子招标投标交易平台 · 远程异地评标"), styles.subtitle),
    ]

    evaluation = data["evaluation"]
    committee = data["committee"]
    info = _Table.build(font, [40 * mm, usable - 40 * mm], [_("项目"), _("内容")])
    info.add([_("项目编号 / 名称"), f"{lot['tender_code']}  {lot['tender_title']}"])
    info.add([_("标段"), lot_label])
    info.add([_("最高投标限价（元）"), format_amount(lot["control_price"])])
    info.add([_("评标办法"), _method(lot["evaluation_method"])])
    info.add([_("评标开始时间"), _when(evaluation["started_at"])])
    info.add([_("评标截止时间"), _when(evaluation["deadline"])])
    for extension in evaluation["extensions"]:
        info.add(
            [
                _("延长评标时间"),
                _("第%(round)s次：%(requests)s/%(members)s名成员申请，截止时间由 %(old)s 延长至 %(new)s")
                % {
                    "round": extension["round"],
                    "requests": extension["requests"],
                    "members": extension["members"],
                    "old": _when(extension["old_deadline"]),
                    "new": _when(extension["new_deadline"]),
                },
            ]
        )
    info.add(
        [
            _("评标委员会"),
            _("%(members)s名成员（专家%(seats)s号），组长：专家%(chair)s号")
            % {
                "members": committee["members"],
                "seats": "、".join(str(seat) for seat in committee["seats"]),
                "chair": committee["chair"],
            },
        ]
    )
    for past in committee["election"]:
        counts = "，".join(
            _("专家%(seat)s号 %(votes)s票") % {"seat": seat, "votes": votes} for seat, votes in past["counts"].items()
        )
        info.add([_("推选组长 第%(round)s轮") % {"round": past["round"]}, counts])
    info.add([_("评标报告版本 / 起草时间"), f"v{data['report_version']}  {_when(data['drafted_at'])}"])
    story.append(info.flowable())

    # The bids and the committee's conclusions.
    story.append(_paragraph(_("一、投标文件评审结果"), styles.heading))
    if comprehensive:
        heads = [_("序号"), _("投标人 / 统一社会信用代码"), _("投标报价（元）"), _("评审结论"), _("价格分"), _("最终得分"), _("排名")]
        shares = (0.05, 0.3, 0.13, 0.28, 0.08, 0.08, 0.08)
    else:
        heads = [_("序号"), _("投标人 / 统一社会信用代码"), _("投标报价（元）"), _("评审结论"), _("价格调整平均值（元）"), _("评标价（元）"), _("排名")]
        shares = (0.05, 0.28, 0.13, 0.26, 0.1, 0.12, 0.06)
    table = _Table.build(font, [usable * share for share in shares], heads, right=(2, 4, 5))
    for bid in data["bids"]:
        conclusion = str(_STATUS.get(bid["status"], bid["status"]))
        if bid["rejection"]:
            conclusion += "\n" + bid["rejection"]["reason"]
        if comprehensive:
            figures = [bid.get("price_score") or "—", bid.get("final_score") or "—"]
        else:
            figures = [format_amount(_two(bid.get("mean_adjustment"))), format_amount(bid.get("evaluated_price"))]
        table.add(
            [
                str(bid["position"]),
                f"{bid['organisation_name']}\n{bid['credit_code']}",
                format_amount(bid["price"]),
                conclusion,
                *figures,
                str(bid["rank"]) if bid["rank"] else "—",
            ]
        )
    flowable = table.flowable()
    story.append(flowable if flowable is not None else _paragraph(_("无投标文件。"), styles.body))
    if comprehensive and data["benchmark_price"] is not None:
        story.append(Spacer(1, 2 * mm))
        story.append(
            _paragraph(
                _("评标基准价：%(price)s 元（精确值，计算过程不舍入；价格分与最终得分四舍五入保留两位小数）。")
                % {"price": data["benchmark_price"]},
                styles.body,
            )
        )

    # Each member's figures per bid.
    story.append(_paragraph(_("二、评委评分汇总"), styles.heading))
    seats = committee["seats"]
    ranked = [bid for bid in data["bids"] if bid["status"] == "valid"]
    widths = [usable * 0.22] + [usable * 0.78 / max(len(seats), 1)] * len(seats)
    summary = _Table.build(
        font, widths, [_("投标人"), *[_("专家%(seat)s号") % {"seat": seat} for seat in seats]],
        right=tuple(range(1, len(seats) + 1)),
    )
    for bid in ranked:
        if comprehensive:
            cells = [format_amount(_two(bid["member_totals"].get(str(seat)))) for seat in seats]
        else:
            cells = [
                "\n".join(
                    part
                    for part in (
                        format_amount(bid["adjustments"].get(str(seat), {}).get("amount")),
                        bid["adjustments"].get(str(seat), {}).get("reason") or "",
                    )
                    if part
                )
                for seat in seats
            ]
        summary.add([bid["organisation_name"], *cells])
    flowable = summary.flowable()
    story.append(flowable if flowable is not None else _paragraph(_("没有有效投标。"), styles.body))
    if comprehensive:
        story.append(
            _paragraph(_("表中为各评委对各投标的总分（价格分 + 技术、商务得分），显示保留两位小数。"), styles.body)
        )

    # The candidates (TR 53).
    story.append(_paragraph(_("三、推荐的中标候选人"), styles.heading))
    candidates = _Table.build(
        font,
        [usable * share for share in (0.08, 0.42, 0.18, 0.16, 0.16)],
        [_("排名"), _("投标人 / 统一社会信用代码"), _("投标报价（元）"), _("最终得分"), _("评标价（元）")],
        right=(2, 3, 4),
    )
    for candidate in data["candidates"]:
        candidates.add(
            [
                str(candidate["rank"]),
                f"{candidate['organisation_name']}\n{candidate['credit_code']}",
                format_amount(candidate["price"]),
                candidate["score"] or "—",
                format_amount(candidate["evaluated_price"]),
            ]
        )
    flowable = candidates.flowable()
    story.append(
        flowable if flowable is not None else _paragraph(_("无推荐的中标候选人（没有有效投标）。"), styles.body)
    )
    story.append(
        _paragraph(
            _("排序规则：%(rule)s。") % {"rule": _tie_rule(comprehensive)},
            styles.body,
        )
    )

    # Signatures.
    story.append(_paragraph(_("四、评标委员会成员签署"), styles.heading))
    signed = _Table.build(
        font,
        [usable * share for share in (0.1, 0.16, 0.32, 0.42)],
        [_("席位"), _("签署时间"), _("签名公钥指纹（SHA-256）"), _("签名（ECDSA P-256，DER，Base64）")],
    )
    for seat in seats:
        signature = signatures.get(seat)
        if signature is None:
            signed.add([_("专家%(seat)s号") % {"seat": seat}, _("未签署"), "—", "—"])
            continue
        signed.add(
            [
                _("专家%(seat)s号") % {"seat": seat},
                _when(iso(signature.signed_at)),
                Mono(signature.key.fingerprint),
                Mono(base64.b64encode(bytes(signature.signature)).decode("ascii")),
            ]
        )
    story.append(signed.flowable())
    story.append(Spacer(1, 3 * mm))
    proof = _Table.build(font, [58 * mm, usable - 58 * mm], [_("记录项"), _("值")])
    proof.add([_("评标报告 SHA-256"), Mono(report.sha256)])
    proof.add([_("评标办法 SHA-256"), Mono(data["scheme_sha256"])])
    proof.add([_("开标记录 SHA-256"), Mono(data["opening_record_sha256"] or "—")])
    story.append(proof.flowable())
    story.append(
        _paragraph(
            _(
                "本报告以 report.json 为准（GET /evaluation/lots/%(lot)s/report.json），本文件为其可读版本。"
                "各成员以本人 ECDSA P-256 私钥签署文本“sunbid-evaluation-report-v1\\n标段ID\\n报告SHA-256\\n席位号”（\\n 为换行），"
                "可用登记的签名公钥逐一核验。"
            )
            % {"lot": lot["id"]},
            styles.body,
        )
    )
    document.build(story, canvasmaker=NumberedCanvas)
    return buffer.getvalue()


def _two(value: str | None) -> str | None:
    """An exact decimal text shown to two decimals, half up (display only)."""
    if value is None:
        return None
    return str(round_half_up(Decimal(value)))


def _tie_rule(comprehensive: bool) -> str:
    if comprehensive:
        return _("最终得分高者优先；得分相同的，价格分高者优先；再相同的，投标报价低者优先；再相同的，投标文件递交时间早者优先")
    return _("评标价低者优先；评标价相同的，投标报价低者优先；再相同的，投标文件递交时间早者优先")
