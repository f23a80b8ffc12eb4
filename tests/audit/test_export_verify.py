"""``manage.py audit_export`` and ``python -m audit.verify``: bundles, their tampering, and the tree in the database.

The bundles are exported from events written by the real services; the
verifier runs as the outsider runs it: a separate ``python -I -m audit.verify``
with no Django settings in its environment. Every tampering must be caught and
the first bad record named by leaf index and seq.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import time_machine
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.utils import timezone

from audit import merkle
from audit.encoding import format_time, text_hash
from audit.export import record_text
from audit.models import (
    AuditCheckpoint,
    AuditEvent,
    AuditLeaf,
    AuditNode,
    AuditTreeState,
    Sensitivity,
)
from audit.note import Checkpoint, key_id, open_checkpoint, sign_note, verifier_key
from audit.selectors import chain_verify
from audit.services import record
from audit.tree import checkpoint_file_name, checkpoint_make, tree_integrate_all, tree_verify
from audit.verify import full_line
from bidding.receipts import receipt_key
from tendering import services as tendering

BASE_DIR = Path(settings.BASE_DIR)
TABLE = connection.ops.quote_name(AuditEvent._meta.db_table)


# --- running the verifier as an outsider does --------------------------------------------


@dataclass(frozen=True)
class Verdict:
    status: int
    out: str
    err: str

    @property
    def first_bad(self) -> str:
        match = re.search(r"^FIRST BAD RECORD: (.*)$", self.out, flags=re.MULTILINE)
        assert match, f"no first bad record named:\n{self.out}{self.err}"
        return match.group(1)


def verify(bundle: Path, *args: str) -> Verdict:
    """``python -I -m audit.verify``: isolated mode, no Django settings, run from the repository."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("DJANGO")}
    done = subprocess.run(
        [sys.executable, "-I", "-m", "audit.verify", str(bundle), *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Verdict(done.returncode, done.stdout, done.stderr)


def export(out: Path, *args: str) -> str:
    from io import StringIO

    buffer = StringIO()
    call_command("audit_export", *args, "--out", str(out), stdout=buffer)
    return buffer.getvalue()


# --- a world of real events ----------------------------------------------------------------


@dataclass
class World:
    tender: object
    lot: object
    other_lot: object
    other_tender: object
    first_checkpoint: AuditCheckpoint
    platform_vkey: Path

    @property
    def kept_note(self) -> Path:
        """The copy of the first checkpoint written outside the database (AUDIT_CHECKPOINT_DIR)."""
        return Path(settings.AUDIT_CHECKPOINT_DIR) / checkpoint_file_name(self.first_checkpoint)


@pytest.fixture
def world(people, make_draft, tmp_path, settings, django_capture_on_commit_callbacks) -> World:
    """Two tenders whose events interleave, a sealed obtain, a checkpoint half-way.

    Tender X has two lots; the bundle of its first lot must show X's tender-wide
    events and lot 1's own, and redact lot 2's, tender Y's and the obtains of the
    documents (sealed until the deadline, EB 21).
    """
    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"
    alice = people["alice"]
    turn = iter(range(1000))

    def step():
        """On PostgreSQL, each step on the next of three strands: the bundle interleaves them."""
        if connection.vendor == "postgresql":
            connection._sunbid_audit_strand = next(turn) % 3
        return None

    step()
    x = make_draft(lots=2)
    step()
    y = make_draft()
    step()
    x = tendering.tender_publish(actor=alice, tender=x)
    step()
    y = tendering.tender_publish(actor=alice, tender=y)
    lot, other_lot = x.lots.order_by("number")
    step()
    tendering.documents_obtain(actor=people["bob"], tender=x)
    with django_capture_on_commit_callbacks(execute=True):  # published: a file outside the database
        first = checkpoint_make(reason="manual")
    step()
    tendering.documents_obtain(actor=people["carol"], tender=y)
    step()
    tendering.lot_cancel(actor=alice, lot=other_lot, reason="预算调整，本标段取消。")
    step()
    tendering.documents_obtain(actor=people["dave"], tender=x)
    step()
    tendering.lot_cancel(actor=alice, lot=lot, reason="需求变更，本标段重新招标。")
    key = receipt_key()
    vkey = tmp_path / "platform.vkey"
    vkey.write_text(verifier_key(settings.AUDIT_LOG_ORIGIN, key.private.public_key()) + "\n")
    return World(
        tender=x,
        lot=lot,
        other_lot=other_lot,
        other_tender=y,
        first_checkpoint=first,
        platform_vkey=vkey,
    )


@pytest.fixture
def bundle(world, tmp_path) -> Path:
    out = tmp_path / "lot-bundle"
    export(out, "--lot", str(world.lot.pk))
    return out


def lines_of(bundle: Path) -> list[str]:
    return (bundle / "events.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)


def write_lines(bundle: Path, lines: list[str]) -> None:
    (bundle / "events.jsonl").write_text("".join(lines), encoding="utf-8")


def parsed(lines: list[str]) -> list[dict]:
    return [json.loads(line) for line in lines]


def full_positions(bundle: Path) -> list[int]:
    return [k for k, item in enumerate(parsed(lines_of(bundle))) if "record" in item]


# --- the untouched bundle -----------------------------------------------------------------


def test_a_lot_bundle_of_real_events_verifies_offline_without_django(world, bundle):
    verdict = verify(bundle)
    assert verdict.status == 0, verdict.out + verdict.err
    assert "RESULT: OK" in verdict.out
    assert "the bundle's own key.vkey" in verdict.out
    assert "inclusion proofs: " in verdict.out
    strands = 3 if connection.vendor == "postgresql" else 1
    assert f"in {strands} strand(s)" in verdict.out
    with_key = verify(bundle, "--key", str(world.platform_vkey))
    assert with_key.status == 0, with_key.out
    assert "the key given with --key" in with_key.out
    assert "bundle's own" not in with_key.out


def test_the_verifier_imports_nothing_of_django():
    env = {name: value for name, value in os.environ.items() if not name.startswith("DJANGO")}
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            "import sys, audit.verify; print(sorted(m for m in sys.modules if 'django' in m))",
        ],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_first_checkpoint_was_kept_outside_the_database(world):
    assert world.kept_note.read_text(encoding="utf-8") == world.first_checkpoint.note
    log = (Path(settings.AUDIT_CHECKPOINT_DIR) / "checkpoints.log").read_text(encoding="utf-8")
    assert log == world.first_checkpoint.note + "\f\n"


# --- what a bundle shows ------------------------------------------------------------------


def shown(bundle: Path) -> tuple[list[dict], list[dict]]:
    """The records shown in full (their envelopes) and the redacted lines."""
    items = parsed(lines_of(bundle))
    return [i["record"] for i in items if "record" in i], [i for i in items if i.get("redacted")]


def test_a_lot_bundle_shows_the_lot_and_its_tender_wide_events_and_redacts_the_rest(world, bundle):
    full, redacted = shown(bundle)
    x, lot = world.tender.pk, world.lot.pk
    assert full, "the lot's own events are shown"
    for envelope in full:
        assert envelope["lot_id"] == lot or (
            envelope["tender_id"] == x and envelope["lot_id"] is None
        )
        assert envelope["sensitivity"] == ""
    actions = {e["action"] for e in full}
    assert {
        "tendering.tender.created",
        "tendering.lot.created",
        "tendering.lot.cancelled",
    } <= actions
    # What is redacted: the other lot's events, the other tender's, and the sealed obtains of X's documents.
    hidden = set(
        AuditEvent.objects.filter(seq__in=[r["seq"] for r in redacted]).values_list(
            "action", "tender_id", "lot_id", "sensitivity"
        )
    )
    assert ("tendering.lot.cancelled", x, world.other_lot.pk, "") in hidden
    assert any(tender == world.other_tender.pk for _, tender, _, _ in hidden)
    assert ("tendering.documents.obtained", x, None, Sensitivity.UNTIL_BID_DEADLINE) in hidden
    assert set(redacted[0]) == {
        "leaf",
        "hash",
        "redacted",
        "seq",
        "strand",
        "strand_seq",
        "prev_hash",
    }
    # Nothing of a redacted event's content leaks, not even in the manifest's counts.
    text = (bundle / "events.jsonl").read_text(encoding="utf-8")
    assert "bob" not in text and "浙江建工" not in text
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["records"] == {
        "lines": len(full) + len(redacted),
        "full": len(full),
        "redacted": len(redacted),
        "in_scope": len(full),
    }
    assert manifest["scope"] == {"kind": "lot", "lot_id": lot, "tender_id": x}


def test_every_record_shown_is_byte_for_byte_what_was_hashed(bundle):
    for item in parsed(lines_of(bundle)):
        if "record" in item:
            row = AuditEvent.objects.values().get(seq=item["record"]["seq"])
            assert item["hash"] == row["hash"] == text_hash(record_text(row))
            assert item["record"]["time"] == format_time(row["created_at"])
            assert (
                json.dumps(
                    item["record"]["payload"],
                    ensure_ascii=False,
                    separators=(",", ":"),
                    sort_keys=True,
                )
                == row["payload"]
            )


def test_sealed_events_are_shown_once_bidding_has_closed(world, tmp_path):
    after = world.lot.bid_deadline + dt.timedelta(days=1)
    with time_machine.travel(after, tick=False):
        out = tmp_path / "after-deadline"
        export(out, "--lot", str(world.lot.pk))
    full, _ = shown(out)
    obtained = [e for e in full if e["action"] == "tendering.documents.obtained"]
    assert {e["actor_name"] for e in obtained} == {"bob", "dave"}  # not carol's: tender Y
    assert verify(out).status == 0


def test_a_tender_bundle_shows_all_its_lots(world, tmp_path):
    out = tmp_path / "tender"
    export(out, "--tender", str(world.tender.pk))
    full, redacted = shown(out)
    assert {e["lot_id"] for e in full} >= {world.lot.pk, world.other_lot.pk, None}
    assert all(e["tender_id"] == world.tender.pk for e in full)
    assert redacted
    verdict = verify(out, "--key", str(world.platform_vkey))
    assert verdict.status == 0, verdict.out


def test_a_period_bundle_redacts_only_sealed_events(world, tmp_path):
    today = timezone.localdate()
    out = tmp_path / "period"
    export(out, "--from", today.isoformat(), "--to", today.isoformat())
    full, redacted = shown(out)
    assert {AuditEvent.objects.get(seq=r["seq"]).sensitivity for r in redacted} == {
        Sensitivity.UNTIL_BID_DEADLINE
    }
    assert len(redacted) == 3  # bob's and dave's obtains of X, carol's of Y
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["leaves"]["first"] == 0
    assert (
        manifest["scope"]["kind"] == "period"
        and manifest["scope"]["time_zone"] == settings.TIME_ZONE
    )
    proofs = json.loads((out / "proofs.json").read_text(encoding="utf-8"))
    assert proofs["inclusion"] == []  # the range proof proves every event of the period at once
    verdict = verify(out, "--key", str(world.platform_vkey), "--checkpoint", str(world.kept_note))
    assert verdict.status == 0, verdict.out
    assert "external checkpoints: 1 of 1 consistent" in verdict.out


def test_a_period_without_events_is_refused(world, tmp_path):
    with pytest.raises(CommandError, match="export.empty_scope"):
        export(tmp_path / "empty", "--from", "2001-01-01", "--to", "2001-01-31")


def test_a_non_empty_out_directory_is_refused_and_left_alone(world, tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(CommandError, match="export.out_not_empty"):
        export(out, "--lot", str(world.lot.pk))
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_without_a_new_checkpoint_the_latest_is_used_and_later_events_are_left_out(world, tmp_path):
    latest = checkpoint_make(reason="manual")
    with transaction.atomic():
        late = record("test.after_checkpoint", actor=None, obj=world.lot)
    out = tmp_path / "no-checkpoint"
    export(out, "--lot", str(world.lot.pk), "--no-checkpoint")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["checkpoint"]["size"] == latest.size
    assert manifest["leaves"]["last"] < latest.size
    assert late.seq not in {
        item.get("seq", item.get("record", {}).get("seq")) for item in parsed(lines_of(out))
    }
    assert (
        AuditCheckpoint.objects.count() == 2
    )  # the fixture's and ``latest``: none made by the export
    assert verify(out).status == 0


# --- tampering with events.jsonl ------------------------------------------------------------


def shift_leaf(line: str, by: int) -> str:
    """The line with its leaf number moved by ``by``: renumbering, as a careful forger would."""
    return re.sub(r'^\{"leaf":(\d+)', lambda m: f'{{"leaf":{int(m.group(1)) + by}', line)


def seq_of(item: dict) -> int:
    return item["record"]["seq"] if "record" in item else item["seq"]


def failed_at(bundle: Path, leaf: int, seq: int | None, *words: str) -> Verdict:
    verdict = verify(bundle)
    assert verdict.status == 1, verdict.out + verdict.err
    assert "RESULT: FAILED" in verdict.out
    first = verdict.first_bad
    assert first.startswith(f"leaf {leaf}" + (f", seq {seq}," if seq is not None else ",")), first
    for word in words:
        assert word in first, first
    return verdict


def middle_full(bundle: Path) -> int:
    """A record shown in full, neither the first nor the last line."""
    positions = [k for k in full_positions(bundle) if 0 < k < len(lines_of(bundle)) - 1]
    return positions[len(positions) // 2]


def test_a_changed_field_is_named(bundle):
    lines = lines_of(bundle)
    k = middle_full(bundle)
    item = json.loads(lines[k])
    assert '"actor_name":"alice"' in lines[k]
    lines[k] = lines[k].replace('"actor_name":"alice"', '"actor_name":"agnes"')
    write_lines(bundle, lines)
    failed_at(bundle, item["leaf"], seq_of(item), "does not match its hash")


def test_a_changed_payload_is_named(bundle):
    lines = lines_of(bundle)
    k = len(lines) - 1  # the lot's cancellation, shown in full
    item = json.loads(lines[k])
    assert item["record"]["action"] == "tendering.lot.cancelled"
    lines[k] = lines[k].replace("需求变更", "正常变更")
    write_lines(bundle, lines)
    failed_at(bundle, item["leaf"], seq_of(item), "does not match its hash")


def test_a_deleted_line_is_named(bundle):
    lines = lines_of(bundle)
    k = middle_full(bundle)
    leaf = json.loads(lines[k])["leaf"]
    del lines[k]
    write_lines(bundle, lines)
    failed_at(bundle, leaf, None, "deleted")


def test_a_deleted_line_with_the_later_leaves_renumbered_is_named(bundle):
    lines = lines_of(bundle)
    k = middle_full(bundle)
    leaf = json.loads(lines[k])["leaf"]
    del lines[k]
    for j in range(k, len(lines)):
        lines[j] = shift_leaf(lines[j], -1)
    write_lines(bundle, lines)
    moved_up = json.loads(lines[k])
    failed_at(bundle, leaf, seq_of(moved_up), "deleted")


def test_an_inserted_line_is_named_even_with_a_correct_hash(bundle):
    lines = lines_of(bundle)
    k = middle_full(bundle)
    item = json.loads(lines[k])
    envelope = dict(item["record"], seq=99999, action="tendering.lot.reopened")
    text = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    forged = full_line(item["leaf"], hashlib.sha256(text.encode()).hexdigest(), text)
    lines.insert(k, forged)
    for j in range(k + 1, len(lines)):
        lines[j] = shift_leaf(lines[j], +1)
    write_lines(bundle, lines)
    failed_at(bundle, item["leaf"], 99999, "not leaf")


@pytest.mark.parametrize("renumber", [False, True], ids=["as-they-were", "renumbered"])
def test_two_swapped_lines_are_named_at_the_first(bundle, renumber):
    lines = lines_of(bundle)
    k = middle_full(bundle)
    first, second = json.loads(lines[k]), json.loads(lines[k + 1])
    lines[k], lines[k + 1] = lines[k + 1], lines[k]
    if renumber:
        lines[k] = shift_leaf(lines[k], -1)
        lines[k + 1] = shift_leaf(lines[k + 1], +1)
    write_lines(bundle, lines)
    if renumber:
        failed_at(bundle, first["leaf"], seq_of(second), "moved")
    else:
        failed_at(
            bundle, first["leaf"], None, f"the line there is leaf {second['leaf']}", "reordered"
        )


def test_truncated_records_are_named_even_with_the_manifest_edited_to_match(bundle):
    lines = lines_of(bundle)
    kept = lines[:-3]
    cut = json.loads(lines[-3])
    write_lines(bundle, kept)
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    manifest["leaves"]["last"] = cut["leaf"] - 1
    manifest["records"]["lines"] = len(kept)
    (bundle / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    verdict = failed_at(bundle, cut["leaf"], None, "missing")
    assert "manifest.json is not the text the platform signed" in verdict.out


def test_a_record_rewritten_with_its_hash_recomputed_is_named(bundle):
    lines = lines_of(bundle)
    k = middle_full(bundle)
    item = json.loads(lines[k])
    envelope = dict(item["record"], actor_name="agnes")
    text = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    lines[k] = full_line(item["leaf"], hashlib.sha256(text.encode()).hexdigest(), text)
    write_lines(bundle, lines)
    failed_at(bundle, item["leaf"], seq_of(item), "not leaf")


def test_records_and_tree_leaves_rewritten_alike_still_fail_against_the_signed_root(bundle):
    lines = lines_of(bundle)
    k = middle_full(bundle)
    item = json.loads(lines[k])
    envelope = dict(item["record"], actor_name="agnes")
    text = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()
    lines[k] = full_line(item["leaf"], digest, text)
    write_lines(bundle, lines)
    leaves = (bundle / "leaves.txt").read_text().splitlines()
    leaves[k] = digest
    (bundle / "leaves.txt").write_text("\n".join(leaves) + "\n")
    verdict = failed_at(bundle, item["leaf"], seq_of(item), "not the one its inclusion proof names")
    assert "does not have the checkpoint's root" in verdict.out
    # The strand's next record still points at the original record's hash.
    assert "previous-hash link" in verdict.out


# --- tampering with checkpoints and keys ------------------------------------------------------


def notes_of(bundle: Path) -> list[str]:
    return (bundle / "checkpoints.txt").read_text(encoding="utf-8").split("\f\n")[:-1]


def write_notes(bundle: Path, notes: list[str]) -> None:
    (bundle / "checkpoints.txt").write_text("".join(n + "\f\n" for n in notes), encoding="utf-8")


def test_an_edited_checkpoint_note_fails_its_signature_and_is_named(bundle):
    notes = notes_of(bundle)
    body, signature = notes[0].split("\n\n")
    origin, size, root, *rest = body.split("\n")
    notes[0] = "\n".join([origin, str(int(size) + 1), root, *rest]) + "\n\n" + signature
    write_notes(bundle, notes)
    verdict = verify(bundle)
    assert verdict.status == 1
    assert (
        "checkpoint 1 of checkpoints.txt (tree size" not in verdict.out
    )  # it did not open: no size trusted
    assert "checkpoint 1 of checkpoints.txt: invalid signature" in verdict.out


def resign(note: str, private: Ed25519PrivateKey) -> str:
    body = note[: note.rindex("\n\n") + 1]
    return sign_note(body, settings.AUDIT_LOG_ORIGIN, private)


def test_a_checkpoint_signed_by_another_key_is_named(bundle):
    notes = notes_of(bundle)
    notes[0] = resign(notes[0], Ed25519PrivateKey.generate())
    write_notes(bundle, notes)
    verdict = verify(bundle)
    assert verdict.status == 1
    assert (
        "checkpoint 1 of checkpoints.txt: note has no valid signature from a known key"
        in verdict.out
    )


def test_a_bundle_re_signed_with_another_key_passes_only_as_self_consistent_and_fails_against_the_platform_key(
    world, bundle
):
    forger = Ed25519PrivateKey.generate()
    origin = settings.AUDIT_LOG_ORIGIN
    write_notes(bundle, [resign(n, forger) for n in notes_of(bundle)])
    (bundle / "manifest.note").write_text(
        sign_note((bundle / "manifest.json").read_text(encoding="utf-8"), origin, forger),
        encoding="utf-8",
    )
    (bundle / "key.vkey").write_text(verifier_key(origin, forger.public_key()) + "\n")
    from cryptography.hazmat.primitives import serialization

    (bundle / "key.pem").write_bytes(
        forger.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    alone = verify(bundle)
    assert alone.status == 0
    assert (
        "the bundle's own key.vkey — this shows the bundle is consistent with itself, not that the platform made it"
        in alone.out
    )
    against = verify(bundle, "--key", str(world.platform_vkey))
    assert against.status == 1
    assert "the bundle's key.vkey is not the key given with --key" in against.out
    assert (
        "checkpoint 2 of checkpoints.txt: note has no valid signature from a known key"
        in against.out
    )


def test_the_platform_key_may_be_given_as_pem(world, bundle, tmp_path):
    pem = tmp_path / "platform.pem"
    pem.write_text(receipt_key().public_pem)
    verdict = verify(bundle, "--key", str(pem))
    assert verdict.status == 0, verdict.out


def test_a_checkpoint_kept_outside_agrees_with_an_intact_bundle(world, bundle):
    verdict = verify(
        bundle, "--key", str(world.platform_vkey), "--checkpoint", str(world.kept_note)
    )
    assert verdict.status == 0, verdict.out
    assert "external checkpoints: 1 of 1 consistent" in verdict.out


def test_a_checkpoint_newer_than_the_bundle_cannot_be_compared(world, bundle, tmp_path):
    newer = checkpoint_make(reason="manual")
    note = tmp_path / "newer.note"
    note.write_text(newer.note)
    verdict = verify(bundle, "--checkpoint", str(note))
    assert verdict.status == 2
    assert "cannot be compared with this bundle" in verdict.out


# --- history rewritten in the database --------------------------------------------------------


def rewrite_event(seq: int, **changes: object) -> None:
    """Change an event and recompute its hash and every later hash of its strand, as a database owner can."""
    event = AuditEvent.objects.get(seq=seq)
    later = list(
        AuditEvent.objects.filter(strand=event.strand, strand_seq__gte=event.strand_seq).order_by(
            "strand_seq"
        )
    )
    prev_hash = event.prev_hash
    for row in later:
        values = AuditEvent.objects.values().get(seq=row.seq)
        if row.seq == seq:
            values.update(changes)
        values["prev_hash"] = prev_hash
        values["hash"] = text_hash(record_text(values))
        # Through a queryset update: no model code, as raw SQL would; hash is unique, so move it aside first.
        AuditEvent.objects.filter(seq=row.seq).update(hash="x" * 64)
        AuditEvent.objects.filter(seq=row.seq).update(
            **{k: values[k] for k in ("actor_name", "payload", "prev_hash", "hash")}
        )
        prev_hash = values["hash"]


def rebuild_tree() -> None:
    """Throw the tree and its checkpoints away, so that the next checkpoint signs the rewritten history."""
    AuditLeaf.objects.all().delete()
    AuditNode.objects.all().delete()
    AuditTreeState.objects.all().delete()
    AuditCheckpoint.objects.all().delete()


def an_event_of_the_lot_before(world: World) -> AuditEvent:
    leaf = AuditLeaf.objects.filter(
        index__lt=world.first_checkpoint.size,
        seq__in=AuditEvent.objects.filter(
            action="tendering.lot.created", lot_id=world.lot.pk
        ).values("seq"),
    ).get()
    return AuditEvent.objects.get(seq=leaf.seq)


def test_a_history_rewritten_and_re_signed_is_caught_by_the_checkpoint_kept_outside(
    world, tmp_path
):
    victim = an_event_of_the_lot_before(world)
    rewrite_event(victim.seq, actor_name="agnes")
    assert chain_verify().ok  # the chain alone cannot tell
    rebuild_tree()
    out = tmp_path / "rewritten"
    export(out, "--lot", str(world.lot.pk))
    assert verify(out, "--key", str(world.platform_vkey)).status == 0  # self-consistent, and signed
    verdict = verify(out, "--key", str(world.platform_vkey), "--checkpoint", str(world.kept_note))
    assert verdict.status == 1
    assert f"(tree size {world.first_checkpoint.size})" in verdict.out
    assert "is not consistent with the bundle" in verdict.out
    assert "the log was rewritten after that checkpoint was made" in verdict.out


def test_an_event_rewritten_in_the_database_is_caught_by_the_tree_and_named_in_its_bundle(
    world, tmp_path
):
    victim = an_event_of_the_lot_before(world)
    leaf = AuditLeaf.objects.get(seq=victim.seq)
    rewrite_event(victim.seq, actor_name="agnes")
    assert chain_verify().ok
    findings = tree_verify()
    assert any(f"#{victim.seq} " in f for f in findings), findings
    out = tmp_path / "from-tampered-db"
    export(out, "--lot", str(world.lot.pk))
    failed_at(out, leaf.index, victim.seq, "not leaf")


def test_an_event_rewritten_with_the_tree_rebuilt_fails_against_the_stored_checkpoints(world):
    checkpoint_make(reason="manual")
    victim = an_event_of_the_lot_before(world)
    rewrite_event(victim.seq, actor_name="agnes")
    checkpoints = list(AuditCheckpoint.objects.all())
    AuditLeaf.objects.all().delete()
    AuditNode.objects.all().delete()
    AuditTreeState.objects.all().delete()
    tree_integrate_all()
    assert chain_verify().ok
    findings = tree_verify()
    assert len(checkpoints) == 2
    for checkpoint in checkpoints:
        assert any(f"（大小 {checkpoint.size}）的树根与现有记录不符" in f for f in findings), (
            findings
        )


def test_the_newest_event_deleted_from_the_database_is_caught_by_the_tree(world):
    checkpoint = checkpoint_make(reason="manual")
    tree_integrate_all()
    newest = AuditEvent.objects.order_by("-seq").first()
    leaf = AuditLeaf.objects.get(seq=newest.seq)
    AuditEvent.objects.filter(seq=newest.seq).delete()
    assert chain_verify().ok  # a strand without its newest record is still a valid chain
    findings = tree_verify()
    assert any(
        f"树叶 {leaf.index} 对应的审计记录 #{newest.seq} 已被删除或改写" in f for f in findings
    ), findings
    assert (
        checkpoint.size <= leaf.index
    )  # caught by the leaf alone, before any checkpoint covers it


def test_the_newest_events_deleted_with_their_leaves_are_caught_by_the_checkpoint(world):
    checkpoint = checkpoint_make(reason="manual")
    covered = AuditLeaf.objects.filter(index__lt=checkpoint.size).order_by("-index").first()
    newer = list(AuditEvent.objects.filter(seq__gte=covered.seq).values_list("seq", flat=True))
    AuditEvent.objects.filter(seq__in=newer).delete()
    AuditLeaf.objects.filter(index__gte=covered.index).delete()
    AuditNode.objects.all().delete()
    AuditTreeState.objects.all().delete()
    AuditLeaf.objects.all().delete()
    tree_integrate_all()
    assert chain_verify().ok
    findings = tree_verify()
    assert any(f"检查点（大小 {checkpoint.size}）之后的记录被截断" in f for f in findings), findings


def test_a_bundle_is_not_exported_over_a_deleted_event(world, tmp_path):
    checkpoint_make(reason="manual")
    victim = an_event_of_the_lot_before(world)
    AuditEvent.objects.filter(seq=victim.seq).delete()
    out = tmp_path / "broken"
    with pytest.raises(CommandError, match="export.event_missing"):
        export(out, "--lot", str(world.lot.pk))
    assert not out.exists()  # nothing half-written is left behind


# --- the worked examples of docs/audit.md -----------------------------------------------------


def doc_blocks() -> tuple[str, list[str]]:
    doc = (BASE_DIR / "docs" / "audit.md").read_text(encoding="utf-8")
    return doc, re.findall(r"```text\n(.*?)\n```", doc, flags=re.DOTALL)


def test_docs_state_the_format_1_hash_of_the_worked_example():
    from audit.encoding import envelope, event_hash
    from tests.audit.test_record import EXAMPLE_PAYLOAD

    doc, _ = doc_blocks()
    env = envelope(
        seq=1,
        time=dt.datetime(2026, 3, 1, 2, 30, 0, 123456, tzinfo=dt.UTC),
        actor_id=7,
        actor_name="bob",
        organisation_id=4,
        organisation_name="浙江建工集团有限公司",
        ip="203.0.113.7",
        user_agent="Mozilla/5.0",
        action="tendering.documents.obtained",
        object_type="tendering.documentobtain",
        object_id="12",
        tender_id=3,
        lot_id=None,
        sensitivity="until_bid_deadline",
        payload=EXAMPLE_PAYLOAD,
        prev_hash="0" * 64,
    )
    assert event_hash(env) in doc
    assert (
        len(json.dumps(env, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())
        == 698
    )


def test_docs_state_the_tree_checkpoint_and_bundle_example_byte_for_byte(tmp_path):
    """§14: leaf hashes, root, key, signed checkpoint, the bundle line — and the bundle verifies."""
    from tests.audit.test_record import EXAMPLE_CANONICAL

    doc, blocks = doc_blocks()
    data = [
        hashlib.sha256(EXAMPLE_CANONICAL.encode()).digest(),
        hashlib.sha256(b"1").digest(),
        hashlib.sha256(b"2").digest(),
    ]
    leaves = [merkle.leaf_hash(d) for d in data]
    pair = merkle.node_hash(leaves[0], leaves[1])
    root = merkle.node_hash(pair, leaves[2])
    assert root == merkle.root_of(leaves)
    for value in (*data, *leaves, pair):
        assert value.hex() in doc
    assert root.hex() in blocks
    assert base64.b64encode(root).decode() in doc

    origin = "sunbid.example.cn/audit"
    key = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"sunbid docs example key").digest())
    vkey = verifier_key(origin, key.public_key())
    assert vkey in blocks
    assert key_id(origin, key.public_key()).hex() in doc
    body = (
        Checkpoint(origin, 3, root)
        .with_time(dt.datetime(2026, 3, 1, 2, 30, 5, tzinfo=dt.UTC))
        .body()
    )
    note = sign_note(body, origin, key)
    assert note.rstrip("\n") in blocks
    assert open_checkpoint(note, [vkey])[0].size == 3

    lookup = {(0, 0): leaves[0], (0, 1): leaves[1], (0, 2): leaves[2], (1, 0): pair}.__getitem__
    assert merkle.inclusion_proof(1, 3, lambda lv, i: lookup((lv, i))) == [leaves[0], leaves[2]]
    assert merkle.consistency_proof(2, 3, lambda lv, i: lookup((lv, i))) == [leaves[2]]
    line = full_line(0, data[0].hex(), EXAMPLE_CANONICAL)
    assert line.rstrip("\n") in blocks
    inclusion = {
        "seq": 1,
        "leaf_index": 0,
        "event_hash": data[0].hex(),
        "path": [leaves[1].hex(), leaves[2].hex()],
    }
    assert json.loads(next(b for b in blocks if b.startswith('{"seq": 1'))) == inclusion

    # The documented bundle, put together from those values, is one the verifier accepts.
    bundle = tmp_path / "example"
    bundle.mkdir()
    manifest = {
        "format": "sunbid-audit-bundle/1",
        "origin": origin,
        "created_at": "2026-03-01T02:30:06.000000Z",
        "scope": {"kind": "tender", "tender_id": 3},
        "leaves": {"first": 0, "last": 0},
        "records": {"lines": 1, "full": 1, "redacted": 0, "in_scope": 1},
        "checkpoint": {"size": 3, "root": root.hex(), "time": "2026-03-01T02:30:05.000000Z"},
        "checkpoints": 1,
        "key": {
            "name": origin,
            "key_id": key_id(origin, key.public_key()).hex(),
            "fingerprint": "",
        },
        "files": [],
    }
    text = json.dumps(manifest, indent=2) + "\n"
    from cryptography.hazmat.primitives import serialization

    files = {
        "manifest.json": text,
        "manifest.note": sign_note(text, origin, key),
        "events.jsonl": line,
        "leaves.txt": data[0].hex() + "\n",
        "checkpoints.txt": note + "\f\n",
        "key.vkey": vkey + "\n",
        "key.pem": key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
        "proofs.json": json.dumps(
            {
                "format": "sunbid-audit-bundle/1",
                "tree_size": 3,
                "root": root.hex(),
                "range": {
                    "first": 0,
                    "last": 0,
                    "left": [],
                    "right": [
                        {"level": 0, "index": 1, "hash": leaves[1].hex()},
                        {"level": 0, "index": 2, "hash": leaves[2].hex()},
                    ],
                },
                "inclusion": [inclusion],
                "consistency": [],
            }
        ),
    }
    for name, content in files.items():
        (bundle / name).write_text(content, encoding="utf-8")
    verdict = verify(bundle)
    assert verdict.status == 0, verdict.out + verdict.err
    assert "inclusion proofs: 1 of 1 verified" in verdict.out


# --- more of the verifier's answers -------------------------------------------------------------


@pytest.mark.parametrize(
    "missing", ["events.jsonl", "leaves.txt", "proofs.json", "key.vkey", "manifest.note"]
)
def test_a_bundle_missing_a_file_cannot_be_checked(bundle, missing):
    (bundle / missing).unlink()
    verdict = verify(bundle)
    assert verdict.status == 2
    assert f"{missing} is missing" in verdict.err


def test_a_directory_that_is_not_a_bundle_cannot_be_checked(bundle, tmp_path):
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    manifest["format"] = "sunbid-audit-bundle/9"
    (bundle / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert verify(bundle).status == 2
    assert verify(tmp_path / "nowhere").status == 2


def test_leaves_txt_altered_alone_is_told_apart_from_altered_records(bundle):
    leaves = (bundle / "leaves.txt").read_text().splitlines()
    leaves[3] = "f" * 64
    (bundle / "leaves.txt").write_text("\n".join(leaves) + "\n")
    verdict = verify(bundle)
    assert verdict.status == 1
    assert (
        "leaves.txt was altered: it does not give the checkpoint's root, while the records' own hashes do"
        in verdict.out
    )
    assert "FIRST BAD RECORD" not in verdict.out  # the records themselves are intact


def test_a_line_cut_in_the_middle_is_named(bundle):
    text = (bundle / "events.jsonl").read_text(encoding="utf-8")
    lines = lines_of(bundle)
    last = json.loads(lines[-1])
    (bundle / "events.jsonl").write_text(text[: len(text) - 40], encoding="utf-8")
    failed_at(bundle, last["leaf"], None, "does not end with a newline")


@pytest.mark.skipif(
    connection.vendor != "sqlite",
    reason="format 1 records are strand 0 with strand_seq = seq: one strand",
)
def test_records_written_before_strands_are_exported_and_verified(world, tmp_path):
    """The oldest records rewritten as format 1, as the strands migration left them, with the chain recomputed."""
    events = list(AuditEvent.objects.order_by("strand_seq").values())
    prev = "0" * 64
    for n, row in enumerate(events):
        row["format"] = 1 if n < 10 else 2
        row["prev_hash"] = prev
        row["hash"] = text_hash(record_text(row))
        AuditEvent.objects.filter(seq=row["seq"]).update(hash="x" * 64 + str(n))
        prev = row["hash"]
    for row in events:
        AuditEvent.objects.filter(seq=row["seq"]).update(
            format=row["format"], prev_hash=row["prev_hash"], hash=row["hash"]
        )
    assert chain_verify().ok
    rebuild_tree()
    out = tmp_path / "formats"
    today = timezone.localdate().isoformat()
    export(out, "--from", today, "--to", today)
    versions = {item["record"]["v"] for item in parsed(lines_of(out)) if "record" in item}
    assert versions == {1, 2}
    verdict = verify(out)
    assert verdict.status == 0, verdict.out
    lines = lines_of(out)
    lines[2] = lines[2].replace('"v":1}', '"v":2}')
    write_lines(out, lines)
    assert "unknown record format" in verify(out).first_bad
