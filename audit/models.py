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
    # Indexed outside the model state (migration 0006): a BRIN index on PostgreSQL — events are
    # appended in time order, so block ranges follow the clock — and a plain one on SQLite.
    created_at = models.DateTimeField(_("时间"))
    actor_id = models.BigIntegerField(_("操作人ID"), null=True, blank=True, db_index=True)
    actor_name = models.CharField(_("操作人"), max_length=150, blank=True)
    organisation_id = models.BigIntegerField(_("组织ID"), null=True, blank=True)
    organisation_name = models.CharField(_("组织"), max_length=200, blank=True)
    ip = models.GenericIPAddressField(_("网络地址"), null=True, blank=True)
    user_agent = models.CharField(_("客户端"), max_length=300, blank=True)
    # Indexed by the one prefix index in Meta (filters are "tendering.lot…" prefixes and exact names).
    action = models.CharField(_("操作"), max_length=100)
    object_type = models.CharField(_("对象类型"), max_length=60, blank=True)
    object_id = models.CharField(_("对象ID"), max_length=64, blank=True)
    tender_id = models.BigIntegerField(_("招标项目ID"), null=True, blank=True, db_index=True)
    lot_id = models.BigIntegerField(_("标段ID"), null=True, blank=True, db_index=True)
    sensitivity = models.CharField(_("保密级别"), max_length=30, blank=True, choices=Sensitivity.choices)
    payload = models.TextField(_("内容"), default="{}")
    # Format 2 events are spread over strands, each a hash chain of its own
    # (prev_hash links to the previous event of the same strand), so that
    # appenders on different strands do not wait for each other; all of them
    # are leaves of one Merkle tree (docs/audit.md §5, §10).
    strand = models.PositiveSmallIntegerField(_("分链"), default=0)
    strand_seq = models.BigIntegerField(_("分链序号"))
    format = models.PositiveSmallIntegerField(_("格式版本"), default=1)
    prev_hash = models.CharField(_("前一哈希"), max_length=64)
    # No index: nothing looks a record up by its hash, and every index costs each append
    # (the (strand, strand_seq) constraint is what keeps a strand from forking).
    hash = models.CharField(_("哈希"), max_length=64)

    class Meta:
        verbose_name = _("审计记录")
        verbose_name_plural = _("审计记录")
        ordering = ["seq"]
        constraints = [
            models.UniqueConstraint(fields=["strand", "strand_seq"], name="audit_event_strand_seq_unique"),
        ]
        indexes = [
            # varchar_pattern_ops (PostgreSQL) serves both action = … and action LIKE 'prefix%'.
            models.Index(fields=["action"], name="audit_event_action", opclasses=["varchar_pattern_ops"]),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action}"

    @property
    def data(self) -> dict[str, Any]:
        return json.loads(self.payload)


class AuditLeaf(models.Model):
    """Leaf ``index`` of the Merkle tree over the events (docs/audit.md §10).

    Leaves are appended in the order the integrator finds committed events
    (``audit.tree.tree_integrate``); the leaf's data is the event's hash.
    """

    index = models.BigIntegerField(_("叶序号"), primary_key=True)
    seq = models.BigIntegerField(_("审计序号"), unique=True)
    hash = models.CharField(_("记录哈希"), max_length=64)

    class Meta:
        verbose_name = _("默克尔树叶")
        verbose_name_plural = _("默克尔树叶")

    def __str__(self) -> str:
        return f"leaf {self.index} = #{self.seq}"


class AuditNode(models.Model):
    """A perfect subtree of the tree: leaves [index·2^level, (index+1)·2^level), level ≥ 1."""

    level = models.PositiveSmallIntegerField()
    index = models.BigIntegerField()
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["level", "index"], name="audit_node_level_index_unique")]

    def __str__(self) -> str:
        return f"node {self.level}/{self.index}"


class AuditTreeState(models.Model):
    """The integrator's position: one row. The frontier is the tree's compact range."""

    size = models.BigIntegerField(default=0)
    frontier = models.JSONField(default=list)
    # {strand: last position integrated}: a strand's committed events are always
    # a prefix of its positions, so the next ones are found from here.
    marks = models.JSONField(default=dict)
    updated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"tree of {self.size}"


class CheckpointReason(models.TextChoices):
    PERIODIC = "periodic", _("定时")
    BID_DEADLINE = "bid_deadline", _("投标截止")
    DRAW = "draw", _("专家抽取")
    OPENING_CLOSED = "opening_closed", _("开标结束")
    AWARD = "award", _("定标")
    MANUAL = "manual", _("手动")


class AuditCheckpoint(models.Model):
    """A signed statement of the tree's size and root at a time (C2SP tlog-checkpoint)."""

    size = models.BigIntegerField(_("树大小"), db_index=True)
    root = models.CharField(_("树根"), max_length=64)
    created_at = models.DateTimeField(_("时间"), db_index=True)
    reason = models.CharField(_("原因"), max_length=20, choices=CheckpointReason.choices)
    tender_id = models.BigIntegerField(_("招标项目ID"), null=True, blank=True)
    lot_id = models.BigIntegerField(_("标段ID"), null=True, blank=True)
    note = models.TextField(_("签名检查点"))
    key_fingerprint = models.CharField(_("平台公钥指纹"), max_length=64)

    class Meta:
        verbose_name = _("检查点")
        verbose_name_plural = _("检查点")
        ordering = ["-size", "-id"]

    def __str__(self) -> str:
        return f"checkpoint {self.size} {self.root[:12]}"


class CheckpointSubscription(models.Model):
    """A supervisor who receives every checkpoint by e-mail, as a copy kept outside the platform."""

    user = models.OneToOneField("accounts.User", on_delete=models.CASCADE, related_name="checkpoint_subscription")
    created_at = models.DateTimeField(_("订阅时间"))

    class Meta:
        verbose_name = _("检查点订阅")
        verbose_name_plural = _("检查点订阅")

    def __str__(self) -> str:
        return f"checkpoints to {self.user}"
