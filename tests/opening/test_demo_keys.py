"""The demo's custodian organisations have keys, and their backups restore with the documented passphrase."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import OrganisationKey, OrganisationKind
from bidding.sealing import keys as sealing_keys
from opening.models import OpeningKey
from tendering import demo
from tendering.models import Lot, LotStatus

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_the_demo_writes_a_backup_per_custodian_organisation_that_restores_its_registered_key():
    call_command("seed_demo", closing_delay=2.0, experts=20, stdout=StringIO())
    directory = demo.demo_keys_dir()
    backups = sorted(directory.glob("sunbid-keys-*-demo.json"))
    holders = OrganisationKey.objects.filter(status="active").select_related("organisation")
    assert {key.organisation.kind for key in holders} == {
        OrganisationKind.AGENCY,
        OrganisationKind.TENDERER,
        OrganisationKind.SUPERVISOR,
    }
    assert len(backups) == holders.count() == 7
    readme = (directory / "README.txt").read_text(encoding="utf-8")
    assert demo.DEMO_KEY_PASSPHRASE in readme
    for path in backups:
        document = json.loads(path.read_bytes())
        assert document["kdf"]["iterations"] == 600_000  # what the browser accepts
        keyset = sealing_keys.backup_load(path.read_bytes(), demo.DEMO_KEY_PASSPHRASE)
        registered = holders.get(encryption_fingerprint=keyset.encryption_fingerprint)
        assert registered.signing_fingerprint == keyset.signing_fingerprint
        assert registered.organisation.credit_code == keyset.organisation
        assert path.name in readme
    # Every published demo lot got its opening key, split among the three default custodians.
    published = Lot.objects.exclude(status__in=[LotStatus.DRAFT])
    assert published.exists()
    for lot in published:
        key = OpeningKey.objects.get(lot=lot)
        assert key.custodians.count() == 3 and key.threshold == 2
    assert Lot.objects.filter(bid_fields__isnull=False).exclude(bid_fields=[]).exists()
