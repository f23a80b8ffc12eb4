"""``manage.py verify_audit`` against a chain tampered with behind the ORM's back.

Every alteration is raw SQL through ``connection.cursor()``, as an intruder
with database access would do it; the command must name the first bad record.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from audit.models import AuditEvent
from audit.services import record
from tendering import services as tendering

TABLE = connection.ops.quote_name(AuditEvent._meta.db_table)
CONTENT_COLUMNS = [
    field.column for field in AuditEvent._meta.concrete_fields if field.column != "seq"
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
    assert f"broken at #{expected_seq}:" in message
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


def test_untouched_chain_built_by_real_services_verifies(people, published):
    tendering.documents_obtain(actor=people["bob"], tender=published)
    head = AuditEvent.objects.order_by("-seq").first()
    output = run_verify()
    assert "intact" in output
    assert f"{AuditEvent.objects.count()} records" in output
    assert f"head #{head.seq} {head.hash}" in output
    assert AuditEvent.objects.filter(action="tendering.documents.obtained").exists()


@pytest.mark.django_db
def test_an_empty_chain_verifies():
    assert "empty" in run_verify()


def test_intact_chain_reports_its_head_and_count(chain):
    output = run_verify()
    assert f"6 records, head #6 {chain[-1].hash}" in output


def test_altered_payload_is_caught_at_its_record(chain):
    sql(
        f"UPDATE {{table}} SET {q('payload')} = %s WHERE {q('seq')} = 3",
        ['{"amount":"1.00","n":3}'],
    )
    assert "altered" in broken_at(3)


def test_payload_rewritten_out_of_canonical_form_is_caught(chain):
    sql(f"UPDATE {{table}} SET {q('payload')} = %s WHERE {q('seq')} = 4", ['{"n": 4}'])
    assert "canonical" in broken_at(4)


def test_payload_that_is_not_json_is_reported_not_crashed_on(chain):
    sql(f"UPDATE {{table}} SET {q('payload')} = %s WHERE {q('seq')} = 2", ["not json at all"])
    assert "canonical" in broken_at(2)


def test_altered_hash_is_caught_at_its_record(chain):
    sql(f"UPDATE {{table}} SET {q('hash')} = %s WHERE {q('seq')} = 5", ["f" * 64])
    assert "altered" in broken_at(5)


def test_altered_time_is_caught_at_its_record(chain):
    moved = chain[1].created_at - dt.timedelta(minutes=5)
    sql(
        f"UPDATE {{table}} SET {q('created_at')} = %s WHERE {q('seq')} = 2",
        [connection.ops.adapt_datetimefield_value(moved)],
    )
    assert AuditEvent.objects.get(seq=2).created_at == moved
    assert "altered" in broken_at(2)


def test_altered_actor_column_is_caught(chain):
    sql(f"UPDATE {{table}} SET {q('actor_name')} = %s WHERE {q('seq')} = 6", ["mallory"])
    broken_at(6)


def test_deleted_record_is_named_as_missing(chain):
    sql(f"DELETE FROM {{table}} WHERE {q('seq')} = 4")
    assert "missing" in broken_at(4)


def test_deleted_first_record_is_named_as_missing(chain):
    sql(f"DELETE FROM {{table}} WHERE {q('seq')} = 1")
    assert "missing" in broken_at(1)


def test_deleted_record_with_later_ones_renumbered_breaks_the_link(chain):
    sql(f"DELETE FROM {{table}} WHERE {q('seq')} = 3")
    for seq in (4, 5, 6):
        sql(f"UPDATE {{table}} SET {q('seq')} = %s WHERE {q('seq')} = %s", [seq - 1, seq])
    assert "link" in broken_at(3)


def test_two_records_swapping_content_under_their_sequence_numbers_are_caught(chain):
    second, fifth = fetch_content(2), fetch_content(5)
    hash_index = CONTENT_COLUMNS.index("hash")
    placeholder = list(second)
    placeholder[hash_index] = "swap-in-progress"
    set_content(2, placeholder)  # the hash column is unique
    set_content(5, second)
    set_content(2, fifth)
    assert AuditEvent.objects.get(seq=2).action == "test.step.5"
    assert "link" in broken_at(2)


def test_records_reordered_by_exchanging_sequence_numbers_are_caught(chain):
    sql(f"UPDATE {{table}} SET {q('seq')} = -1 WHERE {q('seq')} = 3")
    sql(f"UPDATE {{table}} SET {q('seq')} = 3 WHERE {q('seq')} = 5")
    sql(f"UPDATE {{table}} SET {q('seq')} = 5 WHERE {q('seq')} = -1")
    assert AuditEvent.objects.get(seq=3).action == "test.step.5"
    assert "link" in broken_at(3)


def test_record_inserted_before_the_first_is_caught(chain):
    values = fetch_content(1)
    values[CONTENT_COLUMNS.index("hash")] = "e" * 64
    columns = ", ".join(q(c) for c in ["seq", *CONTENT_COLUMNS])
    placeholders = ", ".join(["%s"] * (len(CONTENT_COLUMNS) + 1))
    sql(f"INSERT INTO {{table}} ({columns}) VALUES ({placeholders})", [0, *values])
    assert "out of place" in broken_at(0)


def test_only_the_first_of_several_alterations_is_named(chain):
    sql(f"UPDATE {{table}} SET {q('action')} = %s WHERE {q('seq')} = 5", ["test.forged"])
    sql(f"DELETE FROM {{table}} WHERE {q('seq')} = 3")
    broken_at(3)


def test_a_tiny_chunk_size_walks_the_same_chain(chain):
    out = StringIO()
    call_command("verify_audit", "--chunk-size", "2", stdout=out)
    assert "6 records" in out.getvalue()
