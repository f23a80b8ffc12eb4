"""The published record of a draw, for ``python -m experts.verify_draw`` (docs/draw.md §8).

Available only once the draw is revealed (``DrawRequest.revealed_at``): before
that the record would name the panel (ER 8) and the seed would predict every
replacement still to come.
"""

from __future__ import annotations

import json
from typing import Any

from django.utils.translation import gettext_lazy as _

from audit.encoding import format_time
from audit.models import AuditEvent
from core.errors import DomainError
from experts import draw
from experts.models import DrawRequest
from experts.verify_draw import RECORD_FORMAT, record_digest

__all__ = ["draw_record", "record_digest", "record_json"]


def _event_seq(request: DrawRequest, action: str) -> int | None:
    return (
        AuditEvent.objects.filter(
            action=action, object_type="experts.drawrequest", object_id=str(request.pk)
        )
        .order_by("seq")
        .values_list("seq", flat=True)
        .first()
    )


def draw_record(request: DrawRequest) -> dict[str, Any]:
    """Everything needed to re-run the draw, as plain JSON types.

    ``picks`` are every selection in position order — members, reserves and
    replacements alike — as ``{position, specialty, expert, status}`` with
    codes only; the statuses let the verifier check that every decline was
    replaced and nothing more was drawn. ``audit`` gives the sequence numbers of the commitment and draw
    events, so that a reader of the audit chain can check that the secret
    was committed before the draw.
    """
    if request.revealed_at is None or request.drawn_at is None:
        raise DomainError("draw.not_revealed", _("抽取结果公布后才能下载抽取记录。"), status=409)
    lot = request.lot
    items = request.items.select_related("specialty").order_by("specialty__code")
    picks = request.selections.order_by("position").values_list(
        "position", "item__specialty__code", "expert__code", "status"
    )
    pool = request.frozen.pool()
    return {
        "format": RECORD_FORMAT,
        "version": draw.VERSION,
        "tender_code": lot.tender.code,
        "lot": {"id": lot.pk, "number": lot.number, "name": lot.name},
        "request_id": request.pk,
        "drawn_at": format_time(request.drawn_at),
        "revealed_at": format_time(request.revealed_at),
        "items": [
            {"specialty": item.specialty.code, "members": item.members, "reserves": item.reserves}
            for item in items
        ],
        "pool": {specialty: sorted(codes) for specialty, codes in sorted(pool.items())},
        "pool_hash": request.pool_hash,
        "secret_commitment": request.secret_commitment,
        "secret": request.secret,
        "chain_head": request.chain_head,
        "supervisor_number": request.supervisor_number,
        "seed": request.seed,
        "picks": [
            {"position": position, "specialty": specialty, "expert": expert, "status": status}
            for position, specialty, expert, status in picks
        ],
        "audit": {
            "committed_seq": _event_seq(request, "experts.draw.committed"),
            "draw_seq": _event_seq(request, "experts.draw.run"),
        },
    }


def record_json(record: dict[str, Any]) -> str:
    """The record as a downloadable file: indented, keys sorted, UTF-8 text."""
    return json.dumps(record, ensure_ascii=False, sort_keys=True, indent=2) + "\n"
