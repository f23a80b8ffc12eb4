"""The fast checks on PostgreSQL give the reference walks' reports: the chains (``audit.verify_db``) and the tree.

Rows are streamed with COPY and checked by ``audit.chain.scan_copy``; rows it
cannot rebuild are hashed from their values, and a strand where anything does
not hold is walked again by ``verify_rows``. Each test compares the report with
the reference's — ``verify_rows`` over every row in strand order — and, where
the fast walk should have managed alone, checks that the reference was not
needed. Every alteration is raw SQL, as an intruder with the database would do it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction

from audit import tree, verify_db
from audit.chain import ROW_FIELDS, ChainReport, verify_rows
from audit.models import AuditCheckpoint, AuditEvent, AuditLeaf, CheckpointReason
from audit.selectors import chain_verify
from audit.services import record

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the COPY walk is PostgreSQL's; SQLite walks the rows (verify_rows)"
)

STRANDS = (0, 1, 2)


def reference() -> ChainReport:
    rows = AuditEvent.objects.order_by("strand", "strand_seq").values(*ROW_FIELDS)
    return verify_rows(rows.iterator())


def same(report: ChainReport, expected: ChainReport) -> None:
    assert dataclasses.asdict(report) == dataclasses.asdict(expected)


def sql(statement: str, params: list[object] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])


def append(n: int, strand: int, **data: object) -> AuditEvent:
    """An event on the given strand (the connection's preferred one is tried first)."""
    connection._sunbid_audit_strand = strand
    with transaction.atomic():
        event = record(f"test.fast.{n}", actor=None, data={"n": n, **data}, tender_id=7, lot_id=n % 3 or None)
    assert event.strand == strand
    return event


@pytest.fixture
def chain(db) -> list[AuditEvent]:
    """Twelve ordinary events over three strands, interleaved."""
    return [append(n, STRANDS[n % 3]) for n in range(12)]


@pytest.fixture
def reference_walks(monkeypatch) -> Iterator[list[int]]:
    """The strands the fast walk handed back to the reference walk."""
    walked: list[int] = []
    real = verify_db.verify_rows

    def spy(rows):  # noqa: ANN001, ANN202
        rows = list(rows)
        walked.append(rows[0]["strand"] if rows else -1)
        return real(rows)

    monkeypatch.setattr(verify_db, "verify_rows", spy)
    yield walked


@pytest.fixture
def deferred(monkeypatch) -> Iterator[list[int]]:
    """The seqs of the rows the fast walk handed back to be hashed from their values."""
    seqs: list[int] = []
    real = verify_db.deferred_holds

    def spy(row, first_v2):  # noqa: ANN001, ANN202
        seqs.append(row["seq"])
        return real(row, first_v2)

    monkeypatch.setattr(verify_db, "deferred_holds", spy)
    yield seqs


def test_an_untouched_chain_is_certified_by_the_fast_walk_alone(chain, reference_walks, deferred):
    report = chain_verify()

    same(report, reference())
    assert report.ok and report.checked == 12 and report.strands == 3
    assert (report.head_seq, report.head_hash) == (chain[-1].seq, chain[-1].hash)
    assert reference_walks == [] and deferred == []


@pytest.mark.parametrize(
    "awkward",
    [
        {"note": 'a "quoted" word'},
        {"note": "a back\\slash"},
        {"note": "two\nlines\tand a tab"},
        {"note": "a bell \x07 and an escape \x1b"},
        {"note": "中文、全角标点，以及 emoji 🎉"},
    ],
)
def test_rows_it_cannot_rebuild_are_hashed_from_their_values_and_verify(chain, awkward, reference_walks, deferred):
    odd = append(100, 1, **awkward)
    after = append(101, 1)

    report = chain_verify()

    same(report, reference())
    assert report.ok and report.checked == 14
    assert reference_walks == []
    if awkward["note"].isprintable() and '"' not in awkward["note"] and "\\" not in awkward["note"]:
        assert deferred == []  # Chinese text needs no escape: the fast walk rebuilds it
    else:
        assert deferred == [odd.seq]
    assert after.seq not in deferred


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("actor_name", 'an "intruder"'),
        ("user_agent", "curl/8\x01"),
        ("organisation_name", "某公司\\分公司"),
        ("ip", "2001:db8::1"),
        ("object_type", "tendering.lot"),
    ],
)
def test_odd_values_written_by_an_intruder_are_caught_as_the_reference_catches_them(chain, column, value):
    victim = chain[4]
    sql(f"UPDATE audit_auditevent SET {column} = %s WHERE seq = %s", [value, victim.seq])

    report = chain_verify()

    same(report, reference())
    assert not report.ok and report.bad_seq == victim.seq and report.code == "altered"


@pytest.mark.parametrize(
    ("what", "statement", "expected_code"),
    [
        ("payload", "UPDATE audit_auditevent SET payload = '{\"n\":99}' WHERE seq = %(seq)s", "altered"),
        ("time", "UPDATE audit_auditevent SET created_at = created_at + interval '1 second' WHERE seq = %(seq)s", "altered"),
        ("link", "UPDATE audit_auditevent SET prev_hash = repeat('a', 64) WHERE seq = %(seq)s", "broken_link"),
        ("deleted", "DELETE FROM audit_auditevent WHERE seq = %(seq)s", "missing"),
        ("format", "UPDATE audit_auditevent SET format = 1 WHERE seq = %(seq)s", "bad_format"),
        ("renumbered", "UPDATE audit_auditevent SET strand_seq = strand_seq + 100 WHERE seq = %(seq)s", "missing"),
    ],
)
def test_each_alteration_gets_the_reference_walks_report(chain, what, statement, expected_code):
    victim = chain[4]  # strand 1, position 2
    sql(statement, {"seq": victim.seq})

    report = chain_verify()

    same(report, reference())
    assert not report.ok and report.code == expected_code


def test_records_reordered_within_a_strand_are_caught_as_the_reference_catches_them(chain):
    first, second = chain[1], chain[4]  # strand 1, positions 1 and 2: swap their places
    sql("UPDATE audit_auditevent SET strand_seq = -strand_seq WHERE seq IN (%s, %s)", [first.seq, second.seq])
    sql("UPDATE audit_auditevent SET strand_seq = 2 WHERE seq = %s", [first.seq])
    sql("UPDATE audit_auditevent SET strand_seq = 1 WHERE seq = %s", [second.seq])

    report = chain_verify()

    same(report, reference())
    assert not report.ok and report.bad_strand == 1


def test_an_earlier_strand_that_holds_is_counted_before_the_broken_one(chain):
    victim = chain[5]  # strand 2, position 2
    sql("UPDATE audit_auditevent SET action = 'test.forged' WHERE seq = %s", [victim.seq])

    report = chain_verify()

    same(report, reference())
    assert report.checked == 4 + 4 + 1  # strands 0 and 1 whole, then strand 2's first record


@pytest.mark.django_db(transaction=True)
def test_worker_processes_reading_seq_ranges_in_one_snapshot_give_the_same_report():
    events = [append(n, STRANDS[n % 3], note='"quoted"' if n == 7 else "plain") for n in range(30)]

    assert chain_verify(jobs=3) == reference()
    assert chain_verify(jobs=3).checked == 30

    sql("UPDATE audit_auditevent SET payload = '{}' WHERE seq = %s", [events[16].seq])
    report = chain_verify(jobs=3)
    same(report, reference())
    assert not report.ok and report.bad_seq == events[16].seq


@pytest.mark.django_db(transaction=True)
def test_worker_ranges_that_do_not_join_up_are_caught():
    events = [append(n, STRANDS[n % 3]) for n in range(30)]
    # The last record of strand 0 in the first range loses its link to the first in the next.
    sql("DELETE FROM audit_auditevent WHERE seq = %s", [events[9].seq])

    report = chain_verify(jobs=3)

    same(report, reference())
    assert not report.ok and report.code == "missing" and report.bad_strand == 0


def test_an_empty_table_verifies(db):
    report = chain_verify()
    assert report.ok and report.checked == 0 and report.head_seq is None


# --- the tree ------------------------------------------------------------------------------


@pytest.fixture
def walks(monkeypatch) -> list[int]:
    """Counts the leaf-by-leaf walks ``tree_verify`` fell back to; blocks of 4 leaves, so runs cross blocks."""
    calls: list[int] = []
    real = tree._tree_verify_walk

    def spy() -> list[str]:
        calls.append(1)
        return real()

    monkeypatch.setattr(tree, "_tree_verify_walk", spy)
    monkeypatch.setattr(tree, "_BLOCK_LEVEL", 2)
    return calls


@pytest.fixture
def checkpointed(chain) -> list[int]:
    """The chain's twelve events and nine more, with checkpoints inside blocks and on a block's edge."""
    sizes = []
    for n in range(12, 21):
        append(n, STRANDS[n % 3])
        if n in (12, 14, 15, 20):
            sizes.append(tree.checkpoint_make(reason=CheckpointReason.MANUAL).size)
    return sizes


def test_an_intact_tree_is_held_against_every_checkpoint_from_streamed_blocks(checkpointed, walks):
    # (each checkpoint is itself an event) some sizes fall inside a block of 4, some on its edge
    assert any(size % 4 for size in checkpointed) and any(size % 4 == 0 for size in checkpointed)

    assert tree.tree_verify() == [] == tree._tree_verify_walk()
    assert walks == [1]  # only the comparison's own call: tree_verify needed no walk


def test_a_checkpoint_whose_root_no_longer_matches_is_named_as_the_walk_names_it(checkpointed, walks):
    AuditCheckpoint.objects.filter(size=checkpointed[1]).update(root="ab" * 32)

    findings = tree.tree_verify()

    assert findings == tree._tree_verify_walk()
    assert len(findings) == 1 and f"大小 {checkpointed[1]}" in findings[0]
    assert walks == [1]


def test_newest_events_dropped_after_a_checkpoint_are_named_as_the_walk_names_them(checkpointed, walks):
    newest = list(AuditLeaf.objects.order_by("-index").values_list("seq", flat=True)[:3])
    AuditLeaf.objects.filter(seq__in=newest).delete()
    AuditEvent.objects.filter(seq__in=newest).delete()

    findings = tree.tree_verify()

    assert findings == tree._tree_verify_walk()
    assert any("截断" in finding for finding in findings)
    assert walks == [1]


def test_a_leaf_that_no_longer_holds_its_events_hash_sends_the_check_to_the_walk(checkpointed, walks):
    victim = AuditLeaf.objects.get(index=5)
    sql("UPDATE audit_auditevent SET hash = repeat('c', 64) WHERE seq = %s", [victim.seq])

    findings = tree.tree_verify()

    assert walks == [1]
    assert findings == tree._tree_verify_walk()
    assert any("5" in finding for finding in findings)


def test_worker_processes_connect_as_the_platform_does_with_its_libpq_options(db, monkeypatch):
    wrapper = connections[DEFAULT_DB_ALIAS]  # the wrapper itself, not the proxy in front of it
    settings = {**wrapper.settings_dict, "OPTIONS": {"sslmode": "prefer", "prepare_threshold": 5}}
    monkeypatch.setattr(wrapper, "settings_dict", settings)

    conninfo = verify_db._conninfo()

    assert "sslmode=prefer" in conninfo and f"dbname={settings['NAME']}" in conninfo
    assert "prepare_threshold" not in conninfo  # Django's own, not libpq's
