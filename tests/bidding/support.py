"""Helpers for the bidding server tests: keys, small sealed bids, uploads in parts.

Parts are made small (``PART_SIZE``) so that a bid of a few kilobytes already
travels in several parts. The receipt signing key is a fresh Ed25519 key in
the test's temporary directory.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.test import Client
from django.urls import reverse

from accounts.models import User
from bidding import services
from bidding.models import Bid, Upload
from bidding.sealing import format as sealing
from bidding.sealing.manifest import FileEntry
from opening.selectors import opening_public_key
from tendering import services as tendering
from tendering.models import Lot
from tests.conftest import TestKeySet, issue_keys

PART_SIZE = 4096
SUMMARY = {
    "price": "10850000.00",
    "duration_days": 365,
    "quality": "合格",
    "fields": {"project_manager": "李建国"},
}
CONTENTS = {
    "商务标.pdf": b"%PDF-1.7 business part " * 200,
    "技术标.pdf": b"%PDF-1.7 technical part " * 150,
}


@pytest.fixture
def bidding_settings(settings, tmp_path):
    """Small upload parts and a receipt signing key of the test's own."""
    key_path = tmp_path / "receipt-key.pem"
    key_path.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    settings.RECEIPT_SIGNING_KEY = str(key_path)
    settings.RECEIPT_SIGNING_KEY_CREATE = False
    settings.BID_UPLOAD_PART_SIZE = PART_SIZE
    settings.BID_MAX_SIZE = 1024 * 1024
    settings.FILE_UPLOAD_TEMP_DIR = None
    return settings


def bidder_keys(user: User) -> TestKeySet:
    """Register a key set for the user's organisation, as its bidder would on the key page."""
    return issue_keys(user.organisation, actor=user)


def obtain(user: User, lot: Lot) -> None:
    tendering.documents_obtain(actor=user, tender=lot.tender)


def seal(
    lot: Lot,
    keys: TestKeySet,
    *,
    contents: dict[str, bytes] | None = None,
    summary: dict[str, Any] | None = None,
    tender: str | None = None,
    lot_number: int | None = None,
    bidder: str | None = None,
    opening_key: Any = None,
) -> bytes:
    """A sealed bid for ``lot`` by the owner of ``keys``, in memory (small sizes only)."""
    if opening_key is None:
        opening_key, _fingerprint = opening_public_key(lot)
    contents = CONTENTS if contents is None else contents
    out = io.BytesIO()
    sealing.seal(
        out,
        tender=tender or lot.tender.code,
        lot=lot.number if lot_number is None else lot_number,
        bidder=bidder or keys.key.organisation.credit_code,
        bidder_key=keys.encryption_private.public_key(),
        opening_key=opening_key,
        signing_key=keys.signing_private,
        summary=summary or SUMMARY,
        files=[
            (FileEntry(name, len(data), "application/pdf"), io.BytesIO(data))
            for name, data in contents.items()
        ],
    )
    return out.getvalue()


def parts_of(data: bytes, part_size: int = PART_SIZE) -> Iterator[tuple[int, bytes]]:
    for index, start in enumerate(range(0, len(data), part_size)):
        yield index, data[start : start + part_size]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put_part(user: User, upload: Upload, index: int, data: bytes) -> services.PartOutcome:
    return services.upload_part_put(
        actor=user,
        upload=upload,
        index=index,
        body=io.BytesIO(data),
        sha256=sha(data),
        length=len(data),
    )


def submit(user: User, lot: Lot, data: bytes) -> Bid:
    """Upload ``data`` through the services, part by part; the bid it became."""
    upload = services.upload_create(actor=user, lot=lot, size=len(data))
    outcome = None
    for index, part in parts_of(data, upload.part_size):
        outcome = put_part(user, upload, index, part)
    assert outcome is not None and outcome.bid is not None
    return outcome.bid


def submit_all_but_last(user: User, lot: Lot, data: bytes) -> tuple[Upload, int, bytes]:
    """Upload every part but the last; the upload, the last index and the last part."""
    upload = services.upload_create(actor=user, lot=lot, size=len(data))
    parts = list(parts_of(data, upload.part_size))
    for index, part in parts[:-1]:
        put_part(user, upload, index, part)
    last_index, last = parts[-1]
    return upload, last_index, last


@dataclass
class Api:
    """The JSON API as the browser uses it: session cookie and CSRF header."""

    client: Client

    def get(self, url: str) -> Any:
        return self.client.get(url)

    def post(self, url: str, data: dict[str, Any] | None = None) -> Any:
        return self.client.post(url, json.dumps(data or {}), content_type="application/json")

    def put(self, url: str, body: bytes, *, digest: str | None = None, **extra: Any) -> Any:
        return self.client.put(
            url,
            body,
            content_type="application/octet-stream",
            HTTP_X_PART_SHA256=digest if digest is not None else sha(body),
            **extra,
        )

    def delete(self, url: str) -> Any:
        return self.client.delete(url)

    def upload(self, lot: Lot, data: bytes) -> Any:
        """Create an upload and send every part; the last response."""
        created = self.post(
            reverse("bidding_api:upload_create", args=[lot.pk]), {"size": len(data)}
        )
        assert created.status_code == 201, created.content
        upload_id = created.json()["upload"]
        response = None
        for index, part in parts_of(data, created.json()["part_size"]):
            response = self.put(reverse("bidding_api:upload_part", args=[upload_id, index]), part)
        return response


def api_for(user: User) -> Api:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return Api(client)
