"""The working area for tenders, driven through the views as a browser would."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from audit.selectors import chain_verify
from tendering import services as tendering
from tendering.models import Amendment, DocumentObtain, Lot, LotStatus, Tender, TenderStatus
from tests.conftest import lot_input, tender_input

pytestmark = pytest.mark.django_db


def local(moment: dt.datetime) -> str:
    """A datetime as a browser's datetime-local input sends it (site time zone, to the minute)."""
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def to_minute(moment: dt.datetime) -> dt.datetime:
    return moment.replace(second=0, microsecond=0)


def up_to_minute(moment: dt.datetime) -> dt.datetime:
    floored = to_minute(moment)
    return floored if floored == moment else floored + dt.timedelta(minutes=1)


def lot_post(**overrides: Any) -> dict[str, str]:
    data = lot_input(**overrides)
    return {
        name: local(value) if isinstance(value, dt.datetime) else str(value)
        for name, value in vars(data).items()
    }


def tender_post(orgs, **overrides: Any) -> dict[str, str]:
    data = vars(tender_input(orgs, **overrides)).copy()
    data["tenderer"] = data.pop("tenderer_id")
    authority = data.pop("supervising_authority_id")
    data["supervising_authority"] = "" if authority is None else authority
    return {name: str(value) for name, value in data.items()}


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def pdf(
    name: str = "招标文件.pdf", content: bytes = b"%PDF-1.4 tender documents"
) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, "application/pdf")


# --- drafting and publishing -------------------------------------------------------------


def test_alice_drafts_previews_and_publishes_a_tender_and_the_audit_chain_holds_it(orgs, people):
    alice = as_user(people["alice"])

    response = alice.post(reverse("tendering:tender_create"), tender_post(orgs))
    tender = Tender.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("tendering:tender_detail", args=[tender.pk])
    assert tender.status == TenderStatus.DRAFT
    assert tender.agency == orgs["agency"]

    deadline = to_minute(timezone.now() + dt.timedelta(days=30))
    response = alice.post(
        reverse("tendering:lot_create", args=[tender.pk]),
        lot_post(bid_deadline=deadline, opening_time=deadline + dt.timedelta(hours=1)),
    )
    assert response.status_code == 302
    lot = tender.lots.get()
    assert lot.bid_deadline == deadline
    assert lot.opening_time == deadline + dt.timedelta(hours=1)
    assert lot.bid_security == Decimal("200000.00")

    response = alice.post(reverse("tendering:document_upload", args=[tender.pk]), {"file": pdf()})
    assert response.status_code == 302
    assert tender.documents.get().original_name == "招标文件.pdf"

    response = alice.get(reverse("tendering:tender_preview", args=[tender.pk]))
    assert response.status_code == 200
    assert "预览" in response.content.decode()
    assert lot.name in response.content.decode()
    tender.refresh_from_db()
    assert tender.status == TenderStatus.DRAFT  # previewing changes nothing

    response = alice.post(reverse("tendering:tender_publish", args=[tender.pk]), follow=True)
    assert "招标公告已发布。" in response.content.decode()
    tender.refresh_from_db()
    lot.refresh_from_db()
    assert tender.status == TenderStatus.PUBLISHED
    assert lot.status == LotStatus.PUBLISHED

    actions = list(AuditEvent.objects.filter(tender_id=tender.pk).values_list("action", flat=True))
    assert actions == [
        "tendering.tender.created",
        "tendering.lot.created",
        "tendering.document.uploaded",
        "tendering.tender.published",
        "opening.key.created",
        "tendering.lot.published",
    ]
    assert chain_verify().ok


def test_publishing_is_never_done_by_a_get(make_draft, people):
    tender = make_draft()
    response = as_user(people["alice"]).get(reverse("tendering:tender_publish", args=[tender.pk]))
    assert response.status_code == 405
    tender.refresh_from_db()
    assert tender.status == TenderStatus.DRAFT


def test_publishing_without_documents_shows_the_services_message(make_draft, people):
    tender = make_draft(with_document=False)
    response = as_user(people["alice"]).post(
        reverse("tendering:tender_publish", args=[tender.pk]), follow=True
    )
    assert "发布前请上传招标文件。" in response.content.decode()
    tender.refresh_from_db()
    assert tender.status == TenderStatus.DRAFT


def test_bid_security_over_two_percent_is_shown_on_its_field_and_nothing_is_saved(
    make_draft, people
):
    tender = make_draft(lots=0, with_document=False)
    response = as_user(people["alice"]).post(
        reverse("tendering:lot_create", args=[tender.pk]),
        lot_post(estimated_price=Decimal("12000000.00"), bid_security=Decimal("300000.00")),
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == ["bid_security"]
    assert "投标保证金不得超过项目估算价的2%（最多 240,000.00 元）。" in errors["bid_security"]
    assert not Lot.objects.exists()


def test_opening_before_the_deadline_is_shown_on_the_opening_time_field(make_draft, people):
    tender = make_draft(lots=0, with_document=False)
    deadline = timezone.now() + dt.timedelta(days=30)
    response = as_user(people["alice"]).post(
        reverse("tendering:lot_create", args=[tender.pk]),
        lot_post(bid_deadline=deadline, opening_time=deadline - dt.timedelta(hours=2)),
    )
    assert response.status_code == 200
    assert response.context["form"].errors == {"opening_time": ["开标时间不能早于投标截止时间。"]}
    assert "开标时间不能早于投标截止时间。" in response.content.decode()
    assert not Lot.objects.exists()


def test_editing_a_published_tender_is_refused(published, people, orgs):
    alice = as_user(people["alice"])
    url = reverse("tendering:tender_edit", args=[published.pk])

    response = alice.get(url)
    assert response.status_code == 302
    assert response["Location"] == reverse("tendering:tender_detail", args=[published.pk])

    response = alice.post(url, tender_post(orgs, title="改过的标题"))
    assert "公告已发布，不能再修改；请发布澄清或补遗。" in response.content.decode()
    published.refresh_from_db()
    assert published.title != "改过的标题"


def test_alice_deletes_a_draft_lot(make_draft, people):
    tender = make_draft(lots=2)
    first = tender.lots.get(number=1)
    response = as_user(people["alice"]).post(reverse("tendering:lot_delete", args=[first.pk]))
    assert response.status_code == 302
    assert list(tender.lots.values_list("number", flat=True)) == [2]


def test_alice_terminates_a_published_tender_with_a_reason(published, people):
    alice = as_user(people["alice"])
    url = reverse("tendering:tender_cancel", args=[published.pk])
    assert alice.get(url).status_code == 200

    response = alice.post(url, {"reason": ""})
    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    published.refresh_from_db()
    assert published.status == TenderStatus.PUBLISHED

    response = alice.post(url, {"reason": "项目资金未落实，终止招标。"})
    assert response.status_code == 302
    published.refresh_from_db()
    assert published.status == TenderStatus.CANCELLED
    assert published.lots.get().status == LotStatus.CANCELLED


def test_a_lot_can_be_declared_failed_only_after_bidding_has_closed(make_draft, people):
    # It opens an hour after its deadline (lot_input's deadline: 30 days ahead). At the
    # opening a lot without bids fails by itself (TR 44); in between, the agent may declare it failed.
    tender = make_draft(opening_time=timezone.now() + dt.timedelta(days=30, hours=1))
    lot = tendering.tender_publish(actor=people["alice"], tender=tender).lots.get()
    assert lot.opening_time > lot.bid_deadline
    alice = as_user(people["alice"])
    url = reverse("tendering:lot_fail", args=[lot.pk])

    response = alice.post(url, {"reason": "投标人不足三家。"})
    assert response.status_code == 200
    assert "不能变更为“流标”" in response.content.decode()
    lot.refresh_from_db()
    assert lot.status == LotStatus.PUBLISHED

    with time_machine.travel(lot.bid_deadline + dt.timedelta(minutes=1), tick=False):
        tendering.lots_advance_due()
        response = as_user(people["alice"]).post(url, {"reason": "投标人不足三家。"})
    assert response.status_code == 302
    assert response["Location"] == reverse("tendering:tender_detail", args=[lot.tender_id])
    lot.refresh_from_db()
    assert lot.status == LotStatus.FAILED
    assert lot.failed_reason == "投标人不足三家。"


# --- who may do what ----------------------------------------------------------------------


def test_agnes_of_another_agency_gets_404_on_every_url_of_alices_tender(published, people, orgs):
    agnes = as_user(people["agnes"])
    lot = published.lots.get()
    document = published.documents.get()
    gets = [
        reverse("tendering:tender_detail", args=[published.pk]),
        reverse("tendering:tender_edit", args=[published.pk]),
        reverse("tendering:tender_preview", args=[published.pk]),
        reverse("tendering:tender_cancel", args=[published.pk]),
        reverse("tendering:lot_create", args=[published.pk]),
        reverse("tendering:lot_edit", args=[lot.pk]),
        reverse("tendering:lot_cancel", args=[lot.pk]),
        reverse("tendering:lot_fail", args=[lot.pk]),
        reverse("tendering:document_upload", args=[published.pk]),
        reverse("tendering:amendment_create", args=[published.pk]),
        reverse("tendering:obtainers", args=[published.pk]),
        reverse("tendering:document_download", args=[document.pk]),
    ]
    for url in gets:
        assert agnes.get(url).status_code == 404, url
    posts = {
        reverse("tendering:tender_edit", args=[published.pk]): tender_post(orgs),
        reverse("tendering:tender_publish", args=[published.pk]): {},
        reverse("tendering:tender_cancel", args=[published.pk]): {"reason": "不应生效"},
        reverse("tendering:lot_edit", args=[lot.pk]): lot_post(),
        reverse("tendering:lot_delete", args=[lot.pk]): {},
        reverse("tendering:lot_cancel", args=[lot.pk]): {"reason": "不应生效"},
        reverse("tendering:document_upload", args=[published.pk]): {"file": pdf()},
        reverse("tendering:amendment_create", args=[published.pk]): {
            "title": "补遗",
            "body": "内容",
        },
    }
    for url, data in posts.items():
        assert agnes.post(url, data).status_code == 404, url
    published.refresh_from_db()
    assert published.status == TenderStatus.PUBLISHED
    assert not Amendment.objects.exists()
    assert published.documents.count() == 1
    # Agnes registered her agency's keys (conftest); her refused requests recorded nothing more.
    assert set(AuditEvent.objects.filter(actor_name="agnes").values_list("action", flat=True)) <= {
        "accounts.key.registered"
    }


def test_bob_cannot_create_tenders(orgs, people):
    bob = as_user(people["bob"])
    assert bob.get(reverse("tendering:tender_create")).status_code == 403
    assert bob.post(reverse("tendering:tender_create"), tender_post(orgs)).status_code == 403
    assert bob.get(reverse("tendering:tender_list")).status_code == 403
    assert not Tender.objects.exists()


def test_the_working_area_needs_a_login(published):
    response = Client().get(reverse("tendering:tender_detail", args=[published.pk]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_terry_sees_his_tender_read_only_and_cannot_post_actions(published, people):
    terry = as_user(people["terry"])
    response = terry.get(reverse("tendering:tender_detail", args=[published.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert published.title in page
    for name in ("tender_cancel", "amendment_create", "tender_preview"):
        assert reverse(f"tendering:{name}", args=[published.pk]) not in page
    assert reverse("tendering:lot_cancel", args=[published.lots.get().pk]) not in page

    assert (
        terry.post(
            reverse("tendering:tender_cancel", args=[published.pk]), {"reason": "不应生效"}
        ).status_code
        == 403
    )
    response = terry.post(
        reverse("tendering:amendment_create", args=[published.pk]),
        {"title": "补遗", "body": "内容"},
    )
    assert response.status_code == 403
    published.refresh_from_db()
    assert published.status == TenderStatus.PUBLISHED
    assert not Amendment.objects.exists()


def test_alice_sees_her_action_buttons(published, people):
    page = (
        as_user(people["alice"])
        .get(reverse("tendering:tender_detail", args=[published.pk]))
        .content.decode()
    )
    assert reverse("tendering:tender_cancel", args=[published.pk]) in page
    assert reverse("tendering:amendment_create", args=[published.pk]) in page
    assert reverse("tendering:tender_publish", args=[published.pk]) not in page  # already published


def test_sam_sees_published_tenders_but_not_drafts(published, make_draft, people):
    draft = make_draft()
    sam = as_user(people["sam"])
    page = sam.get(reverse("tendering:tender_list")).content.decode()
    assert published.code in page
    assert draft.code not in page
    assert sam.get(reverse("tendering:tender_detail", args=[published.pk])).status_code == 200
    assert sam.get(reverse("tendering:tender_detail", args=[draft.pk])).status_code == 404


def test_tender_list_filters_by_status_and_keyword(published, make_draft, people):
    draft = make_draft()
    alice = as_user(people["alice"])
    page = alice.get(reverse("tendering:tender_list"), {"status": "draft"}).content.decode()
    assert draft.code in page and published.code not in page
    page = alice.get(reverse("tendering:tender_list"), {"q": published.code}).content.decode()
    assert published.code in page and draft.code not in page


# --- amendments (TR 21) -------------------------------------------------------------------------


def test_late_amendment_without_new_deadline_shows_the_earliest_allowed_deadline(lot, people):
    moment = lot.bid_deadline - dt.timedelta(days=10)
    with time_machine.travel(moment, tick=False):
        response = as_user(people["alice"]).post(
            reverse("tendering:amendment_create", args=[lot.tender_id]),
            {
                "title": "关于工期的补遗",
                "body": "工期由180日调整为150日。",
                "affects_preparation": "on",
            },
        )
        earliest = timezone.localtime(up_to_minute(timezone.now() + dt.timedelta(days=15)))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == ["new_deadline"]
    assert earliest.strftime("%Y-%m-%d %H:%M") in errors["new_deadline"][0]
    assert not Amendment.objects.exists()
    old_deadline = lot.bid_deadline
    lot.refresh_from_db()
    assert lot.bid_deadline == old_deadline


def test_late_amendment_with_extend_to_minimum_moves_the_deadline_and_keeps_its_attachments(
    lot, people
):
    moment = lot.bid_deadline - dt.timedelta(days=10)
    gap = lot.opening_time - lot.bid_deadline
    with time_machine.travel(moment, tick=False):
        now = timezone.now()
        response = as_user(people["alice"]).post(
            reverse("tendering:amendment_create", args=[lot.tender_id]),
            {
                "title": "关于工期的补遗",
                "body": "工期由180日调整为150日。",
                "affects_preparation": "on",
                "extend_to_minimum": "on",
                "attachments": [pdf("补遗一.pdf", b"one"), pdf("补遗二.pdf", b"two")],
            },
        )
    assert response.status_code == 302
    amendment = Amendment.objects.get()
    assert sorted(amendment.documents.values_list("original_name", flat=True)) == [
        "补遗一.pdf",
        "补遗二.pdf",
    ]
    lot.refresh_from_db()
    minimum = now + dt.timedelta(days=15)
    assert minimum <= lot.bid_deadline < minimum + dt.timedelta(hours=1)
    assert timezone.localtime(lot.bid_deadline).minute == 0
    assert lot.opening_time - lot.bid_deadline == gap


def test_amendment_with_an_explicit_new_deadline_moves_it_there(lot, people):
    new_deadline = to_minute(lot.bid_deadline + dt.timedelta(days=7))
    response = as_user(people["alice"]).post(
        reverse("tendering:amendment_create", args=[lot.tender_id]),
        {
            "title": "顺延",
            "body": "投标截止时间顺延。",
            "affects_preparation": "on",
            "new_deadline": local(new_deadline),
        },
    )
    assert response.status_code == 302
    lot.refresh_from_db()
    assert lot.bid_deadline == new_deadline


# --- obtaining and downloading the documents (EB 21) ----------------------------------------------


def test_obtainers_are_sealed_before_the_deadline_and_listed_after_it(lot, people, orgs):
    tendering.documents_obtain(actor=people["bob"], tender=lot.tender)
    alice = as_user(people["alice"])
    url = reverse("tendering:obtainers", args=[lot.tender_id])

    response = alice.get(url)
    page = response.content.decode()
    assert response.status_code == 403
    assert "投标截止前，获取招标文件的单位名单和数量均保密。" in page
    assert orgs["bidder_a"].name not in page

    with time_machine.travel(lot.bid_deadline + dt.timedelta(hours=1), tick=False):
        # A fresh login: the earlier session has long expired by then.
        response = as_user(people["alice"]).get(url)
    assert response.status_code == 200
    assert orgs["bidder_a"].name in response.content.decode()
    assert orgs["bidder_b"].name not in response.content.decode()


def test_bob_obtains_the_documents_then_downloads_them(published, people, orgs):
    bob = as_user(people["bob"])
    response = bob.post(reverse("tendering:obtain", args=[published.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:announcement", args=[published.pk])
    assert DocumentObtain.objects.filter(tender=published, organisation=orgs["bidder_a"]).exists()

    document = published.documents.get()
    response = bob.get(reverse("tendering:document_download", args=[document.pk]))
    assert response.status_code == 200
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment")
    assert quote("招标文件.pdf") in disposition
    assert b"".join(response.streaming_content) == b"%PDF-1.4 tender documents"

    page = bob.get(reverse("tendering:my_obtained")).content.decode()
    assert published.title in page
    assert reverse("tendering:document_download", args=[document.pk]) in page


def test_obtaining_is_never_done_by_a_get(published, people):
    response = as_user(people["bob"]).get(reverse("tendering:obtain", args=[published.pk]))
    assert response.status_code == 405
    assert not DocumentObtain.objects.exists()


def test_dave_who_did_not_obtain_gets_404_on_the_download(published, people):
    document = published.documents.get()
    response = as_user(people["dave"]).get(
        reverse("tendering:document_download", args=[document.pk])
    )
    assert response.status_code == 404


def test_obtaining_after_the_document_window_shows_the_refusal(lot, people):
    with time_machine.travel(lot.doc_end + dt.timedelta(minutes=1), tick=False):
        response = as_user(people["carol"]).post(
            reverse("tendering:obtain", args=[lot.tender_id]), follow=True
        )
    assert "不在招标文件获取期内。" in response.content.decode()
    assert not DocumentObtain.objects.exists()
