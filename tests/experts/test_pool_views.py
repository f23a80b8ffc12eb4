"""The pool pages (platform administrators maintain, supervisors read, nobody else) and "我的专家信息"."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.credit_code import make as make_code
from accounts.services import user_create
from audit.models import AuditEvent
from experts import id_number, pool
from experts.models import ConflictKind, Expert, ExpertStatus

pytestmark = pytest.mark.django_db

ID_EVE = id_number.make("33010619720315241")
ID_EVAN = id_number.make("32050819850706162")
REFUSED = ("alice", "agnes", "terry", "bob", "carol", "fay", "eve")


def expert_input(**overrides) -> pool.ExpertInput:
    values = {
        "code": "ZJ330001",
        "name": "沈立群",
        "id_number": ID_EVE,
        "mobile": "13857100001",
        "email": "shen@example.cn",
        "employer_name": "浙江省建筑设计研究院",
        "employer_credit_code": make_code("12330000470001234"),
        "title": "senior",
        "region": "330000",
        "specialty_codes": ("A0101", "A0601"),
    }
    values.update(overrides)
    return pool.ExpertInput(**values)


@pytest.fixture
def experts(people, orgs):
    """Eve's record (linked to her account), with a conflict and an unavailable day; and Evan's."""
    pat = people["pat"]
    eve = pool.expert_create(actor=pat, data=expert_input(), user=people["eve"])
    pool.expert_conflict_declare(
        actor=pat, expert=eve, credit_code=orgs["bidder_a"].credit_code, organisation_name="",
        kind=ConflictKind.RELATIVE,
    )
    day = timezone.localdate() + dt.timedelta(days=10)
    pool.expert_unavailability_add(actor=pat, expert=eve, start=day, end=day, note="出国访问")
    evan_user = user_create(
        actor=None, organisation=orgs["platform"], username="evan", password=None, roles=["expert"]
    )
    evan = pool.expert_create(
        actor=pat,
        data=expert_input(code="ZJ320001", name="顾晓燕", id_number=ID_EVAN, region="320000",
                          specialty_codes=("B0101",)),
        user=evan_user,
    )
    pool.expert_unavailability_add(actor=pat, expert=evan, start=day, end=day, note="手术排班")
    return {"eve": eve, "evan": evan}


def client_for(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def pool_urls(experts) -> list[tuple[str, str]]:
    eve = experts["eve"]
    conflict = eve.conflicts.get()
    period = eve.unavailable.get()
    return [
        ("get", reverse("experts:pool_list")),
        ("get", reverse("experts:pool_import")),
        ("post", reverse("experts:pool_import")),
        ("get", reverse("experts:pool_import_template")),
        ("get", reverse("experts:pool_create")),
        ("post", reverse("experts:pool_create")),
        ("get", reverse("experts:pool_detail", args=[eve.pk])),
        ("get", reverse("experts:pool_detail", args=[987654])),
        ("get", reverse("experts:pool_edit", args=[eve.pk])),
        ("post", reverse("experts:pool_edit", args=[eve.pk])),
        ("post", reverse("experts:pool_status", args=[eve.pk])),
        ("post", reverse("experts:pool_account", args=[eve.pk])),
        ("post", reverse("experts:pool_conflict_add", args=[eve.pk])),
        ("post", reverse("experts:pool_conflict_remove", args=[eve.pk, conflict.pk])),
        ("post", reverse("experts:pool_unavailability_add", args=[eve.pk])),
        ("post", reverse("experts:pool_unavailability_remove", args=[eve.pk, period.pk])),
    ]


# --- who may see the pool ----------------------------------------------------------------------


@pytest.mark.parametrize("name", REFUSED)
def test_the_pool_is_refused_to_everyone_but_supervisors_and_the_platform(people, experts, name):
    client = client_for(people[name])
    before = AuditEvent.objects.count()
    for method, url in pool_urls(experts):
        response = getattr(client, method)(url)
        assert response.status_code == 403, (name, method, url, response.status_code)
        assert ID_EVE not in response.content.decode()
    assert AuditEvent.objects.count() == before
    assert Expert.objects.get(code="ZJ330001").conflicts.count() == 1


def test_anonymous_visitors_are_sent_to_sign_in(experts):
    client = client_for()
    for method, url in pool_urls(experts):
        response = getattr(client, method)(url)
        assert response.status_code == 302 and reverse("accounts:login") in response["Location"], url


def test_the_supervisor_reads_the_pool_and_the_identity_number_but_changes_nothing(people, experts):
    client = client_for(people["sam"])
    listing = client.get(reverse("experts:pool_list"))
    assert listing.status_code == 200
    assert "沈立群" in listing.content.decode() and "顾晓燕" in listing.content.decode()
    detail = client.get(reverse("experts:pool_detail", args=[experts["eve"].pk]))
    html = detail.content.decode()
    assert detail.status_code == 200
    assert ID_EVE in html
    assert "浙江建工集团有限公司" in html and "出国访问" in html
    assert reverse("experts:pool_status", args=[experts["eve"].pk]) not in html
    for method, url in pool_urls(experts):
        if method == "post" or "edit" in url or "import" in url or "new" in url:
            assert getattr(client, method)(url).status_code == 403, url


def test_the_platform_administrator_sees_the_identity_number_on_the_detail_page(people, experts):
    response = client_for(people["pat"]).get(reverse("experts:pool_detail", args=[experts["eve"].pk]))
    assert ID_EVE in response.content.decode()


def test_a_nonexistent_expert_is_a_404_to_those_who_may_see_the_pool(people):
    for name in ("sam", "pat"):
        response = client_for(people[name]).get(reverse("experts:pool_detail", args=[987654]))
        assert response.status_code == 404


# --- the list ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ({"q": "沈立"}, {"ZJ330001"}),
        ({"q": "zj3200"}, {"ZJ320001"}),
        ({"specialty": "A06"}, {"ZJ330001"}),
        ({"specialty": "B0101"}, {"ZJ320001"}),
        ({"specialty": "B"}, {"ZJ320001"}),
        ({"region": "320000"}, {"ZJ320001"}),
        ({"status": "suspended"}, set()),
        ({"status": "active"}, {"ZJ330001", "ZJ320001"}),
        ({"region": "nowhere"}, {"ZJ330001", "ZJ320001"}),
    ],
)
def test_the_pool_list_searches_by_name_code_specialty_region_and_status(people, experts, query, shown):
    response = client_for(people["sam"]).get(reverse("experts:pool_list"), query)
    listed = {expert.code for expert in response.context["page"].object_list}
    assert listed == shown


def test_the_pool_list_is_paginated(people):
    for n in range(23):
        pool.expert_create(
            actor=people["pat"],
            data=expert_input(code=f"ZJ9{n:05d}", id_number=id_number.make(f"33010619720315{n + 100:03d}")),
        )
    client = client_for(people["pat"])
    first = client.get(reverse("experts:pool_list"))
    second = client.get(reverse("experts:pool_list"), {"page": 2})
    assert len(first.context["page"].object_list) == 20
    assert [e.code for e in second.context["page"].object_list] == ["ZJ900020", "ZJ900021", "ZJ900022"]


# --- maintaining --------------------------------------------------------------------------------------


def test_the_administrator_registers_an_expert_through_the_form(people):
    client = client_for(people["pat"])
    data = {
        "code": "", "name": "钱文斌", "id_number": ID_EVAN, "mobile": "13813800004", "email": "",
        "employer_name": "", "employer_credit_code": "", "title": "senior_full", "region": "320000",
        "specialties": ["A0201", "A0203"],
    }
    response = client.post(reverse("experts:pool_create"), data)
    expert = Expert.objects.get(name="钱文斌")
    assert response.status_code == 302 and response["Location"] == reverse("experts:pool_detail", args=[expert.pk])
    assert expert.code == "ZJ000001"
    data["id_number"] = ID_EVAN[:-1] + ("0" if ID_EVAN[-1] != "0" else "1")
    data["name"] = "另一位"
    again = client.post(reverse("experts:pool_create"), data)
    assert again.status_code == 200
    assert again.context["form"].errors["id_number"] == ["身份证号码校验码错误，请核对后重新输入。"]


def test_the_administrator_suspends_an_expert_with_a_reason(people, experts):
    client = client_for(people["pat"])
    url = reverse("experts:pool_status", args=[experts["eve"].pk])
    missing = client.post(url, {"status": "suspended", "reason": ""})
    assert missing.status_code == 200 and "reason" in missing.context["status_form"].errors
    done = client.post(url, {"status": "suspended", "reason": "本年度两次无故缺席评标"})
    assert done.status_code == 302
    assert Expert.objects.get(pk=experts["eve"].pk).status == ExpertStatus.SUSPENDED


def test_the_import_page_shows_the_report_of_a_refused_file(people):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["专家编号", "姓名", "身份证号码", "手机号", "职称", "所在地区", "专业代码"])
    writer.writerow(["ZJ1", "沈立群", ID_EVE, "13857100001", "副高级", "浙江省", "A0101"])
    writer.writerow(["ZJ2", "顾晓燕", ID_EVAN[:-1] + "0", "13962500002", "正高级", "江苏省", "B0101"])
    content = buffer.getvalue().encode("utf-8-sig")
    response = client_for(people["pat"]).post(
        reverse("experts:pool_import"), {"file": SimpleUploadedFile("名单.csv", content, "text/csv")}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "有 1 行存在错误，文件未导入" in html
    assert "身份证号码校验码错误" in html
    assert '<td class="num" rowspan="1">3</td>' in html
    assert not Expert.objects.exists()


def test_the_import_page_imports_a_good_file(people, settings):
    sample = (settings.BASE_DIR / "docs" / "samples" / "experts.csv").read_bytes()
    response = client_for(people["pat"]).post(
        reverse("experts:pool_import"), {"file": SimpleUploadedFile("experts.csv", sample, "text/csv")}
    )
    assert response.status_code == 200
    assert response.context["report"].imported
    assert Expert.objects.count() == response.context["report"].created


# --- the expert's own page --------------------------------------------------------------------------


def test_an_expert_sees_their_own_record_with_the_identity_number_masked(people, experts):
    response = client_for(people["eve"]).get(reverse("experts:profile"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "沈立群" in html and "A0101" in html and "浙江建工集团有限公司" in html and "出国访问" in html
    assert id_number.mask(ID_EVE) in html and ID_EVE not in html
    assert "顾晓燕" not in html and "手术排班" not in html


def test_an_expert_changes_their_contact_details_but_not_their_specialties_or_status(people, experts):
    client = client_for(people["eve"])
    response = client.post(
        reverse("experts:profile"),
        {"mobile": "13900001111", "email": "new@example.cn", "specialties": ["B0101"], "status": "retired",
         "name": "改名", "id_number": ID_EVAN},
    )
    assert response.status_code == 302
    eve = Expert.objects.get(pk=experts["eve"].pk)
    assert (eve.mobile, eve.email) == ("13900001111", "new@example.cn")
    assert (eve.name, eve.id_number, eve.status) == ("沈立群", ID_EVE, ExpertStatus.ACTIVE)
    assert sorted(eve.specialties.values_list("code", flat=True)) == ["A0101", "A0601"]
    bad = client.post(reverse("experts:profile"), {"mobile": "2345", "email": ""})
    assert bad.status_code == 200 and "mobile" in bad.context["contact_form"].errors


def test_an_expert_adds_and_removes_their_own_unavailable_dates_only(people, experts):
    client = client_for(people["eve"])
    start = timezone.localdate() + dt.timedelta(days=20)
    added = client.post(
        reverse("experts:profile_unavailability_add"),
        {"start": start.isoformat(), "end": (start + dt.timedelta(days=2)).isoformat(), "note": "外地出差"},
    )
    assert added.status_code == 302
    eve = experts["eve"]
    assert eve.unavailable.filter(note="外地出差").exists()
    backwards = client.post(
        reverse("experts:profile_unavailability_add"),
        {"start": start.isoformat(), "end": (start - dt.timedelta(days=1)).isoformat()},
    )
    assert backwards.context["unavailability_form"].errors["end"] == ["结束日期不能早于开始日期。"]
    theirs = experts["evan"].unavailable.get()
    refused = client.post(reverse("experts:profile_unavailability_remove", args=[theirs.pk]))
    assert refused.status_code == 404
    assert experts["evan"].unavailable.exists()
    mine = eve.unavailable.get(note="外地出差")
    assert client.post(reverse("experts:profile_unavailability_remove", args=[mine.pk])).status_code == 302
    assert not eve.unavailable.filter(note="外地出差").exists()


def test_an_expert_account_without_a_record_is_told_so(people):
    client = client_for(people["eve"])
    response = client.get(reverse("experts:profile"))
    assert response.status_code == 200
    assert "尚未关联专家档案" in response.content.decode()
    assert client.post(reverse("experts:profile"), {"mobile": "13900001111"}).status_code == 404


@pytest.mark.parametrize("name", ("alice", "bob", "fay", "sam", "pat"))
def test_the_own_page_is_only_for_experts(people, name):
    assert client_for(people[name]).get(reverse("experts:profile")).status_code == 403


def test_the_expert_dashboard_links_to_the_own_page(people, experts):
    response = client_for(people["eve"]).get(reverse("accounts:dashboard"))
    assert reverse("experts:profile") in response.content.decode()
