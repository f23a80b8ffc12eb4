"""The room's WebSocket protocol v1, through the real ASGI application (origin check, session login)."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

from config.asgi import application
from opening import room_services
from opening.models import RoomEvent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

ORIGIN = (b"origin", b"http://127.0.0.1:8000")


def session_cookie(user) -> bytes:
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return f"{settings.SESSION_COOKIE_NAME}={store.session_key}".encode()


async def connect(user, lot, *, origin: tuple[bytes, bytes] = ORIGIN) -> WebsocketCommunicator:
    headers = [origin]
    if user is not None:
        headers.append((b"cookie", await sync_to_async(session_cookie)(user)))
    communicator = WebsocketCommunicator(application, f"/ws/opening/lots/{lot.pk}/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def receive(communicator: WebsocketCommunicator) -> dict:
    """The next message: one that ``ask`` passed over first, else the next off the socket."""
    passed = getattr(communicator, "passed_over", None)
    if passed:
        return passed.pop(0)
    return json.loads(await communicator.receive_from(timeout=5))


async def joined(user, lot, *, after: int = 0) -> tuple[WebsocketCommunicator, dict, list[dict]]:
    """Connect, resume after ``after``; the welcome and the backlog up to ``synced``."""
    communicator = await connect(user, lot)
    welcome = await receive(communicator)
    assert welcome["type"] == "welcome", welcome
    await communicator.send_json_to({"type": "resume", "after": after})
    backlog = []
    while True:
        message = await receive(communicator)
        if message["type"] == "synced":
            return communicator, welcome, backlog
        backlog.append(message)


async def ask(communicator: WebsocketCommunicator, message: dict) -> dict:
    """Send a message with a ref; its ack or error.

    Events may arrive before the ack (the relay delivers them beside the
    handler): they are kept for the next ``receive``, in order.
    """
    await communicator.send_json_to({**message, "ref": "r1"})
    passed: list[dict] = []
    while True:
        answer = json.loads(await communicator.receive_from(timeout=5))
        if answer.get("ref") == "r1" and answer["type"] in ("ack", "error"):
            communicator.passed_over = [*getattr(communicator, "passed_over", []), *passed]
            return answer
        passed.append(answer)


async def test_an_anonymous_client_is_refused_with_a_code(ceremony):
    communicator = await connect(None, ceremony.lot)
    error = await receive(communicator)
    assert error == {"type": "error", "ref": None, "code": "auth.required", "message": "请先登录。"}
    assert (await communicator.receive_output(timeout=5))["type"] == "websocket.close"


async def test_an_outsider_is_refused_at_the_socket(ceremony):
    communicator = await connect(ceremony.people["agnes"], ceremony.lot)
    error = await receive(communicator)
    assert error["code"] == "room.not_found"
    closed = await communicator.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4404}


async def test_a_foreign_origin_is_refused_before_the_handshake(ceremony):
    headers = [(b"origin", b"https://evil.example"), (b"cookie", await sync_to_async(session_cookie)(ceremony.people["alice"]))]
    communicator = WebsocketCommunicator(application, f"/ws/opening/lots/{ceremony.lot.pk}/", headers=headers)
    connected, _ = await communicator.connect()
    assert not connected


async def test_a_participant_gets_every_event_in_order_then_live_events(ceremony):
    await sync_to_async(ceremony.open)()
    host, welcome, backlog = await joined(ceremony.people["alice"], ceremony.lot)
    assert welcome["you"]["role"] == "host"
    assert [(m["seq"], m["kind"]) for m in backlog] == [(1, "scheduled"), (2, "opened")]

    answer = await ask(host, {"type": "chat", "text": "各位投标人请准备解密"})
    assert answer["type"] == "ack"
    live = await receive(host)
    assert (live["seq"], live["kind"], live["data"]["text"]) == (3, "chat", "各位投标人请准备解密")
    await host.disconnect()


async def test_a_client_that_reconnects_receives_what_it_missed_before_live_events(ceremony):
    await sync_to_async(ceremony.open)()
    bob, _, backlog = await joined(ceremony.people["bob"], ceremony.lot)
    last = backlog[-1]["seq"]
    await bob.disconnect()

    # While bob is away: carol decrypts, the host speaks.
    await sync_to_async(ceremony.decrypt)("carol")
    await sync_to_async(room_services.room_chat)(actor=ceremony.people["alice"], lot=ceremony.lot, text="继续")

    bob, _, missed = await joined(ceremony.people["bob"], ceremony.lot, after=last)
    assert [m["kind"] for m in missed] == ["decrypted", "chat"]
    assert [m["seq"] for m in missed] == [last + 1, last + 2]
    await sync_to_async(room_services.room_chat)(actor=ceremony.people["alice"], lot=ceremony.lot, text="现场")
    live = await receive(bob)
    assert live["seq"] == last + 3
    await bob.disconnect()


async def test_an_event_lost_on_the_channel_layer_is_fetched_from_the_database(ceremony):
    await sync_to_async(ceremony.open)()
    bob, _, backlog = await joined(ceremony.people["bob"], ceremony.lot)
    last = backlog[-1]["seq"]
    # Two events committed, but only the second one's broadcast reaches this process.
    await sync_to_async(room_services.room_chat)(actor=ceremony.people["alice"], lot=ceremony.lot, text="一")
    await receive(bob)  # the real broadcast of "一"
    event = await sync_to_async(
        lambda: RoomEvent.objects.create(
            room_id=ceremony.room().pk, seq=last + 2, kind="chat", text=json.dumps({"type": "event", "seq": last + 2}),
            created_at=ceremony.room().created_at, audit_seq=1,
        )
    )()
    third = json.dumps({"type": "event", "seq": last + 3})
    await get_channel_layer().group_send(f"room.{ceremony.lot.pk}", {"type": "room.event", "seq": last + 3, "text": third})
    got = [json.loads(await bob.receive_from(timeout=5)) for _ in range(2)]
    assert [m["seq"] for m in got] == [event.seq, last + 3]
    await bob.disconnect()


async def test_every_message_is_answered_and_a_bad_one_gets_its_error_code(ceremony):
    await sync_to_async(ceremony.open)()
    bob, _, _ = await joined(ceremony.people["bob"], ceremony.lot)
    await bob.send_to(text_data="{not json")
    assert (await receive(bob))["code"] == "request.invalid_json"
    assert (await ask(bob, {"type": "launch"}))["code"] == "room.unknown_message"
    assert (await ask(bob, {"type": "read_next"}))["code"] == "room.not_permitted"
    assert (await ask(bob, {"type": "chat", "text": ""}))["code"] == "room.text_required"
    assert (await ask(bob, {"type": "resume", "after": -1}))["code"] == "room.resume_invalid"
    await bob.send_json_to({"type": "ping", "ref": "p"})
    pong = await receive(bob)
    assert pong["type"] == "pong" and pong["ref"] == "p" and pong["last_seq"] >= 2
    await bob.disconnect()


async def test_a_bidder_cannot_confirm_for_another_bidder(ceremony):
    def to_confirming():
        ceremony.open()
        for name in ("bob", "carol", "dave"):
            ceremony.decrypt(name)
        ceremony.read_all()

    await sync_to_async(to_confirming)()
    bob, _, _ = await joined(ceremony.people["bob"], ceremony.lot)
    carols = await sync_to_async(ceremony.sign_confirmation)("carol")
    assert (await ask(bob, {"type": "confirm", "signature": carols}))["code"] == "room.signature_invalid"
    own = await sync_to_async(ceremony.sign_confirmation)("bob")
    answer = await ask(bob, {"type": "confirm", "signature": own})
    assert answer["type"] == "ack"
    await bob.disconnect()


async def test_an_event_of_another_process_reaches_the_client_by_the_poll(ceremony, settings, monkeypatch):
    """On the embedded default the task worker's events do not cross the in-memory layer: the poll brings them."""
    settings.OPENING_ROOM = {**settings.OPENING_ROOM, "POLL_SECONDS": 1}
    await sync_to_async(ceremony.open)()
    bob, _, backlog = await joined(ceremony.people["bob"], ceremony.lot)
    monkeypatch.setattr("opening.events.broadcast", lambda lot_id, seq, text: None)
    await sync_to_async(room_services.room_chat)(actor=ceremony.people["alice"], lot=ceremony.lot, text="另一进程")
    arrived = await receive(bob)
    assert (arrived["seq"], arrived["data"]["text"]) == (backlog[-1]["seq"] + 1, "另一进程")
    await bob.disconnect()
