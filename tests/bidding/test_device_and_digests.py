"""The device id sent with uploads, and the plaintext digest of every file kept at decryption.

Both feed the supervisors' collusion signals after the opening (docs/collusion.md):
bids of different organisations sent from one device, identical files in
different bids.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import urllib.request
from pathlib import Path

import pytest
import time_machine
from django.urls import reverse

from audit.models import AuditEvent
from bidding import client, services
from bidding.models import Bid, BidFile
from core.errors import DomainError
from tests.bidding.support import api_for as session_api
from tests.bidding.support import (
    bidder_keys,
    bidding_settings,  # noqa: F401
    obtain,
    seal,
    submit,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("bidding_settings")]

DEVICE = "5b8f2c1e-9d4a-4e7b-8c3f-2a1b0c9d8e7f"


@pytest.fixture
def bob(people, lot):
    obtain(people["bob"], lot)
    return people["bob"]


@pytest.fixture
def bob_keys(bob):
    return bidder_keys(bob)


def events(lot, *actions: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(lot_id=lot.pk, action__in=actions).order_by("seq"))


def upload_through_api(user, lot, data: bytes, **headers):
    api = session_api(user)
    api.client.defaults.update(headers)
    return api.upload(lot, data)


# --- the device id ------------------------------------------------------------------------------


def test_an_upload_records_the_senders_device_id_in_its_events(bob, bob_keys, lot):
    response = upload_through_api(
        bob, lot, seal(lot, bob_keys), HTTP_X_SUNBID_DEVICE=DEVICE.upper()
    )
    assert response.status_code == 201
    recorded = events(lot, "bidding.upload.started", "bidding.bid.submitted")
    assert [event.action for event in recorded] == [
        "bidding.upload.started",
        "bidding.bid.submitted",
    ]
    # Recorded in its canonical lower-case form, next to the address the audit keeps anyway.
    assert [event.data["device"] for event in recorded] == [DEVICE, DEVICE]
    assert all(event.ip == "127.0.0.1" for event in recorded)


@pytest.mark.parametrize(
    "header",
    [
        "not-a-device",
        "00000000-0000-0000-0000-000000000000",
        DEVICE + "0",
        DEVICE.replace("-", ""),
        "<script>" + DEVICE,
        "x" * 5000,
    ],
)
def test_a_malformed_device_id_is_dropped_and_the_upload_goes_through(bob, bob_keys, lot, header):
    response = upload_through_api(bob, lot, seal(lot, bob_keys), HTTP_X_SUNBID_DEVICE=header)
    assert response.status_code == 201
    for event in events(lot, "bidding.upload.started", "bidding.bid.submitted"):
        assert "device" not in event.data
        assert header not in event.payload


def test_an_upload_without_a_device_id_records_none(bob, bob_keys, lot):
    assert upload_through_api(bob, lot, seal(lot, bob_keys)).status_code == 201
    assert all(
        "device" not in event.data
        for event in events(lot, "bidding.upload.started", "bidding.bid.submitted")
    )


def test_a_refused_upload_records_the_device_with_its_refusal(bob, bob_keys, lot):
    sealed = seal(lot, bob_keys, lot_number=lot.number + 1)  # sealed for another lot
    api = session_api(bob)
    api.client.defaults["HTTP_X_SUNBID_DEVICE"] = DEVICE
    created = api.post(reverse("bidding_api:upload_create", args=[lot.pk]), {"size": len(sealed)})
    first = sealed[: created.json()["part_size"]]
    response = api.put(
        reverse("bidding_api:upload_part", args=[created.json()["upload"], 0]), first
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bid.wrong_lot"
    (failed,) = events(lot, "bidding.upload.failed")
    assert failed.data["device"] == DEVICE


def test_abandoning_an_upload_and_withdrawing_a_bid_record_the_device(bob, bob_keys, lot):
    api = session_api(bob)
    api.client.defaults["HTTP_X_SUNBID_DEVICE"] = DEVICE
    assert api.upload(lot, seal(lot, bob_keys)).status_code == 201
    created = api.post(reverse("bidding_api:upload_create", args=[lot.pk]), {"size": 4096})
    assert (
        api.delete(reverse("bidding_api:upload", args=[created.json()["upload"]])).status_code
        == 200
    )
    assert api.post(reverse("bidding_api:bid_withdraw", args=[lot.pk])).status_code == 200
    for action in ("bidding.upload.abandoned", "bidding.bid.withdrawn"):
        (event,) = events(lot, action)
        assert event.data["device"] == DEVICE


def test_the_bid_submission_names_the_key_that_signed_it(bob, bob_keys, lot):
    bid = submit(bob, lot, seal(lot, bob_keys))
    submitted = AuditEvent.objects.get(seq=bid.audit_seq)
    assert submitted.data["signing_fingerprint"] == bob_keys.key.signing_fingerprint
    # The services called without a request record no device at all.
    assert "device" not in submitted.data


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        (DEVICE, DEVICE),
        (f"  {DEVICE.upper()}\t", DEVICE),
        ("", ""),
        (None, ""),
        (12345, ""),
        ("00000000-0000-0000-0000-000000000000", ""),
        ("5b8f2c1e-9d4a-4e7b-8c3f-2a1b0c9d8e7", ""),
        ("5b8f2c1e9d4a4e7b8c3f2a1b0c9d8e7f", ""),
        ("{5b8f2c1e-9d4a-4e7b-8c3f-2a1b0c9d8e7f}", ""),
    ],
)
def test_only_a_uuid_counts_as_a_device_id(raw, clean):
    assert services.device_id_clean(raw) == clean


# --- the command-line client's device id --------------------------------------------------------


def test_the_client_keeps_one_device_id_per_installation(tmp_path, monkeypatch):
    path = tmp_path / "config" / "sunbid" / "device-id"
    monkeypatch.setenv(client.DEVICE_FILE_ENV, str(path))
    first = client.installation_device_id()
    assert first is not None and services.device_id_clean(first) == first
    assert path.read_text("ascii").strip() == first
    assert path.stat().st_mode & 0o077 == 0  # private to the user, like the key backups
    assert client.installation_device_id() == first


def test_the_client_replaces_a_device_file_that_holds_anything_else(tmp_path, monkeypatch):
    path = tmp_path / "device-id"
    path.write_text("garbage\n")
    monkeypatch.setenv(client.DEVICE_FILE_ENV, str(path))
    made = client.installation_device_id()
    assert made is not None and services.device_id_clean(made) == made
    assert path.read_text("ascii").strip() == made


def test_the_client_goes_without_a_device_id_when_it_cannot_keep_one(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    # The configured location lies under a regular file: it can be neither read nor made.
    monkeypatch.setenv(client.DEVICE_FILE_ENV, str(blocker / "device-id"))
    assert client.installation_device_id() is None


def test_the_client_defaults_to_the_users_configuration_directory(tmp_path, monkeypatch):
    monkeypatch.delenv(client.DEVICE_FILE_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    if client.os.name != "nt":
        assert client.device_file() == Path(tmp_path) / "sunbid" / "device-id"


class RecordingOpener:
    """Stands in for the network: answers every request with ``body`` and keeps the requests."""

    def __init__(self, body: dict) -> None:
        self.body = json.dumps(body).encode()
        self.requests: list[urllib.request.Request] = []

    def open(self, request, timeout=None):
        self.requests.append(request)
        answer = io.BytesIO(self.body)
        answer.status = 200  # type: ignore[attr-defined]
        answer.headers = {"Content-Type": "application/json"}  # type: ignore[attr-defined]
        return answer


def test_the_client_sends_its_device_id_when_withdrawing(tmp_path, monkeypatch):
    monkeypatch.setenv(client.DEVICE_FILE_ENV, str(tmp_path / "device-id"))
    monkeypatch.setenv("SUNBID_SERVER", "http://localhost:8000")
    monkeypatch.setenv("SUNBID_TOKEN", "sbt_x")
    opener = RecordingOpener({"bid": "b", "status": "withdrawn", "receipt_no": "r"})
    monkeypatch.setattr(client, "build_opener", lambda: opener)
    out, err = io.StringIO(), io.StringIO()
    assert client.main(["withdraw", "--lot", "7", "--yes"], out=out, err=err) == 0, err.getvalue()
    (request,) = opener.requests
    assert request.full_url == "http://localhost:8000/api/lots/7/bid/withdraw"
    device = (tmp_path / "device-id").read_text("ascii").strip()
    # urllib stores header names capitalised ("X-sunbid-device").
    assert request.get_header(client.DEVICE_HEADER.capitalize()) == device


def test_the_client_api_sends_no_device_id_unless_given_one():
    opener = RecordingOpener({})
    client.Api("http://server", "sbt_x", opener=opener).json("GET", "/api/lots/1/")
    assert opener.requests[0].get_header(client.DEVICE_HEADER.capitalize()) is None


# --- file digests at decryption -----------------------------------------------------------------


def decrypt(bid: Bid, keys) -> Bid:
    with time_machine.travel(bid.lot.opening_time + dt.timedelta(minutes=1), tick=False):
        key = services.file_key_from_private_key(
            bid=bid, role="bidder", private_key=keys.encryption_private
        )
        return services.bid_decrypt(bid=bid, file_key=key)


CONTENTS = {
    "商务标.pdf": b"%PDF-1.7 business " * 400,
    "空白.txt": b"",
    "技术标.pdf": bytes(range(256)) * 64,
}


def test_decryption_keeps_each_files_plaintext_sha256_and_records_it(bob, bob_keys, lot):
    bid = decrypt(submit(bob, lot, seal(lot, bob_keys, contents=CONTENTS)), bob_keys)
    stored = {item.name: item.sha256 for item in BidFile.objects.filter(bid=bid)}
    expected = {name: hashlib.sha256(data).hexdigest() for name, data in CONTENTS.items()}
    assert stored == expected
    event = AuditEvent.objects.get(action="bidding.bid.decrypted", object_id=str(bid.pk))
    assert event.data["files"] == [
        {"name": name, "size": len(data), "sha256": expected[name]}
        for name, data in CONTENTS.items()
    ]


def test_a_changed_file_digest_fails_the_verification(bob, bob_keys, lot):
    bid = decrypt(submit(bob, lot, seal(lot, bob_keys, contents=CONTENTS)), bob_keys)
    services.bid_verify(bid=bid)
    BidFile.objects.filter(bid=bid, name="技术标.pdf").update(sha256="0" * 64)
    with pytest.raises(DomainError) as refused:
        services.bid_verify(bid=bid)
    assert refused.value.code == "bid.decryption_changed"


def test_a_bid_decrypted_before_digests_were_kept_still_verifies(bob, bob_keys, lot):
    bid = decrypt(submit(bob, lot, seal(lot, bob_keys, contents=CONTENTS)), bob_keys)
    BidFile.objects.filter(bid=bid).update(sha256="")
    services.bid_verify(bid=bid)
