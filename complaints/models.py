"""Complaints (投诉) to a tender's supervising authority, and the platform's working-day table.

A complaint is filed by a bidder organisation with an interest in the tender
(it obtained the documents or bid) to the tender's supervising authority
(TR 60), which accepts it or not within 3 working days and decides it within
30 working days of acceptance (TR 61). State changes happen only in
``complaints.services``; due dates are computed from these rows and the
working-day calendar (``complaints.rules``), never stored, so a correction to
the calendar moves them at once.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation
from tendering.models import Lot, Tender


class Subject(models.TextChoices):
    DOCUMENTS = "documents", _("招标文件")
    OPENING = "opening", _("开标")
    EVALUATION = "evaluation", _("评标")
    CANDIDATES = "candidates", _("中标候选人公示")
    RESULT = "result", _("中标结果")
    OTHER = "other", _("其他")


class ComplaintStatus(models.TextChoices):
    SUBMITTED = "submitted", _("待受理")
    ACCEPTED = "accepted", _("已受理")
    NOT_ACCEPTED = "not_accepted", _("不予受理")
    DECIDED = "decided", _("已作出处理决定")
    WITHDRAWN = "withdrawn", _("已撤回")


OPEN_STATUSES = frozenset({ComplaintStatus.SUBMITTED, ComplaintStatus.ACCEPTED})


class Outcome(models.TextChoices):
    DISMISSED = "dismissed", _("驳回投诉")
    UPHELD = "upheld", _("投诉成立")


class Complaint(models.Model):
    number = models.CharField(_("投诉编号"), max_length=20, unique=True, null=True, blank=True)
    tender = models.ForeignKey(
        Tender, verbose_name=_("招标项目"), on_delete=models.PROTECT, related_name="complaints"
    )
    # None: the complaint concerns the whole tender (every lot), e.g. its documents.
    lot = models.ForeignKey(
        Lot,
        verbose_name=_("标段"),
        on_delete=models.PROTECT,
        related_name="complaints",
        null=True,
        blank=True,
    )
    authority = models.ForeignKey(
        Organisation,
        verbose_name=_("受理投诉的监督部门"),
        on_delete=models.PROTECT,
        related_name="complaints_received",
    )
    complainant = models.ForeignKey(
        Organisation,
        verbose_name=_("投诉人"),
        on_delete=models.PROTECT,
        related_name="complaints_filed",
    )
    filed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("提交人"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    subject = models.CharField(_("投诉事项"), max_length=20, choices=Subject.choices)
    facts = models.TextField(_("事实和理由"))
    claims = models.TextField(_("请求事项"))
    known_on = models.DateField(_("知道或者应当知道之日"))
    # TR 60: for the documents (TR 22), the opening (TR 44) and the evaluation result (TR 54)
    # an objection (异议) must come first; the time it waited for its answer is not counted.
    objection_raised = models.BooleanField(_("已先提出异议"), default=False)
    objected_on = models.DateField(_("提出异议日期"), null=True, blank=True)
    objection_answered_on = models.DateField(_("异议答复日期"), null=True, blank=True)
    status = models.CharField(
        _("状态"), max_length=20, choices=ComplaintStatus.choices, default=ComplaintStatus.SUBMITTED
    )
    received_at = models.DateTimeField(_("收到投诉时间"), db_index=True)
    reviewed_at = models.DateTimeField(_("受理审查时间"), null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    not_accepted_reason = models.TextField(_("不予受理理由"), blank=True)
    decided_at = models.DateTimeField(_("处理决定时间"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    outcome = models.CharField(_("处理结果"), max_length=20, choices=Outcome.choices, blank=True)
    decision = models.TextField(_("处理决定"), blank=True)
    withdrawn_at = models.DateTimeField(_("撤回时间"), null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    withdraw_reason = models.TextField(_("撤回理由"), blank=True)

    class Meta:
        verbose_name = _("投诉")
        verbose_name_plural = _("投诉")
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["authority", "status"]),
            models.Index(fields=["complainant", "received_at"]),
        ]

    def __str__(self) -> str:
        return self.number or f"#{self.pk}"

    def audit_scope(self) -> tuple[int | None, int | None]:
        return self.tender_id, self.lot_id

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def was_accepted(self) -> bool:
        """Accepted at some point (still being handled, decided, or withdrawn after acceptance)."""
        return self.status != ComplaintStatus.NOT_ACCEPTED and self.reviewed_at is not None


def _attachment_path(instance: ComplaintAttachment, filename: str) -> str:
    return f"complaints/{instance.complaint_id}/{instance.sha256[:16]}/{filename}"


class ComplaintAttachment(models.Model):
    """A file: the complainant's evidence, or (with ``statement``) what the agent sent with its statement.

    Stored under MEDIA_ROOT, never served by URL: only
    ``complaints.views.attachment`` hands it out, to those entitled.
    """

    complaint = models.ForeignKey(Complaint, on_delete=models.CASCADE, related_name="attachments")
    statement = models.ForeignKey(
        "StatementRequest",
        on_delete=models.CASCADE,
        related_name="attachments",
        null=True,
        blank=True,
    )
    file = models.FileField(_("文件"), upload_to=_attachment_path, max_length=300)
    original_name = models.CharField(_("文件名"), max_length=200)
    size = models.BigIntegerField(_("大小（字节）"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(_("上传时间"))

    class Meta:
        verbose_name = _("投诉材料")
        verbose_name_plural = _("投诉材料")
        ordering = ["uploaded_at", "id"]

    def __str__(self) -> str:
        return self.original_name

    def audit_scope(self) -> tuple[int | None, int | None]:
        return self.complaint.audit_scope()


class Suspension(models.Model):
    """An order to suspend the procurement (暂停招标投标活动) while a complaint is handled.

    In force while ``lifted_at`` is empty; the decision or a withdrawal lifts it.
    """

    complaint = models.ForeignKey(Complaint, on_delete=models.CASCADE, related_name="suspensions")
    ordered_at = models.DateTimeField(_("暂停时间"))
    ordered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField(_("暂停理由"))
    lifted_at = models.DateTimeField(_("恢复时间"), null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    lift_reason = models.TextField(_("恢复理由"), blank=True)

    class Meta:
        verbose_name = _("暂停招标投标活动")
        verbose_name_plural = _("暂停招标投标活动")
        ordering = ["ordered_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["complaint"],
                condition=models.Q(lifted_at__isnull=True),
                name="one_suspension_in_force_per_complaint",
            )
        ]

    def __str__(self) -> str:
        return f"{self.complaint} · {self.ordered_at:%Y-%m-%d}"

    def audit_scope(self) -> tuple[int | None, int | None]:
        return self.complaint.audit_scope()

    @property
    def in_force(self) -> bool:
        return self.lifted_at is None


class StatementRequest(models.Model):
    """The authority asks the agency for a written statement (书面说明) on the complaint."""

    complaint = models.ForeignKey(Complaint, on_delete=models.CASCADE, related_name="statements")
    requested_at = models.DateTimeField(_("要求时间"))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    questions = models.TextField(_("需说明的事项"))
    due_on = models.DateField(_("答复期限"))
    answered_at = models.DateTimeField(_("答复时间"), null=True, blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    answer = models.TextField(_("说明内容"), blank=True)

    class Meta:
        verbose_name = _("书面说明要求")
        verbose_name_plural = _("书面说明要求")
        ordering = ["requested_at", "id"]

    def __str__(self) -> str:
        return f"{self.complaint} · {self.requested_at:%Y-%m-%d}"

    def audit_scope(self) -> tuple[int | None, int | None]:
        return self.complaint.audit_scope()


class CalendarDay(models.Model):
    """One day of the official holiday calendar, as the platform keeps it.

    Overrides the ``chinesecalendar`` library for that day and, for a year the
    library does not cover, makes the year known: enter the whole of that
    year's State Council notice (国务院办公厅关于部分节假日安排的通知) —
    every holiday and every adjusted working day.
    """

    date = models.DateField(_("日期"), unique=True)
    is_workday = models.BooleanField(
        _("安排"),
        choices=[(False, _("放假（休息日）")), (True, _("调休上班（工作日）"))],
        default=False,
    )
    name = models.CharField(_("节日或说明"), max_length=50)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("节假日与调休安排")
        verbose_name_plural = _("节假日与调休安排")
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} {self.name}"
