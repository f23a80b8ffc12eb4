"""The evaluation report: at most three candidates (TR 53), every member's real signature, final for the award step."""

from __future__ import annotations

import base64
import hashlib
import json
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from core.errors import DomainError, NotPermitted
from evaluation import selectors, services
from evaluation.models import EvaluationStatus, ReportSignature, ReportStatus, SigningKey
from evaluation.report import canonical, signature_message, verify_signature
from tests.evaluation.conftest import P256_ORDER


def _drafted(world, chair: int = 1):
    world.elect(chair=chair)
    world.submit_all()
    return services.report_draft(actor=world.users[chair], lot=world.lot)


def test_the_report_names_at_most_three_ranked_candidates_and_is_its_canonical_json(world):
    report = _drafted(world)
    data = report.data()
    assert report.document == canonical(data)
    assert report.sha256 == hashlib.sha256(report.document.encode("utf-8")).hexdigest()
    # Four valid bids, three candidates; carol rejected (above the maximum price), unranked.
    assert [c["rank"] for c in data["candidates"]] == [1, 2, 3]
    assert [c["organisation_name"] for c in data["candidates"]] == ["浙江建工集团有限公司", "宁波远大建设有限公司", "温州华东建设有限公司"]
    assert [(c["price"], c["score"]) for c in data["candidates"]] == [
        ("10850000.00", "99.26"), ("11200000.00", "98.30"), ("10500000.00", "97.67")
    ]
    assert len(data["ranking"]) == 4
    carol = next(bid for bid in data["bids"] if bid["bid"] == str(world.bids["carol"].pk))
    assert (carol["status"], carol["rank"], carol["rejection"]["automatic"]) == ("rejected", None, True)
    assert data["committee"] == {"members": 9, "seats": list(range(1, 10)), "chair": 1, "election": [{"round": 1, "counts": {"1": 5}}]}
    assert data["scheme_sha256"] == world.evaluation.scheme_sha256
    assert data["opening_record_sha256"] == world.lot.room.record_sha256
    assert "." not in json.dumps([bid.get("rank") for bid in data["bids"]])  # ranks are integers
    # No member is named in the report: seats only (ER 8).
    for member in world.evaluation.members.select_related("expert"):
        assert member.expert.name not in report.document and member.expert.code not in report.document
    assert world.evaluation.status == EvaluationStatus.SIGNING
    assert selectors.report_final_for_lot(world.lot) is None


def test_fewer_candidates_when_the_scheme_says_so(world):
    world.elect(chair=1)
    world.submit_all()
    evaluation = world.evaluation
    scheme = evaluation.scheme()
    scheme["candidates"] = 1
    type(evaluation).objects.filter(pk=evaluation.pk).update(scheme_json=canonical(scheme))
    report = services.report_draft(actor=world.users[1], lot=world.lot)
    assert [c["rank"] for c in report.data()["candidates"]] == [1]


def test_only_the_chair_drafts_and_only_once_everyone_has_submitted(world):
    world.elect(chair=4)
    with pytest.raises(DomainError) as early:
        services.report_draft(actor=world.users[4], lot=world.lot)
    assert early.value.code == "evaluation.wrong_stage"
    world.submit_all()
    with pytest.raises(NotPermitted):
        services.report_draft(actor=world.users[1], lot=world.lot)


def test_every_member_signs_and_the_last_signature_makes_the_report_final(world):
    report = _drafted(world)
    for seat in range(1, 9):
        world.sign(seat, report)
    report.refresh_from_db()
    assert report.status == ReportStatus.SIGNING and selectors.report_final_for_lot(world.lot) is None
    world.sign(9, report)
    final = selectors.report_final_for_lot(world.lot)
    assert final is not None and final.pk == report.pk
    assert world.evaluation.status == EvaluationStatus.FINAL
    candidates = final.candidates()
    assert [(c.rank, c.organisation.name, c.price, c.score) for c in candidates] == [
        (1, "浙江建工集团有限公司", Decimal("10850000.00"), Decimal("99.26")),
        (2, "宁波远大建设有限公司", Decimal("11200000.00"), Decimal("98.30")),
        (3, "温州华东建设有限公司", Decimal("10500000.00"), Decimal("97.67")),
    ]
    assert candidates[0].bid == world.bids["bob"] and candidates[0].evaluated_price == Decimal("10850000.00")
    # Each stored signature verifies, with the key it names, over the documented bytes.
    for signature in ReportSignature.objects.filter(report=final).select_related("member", "key"):
        message = signature_message(lot_id=world.lot.pk, report_sha256=final.sha256, seat=signature.member.seat)
        assert verify_signature(public_key_der=bytes(signature.key.public_key), signature=bytes(signature.signature), message=message)
    assert bytes(final.pdf).startswith(b"%PDF")
    event = AuditEvent.objects.get(action="evaluation.report.final")
    assert event.data["sha256"] == final.sha256 and len(event.data["candidates"]) == 3
    assert AuditEvent.objects.filter(action="evaluation.report.signed").count() == 9
    assert world.people["alice"].notifications.filter(title__startswith="评标报告已生效").exists()
    with pytest.raises(DomainError) as closed:
        world.sign(1, report)
    assert closed.value.code == "evaluation.final"


def test_a_tampered_or_foreign_signature_is_refused(world):
    report = _drafted(world)
    world.register_key(2)
    user = world.users[2]

    def refused(signature: str, digest: str | None = None) -> str:
        with pytest.raises(DomainError) as error:
            services.report_sign(actor=user, lot=world.lot, report_sha256=digest or report.sha256, signature=signature)
        return error.value.code

    # A signature over another digest (the report as someone changed it).
    tampered = hashlib.sha256(report.document.replace("99.26", "99.99").encode()).hexdigest()
    assert refused(world.signature(2, tampered)) == "evaluation.signature_invalid"
    # The right bytes signed by a key that is not the member's registered one.
    other = ec.generate_private_key(ec.SECP256R1())
    assert refused(world.signature(2, report.sha256, key=other)) == "evaluation.signature_invalid"
    # The member's own key over the bytes of another seat: the seat is in the signed bytes.
    message = signature_message(lot_id=world.lot.pk, report_sha256=report.sha256, seat=3)
    r, s = decode_dss_signature(world.signing_keys[2].sign(message, ec.ECDSA(hashes.SHA256())))
    assert refused(base64.b64encode(encode_dss_signature(r, min(s, P256_ORDER - s))).decode()) == "evaluation.signature_invalid"
    # The high-s twin of a valid signature is refused: only the signer can make a valid one.
    message = signature_message(lot_id=world.lot.pk, report_sha256=report.sha256, seat=2)
    r, s = decode_dss_signature(world.signing_keys[2].sign(message, ec.ECDSA(hashes.SHA256())))
    high = encode_dss_signature(r, max(s, P256_ORDER - s))
    assert refused(base64.b64encode(high).decode()) == "evaluation.signature_invalid"
    assert refused("not base64!") == "evaluation.signature_invalid"
    # A digest that is not the current report's.
    assert refused(world.signature(2, tampered), tampered) == "evaluation.report_changed"
    assert not ReportSignature.objects.exists()
    # The genuine signature, made as the browser makes it, is accepted.
    services.report_sign(actor=user, lot=world.lot, report_sha256=report.sha256, signature=world.signature(2, report.sha256))
    with pytest.raises(DomainError) as twice:
        services.report_sign(actor=user, lot=world.lot, report_sha256=report.sha256, signature=world.signature(2, report.sha256))
    assert twice.value.code == "evaluation.already_signed"


def test_a_member_without_a_registered_key_cannot_sign(world):
    report = _drafted(world)
    key = ec.generate_private_key(ec.SECP256R1())
    signature = world.signature(5, report.sha256, key=key)
    with pytest.raises(DomainError) as error:
        services.report_sign(actor=world.users[5], lot=world.lot, report_sha256=report.sha256, signature=signature)
    assert error.value.code == "evaluation.no_signing_key"


def test_registering_a_new_key_retires_the_old_and_refuses_a_key_already_known(world):
    first = world.register_key(3)
    second = world.register_key(3)
    statuses = dict(SigningKey.objects.filter(user=world.users[3]).values_list("fingerprint", "status"))
    assert sorted(statuses.values()) == ["active", "retired"]
    der = second.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(DomainError) as error:
        services.signing_key_register(actor=world.users[3], public_key=der)
    assert error.value.code == "evaluation.key_in_use"
    with pytest.raises(DomainError) as wrong:
        services.signing_key_register(actor=world.users[3], public_key=b"not a key")
    assert wrong.value.code == "key.invalid"
    with pytest.raises(NotPermitted):
        services.signing_key_register(actor=world.people["bob"], public_key=der)
    assert first is not second
    assert AuditEvent.objects.filter(action="evaluation.signing_key.registered").count() == 2


def test_the_chair_may_withdraw_a_draft_and_its_signatures_lapse(world):
    report = _drafted(world)
    world.sign(1, report)
    services.report_discard(actor=world.users[1], lot=world.lot, reason="需复核第3号投标的否决意见")
    assert world.evaluation.status == EvaluationStatus.REVIEWING
    services.bid_reject(actor=world.users[1], lot=world.lot, bid_id=world.bids["frank"].pk, reason="投标文件未按要求签章")
    second = services.report_draft(actor=world.users[1], lot=world.lot)
    assert second.version == 2 and second.sha256 != report.sha256
    assert not second.signatures.exists()
    report.refresh_from_db()
    assert report.status == ReportStatus.DISCARDED
    # A signature of the withdrawn version does not count for the new one.
    with pytest.raises(DomainError) as error:
        services.report_sign(actor=world.users[1], lot=world.lot, report_sha256=report.sha256, signature=world.signature(1, report.sha256))
    assert error.value.code == "evaluation.report_changed"


def test_signing_over_http_as_the_browser_does(world):
    report = _drafted(world)
    client = Client()
    client.force_login(world.users[6])
    page = client.get(reverse("evaluation:report", args=[world.lot.pk]))
    assert page.status_code == 200 and report.sha256 in page.content.decode()
    assert "evaluation-sign-data" in page.content.decode()
    # The browser fetches report.json and hashes what it got.
    fetched = client.get(reverse("evaluation:report_json", args=[world.lot.pk])).content
    digest = hashlib.sha256(fetched).hexdigest()
    assert digest == report.sha256
    private = ec.generate_private_key(ec.SECP256R1())
    spki = private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    registered = client.post(
        reverse("evaluation:signing_key"), {"signing_public": base64.b64encode(spki).decode()}, content_type="application/json"
    )
    assert registered.status_code == 201
    world.signing_keys[6] = private
    bad = client.post(
        reverse("evaluation:report_sign", args=[world.lot.pk]),
        {"report_sha256": digest, "signature": world.signature(6, "0" * 64)},
        content_type="application/json",
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "evaluation.signature_invalid"
    good = client.post(
        reverse("evaluation:report_sign", args=[world.lot.pk]),
        {"report_sha256": digest, "signature": world.signature(6, digest)},
        content_type="application/json",
    )
    assert good.status_code == 200 and good.json()["seat"] == 6
    pdf = client.get(reverse("evaluation:report_pdf", args=[world.lot.pk]))
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
