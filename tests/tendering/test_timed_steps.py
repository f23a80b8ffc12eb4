"""Timed steps: bidding closes and the opening starts by the server clock, through the task queue.

At the opening time the sweep opens the lot's room (opening.room_services.room_open):
with at least the lot's minimum of sealed bids the lot enters ``opening``; with fewer
it fails there (TR 44). Where a test needs real bids it seals them
(tests/opening/room_support.build_ceremony); a lot nobody bid on fails.

The jobs are rows of the database-backed queue (``DBTaskResult``), so they
survive any restart; the worker tests run the real ``db_worker`` command once,
in batch mode, after moving the frozen clock. The worker commits its own
transactions, hence ``transaction=True`` there.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import signal
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import connections, transaction
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from audit.models import AuditEvent
from audit.selectors import chain_verify
from bidding.models import Bid, DecryptionStatus
from core.errors import DomainError
from opening.models import Room, RoomBid, RoomStage
from tendering import services
from tendering.models import Lot, LotStatus, Tender
from tests.bidding.support import bidding_settings  # noqa: F401 - fixture, used by name
from tests.opening.room_support import build_ceremony

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=SHANGHAI)
DEADLINE = T0 + dt.timedelta(days=30)
OPENING = DEADLINE + dt.timedelta(hours=1)
TASK_PATH = "tendering.tasks.advance_due_lots"


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(T0, tick=False)
    return time_machine


@pytest.fixture
def run_worker():
    """Run the real worker until the queue has nothing ready, restoring the signal handlers it installs."""
    names = [signal.SIGINT, signal.SIGTERM] + (
        [signal.SIGQUIT] if hasattr(signal, "SIGQUIT") else []
    )
    saved = {name: signal.getsignal(name) for name in names}

    def run() -> None:
        call_command(
            "db_worker",
            batch=True,
            reload=False,
            startup_delay=False,
            interval=0,
            verbosity=0,
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )

    yield run
    for name, handler in saved.items():
        signal.signal(name, handler)


def jobs():
    return DBTaskResult.objects.filter(task_path=TASK_PATH)


def lot_of(tender: Tender) -> Lot:
    return Lot.objects.get(tender=tender, number=1)


@pytest.fixture
def tender(make_draft, people) -> Tender:
    return services.tender_publish(actor=people["alice"], tender=make_draft(opening_time=OPENING))


# --- what publishing queues -------------------------------------------------------------------------


def test_publishing_queues_the_sweep_at_the_deadline_and_at_the_opening_time(tender):
    assert sorted(jobs().values_list("run_after", flat=True)) == [DEADLINE, OPENING]
    assert set(jobs().values_list("status", flat=True)) == {TaskResultStatus.READY}


def test_a_lot_opening_at_its_deadline_needs_one_job(published):
    assert list(jobs().values_list("run_after", flat=True)) == [DEADLINE]


def test_each_lot_of_a_tender_gets_its_jobs(make_draft, people):
    tender = services.tender_publish(
        actor=people["alice"], tender=make_draft(lots=2, opening_time=OPENING)
    )

    assert sorted(jobs().values_list("run_after", flat=True)) == [
        DEADLINE,
        DEADLINE,
        OPENING,
        OPENING,
    ]
    assert tender.lots.count() == 2


def test_a_draft_or_a_refused_publication_queues_nothing(make_draft, people):
    draft = make_draft(with_document=False)

    with pytest.raises(DomainError):
        services.tender_publish(actor=people["alice"], tender=draft)

    assert not jobs().exists()


def test_an_amendment_that_moves_the_deadline_queues_jobs_for_the_new_times(tender, people):
    new_deadline = DEADLINE + dt.timedelta(days=3)

    services.amendment_publish(
        actor=people["alice"],
        tender=tender,
        title="第1号补遗",
        body="延期。",
        affects_preparation=True,
        new_deadline=new_deadline,
    )

    assert sorted(jobs().values_list("run_after", flat=True)) == [
        DEADLINE,
        OPENING,
        new_deadline,
        new_deadline + dt.timedelta(hours=1),
    ]


# --- the sweep itself ------------------------------------------------------------------------------


def test_the_sweep_does_nothing_before_the_deadline(tender, clock):
    clock.move_to(DEADLINE - dt.timedelta(seconds=1), tick=False)

    assert services.lots_advance_due() == []
    assert lot_of(tender).status == LotStatus.PUBLISHED


def test_the_sweep_is_idempotent_and_audited_without_an_actor(tender, clock):
    lot = lot_of(tender)
    clock.move_to(DEADLINE, tick=False)

    assert services.lots_advance_due() == [(lot.pk, LotStatus.BIDDING_CLOSED)]
    assert services.lots_advance_due() == []
    clock.move_to(OPENING, tick=False)
    # Nobody bid: the opening starts and fails at once (TR 44).
    assert services.lots_advance_due() == [(lot.pk, LotStatus.FAILED)]
    assert services.lots_advance_due() == []

    closed = AuditEvent.objects.get(action="tendering.lot.bidding_closed")
    opened = AuditEvent.objects.get(action="tendering.lot.opening_started")
    failed = AuditEvent.objects.get(action="tendering.lot.failed")
    for event in (closed, opened, failed):
        assert (event.actor_id, event.actor_name, event.organisation_id) == (None, "", None)
        assert (event.tender_id, event.lot_id) == (tender.pk, lot.pk)
    assert closed.created_at == DEADLINE
    assert opened.created_at == failed.created_at == OPENING
    assert (closed.data["from"], closed.data["to"]) == ("published", "bidding_closed")
    assert (opened.data["from"], opened.data["to"]) == ("bidding_closed", "opening")
    assert (failed.data["from"], failed.data["to"]) == ("opening", "failed")
    lot.refresh_from_db()
    assert (lot.status, lot.status_changed_at) == (LotStatus.FAILED, OPENING)
    assert failed.data["reason"] == lot.failed_reason
    assert chain_verify().ok


def test_a_lot_with_fewer_bids_than_its_minimum_fails_at_the_opening_with_its_reason(
    tender, people, clock, bidding_settings  # noqa: F811 - bidding_settings is a fixture
):
    lot = lot_of(tender)
    build_ceremony(people, lot, bidders=("bob", "carol"))  # two sealed bids, three needed
    clock.move_to(DEADLINE, tick=False)
    services.lots_advance_due()
    clock.move_to(OPENING, tick=False)

    assert services.lots_advance_due() == [(lot.pk, LotStatus.FAILED)]

    lot.refresh_from_db()
    assert lot.status == LotStatus.FAILED
    room = Room.objects.get(lot=lot)
    assert room.stage == RoomStage.FAILED
    assert list(room.events.order_by("seq").values_list("kind", flat=True)) == ["scheduled", "failed"]
    announced = json.loads(room.events.get(kind="failed").text)["data"]
    assert (announced["count"], announced["min_bidders"]) == (2, 3)  # TR 44
    assert announced["reason"] == lot.failed_reason and "流标" in lot.failed_reason
    assert not RoomBid.objects.filter(room=room).exists()  # nothing is announced, nothing decrypted
    assert not Bid.objects.filter(lot=lot).exclude(decryption_status=DecryptionStatus.PENDING).exists()


def test_the_sweep_closes_bidding_and_opens_the_room_in_one_run_when_the_opening_is_at_the_deadline(
    published, people, clock, bidding_settings  # noqa: F811 - bidding_settings is a fixture
):
    lot = published.lots.get()
    ceremony = build_ceremony(people, lot)  # bob, carol and dave: the minimum of three
    clock.move_to(DEADLINE, tick=False)

    assert services.lots_advance_due() == [
        (lot.pk, LotStatus.BIDDING_CLOSED),
        (lot.pk, LotStatus.OPENING),
    ]

    lot.refresh_from_db()
    assert (lot.status, lot.status_changed_at, lot.failed_reason) == (LotStatus.OPENING, DEADLINE, "")
    room = Room.objects.get(lot=lot)
    assert room.stage == RoomStage.DECRYPTING
    assert room.opened_at == DEADLINE
    assert room.decryption_deadline == DEADLINE + dt.timedelta(minutes=lot.decryption_minutes)
    assert set(RoomBid.objects.filter(room=room).values_list("bid_id", flat=True)) == {
        bid.pk for bid in ceremony.bids.values()
    }


def test_the_sweep_leaves_a_cancelled_lot_cancelled(tender, people, clock):
    services.tender_cancel(actor=people["alice"], tender=tender, reason="项目建设计划调整")
    clock.move_to(OPENING, tick=False)

    assert services.lots_advance_due() == []
    assert lot_of(tender).status == LotStatus.CANCELLED


# --- the real worker ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_worker_closes_bidding_at_the_deadline_and_runs_the_opening_at_the_opening_time(
    tender, clock, run_worker
):
    # The pending steps are plain committed rows, not in-process timers: they outlive any process.
    connections.close_all()
    assert sorted(
        jobs().filter(status=TaskResultStatus.READY).values_list("run_after", flat=True)
    ) == [DEADLINE, OPENING]

    clock.move_to(DEADLINE - dt.timedelta(minutes=1), tick=False)
    run_worker()
    assert lot_of(tender).status == LotStatus.PUBLISHED
    assert jobs().filter(status=TaskResultStatus.READY).count() == 2

    clock.move_to(DEADLINE + dt.timedelta(seconds=1), tick=False)
    run_worker()
    assert lot_of(tender).status == LotStatus.BIDDING_CLOSED
    deadline_job = jobs().get(run_after=DEADLINE)
    assert (deadline_job.status, deadline_job.return_value) == (TaskResultStatus.SUCCESSFUL, 1)
    assert jobs().get(run_after=OPENING).status == TaskResultStatus.READY

    clock.move_to(OPENING + dt.timedelta(seconds=1), tick=False)
    run_worker()
    # Nobody bid: the opening the worker starts fails the lot (TR 44).
    assert lot_of(tender).status == LotStatus.FAILED
    assert set(jobs().values_list("status", flat=True)) == {TaskResultStatus.SUCCESSFUL}
    for action in ("tendering.lot.opening_started", "tendering.lot.failed"):
        assert AuditEvent.objects.filter(action=action, actor_id__isnull=True).count() == 1, action


@pytest.mark.django_db(transaction=True)
def test_a_job_for_a_deadline_an_amendment_moved_does_nothing_early(
    tender, people, clock, run_worker
):
    new_deadline = DEADLINE + dt.timedelta(days=3)
    services.amendment_publish(
        actor=people["alice"],
        tender=tender,
        title="第1号补遗",
        body="延期。",
        affects_preparation=True,
        new_deadline=new_deadline,
    )

    clock.move_to(OPENING + dt.timedelta(seconds=1), tick=False)
    run_worker()

    assert lot_of(tender).status == LotStatus.PUBLISHED
    old_jobs = jobs().filter(run_after__in=[DEADLINE, OPENING])
    assert [(job.status, job.return_value) for job in old_jobs] == [
        (TaskResultStatus.SUCCESSFUL, 0)
    ] * 2
    assert not AuditEvent.objects.filter(action="tendering.lot.bidding_closed").exists()

    clock.move_to(new_deadline, tick=False)
    run_worker()

    assert lot_of(tender).status == LotStatus.BIDDING_CLOSED


def test_a_publication_that_rolls_back_leaves_no_jobs(make_draft, people):
    draft = make_draft()

    with pytest.raises(RuntimeError), transaction.atomic():
        services.tender_publish(actor=people["alice"], tender=draft)
        assert jobs().count() == 1
        raise RuntimeError("the surrounding work failed")

    assert not jobs().exists()
    assert Tender.objects.get(pk=draft.pk).published_at is None
