"""Candidate publicity (中标候选人公示), objections to it (异议), the result (中标结果公告) and its letters.

After the evaluation report is final (``evaluation.selectors.report_final_for_lot``)
the lot's agent publishes its ranked candidates for at least three days
(TR 54); interested bidders may object while the publicity is open and the
agent answers each objection within three days; once the window has closed
and every objection is answered, the agent announces the result, which
awards the lot (``tendering.services.lot_award``) and issues a signed letter
to every bidder: the award notice (中标通知书) to the winner, the result
notice (中标结果通知书) to the others. State changes happen only in
``award.services``; docs/award.md describes the whole step.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation
from bidding.models import Bid
from evaluation.models import EvaluationReport
from tendering.models import Lot


class Publicity(models.Model):
    """The candidates of one lot's final evaluation report, published for objections (TR 54).

    ``candidates`` is the list as published, copied from the signed report
    (rank, bid, organisation, name, credit code, price, score, evaluated
    price; amounts as decimal strings), so that the page shows exactly what
    was published whatever happens later. ``due_at`` is the latest start the
    rule allows (the end of the third day after the report became final);
    a later start is published all the same and flagged ``late``.
    """

    lot = models.OneToOneField(Lot, on_delete=models.PROTECT, related_name="publicity")
    report = models.ForeignKey(EvaluationReport, on_delete=models.PROTECT, related_name="+")
    report_sha256 = models.CharField(_("评标报告 SHA-256"), max_length=64)
    report_final_at = models.DateTimeField(_("评标报告生效时间"))
    candidates = models.JSONField(_("中标候选人"))
    note = models.TextField(_("公示说明"), blank=True)
    due_at = models.DateTimeField(_("应公示期限"))
    starts_at = models.DateTimeField(_("公示开始时间"), db_index=True)
    ends_at = models.DateTimeField(_("公示结束时间"), db_index=True)
    late = models.BooleanField(_("逾期公示"), default=False)
    published_at = models.DateTimeField(_("发布时间"), db_index=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("中标候选人公示")
        verbose_name_plural = _("中标候选人公示")
        ordering = ["-published_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")),
                name="publicity_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.lot} · {_('中标候选人公示')}"

    def audit_scope(self) -> tuple[int | None, int | None]:
        return self.lot.tender_id, self.lot_id

    def is_open(self, now: dt.datetime | None = None) -> bool:
        now = now or timezone.now()
        return self.starts_at <= now < self.ends_at

    def has_ended(self, now: dt.datetime | None = None) -> bool:
        return (now or timezone.now()) >= self.ends_at

    def candidate(self, rank: int) -> dict[str, Any] | None:
        return next((row for row in self.candidates if row["rank"] == rank), None)


class ObjectionOutcome(models.TextChoices):
    MAINTAINED = "maintained", _("异议不成立，维持公示结果")
    UPHELD = "upheld", _("异议成立，取消相关中标候选人资格")


def _attachment_path(instance: Objection, filename: str) -> str:
    return f"award-objections/{instance.publicity_id}/{instance.attachment_sha256[:16]}/{filename}"


class Objection(models.Model):
    """An objection (异议) of a bidder of the lot to the publicised candidates, filed while the publicity is open.

    ``answer_due`` is the end of the third day after receipt (TR 54). While
    any objection of the publicity is unanswered the result cannot be
    announced. An upheld objection may name the candidate it disqualifies:
    that candidate can no longer be chosen as the winner.
    """

    publicity = models.ForeignKey(Publicity, on_delete=models.PROTECT, related_name="objections")
    organisation = models.ForeignKey(
        Organisation, verbose_name=_("异议人"), on_delete=models.PROTECT, related_name="+"
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    text = models.TextField(_("异议内容"))
    attachment = models.FileField(_("附件"), upload_to=_attachment_path, max_length=300, blank=True)
    attachment_name = models.CharField(_("附件名"), max_length=200, blank=True)
    attachment_size = models.BigIntegerField(_("附件大小（字节）"), null=True, blank=True)
    attachment_sha256 = models.CharField(_("附件 SHA-256"), max_length=64, blank=True)
    received_at = models.DateTimeField(_("收到时间"), db_index=True)
    answer_due = models.DateTimeField(_("答复期限"), db_index=True)
    answer = models.TextField(_("答复内容"), blank=True)
    outcome = models.CharField(
        _("处理结果"), max_length=12, choices=ObjectionOutcome.choices, blank=True
    )
    disqualified_rank = models.PositiveSmallIntegerField(
        _("取消资格的中标候选人排名"), null=True, blank=True
    )
    answered_at = models.DateTimeField(_("答复时间"), null=True, blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("异议")
        verbose_name_plural = _("异议")
        ordering = ["received_at", "id"]
        indexes = [models.Index(fields=["publicity", "answered_at"])]

    def __str__(self) -> str:
        return f"{self.organisation} · {self.received_at:%Y-%m-%d %H:%M}"

    def audit_scope(self) -> tuple[int | None, int | None]:
        return self.publicity.audit_scope()

    @property
    def is_answered(self) -> bool:
        return self.answered_at is not None

    def is_overdue(self, now: dt.datetime | None = None) -> bool:
        """Unanswered past its due time, or answered after it."""
        if self.answered_at is not None:
            return self.answered_at >= self.answer_due
        return (now or timezone.now()) >= self.answer_due


class AwardResult(models.Model):
    """The result announcement (中标结果公告) of a lot: the winner among the publicised candidates.

    The first-ranked candidate by default; another (never a disqualified
    one) only with ``reason`` recorded. Written in the transaction that
    awards the lot (``tendering.services.lot_award``).
    """

    lot = models.OneToOneField(Lot, on_delete=models.PROTECT, related_name="award_result")
    publicity = models.OneToOneField(Publicity, on_delete=models.PROTECT, related_name="result")
    winner = models.ForeignKey(
        Organisation, verbose_name=_("中标人"), on_delete=models.PROTECT, related_name="+"
    )
    bid = models.ForeignKey(Bid, on_delete=models.PROTECT, related_name="+")
    winner_rank = models.PositiveSmallIntegerField(_("中标候选人排名"))
    award_price = models.DecimalField(_("中标价（元）"), max_digits=16, decimal_places=2)
    reason = models.TextField(_("确定排名非第一的中标候选人为中标人的理由"), blank=True)
    note = models.TextField(_("公告说明"), blank=True)
    announced_at = models.DateTimeField(_("公告时间"), db_index=True)
    announced_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("中标结果公告")
        verbose_name_plural = _("中标结果公告")
        ordering = ["-announced_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(award_price__gt=Decimal("0")), name="award_result_price_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.lot} · {self.winner}"

    def audit_scope(self) -> tuple[int | None, int | None]:
        return self.lot.tender_id, self.lot_id


class LetterKind(models.TextChoices):
    AWARD_NOTICE = "award_notice", _("中标通知书")
    RESULT_NOTICE = "result_notice", _("中标结果通知书")


class AwardLetter(models.Model):
    """A letter to one bidder of the awarded lot, signed by the platform (EB 40).

    ``document`` is the canonical JSON with the platform's ``key_fingerprint``
    and Ed25519 ``signature`` (``award.letters``); ``sha256`` is the digest
    of its UTF-8 bytes, printed on the PDF. The PDF is rendered once, when
    the letter is issued, and served as stored.
    """

    result = models.ForeignKey(AwardResult, on_delete=models.PROTECT, related_name="letters")
    organisation = models.ForeignKey(
        Organisation, verbose_name=_("收件单位"), on_delete=models.PROTECT, related_name="+"
    )
    bid = models.ForeignKey(Bid, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("类别"), max_length=16, choices=LetterKind.choices)
    letter_no = models.CharField(_("文号"), max_length=60, unique=True)
    document = models.TextField()
    sha256 = models.CharField(max_length=64)
    key_fingerprint = models.CharField(max_length=64)
    signature = models.CharField(max_length=200)
    pdf = models.BinaryField(editable=False)
    pdf_sha256 = models.CharField(max_length=64)
    issued_at = models.DateTimeField(_("签发时间"))

    class Meta:
        verbose_name = _("中标通知书/中标结果通知书")
        verbose_name_plural = _("中标通知书/中标结果通知书")
        ordering = ["result_id", "kind", "letter_no"]
        constraints = [
            models.UniqueConstraint(
                fields=["result", "organisation"], name="one_letter_per_bidder"
            ),
        ]

    def __str__(self) -> str:
        return self.letter_no

    def audit_scope(self) -> tuple[int | None, int | None]:
        return self.result.audit_scope()
