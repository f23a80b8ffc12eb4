"""The resumable upload protocol: parts in order with checksums, streaming to storage, checks without keys."""

from __future__ import annotations

import asyncio
import io
import json

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from bidding import services, storage
from bidding.asgi import UploadPartLimit
from bidding.models import Bid, Upload, UploadPart, UploadStatus
from bidding.receipts import receipt_key, receipt_verify
from core.errors import DomainError
from tests.bidding.support import (
    PART_SIZE,
    api_for,
    bidder_keys,
    bidding_settings,  # noqa: F401
    obtain,
    parts_of,
    put_part,
    seal,
    sha,
    submit,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("bidding_settings")]


@pytest.fixture
def bob(people, lot):
    obtain(people["bob"], lot)
    return people["bob"]


@pytest.fixture
def bob_keys(bob):
    return bidder_keys(bob)


@pytest.fixture
def sealed(lot, bob_keys) -> bytes:
    return seal(lot, bob_keys)


def stored_names(upload: Upload) -> list[str]:
    prefix = f"bids/{upload.lot_id}/{upload.pk}"
    if not default_storage.exists(prefix):
        return []
    return default_storage.listdir(prefix)[1]


class CountingStream(io.RawIOBase):
    """A request body that never ends, counting what the server read of it."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = 65536 if size is None or size < 0 else size
        self.read_bytes += size
        return b"\0" * size


# --- the happy path ----------------------------------------------------------------------------


def test_a_bid_sent_in_parts_through_the_api_comes_back_with_a_signed_receipt(bob, lot, sealed):
    api = api_for(bob)
    created = api.post(reverse("bidding_api:upload_create", args=[lot.pk]), {"size": len(sealed)})
    assert created.status_code == 201
    body = created.json()
    assert body["size"] == len(sealed)
    assert body["part_size"] == PART_SIZE
    assert body["received"] == 0
    assert body["parts"] == []
    assert body["status"] == "open"
    parts = list(parts_of(sealed))
    assert len(parts) >= 3
    for index, part in parts[:-1]:
        response = api.put(reverse("bidding_api:upload_part", args=[body["upload"], index]), part)
        assert response.status_code == 200, response.content
        assert response.json()["received"] == (index + 1) * PART_SIZE
    index, part = parts[-1]
    done = api.put(reverse("bidding_api:upload_part", args=[body["upload"], index]), part)
    assert done.status_code == 201, done.content
    result = done.json()
    bid = Bid.objects.get(pk=result["bid"])
    assert result["receipt"]["ciphertext_sha256"] == sha(sealed) == bid.sha256
    assert result["receipt"]["size"] == len(sealed)
    receipt_verify(result["receipt"], receipt_key().public_pem)
    assert api.get(result["receipt_pdf"]).status_code == 200

    status = api.get(reverse("bidding_api:upload", args=[body["upload"]])).json()
    assert status["status"] == "complete"
    assert status["bid"] == str(bid.pk)
    assert [part["index"] for part in status["parts"]] == [index for index, _part in parts]
    assert [part["sha256"] for part in status["parts"]] == [sha(part) for _index, part in parts]


def test_the_parts_in_storage_read_back_as_the_sealed_file_across_part_boundaries(bob, lot, sealed):
    bid = submit(bob, lot, sealed)
    with storage.open_sealed_stream(bid) as stream:
        assert stream.read(10) == sealed[:10]
        # A read spanning two parts returns every byte asked for.
        assert stream.read(PART_SIZE + 5) == sealed[10 : PART_SIZE + 15]
        rest = bytearray(len(sealed))
        count = stream.readinto(rest)
        assert bytes(rest[:count]) == sealed[PART_SIZE + 15 :]
        assert stream.read(1) == b""
    assert len(stored_names(bid.upload)) == bid.upload.part_count


def test_the_lot_api_gives_a_sealing_client_the_opening_key_and_the_bidders_own_key(
    bob, bob_keys, lot
):
    from opening.selectors import opening_public_key

    data = api_for(bob).get(reverse("bidding_api:lot", args=[lot.pk])).json()
    assert data["tender"] == lot.tender.code
    assert data["lot_number"] == lot.number
    assert data["accepting_bids"] is True
    assert data["opening_key"]["fingerprint"] == opening_public_key(lot)[1]
    assert data["your_key"] == {
        "encryption_fingerprint": bob_keys.key.encryption_fingerprint,
        "signing_fingerprint": bob_keys.key.signing_fingerprint,
    }
    assert data["part_size"] == PART_SIZE
    assert data["bidder"] == bob.organisation.credit_code


# --- parts: order, checksums, lengths -------------------------------------------------------------


def test_resending_a_stored_part_with_the_same_hash_changes_nothing(bob, lot, sealed):
    upload = services.upload_create(actor=bob, lot=lot, size=len(sealed))
    first = sealed[:PART_SIZE]
    assert put_part(bob, upload, 0, first).stored is True
    again = put_part(bob, upload, 0, first)
    assert again.stored is False
    assert UploadPart.objects.filter(upload=upload).count() == 1
    assert Upload.objects.get(pk=upload.pk).received == PART_SIZE


def test_resending_a_stored_part_with_other_content_is_a_conflict(bob, lot, sealed):
    upload = services.upload_create(actor=bob, lot=lot, size=len(sealed))
    put_part(bob, upload, 0, sealed[:PART_SIZE])
    response = api_for(bob).put(
        reverse("bidding_api:upload_part", args=[upload.pk, 0]), b"x" * PART_SIZE
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "upload.part_conflict"


def test_a_part_whose_checksum_does_not_match_is_refused_and_nothing_is_stored(bob, lot, sealed):
    upload = services.upload_create(actor=bob, lot=lot, size=len(sealed))
    part = sealed[:PART_SIZE]
    response = api_for(bob).put(
        reverse("bidding_api:upload_part", args=[upload.pk, 0]), part, digest=sha(b"something else")
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "upload.checksum_mismatch"
    assert not UploadPart.objects.filter(upload=upload).exists()
    assert stored_names(upload) == []
    assert put_part(bob, upload, 0, part).stored is True


def test_a_part_without_its_checksum_is_refused(bob, lot, sealed):
    upload = services.upload_create(actor=bob, lot=lot, size=len(sealed))
    response = api_for(bob).put(
        reverse("bidding_api:upload_part", args=[upload.pk, 0]), sealed[:PART_SIZE], digest=""
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "upload.checksum_missing"


def test_parts_must_arrive_in_order(bob, lot, sealed):
    upload = services.upload_create(actor=bob, lot=lot, size=len(sealed))
    with pytest.raises(DomainError) as refused:
        put_part(bob, upload, 1, sealed[PART_SIZE : 2 * PART_SIZE])
    assert refused.value.code == "upload.part_out_of_order"
    assert refused.value.status == 409


def test_a_part_shorter_than_its_place_in_the_file_is_refused(bob, lot, sealed):
    upload = services.upload_create(actor=bob, lot=lot, size=len(sealed))
    short = sealed[: PART_SIZE - 1]
    with pytest.raises(DomainError) as refused:
        put_part(bob, upload, 0, short)
    assert refused.value.code == "upload.part_size"
    assert stored_names(upload) == []


def test_a_declared_length_above_the_part_size_is_refused_before_the_body_is_read(bob, lot, sealed):
    upload = services.upload_create(actor=bob, lot=lot, size=len(sealed))
    body = CountingStream()
    with pytest.raises(DomainError) as refused:
        services.upload_part_put(
            actor=bob, upload=upload, index=0, body=body, sha256=sha(b"x"), length=PART_SIZE + 1
        )
    assert refused.value.code == "upload.part_too_large"
    assert refused.value.status == 413
    assert body.read_bytes == 0


def test_the_server_never_reads_more_than_one_byte_past_a_part_of_unknown_length(bob, lot, sealed):
    upload = services.upload_create(actor=bob, lot=lot, size=len(sealed))
    body = CountingStream()
    with pytest.raises(DomainError) as refused:
        services.upload_part_put(
            actor=bob, upload=upload, index=0, body=body, sha256=sha(b"x"), length=None
        )
    assert refused.value.code == "upload.part_too_large"
    assert body.read_bytes == PART_SIZE + 1
    assert stored_names(upload) == []


def test_the_api_refuses_a_part_body_longer_than_the_part(bob, lot, sealed):
    upload = services.upload_create(actor=bob, lot=lot, size=len(sealed))
    response = api_for(bob).put(
        reverse("bidding_api:upload_part", args=[upload.pk, 0]), b"\0" * (PART_SIZE + 100)
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "upload.part_too_large"


def _asgi_put(app, *, headers, chunks):
    sent: list[dict] = []
    received = {"calls": 0}
    queue = list(chunks)

    async def receive():
        received["calls"] += 1
        body = queue.pop(0) if queue else b""
        return {"type": "http.request", "body": body, "more_body": bool(queue)}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "method": "PUT",
        "path": "/api/uploads/8f0e5f0c-3a0b-4c63-9d7c-2f4a3f1f9b10/parts/0",
        "headers": headers,
    }
    asyncio.run(app(scope, receive, send))
    return sent, received["calls"]


def test_the_asgi_guard_answers_413_to_an_oversized_part_without_receiving_its_body(settings):
    reached = []

    async def django(scope, receive, send):  # the application behind the guard
        reached.append(scope)

    sent, calls = _asgi_put(
        UploadPartLimit(django),
        headers=[(b"content-length", str(PART_SIZE + 1).encode())],
        chunks=[b"\0"],
    )
    assert calls == 0
    assert reached == []
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["error"]["code"] == "upload.part_too_large"


def test_the_asgi_guard_cuts_off_a_body_of_unknown_length_once_it_passes_the_part_size(settings):
    seen: list[dict] = []

    async def django(scope, receive, send):
        while True:
            message = await receive()
            seen.append(message)
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                return

    chunk = b"\0" * 1000
    sent, calls = _asgi_put(UploadPartLimit(django), headers=[], chunks=[chunk] * 20)
    assert calls == PART_SIZE // len(chunk) + 1  # stopped at the first chunk past the limit
    assert seen[-1]["type"] == "http.disconnect"
    assert sent[0]["status"] == 413


# --- checks without keys ------------------------------------------------------------------------------


def _refusal(user, lot, data: bytes) -> DomainError:
    with pytest.raises(DomainError) as refused:
        submit(user, lot, data)
    return refused.value


def test_an_unencrypted_file_is_refused_at_its_first_part_with_a_clear_message(bob, lot):
    plain = b"%PDF-1.7 " + b"plain bid, not sealed " * 600
    upload = services.upload_create(actor=bob, lot=lot, size=len(plain))
    with pytest.raises(DomainError) as refused:
        put_part(bob, upload, 0, plain[:PART_SIZE])
    assert refused.value.code == "seal.not_sealed"
    assert "未加密" in refused.value.message
    upload.refresh_from_db()
    assert upload.status == UploadStatus.FAILED
    assert upload.error_code == "seal.not_sealed"
    with pytest.raises(DomainError) as closed:
        put_part(bob, upload, 1, plain[PART_SIZE : 2 * PART_SIZE])
    assert closed.value.code == "upload.not_open"


def test_the_api_names_the_refusal_in_chinese_with_its_stable_code(bob, lot):
    plain = b"not a sealed bid at all " * 400
    api = api_for(bob)
    upload = api.post(
        reverse("bidding_api:upload_create", args=[lot.pk]), {"size": len(plain)}
    ).json()
    response = api.put(
        reverse("bidding_api:upload_part", args=[upload["upload"], 0]), plain[:PART_SIZE]
    )
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "seal.not_sealed",
        "message": "这不是封装（加密）的投标文件。未加密的投标文件不予接收。",
    }


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"tender": "SB2099999999"}, "bid.wrong_tender"),
        ({"lot_number": 2}, "bid.wrong_lot"),
        ({"bidder": "91330100MA0000005"}, "bid.wrong_bidder"),
    ],
)
def test_a_bid_sealed_for_another_tender_lot_or_bidder_is_refused(bob, bob_keys, lot, change, code):
    if "bidder" in change:
        from accounts.credit_code import make

        change = {"bidder": make(change["bidder"])}
    refusal = _refusal(bob, lot, seal(lot, bob_keys, **change))
    assert refusal.code == code
    upload = Upload.objects.get(organisation=bob.organisation)
    assert upload.status == UploadStatus.FAILED
    assert not Bid.objects.exists()


def test_a_bid_sealed_to_a_key_the_organisation_never_registered_is_refused(bob, people, lot):
    carol_keys = bidder_keys(people["carol"])
    refusal = _refusal(bob, lot, seal(lot, carol_keys, bidder=bob.organisation.credit_code))
    assert refusal.code == "bid.bidder_key_unknown"


def test_a_bid_sealed_to_a_retired_key_is_refused(bob, bob_keys, lot):
    bidder_keys(bob)  # rotation: bob_keys is retired now
    refusal = _refusal(bob, lot, seal(lot, bob_keys))
    assert refusal.code == "bid.bidder_key_retired"


def test_a_bid_signed_with_the_signing_key_of_another_key_set_is_refused(bob, bob_keys, lot):
    from tests.conftest import TestKeySet

    current = bidder_keys(bob)
    mixed = TestKeySet(
        key=current.key,
        encryption_private=current.encryption_private,
        signing_private=bob_keys.signing_private,
    )
    refusal = _refusal(bob, lot, seal(lot, mixed))
    assert refusal.code == "bid.signer_key_mismatch"


def test_a_bid_sealed_to_another_opening_key_is_refused(bob, bob_keys, lot, make_draft, people):
    from opening.selectors import opening_public_key
    from tendering import services as tendering

    other = tendering.tender_publish(actor=people["alice"], tender=make_draft()).lots.get()
    other_key, _fingerprint = opening_public_key(other)
    refusal = _refusal(bob, lot, seal(lot, bob_keys, opening_key=other_key))
    assert refusal.code == "bid.opening_key_mismatch"


def test_a_bid_with_a_broken_signature_is_refused_when_its_last_part_arrives(
    bob, bob_keys, lot, sealed
):
    tampered = bytearray(sealed)
    tampered[-1] ^= 0x01
    upload = services.upload_create(actor=bob, lot=lot, size=len(tampered))
    parts = list(parts_of(bytes(tampered)))
    for index, part in parts[:-1]:
        put_part(bob, upload, index, part)
    with pytest.raises(DomainError) as refused:
        put_part(bob, upload, *parts[-1])
    assert refused.value.code == "seal.signature_invalid"
    upload.refresh_from_db()
    assert upload.status == UploadStatus.FAILED
    assert not Bid.objects.exists()


def test_a_header_longer_than_a_part_is_checked_as_soon_as_it_is_complete(
    bob, bob_keys, lot, settings
):
    settings.BID_UPLOAD_PART_SIZE = 512
    data = seal(lot, bob_keys, lot_number=2)
    upload = services.upload_create(actor=bob, lot=lot, size=len(data))
    parts = list(parts_of(data, 512))
    assert put_part(bob, upload, 0, parts[0][1]).stored is True  # the header goes on
    refused_at = None
    for index, part in parts[1:]:
        try:
            put_part(bob, upload, index, part)
        except DomainError as exc:
            assert exc.code == "bid.wrong_lot"
            refused_at = index
            break
    header_end = 21 + 4 + int.from_bytes(data[21:25], "big") + 32
    assert refused_at == (header_end - 1) // 512


def test_the_size_of_an_upload_must_be_possible(bob, lot, settings):
    with pytest.raises(DomainError) as too_large:
        services.upload_create(actor=bob, lot=lot, size=settings.BID_MAX_SIZE + 1)
    assert too_large.value.code == "upload.too_large"
    assert too_large.value.status == 413
    for size in (0, 10, -1, "1000", True):
        with pytest.raises(DomainError) as invalid:
            services.upload_create(actor=bob, lot=lot, size=size)
        assert invalid.value.code == "upload.size_invalid"


def test_a_bidder_that_did_not_obtain_the_documents_may_not_bid(people, lot):
    dave = people["dave"]
    with pytest.raises(DomainError) as refused:
        services.upload_create(actor=dave, lot=lot, size=5000)
    assert refused.value.code == "bid.documents_not_obtained"
    response = api_for(dave).post(
        reverse("bidding_api:upload_create", args=[lot.pk]), {"size": 5000}
    )
    assert response.status_code == 404


def test_only_bidders_may_upload(people, lot):
    with pytest.raises(DomainError) as refused:
        services.upload_create(actor=people["alice"], lot=lot, size=5000)
    assert refused.value.code == "permission.role"


# --- abandoning, resuming, other people's uploads ---------------------------------------------------------


def test_an_abandoned_upload_is_discarded_and_its_parts_deleted(
    bob, lot, sealed, django_capture_on_commit_callbacks
):
    upload = services.upload_create(actor=bob, lot=lot, size=len(sealed))
    put_part(bob, upload, 0, sealed[:PART_SIZE])
    assert len(stored_names(upload)) == 1
    with django_capture_on_commit_callbacks(execute=True):
        response = api_for(bob).delete(reverse("bidding_api:upload", args=[upload.pk]))
    assert response.status_code == 200
    assert response.json()["status"] == "discarded"
    assert stored_names(upload) == []


def test_another_organisations_upload_does_not_exist_for_it(bob, people, lot, sealed):
    upload = services.upload_create(actor=bob, lot=lot, size=len(sealed))
    carol = people["carol"]
    obtain(carol, lot)
    api = api_for(carol)
    assert api.get(reverse("bidding_api:upload", args=[upload.pk])).status_code == 404
    assert (
        api.put(
            reverse("bidding_api:upload_part", args=[upload.pk, 0]), sealed[:PART_SIZE]
        ).status_code
        == 404
    )
    assert api.delete(reverse("bidding_api:upload", args=[upload.pk])).status_code == 404
    assert Upload.objects.get(pk=upload.pk).status == UploadStatus.OPEN


def test_a_completion_cut_short_after_the_last_part_is_finished_by_sending_that_part_again(
    bob, lot, sealed, monkeypatch
):
    upload = services.upload_create(actor=bob, lot=lot, size=len(sealed))
    parts = list(parts_of(sealed))
    for index, part in parts[:-1]:
        put_part(bob, upload, index, part)
    real_complete = services._complete

    def crash(*args, **kwargs):
        raise ConnectionResetError("the process went away after storing the last part")

    monkeypatch.setattr(services, "_complete", crash)
    with pytest.raises(ConnectionResetError):
        put_part(bob, upload, *parts[-1])
    upload.refresh_from_db()
    assert upload.status == UploadStatus.OPEN
    received_at = upload.received_at
    assert received_at is not None

    monkeypatch.setattr(services, "_complete", real_complete)
    outcome = put_part(bob, upload, *parts[-1])
    assert outcome.stored is False
    assert outcome.bid is not None
    assert outcome.bid.received_at == received_at
