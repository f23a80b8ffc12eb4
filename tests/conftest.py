"""Named people for every role, and a published tender to act on.

- alice: agent of 华信招标代理 (the agency running the demo tender)
- agnes: agent of another agency (must never see alice's tenders)
- terry: tenderer representative of 市第一人民医院 (the tenderer)
- bob, carol: bidders of two bidder organisations
- dave: bidder of a third organisation that never takes part
- sam: supervisor; fay: finance; pat: platform admin; eve: expert
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone, translation

from accounts.credit_code import make as make_code
from accounts.models import OrganisationKind, Role, User
from accounts.services import organisation_create, user_create
from tendering import services as tendering
from tendering.models import EvaluationMethod, Lot, Tender

PASSWORD = "Sunbid-test-2026!"


def _org(name: str, kind: str, serial: int):
    return organisation_create(actor=None, name=name, code=make_code(f"91330100MA{serial:07d}"), kind=kind)


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
    }
    values.update(overrides)
    return tendering.TenderInput(**values)


@pytest.fixture
def make_draft(orgs, people) -> Callable[..., Tender]:
    def build(lots: int = 1, with_document: bool = True, **lot_overrides) -> Tender:
        tender = tendering.tender_create(actor=people["alice"], data=tender_input(orgs))
        for _ in range(lots):
            tendering.lot_save(actor=people["alice"], tender=tender, data=lot_input(**lot_overrides))
        if with_document:
            tendering.document_upload(
                actor=people["alice"],
                tender=tender,
                upload=SimpleUploadedFile("招标文件.pdf", b"%PDF-1.4 tender documents", "application/pdf"),
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
def _test_settings(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    # Real hashing costs seconds per user; the hash algorithm is not under test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # A request in English leaves English active on the thread; every test starts in the default.
    translation.activate(settings.LANGUAGE_CODE)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    # Every test creates ten people: the production hasher's million rounds would dominate the run.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # A request in English leaves English active on the thread; every test starts in the default.
    translation.activate(settings.LANGUAGE_CODE)
