"""Concurrent appenders must leave every strand linear, never a fork or a gap.

Runs unchanged on SQLite (BEGIN IMMEDIATE serialises writers: one strand,
seq without gaps) and on PostgreSQL (each transaction holds one strand's
advisory lock; several append at once), see docs/audit.md §5.
"""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection, transaction

from audit.encoding import GENESIS_HASH
from audit.models import AuditEvent
from audit.selectors import chain_verify
from audit.services import record, record_standalone

THREADS = 8
EACH = 5


@pytest.mark.django_db(transaction=True)
def test_concurrent_appenders_leave_every_strand_linear():
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def append(worker: int) -> None:
        try:
            barrier.wait(timeout=30)
            for n in range(EACH):
                with transaction.atomic():
                    record("test.concurrent", actor=None, data={"worker": worker, "n": n})
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=append, args=(worker,)) for worker in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []

    rows = list(
        AuditEvent.objects.order_by("strand", "strand_seq").values_list(
            "seq", "strand", "strand_seq", "prev_hash", "hash", "payload"
        )
    )
    assert len({seq for seq, *_ in rows}) == THREADS * EACH
    strands: dict[int, list[tuple[int, str, str]]] = {}
    for _seq, strand, position, prev_hash, digest, _payload in rows:
        strands.setdefault(strand, []).append((position, prev_hash, digest))
    for chain in strands.values():
        # Every strand: positions 1, 2, 3 … each linked to the one before, never a fork or a gap.
        assert [position for position, *_ in chain] == list(range(1, len(chain) + 1))
        previous = GENESIS_HASH
        for _position, prev_hash, digest in chain:
            assert prev_hash == previous
            previous = digest
    if connection.vendor == "sqlite":
        assert sorted(seq for seq, *_ in rows) == list(range(1, THREADS * EACH + 1))
    written = sorted((p["worker"], p["n"]) for p in (json.loads(row[5]) for row in rows))
    assert written == [(worker, n) for worker in range(THREADS) for n in range(EACH)]
    report = chain_verify()
    assert report.ok
    assert (report.checked, report.strands) == (THREADS * EACH, len(strands))
    newest = AuditEvent.objects.order_by("-seq").first()
    assert (report.head_seq, report.head_hash) == (newest.seq, newest.hash)


@pytest.mark.django_db(transaction=True)
def test_transactions_open_at_the_same_time_append_on_different_strands_without_waiting():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time: one strand")
    holders = 4
    inside = threading.Barrier(holders)
    strands: list[int] = []
    errors: list[BaseException] = []

    def append_and_hold(worker: int) -> None:
        try:
            with transaction.atomic():
                first = record("test.held", actor=None, data={"worker": worker, "n": 0})
                # All four hold their strand here at once: none waited for another.
                inside.wait(timeout=30)
                second = record("test.held", actor=None, data={"worker": worker, "n": 1})
                assert second.strand == first.strand  # one transaction stays on its strand
                assert second.prev_hash == first.hash
                strands.append(first.strand)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=append_and_hold, args=(worker,)) for worker in range(holders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(set(strands)) == holders
    assert chain_verify().ok


@pytest.mark.django_db(transaction=True)
def test_a_standalone_event_outside_any_transaction_is_appended_linked_and_verified():
    first = record_standalone("accounts.login.succeeded", actor=None, data={"n": 1})
    second = record_standalone("accounts.logout", actor=None, data={"n": 2})

    assert connection.get_autocommit() and not connection.in_atomic_block
    stored = list(AuditEvent.objects.order_by("seq").values_list("seq", "hash"))
    assert stored == [(first.seq, first.hash), (second.seq, second.hash)]
    report = chain_verify()
    assert report.ok and report.checked == 2


@pytest.mark.django_db(transaction=True)
def test_a_standalone_event_inside_a_transaction_rolls_back_with_it():
    with pytest.raises(RuntimeError, match="rolled back"), transaction.atomic():
        record_standalone("accounts.login.succeeded", actor=None, data={})
        raise RuntimeError("rolled back")

    assert not AuditEvent.objects.exists()


def test_record_outside_a_transaction_is_still_refused():
    with pytest.raises(RuntimeError, match="inside transaction.atomic"):
        record("tendering.lot.published", actor=None, data={})


@pytest.mark.django_db(transaction=True)
def test_the_append_statement_is_prepared_once_a_connection_has_used_it_a_few_times():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite appends through the ORM")
    connection.ensure_connection()
    connection.connection.prepare_threshold = 5  # as DB_PREPARE_THRESHOLD=5 sets it (settings)
    for n in range(8):
        record_standalone("test.prepared", actor=None, data={"n": n})
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE '%sunbid_audit_append%'")
        prepared = [statement for (statement,) in cursor.fetchall()]
    # One statement, whatever the values: the casts keep its parameter types the same.
    assert len(prepared) == 1 and "$20::text" in prepared[0]
    assert chain_verify().checked == 8


@pytest.mark.django_db(transaction=True)
def test_an_append_the_database_refuses_raises_djangos_error_and_leaves_the_chain_whole():
    from django.db import DataError

    if connection.vendor != "postgresql":
        pytest.skip("SQLite appends through the ORM")
    record_standalone("test.before", actor=None, data={})
    with pytest.raises(DataError), transaction.atomic():
        record("test.too_big", actor=None, data={}, tender_id=2**70)
    record_standalone("test.after", actor=None, data={})
    report = chain_verify()
    assert report.ok and report.checked == 2


@pytest.mark.django_db(transaction=True)
def test_an_append_in_a_transaction_already_broken_is_refused_as_django_refuses_any_query():
    from django.db import DatabaseError
    from django.db.transaction import TransactionManagementError

    with transaction.atomic():
        record("test.first", actor=None, data={})
        with pytest.raises(DatabaseError), transaction.atomic(savepoint=False), connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table")
        with pytest.raises(TransactionManagementError):
            record("test.after_error", actor=None, data={})
        transaction.set_rollback(True)
    assert not AuditEvent.objects.exists()
