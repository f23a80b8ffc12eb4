"""The Merkle tree over the audit events: integration, signed checkpoints, proofs, and what they catch."""

from __future__ import annotations

import json

import pytest
from django.core import mail
from django.db import connection, transaction
from django.urls import reverse

from audit import merkle, tree
from audit.models import (
    AuditEvent,
    AuditLeaf,
    CheckpointReason,
    CheckpointSubscription,
)
from audit.note import open_checkpoint, verifier_key
from audit.services import record
from bidding.receipts import receipt_key

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def checkpoint_dir(settings, tmp_path):
    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"
    return settings.AUDIT_CHECKPOINT_DIR


def append(count: int, action: str = "test.step") -> list[AuditEvent]:
    events = []
    for n in range(count):
        with transaction.atomic():
            events.append(record(action, actor=None, data={"n": n}))
    return events


def platform_vkey() -> str:
    return verifier_key(tree.log_origin(), receipt_key().private.public_key())


def leaf_hashes() -> list[bytes]:
    return [merkle.leaf_hash(bytes.fromhex(h)) for h in AuditLeaf.objects.order_by("index").values_list("hash", flat=True)]


# --- integration ----------------------------------------------------------------------------


def test_committed_events_become_leaves_in_seq_order_and_the_root_is_theirs():
    events = append(5)
    head = tree.tree_integrate_all()
    assert head.size == 5
    assert list(AuditLeaf.objects.order_by("index").values_list("seq", "hash")) == [(e.seq, e.hash) for e in events]
    assert head.root == merkle.root_of(leaf_hashes()).hex()


def test_integrating_in_small_batches_gives_the_same_tree():
    append(11)
    while tree.tree_integrate(limit=3):
        pass
    assert tree.tree_head().root == merkle.root_of(leaf_hashes()).hex()
    assert tree.tree_head().size == 11


def test_integration_finds_only_what_is_new():
    append(3)
    assert tree.tree_integrate() == 3
    assert tree.tree_integrate() == 0
    append(2)
    assert tree.tree_integrate() == 2
    assert AuditLeaf.objects.count() == 5


# --- checkpoints ------------------------------------------------------------------------------


def test_a_checkpoint_is_a_signed_note_of_the_trees_size_and_root(django_capture_on_commit_callbacks):
    append(4)
    with django_capture_on_commit_callbacks(execute=True):
        checkpoint = tree.checkpoint_make(reason=CheckpointReason.MANUAL)
    opened, names = open_checkpoint(checkpoint.note, [platform_vkey()])
    assert names == [tree.log_origin()]
    assert (opened.origin, opened.size, opened.root.hex()) == (tree.log_origin(), 4, checkpoint.root)
    assert opened.time is not None
    made = AuditEvent.objects.get(action="audit.checkpoint.made")
    assert made.data == {"checkpoint": checkpoint.pk, "size": 4, "root": checkpoint.root, "reason": "manual"}


def test_a_checkpoint_is_written_outside_the_database_and_mailed_to_subscribers(
    people, checkpoint_dir, django_capture_on_commit_callbacks
):
    people["sam"].email = "sam@example.cn"
    people["sam"].save()
    tree.subscription_set(user=people["sam"], subscribed=True)
    with django_capture_on_commit_callbacks(execute=True):
        checkpoint = tree.checkpoint_make(reason=CheckpointReason.MANUAL)
    written = (checkpoint_dir / tree.checkpoint_file_name(checkpoint)).read_text(encoding="utf-8")
    assert written == checkpoint.note
    assert checkpoint.note in (checkpoint_dir / "checkpoints.log").read_text(encoding="utf-8")
    assert len(mail.outbox) == 1
    assert mail.outbox[0].bcc == ["sam@example.cn"]
    assert checkpoint.note in mail.outbox[0].body
    assert platform_vkey() in mail.outbox[0].body


def test_a_periodic_checkpoint_with_nothing_new_is_not_made_again():
    append(2)
    first = tree.checkpoint_make(reason=CheckpointReason.PERIODIC)
    # Only the first checkpoint's own event is new: that is not worth another one.
    second = tree.checkpoint_make(reason=CheckpointReason.PERIODIC)
    assert second.pk == first.pk
    append(1)
    third = tree.checkpoint_make(reason=CheckpointReason.PERIODIC)
    assert third.size == first.size + 2  # the first one's event and the new one
    # A milestone is always signed, even with nothing new.
    assert tree.checkpoint_make(reason=CheckpointReason.DRAW).pk != third.pk


def test_only_supervisors_with_an_email_address_may_subscribe(people):
    from core.errors import DomainError, NotPermitted

    with pytest.raises(NotPermitted):
        tree.subscription_set(user=people["bob"], subscribed=True)
    people["sam"].email = ""
    with pytest.raises(DomainError) as refused:
        tree.subscription_set(user=people["sam"], subscribed=True)
    assert refused.value.code == "checkpoint.email_missing"
    assert not CheckpointSubscription.objects.exists()


# --- proofs -------------------------------------------------------------------------------------


def test_every_event_has_an_inclusion_proof_against_the_checkpoint():
    events = append(7)
    checkpoint = tree.checkpoint_make(reason=CheckpointReason.MANUAL)
    root = bytes.fromhex(checkpoint.root)
    for event in events:
        proof = tree.inclusion_proof_for(seq=event.seq)
        leaf = merkle.leaf_hash(bytes.fromhex(event.hash))
        path = [bytes.fromhex(p) for p in proof.path]
        assert merkle.verify_inclusion(leaf, proof.leaf_index, checkpoint.size, path, root)


def test_an_event_not_yet_in_a_checkpoint_has_no_proof_yet():
    [event] = append(1)
    with pytest.raises(Exception) as refused:
        tree.inclusion_proof_for(seq=event.seq)
    assert refused.value.code == "proof.not_yet"


def test_two_checkpoints_are_proved_consistent():
    append(3)
    old = tree.checkpoint_make(reason=CheckpointReason.MANUAL)
    append(6)
    new = tree.checkpoint_make(reason=CheckpointReason.MANUAL)
    proof = [bytes.fromhex(p) for p in tree.consistency_proof_for(old=old, new=new)]
    assert merkle.verify_consistency(old.size, new.size, bytes.fromhex(old.root), bytes.fromhex(new.root), proof)


# --- what the tree catches that the chains cannot ----------------------------------------------


def test_an_intact_tree_matches_every_checkpoint():
    append(5)
    tree.checkpoint_make(reason=CheckpointReason.MANUAL)
    append(2)
    tree.checkpoint_make(reason=CheckpointReason.MANUAL)
    assert tree.tree_verify() == []


def test_a_leaf_and_its_event_rewritten_into_something_that_is_no_hash_are_named_not_a_crash():
    events = append(5)
    tree.checkpoint_make(reason=CheckpointReason.MANUAL)
    victim = AuditLeaf.objects.get(seq=events[2].seq)
    AuditLeaf.objects.filter(pk=victim.pk).update(hash="z" * 64)
    AuditEvent.objects.filter(seq=victim.seq).update(hash="z" * 64)

    findings = tree.tree_verify()

    assert f"树叶 {victim.index} 对应的审计记录 #{victim.seq} 已被删除或改写。" in findings
    assert any("树根与现有记录不符" in finding for finding in findings)


def test_the_newest_events_deleted_with_their_leaves_are_caught_against_the_checkpoint():
    events = append(5)
    tree.checkpoint_make(reason=CheckpointReason.MANUAL)
    doomed = [events[-1].seq, AuditEvent.objects.get(action="audit.checkpoint.made").seq]
    AuditLeaf.objects.filter(seq__in=doomed).delete()
    AuditEvent.objects.filter(seq__in=doomed).delete()
    from audit.selectors import chain_verify

    assert chain_verify().ok  # each strand's chain still holds: it simply ends earlier
    findings = tree.tree_verify()
    assert findings and "截断" in findings[0]


def test_an_event_rewritten_with_every_later_hash_recomputed_is_caught_against_the_checkpoint():
    """The chain alone accepts a strand rewritten end to end; the signed root does not."""
    events = append(4)
    tree.checkpoint_make(reason=CheckpointReason.MANUAL)
    from audit.chain import ROW_FIELDS, _row_hash
    from audit.selectors import chain_verify

    target = events[1]
    AuditEvent.objects.filter(seq=target.seq).update(payload='{"n":99}')
    strand_rows = AuditEvent.objects.filter(strand=target.strand).order_by("strand_seq")
    previous = "0" * 64
    for row in strand_rows.values(*ROW_FIELDS):
        row = {**row, "prev_hash": previous}
        digest = _row_hash(row, seen_v2=True)
        AuditEvent.objects.filter(seq=row["seq"]).update(prev_hash=previous, hash=digest)
        AuditLeaf.objects.filter(seq=row["seq"]).update(hash=digest)
        previous = digest
    assert chain_verify().ok
    findings = tree.tree_verify()
    assert any("树根与现有记录不符" in finding for finding in findings)


def test_a_leaf_that_no_longer_holds_its_events_hash_is_named():
    events = append(3)
    tree.checkpoint_make(reason=CheckpointReason.MANUAL)
    AuditEvent.objects.filter(seq=events[0].seq).update(hash="f" * 64)
    findings = tree.tree_verify()
    assert any(f"#{events[0].seq}" in finding for finding in findings)


# --- the pages and the API ---------------------------------------------------------------------


def test_checkpoints_and_consistency_proofs_are_public(client):
    append(2)
    old = tree.checkpoint_make(reason=CheckpointReason.MANUAL)
    append(2)
    new = tree.checkpoint_make(reason=CheckpointReason.MANUAL)
    latest = client.get(reverse("audit:checkpoint_latest"))
    assert latest.status_code == 200 and latest.content.decode() == new.note
    assert client.get(reverse("audit:checkpoint_note", args=[old.size])).content.decode() == old.note
    answer = client.get(reverse("audit_api:consistency_proof"), {"from": old.size, "to": new.size}).json()
    assert answer["from"]["size"] == old.size and answer["proof"]
    refused = client.get(reverse("audit_api:consistency_proof"), {"from": "x", "to": "1"})
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "proof.size_invalid")
    assert client.get(reverse("audit_api:key")).json()["verifier_key"] == platform_vkey()


def test_an_inclusion_proof_is_served_to_supervisors_and_refused_to_others(client, people):
    [event] = append(1)
    tree.checkpoint_make(reason=CheckpointReason.MANUAL)
    url = reverse("audit_api:inclusion_proof", args=[event.seq])
    assert client.get(url).status_code == 404
    client.force_login(people["bob"], backend="django.contrib.auth.backends.ModelBackend")
    assert client.get(url).json()["error"]["code"] == "proof.event_not_found"
    client.force_login(people["sam"], backend="django.contrib.auth.backends.ModelBackend")
    proof = client.get(url).json()
    leaf = AuditLeaf.objects.get(seq=event.seq)
    assert (proof["seq"], proof["event_hash"], proof["leaf_index"]) == (event.seq, event.hash, leaf.index)


def test_the_supervisors_checkpoint_page_shows_the_key_and_subscribes(client, people):
    append(1)
    tree.checkpoint_make(reason=CheckpointReason.MANUAL)
    people["sam"].email = "sam@example.cn"
    people["sam"].save()
    client.force_login(people["sam"], backend="django.contrib.auth.backends.ModelBackend")
    page = client.get(reverse("audit:checkpoints"))
    assert page.status_code == 200
    assert platform_vkey() in page.content.decode()
    client.post(reverse("audit:checkpoint_subscription"), {"subscribed": "1"})
    assert CheckpointSubscription.objects.filter(user=people["sam"]).exists()
    client.force_login(people["bob"], backend="django.contrib.auth.backends.ModelBackend")
    assert client.get(reverse("audit:checkpoints")).status_code == 403


def test_closing_bidding_queues_a_checkpoint(published):
    from django.utils import timezone
    from django_tasks_db.models import DBTaskResult

    from tendering.services import lots_advance_due

    lot = published.lots.first()
    with transaction.atomic():
        type(lot).objects.filter(pk=lot.pk).update(bid_deadline=timezone.now())
    from django.test.utils import CaptureQueriesContext  # noqa: F401

    before = DBTaskResult.objects.filter(task_path="audit.tasks.make_checkpoint").count()
    from django.test import TestCase

    with TestCase.captureOnCommitCallbacks(execute=True):
        lots_advance_due()
    queued = DBTaskResult.objects.filter(task_path="audit.tasks.make_checkpoint")
    assert queued.count() == before + 1
    assert json.loads(json.dumps(queued.last().args_kwargs))["kwargs"]["reason"] == "bid_deadline"
    assert connection.vendor in ("sqlite", "postgresql")
