"""The draw pages, role by role: who sees counts, who sees names, who sees nothing (ER 8).

Agents and tenderer representatives follow a draw by numbers only;
supervisors and platform administrators watch it with names; an expert sees
their own invitation; another agency's agent gets 404 like a missing draw;
bidders, experts and finance staff are refused. After the reveal the panel
and the verification record are public.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from experts import notifications, services
from experts.models import DrawRequest, DrawStatus, OutboundMessage, SelectionStatus
from tendering import services as tendering

from .draw_support import (
    EVALUATION,
    T0,
    approved_request,
    award,
    close_bidding,
    make_experts,
    specialty,
)

OUTSIDERS = ("agnes", "bob", "carol", "dave", "fay", "eve")


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(T0, tick=False)
    return time_machine


@pytest.fixture
def closed_lot(lot, people, clock):
    tendering.documents_obtain(actor=people["bob"], tender=lot.tender)
    close_bidding(clock)
    lot.refresh_from_db()
    return lot


@pytest.fixture
def pool(building, orgs):
    """Seven eligible experts, and one employed by a bidder (excluded, with its reason)."""
    eligible = make_experts(7, [building])
    excluded = make_experts(
        1, [building], employer_credit_code=orgs["bidder_a"].credit_code, name="回避专家甲"
    )
    return eligible, excluded[0]


@pytest.fixture
def drawn(closed_lot, people, building, pool, django_capture_on_commit_callbacks):
    request = approved_request(people, closed_lot, [(building, 5, 1)])
    with django_capture_on_commit_callbacks(execute=True):
        return services.draw_run(actor=people["sam"], request=request, supervisor_number="31415")


def as_user(people, name: str) -> Client:
    client = Client()
    client.force_login(people[name])
    return client


def secrets_of(request: DrawRequest) -> list[str]:
    """Everything about the drawn experts an agent must not see before the reveal."""
    values: list[str] = []
    for selection in request.selections.select_related("expert"):
        expert = selection.expert
        values += [
            expert.name,
            expert.code,
            expert.mobile,
            expert.email,
            selection.reply_code,
            selection.token,
        ]
    return values


# --- counts for the agent and the tenderer, names for the supervisors ------------------------------


@pytest.mark.parametrize("name", ["alice", "terry"])
def test_the_agent_and_the_tenderer_see_counts_and_never_a_name(drawn, people, name):
    response = as_user(people, name).get(reverse("experts:draw_status", args=[drawn.pk]))

    assert response.status_code == 200
    page = response.content.decode()
    assert "各专业答复情况" in page and "建筑工程施工" in page
    counts = response.context["counts"]
    assert [
        (row.members, row.notified, row.confirmed, row.declined, row.no_answer) for row in counts
    ] == [(5, 5, 0, 0, 0)]
    for secret in secrets_of(drawn) + ["回避专家甲", drawn.secret, drawn.seed]:
        assert secret not in page
    assert response.context["panel"] == []


@pytest.mark.parametrize("name", ["alice", "terry"])
def test_the_agent_and_the_tenderer_cannot_open_the_supervisors_pages(drawn, people, name):
    client = as_user(people, name)

    for view in ("draw_watch", "draw_review", "draw_run"):
        assert client.get(reverse(f"experts:{view}", args=[drawn.pk])).status_code == 403
    assert client.get(reverse("experts:draw_requests")).status_code == 403
    assert client.post(reverse("experts:draw_reveal", args=[drawn.pk])).status_code == 403


@pytest.mark.parametrize("name", ["sam", "pat"])
def test_supervisors_and_the_platform_watch_with_names_deadlines_and_exclusions(
    drawn, people, pool, name
):
    response = as_user(people, name).get(reverse("experts:draw_watch", args=[drawn.pk]))

    assert response.status_code == 200
    page = response.content.decode()
    for selection in drawn.selections.select_related("expert"):
        assert selection.expert.name in page and selection.expert.mobile in page
    assert "11:00" in page  # every member's answer deadline (drawn at 10:30, 30 minutes)
    _eligible, excluded = pool
    assert excluded.name in page and "工作单位为招标人、代理机构或投标人" in page
    assert drawn.pool_hash in page and drawn.secret_commitment in page and drawn.chain_head in page
    assert drawn.secret not in page and drawn.seed not in page  # revealed only with the result
    assert "已发送" in page  # the message log


@pytest.mark.parametrize("name", OUTSIDERS)
def test_everyone_else_is_refused_every_draw_page(drawn, closed_lot, people, name):
    client = as_user(people, name)
    secrets = secrets_of(drawn)

    for url in (
        reverse("experts:draw_status", args=[drawn.pk]),
        reverse("experts:draw_watch", args=[drawn.pk]),
        reverse("experts:draw_lot", args=[closed_lot.pk]),
        reverse("experts:draw_requests"),
    ):
        response = client.get(url)
        assert response.status_code in (403, 404), url
        assert not any(secret in response.content.decode() for secret in secrets)


def test_another_agencys_agent_is_told_the_draw_does_not_exist(drawn, closed_lot, people):
    client = as_user(people, "agnes")

    assert client.get(reverse("experts:draw_status", args=[drawn.pk])).status_code == 404
    assert client.get(reverse("experts:draw_lot", args=[closed_lot.pk])).status_code == 404
    assert (
        client.get(reverse("experts:draw_request_create", args=[closed_lot.pk])).status_code == 404
    )
    assert client.get(reverse("experts:draw_status", args=[987654321])).status_code == 404


def test_anonymous_visitors_are_sent_to_sign_in(drawn, client):
    response = client.get(reverse("experts:draw_status", args=[drawn.pk]))

    assert response.status_code == 302 and response["Location"].startswith(
        reverse("accounts:login")
    )


# --- the expert's own invitations -------------------------------------------------------------------


def test_an_expert_sees_only_their_own_invitation(drawn, people):
    mine = drawn.selections.filter(status=SelectionStatus.NOTIFIED).select_related("expert").first()
    mine.expert.user = people["eve"]
    mine.expert.save(update_fields=["user"])

    response = as_user(people, "eve").get(reverse("experts:my_invitations"))

    assert response.status_code == 200
    assert [row["selection"].pk for row in response.context["rows"]] == [mine.pk]
    page = response.content.decode()
    assert mine.reply_code in page
    assert notifications.answer_link_token(mine) in page
    others = drawn.selections.exclude(pk=mine.pk).select_related("expert")
    for selection in others:
        assert selection.reply_code not in page and selection.expert.name not in page


@pytest.mark.parametrize("name", ["alice", "bob", "sam"])
def test_only_experts_have_an_invitations_page(drawn, people, name):
    assert as_user(people, name).get(reverse("experts:my_invitations")).status_code == 403


# --- requesting, reviewing and running ---------------------------------------------------------------


def form_data(**overrides):
    data = {
        "evaluation_start": EVALUATION.strftime("%Y-%m-%dT%H:%M"),
        "evaluation_place": "市公共资源交易中心第3评标室",
        "locality": "any",
        "tenderer_representatives": "0",
        "response_minutes": "30",
        "items-TOTAL_FORMS": "3",
        "items-INITIAL_FORMS": "0",
        "items-MIN_NUM_FORMS": "0",
        "items-MAX_NUM_FORMS": "10",
        "items-0-specialty": str(specialty("A0101").pk),
        "items-0-members": "3",
        "items-0-reserves": "1",
        "items-1-specialty": str(specialty("A0102").pk),
        "items-1-members": "2",
        "items-1-reserves": "0",
    }
    data.update(overrides)
    return data


def test_the_agent_requests_a_panel_through_the_form(closed_lot, people):
    client = as_user(people, "alice")
    assert (
        client.get(reverse("experts:draw_request_create", args=[closed_lot.pk])).status_code == 200
    )

    response = client.post(
        reverse("experts:draw_request_create", args=[closed_lot.pk]), form_data()
    )

    request = DrawRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "experts:draw_status", args=[request.pk]
    )
    assert request.status == DrawStatus.PENDING and request.evaluation_start == EVALUATION
    assert sorted(request.items.values_list("specialty__code", "members", "reserves")) == [
        ("A0101", 3, 1),
        ("A0102", 2, 0),
    ]


def test_a_request_against_er9_is_shown_the_services_reason(closed_lot, people):
    response = as_user(people, "alice").post(
        reverse("experts:draw_request_create", args=[closed_lot.pk]),
        form_data(**{"items-1-members": "1"}),
    )

    assert response.status_code == 200
    assert "评标委员会成员应为5人以上" in response.content.decode()
    assert not DrawRequest.objects.exists()


def test_the_request_form_offers_leaf_specialties_only(closed_lot, people):
    response = as_user(people, "alice").get(
        reverse("experts:draw_request_create", args=[closed_lot.pk])
    )

    choices = {
        str(label)
        for _value, label in response.context["items"].forms[0].fields["specialty"].choices
    }
    assert "A0101 建筑工程施工" in choices
    assert "A01 房屋建筑工程" not in choices and "A 工程类" not in choices


@pytest.mark.parametrize("name", ["terry", "bob", "sam"])
def test_only_the_agent_may_request(closed_lot, people, name):
    response = as_user(people, name).post(
        reverse("experts:draw_request_create", args=[closed_lot.pk]), form_data()
    )

    assert response.status_code == 403
    assert not DrawRequest.objects.exists()


def test_the_supervisor_lists_pending_requests_first_and_approves(
    closed_lot, people, building, make_draft
):
    request = services.draw_request_create(
        actor=people["alice"],
        lot=closed_lot,
        data=services.DrawRequestInput(
            items=[services.DrawItemInput(specialty_id=building.pk, members=5)],
            evaluation_start=EVALUATION,
            evaluation_place="第3评标室",
        ),
    )
    client = as_user(people, "sam")

    listing = client.get(reverse("experts:draw_requests"))
    assert listing.status_code == 200 and [r.pk for r in listing.context["page"].object_list] == [
        request.pk
    ]
    approved = client.post(
        reverse("experts:draw_review", args=[request.pk]), {"decision": "approve"}
    )

    request.refresh_from_db()
    assert approved["Location"] == reverse("experts:draw_run", args=[request.pk])
    assert request.status == DrawStatus.APPROVED and request.secret_commitment


def test_a_rejection_needs_its_reason(closed_lot, people, building):
    request = services.draw_request_create(
        actor=people["alice"],
        lot=closed_lot,
        data=services.DrawRequestInput(
            items=[services.DrawItemInput(specialty_id=building.pk, members=5)],
            evaluation_start=EVALUATION,
            evaluation_place="第3评标室",
        ),
    )
    client = as_user(people, "sam")

    without = client.post(reverse("experts:draw_review", args=[request.pk]), {"decision": "reject"})
    assert without.status_code == 200 and "请填写驳回理由" in without.content.decode()
    client.post(
        reverse("experts:draw_review", args=[request.pk]),
        {"decision": "reject", "reason": "专业设置不当"},
    )

    request.refresh_from_db()
    assert (request.status, request.rejection_reason) == (DrawStatus.REJECTED, "专业设置不当")


def test_the_supervisor_runs_the_draw_by_typing_a_number(
    closed_lot, people, building, pool, django_capture_on_commit_callbacks
):
    request = approved_request(people, closed_lot, [(building, 5, 0)])
    client = as_user(people, "sam")
    assert client.get(reverse("experts:draw_run", args=[request.pk])).status_code == 200

    refused = client.post(
        reverse("experts:draw_run", args=[request.pk]), {"supervisor_number": "12ab"}
    )
    assert refused.status_code == 200 and "请输入1至12位数字" in refused.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("experts:draw_run", args=[request.pk]), {"supervisor_number": "271828"}
        )

    request.refresh_from_db()
    assert response["Location"] == reverse("experts:draw_watch", args=[request.pk])
    assert (request.status, request.supervisor_number) == (DrawStatus.NOTIFYING, "271828")
    assert OutboundMessage.objects.filter(sent_at__isnull=False).count() == 15


def test_the_platform_admin_watches_but_does_not_run_draws(closed_lot, people, building, pool):
    request = approved_request(people, closed_lot, [(building, 5, 0)])

    response = as_user(people, "pat").post(
        reverse("experts:draw_run", args=[request.pk]), {"supervisor_number": "1"}
    )

    assert response.status_code == 403
    request.refresh_from_db()
    assert request.status == DrawStatus.APPROVED


# --- after the result: the reveal and the record -----------------------------------------------------


def test_once_awarded_the_reveal_publishes_the_panel_and_the_record(drawn, people, orgs, client):
    record_url = reverse("experts:draw_record", args=[drawn.pk])
    for selection in drawn.selections.filter(status=SelectionStatus.NOTIFIED):
        services.selection_confirm(selection=selection, channel="link")
    award(people, orgs, drawn.lot)
    assert client.get(record_url).status_code == 404  # nothing to download before the reveal

    sam = as_user(people, "sam")
    assert (
        "公布抽取结果" in sam.get(reverse("experts:draw_watch", args=[drawn.pk])).content.decode()
    )
    sam.post(reverse("experts:draw_reveal", args=[drawn.pk]))

    drawn.refresh_from_db()
    assert drawn.revealed_at is not None
    download = client.get(record_url)  # anonymous: the result is public, and so is its draw
    assert download.status_code == 200 and download["Content-Type"].startswith("application/json")
    record = json.loads(download.content)
    assert record["seed"] == drawn.seed and record["pool_hash"] == drawn.pool_hash
    assert [pick["position"] for pick in record["picks"]] == [1, 2, 3, 4, 5, 6]
    status_page = (
        as_user(people, "alice")
        .get(reverse("experts:draw_status", args=[drawn.pk]))
        .content.decode()
    )
    for selection in drawn.selections.filter(status=SelectionStatus.CONFIRMED).select_related(
        "expert"
    ):
        assert selection.expert.name in status_page


def test_the_reveal_is_refused_before_the_award(drawn, people):
    response = as_user(people, "sam").post(
        reverse("experts:draw_reveal", args=[drawn.pk]), follow=True
    )

    assert "中标结果确定后才能公布" in response.content.decode()
    drawn.refresh_from_db()
    assert drawn.revealed_at is None


# --- the way in -------------------------------------------------------------------------------------


def test_the_tender_page_offers_the_agent_the_draw_for_each_closed_lot(closed_lot, people):
    page = as_user(people, "alice").get(
        reverse("tendering:tender_detail", args=[closed_lot.tender_id])
    )

    assert reverse("experts:draw_lot", args=[closed_lot.pk]) in page.content.decode()


def test_the_lot_page_lists_its_requests_and_offers_a_new_one_only_when_none_is_open(
    drawn, closed_lot, people
):
    page = as_user(people, "alice").get(reverse("experts:draw_lot", args=[closed_lot.pk]))

    assert page.status_code == 200
    assert [draw.pk for draw in page.context["draws"]] == [drawn.pk]
    assert page.context["can_request"] is False
    assert reverse("experts:draw_status", args=[drawn.pk]) in page.content.decode()


def test_the_supervisors_dashboard_links_to_pending_requests(people):
    page = as_user(people, "sam").get(reverse("accounts:dashboard")).content.decode()

    assert reverse("experts:draw_requests") + "?status=pending" in page


def test_the_answer_page_needs_no_sign_in_and_names_no_party(drawn, client, orgs):
    selection = drawn.selections.filter(status=SelectionStatus.NOTIFIED).first()

    page = client.get(reverse("experts:answer", args=[notifications.answer_link_token(selection)]))

    assert page.status_code == 200
    for name in (
        orgs["tenderer"].name,
        orgs["agency"].name,
        orgs["bidder_a"].name,
        drawn.lot.tender.title,
    ):
        assert name not in page.content.decode()


def test_the_watch_page_says_how_each_expert_answered_in_words():
    from experts.models import DrawSelection

    selection = DrawSelection(response_channel="timeout")
    assert selection.response_channel_label == "超时视为拒绝"
    assert DrawSelection(response_channel="link").response_channel_label == "签名链接"
