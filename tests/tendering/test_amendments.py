"""Clarifications and amendments (澄清/补遗): the 15-day rule (TR 21) and notifying obtainers (EB 22).

The tender is published at ``T0`` (frozen) with one lot: bid deadline ``DEADLINE``
(T0 + 30 days), opening an hour later. Each test moves the clock itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import translation

from accounts.models import Notification, Role
from accounts.services import user_create
from audit.models import AuditEvent
from core.errors import DomainError
from tendering import services
from tendering.models import Amendment, DeadlineChange, Lot, LotStatus, Tender, TenderDocument
from tests.conftest import PASSWORD, lot_input

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=SHANGHAI)
DEADLINE = T0 + dt.timedelta(days=30)  # 2026-04-01 09:30
OPENING = DEADLINE + dt.timedelta(hours=1)
DAYS_15 = dt.timedelta(days=15)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(T0, tick=False)
    return time_machine


@pytest.fixture
def tender(make_draft, people) -> Tender:
    return services.tender_publish(actor=people["alice"], tender=make_draft(opening_time=OPENING))


def publish(tender: Tender, people, **kwargs) -> Amendment:
    values = {
        "title": "关于门诊楼改造工程招标文件的补遗",
        "body": "工程量清单第3.2节更正如下。",
        "affects_preparation": True,
    }
    values.update(kwargs)
    return services.amendment_publish(actor=people["alice"], tender=tender, **values)


def the_lot(tender: Tender) -> Lot:
    return Lot.objects.get(tender=tender, number=1)


# --- the 15-day rule (TR 21) -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "before", [DAYS_15, dt.timedelta(days=20)], ids=["exactly_15_days", "20_days"]
)
def test_an_amendment_15_days_or_more_before_the_deadline_keeps_the_deadline(
    before, tender, people, clock
):
    clock.move_to(DEADLINE - before, tick=False)

    amendment = publish(tender, people)

    lot = the_lot(tender)
    assert (lot.bid_deadline, lot.opening_time) == (DEADLINE, OPENING)
    assert not DeadlineChange.objects.exists()
    assert not AuditEvent.objects.filter(action="tendering.lot.deadline_moved").exists()
    assert amendment.published_at == DEADLINE - before
    assert amendment.affects_preparation is True


def test_a_late_amendment_without_a_new_deadline_is_refused_naming_the_earliest_allowed_time(
    tender, people, clock
):
    clock.move_to(DEADLINE - DAYS_15 + dt.timedelta(seconds=1), tick=False)

    with pytest.raises(DomainError) as error:
        publish(tender, people)

    assert error.value.code == "amendment.deadline_too_close"
    assert error.value.field == "new_deadline"
    # now + 15 days is 2026-04-01 09:30:01; to the minute, the earliest allowed deadline is 09:31.
    assert "2026-04-01 09:31" in error.value.message
    assert "15" in error.value.message
    assert not Amendment.objects.exists()
    assert the_lot(tender).bid_deadline == DEADLINE


def test_the_earliest_time_named_in_the_refusal_is_itself_accepted(tender, people, clock):
    clock.move_to(DEADLINE - DAYS_15 + dt.timedelta(seconds=1), tick=False)

    publish(tender, people, new_deadline=dt.datetime(2026, 4, 1, 9, 31, tzinfo=SHANGHAI))

    assert the_lot(tender).bid_deadline == dt.datetime(2026, 4, 1, 9, 31, tzinfo=SHANGHAI)


def test_a_new_deadline_moves_the_deadline_and_opening_by_the_same_shift(tender, people, clock):
    now = DEADLINE - dt.timedelta(days=10)
    clock.move_to(now, tick=False)
    new_deadline = DEADLINE + dt.timedelta(days=7, hours=2)

    amendment = publish(tender, people, new_deadline=new_deadline)

    lot = the_lot(tender)
    assert lot.bid_deadline == new_deadline
    assert lot.opening_time == OPENING + dt.timedelta(days=7, hours=2)
    change = DeadlineChange.objects.get()
    assert (change.amendment, change.lot) == (amendment, lot)
    assert (change.old_deadline, change.new_deadline) == (DEADLINE, new_deadline)
    assert (change.old_opening_time, change.new_opening_time) == (OPENING, lot.opening_time)
    moved = AuditEvent.objects.get(action="tendering.lot.deadline_moved")
    assert (moved.tender_id, moved.lot_id, moved.actor_id) == (
        tender.pk,
        lot.pk,
        people["alice"].pk,
    )
    assert moved.data["amendment"] == 1
    assert moved.data["old_deadline"] != moved.data["new_deadline"]
    published = AuditEvent.objects.get(action="tendering.amendment.published")
    assert published.data["lots_moved"] == [1]


def test_a_new_deadline_still_fewer_than_15_days_away_is_refused(tender, people, clock):
    clock.move_to(DEADLINE - dt.timedelta(days=10), tick=False)

    with pytest.raises(DomainError) as error:
        publish(tender, people, new_deadline=DEADLINE + dt.timedelta(days=4, hours=23))

    assert error.value.code == "amendment.deadline_too_close"
    assert the_lot(tender).bid_deadline == DEADLINE


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # 10 days before the deadline, at 09:47:13: now + 15 days rounds up to 10:00.
        (
            dt.datetime(2026, 3, 22, 9, 47, 13, tzinfo=SHANGHAI),
            dt.datetime(2026, 4, 6, 10, 0, tzinfo=SHANGHAI),
        ),
        # On the hour: that very hour is allowed.
        (
            dt.datetime(2026, 3, 22, 10, 0, tzinfo=SHANGHAI),
            dt.datetime(2026, 4, 6, 10, 0, tzinfo=SHANGHAI),
        ),
        # One microsecond past the hour: the next hour.
        (
            dt.datetime(2026, 3, 22, 10, 0, 0, 1, tzinfo=SHANGHAI),
            dt.datetime(2026, 4, 6, 11, 0, tzinfo=SHANGHAI),
        ),
    ],
    ids=["mid_hour", "on_the_hour", "just_past_the_hour"],
)
def test_extend_to_minimum_moves_to_the_first_whole_hour_at_least_15_days_away(
    now, expected, tender, people, clock
):
    clock.move_to(now, tick=False)

    publish(tender, people, extend_to_minimum=True)

    lot = the_lot(tender)
    assert lot.bid_deadline == expected
    assert lot.opening_time == expected + (OPENING - DEADLINE)
    assert lot.bid_deadline - now >= DAYS_15
    assert DeadlineChange.objects.get().new_deadline == expected


def test_extend_to_minimum_moves_only_the_lots_that_are_too_close(make_draft, people, clock):
    alice = people["alice"]
    draft = make_draft()
    early_deadline = T0 + dt.timedelta(days=20)
    services.lot_save(
        actor=alice,
        tender=draft,
        data=lot_input(
            doc_end=T0 + dt.timedelta(days=19),
            bid_deadline=early_deadline,
            opening_time=early_deadline,
        ),
    )
    tender = services.tender_publish(actor=alice, tender=draft)
    clock.move_to(T0 + dt.timedelta(days=10), tick=False)

    with pytest.raises(DomainError) as error:
        publish(tender, people)
    assert "第2标段" in error.value.message

    publish(tender, people, extend_to_minimum=True)

    moved = dict(tender.lots.values_list("number", "bid_deadline"))
    assert moved == {1: DEADLINE, 2: dt.datetime(2026, 3, 27, 10, 0, tzinfo=SHANGHAI)}
    assert list(DeadlineChange.objects.values_list("lot__number", flat=True)) == [2]


def test_a_clarification_that_does_not_affect_preparation_never_moves_the_deadline(
    tender, people, clock
):
    clock.move_to(DEADLINE - dt.timedelta(days=2), tick=False)

    amendment = publish(tender, people, affects_preparation=False, extend_to_minimum=True)

    assert amendment.affects_preparation is False
    assert (the_lot(tender).bid_deadline, the_lot(tender).opening_time) == (DEADLINE, OPENING)
    assert not DeadlineChange.objects.exists()


def test_a_new_deadline_earlier_than_the_current_one_is_refused(tender, people):
    with pytest.raises(DomainError) as error:
        publish(tender, people, new_deadline=DEADLINE - dt.timedelta(minutes=1))

    assert (error.value.code, error.value.field) == ("amendment.deadline_earlier", "new_deadline")
    assert not Amendment.objects.exists()


def test_a_new_deadline_in_the_past_is_refused(tender, people):
    with pytest.raises(DomainError) as error:
        publish(tender, people, new_deadline=T0 - dt.timedelta(days=1))

    assert error.value.code == "amendment.deadline_past"


def test_a_naive_new_deadline_is_refused(tender, people):
    with pytest.raises(DomainError) as error:
        publish(tender, people, new_deadline=dt.datetime(2026, 5, 1, 9, 30))

    assert (error.value.code, error.value.field) == ("lot.naive_time", "new_deadline")


@pytest.mark.parametrize("sweep", [False, True], ids=["before_the_sweep", "after_the_sweep"])
def test_an_amendment_after_the_deadline_is_refused(sweep, tender, people, clock):
    clock.move_to(DEADLINE, tick=False)
    if sweep:
        services.lots_advance_due()

    with pytest.raises(DomainError) as error:
        publish(tender, people, affects_preparation=False)

    assert error.value.code == "amendment.bidding_closed"
    assert not Amendment.objects.exists()


def test_a_draft_has_no_amendments(make_draft, people):
    with pytest.raises(DomainError) as error:
        publish(make_draft(), people)

    assert error.value.code == "amendment.not_published"


def test_amendments_are_numbered_in_order_and_audited(tender, people):
    numbers = [
        publish(tender, people, title=f"第{n}号补遗", body=f"内容{n}").number for n in (1, 2, 3)
    ]

    assert numbers == [1, 2, 3]
    events = AuditEvent.objects.filter(action="tendering.amendment.published").order_by("seq")
    assert [e.data["number"] for e in events] == [1, 2, 3]
    assert all((e.tender_id, e.lot_id) == (tender.pk, None) for e in events)
    assert events[0].data["body_sha256"] == hashlib.sha256("内容1".encode()).hexdigest()


def test_an_amendments_attachments_are_stored_with_it(tender, people):
    attachment = SimpleUploadedFile("补遗1.pdf", b"%PDF-1.4 amendment", "application/pdf")

    amendment = publish(tender, people, files=[attachment])

    document = TenderDocument.objects.get(amendment=amendment)
    assert document.original_name == "补遗1.pdf"
    event = AuditEvent.objects.get(action="tendering.document.uploaded", object_id=str(document.pk))
    assert event.data["amendment"] == 1


def test_a_moved_deadline_keeps_the_lot_open_past_its_old_deadline(tender, people, clock):
    publish(tender, people, new_deadline=DEADLINE + dt.timedelta(days=3))
    clock.move_to(DEADLINE + dt.timedelta(hours=1), tick=False)

    assert services.lots_advance_due() == []
    assert the_lot(tender).status == LotStatus.PUBLISHED


# --- everyone who obtained the documents is told (EB 22) -----------------------------------------------


@pytest.fixture
def ben(orgs):
    """A second bidder user of bob's organisation."""
    return user_create(
        actor=None,
        organisation=orgs["bidder_a"],
        username="ben",
        password=PASSWORD,
        roles=[Role.BIDDER],
        full_name="Ben",
        email="ben@example.cn",
    )


@pytest.fixture
def obtained(tender, people, ben) -> Tender:
    services.documents_obtain(actor=people["bob"], tender=tender)
    services.documents_obtain(actor=people["carol"], tender=tender)
    return tender


def test_every_bidder_user_of_every_obtaining_organisation_is_notified_and_mailed(
    obtained, people, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        publish(obtained, people, title="第1号补遗", body="工程量清单第3.2节更正如下。")

    recipients = sorted(Notification.objects.values_list("recipient__username", flat=True))
    assert recipients == ["ben", "bob", "carol"]
    notification = Notification.objects.get(recipient=people["bob"])
    assert notification.title == "澄清/补遗：第1号补遗"
    assert notification.body == "工程量清单第3.2节更正如下。"
    assert notification.url == f"/announcements/{obtained.pk}/"
    assert sorted(address for message in mail.outbox for address in message.to) == [
        "ben@example.cn",
        "bob@example.cn",
        "carol@example.cn",
    ]
    assert all(message.subject == "澄清/补遗：第1号补遗" for message in mail.outbox)
    assert all("工程量清单第3.2节更正如下。" in message.body for message in mail.outbox)
    assert all(f"/announcements/{obtained.pk}/" in message.body for message in mail.outbox)


def test_organisations_that_did_not_obtain_the_documents_hear_nothing(
    obtained, people, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        publish(obtained, people)

    for name in ("dave", "alice", "agnes", "terry", "sam", "pat"):
        assert not Notification.objects.filter(recipient=people[name]).exists()
    assert not [m for m in mail.outbox if "dave@example.cn" in m.to]


def test_each_amendment_notifies_again(obtained, people, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        publish(obtained, people, title="第1号补遗")
        publish(obtained, people, title="第2号澄清", affects_preparation=False)

    assert Notification.objects.filter(recipient=people["carol"]).count() == 2
    assert len([m for m in mail.outbox if m.to == ["carol@example.cn"]]) == 2


def test_notifications_are_written_in_the_platform_language_whatever_the_agents_page_was_in(
    obtained, people
):
    with translation.override("en"):
        publish(obtained, people, title="第1号补遗")

    titles = set(Notification.objects.values_list("title", flat=True))
    assert titles == {"澄清/补遗：第1号补遗"}


def test_the_mail_waits_for_the_commit(obtained, people, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        publish(obtained, people)

    assert mail.outbox == []
    assert len(callbacks) == 1
    assert Notification.objects.count() == 3  # in-app messages are part of the transaction itself


def test_no_mail_leaves_when_the_transaction_rolls_back(
    obtained, people, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        publish(obtained, people)
        raise RuntimeError("the surrounding work failed")

    assert callbacks == []
    assert mail.outbox == []
    assert not Amendment.objects.exists()
    assert not Notification.objects.exists()
    assert not AuditEvent.objects.filter(action="tendering.amendment.published").exists()


def test_a_refused_amendment_notifies_nobody(
    obtained, people, clock, django_capture_on_commit_callbacks
):
    clock.move_to(DEADLINE - dt.timedelta(days=3), tick=False)

    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(DomainError):
        publish(obtained, people)

    assert callbacks == []
    assert mail.outbox == []
    assert not Notification.objects.exists()
