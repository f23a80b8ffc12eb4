"""The demo's custodian and bidder organisations have keys, and their backups restore with the documented passphrase."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from accounts.credit_code import make as make_credit_code
from accounts.models import OrganisationKey, OrganisationKind
from bidding.sealing import keys as sealing_keys
from opening.models import OpeningKey
from tendering import demo
from tendering.models import Lot, LotStatus
from tests.opening.keypool import POOL

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _receipt_key_of_the_test(settings, tmp_path):
    # The demo's bids get signed receipts: a development key of the test's own, not var/'s.
    settings.RECEIPT_SIGNING_KEY = str(tmp_path / "receipt-signing-key.pem")
    settings.RECEIPT_SIGNING_KEY_CREATE = True


def seed() -> None:
    call_command("seed_demo", closing_delay=5.0, experts=20, stdout=StringIO())


def test_the_demo_writes_a_backup_per_key_holding_organisation_that_restores_its_registered_key():
    seed()
    directory = demo.demo_keys_dir()
    backups = sorted(directory.glob("sunbid-keys-*-demo.json"))
    holders = OrganisationKey.objects.filter(status="active").select_related("organisation")
    assert {key.organisation.kind for key in holders} == {
        OrganisationKind.AGENCY,
        OrganisationKind.TENDERER,
        OrganisationKind.SUPERVISOR,
        OrganisationKind.BIDDER,
    }
    # Three agencies, three tenderers, the supervising authority, eight bidders.
    assert len(backups) == holders.count() == 15
    readme = (directory / "README.txt").read_text(encoding="utf-8")
    assert demo.DEMO_KEY_PASSPHRASE in readme
    for path in backups:
        document = json.loads(path.read_bytes())
        assert document["kdf"]["iterations"] == 600_000  # what the browser accepts
        keyset = sealing_keys.backup_load(path.read_bytes(), demo.DEMO_KEY_PASSPHRASE)
        registered = holders.get(encryption_fingerprint=keyset.encryption_fingerprint)
        assert registered.signing_fingerprint == keyset.signing_fingerprint
        assert registered.organisation.credit_code == keyset.organisation
        assert path.name == demo.backup_filename(keyset.organisation, keyset.encryption_fingerprint)
        assert path.name in readme
    # Every published demo lot got its opening key, split among the three default custodians.
    published = Lot.objects.exclude(status__in=[LotStatus.DRAFT])
    assert published.exists()
    for lot in published:
        key = OpeningKey.objects.get(lot=lot)
        assert key.custodians.count() == 3 and key.threshold == 2
    assert Lot.objects.filter(bid_fields__isnull=False).exclude(bid_fields=[]).exists()


def test_a_backup_already_in_the_demo_key_directory_is_reused_and_left_as_it_is():
    # A browser restored bidder1's keys from var/demo-keys/, then the database was seeded again.
    code = make_credit_code("91330100143051872")  # 浙江东信建设集团有限公司 (bidder1)
    kept = sealing_keys.KeySet(
        organisation=code,
        encryption_private=POOL.next_key(),
        signing_private=sealing_keys.generate_signing_key(),
    )
    directory = demo.demo_keys_dir()
    directory.mkdir(parents=True)
    path = directory / demo.backup_filename(code, kept.encryption_fingerprint)
    path.write_bytes(sealing_keys.backup_dump(kept, demo.DEMO_KEY_PASSPHRASE))
    before = path.read_bytes()

    seed()

    registered = OrganisationKey.objects.get(organisation__credit_code=code, status="active")
    assert (registered.encryption_fingerprint, registered.signing_fingerprint) == (
        kept.encryption_fingerprint,
        kept.signing_fingerprint,
    )
    assert path.read_bytes() == before
    assert len(list(directory.glob(f"sunbid-keys-{code}-*-demo.json"))) == 1
    assert path.name in (directory / "README.txt").read_text(encoding="utf-8")


def test_a_file_that_does_not_open_with_the_demo_passphrase_is_not_reused():
    code = make_credit_code("91330100143051872")
    other = sealing_keys.KeySet(
        organisation=code,
        encryption_private=POOL.next_key(),
        signing_private=sealing_keys.generate_signing_key(),
    )
    directory = demo.demo_keys_dir()
    directory.mkdir(parents=True)
    stranger = directory / demo.backup_filename(code, other.encryption_fingerprint)
    stranger.write_bytes(sealing_keys.backup_dump(other, "someone-else's-passphrase"))

    seed()

    registered = OrganisationKey.objects.get(organisation__credit_code=code, status="active")
    assert registered.encryption_fingerprint != other.encryption_fingerprint
    assert (directory / demo.backup_filename(code, registered.encryption_fingerprint)).exists()
    assert stranger.exists()  # left alone
