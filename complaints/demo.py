"""Demo complaints for ``manage.py seed_demo``: one awaiting acceptance, one accepted with the lot suspended.

Called once the demo's tenders are published and their documents obtained
(``tendering.demo``); idempotent, and a no-op when no published tender has an
obtaining bidder.
"""

from __future__ import annotations

import datetime as dt

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts.models import Role, User
from complaints import services
from complaints.models import Complaint, Subject
from tendering.models import DocumentObtain, Lot, LotStatus


def _evidence(title: str, text: str) -> SimpleUploadedFile:
    from tendering.demo import render_pdf

    return SimpleUploadedFile(
        f"{title}.pdf", render_pdf(title, [("内容", text)]), "application/pdf"
    )


def complaints_demo() -> list[Complaint]:
    """File two complaints about open demo lots, through the services (audited like any other)."""
    if Complaint.objects.exists():
        return []
    obtains = (
        DocumentObtain.objects.filter(
            tender__supervising_authority__isnull=False,
            tender__lots__status=LotStatus.PUBLISHED,
        )
        .select_related("tender", "organisation")
        .order_by("tender__published_at", "id")
        .distinct()
    )
    made: list[Complaint] = []
    used_organisations: set[int] = set()
    for obtain in obtains:
        if obtain.organisation_id in used_organisations or len(made) == 2:
            continue
        bidder = User.objects.filter(
            organisation=obtain.organisation, role_grants__role=Role.BIDDER, is_active=True
        ).first()
        supervisor = User.objects.filter(
            organisation_id=obtain.tender.supervising_authority_id,
            role_grants__role=Role.SUPERVISOR,
            is_active=True,
        ).first()
        lot = (
            Lot.objects.filter(tender=obtain.tender, status=LotStatus.PUBLISHED)
            .order_by("number")
            .first()
        )
        if bidder is None or supervisor is None or lot is None:
            continue
        today = timezone.localdate()
        if not made:
            complaint = services.complaint_file(
                actor=bidder,
                tender=obtain.tender,
                data=services.ComplaintInput(
                    lot_id=lot.pk,
                    subject=Subject.DOCUMENTS,
                    facts="招标文件第三章资格条件要求投标人近三年在本市完成过同类项目，排斥外地潜在投标人。",
                    claims="请求责令招标人修改招标文件中的上述资格条件，并相应顺延投标截止时间。",
                    known_on=today - dt.timedelta(days=3),
                    objection_raised=True,
                    objected_on=today - dt.timedelta(days=2),
                ),
                files=[
                    _evidence(
                        "招标文件资格条件摘录",
                        "第三章 投标人资格要求：近三年在本市完成过同类项目。",
                    )
                ],
            )
        else:
            complaint = services.complaint_file(
                actor=bidder,
                tender=obtain.tender,
                data=services.ComplaintInput(
                    subject=Subject.OTHER,
                    facts="招标公告规定的招标文件获取方式要求现场购买，与电子招标投标规定不符。",
                    claims="请求责令招标人改为在线获取，并暂停招标投标活动直至改正。",
                    known_on=today - dt.timedelta(days=1),
                ),
                files=[_evidence("招标公告截图说明", "招标公告第五条：招标文件须现场购买。")],
            )
            complaint = services.complaint_accept(actor=supervisor, complaint=complaint)
            services.complaint_suspend(
                actor=supervisor, complaint=complaint, reason="核查招标文件获取方式是否符合规定。"
            )
            services.statement_request(
                actor=supervisor,
                complaint=complaint,
                questions="请说明招标文件获取方式的设置依据。",
                due_on=today + dt.timedelta(days=5),
            )
        made.append(complaint)
        used_organisations.add(obtain.organisation_id)
    return made
