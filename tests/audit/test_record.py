"""``audit.services.record``: in the caller's transaction, exact payloads, the documented bytes."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.db import connection, transaction

from accounts.models import Organisation, User
from audit.context import AuditContext, bind
from audit.models import AuditEvent, Sensitivity
from audit.selectors import chain_verify
from audit.services import network_address, record
from tendering.models import DocumentObtain

GENESIS = "0" * 64


@pytest.mark.django_db(transaction=True)
def test_record_outside_a_transaction_is_refused():
    with pytest.raises(RuntimeError, match="transaction.atomic"):
        record("test.orphan", actor=None)
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_record_rolled_back_with_its_transaction_leaves_no_event_and_no_gap():
    with transaction.atomic():
        record("test.first", actor=None)

    class ChangeFailed(Exception):
        pass

    with pytest.raises(ChangeFailed), transaction.atomic():
        record("test.doomed", actor=None, data={"n": 1})
        raise ChangeFailed

    assert not AuditEvent.objects.filter(action="test.doomed").exists()
    with transaction.atomic():
        record("test.second", actor=None)
    # One connection keeps to one strand; the strand has no gap where the change rolled back.
    assert list(AuditEvent.objects.order_by("seq").values_list("strand_seq", "action")) == [
        (1, "test.first"),
        (2, "test.second"),
    ]
    first, second = AuditEvent.objects.order_by("seq")
    assert first.strand == second.strand
    assert second.prev_hash == first.hash
    assert chain_verify().ok


@pytest.mark.django_db(transaction=True)
def test_record_rolled_back_with_a_savepoint_leaves_no_gap():
    with transaction.atomic():
        record("test.kept", actor=None)
        try:
            with transaction.atomic():
                record("test.undone", actor=None)
                raise ValueError("the inner change failed")
        except ValueError:
            pass
        record("test.after", actor=None)
    assert list(AuditEvent.objects.order_by("seq").values_list("strand_seq", "action")) == [
        (1, "test.kept"),
        (2, "test.after"),
    ]
    assert chain_verify().ok


@pytest.mark.django_db
@pytest.mark.parametrize("data", [{"price": 1.5}, {"nested": {"rates": [0.02]}}])
def test_floats_in_payloads_are_refused(data):
    with pytest.raises(TypeError, match="floats"), transaction.atomic():
        record("test.float", actor=None, data=data)
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_naive_datetimes_in_payloads_are_refused():
    with pytest.raises(TypeError, match="timezone-aware"), transaction.atomic():
        record("test.naive", actor=None, data={"deadline": dt.datetime(2026, 3, 1, 9, 0)})
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_decimal_payloads_are_stored_as_strings_without_losing_a_fen():
    with transaction.atomic():
        event = record(
            "test.money",
            actor=None,
            data={
                "price": Decimal("11800000.00"),
                "rate": Decimal("0.0200"),
                "parts": [Decimal("0.10")],
            },
        )
    stored = AuditEvent.objects.get(seq=event.seq)
    assert stored.data == {"parts": ["0.10"], "price": "11800000.00", "rate": "0.0200"}
    assert stored.payload == '{"parts":["0.10"],"price":"11800000.00","rate":"0.0200"}'


@pytest.mark.django_db
def test_aware_datetimes_in_payloads_are_written_in_utc_with_microseconds():
    beijing = dt.timezone(dt.timedelta(hours=8))
    with transaction.atomic():
        event = record(
            "test.time", actor=None, data={"at": dt.datetime(2026, 3, 1, 9, 30, tzinfo=beijing)}
        )
    assert event.data == {"at": "2026-03-01T01:30:00.000000Z"}


@pytest.mark.django_db
def test_event_records_who_acted_from_where_and_on_what(people, published):
    bob = people["bob"]
    with bind(AuditContext(ip="198.51.100.23", user_agent="SunbidTest/1.0")), transaction.atomic():
        event = record("test.seen", actor=bob, obj=published.lots.get())
    assert event.actor_id == bob.pk
    assert event.actor_name == "bob"
    assert event.organisation_name == "浙江建工集团有限公司"
    assert event.ip == "198.51.100.23"
    assert event.user_agent == "SunbidTest/1.0"
    assert event.object_type == "tendering.lot"
    assert (event.tender_id, event.lot_id) == (published.pk, published.lots.get().pk)


@pytest.mark.parametrize(
    ("raw", "recorded"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("::ffff:10.0.0.1", "10.0.0.1"),
        ("::10.0.0.1", "10.0.0.1"),
        ("fe80::1%eth0", "fe80::1"),
        ("::1", "::1"),
        ("unknown", None),
        ("", None),
        (None, None),
    ],
)
def test_network_addresses_are_recorded_in_one_stable_form(raw, recorded):
    assert network_address(raw) == recorded


@pytest.mark.django_db
@pytest.mark.parametrize(
    "raw", ["2001:0DB8::0001", "::ffff:192.0.2.1", "::192.0.2.1", "not-an-address"]
)
def test_records_from_unusual_addresses_still_verify(raw):
    """The database rewrites addresses; the hash must cover what it gives back."""
    with bind(AuditContext(ip=raw)), transaction.atomic():
        record("test.address", actor=None)
    assert chain_verify().ok


@pytest.mark.django_db
def test_overlong_client_string_is_cut_before_hashing():
    with bind(AuditContext(user_agent="x" * 1000)), transaction.atomic():
        event = record("test.agent", actor=None)
    assert len(AuditEvent.objects.get(seq=event.seq).user_agent) == 300
    assert chain_verify().ok


# --- the worked example of docs/audit.md ------------------------------------------------

# Written out by hand from the rules in docs/audit.md, section "Worked example".
EXAMPLE_PAYLOAD = (
    '{"bid_security":"200000.00","confirmed":true,"credit_code":"91330100MA00000042",'
    '"deadline":"2026-03-31T01:30:00.000000Z","lots":[1,2],'
    '"note":"Tab\\there, \\"quoted\\" — 引号","organisation":"浙江建工集团有限公司","withdrawn_at":null}'
)
EXAMPLE_CANONICAL = (
    '{"action":"tendering.documents.obtained","actor_id":7,"actor_name":"bob","ip":"203.0.113.7",'
    '"lot_id":null,"object_id":"12","object_type":"tendering.documentobtain","organisation_id":4,'
    '"organisation_name":"浙江建工集团有限公司","payload":' + EXAMPLE_PAYLOAD + ","
    '"prev_hash":"' + GENESIS + '","sensitivity":"until_bid_deadline","seq":1,"strand":0,"strand_seq":1,'
    '"tender_id":3,"time":"2026-03-01T02:30:00.123456Z","user_agent":"Mozilla/5.0","v":2}'
)


def _record_the_example() -> AuditEvent:
    """The documented event, written through ``record`` into an empty chain."""
    beijing = dt.timezone(dt.timedelta(hours=8))
    bob = User(pk=7, username="bob", organisation=Organisation(pk=4, name="浙江建工集团有限公司"))
    obtain = DocumentObtain(pk=12, tender_id=3)
    frozen = dt.datetime(2026, 3, 1, 10, 30, 0, 123456, tzinfo=beijing)
    if connection.vendor == "postgresql":
        # The documented event is seq 1 on strand 0: restart the sequence, prefer strand 0.
        with connection.cursor() as cursor:
            cursor.execute("SELECT setval('sunbid_audit_seq', 1, false)")
        connection._sunbid_audit_strand = 0
    with (
        time_machine.travel(frozen, tick=False),
        bind(AuditContext(ip="203.0.113.7", user_agent="Mozilla/5.0")),
        transaction.atomic(),
    ):
        return record(
            "tendering.documents.obtained",
            actor=bob,
            obj=obtain,
            sensitivity=Sensitivity.UNTIL_BID_DEADLINE,
            data={
                "organisation": "浙江建工集团有限公司",
                "credit_code": "91330100MA00000042",
                "bid_security": Decimal("200000.00"),
                "lots": [1, 2],
                "note": 'Tab\there, "quoted" — 引号',
                "confirmed": True,
                "withdrawn_at": None,
                "deadline": dt.datetime(2026, 3, 31, 9, 30, tzinfo=beijing),
            },
        )


@pytest.mark.django_db
def test_worked_example_hash_is_sha256_of_the_documented_bytes():
    event = _record_the_example()
    expected = hashlib.sha256(EXAMPLE_CANONICAL.encode("utf-8")).hexdigest()
    assert (event.seq, event.strand, event.strand_seq) == (1, 0, 1)
    assert event.prev_hash == GENESIS
    assert AuditEvent.objects.get(seq=1).payload == EXAMPLE_PAYLOAD
    assert event.hash == expected


@pytest.mark.django_db
def test_worked_example_follows_the_documented_rules_when_rebuilt_independently():
    """Rebuild the envelope from the stored columns with plain ``json``, per docs/audit.md."""
    _record_the_example()
    row = AuditEvent.objects.get(seq=1)
    envelope = {
        "v": 2,
        "seq": row.seq,
        "strand": row.strand,
        "strand_seq": row.strand_seq,
        "time": row.created_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor_id": row.actor_id,
        "actor_name": row.actor_name,
        "organisation_id": row.organisation_id,
        "organisation_name": row.organisation_name,
        "ip": row.ip,
        "user_agent": row.user_agent,
        "action": row.action,
        "object_type": row.object_type,
        "object_id": row.object_id,
        "tender_id": row.tender_id,
        "lot_id": row.lot_id,
        "sensitivity": row.sensitivity,
        "payload": json.loads(row.payload),
        "prev_hash": row.prev_hash,
    }
    text = json.dumps(envelope, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert text == EXAMPLE_CANONICAL
    assert hashlib.sha256(text.encode("utf-8")).hexdigest() == row.hash


def test_docs_state_the_worked_example_byte_for_byte():
    doc = (Path(settings.BASE_DIR) / "docs" / "audit.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```text\n(.*?)\n```", doc, flags=re.DOTALL)
    expected_hash = hashlib.sha256(EXAMPLE_CANONICAL.encode("utf-8")).hexdigest()
    assert EXAMPLE_CANONICAL in blocks
    assert EXAMPLE_PAYLOAD in blocks
    assert expected_hash in blocks
