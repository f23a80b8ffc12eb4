"""The platform administrator's admin pages: only for platform admins, every save through the services."""

from __future__ import annotations

import pytest

from accounts.credit_code import make as make_code
from accounts.models import Organisation, Role, User
from audit.models import AuditEvent
from tests.conftest import PASSWORD

ORG_ADD = "/admin/accounts/organisation/add/"


def _org_form(**overrides):
    data = {
        "name": "新登记投标公司",
        "credit_code": make_code("91330100MA0000077"),
        "kind": "bidder",
        "region": "330000",
        "address": "杭州市西湖区",
        "contact_name": "李经理",
        "contact_phone": "0571-12345678",
    }
    data.update(overrides)
    return data


def _user_change_form(user, roles, **overrides):
    grants = list(user.role_grants.order_by("pk"))
    data = {
        "organisation": user.organisation_id,
        "full_name": user.full_name,
        "email": user.email,
        "mobile": user.mobile,
        "is_active": "on",
        "role_grants-TOTAL_FORMS": str(len(grants) + len(roles)),
        "role_grants-INITIAL_FORMS": str(len(grants)),
        "role_grants-MIN_NUM_FORMS": "0",
        "role_grants-MAX_NUM_FORMS": "1000",
    }
    for index, grant in enumerate(grants):
        data.update({f"role_grants-{index}-id": grant.pk, f"role_grants-{index}-user": user.pk,
                     f"role_grants-{index}-role": grant.role})
    for offset, role in enumerate(roles, start=len(grants)):
        data.update({f"role_grants-{offset}-user": user.pk, f"role_grants-{offset}-role": role})
    data.update(overrides)
    return data


@pytest.mark.parametrize("name", ["alice", "fay"])
def test_only_platform_admins_may_enter(client, people, name):
    client.force_login(people[name])
    assert client.get("/admin/accounts/organisation/", follow=True).status_code == 403


def test_staff_without_the_platform_admin_role_may_not_enter(client, orgs):
    User.objects.create_superuser(username="root", password=PASSWORD)
    client.force_login(User.objects.get(username="root"))
    assert client.get("/admin/", follow=True).status_code == 403


def test_anonymous_admin_visitors_sign_in_through_the_audited_page(client):
    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/accounts/login/?next=")


def test_platform_admin_registers_an_organisation_through_the_service(client, people):
    client.force_login(people["pat"])
    response = client.post(ORG_ADD, _org_form(credit_code=make_code("91330100MA0000077").lower()))
    assert response.status_code == 302
    organisation = Organisation.objects.get(name="新登记投标公司")
    assert organisation.credit_code == make_code("91330100MA0000077")
    event = AuditEvent.objects.filter(action="accounts.organisation.created").latest("seq")
    assert event.actor_id == people["pat"].pk
    assert event.object_id == str(organisation.pk)


def test_admin_shows_the_chinese_credit_code_message_and_saves_nothing(client, people):
    client.force_login(people["pat"])
    response = client.post(ORG_ADD, _org_form(credit_code="91350100M000100Y44"))
    assert response.status_code == 200
    assert "统一社会信用代码校验位错误，请核对后重新输入。" in response.content.decode()
    assert not Organisation.objects.filter(name="新登记投标公司").exists()


def test_platform_admin_creates_a_user_with_roles_through_the_service(client, people, orgs):
    client.force_login(people["pat"])
    response = client.post(
        "/admin/accounts/user/add/",
        {
            "username": "brenda",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "organisation": orgs["bidder_a"].pk,
            "roles": ["bidder"],
            "full_name": "Brenda",
            "email": "brenda@example.cn",
            "mobile": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[-3000:]
    brenda = User.objects.get(username="brenda")
    assert brenda.roles == {Role.BIDDER}
    assert brenda.check_password(PASSWORD)
    assert AuditEvent.objects.filter(action="accounts.user.created", object_id=str(brenda.pk)).exists()


def test_admin_refuses_a_role_the_organisation_kind_cannot_hold_in_chinese(client, people, orgs):
    client.force_login(people["pat"])
    response = client.post(
        "/admin/accounts/user/add/",
        {
            "username": "mallory",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "organisation": orgs["bidder_a"].pk,
            "roles": ["agent"],
        },
    )
    assert response.status_code == 200
    assert "“代理机构经办人”角色不能授予投标人的用户。" in response.content.decode()
    assert not User.objects.filter(username="mallory").exists()


def test_role_grant_inline_refuses_an_incompatible_role(client, people):
    bob = people["bob"]
    client.force_login(people["pat"])
    response = client.post(f"/admin/accounts/user/{bob.pk}/change/", _user_change_form(bob, ["finance"]))
    assert response.status_code == 200
    assert "“财务人员”角色不能授予投标人的用户。" in response.content.decode()
    assert User.objects.get(pk=bob.pk).roles == {Role.BIDDER}


def test_role_grant_inline_changes_are_saved_and_audited_through_the_service(client, people):
    fay = people["fay"]
    client.force_login(people["pat"])
    response = client.post(
        f"/admin/accounts/user/{fay.pk}/change/", _user_change_form(fay, ["expert"], mobile="13800000000")
    )
    assert response.status_code == 302, response.content.decode()[-3000:]
    fay = User.objects.get(pk=fay.pk)
    assert fay.roles == {Role.FINANCE, Role.EXPERT}
    assert fay.mobile == "13800000000"
    event = AuditEvent.objects.filter(action="accounts.user.updated").latest("seq")
    assert event.actor_id == people["pat"].pk
    assert event.data["changes"]["roles"] == [["finance"], ["expert", "finance"]]
