"""Publishing the candidates (TR 54): within three days of the final report, for at least three days."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail

from audit.models import AuditEvent
from award import selectors, services
from award.models import Publicity
from core.errors import DomainError, NotFound
from evaluation.models import EvaluationReport
from tests.award.conftest import DUE, FINAL, publish
from tests.evaluation.conftest import SHANGHAI


def test_the_due_date_is_the_end_of_the_third_day_after_the_report():
    assert selectors.due_after(FINAL, 3) == DUE
    assert selectors.due_label(DUE) == "2026-04-05 24:00"
    # Just before midnight still counts that day as the day of the event.
    late_evening = dt.datetime(2026, 4, 2, 23, 59, tzinfo=SHANGHAI)
    assert selectors.due_after(late_evening, 3) == DUE
    assert selectors.due_after(late_evening + dt.timedelta(minutes=1), 3) == DUE + dt.timedelta(
        days=1
    )


def test_the_agent_publishes_the_ranked_candidates_within_three_days(
    world, clock, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        publicity = publish(world, days=5)
    assert (publicity.late, publicity.due_at, publicity.report_final_at) == (False, DUE, FINAL)
    assert publicity.ends_at - publicity.starts_at == dt.timedelta(days=5)
    assert [
        (row["rank"], row["organisation_name"], row["price"], row["score"])
        for row in publicity.candidates
    ] == [
        (1, "浙江建工集团有限公司", "10850000.00", "99.26"),
        (2, "宁波远大建设有限公司", "11200000.00", "98.30"),
        (3, "温州华东建设有限公司", "10500000.00", "97.67"),
    ]
    assert (
        publicity.report_sha256
        == EvaluationReport.objects.get(evaluation__lot=world.lot, status="final").sha256
    )
    event = AuditEvent.objects.get(action="award.publicity.published")
    assert (event.actor_id, event.lot_id, event.data["late"]) == (
        world.people["alice"].pk,
        world.lot.pk,
        False,
    )
    assert [row["organisation_name"] for row in event.data["candidates"]][
        0
    ] == "浙江建工集团有限公司"
    # Every bidder of the lot is told, candidates or not (carol's bid was rejected), and the tenderer.
    for name in ("bob", "carol", "dave", "erin", "frank", "terry"):
        assert (
            world.people[name].notifications.filter(title__startswith="中标候选人公示").count() == 1
        ), name
    assert (
        not world.people["agnes"].notifications.filter(title__startswith="中标候选人公示").exists()
    )
    assert sorted(address for message in mail.outbox for address in message.to) == sorted(
        f"{name}@example.cn" for name in ("bob", "carol", "dave", "erin", "frank", "terry")
    )


def test_a_publication_after_three_days_is_accepted_and_recorded_as_late(world, clock):
    clock.move_to(DUE - dt.timedelta(minutes=1))
    assert selectors.award_state(world.lot).publicity_overdue is False
    clock.move_to(DUE)
    state = selectors.award_state(world.lot)
    assert (state.stage, state.publicity_due, state.publicity_overdue) == (
        selectors.Stage.WAITING,
        DUE,
        True,
    )
    [waiting] = selectors.agent_queue(user=world.people["alice"]).waiting
    assert (waiting.lot, waiting.due, waiting.overdue) == (world.lot, DUE, True)
    publicity = publish(world)
    assert publicity.late is True
    assert AuditEvent.objects.get(action="award.publicity.published").data["late"] is True
    assert selectors.agent_queue(user=world.people["alice"]).waiting == []


def test_a_publication_starting_after_the_due_date_is_late_even_if_published_on_time(world, clock):
    publicity = publish(world, starts_at=DUE + dt.timedelta(hours=9))
    assert publicity.late is True
    assert selectors.award_state(world.lot).stage == selectors.Stage.SCHEDULED


def test_the_window_must_last_at_least_three_days(world, clock):
    from django.utils import timezone

    now = timezone.now()
    with pytest.raises(DomainError) as short:
        services.publicity_publish(
            actor=world.people["alice"],
            lot=world.lot,
            ends_at=now + dt.timedelta(days=3) - dt.timedelta(minutes=1),
        )
    assert (short.value.code, short.value.field) == ("publicity.too_short", "ends_at")
    assert "2026-04-05 12:30" in short.value.message
    assert not Publicity.objects.exists()
    publicity = services.publicity_publish(
        actor=world.people["alice"], lot=world.lot, ends_at=now + dt.timedelta(days=3)
    )
    assert publicity.ends_at - publicity.starts_at == dt.timedelta(days=3)


def test_the_window_cannot_start_in_the_past(world, clock):
    from django.utils import timezone

    now = timezone.now()
    with pytest.raises(DomainError) as past:
        services.publicity_publish(
            actor=world.people["alice"],
            lot=world.lot,
            starts_at=now - dt.timedelta(hours=1),
            ends_at=now + dt.timedelta(days=4),
        )
    assert (past.value.code, past.value.field) == ("publicity.start_past", "starts_at")
    # The current minute, as a form sends it, means now.
    publicity = services.publicity_publish(
        actor=world.people["alice"],
        lot=world.lot,
        starts_at=now - dt.timedelta(seconds=30),
        ends_at=now + dt.timedelta(days=4),
    )
    assert publicity.starts_at == now


def test_only_the_lots_agent_publishes_and_only_once(world, clock):
    for name in ("agnes", "terry", "bob", "sam", "pat"):
        with pytest.raises(NotFound):
            services.publicity_publish(
                actor=world.people[name], lot=world.lot, ends_at=FINAL + dt.timedelta(days=5)
            )
    publish(world)
    with pytest.raises(DomainError) as again:
        publish(world)
    assert again.value.code == "award.already_published"
    assert AuditEvent.objects.filter(action="award.publicity.published").count() == 1


def test_nothing_is_published_before_the_report_is_final(world, clock):
    EvaluationReport.objects.filter(evaluation__lot=world.lot).update(status="signing")
    assert selectors.award_state(world.lot).stage == selectors.Stage.NO_REPORT
    with pytest.raises(DomainError) as early:
        publish(world)
    assert early.value.code == "award.no_final_report"


def test_the_portal_lists_current_and_past_publicities(world, clock, client):
    publicity = publish(world)
    page = client.get("/award/publicity/")
    assert page.status_code == 200 and "浙江建工集团有限公司" in page.content.decode()
    assert "浙江建工集团有限公司" not in client.get("/award/publicity/?tab=past").content.decode()
    detail = client.get(f"/award/publicity/{publicity.pk}/").content.decode()
    for text in (
        "中标候选人公示",
        "宁波远大建设有限公司",
        "11,200,000.00",
        "98.30",
        publicity.report_sha256,
    ):
        assert text in detail, text
    clock.move_to(publicity.ends_at)
    assert "浙江建工集团有限公司" in client.get("/award/publicity/?tab=past").content.decode()
    assert "浙江建工集团有限公司" not in client.get("/award/publicity/").content.decode()


def test_a_scheduled_publicity_shows_its_candidates_to_nobody_before_it_starts(world, clock, client):
    from django.utils import timezone

    start = timezone.now() + dt.timedelta(days=1)
    publicity = publish(world, starts_at=start)

    assert "浙江建工集团有限公司" not in client.get("/award/publicity/").content.decode()
    assert client.get(f"/award/publicity/{publicity.pk}/").status_code == 404
    clock.move_to(start)
    assert "浙江建工集团有限公司" in client.get("/award/publicity/").content.decode()
    assert client.get(f"/award/publicity/{publicity.pk}/").status_code == 200


def test_a_start_more_than_thirty_days_ahead_is_refused(world, clock):
    from django.utils import timezone

    with pytest.raises(DomainError) as refused:
        publish(world, starts_at=timezone.now() + dt.timedelta(days=31))

    assert refused.value.code == "publicity.start_far" and not Publicity.objects.exists()
