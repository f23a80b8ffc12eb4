"""Receipts (回执, EB 27): Ed25519-signed JSON issued on completion, verifiable offline, and its PDF."""

from __future__ import annotations

import base64
import json
import os
import re
import zlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from bidding import receipts
from bidding.receipts import ReceiptInvalid, receipt_key, receipt_verify, signed_bytes
from tests.bidding.support import (
    api_for,
    bidder_keys,
    bidding_settings,  # noqa: F401
    obtain,
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
def bid(bob, lot):
    return submit(bob, lot, seal(lot, bidder_keys(bob)))


@pytest.fixture
def receipt(bid) -> dict:
    return json.loads(bid.receipt)


def public_pem(client) -> str:
    return client.get(reverse("bidding_api:receipt_key")).json()["public_key_pem"]


def test_the_receipt_holds_the_lot_the_bidder_the_hash_the_time_and_the_audit_sequence(
    bid, lot, bob, receipt
):
    event = AuditEvent.objects.get(action="bidding.bid.submitted")
    assert receipt == {
        "format": "sunbid-receipt",
        "version": 1,
        "receipt_no": bid.receipt_no,
        "tender": lot.tender.code,
        "lot": lot.number,
        "lot_name": lot.name,
        "bidder": bob.organisation.credit_code,
        "bidder_name": bob.organisation.name,
        "bid": str(bid.pk),
        "size": bid.size,
        "ciphertext_sha256": bid.sha256,
        "received_at": timezone.localtime(bid.received_at).isoformat(timespec="microseconds"),
        "audit_seq": event.seq,
        "key_fingerprint": receipt_key().fingerprint,
        "signature": receipt["signature"],
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+08:00", receipt["received_at"])


def test_the_receipt_verifies_offline_with_the_published_key(client, receipt):
    receipt_verify(receipt, public_pem(client))


def test_the_signature_covers_the_canonical_json_without_the_signature(client, receipt):
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    key = load_pem_public_key(public_pem(client).encode())
    body = {name: value for name, value in receipt.items() if name != "signature"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )
    assert signed_bytes(receipt) == canonical
    key.verify(base64.b64decode(receipt["signature"]), canonical)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("size", 1),
        ("ciphertext_sha256", "0" * 64),
        ("received_at", "2026-01-01T00:00:00.000000+08:00"),
        ("bidder_name", "别的公司"),
        ("audit_seq", 1),
    ],
)
def test_a_tampered_receipt_fails_verification(client, receipt, field, value):
    tampered = {**receipt, field: value}
    with pytest.raises(ReceiptInvalid, match="signature does not match"):
        receipt_verify(tampered, public_pem(client))


def test_a_receipt_with_a_forged_signature_or_from_another_key_fails(client, receipt):
    forged = {**receipt, "signature": base64.b64encode(bytes(64)).decode()}
    with pytest.raises(ReceiptInvalid):
        receipt_verify(forged, public_pem(client))
    stranger = Ed25519PrivateKey.generate()
    resigned = {**receipt, "key_fingerprint": receipts.public_fingerprint(stranger.public_key())}
    resigned["signature"] = base64.b64encode(stranger.sign(signed_bytes(resigned))).decode()
    with pytest.raises(ReceiptInvalid, match="another key"):
        receipt_verify(resigned, public_pem(client))
    with pytest.raises(ReceiptInvalid, match="fields missing"):
        receipt_verify({k: v for k, v in receipt.items() if k != "audit_seq"}, public_pem(client))


def test_the_receipt_json_download_is_the_receipt_as_issued(bob, bid):
    response = api_for(bob).get(reverse("bidding_api:receipt_json", args=[bid.pk]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response.content == bid.receipt.encode("utf-8")
    assert bid.receipt_no in response["Content-Disposition"]


def _streams(pdf: bytes) -> list[bytes]:
    """The PDF's streams decoded (reportlab writes them Flate, or ASCII85 then Flate)."""
    decoded = []
    for raw in re.findall(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        data = raw.strip()
        if data.endswith(b"~>"):
            data = base64.a85decode(data[:-2])
        try:
            decoded.append(zlib.decompress(data))
        except zlib.error:
            decoded.append(raw)
    return decoded


def _cmaps(pdf: bytes) -> str:
    """Every character the PDF's embedded fonts map their glyphs to (their ToUnicode CMaps)."""
    return "".join(
        chr(int(code, 16))
        for data in _streams(pdf)
        for code in re.findall(rb"<[0-9A-F]{2}> <([0-9A-F]{4})>", data)
    )


def test_the_pdf_receipt_embeds_a_chinese_font_and_shows_every_field_with_the_signature(
    bob, bid, receipt
):
    response = api_for(bob).get(reverse("bidding_api:receipt_pdf", args=[bid.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    pdf = response.content
    assert pdf.startswith(b"%PDF")
    assert b"/FontFile2" in pdf  # the font travels with the document
    assert b"WenQuanYi" in pdf
    mapped = set(_cmaps(pdf))
    for text in (
        "投标文件递交回执",
        receipt["bidder_name"],
        receipt["lot_name"],
        "密文",
        "审计序号",
    ):
        assert set(text) <= mapped, text
    content = b"".join(_streams(pdf))
    # Hex and base64 values are drawn in a fixed-width core font, in lines of 48 characters.
    for value in (
        receipt["ciphertext_sha256"],
        receipt["key_fingerprint"],
        receipt["signature"],
        receipt["received_at"],
    ):
        for start in range(0, len(value), 48):
            assert value[start : start + 48].encode() in content, value


def test_another_organisations_receipts_do_not_exist_for_it(people, lot, bid):
    for name in ("carol", "dave", "alice", "terry", "sam", "pat"):
        api = api_for(people[name])
        assert api.get(reverse("bidding_api:receipt_json", args=[bid.pk])).status_code == 404, name
        assert api.get(reverse("bidding_api:receipt_pdf", args=[bid.pk])).status_code == 404, name


def test_the_receipt_key_is_public(client):
    response = client.get(reverse("bidding_api:receipt_key"))
    assert response.status_code == 200
    data = response.json()
    assert data["fingerprint"] == receipt_key().fingerprint
    assert data["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert data["algorithm"] == "Ed25519"


def test_a_development_key_is_made_when_none_is_configured(settings, tmp_path):
    path = tmp_path / "var" / "receipt-signing-key.pem"
    settings.RECEIPT_SIGNING_KEY = str(path)
    settings.RECEIPT_SIGNING_KEY_CREATE = True
    key = receipt_key()
    assert path.exists()
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert receipt_key().fingerprint == key.fingerprint  # made once, then read


def test_without_a_configured_key_no_receipt_can_be_signed(settings, tmp_path):
    settings.RECEIPT_SIGNING_KEY = ""
    with pytest.raises(ImproperlyConfigured, match="RECEIPT_SIGNING_KEY"):
        receipt_key()
    settings.RECEIPT_SIGNING_KEY = str(tmp_path / "missing.pem")
    settings.RECEIPT_SIGNING_KEY_CREATE = False
    with pytest.raises(ImproperlyConfigured, match="does not exist"):
        receipt_key()


def test_the_receipt_hash_is_the_sha256_of_the_whole_sealed_file(bob, lot):
    data = seal(lot, bidder_keys(bob))
    bid = submit(bob, lot, data)
    assert json.loads(bid.receipt)["ciphertext_sha256"] == sha(data)
    assert json.loads(bid.receipt)["size"] == len(data)
