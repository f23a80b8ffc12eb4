"""The demo's expert pool: a record per demo expert, built through the audited services."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import Organisation, OrganisationKind, Role, User
from audit.models import AuditEvent
from audit.selectors import chain_verify
from experts.models import Expert, ExpertConflict, ExpertStatus, ExpertUnavailability
from tendering import demo

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_the_demo_gives_every_expert_account_a_pool_record_that_avoidance_can_work_on():
    call_command("seed_demo", closing_delay=demo.DEFAULT_CLOSING_DELAY, stdout=StringIO())
    accounts = User.objects.filter(role_grants__role=Role.EXPERT)
    experts = Expert.objects.select_related("user")
    assert experts.count() == accounts.count() >= 200
    assert set(experts.values_list("user_id", flat=True)) == set(accounts.values_list("pk", flat=True))
    assert all(expert.name == expert.user.full_name for expert in experts)
    assert all(expert.specialties.exists() for expert in experts)

    parties = Organisation.objects.filter(kind__in=[OrganisationKind.BIDDER, OrganisationKind.TENDERER])
    party_codes = set(parties.values_list("credit_code", flat=True))
    assert experts.filter(employer_credit_code__in=party_codes).count() >= 5
    assert ExpertConflict.objects.filter(credit_code__in=party_codes).count() >= 5
    assert ExpertUnavailability.objects.count() >= 5
    assert experts.exclude(status=ExpertStatus.ACTIVE).exists()

    first = Expert.objects.get(user__username=demo.expert_people(1)[0].username)
    assert first.conflicts.exists() and first.unavailable.exists()

    assert AuditEvent.objects.filter(action="experts.expert.created").count() == experts.count()
    payloads = "".join(AuditEvent.objects.filter(action__startswith="experts.").values_list("payload", flat=True))
    assert all(expert.id_number not in payloads for expert in experts)
    assert chain_verify().ok
