"""Sealed bids: resumable uploads, their parts, the bids they become, and what decryption found.

The platform never holds a bid's plaintext before the opening: the ciphertext
lives in storage as the upload's parts (one storage object per part), the
header fields copied here are the ones anyone may read without keys, and the
summary, the file list and the bid's file key appear only after
``bidding.services.bid_decrypt`` ran at or after the lot's opening time. Even
then no plaintext is stored: a file is read by decrypting its byte range from
the ciphertext (``bidding.storage.open_bid_file``). State changes happen only
in ``bidding.services``; who may see what is decided in ``bidding.selectors``.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation
from tendering.models import Lot


class UploadStatus(models.TextChoices):
    OPEN = "open", _("上传中")
    COMPLETE = "complete", _("已完成")
    FAILED = "failed", _("被拒绝")
    DISCARDED = "discarded", _("已作废")


class Upload(models.Model):
    """One attempt to send a sealed bid, in parts of ``part_size`` bytes, in order.

    ``received_at`` is set when the last part is stored (the server clock at
    that moment decides whether the bid came in time, EB 27); the upload
    becomes ``complete`` once the whole file has been checked and its bid
    created, ``failed`` when a check refused it, ``discarded`` when it was
    abandoned or the deadline passed before its last part arrived.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="bid_uploads")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    size = models.BigIntegerField(_("大小（字节）"))
    part_size = models.PositiveIntegerField(_("分片大小（字节）"))
    received = models.BigIntegerField(_("已接收（字节）"), default=0)
    status = models.CharField(
        _("状态"), max_length=12, choices=UploadStatus.choices, default=UploadStatus.OPEN
    )
    # Filled in once the header has arrived and passed the checks that need no keys.
    header_checked = models.BooleanField(default=False)
    bidder_fingerprint = models.CharField(max_length=64, blank=True)
    signing_fingerprint = models.CharField(max_length=64, blank=True)
    opening_fingerprint = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(_("开始时间"))
    received_at = models.DateTimeField(_("接收完成时间"), null=True, blank=True)
    closed_at = models.DateTimeField(_("结束时间"), null=True, blank=True)
    error_code = models.CharField(max_length=60, blank=True)
    error_message = models.TextField(blank=True)

    class Meta:
        verbose_name = _("投标文件上传")
        verbose_name_plural = _("投标文件上传")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["lot", "status"]),
            models.Index(fields=["organisation", "lot"]),
        ]

    def __str__(self) -> str:
        return str(self.pk)

    def audit_scope(self) -> tuple[int | None, int | None]:
        return self.lot.tender_id, self.lot_id

    @property
    def part_count(self) -> int:
        """How many parts the whole file takes (the last one may be short)."""
        return -(-self.size // self.part_size)

    def part_length(self, index: int) -> int:
        """The exact length of part ``index``: bytes [index*part_size, min(size, (index+1)*part_size))."""
        start = index * self.part_size
        return max(0, min(self.size, start + self.part_size) - start)


class UploadPart(models.Model):
    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="parts")
    index = models.PositiveIntegerField()
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    storage_name = models.CharField(max_length=300)
    stored_at = models.DateTimeField()

    class Meta:
        ordering = ["upload_id", "index"]
        constraints = [
            models.UniqueConstraint(fields=["upload", "index"], name="unique_part_index")
        ]

    def __str__(self) -> str:
        return f"{self.upload_id}#{self.index}"


class BidStatus(models.TextChoices):
    CURRENT = "current", _("有效")
    REPLACED = "replaced", _("已替换")
    WITHDRAWN = "withdrawn", _("已撤回")


class DecryptionStatus(models.TextChoices):
    PENDING = "pending", _("未解密")
    DECRYPTED = "decrypted", _("已解密")
    FAILED = "failed", _("解密失败")


class KeySource(models.TextChoices):
    BIDDER = "bidder", _("投标人密钥")
    OPENING = "opening", _("开标密钥")


class Bid(models.Model):
    """A bid completely received before the deadline. At most one is current per lot and bidder.

    The id is random, not a sequence: a bidder reading its own bid's number
    must learn nothing about how many others have bid (EB 21, EB 27).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="bids")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="bids")
    upload = models.OneToOneField(Upload, on_delete=models.PROTECT, related_name="bid")
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    size = models.BigIntegerField(_("大小（字节）"))
    sha256 = models.CharField(_("密文 SHA-256"), max_length=64)
    # SHA-256 of MAGIC..HMAC and of the payload: what the signature covers, checked again at decryption.
    header_sha256 = models.CharField(max_length=64)
    payload_sha256 = models.CharField(max_length=64)
    bidder_fingerprint = models.CharField(_("投标人加密公钥指纹"), max_length=64)
    signing_fingerprint = models.CharField(_("投标人签名公钥指纹"), max_length=64)
    opening_fingerprint = models.CharField(_("开标公钥指纹"), max_length=64)
    received_at = models.DateTimeField(_("接收时间"), db_index=True)
    status = models.CharField(
        _("状态"), max_length=12, choices=BidStatus.choices, default=BidStatus.CURRENT
    )
    replaces = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="replaced_by"
    )
    withdrawn_at = models.DateTimeField(_("撤回时间"), null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    receipt_no = models.CharField(_("回执编号"), max_length=60, unique=True)
    # The signed receipt exactly as issued (UTF-8 JSON): downloaded again byte for byte.
    receipt = models.TextField(_("回执"))
    audit_seq = models.BigIntegerField(_("审计序号"))
    ciphertext_deleted_at = models.DateTimeField(null=True, blank=True)

    decryption_status = models.CharField(
        _("解密状态"),
        max_length=12,
        choices=DecryptionStatus.choices,
        default=DecryptionStatus.PENDING,
    )
    decrypted_at = models.DateTimeField(_("解密时间"), null=True, blank=True)
    decrypted_with = models.CharField(
        _("解密密钥"), max_length=10, choices=KeySource.choices, blank=True
    )
    decrypted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decryption_error_code = models.CharField(max_length=60, blank=True)
    decryption_error_message = models.TextField(blank=True)
    # The sealed summary the opening reads out (唱标), known only after decryption.
    price = models.DecimalField(
        _("投标报价（元）"), max_digits=16, decimal_places=2, null=True, blank=True
    )
    duration_days = models.PositiveIntegerField(_("工期（日历天）"), null=True, blank=True)
    quality = models.CharField(_("质量承诺"), max_length=200, blank=True)
    summary_fields = models.JSONField(_("其他唱标内容"), default=dict, blank=True)
    # The 32-byte file key, kept once the bid is decrypted (after the opening time, when the
    # bid is no longer sealed from the platform) so that its files are read from the
    # ciphertext instead of from a second, unencrypted copy. Before that, nothing key-like
    # is stored: the constraint below ties it to the decrypted state (docs/bidding.md).
    file_key = models.BinaryField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("投标文件")
        verbose_name_plural = _("投标文件")
        ordering = ["received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["lot", "organisation"],
                condition=models.Q(status="current"),
                name="one_current_bid_per_lot_and_bidder",
            ),
            models.CheckConstraint(
                condition=models.Q(file_key__isnull=True) | models.Q(decryption_status="decrypted"),
                name="file_key_only_once_decrypted",
            ),
        ]

    def __str__(self) -> str:
        return self.receipt_no

    def audit_scope(self) -> tuple[int | None, int | None]:
        return self.lot.tender_id, self.lot_id


class BidFile(models.Model):
    """One file of a decrypted bid, as the bidder named it in the sealed manifest.

    Its bytes are not stored apart: they are plaintext bytes [offset, offset +
    size) of the bid, read with ``bidding.storage.open_bid_file``; only their
    SHA-256 is kept.
    """

    bid = models.ForeignKey(Bid, on_delete=models.CASCADE, related_name="files")
    index = models.PositiveIntegerField()
    name = models.CharField(_("文件名"), max_length=255)
    size = models.BigIntegerField(_("大小（字节）"))
    media_type = models.CharField(_("类型"), max_length=100, blank=True)
    # Where the file begins in the bid's plaintext (L || MANIFEST || files).
    offset = models.BigIntegerField()
    # SHA-256 of the file's plaintext, computed at decryption from the bytes that verified:
    # the same file in the bids of different organisations is a collusion signal
    # (docs/collusion.md). Empty for a bid decrypted before the digests were kept.
    sha256 = models.CharField(_("明文 SHA-256"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("投标文件内容")
        verbose_name_plural = _("投标文件内容")
        ordering = ["bid_id", "index"]
        constraints = [
            models.UniqueConstraint(fields=["bid", "index"], name="unique_bid_file_index")
        ]

    def __str__(self) -> str:
        return self.name


# --- bid security (投标保证金): payments, refunds, forfeiture, the contract -------------------------
#
# One security per bidder organisation per lot: it secures whichever bid the organisation
# has on the lot, so a replaced bid keeps it (bidding.security, docs/bid-security.md). What
# is due back, and by when, is worked out from the lot, the bids and the contract when it is
# read (bidding.security_selectors); only what people decided or did is stored here.


class BidSecurity(models.Model):
    """The bid security of one bidder organisation on one lot, with its payment reference.

    ``reference`` is what the bidder writes in the bank transfer's 附言; it is
    derived from the lot and the organisation (``bidding.security.security_reference``),
    so a bidder sees it before anything is stored. The row appears with the
    first payment. ``amount_due`` is the lot's security when that happened
    (a lot's security cannot change once the tender is published).
    """

    lot = models.ForeignKey(Lot, verbose_name=_("标段"), on_delete=models.PROTECT, related_name="securities")
    organisation = models.ForeignKey(
        Organisation, verbose_name=_("投标人"), on_delete=models.PROTECT, related_name="bid_securities"
    )
    reference = models.CharField(_("付款参考号"), max_length=24, unique=True)
    amount_due = models.DecimalField(_("应缴金额（元）"), max_digits=14, decimal_places=2)
    created_at = models.DateTimeField(_("登记时间"))
    # The decision to keep (没收) the security of a bid revoked at the opening (EB 31, TR 35).
    forfeited_at = models.DateTimeField(_("没收决定时间"), null=True, blank=True)
    forfeited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    forfeit_reason = models.TextField(_("没收理由"), blank=True)

    class Meta:
        verbose_name = _("投标保证金")
        verbose_name_plural = _("投标保证金")
        ordering = ["lot_id", "organisation_id"]
        constraints = [
            models.UniqueConstraint(fields=["lot", "organisation"], name="one_security_per_lot_and_bidder"),
            models.CheckConstraint(condition=models.Q(amount_due__gte=0), name="security_amount_due_not_negative"),
        ]

    def __str__(self) -> str:
        return self.reference

    def audit_scope(self) -> tuple[int | None, int | None]:
        return self.lot.tender_id, self.lot_id

    @property
    def is_forfeited(self) -> bool:
        return self.forfeited_at is not None


class PaymentSource(models.TextChoices):
    MANUAL = "manual", _("手工登记")
    STATEMENT = "statement", _("银行流水导入")


class SecurityStatement(models.Model):
    """One imported bank statement (交易明细) that recorded at least one payment."""

    file_name = models.CharField(_("文件名"), max_length=255)
    sha256 = models.CharField(_("文件 SHA-256"), max_length=64)
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    imported_at = models.DateTimeField(_("导入时间"))
    rows = models.PositiveIntegerField(_("数据行数"))
    recorded = models.PositiveIntegerField(_("入账笔数"))
    # The import report, row by row (bidding.security.StatementReport.as_json).
    report = models.JSONField(_("导入报告"), default=dict)

    class Meta:
        verbose_name = _("银行流水导入")
        verbose_name_plural = _("银行流水导入")
        ordering = ["-imported_at", "-id"]

    def __str__(self) -> str:
        return self.file_name


class SecurityPayment(models.Model):
    """Money received for a security: one bank transfer, as the finance role or a statement recorded it."""

    security = models.ForeignKey(BidSecurity, on_delete=models.PROTECT, related_name="payments")
    amount = models.DecimalField(_("金额（元）"), max_digits=14, decimal_places=2)
    paid_on = models.DateField(_("到账日期"))
    payer_name = models.CharField(_("付款人户名"), max_length=200)
    payer_account = models.CharField(_("付款人账号"), max_length=40)
    payer_bank = models.CharField(_("付款人开户行"), max_length=200)
    memo = models.CharField(_("摘要/附言"), max_length=300, blank=True)
    bank_serial = models.CharField(_("交易流水号"), max_length=64, blank=True)
    source = models.CharField(_("来源"), max_length=10, choices=PaymentSource.choices)
    statement = models.ForeignKey(
        SecurityStatement, on_delete=models.PROTECT, null=True, blank=True, related_name="payments"
    )
    # What makes importing the same statement twice record nothing new: the bank's serial
    # number when there is one, else the row's content (bidding.security, "row keys").
    row_key = models.CharField(max_length=64, unique=True, null=True, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(_("登记时间"))

    class Meta:
        verbose_name = _("保证金缴款")
        verbose_name_plural = _("保证金缴款")
        ordering = ["security_id", "paid_on", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="security_payment_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.security_id} {self.amount} {self.paid_on}"

    def audit_scope(self) -> tuple[int | None, int | None]:
        return self.security.audit_scope()


class RefundBatch(models.Model):
    """A batch file for online banking (网银批量退付): the refunds it holds are not offered again."""

    number = models.CharField(_("批次号"), max_length=30, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("生成时间"))
    count = models.PositiveIntegerField(_("笔数"))
    total = models.DecimalField(_("合计金额（元）"), max_digits=16, decimal_places=2)

    class Meta:
        verbose_name = _("保证金退付批次")
        verbose_name_plural = _("保证金退付批次")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.number


class RefundStatus(models.TextChoices):
    IN_BATCH = "in_batch", _("退付中")
    PAID = "paid", _("已退还")
    # Taken out of its batch unpaid (the bank refused the file): the payment is due again.
    RELEASED = "released", _("已撤出批次")


class SecurityRefund(models.Model):
    """The refund of one payment, back to the account it came from, once it is in a batch or paid.

    The payee is copied from the payment when the refund is made, so a batch
    file read again is the file that was sent. At most one refund of a
    payment is in a batch or paid (``one_live_refund_per_payment``); released
    ones stay as history.
    """

    payment = models.ForeignKey(SecurityPayment, on_delete=models.PROTECT, related_name="refunds")
    batch = models.ForeignKey(RefundBatch, on_delete=models.PROTECT, null=True, blank=True, related_name="refunds")
    status = models.CharField(_("状态"), max_length=10, choices=RefundStatus.choices)
    amount = models.DecimalField(_("退还金额（元）"), max_digits=14, decimal_places=2)
    payee_name = models.CharField(_("收款人户名"), max_length=200)
    payee_account = models.CharField(_("收款人账号"), max_length=40)
    payee_bank = models.CharField(_("收款人开户行"), max_length=200)
    purpose = models.CharField(_("用途"), max_length=60)
    rule = models.CharField(_("退还依据"), max_length=20)
    due_on = models.DateField(_("应退日期"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("生成时间"))
    paid_on = models.DateField(_("退付日期"), null=True, blank=True)
    bank_reference = models.CharField(_("银行交易参考号"), max_length=64, blank=True)
    paid_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    paid_recorded_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("保证金退还")
        verbose_name_plural = _("保证金退还")
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["payment"],
                condition=models.Q(status__in=["in_batch", "paid"]),
                name="one_live_refund_per_payment",
            ),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="security_refund_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.payment_id} {self.amount} {self.status}"

    def audit_scope(self) -> tuple[int | None, int | None]:
        return self.payment.security.audit_scope()


class LotContract(models.Model):
    """The contract signed for an awarded lot, as its agent recorded it: the date starts TR 57's five days."""

    lot = models.OneToOneField(Lot, verbose_name=_("标段"), on_delete=models.PROTECT, related_name="contract")
    signed_on = models.DateField(_("合同签订日期"))
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(_("登记时间"))

    class Meta:
        verbose_name = _("合同签订")
        verbose_name_plural = _("合同签订")

    def __str__(self) -> str:
        return f"{self.lot_id} {self.signed_on}"

    def audit_scope(self) -> tuple[int | None, int | None]:
        return self.lot.tender_id, self.lot_id
