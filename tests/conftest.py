"""Named people for every role, and a published tender to act on.

- alice: agent of 华信招标代理 (the agency running the demo tender)
- agnes: agent of another agency (must never see alice's tenders)
- terry: tenderer representative of 市第一人民医院 (the tenderer)
- bob, carol: bidders of two bidder organisations
- dave: bidder of a third organisation that never takes part
- sam: supervisor; fay: finance; pat: platform admin; eve: expert

The agencies, the tenderer and the supervising authority have registered
keys (``issue_keys``), so tenders publish: every lot's opening key is split
among them (docs/opening-keys.md). RSA-3072 keys come from the pool of
``tests/opening/keypool.py`` instead of a prime search, for the whole session.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import pytest
from channels.layers import channel_layers
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone, translation

from accounts.credit_code import make as make_code
from accounts.models import Organisation, OrganisationKey, OrganisationKind, Role, User
from accounts.services import organisation_create, organisation_key_register, user_create
from tendering import services as tendering
from tendering.models import EvaluationMethod, Lot, Tender
from tests.opening.keypool import KEYRING, POOL, fingerprint

PASSWORD = "Sunbid-test-2026!"


@pytest.fixture(scope="session", autouse=True)
def _cheap_rsa_keys():
    """Opening keys from the pool: a real RSA-3072 prime search per published lot would dominate the run.

    Session-scoped (not the function-scoped ``monkeypatch``) so that fixtures
    of wider scope, such as the permission matrix's world, get pool keys too.
    """
    patch = pytest.MonkeyPatch()
    patch.setattr("opening.crypto.generate_opening_key", POOL.next_key)
    yield
    patch.undo()


@dataclass(frozen=True)
class TestKeySet:
    """An organisation's registered keys, with the private halves a browser would hold."""

    key: OrganisationKey
    encryption_private: rsa.RSAPrivateKey
    signing_private: ec.EllipticCurvePrivateKey


def _spki(public_key) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def issue_keys(organisation: Organisation, *, actor: User | None = None) -> TestKeySet:
    """Register a fresh key set for ``organisation``, as its user would from the key page.

    Through ``accounts.services.organisation_key_register`` when ``actor`` (a
    user of the organisation) is given; otherwise, for an organisation with no
    user, the row is written directly, unaudited.
    """
    encryption = POOL.next_key()
    signing = ec.generate_private_key(ec.SECP256R1())
    _SIGNING_KEYS[hashlib.sha256(_spki(signing.public_key())).hexdigest()] = signing
    if actor is not None:
        key = organisation_key_register(
            actor=actor,
            encryption_public=_spki(encryption.public_key()),
            signing_public=_spki(signing.public_key()),
        )
    else:
        OrganisationKey.objects.filter(organisation=organisation, status="active").update(
            status="retired", retired_at=timezone.now()
        )
        key = OrganisationKey.objects.create(
            organisation=organisation,
            encryption_public=_spki(encryption.public_key()),
            encryption_fingerprint=fingerprint(encryption.public_key()),
            signing_public=_spki(signing.public_key()),
            signing_fingerprint=hashlib.sha256(_spki(signing.public_key())).hexdigest(),
            registered_at=timezone.now(),
        )
    return TestKeySet(key=key, encryption_private=encryption, signing_private=signing)


# The people whose organisations keep shares of opening keys by default.
KEY_HOLDERS = ("alice", "agnes", "terry", "sam")
_SIGNING_KEYS: dict[str, ec.EllipticCurvePrivateKey] = {}


def _org(name: str, kind: str, serial: int):
    return organisation_create(
        actor=None, name=name, code=make_code(f"91330100MA{serial:07d}"), kind=kind
    )


@pytest.fixture
def orgs(db):
    return {
        "agency": _org("华信招标代理有限公司", OrganisationKind.AGENCY, 1),
        "agency2": _org("远景工程咨询有限公司", OrganisationKind.AGENCY, 2),
        "tenderer": _org("市第一人民医院", OrganisationKind.TENDERER, 3),
        "bidder_a": _org("浙江建工集团有限公司", OrganisationKind.BIDDER, 4),
        "bidder_b": _org("杭州市政建设有限公司", OrganisationKind.BIDDER, 5),
        "bidder_c": _org("宁波远大建设有限公司", OrganisationKind.BIDDER, 6),
        "supervisor": _org("市公共资源交易监督管理局", OrganisationKind.SUPERVISOR, 7),
        "platform": _org("市公共资源交易中心", OrganisationKind.PLATFORM, 8),
    }


@pytest.fixture
def people(orgs) -> dict[str, User]:
    """The named people; the organisations of ``KEY_HOLDERS`` register keys (see ``keysets``)."""
    users = _people(orgs)
    for name in KEY_HOLDERS:
        issue_keys(users[name].organisation, actor=users[name])
    return users


def _people(orgs) -> dict[str, User]:
    spec = {
        "alice": ("agency", Role.AGENT),
        "agnes": ("agency2", Role.AGENT),
        "terry": ("tenderer", Role.TENDERER_REP),
        "bob": ("bidder_a", Role.BIDDER),
        "carol": ("bidder_b", Role.BIDDER),
        "dave": ("bidder_c", Role.BIDDER),
        "sam": ("supervisor", Role.SUPERVISOR),
        "fay": ("platform", Role.FINANCE),
        "pat": ("platform", Role.PLATFORM_ADMIN),
        "eve": ("platform", Role.EXPERT),
    }
    return {
        name: user_create(
            actor=None,
            organisation=orgs[org],
            username=name,
            password=PASSWORD,
            roles=[role],
            full_name=name.title(),
            email=f"{name}@example.cn",
        )
        for name, (org, role) in spec.items()
    }


def keyset_of(organisation: Organisation) -> TestKeySet:
    """The organisation's active key set, with the private keys ``issue_keys`` made for it."""
    key = OrganisationKey.objects.get(organisation=organisation, status="active")
    return TestKeySet(
        key=key,
        encryption_private=KEYRING[key.encryption_fingerprint],
        signing_private=_SIGNING_KEYS[key.signing_fingerprint],
    )


@pytest.fixture
def keysets(people) -> dict[str, TestKeySet]:
    """The key sets registered for the organisations of alice, agnes, terry and sam, by person."""
    return {name: keyset_of(people[name].organisation) for name in KEY_HOLDERS}


def lot_input(now: dt.datetime | None = None, **overrides) -> tendering.LotInput:
    now = now or timezone.now()
    deadline = now + dt.timedelta(days=30)
    values = {
        "name": "门诊楼改造工程施工",
        "estimated_price": Decimal("12000000.00"),
        "control_price": Decimal("11800000.00"),
        "bid_security": Decimal("200000.00"),
        "doc_start": now - dt.timedelta(hours=1),
        "doc_end": now + dt.timedelta(days=20),
        "bid_deadline": deadline,
        "opening_time": deadline,
        "evaluation_method": EvaluationMethod.COMPREHENSIVE,
        "decryption_minutes": 30,
        "min_bidders": 3,
    }
    values.update(overrides)
    return tendering.LotInput(**values)


def tender_input(orgs, **overrides) -> tendering.TenderInput:
    values = {
        "title": "市第一人民医院门诊楼改造工程招标公告",
        "project_name": "市第一人民医院门诊楼改造工程",
        "tenderer_id": orgs["tenderer"].pk,
        "category": "construction",
        "region": "330000",
        "description": "本招标项目已由市发展和改革委员会批准建设，资金来自财政资金，现进行公开招标。",
        "contact_name": "王工",
        "contact_phone": "0571-88880000",
        "supervising_authority_id": orgs["supervisor"].pk,
    }
    values.update(overrides)
    return tendering.TenderInput(**values)


@pytest.fixture
def make_draft(orgs, people) -> Callable[..., Tender]:
    def build(lots: int = 1, with_document: bool = True, **lot_overrides) -> Tender:
        tender = tendering.tender_create(actor=people["alice"], data=tender_input(orgs))
        for _ in range(lots):
            tendering.lot_save(
                actor=people["alice"], tender=tender, data=lot_input(**lot_overrides)
            )
        if with_document:
            tendering.document_upload(
                actor=people["alice"],
                tender=tender,
                upload=SimpleUploadedFile(
                    "招标文件.pdf", b"%PDF-1.4 tender documents", "application/pdf"
                ),
            )
        return tender

    return build


@pytest.fixture
def published(make_draft, people) -> Tender:
    tender = make_draft()
    return tendering.tender_publish(actor=people["alice"], tender=tender)


@pytest.fixture
def lot(published) -> Lot:
    return published.lots.get()


@pytest.fixture(autouse=True)
def _fresh_channel_layer():
    """Each test gets its own channel layer object.

    The Redis core layer keeps receive state per layer object and refuses a
    second event loop while a receive is pending (channels_redis's "Two event
    loops are trying to receive()"); a test that fails with sockets still
    open would otherwise leave its loop's receives behind for every later
    test, and the in-memory layer would carry groups across tests.
    """
    yield
    channel_layers.backends.clear()


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    # Real hashing costs seconds per user; the hash algorithm is not under test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # A request in English leaves English active on the thread; every test starts in the default.
    translation.activate(settings.LANGUAGE_CODE)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    # What is written under var/ at run time (the demo's key backups) goes to the test's own directory.
    settings.VAR_DIR = tmp_path / "var"
    # Likewise the development receipt key, made on first use (tests that sign receipts set their own).
    settings.RECEIPT_SIGNING_KEY = str(tmp_path / "var" / "receipt-signing-key.pem")
    settings.RECEIPT_SIGNING_KEY_CREATE = True
