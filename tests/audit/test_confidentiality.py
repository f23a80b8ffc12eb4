"""EB 21 in the audit browser: who obtained the documents stays hidden until bidding closes.

Supervisors (sam) must not see, count or open bob's "obtained the documents"
record before the deadline; platform administrators (pat) always may.
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.models import AuditEvent, Sensitivity
from audit.selectors import EventFilter, event_detail_for, events_visible_to
from audit.services import record
from core.errors import NotFound
from tendering import services as tendering

OBTAINED = "tendering.documents.obtained"


@pytest.fixture
def obtained(people, published) -> AuditEvent:
    tendering.documents_obtain(actor=people["bob"], tender=published)
    return AuditEvent.objects.get(action=OBTAINED)


def after_deadline(tender) -> dt.datetime:
    return max(lot.bid_deadline for lot in tender.lots.all()) + dt.timedelta(minutes=1)


def browser(client, user):
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def test_sam_does_not_see_bobs_obtain_event_before_the_deadline(people, obtained):
    visible = events_visible_to(user=people["sam"])
    assert not visible.filter(seq=obtained.seq).exists()
    assert visible.count() == AuditEvent.objects.count() - 1
    assert (
        events_visible_to(
            user=people["sam"], filters=EventFilter(action="tendering.documents")
        ).count()
        == 0
    )
    with pytest.raises(NotFound):
        event_detail_for(user=people["sam"], seq=obtained.seq)


def test_sam_sees_bobs_obtain_event_once_bidding_has_closed(people, published, obtained):
    with time_machine.travel(after_deadline(published)):
        visible = events_visible_to(user=people["sam"])
        assert visible.filter(seq=obtained.seq).exists()
        assert visible.count() == AuditEvent.objects.count()
        assert event_detail_for(user=people["sam"], seq=obtained.seq).event.actor_name == "bob"


def test_pat_always_sees_bobs_obtain_event(people, published, obtained):
    assert events_visible_to(user=people["pat"]).filter(seq=obtained.seq).exists()
    assert event_detail_for(user=people["pat"], seq=obtained.seq).event == obtained
    with time_machine.travel(after_deadline(published)):
        assert events_visible_to(user=people["pat"]).filter(seq=obtained.seq).exists()


def test_cancelling_a_tender_does_not_unseal_its_obtain_events_before_the_deadline(
    people, published, obtained
):
    tendering.tender_cancel(
        actor=people["alice"], tender=published, reason="项目资金未落实，终止招标。"
    )
    assert not events_visible_to(user=people["sam"]).filter(seq=obtained.seq).exists()
    with time_machine.travel(after_deadline(published)):
        assert events_visible_to(user=people["sam"]).filter(seq=obtained.seq).exists()


def test_sealed_tender_hides_only_its_own_obtain_events(people, make_draft, published, obtained):
    closing_soon = tendering.tender_publish(actor=people["alice"], tender=make_draft())
    tendering.documents_obtain(actor=people["carol"], tender=closing_soon)
    carol_obtain = AuditEvent.objects.get(action=OBTAINED, actor_name="carol")
    soon = closing_soon.lots.get()
    soon.bid_deadline = published.lots.get().bid_deadline - dt.timedelta(days=5)
    soon.save(update_fields=["bid_deadline"])
    with time_machine.travel(after_deadline(closing_soon)):
        visible = events_visible_to(user=people["sam"])
        assert visible.filter(seq=carol_obtain.seq).exists()
        assert not visible.filter(seq=obtained.seq).exists()


def test_confidential_event_without_a_tender_stays_hidden_from_supervisors(people):
    with transaction.atomic():
        event = record("test.secret", actor=None, sensitivity=Sensitivity.UNTIL_BID_DEADLINE)
    assert not events_visible_to(user=people["sam"]).filter(seq=event.seq).exists()
    assert events_visible_to(user=people["pat"]).filter(seq=event.seq).exists()


def test_confidential_event_of_a_tender_that_does_not_exist_stays_hidden(people):
    with transaction.atomic():
        event = record(
            "test.secret", actor=None, tender_id=999_999, sensitivity=Sensitivity.UNTIL_BID_DEADLINE
        )
    assert not events_visible_to(user=people["sam"]).filter(seq=event.seq).exists()


def test_unknown_sensitivity_is_hidden_from_supervisors(people):
    with transaction.atomic():
        event = record("test.future", actor=None, sensitivity="until_award")
    assert not events_visible_to(user=people["sam"]).filter(seq=event.seq).exists()


def test_hiding_costs_the_same_queries_however_many_obtained(people, published):
    def page_queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            visible = events_visible_to(user=people["sam"])
            visible.count()
            list(visible[:50])
        return len(ctx.captured_queries)

    tendering.documents_obtain(actor=people["bob"], tender=published)
    page_queries()  # sam's roles are read once and kept
    one = page_queries()
    tendering.documents_obtain(actor=people["carol"], tender=published)
    tendering.documents_obtain(actor=people["dave"], tender=published)
    assert page_queries() == one


def test_supervisor_pages_neither_list_count_nor_open_the_sealed_event(
    client, people, published, obtained
):
    page = browser(client, people["sam"]).get(reverse("audit:events"))
    assert page.status_code == 200
    body = page.content.decode()
    assert f'href="{reverse("audit:event", args=[obtained.seq])}"' not in body
    assert "投标截止前保密" not in body
    assert f"共 {AuditEvent.objects.count() - 1} 条记录" in body
    assert client.get(reverse("audit:event", args=[obtained.seq])).status_code == 404


def test_supervisor_detail_links_skip_the_sealed_neighbour(client, people, published, obtained):
    with transaction.atomic():
        after = record("test.after", actor=None)
    before = AuditEvent.objects.filter(seq__lt=obtained.seq).order_by("-seq").first()
    detail = event_detail_for(user=people["sam"], seq=before.seq)
    assert detail.next_seq == after.seq
    page = browser(client, people["sam"]).get(reverse("audit:event", args=[after.seq]))
    assert reverse("audit:event", args=[before.seq]) in page.content.decode()
    assert reverse("audit:event", args=[obtained.seq]) not in page.content.decode()


def test_platform_admin_pages_show_the_obtain_event(client, people, obtained):
    page = browser(client, people["pat"]).get(reverse("audit:events"))
    assert f'href="{reverse("audit:event", args=[obtained.seq])}"' in page.content.decode()
    assert "投标截止前保密" in page.content.decode()
    assert f"共 {AuditEvent.objects.count()} 条记录" in page.content.decode()
    detail = client.get(reverse("audit:event", args=[obtained.seq]))
    assert detail.status_code == 200
    assert "浙江建工集团有限公司" in detail.content.decode()
