"""The expert pool, draw requests, the verifiable draw and the experts' answers.

Identities are confidential until the result is published (ER 8): only
``experts.selectors`` read these tables for views, and they apply that rule.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts.models import validate_credit_code
from tendering.models import Lot
from tendering.regions import REGIONS


class Specialty(models.Model):
    """A node of the hierarchical specialty code list (专业分类), loaded from a fixture."""

    code = models.CharField(_("专业代码"), max_length=12, unique=True)
    name = models.CharField(_("专业名称"), max_length=100)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )

    class Meta:
        verbose_name = _("专业")
        verbose_name_plural = _("专业")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class ExpertTitle(models.TextChoices):
    SENIOR_FULL = "senior_full", _("正高级")
    SENIOR = "senior", _("副高级")
    INTERMEDIATE = "intermediate", _("中级")


class ExpertStatus(models.TextChoices):
    ACTIVE = "active", _("在库")
    SUSPENDED = "suspended", _("暂停")
    RETIRED = "retired", pgettext_lazy("expert status", "退出")


class Expert(models.Model):
    code = models.CharField(_("专家编号"), max_length=20, unique=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("平台账户"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="expert_profile",
    )
    name = models.CharField(_("姓名"), max_length=50)
    # Seen only by supervisors and the platform (selectors mask it for everyone else).
    id_number = models.CharField(_("身份证号码"), max_length=18, unique=True)
    mobile = models.CharField(_("手机号"), max_length=20)
    email = models.EmailField(_("电子邮箱"), blank=True)
    employer_name = models.CharField(_("工作单位"), max_length=200, blank=True)
    employer_credit_code = models.CharField(
        _("工作单位统一社会信用代码"),
        max_length=18,
        blank=True,
        db_index=True,
        validators=[validate_credit_code],
    )
    title = models.CharField(_("职称"), max_length=20, choices=ExpertTitle.choices)
    region = models.CharField(_("所在地区"), max_length=6, choices=REGIONS, db_index=True)
    status = models.CharField(
        _("状态"),
        max_length=20,
        choices=ExpertStatus.choices,
        default=ExpertStatus.ACTIVE,
        db_index=True,
    )
    specialties = models.ManyToManyField(
        Specialty, verbose_name=_("评标专业"), related_name="experts", through="ExpertSpecialty"
    )
    created_at = models.DateTimeField(_("入库时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("评标专家")
        verbose_name_plural = _("评标专家")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class ExpertSpecialty(models.Model):
    """One specialty of one expert, with a copy of the expert's columns the draw reads.

    The table is the one Django made for ``Expert.specialties`` (migration
    0005 took it over). ``code``, ``status``, ``region`` and
    ``employer_credit_code`` are the expert's, copied so that the draw's
    candidate query reads one index and never the expert table
    (``experts.selectors.eligible_pool``). Nothing in Python writes them:
    database triggers copy them on every insert and every change of the
    expert, whatever makes it (``experts.draw_copy``); the values given on
    insert are overwritten.
    """

    expert = models.ForeignKey(Expert, on_delete=models.CASCADE, related_name="+")
    specialty = models.ForeignKey(Specialty, on_delete=models.CASCADE, related_name="+")
    code = models.CharField(max_length=20, db_default="", editable=False)
    status = models.CharField(max_length=20, db_default="", editable=False)
    region = models.CharField(max_length=6, db_default="", editable=False)
    employer_credit_code = models.CharField(max_length=18, db_default="", editable=False)

    class Meta:
        db_table = "experts_expert_specialties"
        constraints = [
            # The many-to-many table's own unique pair, under the name Django gave it.
            models.UniqueConstraint(
                fields=["expert", "specialty"],
                name="experts_expert_specialties_expert_id_specialty_id_f23781bb_uniq",
            )
        ]
        indexes = [
            # The draw's scan: the candidates of a specialty, in code order,
            # with every column it reads (index-only on both databases).
            models.Index(
                fields=["specialty", "code", "expert", "status", "region", "employer_credit_code"],
                name="expert_specialty_draw",
            )
        ]

    def __str__(self) -> str:
        return f"{self.expert_id} · {self.specialty_id}"


class ConflictKind(models.TextChoices):
    RELATIVE = "relative", _("近亲属在该单位任职")
    INTEREST = "interest", _("与该单位有经济利益关系")
    OTHER = "other", _("其他利害关系")


class ExpertConflict(models.Model):
    """An organisation the expert must never evaluate for (ER 12), as the expert declared it."""

    expert = models.ForeignKey(Expert, on_delete=models.CASCADE, related_name="conflicts")
    credit_code = models.CharField(
        _("单位统一社会信用代码"), max_length=18, db_index=True, validators=[validate_credit_code]
    )
    organisation_name = models.CharField(_("单位名称"), max_length=200)
    kind = models.CharField(_("关系"), max_length=20, choices=ConflictKind.choices)
    declared_at = models.DateTimeField(_("申报时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("回避申报")
        verbose_name_plural = _("回避申报")
        constraints = [
            models.UniqueConstraint(
                fields=["expert", "credit_code"], name="unique_conflict_per_org"
            )
        ]

    def __str__(self) -> str:
        return f"{self.expert} ≠ {self.organisation_name}"


class ExpertUnavailability(models.Model):
    expert = models.ForeignKey(Expert, on_delete=models.CASCADE, related_name="unavailable")
    start = models.DateField(_("开始日期"))
    end = models.DateField(_("结束日期"))
    note = models.CharField(_("说明"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("不可参评日期")
        verbose_name_plural = _("不可参评日期")
        ordering = ["start"]
        indexes = [models.Index(fields=["start", "end"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end__gte=models.F("start")),
                name="unavailability_end_after_start",
            )
        ]

    def __str__(self) -> str:
        return f"{self.expert} {self.start}–{self.end}"


class Locality(models.TextChoices):
    ANY = "any", _("不限")
    LOCAL = "local", _("本地专家")
    REMOTE = "remote", _("异地专家")


class DrawStatus(models.TextChoices):
    PENDING = "pending", _("待监督审核")
    APPROVED = "approved", _("已批准，待抽取")
    REJECTED = "rejected", _("已驳回")
    NOTIFYING = "notifying", _("已抽取，通知确认中")
    COMPLETE = "complete", _("评标委员会已组建")
    EXHAUSTED = "exhausted", _("符合条件的专家不足")
    CANCELLED = "cancelled", _("已撤销")


class DrawRequest(models.Model):
    """An agent's request for an evaluation panel for one lot, and the draw that answers it.

    The draw's commitment (pool hash, secret hash) is fixed before the
    supervisor enters a number; the secret itself is revealed only once the
    result is published (``revealed_at``), so that anyone can then re-run
    the draw with ``python -m experts.verify_draw``.
    """

    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="draw_requests")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("申请时间"), auto_now_add=True)
    evaluation_start = models.DateTimeField(_("评标开始时间"))
    evaluation_place = models.CharField(_("评标地点"), max_length=200)
    locality = models.CharField(
        _("专家来源"), max_length=10, choices=Locality.choices, default=Locality.ANY
    )
    tenderer_representatives = models.PositiveSmallIntegerField(_("招标人代表人数"), default=0)
    response_minutes = models.PositiveSmallIntegerField(_("答复时限（分钟）"), default=30)
    status = models.CharField(
        _("状态"), max_length=20, choices=DrawStatus.choices, default=DrawStatus.PENDING
    )
    status_changed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(_("审核时间"), null=True, blank=True)
    rejection_reason = models.TextField(_("驳回理由"), blank=True)
    # The draw (filled by draw_run):
    drawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    drawn_at = models.DateTimeField(_("抽取时间"), null=True, blank=True)
    # The frozen pool itself is in ``DrawPool`` (one row per draw): tens of thousands of codes
    # that nothing but the draw, its replacements and its record needs to read.
    pool_hash = models.CharField(_("专家库哈希"), max_length=64, blank=True)
    secret_commitment = models.CharField(_("随机秘密承诺值"), max_length=64, blank=True)
    secret = models.CharField(max_length=64, blank=True)  # hex; never shown before revealed_at
    supervisor_number = models.CharField(_("监督人员输入的随机数"), max_length=32, blank=True)
    chain_head = models.CharField(_("抽取时审计链头哈希"), max_length=64, blank=True)
    seed = models.CharField(max_length=64, blank=True)  # hex; derived, shown only once revealed
    picks_made = models.PositiveIntegerField(default=0)  # how far the stream has been consumed
    revealed_at = models.DateTimeField(_("结果公布时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("专家抽取申请")
        verbose_name_plural = _("专家抽取申请")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.lot} · {self.get_status_display()}"

    def audit_scope(self) -> tuple[int | None, int | None]:
        return self.lot.tender_id, self.lot_id


class DrawItem(models.Model):
    """So many members (and reserves) of one specialty."""

    request = models.ForeignKey(DrawRequest, on_delete=models.CASCADE, related_name="items")
    specialty = models.ForeignKey(Specialty, on_delete=models.PROTECT, related_name="+")
    members = models.PositiveSmallIntegerField(_("人数"))
    reserves = models.PositiveSmallIntegerField(_("候补人数"), default=0)

    class Meta:
        ordering = ["specialty__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "specialty"], name="unique_specialty_per_draw"
            )
        ]

    def __str__(self) -> str:
        return f"{self.specialty} × {self.members}"


class ExclusionReason(models.TextChoices):
    EMPLOYER_PARTY = "employer_party", _("工作单位为招标人、代理机构或投标人")
    DECLARED_CONFLICT = "declared_conflict", _("申报了与本项目当事人的利害关系")
    NOT_ACTIVE = "not_active", _("专家状态非在库")
    UNAVAILABLE = "unavailable", _("评标日期不可参评")
    RECENT_SAME_TENDERER = "recent_same_tenderer", _("近期已为同一招标人评标")
    MONTHLY_LIMIT = "monthly_limit", _("当月参评次数已达上限")
    LOCALITY = "locality", _("不符合本地/异地要求")


class DrawPool(models.Model):
    """What one draw froze: the eligible pool it drew from, and who avoidance left out and why.

    Written once, in the draw's transaction (``services.draw_run``):

    - ``canonical``: the pool's canonical bytes (``draw.canonical_pool``,
      docs/draw.md §4) as UTF-8 text, exactly what was hashed: SHA-256 of
      it is the request's ``pool_hash``, and ``pool()`` reads it back;
    - ``excluded``: each reason (``ExclusionReason``) mapped to the sorted
      codes of the experts it excluded, ``{"employer_party": ["E0000012",
      …], …}``; an expert appears once, under the first rule that applies
      (§2). Codes, not keys: experts are never deleted (the admin refuses,
      selections protect them) and a code names the expert as the published
      pool does.

    One row rather than one per excluded expert: a "local" draw over a large
    pool excludes thousands, and writing (and on PostgreSQL checking the
    foreign keys of) a row each cost more than the draw's whole time budget
    (bench/draw.py). Apart from the request, which every page of the draw
    reads: the pool's few hundred kilobytes would be read and parsed with it.
    The supervisors' page still lists every excluded expert with the reason
    (``experts.selectors.draw_exclusions``).
    """

    request = models.OneToOneField(
        DrawRequest, on_delete=models.CASCADE, primary_key=True, related_name="frozen"
    )
    canonical = models.TextField(_("冻结的候选专家库"))
    excluded = models.JSONField(_("回避排除的专家"), default=dict)

    class Meta:
        verbose_name = _("冻结的候选专家库")
        verbose_name_plural = _("冻结的候选专家库")

    def __str__(self) -> str:
        return f"{self.request_id} · {self.excluded_count}"

    def pool(self) -> dict[str, list[str]]:
        """The frozen pool, ``{specialty code: sorted expert codes}``."""
        return json.loads(self.canonical)["pool"]

    @property
    def excluded_count(self) -> int:
        return sum(len(codes) for codes in self.excluded.values())


class SelectionStatus(models.TextChoices):
    RESERVE = "reserve", _("候补")
    NOTIFIED = "notified", _("已通知，待答复")
    CONFIRMED = "confirmed", _("已确认参加")
    DECLINED = "declined", _("已拒绝")
    NO_ANSWER = "no_answer", _("超时未答复")


class DrawSelection(models.Model):
    """One expert picked by the draw, in stream order (``position``)."""

    request = models.ForeignKey(DrawRequest, on_delete=models.CASCADE, related_name="selections")
    item = models.ForeignKey(DrawItem, on_delete=models.CASCADE, related_name="selections")
    expert = models.ForeignKey(Expert, on_delete=models.PROTECT, related_name="selections")
    position = models.PositiveIntegerField(_("抽取顺序"))
    status = models.CharField(_("状态"), max_length=20, choices=SelectionStatus.choices)
    notified_at = models.DateTimeField(null=True, blank=True)
    respond_by = models.DateTimeField(_("答复截止"), null=True, blank=True, db_index=True)
    responded_at = models.DateTimeField(null=True, blank=True)
    response_channel = models.CharField(max_length=20, blank=True)
    # Single-use answer credentials: a random token for the signed link, a short code for SMS/voice replies.
    token = models.CharField(max_length=64, unique=True)
    reply_code = models.CharField(max_length=8, db_index=True)

    class Meta:
        ordering = ["request_id", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "position"], name="unique_position_per_draw"
            ),
            models.UniqueConstraint(fields=["request", "expert"], name="unique_expert_per_draw"),
        ]

    def __str__(self) -> str:
        return f"#{self.position} {self.expert}"

    @property
    def response_channel_label(self) -> str:
        """How the expert answered, in words (``experts.responses`` records the code)."""
        labels = {
            "link": _("签名链接"),
            "sms": _("短信回复"),
            "voice": _("语音按键"),
            "timeout": _("超时视为拒绝"),
        }
        return str(labels.get(self.response_channel, self.response_channel))


class Channel(models.TextChoices):
    EMAIL = "email", _("电子邮件")
    SMS = "sms", _("短信")
    VOICE = "voice", _("语音电话")


class OutboundMessage(models.Model):
    """Every message sent to an expert, whatever the gateway: what was said, to whom, and its fate."""

    selection = models.ForeignKey(
        DrawSelection, on_delete=models.CASCADE, null=True, blank=True, related_name="messages"
    )
    channel = models.CharField(_("渠道"), max_length=10, choices=Channel.choices)
    recipient = models.CharField(_("接收方"), max_length=200)
    body = models.TextField(_("内容"))
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    gateway_reference = models.CharField(max_length=100, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} → {self.recipient}"
