"""The decryption engine: only after the opening time, whole bid verified in constant memory, result recorded.

No plaintext is ever written: a decrypted bid keeps its file key, and its
files are read from the ciphertext through ``bidding.storage.open_bid_file``,
which decrypts and verifies only the chunks it needs.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import tracemalloc
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from audit.models import AuditEvent
from bidding import services, storage
from bidding.models import Bid, BidFile, DecryptionStatus, KeySource
from bidding.sealing import format as sealing
from core.errors import DomainError
from opening import crypto as opening_crypto
from opening.models import Custodian
from opening.services import custodian_share_submit
from tests.bidding.support import (
    CONTENTS,
    SUMMARY,
    bidder_keys,
    bidding_settings,  # noqa: F401
    obtain,
    seal,
    submit,
)
from tests.conftest import keyset_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("bidding_settings")]


@pytest.fixture
def bob(people, lot):
    obtain(people["bob"], lot)
    return people["bob"]


@pytest.fixture
def bob_keys(bob):
    return bidder_keys(bob)


@pytest.fixture
def bid(bob, bob_keys, lot):
    return submit(bob, lot, seal(lot, bob_keys))


def after_opening(lot):
    return time_machine.travel(lot.opening_time + dt.timedelta(minutes=1), tick=False)


def bidder_file_key(bid, keys) -> bytes:
    return services.file_key_from_private_key(
        bid=bid, role="bidder", private_key=keys.encryption_private
    )


def read(name: str) -> bytes:
    with default_storage.open(name, "rb") as handle:
        return handle.read()


def write(name: str, data: bytes) -> None:
    default_storage.delete(name)
    default_storage.save(name, ContentFile(data))


def contents_of(bid_file: BidFile) -> bytes:
    with storage.open_bid_file(bid_file) as reader:
        return reader.read()


def stored_objects() -> dict[str, bytes]:
    """Every file under the storage's root, by its path relative to it."""
    root = Path(default_storage.location)
    return {
        str(path.relative_to(root)): path.read_bytes() for path in root.rglob("*") if path.is_file()
    }


def test_decryption_is_refused_before_the_opening_time(bid, bob_keys, lot):
    key = bidder_file_key(bid, bob_keys)
    with (
        time_machine.travel(lot.opening_time - dt.timedelta(microseconds=1), tick=False),
        pytest.raises(DomainError) as refused,
    ):
        services.bid_decrypt(bid=bid, file_key=key)
    assert refused.value.code == "bid.before_opening"
    bid.refresh_from_db()
    assert bid.decryption_status == DecryptionStatus.PENDING
    assert bid.file_key is None
    assert not BidFile.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="bidding.bid.decrypt").exists()


def test_a_bid_decrypted_with_the_bidders_key_yields_its_summary_and_files(
    bid, bob_keys, lot, people
):
    assert len(services.bid_wrapped_key(bid=bid, role="bidder")) == 384
    key = bidder_file_key(bid, bob_keys)
    with after_opening(lot):
        opened = services.bid_decrypt(bid=bid, file_key=key, actor=people["alice"])
    assert opened.decryption_status == DecryptionStatus.DECRYPTED
    assert opened.decrypted_with == KeySource.BIDDER
    assert opened.price == Decimal(SUMMARY["price"])
    assert opened.duration_days == SUMMARY["duration_days"]
    assert opened.quality == SUMMARY["quality"]
    assert opened.summary_fields == SUMMARY["fields"]
    files = list(opened.files.order_by("index"))
    assert [(item.name, item.size) for item in files] == [
        (name, len(data)) for name, data in CONTENTS.items()
    ]
    # The files lie one after another in the plaintext, after L and the manifest.
    assert files[1].offset == files[0].offset + files[0].size
    for item, data in zip(files, CONTENTS.values(), strict=True):
        assert contents_of(item) == data
        assert item.media_type == "application/pdf"
    assert bytes(Bid.objects.get(pk=bid.pk).file_key) == key
    event = AuditEvent.objects.get(action="bidding.bid.decrypted")
    assert event.actor_name == "alice"
    assert event.data["key"] == "bidder"
    # The price is read out at the opening, not written into the chain before every bid is open (EB 30).
    assert SUMMARY["price"] not in event.payload
    assert len(event.data["summary_sha256"]) == 64
    # The file key never enters the audit chain, in any encoding.
    for encoded in (key.hex(), base64.b64encode(key).decode()):
        assert encoded not in event.payload


def test_decryption_writes_no_plaintext_to_storage(bid, bob_keys, lot):
    before = stored_objects()
    with after_opening(lot):
        services.bid_decrypt(bid=bid, file_key=bidder_file_key(bid, bob_keys))
    after = stored_objects()
    # Only the ciphertext's parts, exactly as they were: nothing added, nothing changed.
    assert after == before
    bidding_objects = {name for name in after if not name.startswith("tender-documents/")}
    assert bidding_objects == set(bid.upload.parts.values_list("storage_name", flat=True))
    for data in CONTENTS.values():
        assert not any(data[:64] in blob for blob in after.values())


def test_a_file_key_cannot_be_stored_on_a_bid_that_is_not_decrypted(bid):
    # Before the opening nothing key-like is kept: the database refuses it, not only the service.
    with pytest.raises(IntegrityError), transaction.atomic():
        Bid.objects.filter(pk=bid.pk).update(file_key=bytes(32))


def test_the_files_of_a_bid_not_decrypted_cannot_be_read(bid, lot):
    with after_opening(lot), pytest.raises(DomainError):
        services.bid_decrypt(bid=bid, file_key=bytes(32))
    # A failed attempt leaves no file rows; a row made by hand still cannot be read.
    stray = BidFile(bid=bid, index=0, name="x.pdf", size=1, media_type="", offset=0)
    with pytest.raises(DomainError) as refused:
        storage.open_bid_file(stray)
    assert refused.value.code == "bid.not_decrypted"


def test_decrypting_a_decrypted_bid_again_changes_nothing(bid, bob_keys, lot):
    key = bidder_file_key(bid, bob_keys)
    with after_opening(lot):
        first = services.bid_decrypt(bid=bid, file_key=key)
        again = services.bid_decrypt(bid=bid, file_key=key)
    assert again.decrypted_at == first.decrypted_at
    assert BidFile.objects.filter(bid=bid).count() == len(CONTENTS)
    assert AuditEvent.objects.filter(action="bidding.bid.decrypted").count() == 1


def test_a_wrong_file_key_is_recorded_as_a_failure_and_keeps_nothing(bid, bob_keys, lot):
    with after_opening(lot):
        with pytest.raises(DomainError) as refused:
            services.bid_decrypt(bid=bid, file_key=bytes(32))
        assert refused.value.code == "seal.header_mac_invalid"
        bid.refresh_from_db()
        assert bid.decryption_status == DecryptionStatus.FAILED
        assert bid.decryption_error_code == "seal.header_mac_invalid"
        assert bid.file_key is None
        assert not BidFile.objects.exists()
        failed = AuditEvent.objects.get(action="bidding.bid.decryption_failed")
        assert failed.data["code"] == "seal.header_mac_invalid"
        # The failure is not final: the right key still opens the bid.
        opened = services.bid_decrypt(bid=bid, file_key=bidder_file_key(bid, bob_keys))
    assert opened.decryption_status == DecryptionStatus.DECRYPTED
    assert opened.decryption_error_code == ""


def test_ciphertext_altered_in_storage_is_detected_and_nothing_decrypted_is_kept(
    bid, bob_keys, lot
):
    part = bid.upload.parts.order_by("index").last()
    data = bytearray(read(part.storage_name))
    data[len(data) // 2] ^= 0x40
    write(part.storage_name, bytes(data))
    with after_opening(lot), pytest.raises(DomainError) as refused:
        services.bid_decrypt(bid=bid, file_key=bidder_file_key(bid, bob_keys))
    assert refused.value.code in {"seal.chunk_invalid", "seal.signature_invalid"}
    assert not BidFile.objects.exists()
    bid.refresh_from_db()
    assert bid.decryption_status == DecryptionStatus.FAILED
    assert bid.file_key is None


def test_a_withdrawn_bid_cannot_be_decrypted(bid, bob, bob_keys, lot):
    key = bidder_file_key(bid, bob_keys)
    services.bid_withdraw(actor=bob, lot=lot)
    with after_opening(lot), pytest.raises(DomainError) as refused:
        services.bid_decrypt(bid=bid, file_key=key)
    assert refused.value.code == "bid.not_current"


def _submit_share(person, lot) -> None:
    custodian = Custodian.objects.get(opening_key__lot=lot, organisation=person.organisation)
    private = keyset_of(person.organisation).encryption_private
    share = opening_crypto.unwrap(private, bytes(custodian.encrypted_share))
    custodian_share_submit(actor=person, lot=lot, share=share)


def test_a_bid_opens_with_the_opening_key_once_the_custodians_have_rebuilt_it(bid, lot, people):
    with after_opening(lot):
        with pytest.raises(DomainError) as early:
            services.bid_decrypt_with_opening_key(bid=bid, actor=people["alice"])
        assert early.value.code == "opening.not_rebuilt"
        _submit_share(people["alice"], lot)
        _submit_share(people["sam"], lot)
        opened = services.bid_decrypt_with_opening_key(bid=bid, actor=people["alice"])
    assert opened.decryption_status == DecryptionStatus.DECRYPTED
    assert opened.decrypted_with == KeySource.OPENING
    assert opened.price == Decimal(SUMMARY["price"])
    assert AuditEvent.objects.get(action="bidding.bid.decrypted").data["key"] == "opening"


def test_the_opening_key_is_refused_before_the_opening_time(bid, lot):
    with pytest.raises(DomainError) as refused:
        services.bid_decrypt_with_opening_key(bid=bid)
    assert refused.value.code == "bid.before_opening"


def test_decryption_runs_in_memory_bounded_by_the_chunk_size_not_the_bid_size(
    bob, bob_keys, lot, settings
):
    settings.BID_UPLOAD_PART_SIZE = 256 * 1024
    settings.BID_MAX_SIZE = 64 * 1024 * 1024
    big = bytes(range(256)) * (24 * 1024)  # 6 MiB, six chunks
    bid = submit(bob, lot, seal(lot, bob_keys, contents={"工程量清单.xlsx": big}))
    key = bidder_file_key(bid, bob_keys)
    with after_opening(lot):
        tracemalloc.start()
        try:
            opened = services.bid_decrypt(bid=bid, file_key=key)
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert opened.decryption_status == DecryptionStatus.DECRYPTED
    # Two chunk buffers and the stream buffer: well under the bid's 6 MiB.
    assert peak < 4 * 1024 * 1024, peak
    tracemalloc.start()
    try:
        digest = hashlib.sha256()
        with storage.open_bid_file(opened.files.get()) as reader:
            for block in iter(lambda: reader.read(256 * 1024), b""):
                digest.update(block)
            _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert digest.digest() == hashlib.sha256(big).digest()
    # Reading back holds one ciphertext and one plaintext chunk, not the file.
    assert peak < 4 * 1024 * 1024, peak


@pytest.fixture
def big_bid(bob, bob_keys, lot, settings):
    """A decrypted bid of four chunks: a 3 MiB file, then a small one in the last chunk."""
    settings.BID_UPLOAD_PART_SIZE = 256 * 1024
    settings.BID_MAX_SIZE = 64 * 1024 * 1024
    contents = {
        "工程量清单.xlsx": bytes(range(256)) * (12 * 1024),
        "说明.txt": "见工程量清单。".encode() * 10,
    }
    bid = submit(bob, lot, seal(lot, bob_keys, contents=contents))
    with after_opening(lot):
        opened = services.bid_decrypt(bid=bid, file_key=bidder_file_key(bid, bob_keys))
    return opened, contents


def sealed_position(bid: Bid, position: int) -> tuple[str, int]:
    """The storage object and offset within it of byte ``position`` of the sealed file."""
    part_size = bid.upload.part_size
    part = bid.upload.parts.get(index=position // part_size)
    return part.storage_name, position % part_size


def test_a_file_is_read_back_in_any_slice_with_seek(big_bid):
    opened, contents = big_bid
    files = list(opened.files.order_by("index"))
    big, small = contents.values()
    with storage.open_bid_file(files[0]) as reader:
        assert reader.size == len(big)
        chunk = sealing.CHUNK_SIZE
        for start, length in [(chunk - 7, 20), (0, 1), (len(big) - 5, 5), (2 * chunk, chunk)]:
            reader.seek(start)
            assert reader.read(length) == big[start : start + length]
        assert reader.read(10) == b""
    assert contents_of(files[1]) == small


def test_a_chunk_altered_after_decryption_is_caught_when_its_bytes_are_read(big_bid):
    opened, contents = big_bid
    files = list(opened.files.order_by("index"))
    with storage.open_sealed_stream(opened) as stream:
        header = sealing.read_header(stream)
    # One byte inside chunk 1 (plaintext 1..2 MiB, all of it the big file).
    name, within = sealed_position(opened, header.length + sealing.CHUNK_SIZE + 16 + 100)
    data = bytearray(read(name))
    data[within] ^= 0x01
    write(name, bytes(data))

    with storage.open_bid_file(files[0]) as reader:
        # Chunk 0 is untouched and reads; chunk 1 is refused, chunk by chunk as it is reached.
        assert reader.read(1000) == contents["工程量清单.xlsx"][:1000]
        reader.seek(sealing.CHUNK_SIZE - files[0].offset + 10)
        with pytest.raises(DomainError) as refused:
            reader.read(10)
    assert refused.value.code == "seal.chunk_invalid"
    assert refused.value.params == {"index": 1}
    # The small file lies in the last chunk, which is intact.
    assert contents_of(files[1]) == contents["说明.txt"]


def test_a_header_altered_after_decryption_is_refused_before_any_read(big_bid):
    opened, _contents = big_bid
    first = opened.upload.parts.get(index=0)
    data = bytearray(read(first.storage_name))
    data[30] = ord(" ") if data[30] != ord(" ") else ord("\t")  # inside the header JSON
    write(first.storage_name, bytes(data))
    with pytest.raises(DomainError) as refused:
        storage.open_bid_file(opened.files.order_by("index").first())
    assert refused.value.code == "bid.ciphertext_changed"


def test_a_file_key_changed_in_the_database_is_refused(big_bid):
    opened, _contents = big_bid
    Bid.objects.filter(pk=opened.pk).update(file_key=bytes(32))
    with pytest.raises(DomainError) as refused:
        storage.open_bid_file(BidFile.objects.filter(bid=opened).first())
    assert refused.value.code == "seal.header_mac_invalid"


def sealed_bytes(bid: Bid) -> bytes:
    with storage.open_sealed_stream(bid) as stream:
        return stream.read()


def rewrite_sealed(bid: Bid, data: bytes) -> None:
    """Put ``data`` in place of the bid's stored ciphertext, part by part (same size)."""
    part_size = bid.upload.part_size
    for part in bid.upload.parts.order_by("index"):
        write(part.storage_name, data[part.index * part_size : (part.index + 1) * part_size])


def test_a_decrypted_bid_checks_whole_again_with_its_kept_key(bid, bob_keys, lot):
    with after_opening(lot):
        opened = services.bid_decrypt(bid=bid, file_key=bidder_file_key(bid, bob_keys))
    services.bid_verify(bid=opened)
    Bid.objects.filter(pk=bid.pk).update(price=Decimal("1.00"))
    with pytest.raises(DomainError) as changed:
        services.bid_verify(bid=opened)
    assert changed.value.code == "bid.decryption_changed"


def test_a_bid_not_decrypted_has_nothing_to_check_again(bid):
    with pytest.raises(DomainError) as refused:
        services.bid_verify(bid=bid)
    assert refused.value.code == "bid.not_decrypted"


def test_a_chunk_forged_with_the_kept_key_passes_a_read_but_not_the_whole_check(bid, bob_keys, lot):
    """The limit of range reads (docs/bidding.md): whoever holds the database and the storage
    after the opening can re-encrypt a chunk; only the bidder's signature, checked whole, tells."""
    with after_opening(lot):
        opened = services.bid_decrypt(bid=bid, file_key=bidder_file_key(bid, bob_keys))
    first = opened.files.order_by("index").first()
    data = bytearray(sealed_bytes(opened))
    header = sealing.read_header(io.BytesIO(bytes(data)))
    chunk_start = header.length
    chunk_end = len(data) - sealing.SIGNATURE_SIZE  # one chunk: the final one
    aead = AESGCM(sealing.payload_key(bytes(opened.file_key), header.nonce))
    nonce = sealing.chunk_nonce(0, True)
    plaintext = bytearray(aead.decrypt(nonce, bytes(data[chunk_start:chunk_end]), header.digest))
    forged = b"%PDF-1.7 FORGED "
    plaintext[first.offset : first.offset + len(forged)] = forged
    data[chunk_start:chunk_end] = aead.encrypt(nonce, bytes(plaintext), header.digest)
    rewrite_sealed(opened, bytes(data))

    assert contents_of(first).startswith(forged)
    with pytest.raises(DomainError) as refused:
        services.bid_verify(bid=opened)
    assert refused.value.code == "seal.signature_invalid"


def test_the_whole_check_compares_the_files_sha256_with_the_receipt(bid, bob_keys, lot):
    """A second valid signature (only the bidder's key can make one, low-s enforced) changes no
    signed byte but the file is no longer the one on the receipt: bid_verify hashes it whole."""
    with after_opening(lot):
        opened = services.bid_decrypt(bid=bid, file_key=bidder_file_key(bid, bob_keys))
    data = sealed_bytes(opened)
    header = sealing.read_header(io.BytesIO(data))
    payload = data[header.length : len(data) - sealing.SIGNATURE_SIZE]
    message = sealing.signature_message(header.digest, hashlib.sha256(payload).digest())
    resigned = data[: -sealing.SIGNATURE_SIZE] + sealing._sign(bob_keys.signing_private, message)
    assert resigned != data
    rewrite_sealed(opened, resigned)
    with pytest.raises(DomainError) as refused:
        services.bid_verify(bid=opened)
    assert refused.value.code == "bid.ciphertext_changed"
