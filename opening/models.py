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
