"""The record of who avoidance left out: one row per draw, listed in full to supervisors, carried across the migration that introduced it."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import reverse

from experts import selectors, services
from experts.models import DrawPool, ExclusionReason, ExpertStatus

from .draw_support import T0, approved_request, make_experts


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(T0, tick=False)
    return time_machine


def watch_page(people, request) -> str:
    client = Client()
    client.force_login(people["sam"])
    response = client.get(reverse("experts:draw_watch", args=[request.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_supervisors_see_every_excluded_expert_with_the_reason_by_reason_then_code(
    closed_lot, people, orgs, building, sent, monkeypatch
):
    # Two codes per read: the list is read back in several queries, as thousands of exclusions are.
    monkeypatch.setattr(selectors, "_CODES_PER_QUERY", 2)
    make_experts(5, [building])
    employed = make_experts(3, [building], employer_credit_code=orgs["tenderer"].credit_code)
    suspended = make_experts(2, [building], status=ExpertStatus.SUSPENDED)
    request = approved_request(people, closed_lot, [(building, 5, 0)])

    request = services.draw_run(actor=people["sam"], request=request, supervisor_number="7")

    expected = sorted(
        [(ExclusionReason.EMPLOYER_PARTY.value, e.code, e.name) for e in employed]
        + [(ExclusionReason.NOT_ACTIVE.value, e.code, e.name) for e in suspended]
    )
    listed = selectors.draw_exclusions(request=request)
    assert [(e.reason, e.code, e.expert.name) for e in listed] == expected
    assert DrawPool.objects.get(request=request).excluded == {
        "employer_party": sorted(e.code for e in employed),
        "not_active": sorted(e.code for e in suspended),
    }
    page = watch_page(people, request)
    for _reason, code, name in expected:
        assert code in page and name in page
    # Grouped by reason, each group with its count (a local draw excludes thousands).
    groups = dict(
        re.findall(r'<summary>\s*(.+?) <span class="badge">(\d+)</span></summary>', page)
    )
    assert groups == {"工作单位为招标人、代理机构或投标人": "3", "专家状态非在库": "2"}


def test_a_draw_that_excludes_nobody_records_an_empty_list_and_the_page_says_so(
    closed_lot, people, building, sent
):
    make_experts(5, [building])
    request = approved_request(people, closed_lot, [(building, 5, 0)])
    assert selectors.draw_exclusions(request=request) == []
    assert "抽取时计算并记录。" in watch_page(people, request)

    request = services.draw_run(actor=people["sam"], request=request, supervisor_number="8")

    assert DrawPool.objects.get(request=request).excluded == {}
    assert selectors.draw_exclusions(request=request) == []
    assert "没有专家因回避规则被排除。" in watch_page(people, request)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("specialty_list")
def test_the_migration_keeps_every_exclusion_going_back_to_one_row_per_expert_and_forward_again(
    closed_lot, people, orgs, building, sent
):
    make_experts(5, [building])
    employed = make_experts(2, [building], employer_credit_code=orgs["tenderer"].credit_code)
    far = make_experts(3, [building], region="320000")
    request = approved_request(people, closed_lot, [(building, 5, 0)], locality="local")
    request = services.draw_run(actor=people["sam"], request=request, supervisor_number="9")
    recorded = DrawPool.objects.get(request=request).excluded
    assert recorded == {
        "employer_party": sorted(e.code for e in employed),
        "locality": sorted(e.code for e in far),
    }
    executor = MigrationExecutor(connection)
    (latest,) = executor.loader.graph.leaf_nodes("experts")
    before = ("experts", "0002_specialties")

    executor.migrate([before])
    old = MigrationExecutor(connection).loader.project_state([before]).apps
    rows = old.get_model("experts", "DrawExclusion").objects.filter(request_id=request.pk)
    assert sorted(rows.values_list("reason", "expert__code")) == sorted(
        [("employer_party", e.code) for e in employed] + [("locality", e.code) for e in far]
    )

    forward = MigrationExecutor(connection)
    forward.migrate([latest])
    assert DrawPool.objects.get(request=request).excluded == recorded
