"""Experts' answers: the signed single-use link, the signed reply webhook, and no answer in time.

Each decline (or silence) is replaced automatically and the replacement is
notified in turn; the timed no-answer runs through the real database-backed
worker, so it survives restarts.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import signal

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connections
from django.test import Client
from django.urls import reverse
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from accounts.models import Notification
from audit.selectors import chain_verify
from experts import gateway, notifications, responses, services
from experts.models import Channel, DrawRequest, DrawStatus, OutboundMessage, SelectionStatus

from .draw_support import (
    AFTER_DEADLINE,
    T0,
    approved_request,
    make_experts,
)

SECRET = "inbound-test-secret"
RESPOND_BY = AFTER_DEADLINE + dt.timedelta(minutes=30)
EXPIRY_TASK = "experts.tasks.expire_due_selections"


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(T0, tick=False)
    return time_machine


@pytest.fixture(autouse=True)
def inbound_secret(settings):
    settings.EXPERT_GATEWAY_INBOUND_SECRET = SECRET


def run_draw(people, lot, items):
    request = approved_request(people, lot, items)
    return services.draw_run(actor=people["sam"], request=request, supervisor_number="7")


@pytest.fixture
def drawn(closed_lot, people, building, django_capture_on_commit_callbacks):
    """Five members and one reserve drawn from a pool of eight; every message sent."""
    make_experts(8, [building])
    with django_capture_on_commit_callbacks(execute=True):
        return run_draw(people, closed_lot, [(building, 5, 1)])


def members(request: DrawRequest):
    return list(
        request.selections.filter(status=SelectionStatus.NOTIFIED)
        .select_related("expert")
        .order_by("position")
    )


def link(selection) -> str:
    return reverse("experts:answer", kwargs={"token": notifications.answer_link_token(selection)})


def post_reply(client: Client, payload: dict, *, signature: str | None = None):
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    headers = {
        "X-Sunbid-Signature": signature
        if signature is not None
        else gateway.inbound_signature(body)
    }
    return client.post(
        reverse("experts:gateway_inbound"),
        data=body,
        content_type="application/json",
        headers=headers,
    )


# --- the signed link ------------------------------------------------------------------------------


def test_the_link_shows_the_invitation_and_changes_nothing(drawn, client, orgs):
    first = members(drawn)[0]

    response = client.get(link(first))

    assert response.status_code == 200
    page = response.content.decode()
    assert first.expert.name in page and "建筑工程施工" in page and "确认参加" in page
    for name in (
        orgs["tenderer"].name,
        orgs["agency"].name,
        drawn.lot.tender.project_name,
        drawn.lot.name,
    ):
        assert name not in page
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]
    first.refresh_from_db()
    assert first.status == SelectionStatus.NOTIFIED


def test_the_link_confirms_once_and_then_says_it_was_used(drawn, client):
    first = members(drawn)[0]

    confirmed = client.post(link(first), {"answer": "confirm"})
    again = client.post(link(first), {"answer": "decline"})
    shown = client.get(link(first))

    assert confirmed.status_code == 200 and "您已确认参加本次评标" in confirmed.content.decode()
    first.refresh_from_db()
    assert (first.status, first.response_channel) == (SelectionStatus.CONFIRMED, "link")
    assert again.status_code == 409
    assert "此链接已使用" in again.content.decode() and "answer.used" in again.content.decode()
    assert (
        "此链接已使用" in shown.content.decode()
        and "确认参加</button>" not in shown.content.decode()
    )
    first.refresh_from_db()
    assert first.status == SelectionStatus.CONFIRMED


def test_declining_by_link_notifies_the_reserve_in_its_place(
    drawn, client, django_capture_on_commit_callbacks
):
    first = members(drawn)[0]
    reserve = drawn.selections.get(status=SelectionStatus.RESERVE)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(link(first), {"answer": "decline"})

    assert response.status_code == 200
    first.refresh_from_db()
    reserve.refresh_from_db()
    assert first.status == SelectionStatus.DECLINED
    assert reserve.status == SelectionStatus.NOTIFIED
    assert reserve.respond_by == AFTER_DEADLINE + dt.timedelta(minutes=30)
    sent = reserve.messages.filter(sent_at__isnull=False)
    assert sorted(sent.values_list("channel", flat=True)) == sorted(
        [Channel.EMAIL, Channel.SMS, Channel.VOICE]
    )
    assert [message.to for message in mail.outbox] == [[reserve.expert.email]]


def test_a_tampered_link_is_not_found(drawn, client):
    first = members(drawn)[0]
    token = notifications.answer_link_token(first)
    forged = token[:-2] + ("xx" if not token.endswith("xx") else "yy")

    assert client.get(reverse("experts:answer", kwargs={"token": forged})).status_code == 404
    assert (
        client.post(
            reverse("experts:answer", kwargs={"token": first.token}), {"answer": "confirm"}
        ).status_code
        == 404
    )
    first.refresh_from_db()
    assert first.status == SelectionStatus.NOTIFIED


def test_a_reserve_that_was_never_told_has_no_working_link(drawn, client):
    reserve = drawn.selections.get(status=SelectionStatus.RESERVE)

    assert client.get(link(reserve)).status_code == 404


def test_an_answer_after_the_deadline_is_refused_with_a_clear_page(drawn, client, clock):
    first = members(drawn)[0]
    clock.move_to(RESPOND_BY + dt.timedelta(seconds=1), tick=False)

    shown = client.get(link(first))
    refused = client.post(link(first), {"answer": "confirm"})

    assert "此链接已过期" in shown.content.decode()
    assert refused.status_code == 409 and "answer.expired" in refused.content.decode()
    first.refresh_from_db()
    assert (
        first.status == SelectionStatus.NOTIFIED
    )  # the expiry sweep, not the late answer, decides


# --- the reply webhook ------------------------------------------------------------------------------


def test_a_signed_sms_reply_with_the_code_confirms(drawn, client):
    first = members(drawn)[0]

    response = post_reply(
        client, {"from": f"+86 {first.expert.mobile}", "text": f"1 {first.reply_code}"}
    )

    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "status": "confirmed",
        "reply": "阳光开标：已收到您的确认，请按时参加评标。",
    }
    first.refresh_from_db()
    assert (first.status, first.response_channel) == (SelectionStatus.CONFIRMED, "sms")


def test_a_full_width_sms_reply_declines_and_the_replacement_follows(
    drawn, client, django_capture_on_commit_callbacks
):
    first = members(drawn)[0]
    wide = "".join(chr(ord(ch) + 0xFEE0) for ch in first.reply_code)

    with django_capture_on_commit_callbacks(execute=True):
        response = post_reply(client, {"from": first.expert.mobile, "text": f"２　{wide}"})

    assert response.status_code == 200 and response.json()["status"] == "declined"
    first.refresh_from_db()
    assert first.status == SelectionStatus.DECLINED
    assert drawn.selections.filter(status=SelectionStatus.NOTIFIED).count() == 5


def test_a_key_pressed_during_the_call_answers_through_the_calls_reference(drawn, client):
    first = members(drawn)[0]
    call = first.messages.get(channel=Channel.VOICE)

    response = post_reply(
        client, {"from": first.expert.mobile, "text": "1", "reference": call.gateway_reference}
    )

    assert response.status_code == 200
    first.refresh_from_db()
    assert (first.status, first.response_channel) == (SelectionStatus.CONFIRMED, "voice")


def test_a_bad_signature_is_refused_with_a_stable_code_and_changes_nothing(drawn, client):
    first = members(drawn)[0]
    payload = {"from": first.expert.mobile, "text": f"1 {first.reply_code}"}

    forged = post_reply(client, payload, signature="sha256=" + "0" * 64)
    missing = post_reply(client, payload, signature="")

    for response in (forged, missing):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "gateway.signature"
    first.refresh_from_db()
    assert first.status == SelectionStatus.NOTIFIED


def test_without_a_configured_secret_no_reply_is_accepted(drawn, client, settings):
    first = members(drawn)[0]
    payload = {"from": first.expert.mobile, "text": f"1 {first.reply_code}"}
    body = json.dumps(payload).encode()
    signature = gateway.inbound_signature(body, secret="")
    settings.EXPERT_GATEWAY_INBOUND_SECRET = ""

    response = client.post(
        reverse("experts:gateway_inbound"),
        data=body,
        content_type="application/json",
        headers={"X-Sunbid-Signature": signature},
    )

    assert response.status_code == 403


def test_a_reply_from_another_number_is_refused(drawn, client):
    first, second = members(drawn)[:2]

    response = post_reply(client, {"from": second.expert.mobile, "text": f"1 {first.reply_code}"})

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "answer.no_match"
    first.refresh_from_db()
    assert first.status == SelectionStatus.NOTIFIED


def test_a_key_press_for_someone_elses_call_is_refused(drawn, client):
    first, second = members(drawn)[:2]
    call = first.messages.get(channel=Channel.VOICE)

    response = post_reply(
        client, {"from": second.expert.mobile, "text": "1", "reference": call.gateway_reference}
    )

    assert response.status_code == 404
    first.refresh_from_db()
    assert first.status == SelectionStatus.NOTIFIED


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"from": "13900000001", "text": "好的"}, 400, "answer.unrecognised"),
        ({"from": "13900000001", "text": "3 123456"}, 400, "answer.unrecognised"),
        (
            {"from": "13900000001", "text": "1"},
            400,
            "answer.unrecognised",
        ),  # a bare key needs a call reference
        ({"from": "13900000001"}, 400, "gateway.malformed"),
        ({"from": 13900000001, "text": "1 123456"}, 400, "gateway.malformed"),
        ({"from": "13900000001", "text": "1 000000"}, 404, "answer.no_match"),
    ],
)
def test_anything_else_answers_a_stable_error_code(drawn, client, payload, status, code):
    response = post_reply(client, payload)

    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert not drawn.selections.exclude(
        status__in=[SelectionStatus.NOTIFIED, SelectionStatus.RESERVE]
    ).exists()


def test_a_body_that_is_not_json_is_malformed(drawn, client):
    body = b"from=139&text=1"
    response = client.post(
        reverse("experts:gateway_inbound"),
        data=body,
        content_type="application/x-www-form-urlencoded",
        headers={"X-Sunbid-Signature": gateway.inbound_signature(body)},
    )

    assert response.status_code == 400 and response.json()["error"]["code"] == "gateway.malformed"


def test_a_reply_after_the_deadline_is_refused(drawn, client, clock):
    first = members(drawn)[0]
    clock.move_to(RESPOND_BY + dt.timedelta(minutes=1), tick=False)

    response = post_reply(client, {"from": first.expert.mobile, "text": f"2 {first.reply_code}"})

    assert response.status_code == 409 and response.json()["error"]["code"] == "answer.expired"
    first.refresh_from_db()
    assert first.status == SelectionStatus.NOTIFIED


def test_the_webhook_only_accepts_post(client, db):
    assert client.get(reverse("experts:gateway_inbound")).status_code == 405


# --- no answer in time -----------------------------------------------------------------------------


def test_the_sweep_does_nothing_before_the_deadline(drawn, clock):
    clock.move_to(RESPOND_BY - dt.timedelta(seconds=1), tick=False)

    assert responses.selections_expire_due() == []
    assert len(members(drawn)) == 5


def test_silence_until_the_deadline_counts_as_no_answer_and_is_replaced(
    drawn, clock, django_capture_on_commit_callbacks
):
    first, *others = members(drawn)
    reserve = drawn.selections.get(status=SelectionStatus.RESERVE)
    for selection in others:
        services.selection_confirm(selection=selection, channel="link")
    clock.move_to(RESPOND_BY, tick=False)

    with django_capture_on_commit_callbacks(execute=True):
        expired = responses.selections_expire_due()

    assert expired == [first.pk]
    first.refresh_from_db()
    reserve.refresh_from_db()
    assert (first.status, first.response_channel) == (SelectionStatus.NO_ANSWER, "timeout")
    assert reserve.status == SelectionStatus.NOTIFIED
    assert reserve.respond_by == RESPOND_BY + dt.timedelta(minutes=30)
    assert reserve.messages.filter(sent_at__isnull=False).count() == 3
    assert responses.selections_expire_due() == []  # idempotent
    assert chain_verify().ok


def test_exhaustion_on_replacement_alerts_the_agent_and_the_supervisors(
    closed_lot, people, building, client, django_capture_on_commit_callbacks
):
    pool = make_experts(5, [building])
    with django_capture_on_commit_callbacks(execute=True):
        request = run_draw(people, closed_lot, [(building, 5, 0)])
        first = members(request)[0]
        client.post(link(first), {"answer": "decline"})

    request.refresh_from_db()
    assert request.status == DrawStatus.EXHAUSTED
    for name in ("alice", "sam"):
        note = Notification.objects.get(
            recipient=people[name], title__startswith="专家抽取未能组成评标委员会"
        )
        assert all(expert.name not in note.body for expert in pool)


def test_every_member_confirming_completes_the_panel(drawn, client):
    for selection in members(drawn):
        assert client.post(link(selection), {"answer": "confirm"}).status_code == 200

    drawn.refresh_from_db()
    assert drawn.status == DrawStatus.COMPLETE


# --- the real worker -----------------------------------------------------------------------------


@pytest.fixture
def run_worker():
    """Run the real worker until nothing is ready, restoring the signal handlers it installs."""
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




@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("specialty_list")
def test_the_worker_turns_silence_into_no_answer_and_notifies_the_replacement(
    closed_lot, people, building, clock, run_worker
):
    make_experts(6, [building])
    request = run_draw(people, closed_lot, [(building, 5, 0)])  # committed: messages left on commit
    first, *others = members(request)
    for selection in others:
        services.selection_confirm(selection=selection, channel="sms")
    # The pending step is a committed row, not an in-process timer: it outlives any process.
    connections.close_all()
    jobs = DBTaskResult.objects.filter(task_path=EXPIRY_TASK)
    assert list(jobs.values_list("run_after", "status")) == [(RESPOND_BY, TaskResultStatus.READY)]

    clock.move_to(RESPOND_BY - dt.timedelta(minutes=1), tick=False)
    run_worker()
    first.refresh_from_db()
    assert first.status == SelectionStatus.NOTIFIED

    clock.move_to(RESPOND_BY + dt.timedelta(seconds=1), tick=False)
    run_worker()

    first.refresh_from_db()
    assert first.status == SelectionStatus.NO_ANSWER
    (replacement,) = members(request)
    assert replacement.position == 6  # the stream continued: no reserve was drawn
    assert replacement.respond_by == RESPOND_BY + dt.timedelta(minutes=30, seconds=1)
    assert replacement.messages.filter(sent_at__isnull=False).count() == 3
    done = jobs.get(run_after=RESPOND_BY)
    assert (done.status, done.return_value) == (TaskResultStatus.SUCCESSFUL, 1)
    # The replacement's own deadline has its own job.
    assert jobs.filter(run_after=replacement.respond_by, status=TaskResultStatus.READY).count() == 1

    clock.move_to(replacement.respond_by + dt.timedelta(seconds=1), tick=False)
    run_worker()
    replacement.refresh_from_db()
    request.refresh_from_db()
    assert replacement.status == SelectionStatus.NO_ANSWER
    assert request.status == DrawStatus.EXHAUSTED
    assert OutboundMessage.objects.filter(sent_at__isnull=True).count() == 0
    assert (
        Notification.objects.filter(
            recipient=people["alice"], title__startswith="专家抽取未能"
        ).count()
        == 1
    )
