"""The award notice and the result notices (EB 40): signed by the platform, readable, only for the right people."""

from __future__ import annotations

import hashlib
import json
import subprocess

import pytest
from django.test import Client

from audit.models import AuditEvent
from award import letters
from award.models import AwardLetter, LetterKind
from bidding.receipts import receipt_key
from core.errors import DomainError
from tests.award.conftest import announce, publish


@pytest.fixture
def announced(world, clock):
    publicity = publish(world)
    clock.move_to(publicity.ends_at)
    return announce(world)


def _text(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "letter.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, text=True
    ).stdout


def _compact(text: str) -> str:
    return "".join(text.split())


def test_the_award_notice_is_signed_by_the_platform_and_says_who_won_at_what_price(
    world, announced, tmp_path
):
    letter = AwardLetter.objects.get(kind=LetterKind.AWARD_NOTICE)
    document = json.loads(letter.document)
    letters.letter_verify(document, receipt_key().public_pem)
    assert letter.sha256 == hashlib.sha256(letter.document.encode("utf-8")).hexdigest()
    assert (letter.signature, letter.key_fingerprint) == (
        document["signature"],
        receipt_key().fingerprint,
    )
    assert (
        document["recipient"]["name"],
        document["result"]["award_price"],
        document["bid"]["id"],
    ) == (
        "浙江建工集团有限公司",
        "10850000.00",
        str(world.bids["bob"].pk),
    )
    assert document["evaluation_report_sha256"] == announced.publicity.report_sha256
    pdf = bytes(letter.pdf)
    assert letter.pdf_sha256 == hashlib.sha256(pdf).hexdigest()
    text = _compact(_text(pdf, tmp_path))
    for expected in (
        "中标通知书",
        letter.letter_no,
        "浙江建工集团有限公司",
        "10,850,000.00",
        "三十日内",
        "平台签名",
        letter.sha256,
        "/api/receipt-key",
        "核验",
    ):
        assert _compact(expected) in text, expected
    fonts = subprocess.run(
        ["pdffonts", str(tmp_path / "letter.pdf")], capture_output=True, check=True, text=True
    ).stdout
    cjk = [line for line in fonts.splitlines() if "SunbidCJK" in line or "WenQuanYi" in line]
    assert cjk and all(" yes " in line for line in cjk), fonts
    event = AuditEvent.objects.get(action="award.letter.issued", object_id=str(letter.pk))
    assert (event.data["sha256"], event.data["pdf_sha256"]) == (letter.sha256, letter.pdf_sha256)


def test_a_result_notice_tells_an_unsuccessful_bidder_the_winner(world, announced, tmp_path):
    letter = AwardLetter.objects.get(organisation=world.orgs["bidder_e"])
    assert letter.kind == LetterKind.RESULT_NOTICE
    document = json.loads(letter.document)
    letters.letter_verify(document, receipt_key().public_pem)
    assert (document["bid"]["price"], document["bid"]["rank"]) == ("11500000.00", 4)
    text = _compact(_text(bytes(letter.pdf), tmp_path))
    for expected in (
        "中标结果通知书",
        "绍兴城建集团有限公司",
        "中标人为浙江建工集团有限公司",
        "你单位未中标",
        "第五十七条",
    ):
        assert expected in text, expected


def test_a_changed_letter_no_longer_verifies(world, announced):
    document = json.loads(AwardLetter.objects.get(kind=LetterKind.AWARD_NOTICE).document)
    forged = {**document, "result": {**document["result"], "award_price": "9850000.00"}}
    with pytest.raises(DomainError) as changed:
        letters.letter_verify(forged, receipt_key().public_pem)
    assert changed.value.code == "letter.signature_invalid"
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    other = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(DomainError) as foreign:
        letters.letter_verify(document, other)
    assert foreign.value.code == "letter.key_mismatch"
    with pytest.raises(DomainError) as unsigned:
        letters.letter_verify(
            {k: v for k, v in document.items() if k != "signature"}, receipt_key().public_pem
        )
    assert unsigned.value.code == "letter.malformed"


def test_only_the_recipient_the_agents_the_tenderer_and_supervisors_download_a_letter(
    world, announced
):
    notice = AwardLetter.objects.get(kind=LetterKind.AWARD_NOTICE)
    other = AwardLetter.objects.get(organisation=world.orgs["bidder_b"])
    expected = {
        "bob": 200,
        "alice": 200,
        "terry": 200,
        "sam": 200,
        "carol": 404,
        "agnes": 404,
        "pat": 404,
        "fay": 404,
    }
    for name, status in expected.items():
        client = Client()
        client.force_login(world.people[name])
        pdf = client.get(f"/award/letters/{notice.pk}.pdf")
        assert pdf.status_code == status, name
        assert client.get(f"/award/letters/{notice.pk}.json").status_code == status, name
        if status == 200:
            assert pdf.content == bytes(notice.pdf) and pdf["Content-Type"] == "application/pdf"
    carol = Client()
    carol.force_login(world.people["carol"])
    assert carol.get(f"/award/letters/{other.pk}.json").content.decode() == other.document
    anonymous = Client().get(f"/award/letters/{notice.pk}.pdf")
    assert anonymous.status_code == 302 and "/login" in anonymous["Location"]


def test_the_bidder_page_offers_only_its_own_letter(world, announced):
    client = Client()
    client.force_login(world.people["carol"])
    page = client.get(f"/award/lots/{world.lot.pk}/mine/").content.decode()
    own = AwardLetter.objects.get(organisation=world.orgs["bidder_b"])
    assert f"/award/letters/{own.pk}.pdf" in page
    assert (
        f"/award/letters/{AwardLetter.objects.get(kind=LetterKind.AWARD_NOTICE).pk}.pdf" not in page
    )
    assert "中标人：浙江建工集团有限公司" in page
