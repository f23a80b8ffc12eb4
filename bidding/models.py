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
    size) of the bid, read with ``bidding.storage.open_bid_file``.
    """

    bid = models.ForeignKey(Bid, on_delete=models.CASCADE, related_name="files")
    index = models.PositiveIntegerField()
    name = models.CharField(_("文件名"), max_length=255)
    size = models.BigIntegerField(_("大小（字节）"))
    media_type = models.CharField(_("类型"), max_length=100, blank=True)
    # Where the file begins in the bid's plaintext (L || MANIFEST || files).
    offset = models.BigIntegerField()

    class Meta:
        verbose_name = _("投标文件内容")
        verbose_name_plural = _("投标文件内容")
        ordering = ["bid_id", "index"]
        constraints = [
            models.UniqueConstraint(fields=["bid", "index"], name="unique_bid_file_index")
        ]

    def __str__(self) -> str:
        return self.name
