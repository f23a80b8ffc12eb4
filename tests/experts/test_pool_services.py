"""The expert pool's services: checks, uniqueness, status, conflicts, unavailable dates, audit, privacy."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

import pytest
import time_machine
from django.utils import timezone

from accounts.credit_code import make as make_code
from audit.models import AuditEvent
from audit.selectors import chain_verify
from core.errors import DomainError, NotPermitted
from experts import id_number, pool
from experts.models import ConflictKind, Expert, ExpertStatus, Specialty

pytestmark = pytest.mark.django_db

ID_ALICE = id_number.make("33010219800101313")  # 330102198001013139
ID_OTHER = id_number.make("32050219751230402")
EMPLOYER = make_code("12330000470001234")


def expert_input(**overrides) -> pool.ExpertInput:
    values = {
        "code": "ZJ330001",
        "name": "沈立群",
        "id_number": ID_ALICE,
        "mobile": "13857100001",
        "email": "shenliqun@example.cn",
        "employer_name": "浙江省建筑设计研究院",
        "employer_credit_code": EMPLOYER,
        "title": "senior",
        "region": "330000",
        "specialty_codes": ("A0101", "A0601"),
    }
    values.update(overrides)
    return pool.ExpertInput(**values)


def refused(call, **kwargs) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call(**kwargs)
    return caught.value


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


# --- the specialty code list ------------------------------------------------------------------


def test_the_specialty_list_is_loaded_in_every_database_as_three_levels():
    specialties = {s.code: s for s in Specialty.objects.select_related("parent")}
    assert 60 <= len(specialties) <= 100
    assert {code for code, s in specialties.items() if s.parent is None} == {"A", "B", "C"}
    for code, specialty in specialties.items():
        if specialty.parent is not None:
            assert code.startswith(specialty.parent.code)
            assert len(code) == len(specialty.parent.code) + 2
    assert specialties["A0101"].name == "建筑工程施工"
    assert specialties["A0101"].parent.parent.name == "工程类"
    assert specialties["B01"].name == "医疗设备"
    assert specialties["C02"].name == "物业管理服务"


# --- creating ------------------------------------------------------------------------------------


def test_platform_admin_adds_an_expert_with_leaf_specialties(people):
    expert = pool.expert_create(actor=people["pat"], data=expert_input())
    assert (expert.code, expert.name, expert.status, expert.region) == (
        "ZJ330001", "沈立群", ExpertStatus.ACTIVE, "330000",
    )
    assert sorted(expert.specialties.values_list("code", flat=True)) == ["A0101", "A0601"]
    (event,) = events("experts.expert.created")
    assert event.actor_name == "pat"
    assert event.data["specialties"] == ["A0101", "A0601"]
    assert chain_verify().ok


def test_the_identity_number_is_masked_in_the_audit_payload(people):
    expert = pool.expert_create(actor=people["pat"], data=expert_input())
    pool.expert_update(actor=people["pat"], expert=expert, data=expert_input(id_number=ID_OTHER))
    created, updated = events("experts.expert.created") + events("experts.expert.updated")
    assert created.data["id_number"] == "330102********3139"
    assert updated.data["changes"]["id_number"] == id_number.mask(ID_OTHER)
    payloads = "".join(AuditEvent.objects.values_list("payload", flat=True))
    assert ID_ALICE not in payloads and ID_OTHER not in payloads
    # Contacts are personal data too.
    assert created.data["mobile"] == "138****0001"
    assert created.data["email"] == "s***@example.cn"


def test_the_identity_number_never_reaches_a_log(people, caplog):
    caplog.set_level(logging.DEBUG)
    expert = pool.expert_create(actor=people["pat"], data=expert_input())
    pool.expert_update(actor=people["pat"], expert=expert, data=expert_input(name="沈立"))
    refused(pool.expert_create, actor=people["pat"], data=expert_input(code="ZJ330002"))
    assert ID_ALICE not in caplog.text
    assert ID_ALICE not in repr(expert_input())


def test_an_empty_code_gets_the_next_generated_one(people):
    first = pool.expert_create(actor=people["pat"], data=expert_input(code=""))
    second = pool.expert_create(actor=people["pat"], data=expert_input(code="", id_number=ID_OTHER))
    assert (first.code, second.code) == ("ZJ000001", "ZJ000002")


def test_titles_and_regions_may_be_given_by_their_chinese_names(people):
    expert = pool.expert_create(actor=people["pat"], data=expert_input(title="正高级", region="江苏省"))
    assert (expert.title, expert.region) == ("senior_full", "320000")


def test_a_mobile_with_country_code_and_spaces_is_normalised(people):
    expert = pool.expert_create(actor=people["pat"], data=expert_input(mobile="+86 138-5710-0001"))
    assert expert.mobile == "13857100001"


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"id_number": "330102198001013131"}, "id_number", "expert.id_number.check"),
        ({"id_number": "3301021980"}, "id_number", "expert.id_number.length"),
        ({"mobile": "12857100001"}, "mobile", "expert.mobile"),
        ({"mobile": "1385710000"}, "mobile", "expert.mobile"),
        ({"email": "not-an-address"}, "email", "expert.email"),
        ({"employer_credit_code": "91330100MA27X1K30"}, "employer_credit_code", "expert.credit_code.length"),
        ({"employer_name": ""}, "employer_name", "expert.employer_name_required"),
        ({"title": "教授"}, "title", "expert.title"),
        ({"region": "330100"}, "region", "expert.region"),
        ({"specialty_codes": ()}, "specialties", "expert.specialties_required"),
        ({"specialty_codes": ("A01",)}, "specialties", "expert.specialty_not_leaf"),
        ({"specialty_codes": ("Z9999",)}, "specialties", "expert.specialty_unknown"),
        ({"name": " "}, "name", "expert.name_required"),
        ({"code": "专家1"}, "code", "expert.code"),
    ],
)
def test_an_invalid_field_is_refused_with_its_field_named(people, overrides, field, code):
    error = refused(pool.expert_create, actor=people["pat"], data=expert_input(**overrides))
    assert (error.field, error.code) == (field, code)
    assert not Expert.objects.exists()
    assert not events("experts.expert.created")


def test_a_non_leaf_specialty_is_refused_with_a_chinese_message(people):
    error = refused(pool.expert_create, actor=people["pat"], data=expert_input(specialty_codes=("A01",)))
    assert error.message == "专业代码“A01”（房屋建筑工程）不是末级专业，请填写其下的细分专业代码。"


def test_an_employer_is_optional(people):
    expert = pool.expert_create(
        actor=people["pat"], data=expert_input(employer_name="", employer_credit_code="")
    )
    assert expert.employer_credit_code == ""


def test_an_identity_number_already_in_the_pool_is_refused(people):
    pool.expert_create(actor=people["pat"], data=expert_input())
    error = refused(pool.expert_create, actor=people["pat"], data=expert_input(code="ZJ330002"))
    assert (error.code, error.field) == ("expert.duplicate_id_number", "id_number")
    assert "ZJ330001" in error.message
    assert Expert.objects.count() == 1


def test_a_code_already_in_the_pool_is_refused(people):
    pool.expert_create(actor=people["pat"], data=expert_input())
    error = refused(pool.expert_create, actor=people["pat"], data=expert_input(id_number=ID_OTHER))
    assert (error.code, error.field) == ("expert.duplicate_code", "code")


def test_only_the_platform_administrator_maintains_the_pool(people):
    for name in ("sam", "alice", "eve", "fay"):
        with pytest.raises(NotPermitted):
            pool.expert_create(actor=people[name], data=expert_input())
    assert not Expert.objects.exists()


def test_an_expert_record_may_be_linked_only_to_an_expert_account(people):
    expert = pool.expert_create(actor=people["pat"], data=expert_input(), user=people["eve"])
    assert expert.user == people["eve"]
    error = refused(
        pool.expert_create, actor=people["pat"], data=expert_input(code="ZJ2", id_number=ID_OTHER),
        user=people["eve"],
    )
    assert error.code == "expert.account_taken"
    error = refused(pool.expert_account_link, actor=people["pat"], expert=expert, username="bob")
    assert error.code == "expert.account_role"
    pool.expert_account_link(actor=people["pat"], expert=expert, username="")
    expert.refresh_from_db()
    assert expert.user is None
    assert events("experts.expert.account_linked")[-1].data == {"code": "ZJ330001", "username": None}


# --- updating ---------------------------------------------------------------------------------------


def test_an_update_audits_only_what_changed(people):
    expert = pool.expert_create(actor=people["pat"], data=expert_input())
    pool.expert_update(
        actor=people["pat"], expert=expert,
        data=expert_input(title="senior_full", specialty_codes=("A0101", "A0102")),
    )
    expert.refresh_from_db()
    assert expert.title == "senior_full"
    assert sorted(expert.specialties.values_list("code", flat=True)) == ["A0101", "A0102"]
    (event,) = events("experts.expert.updated")
    assert event.data["changes"] == {"title": "senior_full", "specialties": ["A0101", "A0102"]}
    pool.expert_update(actor=people["pat"], expert=expert, data=expert_input(title="senior_full", specialty_codes=("A0101", "A0102")))
    assert len(events("experts.expert.updated")) == 1


def test_the_code_cannot_change_after_registration(people):
    expert = pool.expert_create(actor=people["pat"], data=expert_input())
    error = refused(pool.expert_update, actor=people["pat"], expert=expert, data=expert_input(code="ZJ999"))
    assert error.code == "expert.code_fixed"
    # An empty code means "unchanged".
    pool.expert_update(actor=people["pat"], expert=expert, data=expert_input(code="", name="沈立"))
    expert.refresh_from_db()
    assert (expert.code, expert.name) == ("ZJ330001", "沈立")


def test_an_update_may_not_take_another_experts_identity_number(people):
    pool.expert_create(actor=people["pat"], data=expert_input())
    other = pool.expert_create(actor=people["pat"], data=expert_input(code="ZJ2", id_number=ID_OTHER))
    error = refused(pool.expert_update, actor=people["pat"], expert=other, data=expert_input(code="ZJ2"))
    assert error.code == "expert.duplicate_id_number"


# --- status --------------------------------------------------------------------------------------------


def test_suspending_an_expert_needs_a_reason_and_is_audited(people):
    expert = pool.expert_create(actor=people["pat"], data=expert_input())
    error = refused(pool.expert_set_status, actor=people["pat"], expert=expert, status="suspended", reason=" ")
    assert error.field == "reason"
    pool.expert_set_status(actor=people["pat"], expert=expert, status="suspended", reason="年度考核不合格")
    expert.refresh_from_db()
    assert expert.status == ExpertStatus.SUSPENDED
    (event,) = events("experts.expert.status_changed")
    assert event.data == {
        "code": "ZJ330001", "name": "沈立群", "from": "active", "to": "suspended", "reason": "年度考核不合格",
    }
    error = refused(pool.expert_set_status, actor=people["pat"], expert=expert, status="suspended", reason="再次")
    assert error.code == "expert.status_unchanged"
    with pytest.raises(NotPermitted):
        pool.expert_set_status(actor=people["sam"], expert=expert, status="active", reason="恢复")


# --- conflicts -----------------------------------------------------------------------------------------


def test_a_conflict_with_a_registered_organisation_takes_its_name(people, orgs):
    expert = pool.expert_create(actor=people["pat"], data=expert_input())
    conflict = pool.expert_conflict_declare(
        actor=people["pat"], expert=expert, credit_code=orgs["bidder_a"].credit_code.lower(),
        organisation_name="", kind=ConflictKind.RELATIVE,
    )
    assert (conflict.credit_code, conflict.organisation_name) == (orgs["bidder_a"].credit_code, "浙江建工集团有限公司")
    (event,) = events("experts.expert.conflict_declared")
    assert event.data["credit_code"] == orgs["bidder_a"].credit_code
    error = refused(
        pool.expert_conflict_declare, actor=people["pat"], expert=expert, credit_code=orgs["bidder_a"].credit_code,
        organisation_name="", kind=ConflictKind.INTEREST,
    )
    assert error.code == "conflict.duplicate"
    pool.expert_conflict_remove(actor=people["pat"], conflict=conflict)
    assert not expert.conflicts.exists()
    assert events("experts.expert.conflict_removed")[0].data["organisation_name"] == "浙江建工集团有限公司"


def test_a_conflict_with_an_unregistered_organisation_needs_its_name_and_a_valid_code(people):
    expert = pool.expert_create(actor=people["pat"], data=expert_input())
    outside = make_code("91330100MA0999999")
    error = refused(
        pool.expert_conflict_declare, actor=people["pat"], expert=expert, credit_code=outside,
        organisation_name="", kind=ConflictKind.INTEREST,
    )
    assert error.field == "organisation_name"
    wrong_check = outside[:-1] + ("1" if outside[-1] == "0" else "0")
    error = refused(
        pool.expert_conflict_declare, actor=people["pat"], expert=expert, credit_code=wrong_check,
        organisation_name="某公司", kind=ConflictKind.INTEREST,
    )
    assert error.field == "credit_code"


# --- unavailable dates -------------------------------------------------------------------------------------


@time_machine.travel(dt.datetime(2026, 5, 4, 10, 0, tzinfo=dt.UTC), tick=False)
def test_unavailable_dates_must_be_in_order_in_the_future_and_at_most_a_year(people):
    expert = pool.expert_create(actor=people["pat"], data=expert_input(), user=people["eve"])
    eve = people["eve"]
    today = timezone.localdate()
    error = refused(
        pool.expert_unavailability_add, actor=eve, expert=expert, start=today + dt.timedelta(days=3),
        end=today + dt.timedelta(days=2),
    )
    assert (error.code, error.field, error.message) == ("unavailability.order", "end", "结束日期不能早于开始日期。")
    error = refused(
        pool.expert_unavailability_add, actor=eve, expert=expert, start=today - dt.timedelta(days=9),
        end=today - dt.timedelta(days=1),
    )
    assert error.code == "unavailability.past"
    error = refused(
        pool.expert_unavailability_add, actor=eve, expert=expert, start=today, end=today + dt.timedelta(days=366),
    )
    assert error.code == "unavailability.too_long"
    period = pool.expert_unavailability_add(
        actor=eve, expert=expert, start=today, end=today, note="出差",
    )
    assert (period.start, period.end) == (dt.date(2026, 5, 4), dt.date(2026, 5, 4))
    (event,) = events("experts.expert.unavailability_added")
    assert event.data == {"code": "ZJ330001", "start": "2026-05-04", "end": "2026-05-04", "note": "出差"}
    pool.expert_unavailability_remove(actor=eve, unavailability=period)
    assert not expert.unavailable.exists()
    assert events("experts.expert.unavailability_removed")


def test_an_expert_may_change_only_their_own_contact_details_and_dates(people, orgs):
    from accounts.services import user_create

    mine = pool.expert_create(actor=people["pat"], data=expert_input(), user=people["eve"])
    other_user = user_create(
        actor=None, organisation=orgs["platform"], username="evan", password=None, roles=["expert"]
    )
    theirs = pool.expert_create(
        actor=people["pat"], data=expert_input(code="ZJ2", id_number=ID_OTHER), user=other_user
    )
    pool.expert_contact_update(actor=people["eve"], expert=mine, mobile="13900001111", email="")
    mine.refresh_from_db()
    assert (mine.mobile, mine.email) == ("13900001111", "")
    (event,) = events("experts.expert.contact_updated")
    assert event.data["changes"] == {"mobile": "139****1111", "email": ""}
    with pytest.raises(NotPermitted):
        pool.expert_contact_update(actor=people["eve"], expert=theirs, mobile="13900002222", email="")
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    with pytest.raises(NotPermitted):
        pool.expert_unavailability_add(actor=people["eve"], expert=theirs, start=tomorrow, end=tomorrow)
    # Everything else is the platform's: status, record, conflicts.
    with pytest.raises(NotPermitted):
        pool.expert_set_status(actor=people["eve"], expert=mine, status="retired", reason="不想参加")
    with pytest.raises(NotPermitted):
        pool.expert_update(actor=people["eve"], expert=mine, data=expert_input(specialty_codes=("B0101",)))
    with pytest.raises(NotPermitted):
        pool.expert_conflict_declare(
            actor=people["eve"], expert=mine, credit_code=orgs["bidder_a"].credit_code,
            organisation_name="", kind=ConflictKind.OTHER,
        )
    error = refused(pool.expert_contact_update, actor=people["eve"], expert=mine, mobile="12345", email="")
    assert error.field == "mobile"


def test_the_input_repr_leaves_out_the_identity_number():
    assert "id_number" not in repr(expert_input())
    assert dataclasses.fields(pool.ExpertInput)[1].name == "id_number"
