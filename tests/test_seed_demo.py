"""manage.py seed_demo: every state, a login for every role, idempotent, audit chain intact."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import F
from django.test import RequestFactory
from django.utils import timezone

from accounts.credit_code import make as make_credit_code
from accounts.models import Notification, Organisation, Role, User
from accounts.services import organisation_create
from audit.models import AuditEvent
from audit.selectors import chain_verify
from tendering import demo
from tendering.models import (
    Amendment,
    DeadlineChange,
    DocumentObtain,
    Lot,
    LotStatus,
    Tender,
    TenderDocument,
    TenderStatus,
)

pytestmark = pytest.mark.django_db

# The past-state tenders' deadlines are set this many seconds ahead; seeding waits for them.
CLOSING_DELAY = 2.0


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2 at full strength costs ~0.4 s per sign-in; what is tested here is
    # which accounts exist and that their password works, not the hasher.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", closing_delay=CLOSING_DELAY, stdout=out)
    return out.getvalue()


def login_table(output: str) -> str:
    return output[output.index("Demo logins") :]


def counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (Organisation, User, Tender, Lot, Amendment, TenderDocument, DocumentObtain, Notification,
                      AuditEvent)
    }


def test_seed_demo_creates_tenders_in_every_state():
    seed()
    tenders = Tender.objects.all()
    lots = Lot.objects.all()
    assert tenders.filter(status=TenderStatus.DRAFT).exists()
    assert tenders.filter(status=TenderStatus.CANCELLED).exists()
    for state in (LotStatus.PUBLISHED, LotStatus.BIDDING_CLOSED, LotStatus.FAILED, LotStatus.AWARDED):
        assert lots.filter(status=state).exists(), state
    assert Amendment.objects.filter(tender__status=TenderStatus.PUBLISHED).count() >= 1
    assert DeadlineChange.objects.filter(new_deadline__gt=F("old_deadline")).exists()
    assert lots.filter(status=LotStatus.FAILED, failed_reason="投标人不足3家").exists()


def test_open_demo_tenders_close_in_twenty_to_forty_days_and_some_have_several_lots():
    seed()
    now = timezone.now()
    open_lots = Lot.objects.filter(status=LotStatus.PUBLISHED).exclude(deadline_changes__isnull=False)
    assert open_lots.count() >= 5
    for lot in open_lots:
        assert now + dt.timedelta(days=19) < lot.bid_deadline < now + dt.timedelta(days=41), lot
    published = Tender.objects.filter(status=TenderStatus.PUBLISHED, lots__status=LotStatus.PUBLISHED).distinct()
    assert sum(1 for tender in published if tender.lots.count() > 1) >= 2


def test_awarded_demo_lots_save_money_against_the_maximum_price():
    seed()
    awarded = Lot.objects.filter(status=LotStatus.AWARDED)
    assert awarded.count() >= 2
    for lot in awarded:
        assert lot.winner is not None and lot.awarded_at is not None
        assert 0 < lot.award_price < lot.control_price


def test_amendments_reach_the_bidders_who_obtained_the_documents():
    seed()
    amended = Tender.objects.get(amendments__number=2)
    obtainers = DocumentObtain.objects.filter(tender=amended).values_list("organisation_id", flat=True)
    assert len(obtainers) >= 1
    notified = User.objects.filter(notifications__title__contains="澄清/补遗").values_list(
        "organisation_id", flat=True
    )
    assert set(obtainers) <= set(notified)


def test_every_demo_tender_has_a_real_pdf_document():
    seed()
    for tender in Tender.objects.all():
        document = tender.documents.filter(amendment__isnull=True).get()
        with document.file.open("rb") as handle:
            content = handle.read()
        assert content.startswith(b"%PDF-")
        # The Chinese font travels inside the file: readers without one still show the text.
        assert b"/FontFile2" in content
        assert b"STSong" not in content


def test_seed_demo_fills_an_expert_pool_of_at_least_200():
    seed()
    experts = User.objects.filter(role_grants__role=Role.EXPERT)
    assert experts.count() >= 200
    assert experts.exclude(full_name="").count() == experts.count()
    assert len(set(experts.values_list("full_name", flat=True))) == experts.count()
    assert set(experts.values_list("organisation__kind", flat=True)) == {"platform"}


def test_every_role_has_a_demo_login_that_works(client):
    output = seed()
    assert demo.DEMO_PASSWORD in output
    roles_seen = set()
    for login in demo.logins().logins:
        user = User.objects.get(username=login.username)
        assert user.organisation.name == login.organisation
        assert login.username in output
        request = RequestFactory().post("/accounts/login/")
        assert client.login(request=request, username=login.username, password=demo.DEMO_PASSWORD), login
        client.logout()
        roles_seen |= user.roles
    assert roles_seen == set(Role.values)


def test_running_seed_demo_twice_adds_nothing_and_prints_the_same_logins():
    first = seed()
    before = counts()
    second = seed()
    assert counts() == before
    assert "nothing created" in second
    assert login_table(second) == login_table(first)


def test_the_audit_chain_holds_the_whole_demo_and_verifies():
    seed()
    report = chain_verify()
    assert report.ok, report.describe()
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {
        "accounts.organisation.created",
        "accounts.user.created",
        "tendering.tender.published",
        "tendering.amendment.published",
        "tendering.lot.bidding_closed",
        "tendering.lot.failed",
        "tendering.lot.awarded",
        "tendering.tender.cancelled",
    } <= actions


def test_a_clashing_organisation_stops_seeding_and_leaves_nothing_behind():
    organisation_create(
        actor=None, name="浙江明诚招标代理有限公司", code=make_credit_code("91330100MA2AAAAA1"), kind="agency"
    )
    with pytest.raises(CommandError, match="organisation.duplicate_name"):
        seed()
    assert Organisation.objects.count() == 1
    assert not demo.is_seeded()
    assert not User.objects.exists()


def test_seed_demo_refuses_a_closing_delay_too_short_to_publish():
    with pytest.raises(CommandError):
        call_command("seed_demo", closing_delay=0.1, stdout=StringIO())
    assert not Organisation.objects.exists()
