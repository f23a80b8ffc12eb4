"""The opening room's page and HTTP API: who gets in, what the bidder's browser is handed, and the record.

People (tests/conftest.py): alice hosts (agent of the tender's agency), bob,
carol and dave bid (``ceremony``: three real sealed bids), sam supervises
(his organisation is the tender's supervising authority), terry represents
the tenderer, pat is a platform administrator, agnes is another agency's
agent and eve an expert: neither takes part.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os

import pytest
from django.test import Client
from django.urls import reverse

from bidding.models import DecryptionStatus
from opening import crypto as opening_crypto
from opening import room_services
from opening.models import Custodian, RoomEvent, RoomStage
from opening.services import custodian_share_submit
from tests.opening.room_support import build_ceremony

pytestmark = pytest.mark.django_db


def as_user(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def room_url(lot_id: int) -> str:
    return reverse("opening:room", kwargs={"lot_id": lot_id})


def page_data(response) -> dict:
    marker = '<script id="room-page-data" type="application/json">'
    html = response.content.decode()
    start = html.index(marker) + len(marker)
    return json.loads(html[start : html.index("</script>", start)])


def post_json(client: Client, url: str, body: object | str):
    text = body if isinstance(body, str) else json.dumps(body)
    return client.post(url, text, content_type="application/json")


def decrypt_url(lot) -> str:
    return reverse("opening_api:decrypt", kwargs={"lot_id": lot.pk})


def wrapped_key_url(lot) -> str:
    return reverse("opening_api:wrapped_key", kwargs={"lot_id": lot.pk})


def custody_url(lot, bid) -> str:
    return reverse(
        "opening_api:open_with_custody", kwargs={"lot_id": lot.pk, "bid_id": str(bid.pk)}
    )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def error_code(response) -> str:
    return response.json()["error"]["code"]


def last_kinds(ceremony, count: int) -> list[str]:
    kinds = (
        RoomEvent.objects.filter(room=ceremony.room())
        .order_by("-seq")
        .values_list("kind", flat=True)
    )
    return list(reversed(kinds[:count]))


def close_room(ceremony) -> None:
    """Walk the ceremony to its end: everyone decrypts, the reading, everyone confirms, the host closes."""
    ceremony.open()
    for name in ("bob", "carol", "dave"):
        ceremony.decrypt(name)
    ceremony.read_all()
    for name in ("bob", "carol", "dave"):
        room_services.room_confirm(
            actor=ceremony.people[name],
            lot=ceremony.lot,
            signature=ceremony.sign_confirmation(name),
        )
    room_services.room_close(actor=ceremony.people["alice"], lot=ceremony.lot)


# --- the page ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("person", "role"),
    [
        ("alice", "host"),
        ("bob", "bidder"),
        ("sam", "supervisor"),
        ("terry", "tenderer"),
        ("pat", "observer"),
    ],
)
def test_each_participant_gets_the_room_page_in_chinese_with_its_role(ceremony, person, role):
    response = as_user(ceremony.people[person]).get(room_url(ceremony.lot.pk))

    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    html = response.content.decode()
    assert "开标室" in html and "交流区" in html and ceremony.lot.tender.title in html
    data = page_data(response)
    assert data["role"] == role
    assert data["socketPath"] == f"/ws/opening/lots/{ceremony.lot.pk}/"
    assert data["texts"]["status.reconnecting"] == "重新连接中…"
    assert data["stages"]["settling"] == "解密结束·处理未解密"


def test_only_the_hosts_page_has_the_console_and_only_the_bidders_page_the_decrypt_button(ceremony):
    host = as_user(ceremony.people["alice"]).get(room_url(ceremony.lot.pk)).content.decode()
    bidder = as_user(ceremony.people["bob"]).get(room_url(ceremony.lot.pk)).content.decode()

    assert 'id="host-console"' in host and 'id="decrypt-button"' not in host
    assert 'id="decrypt-button"' in bidder and 'id="host-console"' not in bidder


def test_the_bidders_page_names_its_own_bid_and_keys_and_nothing_of_the_others(ceremony):
    response = as_user(ceremony.people["bob"]).get(room_url(ceremony.lot.pk))

    data = page_data(response)
    bid = ceremony.bids["bob"]
    assert data["bid"] == {
        "id": str(bid.pk),
        "bidderFingerprint": bid.bidder_fingerprint,
        "signingFingerprint": bid.signing_fingerprint,
        "creditCode": ceremony.people["bob"].organisation.credit_code,
        "organisation": ceremony.people["bob"].organisation_id,
    }
    html = response.content.decode()
    for other in ("carol", "dave"):
        assert str(ceremony.bids[other].pk) not in html
        assert ceremony.people[other].organisation.name not in html


def test_the_supervising_authoritys_supervisor_may_pause_and_the_host_may_not(ceremony):
    assert (
        page_data(as_user(ceremony.people["sam"]).get(room_url(ceremony.lot.pk)))["canPause"]
        is True
    )
    host = as_user(ceremony.people["alice"]).get(room_url(ceremony.lot.pk))
    assert page_data(host)["canPause"] is False
    assert 'id="pause-button"' not in host.content.decode()


@pytest.mark.parametrize("person", ["agnes", "eve", "fay"])
def test_someone_who_takes_no_part_gets_a_404_exactly_like_a_missing_lot(ceremony, person):
    client = as_user(ceremony.people[person])

    refused = client.get(room_url(ceremony.lot.pk))
    missing = client.get(room_url(ceremony.lot.pk + 1000))

    assert refused.status_code == missing.status_code == 404
    assert "开标室不存在。" in refused.content.decode()
    assert "开标室不存在。" in missing.content.decode()


def test_a_bidder_without_a_bid_in_the_lot_gets_a_404(people, lot, bidding_settings):
    made = build_ceremony(people, lot, bidders=("bob", "carol"))
    try:
        assert as_user(people["dave"]).get(room_url(lot.pk)).status_code == 404
        assert as_user(people["carol"]).get(room_url(lot.pk)).status_code == 200
    finally:
        made.stop()


def test_a_visitor_who_is_not_signed_in_is_sent_to_the_sign_in_page(ceremony):
    response = Client().get(room_url(ceremony.lot.pk))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


# --- the wrapped key ----------------------------------------------------------------------------


def test_after_the_opening_the_bidder_gets_its_bids_file_key_wrapped_to_its_own_key(ceremony):
    ceremony.open()
    response = as_user(ceremony.people["bob"]).get(wrapped_key_url(ceremony.lot))

    assert response.status_code == 200
    body = response.json()
    bid = ceremony.bids["bob"]
    assert body["bid"] == str(bid.pk)
    assert body["bidder_fingerprint"] == bid.bidder_fingerprint
    assert body["signing_fingerprint"] == bid.signing_fingerprint
    assert body["credit_code"] == ceremony.people["bob"].organisation.credit_code
    # What the browser does with WebCrypto: RSA-OAEP / SHA-256 with the bidder's private key.
    unwrapped = opening_crypto.unwrap(
        ceremony.keys["bob"].encryption_private, base64.b64decode(body["wrapped_key"])
    )
    assert unwrapped == ceremony.file_key("bob")


def test_nobody_but_the_bidder_gets_a_wrapped_key(ceremony):
    ceremony.open()
    for person in ("alice", "sam", "terry", "pat", "agnes"):
        response = as_user(ceremony.people[person]).get(wrapped_key_url(ceremony.lot))
        assert response.status_code == 404, person
        assert error_code(response) == "room.not_found"
    anonymous = Client().get(wrapped_key_url(ceremony.lot))
    assert anonymous.status_code == 403
    assert error_code(anonymous) == "auth.required"


def test_before_the_opening_time_there_is_no_wrapped_key_to_hand_out(ceremony):
    ceremony.at(ceremony.lot.opening_time - dt.timedelta(minutes=1))
    response = as_user(ceremony.people["bob"]).get(wrapped_key_url(ceremony.lot))

    assert response.status_code == 409
    assert error_code(response) == "bid.before_opening"


# --- decryption ---------------------------------------------------------------------------------


def test_the_bidder_hands_in_its_file_key_and_the_server_decrypts_its_bid(ceremony):
    ceremony.open()
    response = post_json(
        as_user(ceremony.people["bob"]),
        decrypt_url(ceremony.lot),
        {"file_key": b64(ceremony.file_key("bob"))},
    )

    assert response.status_code == 200
    assert response.json() == {"bid": str(ceremony.bids["bob"].pk), "status": "decrypted"}
    ceremony.bids["bob"].refresh_from_db()
    assert ceremony.bids["bob"].decryption_status == DecryptionStatus.DECRYPTED
    assert last_kinds(ceremony, 1) == ["decrypted"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("{not json", "request.invalid_json"),
        ("[1, 2]", "request.invalid_json"),
        ({}, "room.file_key_format"),
        ({"file_key": 32}, "room.file_key_format"),
        ({"file_key": "not base64!"}, "room.file_key_format"),
        ({"file_key": b64(b"\x00" * 31) + " "}, "room.file_key_format"),
        ({"file_key": b64(b"\x00" * 31)}, "room.file_key_invalid"),
        ({"file_key": b64(b"\x00" * 33)}, "room.file_key_invalid"),
    ],
)
def test_a_file_key_that_is_not_32_bytes_of_base64_in_a_json_object_is_refused(
    ceremony, body, code
):
    ceremony.open()
    response = post_json(as_user(ceremony.people["bob"]), decrypt_url(ceremony.lot), body)

    assert response.status_code == 400
    assert error_code(response) == code
    ceremony.bids["bob"].refresh_from_db()
    assert ceremony.bids["bob"].decryption_status == DecryptionStatus.PENDING


def test_an_oversized_body_is_refused_before_it_is_parsed(ceremony):
    ceremony.open()
    response = post_json(
        as_user(ceremony.people["bob"]), decrypt_url(ceremony.lot), {"file_key": "A" * 8192}
    )

    assert response.status_code == 400
    assert error_code(response) == "request.invalid_json"


def test_decryption_is_refused_before_the_opening_time(ceremony):
    ceremony.at(ceremony.lot.opening_time - dt.timedelta(minutes=1))
    response = post_json(
        as_user(ceremony.people["bob"]),
        decrypt_url(ceremony.lot),
        {"file_key": b64(ceremony.file_key("bob"))},
    )

    assert response.status_code == 409
    assert error_code(response) == "room.not_opened"
    ceremony.bids["bob"].refresh_from_db()
    assert ceremony.bids["bob"].decryption_status == DecryptionStatus.PENDING


def test_a_wrong_file_key_fails_and_the_room_hears_it(ceremony):
    ceremony.open()
    response = post_json(
        as_user(ceremony.people["bob"]),
        decrypt_url(ceremony.lot),
        {"file_key": b64(os.urandom(32))},
    )

    assert response.status_code == 400
    assert error_code(response).startswith("seal.")
    assert last_kinds(ceremony, 1) == ["decryption_failed"]


def test_the_host_cannot_hand_in_a_file_key_and_an_outsider_is_not_told_the_room_exists(ceremony):
    ceremony.open()
    key = {"file_key": b64(ceremony.file_key("bob"))}

    host = post_json(as_user(ceremony.people["alice"]), decrypt_url(ceremony.lot), key)
    outsider = post_json(as_user(ceremony.people["agnes"]), decrypt_url(ceremony.lot), key)
    anonymous = post_json(Client(), decrypt_url(ceremony.lot), key)

    assert (host.status_code, error_code(host)) == (403, "room.not_permitted")
    assert (outsider.status_code, error_code(outsider)) == (404, "room.not_found")
    assert (anonymous.status_code, error_code(anonymous)) == (403, "auth.required")
    ceremony.bids["bob"].refresh_from_db()
    assert ceremony.bids["bob"].decryption_status == DecryptionStatus.PENDING


def test_the_decrypt_api_takes_only_post(ceremony):
    assert as_user(ceremony.people["bob"]).get(decrypt_url(ceremony.lot)).status_code == 405


def test_a_browser_post_without_the_csrf_token_is_refused(ceremony):
    ceremony.open()
    client = Client(enforce_csrf_checks=True)
    client.force_login(ceremony.people["bob"])

    response = post_json(
        client, decrypt_url(ceremony.lot), {"file_key": b64(ceremony.file_key("bob"))}
    )

    assert response.status_code == 403
    ceremony.bids["bob"].refresh_from_db()
    assert ceremony.bids["bob"].decryption_status == DecryptionStatus.PENDING


# --- the custodians' fallback -------------------------------------------------------------------


def test_the_host_opens_a_bid_with_the_rebuilt_opening_key_and_nobody_else_may(ceremony, keysets):
    ceremony.open()
    ceremony.decrypt("bob")
    ceremony.decrypt("carol")
    ceremony.after(minutes=ceremony.lot.decryption_minutes, seconds=1)
    room_services.rooms_advance_due()
    alice = ceremony.people["alice"]
    dave_bid = ceremony.bids["dave"]
    room_services.room_record_cause(
        actor=alice, lot=ceremony.lot, bid_id=dave_bid.pk, cause="custodians"
    )

    too_early = as_user(alice).post(custody_url(ceremony.lot, dave_bid))
    assert (too_early.status_code, error_code(too_early)) == (409, "opening.not_rebuilt")

    for name in ("alice", "sam"):
        custodian = Custodian.objects.get(
            opening_key__lot=ceremony.lot, organisation=ceremony.people[name].organisation
        )
        share = opening_crypto.unwrap(
            keysets[name].encryption_private, bytes(custodian.encrypted_share)
        )
        custodian_share_submit(actor=ceremony.people[name], lot=ceremony.lot, share=share)

    bidder = as_user(ceremony.people["dave"]).post(custody_url(ceremony.lot, dave_bid))
    assert (bidder.status_code, error_code(bidder)) == (403, "room.not_permitted")
    outsider = as_user(ceremony.people["agnes"]).post(custody_url(ceremony.lot, dave_bid))
    assert (outsider.status_code, error_code(outsider)) == (404, "room.not_found")
    unknown = as_user(alice).post(
        reverse(
            "opening_api:open_with_custody",
            kwargs={"lot_id": ceremony.lot.pk, "bid_id": "not-a-bid"},
        )
    )
    assert (unknown.status_code, error_code(unknown)) == (404, "room.bid_not_found")

    response = as_user(alice).post(custody_url(ceremony.lot, dave_bid))

    assert response.status_code == 200
    assert response.json() == {"bid": str(dave_bid.pk), "status": "decrypted"}
    dave_bid.refresh_from_db()
    assert dave_bid.decrypted_with == "opening"
    assert ceremony.room().stage == RoomStage.READING


# --- the opening record -------------------------------------------------------------------------


def test_the_record_does_not_exist_before_the_room_closes_not_even_for_the_host(ceremony):
    ceremony.open()
    for name in ("bob", "carol", "dave"):
        ceremony.decrypt(name)
    for client in (Client(), as_user(ceremony.people["alice"])):
        for name in ("opening:record_pdf", "opening:record_json"):
            assert client.get(reverse(name, kwargs={"lot_id": ceremony.lot.pk})).status_code == 404


def test_once_the_room_is_closed_anyone_downloads_the_signed_record_as_pdf_and_json(ceremony):
    close_room(ceremony)
    room = ceremony.room()
    anonymous = Client()

    pdf = anonymous.get(reverse("opening:record_pdf", kwargs={"lot_id": ceremony.lot.pk}))
    document = anonymous.get(reverse("opening:record_json", kwargs={"lot_id": ceremony.lot.pk}))

    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content == bytes(room.record_pdf) and pdf.content.startswith(b"%PDF")
    assert "opening-record.pdf" in pdf["Content-Disposition"]
    assert document.status_code == 200
    assert document["Content-Type"] == "application/json; charset=utf-8"
    assert document.content.decode("utf-8") == room.record_json
    record = json.loads(document.content)
    assert record["format"] == "sunbid-opening-record"
    assert "signature" in record


def test_the_records_anchor_has_an_inclusion_proof_once_a_checkpoint_covers_it(ceremony, settings, tmp_path):
    from audit import merkle
    from audit.models import CheckpointReason
    from audit.tree import checkpoint_make

    settings.AUDIT_CHECKPOINT_DIR = tmp_path
    close_room(ceremony)
    room = ceremony.room()
    url = reverse("opening:record_proof", kwargs={"lot_id": ceremony.lot.pk})
    early = Client().get(url, headers={"Accept": "application/json"})
    assert (early.status_code, early.json()["error"]["code"]) == (409, "proof.not_yet")

    checkpoint = checkpoint_make(reason=CheckpointReason.MANUAL)
    proof = Client().get(url).json()

    assert (proof["seq"], proof["record_sha256"], proof["tree_size"]) == (
        room.audit_to, room.record_sha256, checkpoint.size
    )
    assert proof["event_hash"] == room.chain_hash
    assert merkle.verify_inclusion(
        merkle.leaf_hash(bytes.fromhex(proof["event_hash"])),
        proof["leaf_index"],
        checkpoint.size,
        [bytes.fromhex(p) for p in proof["path"]],
        bytes.fromhex(checkpoint.root),
    )


def test_the_record_of_a_lot_that_does_not_exist_is_a_404(db):
    assert Client().get(reverse("opening:record_pdf", kwargs={"lot_id": 999999})).status_code == 404
