"""The opening key of a lot and the custodians who each keep a share of it (docs/opening-keys.md).

Nothing here lets the platform read a bid before the opening: the private
key is stored only sealed under a key encryption key (KEK) that exists
nowhere but split among the custodians, each share encrypted to its
custodian organisation's public key. Only after the opening time, once
enough custodians have submitted their shares, does ``private_key`` hold the
rebuilt key in the clear — by then the bids are opened anyway.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation, OrganisationKey
from tendering.models import Lot


class OpeningKey(models.Model):
    lot = models.OneToOneField(
        Lot, verbose_name=_("标段"), on_delete=models.PROTECT, related_name="opening_key"
    )
    algorithm = models.CharField(_("算法"), max_length=40)
    public_key = models.BinaryField(_("开标公钥（SPKI DER）"))
    fingerprint = models.CharField(_("开标公钥指纹"), max_length=64, unique=True)
    # nonce || AES-256-GCM(KEK, PKCS#8 DER, aad = lot id + fingerprint) || tag
    sealed_private_key = models.BinaryField(_("加密保存的开标私钥"))
    threshold = models.PositiveSmallIntegerField(_("门限"))
    created_at = models.DateTimeField(_("生成时间"))
    rebuilt_at = models.DateTimeField(_("重建时间"), null=True, blank=True)
    # PKCS#8 DER, set only by opening_key_rebuild, never before the opening time.
    private_key = models.BinaryField(_("重建的开标私钥"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("开标密钥")
        verbose_name_plural = _("开标密钥")

    def __str__(self) -> str:
        return f"{self.lot} · {self.fingerprint[:16]}"

    def audit_scope(self) -> tuple[int | None, int | None]:
        return self.lot.tender_id, self.lot_id

    @property
    def is_rebuilt(self) -> bool:
        return self.rebuilt_at is not None


class Custodian(models.Model):
    """One custodian organisation of one opening key, and its share (encrypted to it)."""

    opening_key = models.ForeignKey(OpeningKey, on_delete=models.CASCADE, related_name="custodians")
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("保管单位"),
        on_delete=models.PROTECT,
        related_name="custodianships",
    )
    x = models.PositiveSmallIntegerField(_("份额序号"))
    # The organisation's encryption key the share was encrypted to, at publication:
    # the custodian needs this very key even if it has rotated since.
    key = models.ForeignKey(
        OrganisationKey, verbose_name=_("保管单位公钥"), on_delete=models.PROTECT, related_name="+"
    )
    encrypted_share = models.BinaryField(_("加密的密钥份额"))
    commitment_salt = models.BinaryField()
    commitment = models.CharField(_("份额承诺值"), max_length=64)
    submitted_at = models.DateTimeField(_("提交时间"), null=True, blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # The share in the clear, held only from its submission (after the opening
    # time) until the key is rebuilt, then wiped.
    submitted_share = models.BinaryField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("开标密钥保管单位")
        verbose_name_plural = _("开标密钥保管单位")
        ordering = ["opening_key_id", "x"]
        constraints = [
            models.UniqueConstraint(
                fields=["opening_key", "organisation"], name="one_share_per_custodian"
            ),
            models.UniqueConstraint(fields=["opening_key", "x"], name="unique_share_x"),
        ]

    def __str__(self) -> str:
        return f"{self.organisation} · {self.opening_key}"

    def audit_scope(self) -> tuple[int | None, int | None]:
        return self.opening_key.audit_scope()

    @property
    def has_submitted(self) -> bool:
        return self.submitted_at is not None


# --- the opening room (不见面开标) -------------------------------------------------------------


class RoomStage(models.TextChoices):
    WAITING = "waiting", _("等待开标")
    DECRYPTING = "decrypting", _("解密中")
    SETTLING = "settling", _("处理未解密的投标文件")
    READING = "reading", _("唱标中")
    CONFIRMING = "confirming", _("确认中")
    CLOSED = "closed", _("已结束")
    FAILED = "failed", _("流标")


class Room(models.Model):
    """The live opening of one lot: its stage, deadlines, event counter and, once closed, its record.

    ``last_seq`` is the per-room event counter: an event takes the next number
    under this row's lock (``opening.room_services``), so every participant,
    on whichever server process, sees the same events in the same order.
    """

    lot = models.OneToOneField(Lot, verbose_name=_("标段"), on_delete=models.PROTECT, related_name="room")
    stage = models.CharField(
        _("阶段"), max_length=12, choices=RoomStage.choices, default=RoomStage.WAITING
    )
    last_seq = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(_("创建时间"))
    opened_at = models.DateTimeField(_("开标时间"), null=True, blank=True)
    decryption_deadline = models.DateTimeField(_("解密截止时间"), null=True, blank=True)
    reading_started_at = models.DateTimeField(_("唱标开始时间"), null=True, blank=True)
    confirmation_deadline = models.DateTimeField(_("确认截止时间"), null=True, blank=True)
    silent_confirmed_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(_("结束时间"), null=True, blank=True)
    paused_at = models.DateTimeField(_("暂停时间"), null=True, blank=True)
    reading_digest = models.CharField(max_length=64, blank=True)
    # The signed opening record (EB 32, EB 40), published once the room is closed.
    record_json = models.TextField(blank=True)
    record_pdf = models.BinaryField(null=True, blank=True, editable=False)
    record_sha256 = models.CharField(max_length=64, blank=True)
    audit_from = models.BigIntegerField(null=True, blank=True)
    audit_to = models.BigIntegerField(null=True, blank=True)
    chain_hash = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name = _("开标室")
        verbose_name_plural = _("开标室")
        indexes = [
            models.Index(fields=["stage", "decryption_deadline"]),
            models.Index(fields=["stage", "confirmation_deadline"]),
        ]

    def __str__(self) -> str:
        return str(self.lot)

    def audit_scope(self) -> tuple[int | None, int | None]:
        return self.lot.tender_id, self.lot_id

    @property
    def is_paused(self) -> bool:
        return self.paused_at is not None

    @property
    def is_over(self) -> bool:
        return self.stage in (RoomStage.CLOSED, RoomStage.FAILED)


class RoomEvent(models.Model):
    """One event of a room, numbered, stored as the exact text every participant receives.

    The text is encoded once, when the event is made, and fanned out as is
    (never re-encoded per client); a client that reconnects is sent the events
    it missed from here, in ``seq`` order.
    """

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="events")
    seq = models.BigIntegerField()
    kind = models.CharField(max_length=30)
    text = models.TextField()
    created_at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    audit_seq = models.BigIntegerField()

    class Meta:
        verbose_name = _("开标室事件")
        verbose_name_plural = _("开标室事件")
        ordering = ["room_id", "seq"]
        constraints = [models.UniqueConstraint(fields=["room", "seq"], name="unique_room_event_seq")]

    def __str__(self) -> str:
        return f"{self.room_id}#{self.seq} {self.kind}"


class ParticipantRole(models.TextChoices):
    HOST = "host", _("主持人")
    BIDDER = "bidder", _("投标人")
    SUPERVISOR = "supervisor", _("监督人员")
    TENDERER = "tenderer", _("招标人代表")
    OBSERVER = "observer", _("平台观察员")


class Attendance(models.Model):
    """A participant's sign-in (签到)."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="attendance")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    role = models.CharField(_("身份"), max_length=12, choices=ParticipantRole.choices)
    signed_in_at = models.DateTimeField(_("签到时间"))

    class Meta:
        verbose_name = _("签到")
        verbose_name_plural = _("签到")
        ordering = ["room_id", "signed_in_at"]
        constraints = [
            models.UniqueConstraint(fields=["room", "user"], name="one_sign_in_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.room_id} · {self.user_id}"


class BidOutcome(models.TextChoices):
    PENDING = "pending", _("待解密")
    DECRYPTED = "decrypted", _("已解密")
    AWAITING_CUSTODIANS = "awaiting_custodians", _("等待保管单位解密")
    REVOKED = "revoked", _("撤销")
    WITHDRAWN = "withdrawn", _("撤回")


class BidCause(models.TextChoices):
    BIDDER_FAULT = "bidder_fault", _("投标人原因")
    CUSTODIANS = "custodians", _("非投标人原因，由保管单位解密")
    OTHER_FAULT = "other_fault", _("非投标人原因")


class RoomBid(models.Model):
    """A bid announced at the opening: its decryption outcome, reading and confirmation."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="bids")
    bid = models.OneToOneField("bidding.Bid", on_delete=models.PROTECT, related_name="room_entry")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveIntegerField(_("唱标顺序"))
    outcome = models.CharField(
        _("解密结果"), max_length=20, choices=BidOutcome.choices, default=BidOutcome.PENDING
    )
    # Set while the server verifies the bid with a key handed in before the window ended.
    decrypting_since = models.DateTimeField(null=True, blank=True)
    cause = models.CharField(_("未解密原因"), max_length=20, choices=BidCause.choices, blank=True)
    note = models.CharField(_("说明"), max_length=500, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    settled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    read_at = models.DateTimeField(_("唱标时间"), null=True, blank=True)
    invalid = models.BooleanField(_("报价无效"), default=False)
    invalid_reason = models.CharField(max_length=200, blank=True)
    confirmed_at = models.DateTimeField(_("确认时间"), null=True, blank=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    confirmed_silently = models.BooleanField(_("视为确认"), default=False)
    # DER ECDSA P-256 over the confirmation text (room_services.confirmation_text).
    confirmation_signature = models.BinaryField(null=True, blank=True)

    class Meta:
        verbose_name = _("开标投标文件")
        verbose_name_plural = _("开标投标文件")
        ordering = ["room_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["room", "position"], name="unique_room_bid_position"),
            models.UniqueConstraint(fields=["room", "organisation"], name="one_room_bid_per_bidder"),
        ]

    def __str__(self) -> str:
        return f"{self.room_id}#{self.position}"

    @property
    def is_settled(self) -> bool:
        return self.outcome in (BidOutcome.DECRYPTED, BidOutcome.REVOKED, BidOutcome.WITHDRAWN)


class Objection(models.Model):
    """An objection (异议) raised by a bidder in the room and the host's answer (TR 44, EB 39)."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="objections")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    raised_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField(_("异议内容"))
    raised_at = models.DateTimeField(_("提出时间"))
    answer = models.TextField(_("答复"), blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    answered_at = models.DateTimeField(_("答复时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("开标异议")
        verbose_name_plural = _("开标异议")
        ordering = ["room_id", "raised_at", "id"]

    def __str__(self) -> str:
        return f"{self.room_id} · {self.pk}"


class Pause(models.Model):
    """A supervisor's pause of the ceremony, with its reasons."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="pauses")
    paused_at = models.DateTimeField()
    paused_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(_("暂停原因"), max_length=500)
    resumed_at = models.DateTimeField(null=True, blank=True)
    resumed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resume_reason = models.CharField(_("恢复原因"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("开标暂停")
        verbose_name_plural = _("开标暂停")
        ordering = ["room_id", "paused_at"]

    def __str__(self) -> str:
        return f"{self.room_id} · {self.paused_at}"
