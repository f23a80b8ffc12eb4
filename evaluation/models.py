"""Remote evaluation (远程异地评标): the scheme a lot is evaluated by, the committee's work, the report.

State changes happen only in ``evaluation.services``; who may see what is
decided in ``evaluation.selectors``. Members are identified by their seat
(专家1号, 专家2号, …) everywhere a bidder, an agent or a tenderer could read
it — pages, the report, audit payloads — and by name only to supervisors
and platform administrators until the draw is revealed with the result
(ER 8; docs/evaluation.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation
from bidding.models import Bid
from experts.models import DrawRequest, DrawSelection, Expert
from tendering.models import Lot

# --- the scheme (评标办法), configured by the agent, frozen from the bid deadline on ----------------


class BenchmarkMethod(models.TextChoices):
    LOWEST = "lowest", _("有效投标报价的最低价")
    MEAN = "mean", _("有效投标报价的算术平均值")


class EvaluationScheme(models.Model):
    """How a lot is evaluated: the price formula, the scored items, the committee's time.

    One per lot. The agent of the lot's agency edits it until the bid
    deadline; from then on it is frozen, because the bidders bid against it
    (``evaluation.services.scheme_save``). A lot without one is evaluated by
    the default scheme (``evaluation.services.default_scheme_input``), saved
    when the evaluation starts.

    The price part applies to comprehensive scoring (综合评估法): a price
    equal to the benchmark scores ``price_points``; each percent above it
    costs ``deduct_above`` points, each percent below ``deduct_below``; never
    below 0 (``evaluation.scoring``). The price points and the items' maxima
    add up to 100: they are the weights of price, technical and business.
    """

    lot = models.OneToOneField(
        Lot, verbose_name=_("标段"), on_delete=models.PROTECT, related_name="evaluation_scheme"
    )
    benchmark_method = models.CharField(
        _("评标基准价"), max_length=10, choices=BenchmarkMethod.choices, default=BenchmarkMethod.MEAN
    )
    drop_extremes = models.BooleanField(_("去掉一个最高报价和一个最低报价"), default=True)
    drop_extremes_min_bids = models.PositiveSmallIntegerField(_("去掉最高最低报价的最少有效投标数"), default=5)
    price_points = models.DecimalField(_("价格分满分"), max_digits=5, decimal_places=2)
    deduct_above = models.DecimalField(_("高于基准价每1%扣分"), max_digits=5, decimal_places=2)
    deduct_below = models.DecimalField(_("低于基准价每1%扣分"), max_digits=5, decimal_places=2)
    candidates = models.PositiveSmallIntegerField(_("推荐中标候选人数"), default=3)
    duration_minutes = models.PositiveIntegerField(_("评标时限（分钟）"), default=480)
    extension_minutes = models.PositiveIntegerField(_("每次延长评标时间（分钟）"), default=240)
    created_at = models.DateTimeField(_("创建时间"))
    updated_at = models.DateTimeField(_("更新时间"))
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("评标办法")
        verbose_name_plural = _("评标办法")

    def __str__(self) -> str:
        return f"{self.lot} · {self.get_benchmark_method_display()}"

    def audit_scope(self) -> tuple[int | None, int | None]:
        return self.lot.tender_id, self.lot_id


class ItemKind(models.TextChoices):
    TECHNICAL = "technical", _("技术部分")
    BUSINESS = "business", _("商务部分")


class SchemeItem(models.Model):
    """One scored item (评分因素) of comprehensive scoring: each member scores it within [min, max]."""

    scheme = models.ForeignKey(EvaluationScheme, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveSmallIntegerField(_("序号"))
    kind = models.CharField(_("类别"), max_length=10, choices=ItemKind.choices)
    name = models.CharField(_("评分因素"), max_length=100)
    description = models.CharField(_("评分标准"), max_length=500, blank=True)
    min_score = models.DecimalField(_("最低分"), max_digits=5, decimal_places=2)
    max_score = models.DecimalField(_("最高分"), max_digits=5, decimal_places=2)

    class Meta:
        verbose_name = _("评分因素")
        verbose_name_plural = _("评分因素")
        ordering = ["scheme_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["scheme", "position"], name="unique_item_position"),
            models.CheckConstraint(
                condition=models.Q(min_score__lte=models.F("max_score")), name="item_min_le_max"
            ),
        ]

    def __str__(self) -> str:
        return self.name


# --- the evaluation --------------------------------------------------------------------------------


class EvaluationStatus(models.TextChoices):
    ELECTING = "electing", _("推选评标委员会组长")
    SCORING = "scoring", _("独立评审")
    REVIEWING = "reviewing", _("汇总复核")
    SIGNING = "signing", _("签署评标报告")
    FINAL = "final", _("评标报告已生效")


class Evaluation(models.Model):
    """The committee's work on one lot, from the start to the signed report.

    ``scheme_json`` is the scheme as frozen when the evaluation started (its
    canonical JSON, ``scheme_sha256`` its digest, both in the audit chain):
    the scores are read against it, whatever happens to rows later.
    """

    lot = models.OneToOneField(Lot, verbose_name=_("标段"), on_delete=models.PROTECT, related_name="evaluation")
    draw_request = models.ForeignKey(DrawRequest, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(
        _("阶段"), max_length=12, choices=EvaluationStatus.choices, default=EvaluationStatus.ELECTING
    )
    method = models.CharField(_("评标办法"), max_length=20)
    scheme_json = models.TextField()
    scheme_sha256 = models.CharField(max_length=64)
    started_at = models.DateTimeField(_("评标开始时间"))
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    deadline = models.DateTimeField(_("评标截止时间"))
    election_round = models.PositiveSmallIntegerField(default=1)
    chair = models.ForeignKey(
        "Member", verbose_name=_("组长"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    chair_elected_at = models.DateTimeField(null=True, blank=True)
    all_submitted_at = models.DateTimeField(null=True, blank=True)
    extension_round = models.PositiveSmallIntegerField(default=1)
    final_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("评标")
        verbose_name_plural = _("评标")

    def __str__(self) -> str:
        return f"{self.lot} · {self.get_status_display()}"

    def audit_scope(self) -> tuple[int | None, int | None]:
        return self.lot.tender_id, self.lot_id

    def scheme(self) -> dict[str, Any]:
        """The frozen scheme (``evaluation.services.scheme_document``)."""
        return json.loads(self.scheme_json)


class Member(models.Model):
    """A seat on the committee: one expert confirmed by the lot's draw, with their account.

    Seats are numbered by draw position (专家1号 is the first confirmed). The
    seat, never the name, is what pages and records show outside the
    supervisors' view.
    """

    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="members")
    seat = models.PositiveSmallIntegerField(_("席位"))
    selection = models.OneToOneField(DrawSelection, on_delete=models.PROTECT, related_name="+")
    expert = models.ForeignKey(Expert, on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    signed_in_at = models.DateTimeField(_("签到时间"), null=True, blank=True)
    submitted_at = models.DateTimeField(_("提交评审意见时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("评标委员会成员")
        verbose_name_plural = _("评标委员会成员")
        ordering = ["evaluation_id", "seat"]
        constraints = [
            models.UniqueConstraint(fields=["evaluation", "seat"], name="unique_member_seat"),
            models.UniqueConstraint(fields=["evaluation", "user"], name="unique_member_user"),
        ]

    def __str__(self) -> str:
        return f"{self.evaluation_id} · {self.label}"

    @property
    def label(self) -> str:
        return str(_("专家%(seat)s号") % {"seat": self.seat})


class ChairVote(models.Model):
    """One member's vote for the chair in one round."""

    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="votes")
    round = models.PositiveSmallIntegerField()
    voter = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+")
    candidate = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+")
    cast_at = models.DateTimeField()

    class Meta:
        ordering = ["evaluation_id", "round", "cast_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["evaluation", "round", "voter"], name="one_vote_per_round"),
        ]

    def __str__(self) -> str:
        return f"{self.evaluation_id} r{self.round}"


class Rejection(models.Model):
    """A bid rejected (否决投标) with its reason: by the committee (the chair records it) or automatically.

    A bid flagged invalid at the price reading (above the maximum price, TR
    51(5)) is rejected automatically when the evaluation starts and cannot be
    reinstated. A rejection the chair recorded may be withdrawn
    (``reinstated_at``) while the rules allow (docs/evaluation.md).
    """

    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="rejections")
    bid = models.ForeignKey(Bid, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(_("否决理由"))
    automatic = models.BooleanField(default=False)
    rejected_by = models.ForeignKey(Member, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    rejected_at = models.DateTimeField()
    reinstated_at = models.DateTimeField(null=True, blank=True)
    reinstated_by = models.ForeignKey(Member, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["evaluation_id", "rejected_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["evaluation", "bid"],
                condition=models.Q(reinstated_at__isnull=True),
                name="one_standing_rejection_per_bid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.evaluation_id} · {self.bid_id}"


class ItemScore(models.Model):
    """One member's score of one item for one bid (comprehensive scoring)."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="scores")
    bid = models.ForeignKey(Bid, on_delete=models.PROTECT, related_name="+")
    item = models.ForeignKey(SchemeItem, on_delete=models.PROTECT, related_name="+")
    value = models.DecimalField(_("得分"), max_digits=6, decimal_places=2)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["member", "bid", "item"], name="one_score_per_item"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} · {self.bid_id} · {self.item_id}"


class PriceAdjustment(models.Model):
    """One member's price adjustment (价格调整) of one bid, with the reason (lowest evaluated price)."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="adjustments")
    bid = models.ForeignKey(Bid, on_delete=models.PROTECT, related_name="+")
    amount = models.DecimalField(_("调整金额（元）"), max_digits=16, decimal_places=2)
    reason = models.CharField(_("调整理由"), max_length=500, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["member", "bid"], name="one_adjustment_per_bid"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} · {self.bid_id}"


class ExtensionRequest(models.Model):
    """A member finds the time too short (TR 48): one request per member per round."""

    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="extension_requests")
    round = models.PositiveSmallIntegerField()
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(_("理由"), max_length=500)
    requested_at = models.DateTimeField()

    class Meta:
        ordering = ["evaluation_id", "round", "requested_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["evaluation", "round", "member"], name="one_request_per_round"),
        ]

    def __str__(self) -> str:
        return f"{self.evaluation_id} r{self.round} · {self.member_id}"


class Extension(models.Model):
    """An extension granted because more than a third of the members asked (TR 48)."""

    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="extensions")
    round = models.PositiveSmallIntegerField()
    granted_at = models.DateTimeField()
    old_deadline = models.DateTimeField()
    new_deadline = models.DateTimeField()
    requests = models.PositiveSmallIntegerField()
    members = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["evaluation_id", "round"]
        constraints = [
            models.UniqueConstraint(fields=["evaluation", "round"], name="one_extension_per_round"),
        ]

    def __str__(self) -> str:
        return f"{self.evaluation_id} r{self.round}"


# --- signatures and the report ------------------------------------------------------------------------


class SigningKeyStatus(models.TextChoices):
    ACTIVE = "active", _("当前使用")
    RETIRED = "retired", _("已停用")


class SigningKey(models.Model):
    """An expert's ECDSA P-256 signing key (the public half; the private half never leaves the browser).

    Registered from the report page, where the browser generates the key and
    keeps the private half non-extractable in IndexedDB
    (``static/js/evaluation-keys.js``). Registering a new key retires the one
    in use; a retired key stays, so that the signatures it made still verify.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    public_key = models.BinaryField(_("签名公钥（SPKI DER）"))
    fingerprint = models.CharField(_("签名公钥指纹"), max_length=64, unique=True)
    status = models.CharField(
        _("状态"), max_length=10, choices=SigningKeyStatus.choices, default=SigningKeyStatus.ACTIVE
    )
    registered_at = models.DateTimeField(_("登记时间"))
    retired_at = models.DateTimeField(_("停用时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("评标专家签名密钥")
        verbose_name_plural = _("评标专家签名密钥")
        ordering = ["user_id", "-registered_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"], condition=models.Q(status="active"), name="one_active_signing_key_per_expert"
            ),
        ]

    def __str__(self) -> str:
        return self.fingerprint[:16]


class ReportStatus(models.TextChoices):
    SIGNING = "signing", _("待签署")
    FINAL = "final", _("已生效")
    DISCARDED = "discarded", _("已撤回")


@dataclass(frozen=True, kw_only=True)
class Candidate:
    """A ranked candidate (中标候选人) of a final report, for the publicity and award step.

    ``score``: the final score under comprehensive scoring, ``None`` under the
    lowest evaluated price method; ``evaluated_price``: the evaluated price
    under the lowest evaluated price method, the price itself under
    comprehensive scoring.
    """

    rank: int
    bid: Bid
    organisation: Organisation
    price: Decimal
    score: Decimal | None
    evaluated_price: Decimal


class EvaluationReport(models.Model):
    """The evaluation report (评标报告): a canonical JSON document every member signs.

    ``document`` is the canonical JSON (``evaluation.report.canonical``) and
    ``sha256`` its digest, which each member's signature covers. The chair
    drafts it once every member has submitted; while it waits for
    signatures the chair may withdraw it (``discarded``) and draft again.
    It is final when every member has signed: then ``candidates()`` gives
    the lot's ranked candidates (at most three, TR 53).
    """

    evaluation = models.ForeignKey(Evaluation, on_delete=models.PROTECT, related_name="reports")
    version = models.PositiveSmallIntegerField(_("版本"))
    status = models.CharField(_("状态"), max_length=10, choices=ReportStatus.choices, default=ReportStatus.SIGNING)
    document = models.TextField()
    sha256 = models.CharField(max_length=64)
    drafted_at = models.DateTimeField(_("起草时间"))
    drafted_by = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+")
    final_at = models.DateTimeField(_("生效时间"), null=True, blank=True)
    discarded_at = models.DateTimeField(null=True, blank=True)
    discard_reason = models.CharField(max_length=500, blank=True)
    pdf = models.BinaryField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("评标报告")
        verbose_name_plural = _("评标报告")
        ordering = ["evaluation_id", "version"]
        constraints = [
            models.UniqueConstraint(fields=["evaluation", "version"], name="unique_report_version"),
            models.UniqueConstraint(
                fields=["evaluation"],
                condition=~models.Q(status="discarded"),
                name="one_current_report_per_evaluation",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.evaluation_id} v{self.version}"

    def audit_scope(self) -> tuple[int | None, int | None]:
        return self.evaluation.audit_scope()

    def data(self) -> dict[str, Any]:
        return json.loads(self.document)

    @property
    def is_final(self) -> bool:
        return self.status == ReportStatus.FINAL

    def candidates(self) -> list[Candidate]:
        """The ranked candidates in rank order (at most three, TR 53), with their bids and organisations.

        Read from the signed document, so they are exactly what every member
        signed; the bids and organisations are loaded in one query.
        """
        rows = self.data()["candidates"]
        bids = {
            str(bid.pk): bid
            for bid in Bid.objects.filter(pk__in=[row["bid"] for row in rows]).select_related("organisation")
        }
        return [
            Candidate(
                rank=row["rank"],
                bid=bids[row["bid"]],
                organisation=bids[row["bid"]].organisation,
                price=Decimal(row["price"]),
                score=Decimal(row["score"]) if row["score"] is not None else None,
                evaluated_price=Decimal(row["evaluated_price"]),
            )
            for row in rows
        ]


class ReportSignature(models.Model):
    """One member's signature of one report version (ECDSA P-256, SHA-256, DER, low-s)."""

    report = models.ForeignKey(EvaluationReport, on_delete=models.CASCADE, related_name="signatures")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+")
    key = models.ForeignKey(SigningKey, on_delete=models.PROTECT, related_name="+")
    signature = models.BinaryField()
    signed_at = models.DateTimeField(_("签署时间"))

    class Meta:
        ordering = ["report_id", "member__seat"]
        constraints = [
            models.UniqueConstraint(fields=["report", "member"], name="one_signature_per_member"),
        ]

    def __str__(self) -> str:
        return f"{self.report_id} · {self.member_id}"
