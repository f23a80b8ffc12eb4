"""Registering organisations and users, and changing them, through the services."""

from __future__ import annotations

import json

import pytest

from accounts.credit_code import make as make_code
from accounts.models import Organisation, OrganisationKind, Role, User
from accounts.services import organisation_create, organisation_update, user_create, user_update
from audit.models import AuditEvent
from core.errors import DomainError
from tests.conftest import PASSWORD


def test_organisation_with_a_wrong_credit_code_is_refused_and_nothing_is_saved(db):
    events_before = AuditEvent.objects.count()
    with pytest.raises(DomainError) as caught:
        organisation_create(actor=None, name="错码公司", code="91350100M000100Y44", kind=OrganisationKind.BIDDER)
    assert caught.value.code == "organisation.credit_code.check"
    assert caught.value.field == "credit_code"
    assert caught.value.message == "统一社会信用代码校验位错误，请核对后重新输入。"
    assert not Organisation.objects.filter(name="错码公司").exists()
    assert AuditEvent.objects.count() == events_before


def test_organisation_credit_code_is_stored_normalised_and_audited(db):
    organisation = organisation_create(
        actor=None, name="深圳某公司", code=" 91440300708461136t", kind=OrganisationKind.BIDDER
    )
    assert organisation.credit_code == "91440300708461136T"
    event = AuditEvent.objects.get(action="accounts.organisation.created")
    assert event.data["credit_code"] == "91440300708461136T"


def test_duplicate_credit_code_is_refused(orgs):
    with pytest.raises(DomainError) as caught:
        organisation_create(actor=None, name="另一家", code=orgs["agency"].credit_code, kind=OrganisationKind.AGENCY)
    assert caught.value.code == "organisation.duplicate_code"


def test_user_with_a_role_the_organisation_kind_cannot_hold_is_refused(orgs):
    with pytest.raises(DomainError) as caught:
        user_create(
            actor=None,
            organisation=orgs["bidder_a"],
            username="mallory",
            password=PASSWORD,
            roles=[Role.AGENT],
        )
    assert caught.value.code == "user.role_organisation"
    assert caught.value.message == "“代理机构经办人”角色不能授予投标人的用户。"
    assert not User.objects.filter(username="mallory").exists()


def test_platform_admin_gets_admin_site_access_and_others_do_not(people):
    assert people["pat"].is_staff
    assert not people["fay"].is_staff


def test_user_update_replaces_roles_and_audits_old_and_new(people):
    pat, fay = people["pat"], people["fay"]
    user_update(actor=pat, user=fay, data={"full_name": "Fay Finance"}, roles=[Role.FINANCE, Role.EXPERT])
    fay = User.objects.get(pk=fay.pk)
    assert fay.roles == {Role.FINANCE, Role.EXPERT}
    assert fay.full_name == "Fay Finance"
    event = AuditEvent.objects.filter(action="accounts.user.updated").latest("seq")
    assert event.actor_id == pat.pk
    assert event.data["changes"]["roles"] == [["finance"], ["expert", "finance"]]
    assert event.data["changes"]["full_name"] == ["Fay", "Fay Finance"]


def test_user_update_refuses_a_move_to_an_organisation_that_cannot_hold_the_roles(people, orgs):
    with pytest.raises(DomainError) as caught:
        user_update(actor=people["pat"], user=people["alice"], data={"organisation": orgs["bidder_a"]})
    assert caught.value.code == "user.role_organisation"
    assert User.objects.get(pk=people["alice"].pk).organisation_id == orgs["agency"].pk


def test_granting_platform_admin_gives_admin_access_and_revoking_removes_it(people):
    pat, fay = people["pat"], people["fay"]
    user_update(actor=pat, user=fay, data={}, roles=[Role.FINANCE, Role.PLATFORM_ADMIN])
    assert User.objects.get(pk=fay.pk).is_staff
    user_update(actor=pat, user=fay, data={}, roles=[Role.FINANCE])
    assert not User.objects.get(pk=fay.pk).is_staff


def test_organisation_update_checks_the_new_credit_code_and_audits_the_change(orgs, people):
    agency = orgs["agency"]
    with pytest.raises(DomainError) as caught:
        organisation_update(actor=people["pat"], organisation=agency, data={"credit_code": "91350100M000100Y44"})
    assert caught.value.code == "organisation.credit_code.check"
    new_code = make_code("91330100MA0000099")
    organisation_update(actor=people["pat"], organisation=agency, data={"credit_code": new_code.lower()})
    assert Organisation.objects.get(pk=agency.pk).credit_code == new_code
    event = AuditEvent.objects.filter(action="accounts.organisation.updated").latest("seq")
    assert json.loads(event.payload)["changes"]["credit_code"] == [agency.credit_code, new_code]


def test_organisation_kind_cannot_be_changed(orgs, people):
    with pytest.raises(DomainError) as caught:
        organisation_update(actor=people["pat"], organisation=orgs["agency"], data={"kind": OrganisationKind.BIDDER})
    assert caught.value.code == "organisation.field"
