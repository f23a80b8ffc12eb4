"""Audit bundles: the events of a lot, a tender or a period, with the proofs an outsider needs.

A bundle (docs/audit.md §13) is a directory that ``python -m audit.verify``
checks offline, without the platform: the contiguous range of Merkle-tree
leaves spanning the scope's events, each as its record or redacted, the
tree's own leaves, the signed checkpoints, the proofs and the public key.
Writing one reads the database in batches and writes line by line, so a
period of millions of events needs no more memory than a lot.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Count, Max, Min, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit import merkle
from audit.chain import ROW_FIELDS
from audit.encoding import canonical_json, envelope, envelope_text_v2, format_time
from audit.models import (
    AuditCheckpoint,
    AuditEvent,
    AuditLeaf,
    AuditNode,
    CheckpointReason,
    Sensitivity,
)
from audit.note import key_id, verifier_key
from audit.note import sign_note as note_sign
from audit.verify import (
    BUNDLE_FORMAT,
    CHECKPOINTS,
    EVENTS,
    FILES,
    KEY_PEM,
    KEY_VKEY,
    LEAVES,
    MANIFEST,
    MANIFEST_NOTE,
    NOTE_SEPARATOR,
    PROOFS,
    full_line,
    redacted_line,
)
from core.errors import DomainError, NotFound

#: Leaves (and their events) read from the database at a time.
BATCH = 2000
# Subtree lookups per query (a bound on the IN list for every database).
_LOOKUP_BATCH = 500

# Confidential until bidding has closed for their tender (audit.selectors, docs/audit.md §7):
# a bundle leaves the platform, so it follows the strictest reader's rule.
_CONFIDENTIAL = (Sensitivity.UNTIL_BID_DEADLINE, Sensitivity.BIDS_UNTIL_DEADLINE)

_ROW_FIELDS = ROW_FIELDS  # what a record is, as the chain check reads it


@dataclass(frozen=True, slots=True)
class Scope:
    """What a bundle is about: a lot (with its tender's tender-wide events), a tender, or a period."""

    kind: str  # "lot", "tender" or "period"
    tender_id: int | None = None
    lot_id: int | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None  # inclusive

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """A period's instants: from the first day's midnight to the midnight after the last, local time."""
        assert self.date_from is not None and self.date_to is not None
        zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
        start = dt.datetime.combine(self.date_from, dt.time.min, tzinfo=zone)
        end = dt.datetime.combine(self.date_to + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
        return start, end

    def condition(self) -> Q:
        if self.kind == "lot":
            if self.tender_id is None:  # a deleted draft lot: its own events are all there is
                return Q(lot_id=self.lot_id)
            return Q(lot_id=self.lot_id) | Q(tender_id=self.tender_id, lot_id__isnull=True)
        if self.kind == "tender":
            return Q(tender_id=self.tender_id)
        start, end = self.bounds()
        return Q(created_at__gte=start, created_at__lt=end)

    def contains(self, row: dict[str, Any]) -> bool:
        if self.kind == "lot":
            return row["lot_id"] == self.lot_id or (
                self.tender_id is not None
                and row["tender_id"] == self.tender_id
                and row["lot_id"] is None
            )
        if self.kind == "tender":
            return row["tender_id"] == self.tender_id
        start, end = self.bounds()
        return start <= row["created_at"] < end

    def as_json(self) -> dict[str, Any]:
        if self.kind == "lot":
            return {"kind": "lot", "lot_id": self.lot_id, "tender_id": self.tender_id}
        if self.kind == "tender":
            return {"kind": "tender", "tender_id": self.tender_id}
        start, end = self.bounds()
        return {
            "kind": "period",
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
            "time_zone": settings.TIME_ZONE,
            "start": format_time(start),
            "end": format_time(end),
        }


def scope_for_lot(*, lot_id: int) -> Scope:
    """A lot's scope; its tender is looked up (a deleted draft lot keeps only its own events)."""
    from tendering.models import Lot

    tender_id = Lot.objects.filter(pk=lot_id).values_list("tender_id", flat=True).first()
    return Scope(kind="lot", lot_id=lot_id, tender_id=tender_id)


def scope_for_tender(*, tender_id: int) -> Scope:
    return Scope(kind="tender", tender_id=tender_id)


def scope_for_period(*, date_from: dt.date, date_to: dt.date) -> Scope:
    """The events recorded from ``date_from`` to ``date_to`` inclusive, dates in ``settings.TIME_ZONE``."""
    if date_to < date_from:
        raise DomainError("export.period_reversed", _("导出期间的结束日期早于开始日期。"))
    return Scope(kind="period", date_from=date_from, date_to=date_to)


@dataclass(frozen=True, slots=True)
class ExportResult:
    out: Path
    first: int
    last: int
    size: int
    lines: int
    full: int
    redacted: int
    in_scope: int
    checkpoints: int


def bundle_export(
    *, scope: Scope, out: Path, make_checkpoint: bool = True, now: dt.datetime | None = None
) -> ExportResult:
    """Write the bundle of ``scope`` into the directory ``out`` (created, or empty).

    First a checkpoint covering everything committed (``checkpoint_make``,
    reason "manual"), unless ``make_checkpoint`` is false: then the latest
    checkpoint is used and later events are not exported. Refuses a non-empty
    ``out``, a scope without events in the checkpoint, a tree missing the
    rows a proof needs, and a leaf whose event is gone (``verify_audit`` says
    more). Files are removed again if writing fails half-way.
    """
    from audit.tree import checkpoint_latest, checkpoint_make
    from bidding.receipts import receipt_key

    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DomainError(
            "export.out_not_empty", _("输出目录 %(path)s 已存在且不为空。"), path=str(out)
        )
    now = now or timezone.now()
    key = receipt_key()
    if make_checkpoint:
        checkpoint = checkpoint_make(reason=CheckpointReason.MANUAL, now=now)
    else:
        checkpoint = checkpoint_latest()
        if checkpoint is None:
            raise DomainError(
                "export.no_checkpoint", _("还没有检查点：请不带 --no-checkpoint 重新导出。")
            )
    if checkpoint.key_fingerprint != key.fingerprint:
        raise DomainError(
            "export.checkpoint_key_retired",
            _(
                "该检查点由已更换的平台密钥签名，无法随当前公钥导出：请不带 --no-checkpoint 重新导出。"
            ),
        )
    size = checkpoint.size
    span = AuditLeaf.objects.filter(
        seq__in=AuditEvent.objects.filter(scope.condition()).values("seq"), index__lt=size
    ).aggregate(first=Min("index"), last=Max("index"), count=Count("index"))
    if not span["count"]:
        raise NotFound("export.empty_scope", _("检查点覆盖的审计记录中没有属于该范围的记录。"))
    first, last = span["first"], span["last"]

    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        result = _write(
            scope=scope,
            out=out,
            checkpoint=checkpoint,
            first=first,
            last=last,
            key=key,
            now=now,
            written=written,
        )
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        if created:
            out.rmdir()
        raise
    return result


def _write(
    *,
    scope: Scope,
    out: Path,
    checkpoint: AuditCheckpoint,
    first: int,
    last: int,
    key: Any,
    now: dt.datetime,
    written: list[Path],
) -> ExportResult:
    origin = settings.AUDIT_LOG_ORIGIN
    size = checkpoint.size
    hidden = _Sealed(first=first, last=last, now=now)
    proven: list[tuple[int, int, str]] = []  # in-scope records shown in full: (leaf, seq, hash)
    full = redacted = in_scope = lines = 0

    events_path, leaves_path = out / EVENTS, out / LEAVES
    written += [events_path, leaves_path]
    with (
        open(events_path, "w", encoding="utf-8", newline="\n") as events,
        open(leaves_path, "w", encoding="ascii", newline="\n") as leaves,
    ):
        for index, leaf_hash, row in _leaf_rows(first, last):
            leaves.write(leaf_hash + "\n")
            lines += 1
            show = (scope.kind == "period" or scope.contains(row)) and not hidden(row)
            if show:
                events.write(full_line(index, row["hash"], record_text(row)))
                full += 1
                if scope.contains(row):
                    in_scope += 1
                    if scope.kind != "period":
                        proven.append((index, row["seq"], row["hash"]))
            else:
                events.write(
                    redacted_line(
                        index,
                        row["hash"],
                        row["seq"],
                        row["strand"],
                        row["strand_seq"],
                        row["prev_hash"],
                    )
                )
                redacted += 1

    # Every earlier checkpoint that covers part of the range, signed by the key the
    # bundle carries (a retired key's public half is not kept, so it could not be checked).
    checkpoints = [
        c
        for c in AuditCheckpoint.objects.filter(
            size__gt=first, size__lte=min(last + 1, size), key_fingerprint=key.fingerprint
        )
        .exclude(pk=checkpoint.pk)
        .order_by("size", "id")
    ] + [checkpoint]

    nodes = _Nodes()
    left_pairs = merkle.perfect_subtrees(0, first)
    right_pairs = merkle.perfect_subtrees(last + 1, size)
    inclusion_plans = [
        (leaf, merkle.inclusion_proof_nodes(leaf, size)) for leaf, _seq, _hash in proven
    ]
    consistency_pairs = [
        merkle.consistency_proof_nodes(old.size, new.size)
        for old, new in zip(checkpoints, checkpoints[1:], strict=False)
    ]
    nodes.fetch(
        [
            *left_pairs,
            *right_pairs,
            *(p for _, plan in inclusion_plans for p in plan),
            *(p for plan in consistency_pairs for p in plan),
        ]
    )
    proofs = {
        "format": BUNDLE_FORMAT,
        "tree_size": size,
        "root": checkpoint.root,
        "range": {
            "first": first,
            "last": last,
            "left": [_subtree_json(level, index, nodes) for level, index in left_pairs],
            "right": [_subtree_json(level, index, nodes) for level, index in right_pairs],
        },
        "inclusion": [
            {
                "seq": seq,
                "leaf_index": leaf,
                "event_hash": digest,
                "path": [p.hex() for p in merkle.inclusion_proof(leaf, size, nodes)],
            }
            for leaf, seq, digest in proven
        ],
        "consistency": [
            {
                "old_size": old.size,
                "old_root": old.root,
                "new_size": new.size,
                "new_root": new.root,
                "path": [p.hex() for p in merkle.consistency_proof(old.size, new.size, nodes)],
            }
            for old, new in zip(checkpoints, checkpoints[1:], strict=False)
        ],
    }
    public = key.private.public_key()
    manifest = {
        "format": BUNDLE_FORMAT,
        "origin": origin,
        "created_at": format_time(now),
        "scope": scope.as_json(),
        "leaves": {"first": first, "last": last},
        "records": {"lines": lines, "full": full, "redacted": redacted, "in_scope": in_scope},
        "checkpoint": {
            "size": size,
            "root": checkpoint.root,
            "time": format_time(checkpoint.created_at),
        },
        "checkpoints": len(checkpoints),
        "key": {
            "name": origin,
            "key_id": key_id(origin, public).hex(),
            "fingerprint": key.fingerprint,
        },
        "files": list(FILES),
    }
    manifest_text = json.dumps(manifest, ensure_ascii=False, indent=2) + "\n"
    small = {
        MANIFEST: manifest_text,
        MANIFEST_NOTE: note_sign(manifest_text, origin, key.private),
        CHECKPOINTS: "".join(c.note + NOTE_SEPARATOR for c in checkpoints),
        PROOFS: json.dumps(proofs, ensure_ascii=False, indent=1) + "\n",
        KEY_VKEY: verifier_key(origin, public) + "\n",
        KEY_PEM: key.public_pem,
    }
    for name, text in small.items():
        path = out / name
        written.append(path)
        path.write_text(text, encoding="utf-8", newline="\n")
    return ExportResult(
        out=out,
        first=first,
        last=last,
        size=size,
        lines=lines,
        full=full,
        redacted=redacted,
        in_scope=in_scope,
        checkpoints=len(checkpoints),
    )


def record_text(row: dict[str, Any]) -> str:
    """The exact text whose SHA-256 is the event's hash (docs/audit.md §3): what the bundle shows."""
    fields = {name: row[name] for name in _ROW_FIELDS[2:16]}
    if row["format"] == 2:
        return envelope_text_v2(
            seq=row["seq"],
            time=format_time(row["created_at"]),
            strand=row["strand"],
            strand_seq=row["strand_seq"],
            **fields,
        )
    return canonical_json(envelope(seq=row["seq"], time=row["created_at"], format=1, **fields))


def _leaf_rows(first: int, last: int) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """Leaves ``first..last`` in order with their events, ``BATCH`` at a time."""
    for lo in range(first, last + 1, BATCH):
        hi = min(last, lo + BATCH - 1)
        leaves = list(
            AuditLeaf.objects.filter(index__gte=lo, index__lte=hi)
            .order_by("index")
            .values_list("index", "seq", "hash")
        )
        if len(leaves) != hi - lo + 1:
            raise DomainError(
                "export.tree_incomplete",
                _(
                    "默克尔树缺少第 %(first)s 至 %(last)s 号树叶中的一部分，请运行 verify_audit 核查。"
                ),
                first=lo,
                last=hi,
            )
        rows = {
            row["seq"]: row
            for row in AuditEvent.objects.filter(seq__in=[seq for _, seq, _ in leaves]).values(
                *_ROW_FIELDS
            )
        }
        for index, seq, leaf_hash in leaves:
            row = rows.get(seq)
            if row is None:
                raise DomainError(
                    "export.event_missing",
                    _(
                        "第 %(index)s 号树叶对应的审计记录 #%(seq)s 已不存在，请运行 verify_audit 核查。"
                    ),
                    index=index,
                    seq=seq,
                )
            yield index, leaf_hash, row


class _Sealed:
    """Whether an event must be redacted because what it says is still confidential (docs/audit.md §7)."""

    def __init__(self, *, first: int, last: int, now: dt.datetime) -> None:
        from tendering.models import Tender
        from tendering.selectors import sealed_tender_ids

        referenced = (
            AuditEvent.objects.filter(
                seq__in=AuditLeaf.objects.filter(index__gte=first, index__lte=last).values("seq"),
                sensitivity__in=_CONFIDENTIAL,
                tender_id__isnull=False,
            )
            .values_list("tender_id", flat=True)
            .distinct()
        )
        ids = set(referenced)
        self.sealed = sealed_tender_ids(tender_ids=ids, now=now) if ids else set()
        self.existing = (
            set(Tender.objects.filter(pk__in=ids).values_list("pk", flat=True)) if ids else set()
        )

    def __call__(self, row: dict[str, Any]) -> bool:
        sensitivity = row["sensitivity"]
        if sensitivity not in Sensitivity.values:
            return True  # a sensitivity this code does not know stays hidden (fail closed)
        if sensitivity in _CONFIDENTIAL:
            tender = row["tender_id"]
            return tender is None or tender in self.sealed or tender not in self.existing
        return False


class _Nodes:
    """The stored perfect subtrees a set of proofs needs, fetched by level in a few queries."""

    def __init__(self) -> None:
        self.found: dict[tuple[int, int], bytes] = {}

    def fetch(self, pairs: Iterable[tuple[int, int]]) -> None:
        by_level: dict[int, set[int]] = {}
        for level, index in pairs:
            if (level, index) not in self.found:
                by_level.setdefault(level, set()).add(index)
        for level, indexes in by_level.items():
            wanted = sorted(indexes)
            for k in range(0, len(wanted), _LOOKUP_BATCH):
                part = wanted[k : k + _LOOKUP_BATCH]
                if level == 0:
                    for index, digest in AuditLeaf.objects.filter(index__in=part).values_list(
                        "index", "hash"
                    ):
                        self.found[(0, index)] = merkle.leaf_hash(bytes.fromhex(digest))
                else:
                    for index, digest in AuditNode.objects.filter(
                        level=level, index__in=part
                    ).values_list("index", "hash"):
                        self.found[(level, index)] = bytes.fromhex(digest)

    def __call__(self, level: int, index: int) -> bytes:
        try:
            return self.found[(level, index)]
        except KeyError:
            raise DomainError(
                "proof.tree_incomplete",
                _("默克尔树缺少证明所需的节点，请联系平台管理员核查。"),
                status=500,
            ) from None


def _subtree_json(level: int, index: int, nodes: _Nodes) -> dict[str, Any]:
    return {"level": level, "index": index, "hash": nodes(level, index).hex()}
