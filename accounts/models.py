"""Organisations, users and their roles, and in-app notifications."""

from __future__ import annotations

from functools import cached_property

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts import credit_code


class OrganisationKind(models.TextChoices):
    TENDERER = "tenderer", _("招标人")
    AGENCY = "agency", _("招标代理机构")
    BIDDER = "bidder", _("投标人")
    SUPERVISOR = "supervisor", _("监督部门")
    PLATFORM = "platform", _("交易平台")


class Role(models.TextChoices):
    AGENT = "agent", _("代理机构经办人")
    TENDERER_REP = "tenderer_rep", _("招标人代表")
    BIDDER = "bidder", _("投标人")
    EXPERT = "expert", _("评标专家")
    SUPERVISOR = "supervisor", _("监督人员")
    FINANCE = "finance", _("财务人员")
    PLATFORM_ADMIN = "platform_admin", _("平台管理员")


# Which kind of organisation may hold each role. Experts and finance belong to
# the trading centre (the platform organisation); the expert's employer is a
# separate fact on the expert record.
ROLE_ORGANISATION_KINDS: dict[str, frozenset[str]] = {
    Role.AGENT: frozenset({OrganisationKind.AGENCY}),
    Role.TENDERER_REP: frozenset({OrganisationKind.TENDERER}),
    Role.BIDDER: frozenset({OrganisationKind.BIDDER}),
    Role.EXPERT: frozenset({OrganisationKind.PLATFORM}),
    Role.SUPERVISOR: frozenset({OrganisationKind.SUPERVISOR}),
    Role.FINANCE: frozenset({OrganisationKind.PLATFORM}),
    Role.PLATFORM_ADMIN: frozenset({OrganisationKind.PLATFORM}),
}

_CREDIT_CODE_MESSAGES = {
    "length": _("统一社会信用代码应为18位。"),
    "charset": _("统一社会信用代码含有不允许的字符（不使用 I、O、S、V、Z）。"),
    "authority": _("统一社会信用代码第1位（登记管理部门代码）无效。"),
    "category": _("统一社会信用代码第2位（机构类别代码）与登记管理部门不符。"),
    "division": _("统一社会信用代码第3至8位应为行政区划代码（6位数字）。"),
    "check": _("统一社会信用代码校验位错误，请核对后重新输入。"),
}


def validate_credit_code(value: str) -> None:
    try:
        credit_code.validate(value)
    except credit_code.CreditCodeError as exc:
        raise ValidationError(_CREDIT_CODE_MESSAGES[exc.reason], code=f"credit_code.{exc.reason}") from None


class Organisation(models.Model):
    name = models.CharField(_("名称"), max_length=200, unique=True)
    credit_code = models.CharField(
        _("统一社会信用代码"), max_length=18, unique=True, validators=[validate_credit_code]
    )
    kind = models.CharField(_("类型"), max_length=20, choices=OrganisationKind.choices)
    region = models.CharField(_("所在地区"), max_length=6, blank=True)
    address = models.CharField(_("地址"), max_length=200, blank=True)
    contact_name = models.CharField(_("联系人"), max_length=50, blank=True)
    contact_phone = models.CharField(_("联系电话"), max_length=30, blank=True)
    is_active = models.BooleanField(_("启用"), default=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("组织")
        verbose_name_plural = _("组织")
        ordering = ["kind", "name"]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("所属组织"),
        on_delete=models.PROTECT,
        related_name="users",
        null=True,
        blank=True,
    )
    full_name = models.CharField(_("姓名"), max_length=50, blank=True)
    mobile = models.CharField(_("手机号"), max_length=20, blank=True)

    class Meta:
        verbose_name = _("用户")
        verbose_name_plural = _("用户")

    def __str__(self) -> str:
        return self.full_name or self.username

    @cached_property
    def roles(self) -> frozenset[str]:
        if not self.pk:
            return frozenset()
        return frozenset(self.role_grants.values_list("role", flat=True))

    def has_role(self, *roles: str) -> bool:
        return self.is_active and bool(self.roles.intersection(roles))

    @property
    def display_name(self) -> str:
        return self.full_name or self.username


class RoleGrant(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="role_grants")
    role = models.CharField(_("角色"), max_length=20, choices=Role.choices)
    granted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("角色授予")
        verbose_name_plural = _("角色授予")
        constraints = [models.UniqueConstraint(fields=["user", "role"], name="unique_role_per_user")]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()}"


class Notification(models.Model):
    """An in-app message to one user (站内消息)."""

    recipient = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    title = models.CharField(_("标题"), max_length=200)
    body = models.TextField(_("内容"), blank=True)
    url = models.CharField(_("链接"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("时间"), auto_now_add=True)
    read_at = models.DateTimeField(_("已读时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("站内消息")
        verbose_name_plural = _("站内消息")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["recipient", "read_at"])]

    def __str__(self) -> str:
        return self.title


class OrganisationKeyStatus(models.TextChoices):
    ACTIVE = "active", _("当前使用")
    RETIRED = "retired", _("已停用")


class OrganisationKey(models.Model):
    """An organisation's registered public keys: one for sealing to it, one for its signatures.

    The private halves never reach the server (they live in the organisation's
    browsers and backup files). A key set is never deleted: a bid sealed to an
    earlier key must still open after the organisation rotated its keys, so a
    retired key stays here, findable by fingerprint, forever.
    """

    organisation = models.ForeignKey(
        Organisation, verbose_name=_("组织"), on_delete=models.PROTECT, related_name="keys"
    )
    encryption_public = models.BinaryField(_("加密公钥（SPKI DER）"))
    encryption_fingerprint = models.CharField(_("加密公钥指纹"), max_length=64, unique=True)
    signing_public = models.BinaryField(_("签名公钥（SPKI DER）"))
    signing_fingerprint = models.CharField(_("签名公钥指纹"), max_length=64, unique=True)
    status = models.CharField(
        _("状态"), max_length=10, choices=OrganisationKeyStatus.choices, default=OrganisationKeyStatus.ACTIVE
    )
    registered_by = models.ForeignKey(
        User, verbose_name=_("登记人"), on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    registered_at = models.DateTimeField(_("登记时间"))
    retired_at = models.DateTimeField(_("停用时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("组织密钥")
        verbose_name_plural = _("组织密钥")
        ordering = ["organisation", "-registered_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation"],
                condition=models.Q(status="active"),
                name="one_active_key_per_organisation",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.organisation} · {self.encryption_fingerprint[:16]}"

    @property
    def is_active(self) -> bool:
        return self.status == OrganisationKeyStatus.ACTIVE


class ApiToken(models.Model):
    """A bearer token for the JSON API (the command-line client, automation).

    Only the SHA-256 of the secret is stored: whoever reads the database cannot
    use a token. ``prefix`` (the first characters of the secret) lets the owner
    tell their tokens apart without the secret.
    """

    user = models.ForeignKey(User, verbose_name=_("用户"), on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("名称"), max_length=100)
    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(_("前缀"), max_length=12)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("最近使用"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("撤销时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("API 令牌")
        verbose_name_plural = _("API 令牌")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
