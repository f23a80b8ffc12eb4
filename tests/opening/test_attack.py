"""The attack test: the platform operator's copy of everything is not enough to open a bid.

The attacker holds every row of every table of the database, every file in
the storage and every value of the settings (and any file a setting names),
but no custodian's private key and not the bidder's. With that, the opening
private key cannot be recovered and a bid sealed to it (by the real format
library, bidding/sealing/format.py) cannot be opened: no secret that would do
it (the key encryption key, the private key, its primes, a clear share, the
bid's file key) is anywhere in the copy, in raw, hex or base64 form, and
every candidate key the copy offers fails against the sealed private key and
the bid. The control at the end shows the same procedure succeeding as soon
as two custodians' private keys are added: the test would notice if the
procedure were too weak to find anything.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import io
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection

from bidding.sealing import format as sealed_format
from bidding.sealing.errors import SealingError
from opening import crypto, shamir
from opening.models import Custodian, OpeningKey
from tendering import services as tendering
from tests.conftest import issue_keys, keyset_of

pytestmark = pytest.mark.django_db

SUMMARY = {"price": "9876543.21", "duration_days": 365, "quality": "合格", "fields": {}}
DOCUMENT = "商务标：报价明细与施工组织设计。".encode() * 200


# --- the attacker's copy --------------------------------------------------------------------------


def database_copy() -> list[Any]:
    """Every value of every row of every table, as a dump would hold it."""
    values: list[Any] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                values.extend(row)
    return values


def storage_copy() -> list[bytes]:
    root = Path(settings.MEDIA_ROOT)
    return [path.read_bytes() for path in root.rglob("*") if path.is_file()]


def settings_copy() -> list[Any]:
    """Every setting's value, and the contents of any file a setting names (a key file, say)."""
    values: list[Any] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, (list, tuple, set, frozenset)):
            for item in value:
                walk(item)
        elif isinstance(value, (str, bytes, Path)):
            # str() too for lazy strings (a str subclass pathlib will not take).
            text = (
                value.decode("utf-8", errors="ignore") if isinstance(value, bytes) else str(value)
            )
            values.append(value if isinstance(value, bytes) else text)
            try:
                path = Path(text)
                if path.is_file() and path.stat().st_size < 1_000_000:
                    values.append(path.read_bytes())
            except (OSError, ValueError, UnicodeDecodeError):
                pass

    for name in dir(settings):
        if name.isupper():
            walk(getattr(settings, name))
    return values


def as_bytes(value: Any) -> bytes | None:
    if isinstance(value, memoryview):
        return value.tobytes()
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    return None


def blobs(copy: list[Any]) -> list[bytes]:
    """Every value of the copy as bytes, with whatever hex or base64 inside it decoded too."""
    found = []
    for value in copy:
        data = as_bytes(value)
        if data is None:
            continue
        found.append(data)
        text = data.decode("ascii", errors="ignore")
        for token in text.replace('"', " ").replace(",", " ").replace(":", " ").split():
            for decode in (bytes.fromhex, lambda t: base64.b64decode(t, validate=True)):
                try:
                    decoded = decode(token)
                except (ValueError, binascii.Error):
                    continue
                if len(decoded) >= 16:
                    found.append(decoded)
    return found


def kek_candidates(copy: list[bytes]) -> Iterator[bytes]:
    """Every 32-byte string the copy offers: each window of each value, and hashes of each value."""
    for data in copy:
        if len(data) <= 8192:
            for offset in range(0, max(len(data) - 31, 0)):
                yield data[offset : offset + 32]
        yield hashlib.sha256(data).digest()


def private_keys_in(copy: list[bytes]) -> list[rsa.RSAPrivateKey]:
    """Any RSA private key the copy holds, DER or PEM, unencrypted."""
    keys = []
    for data in copy:
        loaders = [serialization.load_der_private_key]
        if b"PRIVATE KEY" in data:
            loaders.append(serialization.load_pem_private_key)
        for load in loaders:
            try:
                key = load(data, password=None)
            except (ValueError, TypeError):
                continue
            if isinstance(key, rsa.RSAPrivateKey):
                keys.append(key)
    return keys


def forms_of(secret: bytes) -> list[bytes]:
    return [
        secret,
        secret.hex().encode(),
        base64.b64encode(secret),
        base64.b64encode(secret).rstrip(b"="),
    ]


# --- the scene ---------------------------------------------------------------------------------------


@pytest.fixture
def scene(make_draft, people, orgs, monkeypatch):
    """A published lot, a bid sealed to it and stored, and the secrets an attacker would need (the witnesses)."""
    keks: list[bytes] = []
    real_new_kek = crypto.new_kek

    def recording_new_kek() -> bytearray:
        kek = real_new_kek()
        keks.append(bytes(kek))
        return kek

    monkeypatch.setattr(crypto, "new_kek", recording_new_kek)
    tender = tendering.tender_publish(actor=people["alice"], tender=make_draft())
    lot = tender.lots.get()
    key = OpeningKey.objects.get(lot=lot)
    opening_public = crypto.load_public(bytes(key.public_key))

    bidder = issue_keys(orgs["bidder_a"], actor=people["bob"])
    out = io.BytesIO()
    sealed_format.seal(
        out,
        tender=tender.code,
        lot=lot.number,
        bidder=orgs["bidder_a"].credit_code,
        bidder_key=bidder.encryption_private.public_key(),
        opening_key=opening_public,
        signing_key=bidder.signing_private,
        summary=SUMMARY,
        files=[
            (
                sealed_format.FileEntry(
                    name="商务标.pdf", size=len(DOCUMENT), media_type="application/pdf"
                ),
                io.BytesIO(DOCUMENT),
            )
        ],
    )
    stored = default_storage.save(f"bids/{lot.pk}/sealed.bid", ContentFile(out.getvalue()))
    header = sealed_format.read_header(io.BytesIO(out.getvalue()))
    file_key = sealed_format.unwrap_file_key(header, "bidder", bidder.encryption_private)

    from tests.opening.keypool import private_key_for

    opening_private = private_key_for(key.fingerprint)
    numbers = opening_private.private_numbers()
    witnesses = {
        "kek": keks[0],
        "opening private key (PKCS#8)": crypto.private_der(opening_private),
        "prime p": numbers.p.to_bytes(192, "big"),
        "prime q": numbers.q.to_bytes(192, "big"),
        "private exponent": numbers.d.to_bytes(384, "big"),
        "file key": file_key,
    }
    for custodian in key.custodians.select_related("organisation"):
        share = crypto.unwrap(
            keyset_of(custodian.organisation).encryption_private, bytes(custodian.encrypted_share)
        )
        witnesses[f"share {custodian.x}"] = share
        witnesses[f"share {custodian.x} values"] = share[1:]
    return {
        "lot": lot,
        "key": key,
        "sealed": default_storage.open(stored).read(),
        "bidder": bidder,
        "witnesses": witnesses,
    }


def attack(
    key: OpeningKey, sealed: bytes, copy: list[bytes], extra_private_keys: list[rsa.RSAPrivateKey]
) -> bytes | None:
    """Try to open the bid with what the attacker has; return its file key, or None."""
    aad = crypto.private_key_aad(lot_id=key.lot_id, fingerprint=key.fingerprint)
    sealed_private = bytes(key.sealed_private_key)
    header = sealed_format.read_header(io.BytesIO(sealed))
    found_private: list[rsa.RSAPrivateKey] = list(private_keys_in(copy))

    # 1. Any 32 bytes of the copy as the key encryption key.
    for candidate in kek_candidates(copy):
        try:
            found_private.append(
                crypto.load_private_der(
                    crypto.open_private_key_der(sealed_private, kek=candidate, aad=aad)
                )
            )
        except InvalidTag:
            continue

    # 2. Shares: decrypt what the custodians' keys (if any) open, and combine any threshold of them.
    shares = []
    for custodian in Custodian.objects.filter(opening_key=key):
        for private in extra_private_keys:
            try:
                shares.append(
                    shamir.Share.from_bytes(
                        crypto.unwrap(private, bytes(custodian.encrypted_share))
                    )
                )
            except ValueError:
                continue
    for subset in itertools.combinations(shares, key.threshold):
        if len({share.x for share in subset}) < len(subset):
            continue
        try:
            der = crypto.open_private_key_der(
                sealed_private, kek=shamir.combine(list(subset)), aad=aad
            )
        except InvalidTag:
            continue
        found_private.append(crypto.load_private_der(der))

    # 3. Every private key found, against both stanzas of the bid.
    for private in found_private:
        for role in ("opening", "bidder"):
            try:
                return sealed_format.unwrap_file_key(header, role, private)
            except SealingError:
                continue
    return None


def test_a_copy_of_the_database_the_storage_and_the_settings_opens_no_bid(scene):
    copy = blobs(database_copy() + storage_copy() + settings_copy())
    assert len(copy) > 100  # the copy is the real thing, not an empty list

    # No secret is there to be found, in any common encoding.
    haystack = b"\x00".join(copy)
    for name, secret in scene["witnesses"].items():
        for form in forms_of(secret):
            assert form not in haystack, f"the {name} is in the copy"

    # And nothing the copy offers opens the sealed private key or the bid.
    assert attack(scene["key"], scene["sealed"], copy, extra_private_keys=[]) is None
    with pytest.raises(SealingError):
        sealed_format.unwrap_file_key(
            sealed_format.read_header(io.BytesIO(scene["sealed"])),
            "opening",
            rsa.generate_private_key(65537, 2048),
        )


def test_one_custodians_key_added_to_the_copy_is_still_not_enough(scene, orgs):
    copy = blobs(database_copy() + storage_copy() + settings_copy())
    one = [keyset_of(orgs["supervisor"]).encryption_private]
    assert attack(scene["key"], scene["sealed"], copy, extra_private_keys=one) is None


def test_with_two_custodians_keys_the_same_procedure_opens_the_bid(scene, orgs, time_machine):
    """The control: the attack procedure is strong enough to succeed once it has k shares."""
    copy = blobs(database_copy() + storage_copy() + settings_copy())
    two = [
        keyset_of(orgs["supervisor"]).encryption_private,
        keyset_of(orgs["tenderer"]).encryption_private,
    ]
    file_key = attack(scene["key"], scene["sealed"], copy, extra_private_keys=two)
    assert file_key == scene["witnesses"]["file key"]
    received: dict[str, io.BytesIO] = {}

    class Keep(io.BytesIO):
        def close(self) -> None:
            received[self.name] = self.getvalue()
            super().close()

    def sink(entry: sealed_format.FileEntry) -> io.BytesIO:
        buffer = Keep()
        buffer.name = entry.name
        return buffer

    opened = sealed_format.open_sealed(
        io.BytesIO(scene["sealed"]),
        len(scene["sealed"]),
        file_key=file_key,
        signer_public_key=scene["bidder"].signing_private.public_key(),
        sink=sink,
    )
    assert opened.summary["price"] == SUMMARY["price"]
    assert received["商务标.pdf"] == DOCUMENT


def test_the_rebuilt_key_is_stored_only_after_the_opening_time_and_the_shares_are_gone(
    scene, people, orgs, time_machine
):
    """After the rebuild (after the opening time, by design) the copy holds the key, and no clear share is left."""
    from opening import services

    lot = scene["lot"]
    time_machine.move_to(lot.opening_time + dt.timedelta(minutes=1), tick=False)
    for person, org in (("sam", "supervisor"), ("terry", "tenderer")):
        services.custodian_share_submit(
            actor=people[person],
            lot=lot,
            share=scene["witnesses"][
                f"share {Custodian.objects.get(opening_key=scene['key'], organisation=orgs[org]).x}"
            ],
        )
    haystack = b"\x00".join(blobs(database_copy()))
    assert scene["witnesses"]["opening private key (PKCS#8)"] in haystack
    for x in (1, 2, 3):
        assert scene["witnesses"][f"share {x}"] not in haystack
    assert scene["witnesses"]["kek"] not in haystack
