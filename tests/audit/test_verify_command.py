"""``manage.py verify_audit`` against a chain tampered with behind the ORM's back.

Every alteration is raw SQL through ``connection.cursor()``, as an intruder
with database access would do it; the command must name the first bad record.
The six records of ``chain`` are written one after another on one connection,
so they are positions 1 to 6 of one strand; their global ``seq`` is whatever
the database gave them (PostgreSQL's sequence does not restart per test).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from audit.encoding import GENESIS_HASH, envelope, event_hash
from audit.models import AuditEvent
from audit.services import record
from tendering import services as tendering

TABLE = connection.ops.quote_name(AuditEvent._meta.db_table)
# What a record says, as opposed to where it stands (its global seq, its strand and position).
PLACE_COLUMNS = ("seq", "strand", "strand_seq")
CONTENT_COLUMNS = [
    field.column for field in AuditEvent._meta.concrete_fields if field.column not in PLACE_COLUMNS
]


def q(name: str) -> str:
    return connection.ops.quote_name(name)


def sql(statement: str, params: list[object] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement.replace("{table}", TABLE), params or [])


def fetch_content(seq: int) -> list[object]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(q(c) for c in CONTENT_COLUMNS)} FROM {TABLE} WHERE {q('seq')} = %s",
            [seq],
        )
        return list(cursor.fetchone())


def set_content(seq: int, values: list[object]) -> None:
    assignments = ", ".join(f"{q(c)} = %s" for c in CONTENT_COLUMNS)
    sql(f"UPDATE {{table}} SET {assignments} WHERE {q('seq')} = %s", [*values, seq])


def run_verify() -> str:
    out = StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue()


def broken_at(expected_seq: int) -> str:
    with pytest.raises(CommandError) as caught:
        run_verify()
    message = str(caught.value)
    assert f"broken at #{expected_seq} (strand " in message
    assert caught.value.returncode == 1
    return message


@pytest.fixture
def chain(db) -> list[AuditEvent]:
    """Six records with payloads of every kind the encoding takes."""
    events = []
    for n in range(1, 7):
        with transaction.atomic():
            events.append(
                record(
                    f"test.step.{n}",
                    actor=None,
                    data={
                        "n": n,
                        "amount": Decimal("1000.50") * n,
                        "名称": f"第{n}步",
                        "flags": [True, None],
                    },
                    tender_id=100 + n,
                )
            )
    return events


def at(chain: list[AuditEvent], position: int) -> int:
    """The global seq of the record at ``position`` (1-based) of the fixture's strand."""
    return chain[position - 1].seq


def test_untouched_chain_built_by_real_services_verifies(people, published):
    tendering.documents_obtain(actor=people["bob"], tender=published)
    head = AuditEvent.objects.order_by("-seq").first()
    output = run_verify()
    assert "intact" in output
    assert f"{AuditEvent.objects.count()} records" in output
    assert f"newest #{head.seq} {head.hash}" in output
    assert AuditEvent.objects.filter(action="tendering.documents.obtained").exists()


@pytest.mark.django_db
def test_an_empty_chain_verifies():
    assert "empty" in run_verify()


def test_intact_chain_reports_its_head_and_count(chain):
    output = run_verify()
    assert f"6 records in 1 strand(s), newest #{chain[-1].seq} {chain[-1].hash}" in output


def test_altered_payload_is_caught_at_its_record(chain):
    sql(
        f"UPDATE {{table}} SET {q('payload')} = %s WHERE {q('seq')} = %s",
        ['{"amount":"1.00","n":3}', at(chain, 3)],
    )
    assert "altered" in broken_at(at(chain, 3))


def test_payload_rewritten_out_of_canonical_form_is_caught(chain):
    sql(f"UPDATE {{table}} SET {q('payload')} = %s WHERE {q('seq')} = %s", ['{"n": 4}', at(chain, 4)])
    assert "altered" in broken_at(at(chain, 4))


def test_payload_that_is_not_json_is_reported_not_crashed_on(chain):
    sql(f"UPDATE {{table}} SET {q('payload')} = %s WHERE {q('seq')} = %s", ["not json at all", at(chain, 2)])
    assert "altered" in broken_at(at(chain, 2))


def test_altered_hash_is_caught_at_its_record(chain):
    sql(f"UPDATE {{table}} SET {q('hash')} = %s WHERE {q('seq')} = %s", ["f" * 64, at(chain, 5)])
    assert "altered" in broken_at(at(chain, 5))


def test_altered_time_is_caught_at_its_record(chain):
    moved = chain[1].created_at - dt.timedelta(minutes=5)
    sql(
        f"UPDATE {{table}} SET {q('created_at')} = %s WHERE {q('seq')} = %s",
        [connection.ops.adapt_datetimefield_value(moved), at(chain, 2)],
    )
    assert AuditEvent.objects.get(seq=at(chain, 2)).created_at == moved
    assert "altered" in broken_at(at(chain, 2))


def test_altered_actor_column_is_caught(chain):
    sql(f"UPDATE {{table}} SET {q('actor_name')} = %s WHERE {q('seq')} = %s", ["mallory", at(chain, 6)])
    broken_at(at(chain, 6))


def test_a_record_given_another_global_number_is_caught(chain):
    sql(f"UPDATE {{table}} SET {q('seq')} = %s WHERE {q('seq')} = %s", [at(chain, 6) + 1000, at(chain, 3)])
    assert "altered" in broken_at(at(chain, 6) + 1000)


def test_a_record_moved_to_another_strand_is_caught(chain):
    sql(f"UPDATE {{table}} SET {q('strand')} = 999 WHERE {q('seq')} = %s", [at(chain, 6)])
    # Alone on strand 999 at position 6: the five before it there are missing.
    assert "missing" in broken_at(at(chain, 6))


def test_deleted_record_is_named_as_missing_at_the_next_one(chain):
    sql(f"DELETE FROM {{table}} WHERE {q('seq')} = %s", [at(chain, 4)])
    message = broken_at(at(chain, 5))
    assert "missing" in message and "position 5" in message


def test_deleted_first_record_is_named_as_missing(chain):
    sql(f"DELETE FROM {{table}} WHERE {q('seq')} = %s", [at(chain, 1)])
    assert "missing" in broken_at(at(chain, 2))


def test_deleted_record_with_later_ones_moved_up_breaks_the_link(chain):
    sql(f"DELETE FROM {{table}} WHERE {q('seq')} = %s", [at(chain, 3)])
    for position in (4, 5, 6):
        sql(
            f"UPDATE {{table}} SET {q('strand_seq')} = {q('strand_seq')} - 1 WHERE {q('seq')} = %s",
            [at(chain, position)],
        )
    assert "link" in broken_at(at(chain, 4))


def test_two_records_swapping_content_under_their_places_are_caught(chain):
    second, fifth = fetch_content(at(chain, 2)), fetch_content(at(chain, 5))
    hash_index = CONTENT_COLUMNS.index("hash")
    stand_in = list(second)
    stand_in[hash_index] = "swap-in-progress"
    set_content(at(chain, 2), stand_in)  # the hash column is unique
    set_content(at(chain, 5), second)
    set_content(at(chain, 2), fifth)
    assert AuditEvent.objects.get(seq=at(chain, 2)).action == "test.step.5"
    assert "link" in broken_at(at(chain, 2))


def test_records_reordered_by_exchanging_positions_are_caught(chain):
    def move(seq: int, position: int) -> None:
        sql(f"UPDATE {{table}} SET {q('strand_seq')} = %s WHERE {q('seq')} = %s", [position, seq])

    move(at(chain, 3), -1)
    move(at(chain, 5), 3)
    move(at(chain, 3), 5)
    assert AuditEvent.objects.get(strand=chain[0].strand, strand_seq=3).action == "test.step.5"
    assert "link" in broken_at(at(chain, 5))


def test_record_inserted_before_the_first_is_caught(chain):
    values = fetch_content(at(chain, 1))
    values[CONTENT_COLUMNS.index("hash")] = "e" * 64
    columns = ", ".join(q(c) for c in [*PLACE_COLUMNS, *CONTENT_COLUMNS])
    markers = ", ".join(["%s"] * (len(CONTENT_COLUMNS) + len(PLACE_COLUMNS)))
    forged = at(chain, 6) + 1000
    sql(f"INSERT INTO {{table}} ({columns}) VALUES ({markers})", [forged, chain[0].strand, 0, *values])
    assert "out of place" in broken_at(forged)


def test_only_the_first_of_several_alterations_is_named(chain):
    sql(f"UPDATE {{table}} SET {q('action')} = %s WHERE {q('seq')} = %s", ["test.forged", at(chain, 5)])
    sql(f"DELETE FROM {{table}} WHERE {q('seq')} = %s", [at(chain, 3)])
    broken_at(at(chain, 4))


def write_format_one_records(count: int) -> list[AuditEvent]:
    """Records as written before strands (migration 0003 kept them): format 1, seq = position on strand 0."""
    if connection.vendor == "postgresql":
        sql("SELECT setval('sunbid_audit_seq', 1000)")  # new records get seqs after them
    rows, previous = [], GENESIS_HASH
    for seq in range(1, count + 1):
        fields = {
            "seq": seq, "actor_id": None, "actor_name": "", "organisation_id": None, "organisation_name": "",
            "ip": None, "user_agent": "", "action": f"test.before.{seq}", "object_type": "", "object_id": "",
            "tender_id": None, "lot_id": None, "sensitivity": "", "payload": f'{{"n":{seq}}}',
            "prev_hash": previous,
        }
        when = dt.datetime(2026, 1, 1, 8, 0, seq, tzinfo=dt.UTC)
        digest = event_hash(envelope(time=when, **fields))
        rows.append(
            AuditEvent.objects.create(created_at=when, strand=0, strand_seq=seq, format=1, hash=digest, **fields)
        )
        previous = digest
    return rows


@pytest.mark.django_db
def test_format_one_records_verify_with_the_format_two_records_after_them():
    older = write_format_one_records(3)
    with transaction.atomic():
        newer = record("test.after", actor=None)
    if newer.strand == 0:
        assert (newer.strand_seq, newer.prev_hash) == (4, older[-1].hash)
    assert "4 records" in run_verify()


@pytest.mark.django_db
def test_a_format_one_record_after_format_two_records_is_caught():
    older = write_format_one_records(2)
    sql(f"UPDATE {{table}} SET {q('format')} = 2 WHERE {q('seq')} = 1")
    assert "altered" in broken_at(older[0].seq)


def test_a_tiny_chunk_size_walks_the_same_chain(chain):
    out = StringIO()
    call_command("verify_audit", "--chunk-size", "2", stdout=out)
    assert "6 records" in out.getvalue()
