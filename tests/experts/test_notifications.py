"""Notifying drawn experts: what each channel says, what it must never say, and when it leaves.

Messages are ``OutboundMessage`` rows written in the draw's transaction and
handed to the e-mail backend and the gateway only after commit; the tests
use the recording gateway (the default) and Django's locmem mail outbox.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from django.db import transaction
from django_tasks_db.models import DBTaskResult

from accounts.models import Notification
from experts import gateway, notifications, services
from experts.gateway import GatewayError, HttpGateway, RecordingGateway
from experts.models import Channel, DrawStatus, OutboundMessage, SelectionStatus
from tendering import services as tendering

from .draw_support import (
    AFTER_DEADLINE,
    T0,
    approved_request,
    close_bidding,
    make_experts,
)

EXPIRY_TASK = "experts.tasks.expire_due_selections"
SECRET = "inbound-test-secret"


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(T0, tick=False)
    return time_machine


@pytest.fixture
def closed_lot(lot, people, clock):
    """The conftest lot after bob's and carol's organisations obtained its documents and bidding closed."""
    for name in ("bob", "carol"):
        tendering.documents_obtain(actor=people[name], tender=lot.tender)
    close_bidding(clock)
    lot.refresh_from_db()
    return lot


@pytest.fixture
def experts(building):
    return make_experts(9, [building])


def run_draw(people, lot, items, **overrides):
    request = approved_request(people, lot, items, **overrides)
    return services.draw_run(actor=people["sam"], request=request, supervisor_number="20260401")


@pytest.fixture
def drawn(closed_lot, people, building, experts, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return run_draw(people, closed_lot, [(building, 5, 2)])


def forbidden_names(lot, orgs) -> list[str]:
    tender = lot.tender
    return [
        tender.tenderer.name,
        tender.agency.name,
        tender.project_name,
        tender.title,
        lot.name,
        orgs["bidder_a"].name,
        orgs["bidder_b"].name,
    ]


# --- what each channel carries ---------------------------------------------------------------------


def test_each_notified_expert_gets_an_email_an_sms_and_a_voice_call_and_reserves_get_nothing(drawn):
    members = list(
        drawn.selections.filter(status=SelectionStatus.NOTIFIED).select_related("expert")
    )
    reserves = list(drawn.selections.filter(status=SelectionStatus.RESERVE))

    assert len(members) == 5 and len(reserves) == 2
    for selection in members:
        channels = sorted(selection.messages.values_list("channel", "recipient"))
        assert channels == sorted(
            [
                (Channel.EMAIL, selection.expert.email),
                (Channel.SMS, selection.expert.mobile),
                (Channel.VOICE, selection.expert.mobile),
            ]
        )
    assert not OutboundMessage.objects.filter(selection__in=reserves).exists()
    assert sorted(message.to[0] for message in mail.outbox) == sorted(
        s.expert.email for s in members
    )


def test_the_recording_gateway_marks_every_message_sent_with_a_dev_reference(drawn):
    messages = list(OutboundMessage.objects.all())

    assert len(messages) == 15
    for message in messages:
        assert message.sent_at is not None
        assert message.error == ""
        if message.channel != Channel.EMAIL:
            assert message.gateway_reference == f"dev-{message.pk}"
        else:
            assert message.gateway_reference.startswith("<")


def test_an_expert_without_an_email_address_gets_the_sms_and_the_call(
    closed_lot, people, building, django_capture_on_commit_callbacks
):
    make_experts(5, [building], email="")
    with django_capture_on_commit_callbacks(execute=True):
        run_draw(people, closed_lot, [(building, 5, 0)])

    assert set(OutboundMessage.objects.values_list("channel", flat=True)) == {
        Channel.SMS,
        Channel.VOICE,
    }
    assert OutboundMessage.objects.count() == 10
    assert mail.outbox == []


def test_the_voice_script_gives_time_place_specialty_how_to_answer_and_the_deadline(drawn):
    selection = (
        drawn.selections.filter(status=SelectionStatus.NOTIFIED).select_related("expert").first()
    )
    script = selection.messages.get(channel=Channel.VOICE).body
    spelt_code = " ".join(selection.reply_code)

    assert script.startswith(f"{selection.expert.name}专家您好")
    # Evaluation on 2 April at 10:00, answer by 1 April 11:00 (the draw ran at 10:30 with 30 minutes).
    assert "评标时间：4月2日10点整" in script
    assert "评标地点：市公共资源交易中心第3评标室" in script
    assert "评标专业：建筑工程施工" in script
    assert "确认参加请按1，不能参加请按2" in script
    assert f"1 空格 {spelt_code} 表示确认" in script
    assert "请在4月1日11点整前答复" in script
    assert selection.respond_by == AFTER_DEADLINE + dt.timedelta(minutes=30)


def test_the_sms_and_the_email_carry_the_signed_single_use_link_and_the_reply_code(drawn, settings):
    selection = drawn.selections.filter(status=SelectionStatus.NOTIFIED).first()
    link = f"{settings.SITE_URL}/experts/draws/answer/{notifications.answer_link_token(selection)}/"
    sms = selection.messages.get(channel=Channel.SMS).body
    email = next(message for message in mail.outbox if message.to == [selection.expert.email])

    for text in (sms, email.body):
        assert link in text
        assert f"1 {selection.reply_code}" in text and f"2 {selection.reply_code}" in text
        assert "2026年4月2日 10:00" in text  # evaluation
        assert "2026年4月1日 11:00" in text  # answer deadline
    assert email.subject == "评标专家抽取通知：请于2026年4月1日 11:00前答复"
    # The link names the selection only through its signed random token.
    signed = link.rstrip("/").rsplit("/", 1)[1]
    assert notifications.answer_link_unsign(signed) == selection.token
    assert (
        notifications.answer_link_unsign(signed[:-1] + ("A" if signed[-1] != "A" else "B")) is None
    )


def test_no_message_names_the_tenderer_the_agency_the_project_or_any_bidder(
    drawn, closed_lot, orgs
):
    bodies = list(OutboundMessage.objects.values_list("body", flat=True))
    bodies += [message.subject + message.body for message in mail.outbox]

    assert len(bodies) == 20
    for name in forbidden_names(closed_lot, orgs):
        for body in bodies:
            assert name not in body


def test_a_place_that_names_the_tenderer_is_masked_in_every_message(
    closed_lot, people, building, experts, orgs, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run_draw(
            people,
            closed_lot,
            [(building, 5, 0)],
            evaluation_place="市第一人民医院行政楼三楼会议室",
        )

    voice = OutboundMessage.objects.filter(channel=Channel.VOICE).first().body
    assert "评标地点：〔名称已隐去〕行政楼三楼会议室" in voice
    for body in OutboundMessage.objects.values_list("body", flat=True):
        for name in forbidden_names(closed_lot, orgs):
            assert name not in body


def test_an_expert_with_a_platform_account_also_gets_an_in_app_message(
    closed_lot, people, building, orgs, django_capture_on_commit_callbacks
):
    others = make_experts(4, [building])
    (linked,) = make_experts(1, [building], user=people["eve"])
    # Five candidates for five places: everyone is a member.
    with django_capture_on_commit_callbacks(execute=True):
        request = run_draw(people, closed_lot, [(building, 5, 0)])

    assert request.selections.get(expert=linked).status == SelectionStatus.NOTIFIED
    note = Notification.objects.get(recipient=people["eve"])
    assert note.url == "/experts/draws/invitations/"
    assert "评标地点：市公共资源交易中心第3评标室" in note.body
    for name in forbidden_names(closed_lot, orgs) + [expert.name for expert in others]:
        assert name not in note.title + note.body


# --- only after commit ---------------------------------------------------------------------------------


def test_nothing_leaves_before_the_draw_commits(
    closed_lot, people, building, experts, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run_draw(people, closed_lot, [(building, 5, 0)])

    assert OutboundMessage.objects.count() == 15
    assert not OutboundMessage.objects.filter(sent_at__isnull=False).exists()
    assert mail.outbox == []

    for callback in callbacks:
        callback()

    assert not OutboundMessage.objects.filter(sent_at__isnull=True).exists()
    assert len(mail.outbox) == 5


def test_a_draw_that_rolls_back_leaves_no_message_and_no_expiry_job(
    closed_lot, people, building, experts, django_capture_on_commit_callbacks
):
    request = approved_request(people, closed_lot, [(building, 5, 0)])
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.draw_run(actor=people["sam"], request=request, supervisor_number="1")
        assert OutboundMessage.objects.count() == 15
        raise RuntimeError("the surrounding work failed")

    assert callbacks == []
    assert not OutboundMessage.objects.exists()
    assert not DBTaskResult.objects.filter(task_path=EXPIRY_TASK).exists()
    assert mail.outbox == []


def test_the_expiry_job_is_queued_at_the_answer_deadline_in_the_draws_transaction(drawn):
    respond_by = drawn.selections.filter(status=SelectionStatus.NOTIFIED).values_list(
        "respond_by", flat=True
    )

    assert set(respond_by) == {AFTER_DEADLINE + dt.timedelta(minutes=30)}
    assert list(
        DBTaskResult.objects.filter(task_path=EXPIRY_TASK).values_list("run_after", flat=True)
    ) == [AFTER_DEADLINE + dt.timedelta(minutes=30)]


class FailingGateway:
    def send_sms(self, to, text, *, message_id=None):
        raise GatewayError("HTTP 503: gateway down")

    def place_call(self, to, script, *, message_id=None):
        raise GatewayError("TimeoutError: timed out")


def test_a_gateway_failure_is_recorded_and_never_undoes_the_draw(
    closed_lot, people, building, experts, settings, django_capture_on_commit_callbacks
):
    settings.EXPERT_GATEWAY = "tests.experts.test_notifications.FailingGateway"
    with django_capture_on_commit_callbacks(execute=True):
        request = run_draw(people, closed_lot, [(building, 5, 0)])

    request.refresh_from_db()
    assert request.status == DrawStatus.NOTIFYING
    failed = OutboundMessage.objects.exclude(channel=Channel.EMAIL)
    assert failed.count() == 10
    assert set(failed.values_list("sent_at", flat=True)) == {None}
    assert set(failed.values_list("error", flat=True)) == {
        "HTTP 503: gateway down",
        "TimeoutError: timed out",
    }
    # E-mail goes through Django's backend, independently of the gateway.
    assert len(mail.outbox) == 5


def test_sending_again_sends_nothing_twice(drawn):
    ids = list(OutboundMessage.objects.values_list("pk", flat=True))

    notifications.messages_dispatch(ids)

    assert len(mail.outbox) == 5


# --- the panel cannot be filled ------------------------------------------------------------------------


def test_exhaustion_alerts_the_agent_and_every_supervisor_without_naming_experts(
    closed_lot, people, building, django_capture_on_commit_callbacks
):
    few = make_experts(3, [building])
    with django_capture_on_commit_callbacks(execute=True):
        request = run_draw(people, closed_lot, [(building, 5, 0)])

    assert request.status == DrawStatus.EXHAUSTED
    assert not OutboundMessage.objects.exists()
    for name, url in (
        ("alice", f"/experts/draws/{request.pk}/"),
        ("sam", f"/experts/draws/{request.pk}/watch/"),
    ):
        note = Notification.objects.get(recipient=people[name])
        assert note.title.startswith("专家抽取未能组成评标委员会")
        assert "“建筑工程施工”专业符合回避规则的专家不足5人" in note.body
        assert note.url == url
        for expert in few:
            assert expert.name not in note.title + note.body
    assert not Notification.objects.filter(
        recipient__in=[people["terry"], people["bob"], people["eve"]]
    ).exists()
    assert sorted(message.to[0] for message in mail.outbox) == [
        "alice@example.cn",
        "sam@example.cn",
    ]


# --- the gateways -------------------------------------------------------------------------------------


def test_the_recording_gateway_records_a_message_sent_outside_a_draw(db):
    reference = RecordingGateway().send_sms("13900000000", "测试短信")

    message = OutboundMessage.objects.get()
    assert reference == f"dev-{message.pk}" == message.gateway_reference
    assert (message.channel, message.recipient, message.body) == (
        Channel.SMS,
        "13900000000",
        "测试短信",
    )
    assert message.sent_at == T0


class _Provider(BaseHTTPRequestHandler):
    """A fake SMS/voice provider answering as docs/expert-notifications.md says."""

    received: list[tuple[str, dict[str, str], dict]] = []
    status = 200
    answer: bytes = b'{"reference": "gw-42"}'

    def do_POST(self):  # noqa: N802 (the http.server API)
        length = int(self.headers["Content-Length"])
        type(self).received.append(
            (self.path, dict(self.headers), json.loads(self.rfile.read(length)))
        )
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(type(self).answer)

    def log_message(self, *args):
        pass


@pytest.fixture
def provider():
    _Provider.received = []
    _Provider.status = 200
    _Provider.answer = b'{"reference": "gw-42"}'
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Provider)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield _Provider, f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_the_http_gateway_posts_json_with_the_bearer_token_and_returns_the_reference(provider):
    handler, url = provider
    client = HttpGateway(base_url=url, token="tok-123", timeout=5)

    assert client.send_sms("13900000001", "短信内容", message_id=7) == "gw-42"
    assert client.place_call("13900000001", "语音内容", message_id=8) == "gw-42"

    (sms_path, sms_headers, sms), (call_path, _headers, call) = handler.received
    assert sms_path == "/v1/sms" and call_path == "/v1/calls"
    assert sms_headers["Authorization"] == "Bearer tok-123"
    assert sms == {"to": "13900000001", "text": "短信内容", "client_reference": "sunbid-7"}
    assert call == {
        "to": "13900000001",
        "script": "语音内容",
        "language": "zh-CN",
        "keys": ["1", "2"],
        "client_reference": "sunbid-8",
    }


@pytest.mark.parametrize(
    ("status", "answer", "error"),
    [
        (503, b'{"error": "busy"}', "HTTP 503"),
        (200, b"not json", "unexpected answer"),
        (200, b'{"reference": ""}', "unexpected answer"),
    ],
)
def test_the_http_gateway_turns_every_refusal_into_a_gateway_error(provider, status, answer, error):
    handler, url = provider
    handler.status, handler.answer = status, answer

    with pytest.raises(GatewayError, match=error):
        HttpGateway(base_url=url, token="tok", timeout=5).send_sms("13900000001", "x")


def test_the_http_gateway_reports_an_unreachable_provider(db):
    with pytest.raises(GatewayError):
        HttpGateway(base_url="http://127.0.0.1:9", token="tok", timeout=1).send_sms(
            "13900000001", "x"
        )


def test_the_inbound_signature_is_hmac_sha256_over_the_raw_body(settings):
    settings.EXPERT_GATEWAY_INBOUND_SECRET = SECRET
    body = b'{"from":"13900000001","text":"1 123456"}'
    good = gateway.inbound_signature(body)

    assert good.startswith("sha256=") and len(good) == len("sha256=") + 64
    assert gateway.inbound_signature_valid(body, good)
    assert not gateway.inbound_signature_valid(body + b" ", good)
    assert not gateway.inbound_signature_valid(body, "")
    settings.EXPERT_GATEWAY_INBOUND_SECRET = ""
    assert not gateway.inbound_signature_valid(body, good)
