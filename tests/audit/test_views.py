"""The supervisors' audit browser: who may use it, what it lists, filters, shows and verifies."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import connection, transaction
from django.urls import reverse

from audit.context import AuditContext, bind
from audit.models import AuditEvent
from audit.services import record
from tendering import services as tendering

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def browser(client, user):
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def seqs_on(page) -> list[int]:
    return [row.event.seq for row in page.context["rows"]]


# --- access ---------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["events", "verify"])
def test_anonymous_visitor_is_sent_to_sign_in(client, name):
    response = client.get(reverse(f"audit:{name}"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.parametrize("person", ["alice", "terry", "bob", "fay", "eve"])
def test_only_supervisors_and_platform_admins_may_browse(client, people, person):
    with transaction.atomic():
        event = record("test.any", actor=None)
    browser(client, people[person])
    assert client.get(reverse("audit:events")).status_code == 403
    assert client.get(reverse("audit:events"), {"time_from": "not a time"}).status_code == 403
    assert client.get(reverse("audit:event", args=[event.seq])).status_code == 403
    assert client.get(reverse("audit:verify")).status_code == 403
    assert client.post(reverse("audit:verify")).status_code == 403


@pytest.mark.parametrize("person", ["sam", "pat"])
def test_supervisors_and_platform_admins_may_browse(client, people, person):
    browser(client, people[person])
    assert client.get(reverse("audit:events")).status_code == 200
    assert client.get(reverse("audit:verify")).status_code == 200


# --- the list -------------------------------------------------------------------------


def test_chain_is_listed_newest_first_with_who_where_what(client, people, published):
    page = browser(client, people["sam"]).get(reverse("audit:events"))
    body = page.content.decode()
    seqs = seqs_on(page)
    assert seqs == sorted(seqs, reverse=True)
    assert seqs[0] == AuditEvent.objects.order_by("-seq").first().seq
    published_event = AuditEvent.objects.get(action="tendering.tender.published")
    assert "发布招标公告" in body
    assert "alice" in body and "华信招标代理有限公司" in body
    assert published_event.hash[:12] in body
    assert f'href="{reverse("audit:event", args=[published_event.seq])}"' in body


def test_network_address_is_shown(client, people):
    with bind(AuditContext(ip="198.51.100.77")), transaction.atomic():
        record("test.from_somewhere", actor=people["alice"])
    body = browser(client, people["sam"]).get(reverse("audit:events")).content.decode()
    assert "198.51.100.77" in body


def test_unknown_actions_show_their_dotted_name(client, people):
    with transaction.atomic():
        record("bidding.something.new", actor=None)
    body = browser(client, people["sam"]).get(reverse("audit:events")).content.decode()
    assert "bidding.something.new" in body


def test_list_is_paginated(client, people):
    with transaction.atomic():
        for n in range(60):
            record("test.bulk", actor=None, data={"n": n})
    browser(client, people["sam"])
    first = client.get(reverse("audit:events"), {"action": "test.bulk"})
    second = client.get(reverse("audit:events"), {"action": "test.bulk", "page": 2})
    assert len(seqs_on(first)) == 50
    assert len(seqs_on(second)) == 10
    assert max(seqs_on(second)) < min(seqs_on(first))
    assert "action=test.bulk" in first.content.decode()


# --- filters --------------------------------------------------------------------------


@pytest.fixture
def two_tenders(people, make_draft, published):
    other = tendering.tender_publish(actor=people["alice"], tender=make_draft())
    return published, other


def test_filter_by_tender_id_or_code_keeps_only_that_tenders_events(client, people, two_tenders):
    first, other = two_tenders
    browser(client, people["sam"])
    expected = set(AuditEvent.objects.filter(tender_id=first.pk).values_list("seq", flat=True))
    by_id = client.get(reverse("audit:events"), {"tender": first.pk})
    by_code = client.get(reverse("audit:events"), {"tender": first.code})
    assert expected and set(seqs_on(by_id)) == expected
    assert set(seqs_on(by_code)) == expected
    assert "第1标段" in by_id.content.decode()  # the lot select for the chosen tender


def test_unknown_tender_code_is_a_form_error(client, people):
    response = browser(client, people["sam"]).get(
        reverse("audit:events"), {"tender": "SB1999999999"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["tender"]
    assert seqs_on(response) == []


def test_filter_by_lot_keeps_the_lot_and_its_tender_wide_events(client, people, two_tenders):
    first, other = two_tenders
    lot = first.lots.get()
    response = browser(client, people["sam"]).get(reverse("audit:events"), {"lot": lot.pk})
    actions = {row.event.action for row in response.context["rows"]}
    assert "tendering.lot.published" in actions
    assert "tendering.tender.published" in actions
    assert all(row.event.lot_id in (lot.pk, None) for row in response.context["rows"])
    assert all(row.event.tender_id == first.pk for row in response.context["rows"])


def test_filter_by_actor_username(client, people, published):
    response = browser(client, people["sam"]).get(reverse("audit:events"), {"actor": "alice"})
    rows = response.context["rows"]
    assert rows and all(row.event.actor_name == "alice" for row in rows)


def test_filter_by_action_prefix(client, people, published):
    response = browser(client, people["sam"]).get(
        reverse("audit:events"), {"action": "tendering.lot"}
    )
    rows = response.context["rows"]
    assert rows and all(row.event.action.startswith("tendering.lot.") for row in rows)


def test_filter_by_time_range_in_beijing_time(client, people):
    for day in (1, 10, 20):
        with (
            time_machine.travel(dt.datetime(2020, 3, day, 12, 0, tzinfo=SHANGHAI)),
            transaction.atomic(),
        ):
            record("test.dated", actor=None, data={"day": day})
    response = browser(client, people["sam"]).get(
        reverse("audit:events"), {"time_from": "2020-03-05T00:00", "time_to": "2020-03-10T12:00"}
    )
    assert [row.event.data["day"] for row in response.context["rows"]] == [10]


def test_time_range_backwards_is_a_form_error(client, people):
    response = browser(client, people["sam"]).get(
        reverse("audit:events"), {"time_from": "2020-03-10T00:00", "time_to": "2020-03-01T00:00"}
    )
    assert response.context["form"].errors["time_to"]
    assert seqs_on(response) == []


# --- one record -------------------------------------------------------------------------


def test_record_page_shows_every_field_the_payload_and_both_hashes(client, people, published):
    event = AuditEvent.objects.get(action="tendering.tender.published")
    body = (
        browser(client, people["sam"])
        .get(reverse("audit:event", args=[event.seq]))
        .content.decode()
    )
    assert event.hash in body
    assert event.prev_hash in body
    assert "发布招标公告" in body and "tendering.tender.published" in body
    assert published.code in body  # from the pretty-printed payload
    assert "华信招标代理有限公司" in body
    assert reverse("audit:event", args=[event.seq - 1]) in body
    assert reverse("audit:event", args=[event.seq + 1]) in body


def test_missing_record_is_404(client, people):
    assert (
        browser(client, people["sam"]).get(reverse("audit:event", args=[999_999])).status_code
        == 404
    )


# --- verification -----------------------------------------------------------------------


def test_verification_of_an_intact_chain_shows_the_head(client, people, published):
    head = AuditEvent.objects.order_by("-seq").first()
    body = browser(client, people["sam"]).post(reverse("audit:verify")).content.decode()
    assert "审计链完整" in body
    assert f"#{head.seq}" in body
    assert head.hash in body


def test_verification_of_a_tampered_chain_names_the_first_bad_record_in_chinese(
    client, people, published
):
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    third = AuditEvent.objects.order_by("seq")[2].seq
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {connection.ops.quote_name('actor_name')} = %s "
            f"WHERE {connection.ops.quote_name('seq')} = %s",
            ["mallory", third],
        )
    response = browser(client, people["pat"]).post(reverse("audit:verify"))
    body = response.content.decode()
    assert f"审计链在第 {third} 条记录处损坏" in body
    assert "记录内容与其哈希值不符" in body
    assert reverse("audit:event", args=[third]) in body


def test_verification_page_does_not_run_the_check_on_get(client, people):
    response = browser(client, people["sam"]).get(reverse("audit:verify"))
    assert response.context["report"] is None
    assert "开始验证" in response.content.decode()
