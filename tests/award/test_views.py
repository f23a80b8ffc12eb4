"""The award pages as people use them: the agent's forms, the bidder's objection, the portal."""

from __future__ import annotations

import datetime as dt
import re

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from award.models import AwardResult, Objection, Publicity
from tests.award.conftest import DUE, publish


def _client(world, name: str) -> Client:
    client = Client()
    client.force_login(world.people[name])
    return client


def _local(moment: dt.datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def test_the_whole_step_through_the_pages(world, clock):
    alice, dave = _client(world, "alice"), _client(world, "dave")
    lot = world.lot.pk
    page = alice.get(f"/award/lots/{lot}/").content.decode()
    assert (
        "等待公示中标候选人" in page
        and "2026-04-05 24:00" in page
        and f"/award/lots/{lot}/publish/" in page
    )
    # Too short a window: the form says why, nothing is published.
    now = timezone.now()
    short = alice.post(
        f"/award/lots/{lot}/publish/", {"ends_at": _local(now + dt.timedelta(days=2))}
    )
    assert short.status_code == 200 and "公示期不得少于3日" in short.content.decode()
    assert not Publicity.objects.exists()
    done = alice.post(
        f"/award/lots/{lot}/publish/",
        {"ends_at": _local(now + dt.timedelta(days=3, minutes=1)), "note": "联系人：王工"},
    )
    assert done.status_code == 302
    publicity = Publicity.objects.get()
    # Dave objects, with a file.
    form = dave.get(f"/award/lots/{lot}/object/")
    assert form.status_code == 200 and "提交异议" in form.content.decode()
    filed = dave.post(
        f"/award/lots/{lot}/object/",
        {
            "text": "第一中标候选人业绩不实。",
            "attachment": SimpleUploadedFile("业绩核查.pdf", b"%PDF-1.4 x"),
        },
    )
    objection = Objection.objects.get()
    assert filed.status_code == 302 and filed["Location"] == f"/award/objections/{objection.pk}/"
    assert objection.attachment_name == "业绩核查.pdf"
    # The window closes: the agent cannot announce before answering.
    clock.move_to(publicity.ends_at)
    alice, dave = (
        _client(world, "alice"),
        _client(world, "dave"),
    )  # sessions from three days ago have expired
    page = alice.get(f"/award/lots/{lot}/").content.decode()
    assert "尚有异议未答复" in page
    refused = alice.post(f"/award/lots/{lot}/announce/", {"winner_rank": "1"})
    assert refused.status_code == 200 and "1件异议未答复" in refused.content.decode()
    answered = alice.post(
        f"/award/objections/{objection.pk}/answer/",
        {
            "outcome": "maintained",
            "disqualified_rank": "",
            "answer": "经核查，业绩真实，异议不成立。",
        },
    )
    assert answered.status_code == 302
    assert "经核查，业绩真实" in dave.get(f"/award/objections/{objection.pk}/").content.decode()
    # Another candidate without a reason is refused on the form; the first is the default.
    form = alice.get(f"/award/lots/{lot}/announce/").content.decode()
    checked = re.findall(r'<input[^>]*name="winner_rank"[^>]*value="(\d+)"[^>]*checked', form)
    assert checked == ["1"]
    no_reason = alice.post(f"/award/lots/{lot}/announce/", {"winner_rank": "2"})
    assert "须说明理由" in no_reason.content.decode()
    assert alice.post(f"/award/lots/{lot}/announce/", {"winner_rank": "1"}).status_code == 302
    result = AwardResult.objects.get()
    assert result.winner == world.orgs["bidder_a"]
    page = alice.get(f"/award/lots/{lot}/").content.decode()
    assert "中标结果已公告" in page and "JG004" in page
    public = Client().get(f"/award/results/{lot}/").content.decode()
    assert (
        "中标结果公告" in public and "浙江建工集团有限公司" in public and "10,850,000.00" in public
    )


def test_the_agents_queue_flags_an_overdue_publicity(world, clock):
    clock.move_to(DUE + dt.timedelta(hours=1))
    page = _client(world, "alice").get("/award/").content.decode()
    assert "待公示中标候选人" in page and "已逾期" in page and "2026-04-05 24:00" in page


def test_a_bidder_sees_its_lots_and_others_see_no_lot_of_theirs(world, clock):
    publish(world)
    assert world.lot.name in _client(world, "frank").get("/award/").content.decode()
    assert _client(world, "frank").get(f"/award/lots/{world.lot.pk}/mine/").status_code == 200
    assert _client(world, "agnes").get(f"/award/lots/{world.lot.pk}/").status_code == 404
    assert _client(world, "bob").get(f"/award/lots/{world.lot.pk}/").status_code == 404
    assert _client(world, "terry").get(f"/award/lots/{world.lot.pk}/").status_code == 200
    assert _client(world, "terry").get(f"/award/lots/{world.lot.pk}/publish/").status_code == 404
    assert _client(world, "fay").get("/award/").status_code == 403
