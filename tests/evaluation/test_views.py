"""The pages: who may open what, and that expert names reach nobody but supervisors before the result (ER 8)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from evaluation import services
from experts.models import Expert


def _client(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _names(world) -> list[str]:
    return list(Expert.objects.filter(pk__in=world.evaluation.members.values("expert_id")).values_list("name", flat=True))


def _committee_urls(world) -> list[str]:
    lot = world.lot.pk
    bid = world.bids["bob"]
    return [
        reverse("evaluation:workspace", args=[lot]),
        reverse("evaluation:sheet", args=[lot]),
        reverse("evaluation:bid", args=[lot, bid.pk]),
        reverse("evaluation:bid_file", args=[lot, bid.pk, 0]),
    ]


def test_the_members_workspace_shows_the_bids_as_read_and_the_opening_record(world):
    member = world.users[1]
    page = _client(member).get(reverse("evaluation:workspace", args=[world.lot.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "评标工作区" in html and "推选组长" in html and "签到与回避承诺" in html
    for name in ("浙江建工集团有限公司", "杭州市政建设有限公司", "10,850,000.00", "11,900,000.00"):
        assert name in html
    assert reverse("opening:record_pdf", args=[world.lot.pk]) in html
    assert "已否决" in html  # carol, above the maximum price


def test_a_member_reads_a_bid_and_downloads_its_file_decrypted(world):
    client = _client(world.users[2])
    bid = world.bids["dave"]
    page = client.get(reverse("evaluation:bid", args=[world.lot.pk, bid.pk]))
    assert page.status_code == 200 and "技术标.pdf" in page.content.decode()
    response = client.get(reverse("evaluation:bid_file", args=[world.lot.pk, bid.pk, 0]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == "dave 技术标".encode() * 20


@pytest.mark.parametrize("person", ["oscar", "bob", "carol", "alice", "agnes", "terry", "sam", "fay", "pat", None])
def test_nobody_but_a_member_of_this_lots_committee_enters_its_workspace(world, person):
    client = _client(world.people[person] if person else None)
    for url in _committee_urls(world):
        response = client.get(url)
        if person is None:
            assert response.status_code == 302 and "/accounts/login/" in response["Location"]
        else:
            assert response.status_code == 404, (person, url)
    # Nor act in it.
    if person is not None:
        response = client.post(reverse("evaluation:vote", args=[world.lot.pk]), {"candidate": "1"})
        assert response.status_code == 404
        sign = client.post(reverse("evaluation:report_sign", args=[world.lot.pk]), {}, content_type="application/json")
        assert sign.status_code == 404


def test_a_bid_or_file_the_lot_does_not_have_is_not_found_for_a_member(world):
    # (A real bid of another lot: the permission matrix's evaluation:bid row asks for carol's on agnes's lot.)
    client = _client(world.users[1])
    missing = "00000000-0000-0000-0000-000000000000"
    assert client.get(reverse("evaluation:bid", args=[world.lot.pk, missing])).status_code == 404
    assert client.get(reverse("evaluation:bid_file", args=[world.lot.pk, world.bids["bob"].pk, 9])).status_code == 404
    # Another lot's number with this lot's bid: the member has no seat there.
    other = reverse("evaluation:bid", args=[world.other_lot.pk, world.bids["bob"].pk])
    assert client.get(other).status_code == 404
    # Oscar sits on the other lot's committee: under his own lot, this lot's bid does not exist.
    oscar = _client(world.people["oscar"])
    assert oscar.get(reverse("evaluation:workspace", args=[world.other_lot.pk])).status_code == 200
    assert oscar.get(other).status_code == 404


def test_those_managing_the_tender_follow_by_seat_and_only_supervisors_see_names(world):
    names = _names(world)
    url = reverse("evaluation:lot", args=[world.lot.pk])
    for person in ("alice", "terry"):
        html = _client(world.people[person]).get(url).content.decode()
        assert "专家1号" in html and "评标委员会成员名单在中标结果公布前保密" in html
        for name in names:
            assert name not in html, (person, name)
    for person in ("sam", "pat"):
        html = _client(world.people[person]).get(url).content.decode()
        assert all(name in html for name in names), person
    for person in ("bob", "agnes", "fay", "eve"):
        assert _client(world.people[person]).get(url).status_code == 404, person


def test_the_final_report_is_read_by_the_agent_without_names_and_by_no_bidder(world):
    world.elect(chair=1)
    world.submit_all()
    report = services.report_draft(actor=world.users[1], lot=world.lot)
    url = reverse("evaluation:report", args=[world.lot.pk])
    # Before it is final the agent has nothing to read; a member has.
    assert _client(world.people["alice"]).get(url).status_code == 404
    assert _client(world.users[4]).get(url).status_code == 200
    for seat in world.users:
        world.sign(seat, report)
    names = _names(world)
    for person in ("alice", "terry", "sam"):
        client = _client(world.people[person])
        html = client.get(url).content.decode()
        assert "推荐的中标候选人" in html and "浙江建工集团有限公司" in html
        assert not any(name in html for name in names), person
        assert client.get(reverse("evaluation:report_json", args=[world.lot.pk])).status_code == 200
        pdf = client.get(reverse("evaluation:report_pdf", args=[world.lot.pk]))
        assert pdf.content == bytes(report.__class__.objects.get(pk=report.pk).pdf)
    lot_page = _client(world.people["alice"]).get(reverse("evaluation:lot", args=[world.lot.pk])).content.decode()
    assert "评标报告已于" in lot_page and 'id="candidates"' in lot_page
    for person in ("bob", "carol", "agnes", "fay", "oscar"):
        client = _client(world.people[person])
        for name in ("evaluation:report", "evaluation:report_json", "evaluation:report_pdf"):
            assert client.get(reverse(name, args=[world.lot.pk])).status_code == 404, (person, name)


def test_the_index_lists_each_role_its_own(world):
    expert = _client(world.users[1]).get(reverse("evaluation:index")).content.decode()
    assert reverse("evaluation:workspace", args=[world.lot.pk]) in expert
    oscar = _client(world.people["oscar"]).get(reverse("evaluation:index")).content.decode()
    assert reverse("evaluation:workspace", args=[world.lot.pk]) not in oscar
    assert reverse("evaluation:workspace", args=[world.other_lot.pk]) in oscar
    agent = _client(world.people["alice"]).get(reverse("evaluation:index")).content.decode()
    assert reverse("evaluation:lot", args=[world.lot.pk]) in agent
    assert reverse("evaluation:lot", args=[world.lot.pk]) not in _client(world.people["agnes"]).get(
        reverse("evaluation:index")
    ).content.decode()
    assert _client(world.people["fay"]).get(reverse("evaluation:index")).status_code == 403
    assert _client(world.people["bob"]).get(reverse("evaluation:index")).status_code == 403


def test_the_expert_dashboard_links_to_the_workspace(world):
    html = _client(world.people["eve"]).get(reverse("accounts:dashboard")).content.decode()
    assert f'href="{reverse("evaluation:index")}"' in html and "评标工作区" in html


def test_the_workspace_buttons_work_through_the_pages(world):
    client = _client(world.users[1])
    lot = world.lot.pk
    refused = client.post(reverse("evaluation:sign_in", args=[lot]), {}, follow=True)
    assert "请确认您与本标段的投标人不存在利害关系" in refused.content.decode()
    client.post(reverse("evaluation:sign_in", args=[lot]), {"no_conflict": "on"})
    client.post(reverse("evaluation:vote", args=[lot]), {"candidate": "1"})
    assert world.member(1).signed_in_at is not None
    voted = client.get(reverse("evaluation:workspace", args=[lot])).content.decode()
    assert "您本轮投票给专家1号。" in voted
    client.post(reverse("evaluation:extension", args=[lot]), {"reason": "技术标较多"})
    assert world.evaluation.extension_requests.count() == 1
