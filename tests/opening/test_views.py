"""The opening key's pages and API: the public key for anyone, the custody page and share API for custodians only."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from cryptography.hazmat.primitives import serialization
from django.test import Client
from django.urls import reverse

from opening import crypto
from opening.models import Custodian, OpeningKey
from tests.conftest import keyset_of

pytestmark = pytest.mark.django_db


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def share_url(lot) -> str:
    return reverse("opening_api:share", kwargs={"lot_id": lot.pk})


def post_share(client: Client, lot, share: bytes | str):
    value = share if isinstance(share, str) else base64.b64encode(share).decode()
    return client.post(
        share_url(lot), json.dumps({"share": value}), content_type="application/json"
    )


def decrypted(lot, organisation) -> bytes:
    custodian = Custodian.objects.get(opening_key__lot=lot, organisation=organisation)
    return crypto.unwrap(
        keyset_of(organisation).encryption_private, bytes(custodian.encrypted_share)
    )


def test_anyone_downloads_a_published_lots_opening_public_key_as_pem(lot):
    response = Client().get(reverse("opening:public_key", kwargs={"lot_id": lot.pk}))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-pem-file"
    assert "attachment" in response["Content-Disposition"]
    key = serialization.load_pem_public_key(response.content)
    assert crypto.fingerprint_of_der(crypto.spki_der(key)) == lot.opening_key.fingerprint


def test_a_draft_lot_has_no_public_key_to_download(make_draft):
    lot = make_draft().lots.get()
    assert Client().get(reverse("opening:public_key", kwargs={"lot_id": lot.pk})).status_code == 404


def test_the_portal_shows_the_fingerprint_the_download_and_the_extra_bid_items(make_draft, people):
    from tendering import services as tendering
    from tests.conftest import lot_input

    tender = make_draft(with_document=True)
    lot = tender.lots.get()
    items = (
        {"key": "warranty_years", "label": "质保期（年）", "required": True},
        {"key": "manager", "label": "项目经理", "required": False},
    )
    tendering.lot_save(
        actor=people["alice"], tender=tender, lot=lot, data=lot_input(bid_fields=items)
    )
    tendering.tender_publish(actor=people["alice"], tender=tender)
    page = Client().get(reverse("portal:announcement", kwargs={"pk": tender.pk})).content.decode()
    assert OpeningKey.objects.get(lot=lot).fingerprint in page
    assert reverse("opening:public_key", kwargs={"lot_id": lot.pk}) in page
    assert "质保期（年）" in page and "项目经理" in page
    assert tender.supervising_authority.name in page


def test_the_custody_page_is_for_custodians_only(lot, people):
    url = reverse("opening:custody", kwargs={"lot_id": lot.pk})
    for name in ("alice", "terry", "sam"):
        response = as_user(people[name]).get(url)
        assert response.status_code == 200, name
        assert people[name].organisation.name in response.content.decode()
    for name in ("agnes", "bob", "fay", "pat", "eve"):
        assert as_user(people[name]).get(url).status_code == 404, name
    anonymous = Client().get(url)
    assert anonymous.status_code == 302 and reverse("accounts:login") in anonymous["Location"]


def test_the_custody_page_offers_the_browser_step_only_after_the_opening_time(
    lot, people, time_machine
):
    url = reverse("opening:custody", kwargs={"lot_id": lot.pk})
    before = as_user(people["sam"]).get(url).content.decode()
    assert "custody.js" not in before and "custody-form" not in before
    time_machine.move_to(lot.opening_time + dt.timedelta(minutes=1), tick=False)
    after = as_user(people["sam"]).get(url).content.decode()
    assert "custody.js" in after and "custody-form" in after
    assert keyset_of(people["sam"].organisation).key.encryption_fingerprint in after
    # Never the share itself, encrypted or not.
    custodian = Custodian.objects.get(opening_key__lot=lot, organisation=people["sam"].organisation)
    assert base64.b64encode(bytes(custodian.encrypted_share)).decode() not in after


def test_the_api_hands_out_the_encrypted_share_only_after_the_opening_time(
    lot, people, time_machine
):
    sam = as_user(people["sam"])
    early = sam.get(share_url(lot)).json()
    assert early["encrypted_share"] is None
    assert early["threshold"] == 2 and early["custodians"] == 3 and early["submitted"] == 0
    time_machine.move_to(lot.opening_time + dt.timedelta(minutes=1), tick=False)
    # Signed in again: a session does not last the weeks until the opening.
    body = as_user(people["sam"]).get(share_url(lot)).json()
    custodian = Custodian.objects.get(opening_key__lot=lot, organisation=people["sam"].organisation)
    assert base64.b64decode(body["encrypted_share"]) == bytes(custodian.encrypted_share)
    assert body["key_fingerprint"] == custodian.key.encryption_fingerprint
    assert body["x"] == custodian.x


def test_the_api_takes_shares_and_reports_the_rebuild(lot, people, time_machine):
    time_machine.move_to(lot.opening_time + dt.timedelta(minutes=1), tick=False)
    sam, terry = as_user(people["sam"]), as_user(people["terry"])
    first = post_share(sam, lot, decrypted(lot, people["sam"].organisation))
    assert first.status_code == 201
    assert first.json() == {
        "organisation": people["sam"].organisation.credit_code,
        "submitted": 1,
        "threshold": 2,
        "rebuilt": False,
        "already_submitted": False,
    }
    again = post_share(sam, lot, decrypted(lot, people["sam"].organisation))
    assert again.status_code == 200 and again.json()["already_submitted"]
    second = post_share(terry, lot, decrypted(lot, people["terry"].organisation))
    assert second.status_code == 201 and second.json()["rebuilt"]
    assert OpeningKey.objects.get(lot=lot).rebuilt_at is not None


def test_the_api_refuses_with_stable_codes(lot, people, time_machine):
    sam = as_user(people["sam"])
    early = post_share(sam, lot, decrypted(lot, people["sam"].organisation))
    assert early.status_code == 409 and early.json()["error"]["code"] == "opening.too_early"
    time_machine.move_to(lot.opening_time + dt.timedelta(minutes=1), tick=False)
    sam = as_user(people["sam"])
    wrong = bytearray(decrypted(lot, people["sam"].organisation))
    wrong[-1] ^= 1
    response = post_share(sam, lot, bytes(wrong))
    assert (
        response.status_code == 400 and response.json()["error"]["code"] == "opening.share_invalid"
    )
    assert post_share(sam, lot, "not base64!").json()["error"]["code"] == "opening.share_format"
    bad_json = sam.post(share_url(lot), "{", content_type="application/json")
    assert (
        bad_json.status_code == 400 and bad_json.json()["error"]["code"] == "request.invalid_json"
    )
    stranger = post_share(as_user(people["bob"]), lot, decrypted(lot, people["sam"].organisation))
    assert (
        stranger.status_code == 404
        and stranger.json()["error"]["code"] == "opening.custody_not_found"
    )
    anonymous = Client().get(share_url(lot))
    assert anonymous.status_code == 403 and anonymous.json()["error"]["code"] == "auth.required"
    assert not Custodian.objects.filter(submitted_at__isnull=False).exists()


def test_a_browser_post_without_the_csrf_token_is_refused(lot, people, time_machine):
    time_machine.move_to(lot.opening_time + dt.timedelta(minutes=1), tick=False)
    client = Client(enforce_csrf_checks=True)
    client.force_login(people["sam"])
    response = post_share(client, lot, decrypted(lot, people["sam"].organisation))
    assert response.status_code == 403
    assert not Custodian.objects.filter(submitted_at__isnull=False).exists()
