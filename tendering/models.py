"""Tender announcements (招标公告), their lots (标段), amendments and documents.

The lot is the unit that is bid on, opened and awarded. A tender announcement
covers one or more lots of one project, for one tenderer through one agency.
State changes happen only in ``tendering.services``.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation
from tendering.regions import REGIONS


class Category(models.TextChoices):
    CONSTRUCTION = "construction", _("工程建设")
    GOVERNMENT = "government", _("政府采购")
    PROPERTY = "property", _("产权交易")
    LAND = "land", _("土地矿产")
    MEDICAL = "medical", _("药品和医用耗材采购")
    OTHER = "other", _("其他交易")


class EvaluationMethod(models.TextChoices):
    LOWEST_PRICE = "lowest_price", _("经评审的最低投标价法")
    COMPREHENSIVE = "comprehensive", _("综合评估法")


class TenderStatus(models.TextChoices):
    DRAFT = "draft", _("草稿")
    PUBLISHED = "published", _("已发布")
    CANCELLED = "cancelled", _("已终止")


class LotStatus(models.TextChoices):
    DRAFT = "draft", _("草稿")
    PUBLISHED = "published", _("投标中")
    BIDDING_CLOSED = "bidding_closed", _("投标已截止")
    OPENING = "opening", _("开标中")
    OPENED = "opened", _("已开标")
    EVALUATING = "evaluating", _("评标中")
    AWARDED = "awarded", _("已定标")
    FAILED = "failed", _("流标")
    CANCELLED = "cancelled", _("已终止")


FINAL_LOT_STATUSES = frozenset({LotStatus.AWARDED, LotStatus.FAILED, LotStatus.CANCELLED})


class Tender(models.Model):
    code = models.CharField(_("项目编号"), max_length=40, unique=True)
    title = models.CharField(_("公告标题"), max_length=200)
    project_name = models.CharField(_("项目名称"), max_length=200)
    tenderer = models.ForeignKey(
        Organisation, verbose_name=_("招标人"), on_delete=models.PROTECT, related_name="tenders_as_tenderer"
    )
    agency = models.ForeignKey(
        Organisation, verbose_name=_("招标代理机构"), on_delete=models.PROTECT, related_name="tenders_as_agency"
    )
    # Optional on a draft, required to publish (tendering.services.tender_publish):
    # the supervising authority oversees the tender and by default keeps a share
    # of every lot's opening key (docs/opening-keys.md).
    supervising_authority = models.ForeignKey(
        Organisation,
        verbose_name=_("监督部门"),
        on_delete=models.PROTECT,
        related_name="tenders_supervised",
        null=True,
        blank=True,
        limit_choices_to={"kind": "supervisor"},
    )
    category = models.CharField(_("交易类别"), max_length=20, choices=Category.choices)
    region = models.CharField(_("项目所在地区"), max_length=6, choices=REGIONS)
    description = models.TextField(_("公告正文"))
    contact_name = models.CharField(_("联系人"), max_length=50)
    contact_phone = models.CharField(_("联系电话"), max_length=30)
    status = models.CharField(_("状态"), max_length=20, choices=TenderStatus.choices, default=TenderStatus.DRAFT)
    published_at = models.DateTimeField(_("发布时间"), null=True, blank=True, db_index=True)
    cancelled_reason = models.TextField(_("终止原因"), blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("招标公告")
        verbose_name_plural = _("招标公告")
        ordering = ["-published_at", "-id"]
        indexes = [models.Index(fields=["status", "category", "region"])]

    def __str__(self) -> str:
        return self.title

    def audit_scope(self) -> tuple[int | None, int | None]:
        return self.pk, None


class Lot(models.Model):
    tender = models.ForeignKey(Tender, on_delete=models.CASCADE, related_name="lots")
    number = models.PositiveSmallIntegerField(_("标段号"))
    name = models.CharField(_("标段名称"), max_length=200)
    estimated_price = models.DecimalField(_("项目估算价（元）"), max_digits=16, decimal_places=2)
    control_price = models.DecimalField(_("最高投标限价（招标控制价，元）"), max_digits=16, decimal_places=2)
    bid_security = models.DecimalField(_("投标保证金（元）"), max_digits=14, decimal_places=2, default=Decimal("0"))
    doc_start = models.DateTimeField(_("招标文件获取开始时间"))
    doc_end = models.DateTimeField(_("招标文件获取截止时间"))
    bid_deadline = models.DateTimeField(_("投标截止时间"), db_index=True)
    opening_time = models.DateTimeField(_("开标时间"), db_index=True)
    decryption_minutes = models.PositiveSmallIntegerField(_("解密时限（分钟）"), default=30)
    min_bidders = models.PositiveSmallIntegerField(_("最少投标人数"), default=3)
    evaluation_method = models.CharField(_("评标办法"), max_length=20, choices=EvaluationMethod.choices)
    status = models.CharField(_("状态"), max_length=20, choices=LotStatus.choices, default=LotStatus.DRAFT)
    status_changed_at = models.DateTimeField(_("状态变更时间"), null=True, blank=True)
    award_price = models.DecimalField(_("中标价（元）"), max_digits=16, decimal_places=2, null=True, blank=True)
    winner = models.ForeignKey(
        Organisation, verbose_name=_("中标人"), on_delete=models.PROTECT, null=True, blank=True, related_name="lots_won"
    )
    awarded_at = models.DateTimeField(_("定标时间"), null=True, blank=True)
    failed_reason = models.TextField(_("流标原因"), blank=True)
    cancelled_reason = models.TextField(_("终止原因"), blank=True)
    # The items the bid summary carries besides price, duration and quality,
    # each {"key", "label", "required"}; sealed inside the bid, read out at the
    # opening (docs/sealing.md, manifest "fields"). Validated by lot_validate.
    bid_fields = models.JSONField(_("其他投标填报项"), default=list, blank=True)
    # Who keeps a share of the lot's opening key, and how many shares rebuild
    # it. No custodians named means the default: the agency, the supervising
    # authority and the tenderer (opening.selectors.custodians_planned).
    custodian_threshold = models.PositiveSmallIntegerField(_("开标密钥门限"), default=2)
    # EB 31: the tender documents may let the custodians open a bid that could not be
    # decrypted through no fault of its bidder (the room's fallback).
    custodian_fallback = models.BooleanField(_("允许保管单位代为解密"), default=True)
    custodians = models.ManyToManyField(
        Organisation, verbose_name=_("开标密钥保管单位"), blank=True, related_name="lots_in_custody"
    )

    class Meta:
        verbose_name = _("标段")
        verbose_name_plural = _("标段")
        ordering = ["tender_id", "number"]
        constraints = [models.UniqueConstraint(fields=["tender", "number"], name="unique_lot_number_per_tender")]
        indexes = [models.Index(fields=["status", "bid_deadline"]), models.Index(fields=["status", "opening_time"])]

    def __str__(self) -> str:
        return f"{self.tender.code} 第{self.number}标段 {self.name}"

    def audit_scope(self) -> tuple[int | None, int | None]:
        return self.tender_id, self.pk

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_LOT_STATUSES

    @property
    def status_now(self) -> str:
        """The state by the server clock, for display.

        The timed sweep moves a lot past its deadline within the worker's
        polling interval; until it has, a page must not call the lot open for
        bids. Services never use this: they decide under the row lock.
        """
        now = timezone.now()
        if self.status == LotStatus.PUBLISHED and self.bid_deadline <= now:
            return LotStatus.OPENING if self.opening_time <= now else LotStatus.BIDDING_CLOSED
        if self.status == LotStatus.BIDDING_CLOSED and self.opening_time <= now:
            return LotStatus.OPENING
        return self.status


class Amendment(models.Model):
    """A clarification or amendment (澄清/补遗), public once published."""

    tender = models.ForeignKey(Tender, on_delete=models.CASCADE, related_name="amendments")
    number = models.PositiveSmallIntegerField(_("序号"))
    title = models.CharField(_("标题"), max_length=200)
    body = models.TextField(_("内容"))
    affects_preparation = models.BooleanField(_("影响投标文件编制"), default=True)
    published_at = models.DateTimeField(_("发布时间"))
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("澄清/补遗")
        verbose_name_plural = _("澄清/补遗")
        ordering = ["tender_id", "number"]
        constraints = [models.UniqueConstraint(fields=["tender", "number"], name="unique_amendment_number")]

    def __str__(self) -> str:
        return self.title

    def audit_scope(self) -> tuple[int | None, int | None]:
        return self.tender_id, None


class DeadlineChange(models.Model):
    """A lot's deadline and opening time moved by an amendment (TR 21)."""

    amendment = models.ForeignKey(Amendment, on_delete=models.CASCADE, related_name="deadline_changes")
    lot = models.ForeignKey(Lot, on_delete=models.CASCADE, related_name="deadline_changes")
    old_deadline = models.DateTimeField(_("原投标截止时间"))
    new_deadline = models.DateTimeField(_("新投标截止时间"))
    old_opening_time = models.DateTimeField(_("原开标时间"))
    new_opening_time = models.DateTimeField(_("新开标时间"))

    class Meta:
        ordering = ["lot__number"]

    def __str__(self) -> str:
        return f"{self.lot} {self.old_deadline:%Y-%m-%d %H:%M} → {self.new_deadline:%Y-%m-%d %H:%M}"


def _document_path(instance: TenderDocument, filename: str) -> str:
    return f"tender-documents/{instance.tender_id}/{instance.sha256[:16]}/{filename}"


class TenderDocument(models.Model):
    tender = models.ForeignKey(Tender, on_delete=models.CASCADE, related_name="documents")
    amendment = models.ForeignKey(
        Amendment, on_delete=models.CASCADE, null=True, blank=True, related_name="documents"
    )
    file = models.FileField(_("文件"), upload_to=_document_path, max_length=300)
    original_name = models.CharField(_("文件名"), max_length=200)
    size = models.BigIntegerField(_("大小（字节）"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(_("上传时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("招标文件")
        verbose_name_plural = _("招标文件")
        ordering = ["uploaded_at", "id"]

    def __str__(self) -> str:
        return self.original_name

    def audit_scope(self) -> tuple[int | None, int | None]:
        return self.tender_id, None


class DocumentObtain(models.Model):
    """A bidder organisation registered as having obtained the tender documents.

    Who, and how many, stays hidden until bidding has closed (EB 21): only
    ``tendering.selectors`` read this table, and they enforce that.
    """

    tender = models.ForeignKey(Tender, on_delete=models.CASCADE, related_name="obtains")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="document_obtains")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    obtained_at = models.DateTimeField(_("获取时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("招标文件获取登记")
        verbose_name_plural = _("招标文件获取登记")
        constraints = [models.UniqueConstraint(fields=["tender", "organisation"], name="unique_obtain_per_org")]

    def __str__(self) -> str:
        return f"{self.organisation} · {self.tender}"

    def audit_scope(self) -> tuple[int | None, int | None]:
        return self.tender_id, None
