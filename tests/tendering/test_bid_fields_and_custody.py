"""A tender's supervising authority, a lot's extra bid items and its opening-key custody, as the agency sets them."""

from __future__ import annotations

import pytest
from django import forms
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from core.errors import DomainError
from opening.models import OpeningKey
from tendering import services
from tendering.forms import format_bid_fields, parse_bid_fields
from tendering.models import Tender, TenderStatus
from tests.conftest import lot_input, tender_input
from tests.tendering.test_manage_views import lot_post, tender_post

pytestmark = pytest.mark.django_db


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def item(key: str = "warranty_years", label: str = "质保期（年）", required: bool = True) -> dict:
    return {"key": key, "label": label, "required": required}


# --- the rules (service) ------------------------------------------------------------------------


def test_extra_bid_items_are_saved_trimmed_and_audited(make_draft, people):
    tender = make_draft()
    lot = tender.lots.get()
    services.lot_save(
        actor=people["alice"], tender=tender, lot=lot,
        data=lot_input(bid_fields=(item(label="  质保期（年） "), item("manager", "项目经理", False))),
    )
    lot.refresh_from_db()
    assert lot.bid_fields == [item(), item("manager", "项目经理", False)]
    event = AuditEvent.objects.filter(action="tendering.lot.updated").latest("seq")
    assert event.data["bid_fields"] == lot.bid_fields
    assert event.data["custodian_threshold"] == 2


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ((item("Warranty"),), "lot.bid_field_key"),
        ((item("1st"),), "lot.bid_field_key"),
        ((item("a-b"),), "lot.bid_field_key"),
        ((item("a" * 41),), "lot.bid_field_key"),
        ((item("price"),), "lot.bid_field_reserved"),
        ((item("quality"),), "lot.bid_field_reserved"),
        ((item(), item(label="另一项")), "lot.bid_field_duplicate"),
        ((item(label=""),), "lot.bid_field_label"),
        ((item(label="长" * 51),), "lot.bid_field_label"),
        (({"key": "a", "label": "甲", "required": "yes"},), "lot.bid_fields"),
        (({"key": "a", "label": "甲"},), "lot.bid_fields"),
        (tuple(item(f"f{n}") for n in range(21)), "lot.bid_fields_too_many"),
    ],
)
def test_extra_bid_items_outside_the_rules_are_refused(make_draft, people, fields, code):
    tender = make_draft()
    with pytest.raises(DomainError) as refused:
        services.lot_save(actor=people["alice"], tender=tender, data=lot_input(bid_fields=fields))
    assert refused.value.code == code
    assert refused.value.field == "bid_fields"


def test_twenty_items_and_a_forty_character_key_are_allowed(make_draft, people):
    tender = make_draft()
    fields = (item("a" * 40), *(item(f"f{n}") for n in range(19)))
    lot = services.lot_save(actor=people["alice"], tender=tender, data=lot_input(bid_fields=fields))
    assert len(lot.bid_fields) == 20


def test_the_supervising_authority_must_be_a_supervisor(orgs, people):
    for other in ("agency", "tenderer", "bidder_a"):
        with pytest.raises(DomainError) as refused:
            services.tender_create(
                actor=people["alice"], data=tender_input(orgs, supervising_authority_id=orgs[other].pk)
            )
        assert refused.value.code == "tender.supervising_authority"
    tender = services.tender_create(actor=people["alice"], data=tender_input(orgs, supervising_authority_id=None))
    assert tender.supervising_authority is None
    services.tender_update(actor=people["alice"], tender=tender, data=tender_input(orgs))
    tender.refresh_from_db()
    assert tender.supervising_authority == orgs["supervisor"]


# --- the editor's text format (form) ----------------------------------------------------------------


def test_the_editor_reads_one_item_per_line():
    text = "warranty_years|质保期（年）|必填\n\nmanager ｜ 项目经理 ｜ 选填\nteam|团队人数\n"
    assert parse_bid_fields(text) == (
        item(), item("manager", "项目经理", False), item("team", "团队人数", True),
    )
    assert parse_bid_fields(format_bid_fields([item(), item("manager", "项目经理", False)])) == (
        item(), item("manager", "项目经理", False),
    )


@pytest.mark.parametrize("text", ["warranty_years", "a|b|c|d", "|名称|必填", "a|名称|也许"])
def test_the_editor_names_the_line_it_cannot_read(text):
    with pytest.raises(forms.ValidationError) as refused:
        parse_bid_fields("ok|好|必填\n" + text)
    assert "第2行" in str(refused.value.messages[0])


# --- the working area ----------------------------------------------------------------------------------


def test_alice_sets_the_supervising_authority_on_the_tender_form(orgs, people):
    alice = as_user(people["alice"])
    page = alice.get(reverse("tendering:tender_create")).content.decode()
    assert orgs["supervisor"].name in page
    data = tender_post(orgs)
    data["supervising_authority"] = str(orgs["supervisor"].pk)
    response = alice.post(reverse("tendering:tender_create"), data)
    assert response.status_code == 302
    tender = Tender.objects.get()
    assert tender.supervising_authority == orgs["supervisor"]
    data["supervising_authority"] = str(orgs["agency"].pk)
    refused = alice.post(reverse("tendering:tender_edit", kwargs={"pk": tender.pk}), data)
    assert refused.status_code == 200 and "has-error" in refused.content.decode()


def test_alice_sets_extra_items_and_custodians_on_the_lot_form(make_draft, people, orgs):
    tender = make_draft()
    lot = tender.lots.get()
    alice = as_user(people["alice"])
    url = reverse("tendering:lot_edit", kwargs={"pk": lot.pk})
    page = alice.get(url).content.decode()
    for name in ("agency", "supervisor", "tenderer"):
        assert orgs[name].name in page
    assert orgs["bidder_a"].name not in page and orgs["agency2"].name not in page
    data = lot_post()
    data["extra_bid_fields"] = "warranty_years|质保期（年）|必填\nmanager|项目经理|选填"
    data["custodians"] = [str(orgs["agency"].pk), str(orgs["tenderer"].pk)]
    data["custodian_threshold"] = "2"
    assert alice.post(url, data).status_code == 302
    lot.refresh_from_db()
    assert lot.bid_fields == [item(), item("manager", "项目经理", False)]
    assert set(lot.custodians.all()) == {orgs["agency"], orgs["tenderer"]}
    again = alice.get(url).content.decode()
    assert "warranty_years|质保期（年）|必填" in again


def test_a_refused_extra_item_is_shown_on_its_field(make_draft, people):
    tender = make_draft()
    lot = tender.lots.get()
    data = lot_post()
    data["extra_bid_fields"] = "price|报价|必填"
    response = as_user(people["alice"]).post(reverse("tendering:lot_edit", kwargs={"pk": lot.pk}), data)
    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="id_extra_bid_fields_error"' in page and "保留代码" in page


def test_a_threshold_above_the_custodians_is_shown_on_its_field(make_draft, people, orgs):
    tender = make_draft()
    data = lot_post()
    data["custodians"] = [str(orgs["agency"].pk), str(orgs["tenderer"].pk)]
    data["custodian_threshold"] = "3"
    response = as_user(people["alice"]).post(reverse("tendering:lot_create", kwargs={"pk": tender.pk}), data)
    assert response.status_code == 200
    assert 'id="id_custodian_threshold_error"' in response.content.decode()


def test_publishing_without_a_supervising_authority_says_so(make_draft, people):
    tender = make_draft()
    Tender.objects.filter(pk=tender.pk).update(supervising_authority=None)
    response = as_user(people["alice"]).post(reverse("tendering:tender_publish", kwargs={"pk": tender.pk}), follow=True)
    assert "发布前请选择本项目的监督部门" in response.content.decode()
    tender.refresh_from_db()
    assert tender.status == TenderStatus.DRAFT


def test_the_tender_page_shows_the_custody_and_the_opening_key(published, lot, people, orgs):
    key = OpeningKey.objects.get(lot=lot)
    for name in ("alice", "sam", "terry", "pat"):
        page = as_user(people[name]).get(reverse("tendering:tender_detail", kwargs={"pk": published.pk})).content.decode()
        assert key.fingerprint[:16] in page
        assert orgs["supervisor"].name in page
        custody = reverse("opening:custody", kwargs={"lot_id": lot.pk})
        # The custody link only for those acting for a custodian.
        assert (custody in page) == (name != "pat"), name
