"""The opening key: made at publication, split among custodians, rebuilt from their shares after the opening time."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.utils import timezone

from accounts.credit_code import make as make_code
from accounts.models import OrganisationKey, OrganisationKind
from accounts.services import organisation_create
from audit.models import AuditEvent
from audit.selectors import chain_verify
from core.errors import DomainError, NotFound
from opening import crypto, selectors, services, shamir
from opening.models import Custodian, OpeningKey
from tendering import services as tendering
from tendering.models import LotStatus, TenderStatus
from tests.conftest import issue_keys, keyset_of, lot_input

pytestmark = pytest.mark.django_db


def decrypted_share(custodian: Custodian) -> bytes:
    """What the custodian's browser gets when it decrypts its share with its private key."""
    private = keyset_of(custodian.organisation).encryption_private
    return crypto.unwrap(private, bytes(custodian.encrypted_share))


def share_of(lot, org) -> bytes:
    return decrypted_share(Custodian.objects.get(opening_key__lot=lot, organisation=org))


@pytest.fixture
def at_opening(lot, time_machine):
    time_machine.move_to(lot.opening_time + dt.timedelta(minutes=1), tick=False)
    return lot


# --- publication ------------------------------------------------------------------------------


def test_publishing_gives_every_lot_its_own_opening_key(make_draft, people, orgs):
    tender = tendering.tender_publish(actor=people["alice"], tender=make_draft(lots=3))
    keys = [lot.opening_key for lot in tender.lots.order_by("number")]
    assert len({key.fingerprint for key in keys}) == 3
    for key in keys:
        public = crypto.load_public(bytes(key.public_key))
        assert public.key_size == 3072 and public.public_numbers().e == 65537
        assert key.fingerprint == crypto.fingerprint_of_der(bytes(key.public_key))
        assert key.algorithm == "RSA-OAEP-3072-SHA256"
        assert key.private_key is None and key.rebuilt_at is None
        custodians = list(key.custodians.order_by("x"))
        assert [c.organisation for c in custodians] == [
            orgs["agency"],
            orgs["supervisor"],
            orgs["tenderer"],
        ]
        assert [c.x for c in custodians] == [1, 2, 3]
        assert key.threshold == 2


def test_each_share_opens_only_with_its_custodians_key_and_any_two_rebuild_the_private_key(
    published, lot
):
    key = lot.opening_key
    custodians = list(key.custodians.select_related("organisation", "key"))
    shares = []
    for custodian in custodians:
        assert custodian.key == OrganisationKey.objects.get(
            organisation=custodian.organisation, status="active"
        )
        share = decrypted_share(custodian)
        assert len(share) == 33 and share[0] == custodian.x
        assert crypto.share_matches(
            salt=bytes(custodian.commitment_salt),
            lot_id=lot.pk,
            fingerprint=key.fingerprint,
            share=share,
            commitment=custodian.commitment,
        )
        shares.append(shamir.Share.from_bytes(share))
    # Another custodian's private key cannot open this share.
    stranger = keyset_of(custodians[1].organisation).encryption_private
    with pytest.raises(ValueError):
        crypto.unwrap(stranger, bytes(custodians[0].encrypted_share))
    aad = crypto.private_key_aad(lot_id=lot.pk, fingerprint=key.fingerprint)
    for pair in itertools.combinations(shares, 2):
        der = crypto.open_private_key_der(
            bytes(key.sealed_private_key), kek=shamir.combine(list(pair)), aad=aad
        )
        rebuilt = crypto.load_private_der(der)
        assert crypto.fingerprint_of_der(crypto.spki_der(rebuilt.public_key())) == key.fingerprint


def test_publication_is_audited_with_the_fingerprint_the_custodians_and_the_threshold(
    published, lot, orgs
):
    event = AuditEvent.objects.get(action="opening.key.created", lot_id=lot.pk)
    data = event.data
    assert data["fingerprint"] == lot.opening_key.fingerprint
    assert data["threshold"] == 2
    assert [c["organisation"] for c in data["custodians"]] == [
        orgs["agency"].name,
        orgs["supervisor"].name,
        orgs["tenderer"].name,
    ]
    assert [c["key_fingerprint"] for c in data["custodians"]] == [
        OrganisationKey.objects.get(organisation=orgs[name], status="active").encryption_fingerprint
        for name in ("agency", "supervisor", "tenderer")
    ]
    published_event = AuditEvent.objects.get(action="tendering.lot.published", lot_id=lot.pk)
    assert published_event.data["opening_key"] == lot.opening_key.fingerprint
    assert chain_verify().ok


def test_publication_is_refused_naming_a_custodian_without_a_key(make_draft, people, orgs):
    tender = make_draft(lots=2)
    OrganisationKey.objects.filter(organisation=orgs["supervisor"]).update(
        status="retired", retired_at=timezone.now()
    )
    with pytest.raises(DomainError) as refused:
        tendering.tender_publish(actor=people["alice"], tender=tender)
    assert refused.value.code == "opening.custodian_without_key"
    assert orgs["supervisor"].name in refused.value.message
    tender.refresh_from_db()
    assert tender.status == TenderStatus.DRAFT
    assert not OpeningKey.objects.exists()
    assert not AuditEvent.objects.filter(
        action__in=["opening.key.created", "tendering.tender.published"]
    ).exists()


def test_publication_is_refused_without_a_supervising_authority(make_draft, people):
    tender = make_draft()
    tender.supervising_authority = None
    tender.save(update_fields=["supervising_authority"])
    with pytest.raises(DomainError) as refused:
        tendering.tender_publish(actor=people["alice"], tender=tender)
    assert refused.value.code == "tender.no_supervising_authority"
    assert not OpeningKey.objects.exists()


def test_custodians_and_threshold_chosen_on_the_draft_are_used(make_draft, people, orgs):
    second = organisation_create(
        actor=None,
        name="省公共资源交易监督管理局",
        code=make_code("11330000MA0000009"),
        kind=OrganisationKind.SUPERVISOR,
    )
    issue_keys(second)
    tender = make_draft(with_document=True)
    lot = tender.lots.get()
    custodian_ids = (orgs["agency"].pk, orgs["supervisor"].pk, second.pk, orgs["tenderer"].pk)
    tendering.lot_save(
        actor=people["alice"],
        tender=tender,
        lot=lot,
        data=lot_input(custodian_ids=custodian_ids, custodian_threshold=3),
    )
    tendering.tender_publish(actor=people["alice"], tender=tender)
    key = OpeningKey.objects.get(lot=lot)
    assert key.threshold == 3
    assert set(key.custodians.values_list("organisation", flat=True)) == set(custodian_ids)
    assert key.custodians.count() == 4


def test_naming_exactly_the_default_custodians_keeps_following_the_defaults(
    make_draft, people, orgs
):
    tender = make_draft()
    lot = tender.lots.get()
    defaults = (orgs["tenderer"].pk, orgs["agency"].pk, orgs["supervisor"].pk)
    tendering.lot_save(
        actor=people["alice"], tender=tender, lot=lot, data=lot_input(custodian_ids=defaults)
    )
    assert not lot.custodians.exists()
    assert selectors.custodians_planned(lot=lot) == [
        orgs["agency"],
        orgs["supervisor"],
        orgs["tenderer"],
    ]


@pytest.mark.parametrize(
    ("names", "threshold", "code"),
    [
        (("agency",), 2, "opening.custodian_count"),
        (("agency", "tenderer"), 3, "opening.threshold"),
        (("agency", "supervisor", "tenderer"), 1, "opening.threshold"),
        (("agency", "bidder_a"), 2, "opening.custodian_not_allowed"),
        (("agency", "agency2", "tenderer"), 2, "opening.custodian_not_allowed"),
        (("agency", "platform", "tenderer"), 2, "opening.custodian_not_allowed"),
    ],
)
def test_a_custody_outside_the_rules_is_refused_on_the_draft(
    make_draft, people, orgs, names, threshold, code
):
    tender = make_draft()
    with pytest.raises(DomainError) as refused:
        tendering.lot_save(
            actor=people["alice"],
            tender=tender,
            data=lot_input(
                custodian_ids=tuple(orgs[name].pk for name in names), custodian_threshold=threshold
            ),
        )
    assert refused.value.code == code


def test_at_most_seven_custodians(make_draft, people, orgs):
    extra = []
    for serial in range(6):
        extra.append(
            organisation_create(
                actor=None,
                name=f"第{serial}监督局",
                code=make_code(f"11330000MA10000{serial:02d}"),
                kind=OrganisationKind.SUPERVISOR,
            )
        )
    tender = make_draft()
    ids = (orgs["agency"].pk, orgs["tenderer"].pk, *(org.pk for org in extra))
    with pytest.raises(DomainError) as refused:
        tendering.lot_save(actor=people["alice"], tender=tender, data=lot_input(custodian_ids=ids))
    assert refused.value.code == "opening.custodian_count"
    tendering.lot_save(
        actor=people["alice"],
        tender=tender,
        data=lot_input(custodian_ids=ids[:7], custodian_threshold=7),
    )


def test_a_custodian_that_rotated_its_key_keeps_the_share_encrypted_to_the_old_one(
    published, lot, people, orgs
):
    old = OrganisationKey.objects.get(organisation=orgs["supervisor"], status="active")
    issue_keys(orgs["supervisor"], actor=people["sam"])
    custodian = Custodian.objects.get(opening_key__lot=lot, organisation=orgs["supervisor"])
    assert custodian.key == old
    from tests.opening.keypool import private_key_for

    share = crypto.unwrap(
        private_key_for(old.encryption_fingerprint), bytes(custodian.encrypted_share)
    )
    assert share[0] == custodian.x


# --- shares and the rebuild -----------------------------------------------------------------------


def test_a_share_is_refused_before_the_opening_time(published, lot, people, orgs, time_machine):
    time_machine.move_to(lot.opening_time - dt.timedelta(microseconds=1), tick=False)
    with pytest.raises(DomainError) as refused:
        services.custodian_share_submit(
            actor=people["sam"], lot=lot, share=share_of(lot, orgs["supervisor"])
        )
    assert refused.value.code == "opening.too_early"
    assert not Custodian.objects.filter(submitted_at__isnull=False).exists()


def test_a_share_is_taken_at_the_opening_time_to_the_microsecond(
    published, lot, people, orgs, time_machine
):
    time_machine.move_to(lot.opening_time, tick=False)
    receipt = services.custodian_share_submit(
        actor=people["sam"], lot=lot, share=share_of(lot, orgs["supervisor"])
    )
    assert receipt.submitted == 1 and receipt.threshold == 2 and not receipt.rebuilt


@pytest.mark.parametrize("person", ["bob", "agnes", "fay", "pat", "eve"])
def test_only_a_custodian_organisations_user_may_submit(at_opening, people, orgs, person):
    with pytest.raises(NotFound):
        services.custodian_share_submit(
            actor=people[person], lot=at_opening, share=share_of(at_opening, orgs["agency"])
        )


def test_a_user_of_a_custodian_organisation_without_its_role_may_not_submit(
    at_opening, people, orgs
):
    from accounts.models import Role, User
    from accounts.services import user_create

    clerk = user_create(
        actor=None,
        organisation=orgs["tenderer"],
        username="tina",
        password="Sunbid-test-2026!",
        roles=[Role.TENDERER_REP],
        full_name="Tina",
        email="tina@example.cn",
    )
    clerk.role_grants.all().delete()
    clerk = User.objects.get(pk=clerk.pk)  # the roles, read afresh: none
    with pytest.raises(NotFound):
        services.custodian_share_submit(
            actor=clerk, lot=at_opening, share=share_of(at_opening, orgs["tenderer"])
        )


def test_a_wrong_share_is_refused_naming_the_organisation(at_opening, people, orgs):
    share = bytearray(share_of(at_opening, orgs["supervisor"]))
    share[10] ^= 0x80
    with pytest.raises(DomainError) as refused:
        services.custodian_share_submit(actor=people["sam"], lot=at_opening, share=bytes(share))
    assert refused.value.code == "opening.share_invalid"
    assert orgs["supervisor"].name in refused.value.message
    # Another custodian's (valid) share is wrong for this one too.
    with pytest.raises(DomainError) as refused:
        services.custodian_share_submit(
            actor=people["sam"], lot=at_opening, share=share_of(at_opening, orgs["agency"])
        )
    assert refused.value.code == "opening.share_invalid"
    for bad in (b"", b"\x02", share_of(at_opening, orgs["supervisor"]) + b"\x00"):
        with pytest.raises(DomainError):
            services.custodian_share_submit(actor=people["sam"], lot=at_opening, share=bad)
    assert not Custodian.objects.filter(submitted_at__isnull=False).exists()


def test_submitting_the_same_share_twice_is_a_no_op(at_opening, people, orgs):
    share = share_of(at_opening, orgs["supervisor"])
    first = services.custodian_share_submit(actor=people["sam"], lot=at_opening, share=share)
    second = services.custodian_share_submit(actor=people["sam"], lot=at_opening, share=share)
    assert not first.already_submitted and second.already_submitted
    assert second.submitted == 1
    assert AuditEvent.objects.filter(action="opening.share.submitted").count() == 1


def test_one_share_rebuilds_nothing_and_the_private_key_stays_out_of_reach(
    at_opening, people, orgs
):
    services.custodian_share_submit(
        actor=people["sam"], lot=at_opening, share=share_of(at_opening, orgs["supervisor"])
    )
    assert services.opening_key_rebuild(lot=at_opening) is None
    with pytest.raises(DomainError) as refused:
        selectors.opening_private_key(at_opening)
    assert refused.value.code == "opening.not_rebuilt"


def test_the_second_share_rebuilds_the_key_and_wipes_the_shares(at_opening, people, orgs):
    services.custodian_share_submit(
        actor=people["terry"], lot=at_opening, share=share_of(at_opening, orgs["tenderer"])
    )
    receipt = services.custodian_share_submit(
        actor=people["alice"], lot=at_opening, share=share_of(at_opening, orgs["agency"])
    )
    assert receipt.rebuilt and receipt.submitted == 2
    key = OpeningKey.objects.get(lot=at_opening)
    assert key.rebuilt_at is not None
    private = selectors.opening_private_key(at_opening)
    public, fingerprint = selectors.opening_public_key(at_opening)
    assert fingerprint == key.fingerprint
    assert private.public_key().public_numbers() == public.public_numbers()
    assert not Custodian.objects.filter(submitted_share__isnull=False).exists()
    rebuilt = AuditEvent.objects.get(action="opening.key.rebuilt")
    assert rebuilt.data["fingerprint"] == key.fingerprint
    assert [share["organisation"] for share in rebuilt.data["shares_used"]] == [
        orgs["agency"].name,
        orgs["tenderer"].name,
    ]
    assert AuditEvent.objects.filter(action="opening.share.submitted").count() == 2
    # The third custodian may still submit: recorded, not kept.
    late = services.custodian_share_submit(
        actor=people["sam"], lot=at_opening, share=share_of(at_opening, orgs["supervisor"])
    )
    assert late.submitted == 3 and late.rebuilt
    assert not Custodian.objects.filter(submitted_share__isnull=False).exists()
    assert chain_verify().ok


def test_the_private_key_is_refused_before_the_opening_time_even_once_rebuilt(
    at_opening, people, orgs, time_machine
):
    for name, org in (("sam", "supervisor"), ("terry", "tenderer")):
        services.custodian_share_submit(
            actor=people[name], lot=at_opening, share=share_of(at_opening, orgs[org])
        )
    time_machine.move_to(at_opening.opening_time - dt.timedelta(seconds=1), tick=False)
    with pytest.raises(DomainError) as refused:
        selectors.opening_private_key(at_opening)
    assert refused.value.code == "opening.too_early"


def test_a_sealed_key_that_the_shares_cannot_open_fails_the_rebuild_and_keeps_nothing(
    at_opening, people, orgs
):
    key = OpeningKey.objects.get(lot=at_opening)
    sealed = bytearray(bytes(key.sealed_private_key))
    sealed[40] ^= 0x01
    OpeningKey.objects.filter(pk=key.pk).update(sealed_private_key=bytes(sealed))
    services.custodian_share_submit(
        actor=people["sam"], lot=at_opening, share=share_of(at_opening, orgs["supervisor"])
    )
    with pytest.raises(DomainError) as refused:
        services.custodian_share_submit(
            actor=people["alice"], lot=at_opening, share=share_of(at_opening, orgs["agency"])
        )
    assert refused.value.code == "opening.rebuild_failed"
    key.refresh_from_db()
    assert key.rebuilt_at is None and key.private_key is None
    assert Custodian.objects.filter(submitted_at__isnull=False).count() == 1


def test_a_sealed_key_moved_to_another_lot_does_not_open_there(
    make_draft, people, orgs, time_machine
):
    """The sealed private key is bound to its lot: copying one lot's blob over another's fails the rebuild."""
    tender = tendering.tender_publish(actor=people["alice"], tender=make_draft(lots=2))
    first, second = tender.lots.order_by("number")
    OpeningKey.objects.filter(lot=second).update(
        sealed_private_key=bytes(OpeningKey.objects.get(lot=first).sealed_private_key)
    )
    time_machine.move_to(second.opening_time + dt.timedelta(minutes=1), tick=False)
    services.custodian_share_submit(
        actor=people["sam"], lot=second, share=share_of(second, orgs["supervisor"])
    )
    with pytest.raises(DomainError) as refused:
        services.custodian_share_submit(
            actor=people["terry"], lot=second, share=share_of(second, orgs["tenderer"])
        )
    assert refused.value.code == "opening.rebuild_failed"


def test_no_share_is_taken_for_a_cancelled_lot(published, lot, people, orgs, time_machine):
    tendering.tender_cancel(actor=people["alice"], tender=published, reason="项目取消")
    time_machine.move_to(lot.opening_time + dt.timedelta(minutes=1), tick=False)
    lot.refresh_from_db()
    assert lot.status == LotStatus.CANCELLED
    with pytest.raises(DomainError) as refused:
        services.custodian_share_submit(
            actor=people["sam"], lot=lot, share=share_of(lot, orgs["supervisor"])
        )
    assert refused.value.code == "opening.lot_cancelled"


def test_a_draft_lot_has_no_public_key(make_draft):
    lot = make_draft().lots.get()
    with pytest.raises(NotFound):
        selectors.opening_public_key(lot)
