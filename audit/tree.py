"""The Merkle tree over the audit events, its signed checkpoints and its proofs (docs/audit.md §10–12).

Appending an event (``audit.services.record``) touches one strand only, so
appenders do not wait for each other. The integrator (``tree_integrate``)
then makes each committed event a leaf of one RFC 6962 Merkle tree, in the
order it finds them, storing every completed perfect subtree so that any
proof is O(log n) lookups. A checkpoint (``checkpoint_make``) integrates
everything committed, signs the tree's size and root with the platform's
Ed25519 key in the C2SP signed-note form, stores it, writes it to a file
outside the database and e-mails it to the supervisors who subscribed: from
then on, rewriting any event it covers — or dropping the newest ones —
shows as a root that no longer matches a checkpoint kept elsewhere.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from audit import merkle
from audit.models import (
    AuditCheckpoint,
    AuditEvent,
    AuditLeaf,
    AuditNode,
    AuditTreeState,
    CheckpointReason,
    CheckpointSubscription,
)
from audit.note import Checkpoint, sign_note, verifier_key
from audit.services import record
from core.errors import DomainError, NotFound

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock key of the integrator: "SBTREE".
_PG_TREE_LOCK = int.from_bytes(b"SBTREE", "big")
INTEGRATE_BATCH = 5000
CHECKPOINT_ACTION = "audit.checkpoint.made"


@dataclass(frozen=True, slots=True)
class TreeHead:
    size: int
    root: str  # hex


def log_origin() -> str:
    """The checkpoint's origin line and the signing key's name (``AUDIT_LOG_ORIGIN``)."""
    return settings.AUDIT_LOG_ORIGIN


def _lock_tree() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_PG_TREE_LOCK])


def _state_for_update() -> AuditTreeState:
    AuditTreeState.objects.get_or_create(pk=1)
    return AuditTreeState.objects.select_for_update().get(pk=1)


def _pending(marks: dict[str, int], limit: int) -> list[tuple[int, int, int, str]]:
    """Committed events not yet in the tree, in seq order: (seq, strand, position, hash)."""
    known = [int(strand) for strand in marks]
    condition = ~Q(strand__in=known) if known else Q()
    for strand, position in marks.items():
        condition |= Q(strand=int(strand), strand_seq__gt=position)
    return list(
        AuditEvent.objects.filter(condition)
        .order_by("seq")
        .values_list("seq", "strand", "strand_seq", "hash")[:limit]
    )


def tree_integrate(*, limit: int = INTEGRATE_BATCH) -> int:
    """Make up to ``limit`` committed events leaves of the tree; how many were added.

    One integrator at a time (an advisory lock on PostgreSQL, the write lock
    on SQLite). A strand's events become visible in position order — its
    appenders hold the strand until they commit — so the events after each
    strand's mark are exactly the ones not yet in the tree; taking them in
    seq order keeps each strand's order in the tree.
    """
    with transaction.atomic():
        _lock_tree()
        state = _state_for_update()
        rows = _pending(state.marks, limit)
        if not rows:
            return 0
        frontier = merkle.Frontier.from_hex(state.size, state.frontier)
        leaves: list[AuditLeaf] = []
        nodes: list[AuditNode] = []
        marks = dict(state.marks)
        for seq, strand, position, digest in rows:
            leaves.append(AuditLeaf(index=frontier.size, seq=seq, hash=digest))
            for level, index, value in frontier.append(merkle.leaf_hash(bytes.fromhex(digest))):
                nodes.append(AuditNode(level=level, index=index, hash=value.hex()))
            marks[str(strand)] = position
        AuditLeaf.objects.bulk_create(leaves, batch_size=2000)
        AuditNode.objects.bulk_create(nodes, batch_size=2000)
        state.size = frontier.size
        state.frontier = frontier.to_hex()
        state.marks = marks
        state.updated_at = timezone.now()
        state.save()
        return len(rows)


def tree_integrate_all() -> TreeHead:
    """Integrate everything committed so far; the tree's head."""
    while tree_integrate():
        pass
    return tree_head()


def tree_head() -> TreeHead:
    state = AuditTreeState.objects.filter(pk=1).first()
    if state is None or state.size == 0:
        return TreeHead(size=0, root=merkle.EMPTY_ROOT.hex())
    return TreeHead(size=state.size, root=merkle.Frontier.from_hex(state.size, state.frontier).root().hex())


# --- checkpoints ---------------------------------------------------------------------------


def checkpoint_make(
    *, reason: str, tender_id: int | None = None, lot_id: int | None = None, now: dt.datetime | None = None
) -> AuditCheckpoint:
    """Integrate what is committed, sign the tree's head, store it; publish it after commit.

    A periodic checkpoint with nothing new since the latest one — nothing but
    checkpoints' own events — is not made again (the latest is returned). The checkpoint itself is recorded as an
    ``audit.checkpoint.made`` event, which the next checkpoint covers.
    """
    from bidding.receipts import receipt_key

    if reason not in CheckpointReason.values:
        raise DomainError("checkpoint.reason_invalid", _("检查点原因无效。"))
    head = tree_integrate_all()
    now = now or timezone.now()
    with transaction.atomic():
        _lock_tree()
        latest = AuditCheckpoint.objects.order_by("-size", "-id").first()
        if latest is not None and reason == CheckpointReason.PERIODIC and not _anything_new_since(latest):
            return latest
        key = receipt_key()
        body = Checkpoint(origin=log_origin(), size=head.size, root=bytes.fromhex(head.root)).with_time(now).body()
        note = sign_note(body, log_origin(), key.private)
        checkpoint = AuditCheckpoint.objects.create(
            size=head.size,
            root=head.root,
            created_at=now,
            reason=reason,
            tender_id=tender_id,
            lot_id=lot_id,
            note=note,
            key_fingerprint=key.fingerprint,
        )
        record(
            CHECKPOINT_ACTION,
            actor=None,
            obj=None,
            data={"checkpoint": checkpoint.pk, "size": head.size, "root": head.root, "reason": reason},
            tender_id=tender_id,
            lot_id=lot_id,
        )
        checkpoint_id = checkpoint.pk
        transaction.on_commit(lambda: checkpoint_publish(checkpoint_id=checkpoint_id))
    return checkpoint


def _anything_new_since(checkpoint: AuditCheckpoint) -> bool:
    """Whether the tree has leaves after ``checkpoint`` other than checkpoints' own events."""
    seqs = AuditLeaf.objects.filter(index__gte=checkpoint.size).values_list("seq", flat=True)
    return AuditEvent.objects.filter(seq__in=seqs).exclude(action=CHECKPOINT_ACTION).exists()


def checkpoint_publish(*, checkpoint_id: int) -> None:
    """Copy a checkpoint outside the database: a file, and e-mail to the subscribed supervisors.

    Failures are logged, never raised: the checkpoint is committed, and the
    next one covers everything this one does.
    """
    checkpoint = AuditCheckpoint.objects.get(pk=checkpoint_id)
    try:
        _write_file(checkpoint)
    except OSError:
        logger.exception("checkpoint %s: writing the file failed", checkpoint.pk)
    try:
        _send_mail(checkpoint)
    except Exception:  # noqa: BLE001 - the mail server's failure must not undo anything
        logger.exception("checkpoint %s: e-mailing the subscribers failed", checkpoint.pk)


def checkpoint_file_name(checkpoint: AuditCheckpoint) -> str:
    return f"{checkpoint.size:012d}-{checkpoint.pk}.note"


def _write_file(checkpoint: AuditCheckpoint) -> None:
    directory = Path(settings.AUDIT_CHECKPOINT_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / checkpoint_file_name(checkpoint)
    if not path.exists():
        temporary = path.with_suffix(".tmp")
        temporary.write_text(checkpoint.note, encoding="utf-8")
        temporary.replace(path)
    # The log of all of them, appended: a rewrite would have to edit the middle of this file too.
    with open(directory / "checkpoints.log", "a", encoding="utf-8") as log:
        log.write(checkpoint.note + "\f\n")


def _send_mail(checkpoint: AuditCheckpoint) -> None:
    addresses = list(
        CheckpointSubscription.objects.filter(user__is_active=True)
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )
    if not addresses:
        return
    from bidding.receipts import receipt_key

    subject = _("审计检查点 %(size)s（%(reason)s）") % {
        "size": checkpoint.size,
        "reason": checkpoint.get_reason_display(),
    }
    body = _(
        "阳光开标审计链的新检查点如下。请原样保存本邮件：日后可用它核验平台的审计记录未被改写（docs/audit.md）。\n\n"
        "验证公钥：%(vkey)s\n\n%(note)s"
    ) % {"vkey": verifier_key(log_origin(), receipt_key().private.public_key()), "note": checkpoint.note}
    EmailMessage(subject=subject, body=body, to=[settings.DEFAULT_FROM_EMAIL], bcc=addresses).send()


def checkpoint_request(*, reason: str, tender_id: int | None = None, lot_id: int | None = None) -> None:
    """A milestone (bid deadline, draw, opening closed, award): a checkpoint once the caller commits.

    Made by the task worker, so the milestone's own transaction never waits for it.
    """
    from audit.tasks import make_checkpoint

    transaction.on_commit(
        lambda: make_checkpoint.enqueue(reason=reason, tender_id=tender_id, lot_id=lot_id)
    )


def subscription_set(*, user: object, subscribed: bool) -> bool:
    """Subscribe a supervisor to the checkpoints by e-mail, or end it; whether subscribed now."""
    from accounts.models import User
    from audit.selectors import require_auditor

    assert isinstance(user, User)
    require_auditor(user)
    if subscribed and not user.email:
        raise DomainError("checkpoint.email_missing", _("您的账户没有电子邮件地址，无法订阅检查点。"))
    with transaction.atomic():
        existing = CheckpointSubscription.objects.filter(user=user).first()
        if subscribed and existing is None:
            CheckpointSubscription.objects.create(user=user, created_at=timezone.now())
            record("audit.checkpoint.subscribed", actor=user, data={"email": user.email})
        elif not subscribed and existing is not None:
            existing.delete()
            record("audit.checkpoint.unsubscribed", actor=user)
    return subscribed


# --- proofs --------------------------------------------------------------------------------


def _subtree_lookup(pairs: Iterable[tuple[int, int]]) -> merkle.SubtreeLookup:
    """Fetch the stored subtrees a proof needs in two queries; a lookup function over them."""
    wanted = list(pairs)
    leaves = [index for level, index in wanted if level == 0]
    nodes = [(level, index) for level, index in wanted if level > 0]
    found: dict[tuple[int, int], bytes] = {}
    for index, digest in AuditLeaf.objects.filter(index__in=leaves).values_list("index", "hash"):
        found[(0, index)] = merkle.leaf_hash(bytes.fromhex(digest))
    if nodes:
        condition = Q()
        for level, index in nodes:
            condition |= Q(level=level, index=index)
        for level, index, digest in AuditNode.objects.filter(condition).values_list("level", "index", "hash"):
            found[(level, index)] = bytes.fromhex(digest)

    def lookup(level: int, index: int) -> bytes:
        try:
            return found[(level, index)]
        except KeyError:
            raise DomainError(
                "proof.tree_incomplete", _("默克尔树缺少证明所需的节点，请联系平台管理员核查。"), status=500
            ) from None

    return lookup


@dataclass(frozen=True, slots=True)
class InclusionProof:
    seq: int
    leaf_index: int
    event_hash: str
    checkpoint: AuditCheckpoint
    path: list[str]

    def as_json(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "leaf_index": self.leaf_index,
            "event_hash": self.event_hash,
            "tree_size": self.checkpoint.size,
            "root": self.checkpoint.root,
            "checkpoint": self.checkpoint.note,
            "path": self.path,
        }


def checkpoint_latest() -> AuditCheckpoint | None:
    return AuditCheckpoint.objects.order_by("-size", "-id").first()


def checkpoint_covering(*, leaf_index: int) -> AuditCheckpoint | None:
    """The first checkpoint whose tree holds the leaf."""
    return AuditCheckpoint.objects.filter(size__gt=leaf_index).order_by("size", "id").first()


def inclusion_proof_for(*, seq: int, checkpoint: AuditCheckpoint | None = None) -> InclusionProof:
    """The proof that event ``seq`` is in the tree of ``checkpoint`` (default: the latest).

    ``proof.not_yet`` (409) while no checkpoint covers the event yet: the
    next checkpoint does (at the latest after ``AUDIT_CHECKPOINT_MINUTES``).
    """
    leaf = AuditLeaf.objects.filter(seq=seq).first()
    if leaf is None:
        if not AuditEvent.objects.filter(seq=seq).exists():
            raise NotFound("proof.event_not_found", _("审计记录不存在。"))
        raise DomainError("proof.not_yet", _("该记录尚未纳入检查点，请稍后再试。"), status=409)
    checkpoint = checkpoint or checkpoint_latest()
    if checkpoint is None or checkpoint.size <= leaf.index:
        raise DomainError("proof.not_yet", _("该记录尚未纳入检查点，请稍后再试。"), status=409)
    lookup = _subtree_lookup(merkle.inclusion_proof_nodes(leaf.index, checkpoint.size))
    path = merkle.inclusion_proof(leaf.index, checkpoint.size, lookup)
    return InclusionProof(
        seq=seq, leaf_index=leaf.index, event_hash=leaf.hash, checkpoint=checkpoint, path=[p.hex() for p in path]
    )


def consistency_proof_for(*, old: AuditCheckpoint, new: AuditCheckpoint) -> list[str]:
    """The proof that ``new``'s tree extends ``old``'s (RFC 9162 §2.1.4)."""
    if old.size > new.size:
        raise DomainError("proof.sizes_reversed", _("较早的检查点不能大于较新的检查点。"))
    lookup = _subtree_lookup(merkle.consistency_proof_nodes(old.size, new.size))
    return [p.hex() for p in merkle.consistency_proof(old.size, new.size, lookup)]


def checkpoint_by_size(*, size: int) -> AuditCheckpoint:
    checkpoint = AuditCheckpoint.objects.filter(size=size).order_by("id").first()
    if checkpoint is None:
        raise NotFound("checkpoint.not_found", _("没有该大小的检查点。"))
    return checkpoint


def tree_verify() -> list[str]:
    """Recompute the tree from the events and hold it against every checkpoint; the findings.

    Each leaf must still hold its event's hash; the root of the first
    ``size`` leaves must be each checkpoint's root. An event deleted,
    changed or rewritten with all its successors in the chain — or the
    newest events dropped — breaks this against the signed checkpoints.

    On PostgreSQL the leaves are first held against their events in one
    query; when every leaf is in its place with its event's hash, the roots
    are computed from the leaves streamed in blocks (``_tree_verify_fast``).
    Anything else — and SQLite — takes the leaf-by-leaf walk, which names
    each leaf that does not hold.
    """
    if connection.vendor == "postgresql":
        findings = _tree_verify_fast()
        if findings is not None:
            return findings
    return _tree_verify_walk()


# Leaves per block streamed by the fast check: 2**12, so blocks are aligned perfect subtrees.
_BLOCK_LEVEL = 12


def _tree_verify_fast() -> list[str] | None:
    """The findings when every leaf holds its event's hash in its place, else None (PostgreSQL)."""
    leaf_table = AuditLeaf._meta.db_table
    event_table = AuditEvent._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), COALESCE(min(l.index), 0), COALESCE(max(l.index), -1),"
            f" count(*) FILTER (WHERE e.hash IS DISTINCT FROM l.hash)"
            f" FROM {leaf_table} l LEFT JOIN {event_table} e ON e.seq = l.seq"
        )
        count, lowest, highest, mismatched = cursor.fetchone()
        if mismatched or lowest != 0 or highest != count - 1:
            return None
        checkpoints = list(AuditCheckpoint.objects.order_by("size", "id"))
        sizes = sorted({c.size for c in checkpoints if 0 < c.size <= count})
        roots: dict[int, bytes] = {0: merkle.EMPTY_ROOT}
        # One row per block: the block's event hashes in leaf order, as one text.
        sql = (
            f"COPY (SELECT string_agg(hash, '' ORDER BY index) FROM {leaf_table}"
            f" GROUP BY index >> {_BLOCK_LEVEL} ORDER BY index >> {_BLOCK_LEVEL}) TO STDOUT"
        )
        stack = merkle.SubtreeStack()
        hex_only = True
        with cursor.cursor.copy(sql) as copy:
            for block in copy:  # read to the end whatever is found: the COPY must finish
                text = bytes(block).rstrip(b"\n")
                try:
                    hashes = bytes.fromhex(text.decode()) if hex_only else b""
                except ValueError:
                    hashes = b""
                if len(hashes) * 2 != len(text):
                    hex_only = False
                    continue
                _extend(stack, hashes, sizes, roots)
        if not hex_only:
            return None  # a leaf that is no hash: the walk names it
    findings: list[str] = []
    for checkpoint in checkpoints:
        if checkpoint.size > count:
            continue
        if roots[checkpoint.size].hex() != checkpoint.root:
            findings.append(_("检查点（大小 %(size)s）的树根与现有记录不符。") % {"size": checkpoint.size})
    for checkpoint in checkpoints:
        if checkpoint.size > count:
            findings.append(
                _("检查点（大小 %(size)s）之后的记录被截断：树中只剩 %(have)s 条。")
                % {"size": checkpoint.size, "have": count}
            )
    return findings


def _extend(stack: merkle.SubtreeStack, hashes: bytes, sizes: list[int], roots: dict[int, bytes]) -> None:
    """Grow the tree by a run of event hashes (32 bytes each), keeping its root at each wanted size on the way.

    The run's leaves are hashed and cut into aligned perfect subtrees
    (``merkle.perfect_subtrees``, split at the wanted sizes), which are pushed
    left to right: memory proportional to the run plus the tree's height.
    """
    leaves = [merkle.leaf_hash(hashes[k : k + 32]) for k in range(0, len(hashes), 32)]
    first = stack.size
    end_of_run = first + len(leaves)
    start = first
    for end in [*(size for size in sizes if first < size < end_of_run), end_of_run]:
        for level, index in merkle.perfect_subtrees(start, end):
            offset = (index << level) - first
            stack.push((level, index, merkle.root_of(leaves[offset : offset + (1 << level)])))
        roots[end] = stack.root()
        start = end


def _tree_verify_walk() -> list[str]:
    """``tree_verify`` leaf by leaf, naming each leaf that does not hold."""
    findings: list[str] = []
    checkpoints = list(AuditCheckpoint.objects.order_by("size", "id"))
    pending = 0  # the next checkpoint to hold the growing tree against
    while pending < len(checkpoints) and checkpoints[pending].size == 0:
        if checkpoints[pending].root != merkle.EMPTY_ROOT.hex():
            findings.append(_("检查点（大小 %(size)s）的树根与现有记录不符。") % {"size": 0})
        pending += 1
    frontier = merkle.Frontier()
    leaves = AuditLeaf.objects.order_by("index").values_list("index", "seq", "hash")
    # One pass: each leaf checked against its event (fetched a chunk at a time) and
    # appended; the root compared as the tree reaches each checkpoint's size.
    chunk: list[tuple[int, int, str]] = []

    def check(rows: list[tuple[int, int, str]]) -> bool:
        nonlocal pending
        events = dict(AuditEvent.objects.filter(seq__in=[seq for _, seq, _ in rows]).values_list("seq", "hash"))
        for index, seq, digest in rows:
            if index != frontier.size:
                findings.append(_("树叶 %(index)s 缺失。") % {"index": frontier.size})
                return False
            try:
                data = bytes.fromhex(digest)
            except ValueError:
                # A leaf rewritten into something no hash can be: a finding, and the tree goes on
                # over its text (no checkpoint's root can then match).
                data = b""
            if events.get(seq) != digest or len(data) != 32:
                findings.append(
                    _("树叶 %(index)s 对应的审计记录 #%(seq)s 已被删除或改写。") % {"index": index, "seq": seq}
                )
            frontier.append(merkle.leaf_hash(data or digest.encode()))
            while pending < len(checkpoints) and checkpoints[pending].size == frontier.size:
                if frontier.root().hex() != checkpoints[pending].root:
                    findings.append(
                        _("检查点（大小 %(size)s）的树根与现有记录不符。") % {"size": checkpoints[pending].size}
                    )
                pending += 1
        return True

    complete = True
    for row in leaves.iterator(chunk_size=5000):
        chunk.append(row)
        if len(chunk) == 5000:
            complete = check(chunk)
            chunk = []
            if not complete:
                break
    if complete and chunk:
        check(chunk)
    for checkpoint in checkpoints[pending:]:
        if checkpoint.size > frontier.size:
            findings.append(
                _("检查点（大小 %(size)s）之后的记录被截断：树中只剩 %(have)s 条。")
                % {"size": checkpoint.size, "have": frontier.size}
            )
    return findings


def inclusion_proof_allowed(*, user: object, seq: int) -> bool:
    """Who may have an event's inclusion proof.

    Supervisors and platform administrators, for every event they may see;
    a bidder's users, for the event of their own bid's receipt; anyone, for
    the event that anchors a published opening record. Everyone else is
    answered as if the event did not exist.
    """
    from accounts.models import User
    from audit.selectors import can_browse_audit, event_is_visible
    from bidding.models import Bid
    from opening.models import Room, RoomStage

    if Room.objects.filter(stage=RoomStage.CLOSED, audit_to=seq).exists():
        return True
    if not isinstance(user, User) or not user.is_authenticated:
        return False
    if can_browse_audit(user) and event_is_visible(user=user, seq=seq):
        return True
    organisation_id = getattr(user, "organisation_id", None)
    return organisation_id is not None and Bid.objects.filter(audit_seq=seq, organisation_id=organisation_id).exists()
