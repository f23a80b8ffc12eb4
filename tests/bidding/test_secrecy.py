"""EB 21 / EB 27: before the deadline nobody but the bidder itself learns that it has bid.

Per role: agents (alice), the tenderer (terry), supervisors (sam), platform
administrators (pat), other bidders (carol, dave) and the rest see no bid, no
count and no audit record of bob's bid before the deadline. After it, those
who manage the tender see how many bids came in and, once the whole tender is
past its deadlines, from whom — sizes, hashes and times, never contents.
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from audit.models import AuditEvent, Sensitivity
from audit.selectors import EventFilter, event_detail_for, events_visible_to
from bidding import selectors, services
from core.errors import NotFound, NotPermitted
from tendering import services as tendering
from tests.bidding.support import (
    api_for,
    bidder_keys,
    bidding_settings,  # noqa: F401
    obtain,
    put_part,
    seal,
    submit,
)
from tests.conftest import lot_input

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("bidding_settings")]

MANAGERS = ("alice", "terry", "sam", "pat")
OUTSIDERS = ("agnes", "carol", "dave", "fay", "eve")
AUDITORS = ("sam", "pat")


@pytest.fixture
def bob(people, lot):
    obtain(people["bob"], lot)
    return people["bob"]


@pytest.fixture
def history(bob, lot):
    """Bob bid, replaced his bid, withdrew, bid again, and left an upload unfinished."""
    keys = bidder_keys(bob)
    submit(bob, lot, seal(lot, keys))
    submit(bob, lot, seal(lot, keys))
    services.bid_withdraw(actor=bob, lot=lot)
    bid = submit(bob, lot, seal(lot, keys))
    data = seal(lot, keys)
    upload = services.upload_create(actor=bob, lot=lot, size=len(data))
    put_part(bob, upload, 0, data[: upload.part_size])
    return bid


def bid_events():
    return AuditEvent.objects.filter(action__startswith="bidding.")


def after_deadline(lot):
    return time_machine.travel(lot.bid_deadline + dt.timedelta(minutes=1), tick=False)


def test_every_bid_event_is_sealed_until_the_deadline(history):
    actions = set(bid_events().values_list("action", flat=True))
    assert {
        "bidding.upload.started",
        "bidding.bid.submitted",
        "bidding.bid.replaced",
        "bidding.bid.withdrawn",
    } <= actions
    assert set(bid_events().values_list("sensitivity", flat=True)) == {
        Sensitivity.BIDS_UNTIL_DEADLINE
    }


@pytest.mark.parametrize("auditor", AUDITORS)
def test_auditors_neither_see_nor_count_bid_events_before_the_deadline(people, history, auditor):
    user = people[auditor]
    visible = events_visible_to(user=user)
    assert not visible.filter(action__startswith="bidding.").exists()
    assert events_visible_to(user=user, filters=EventFilter(action="bidding")).count() == 0
    hidden = bid_events().count()
    # Platform administrators still see who obtained the documents (EB 21), never who bid.
    sealed_obtains = (
        0
        if auditor == "pat"
        else AuditEvent.objects.filter(action="tendering.documents.obtained").count()
    )
    assert visible.count() == AuditEvent.objects.count() - hidden - sealed_obtains
    for event in bid_events():
        with pytest.raises(NotFound):
            event_detail_for(user=user, seq=event.seq)


@pytest.mark.parametrize("auditor", AUDITORS)
def test_the_audit_browser_shows_no_bid_before_the_deadline(people, history, auditor):
    client = api_for(people[auditor]).client
    page = client.get(reverse("audit:events")).content.decode()
    for trace in (str(history.pk), str(history.upload_id), "投标截止前对所有人保密"):
        assert trace not in page
    assert client.get(reverse("audit:event", args=[history.audit_seq])).status_code == 404
    with after_deadline(history.lot):
        client = api_for(people[auditor]).client  # a fresh session: the first one expired meanwhile
        unsealed = client.get(reverse("audit:events")).content.decode()
        assert str(history.pk) in unsealed  # the same page names the bid once bidding has closed
        assert client.get(reverse("audit:event", args=[history.audit_seq])).status_code == 200


@pytest.mark.parametrize("auditor", AUDITORS)
def test_auditors_see_the_bid_events_once_bidding_has_closed(people, lot, history, auditor):
    with after_deadline(lot):
        visible = events_visible_to(user=people[auditor])
        assert visible.filter(action__startswith="bidding.").count() == bid_events().count()
        assert event_detail_for(user=people[auditor], seq=history.audit_seq).event.data[
            "bid"
        ] == str(history.pk)


@pytest.mark.parametrize("person", MANAGERS)
def test_those_managing_the_tender_get_no_count_before_the_deadline(
    client, people, lot, history, person
):
    with pytest.raises(NotPermitted) as refused:
        selectors.received_bids(user=people[person], lot_id=lot.pk)
    assert refused.value.code == "bid.list_sealed"
    response = api_for(people[person]).client.get(reverse("bidding:received", args=[lot.pk]))
    assert response.status_code == 403
    assert history.receipt_no not in response.content.decode()


@pytest.mark.parametrize("person", (*MANAGERS, *OUTSIDERS, "bob"))
def test_nobody_but_bob_can_reach_bobs_bid_before_the_deadline(people, lot, history, person):
    api = api_for(people[person])
    if person != "bob":
        assert api.get(reverse("bidding_api:receipt_json", args=[history.pk])).status_code == 404
        lot_bid = api.get(reverse("bidding_api:lot_bid", args=[lot.pk]))
        if lot_bid.status_code == 200:  # another bidder that obtained the documents: only its own
            assert lot_bid.json() == {"bid": None, "uploads": []}
        else:
            assert lot_bid.status_code == 404
    else:
        assert api.get(reverse("bidding_api:lot_bid", args=[lot.pk])).json()["bid"]["bid"] == str(
            history.pk
        )


def test_another_bidder_of_the_same_lot_learns_nothing_of_bobs_bid(people, lot, history):
    carol = people["carol"]
    obtain(carol, lot)
    api = api_for(carol)
    assert api.get(reverse("bidding_api:lot_bid", args=[lot.pk])).json() == {
        "bid": None,
        "uploads": [],
    }
    page = api.client.get(reverse("bidding:lot", args=[lot.pk])).content.decode()
    assert history.receipt_no not in page
    assert "浙江建工" not in page
    mine = api.client.get(reverse("bidding:my_bids")).content.decode()
    assert history.receipt_no not in mine


@pytest.mark.parametrize("person", OUTSIDERS)
def test_the_received_list_does_not_exist_for_those_outside_the_tender(
    people, lot, history, person
):
    with after_deadline(lot):
        response = api_for(people[person]).client.get(reverse("bidding:received", args=[lot.pk]))
    assert response.status_code in (403, 404)
    assert history.receipt_no not in response.content.decode()


@pytest.mark.parametrize("person", MANAGERS)
def test_after_the_deadline_the_managers_see_the_count_and_the_list_without_contents(
    people, lot, history, person
):
    with after_deadline(lot):
        result = selectors.received_bids(user=people[person], lot_id=lot.pk)
        page = api_for(people[person]).client.get(reverse("bidding:received", args=[lot.pk]))
    assert result.count == 1
    assert [bid.pk for bid in result.bids] == [history.pk]
    assert page.status_code == 200
    html = page.content.decode()
    assert history.sha256 in html
    assert history.organisation.name in html
    assert history.receipt_no in html


def test_with_another_lot_still_open_the_count_shows_but_the_names_stay_sealed(
    people, make_draft, orgs
):
    from django.utils import timezone

    from tests.conftest import tender_input  # noqa: F401  (the tender of make_draft)

    tender = make_draft(lots=1)
    later = timezone.now() + dt.timedelta(days=40)
    tendering.lot_save(
        actor=people["alice"],
        tender=tender,
        data=lot_input(bid_deadline=later, opening_time=later),
    )
    tender = tendering.tender_publish(actor=people["alice"], tender=tender)
    first = tender.lots.get(number=1)
    bob = people["bob"]
    obtain(bob, first)
    bid = submit(bob, first, seal(first, bidder_keys(bob)))
    with after_deadline(first):
        result = selectors.received_bids(user=people["sam"], lot_id=first.pk)
        page = (
            api_for(people["sam"])
            .client.get(reverse("bidding:received", args=[first.pk]))
            .content.decode()
        )
    assert result.count == 1
    assert result.names_sealed is True
    assert result.bids == []
    assert bid.organisation.name not in page
    assert bid.sha256 not in page


def test_the_tender_page_links_to_the_received_bids_only_after_the_deadline(people, lot, history):
    url = reverse("bidding:received", args=[lot.pk])
    page = reverse("tendering:tender_detail", args=[lot.tender_id])
    assert url not in api_for(people["alice"]).client.get(page).content.decode()
    with after_deadline(lot):
        assert url in api_for(people["alice"]).client.get(page).content.decode()
