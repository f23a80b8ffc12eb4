"""The audit chain: one append-only, hash-linked sequence of events.

Rows hold plain ids and names, never foreign keys: nothing the database does
to other tables (a cascade, a SET NULL) may ever rewrite an audit record.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _


class Sensitivity(models.TextChoices):
    PUBLIC = "", _("审计人员可见")
    # Who obtained the tender documents, and how many (EB 21): hidden from
    # everyone but the platform until bidding has closed for the tender.
    UNTIL_BID_DEADLINE = "until_bid_deadline", _("投标截止前保密")
    # Who submitted, replaced or withdrew a bid (EB 27): hidden from everyone,
    # platform administrators included, until bidding has closed for the tender.
    BIDS_UNTIL_DEADLINE = "bids_until_deadline", _("投标截止前对所有人保密")


class AuditEvent(models.Model):
    seq = models.BigIntegerField(_("序号"), primary_key=True)
    created_at = models.DateTimeField(_("时间"), db_index=True)
    actor_id = models.BigIntegerField(_("操作人ID"), null=True, blank=True, db_index=True)
    actor_name = models.CharField(_("操作人"), max_length=150, blank=True)
    organisation_id = models.BigIntegerField(_("组织ID"), null=True, blank=True)
    organisation_name = models.CharField(_("组织"), max_length=200, blank=True)
    ip = models.GenericIPAddressField(_("网络地址"), null=True, blank=True)
    user_agent = models.CharField(_("客户端"), max_length=300, blank=True)
    action = models.CharField(_("操作"), max_length=100, db_index=True)
    object_type = models.CharField(_("对象类型"), max_length=60, blank=True)
    object_id = models.CharField(_("对象ID"), max_length=64, blank=True)
    tender_id = models.BigIntegerField(_("招标项目ID"), null=True, blank=True, db_index=True)
    lot_id = models.BigIntegerField(_("标段ID"), null=True, blank=True, db_index=True)
    sensitivity = models.CharField(_("保密级别"), max_length=30, blank=True, choices=Sensitivity.choices)
    payload = models.TextField(_("内容"), default="{}")
    prev_hash = models.CharField(_("前一哈希"), max_length=64)
    hash = models.CharField(_("哈希"), max_length=64, unique=True)

    class Meta:
        verbose_name = _("审计记录")
        verbose_name_plural = _("审计记录")
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action}"

    @property
    def data(self) -> dict[str, Any]:
        return json.loads(self.payload)
