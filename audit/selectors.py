"""Reads of the audit chain."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from audit.chain import ChainReport, verify_rows
from audit.models import AuditEvent

_ROW_FIELDS = (
    "seq",
    "created_at",
    "actor_id",
    "actor_name",
    "organisation_id",
    "organisation_name",
    "ip",
    "user_agent",
    "action",
    "object_type",
    "object_id",
    "tender_id",
    "lot_id",
    "sensitivity",
    "payload",
    "prev_hash",
    "hash",
)


def chain_verify(*, chunk_size: int = 5000) -> ChainReport:
    """Walk the whole chain in sequence order, in constant memory."""
    rows = AuditEvent.objects.order_by("seq").values(*_ROW_FIELDS).iterator(chunk_size=chunk_size)
    return verify_rows(rows)


def chain_head() -> AuditEvent | None:
    return AuditEvent.objects.order_by("-seq").first()


def events_for_lot(*, lot_id: int, tender_id: int) -> QuerySet[AuditEvent]:
    """Events about the lot itself and about its tender as a whole."""
    return AuditEvent.objects.filter(Q(lot_id=lot_id) | Q(tender_id=tender_id, lot_id__isnull=True))
