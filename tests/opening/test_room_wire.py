"""Live events framed once per process and written straight to Daphne's connections (opening/wire.py)."""

from __future__ import annotations

import functools
import json

import pytest
from asgiref.sync import sync_to_async
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from channels.testing import WebsocketCommunicator
from daphne.server import Server
from twisted.internet.testing import StringTransport

from config.asgi import application
from opening import room_services, wire
from tests.opening.test_room_consumer import ORIGIN, ask, receive, session_cookie


def open_protocol(factory: WebSocketServerFactory | None = None) -> tuple[WebSocketServerProtocol, StringTransport]:
    """An Autobahn server connection past its handshake, writing to a string."""
    protocol = WebSocketServerProtocol()
    protocol.factory = factory or WebSocketServerFactory()
    transport = StringTransport()
    protocol.makeConnection(transport)
    protocol.state = protocol.STATE_OPEN
    protocol._perMessageCompress = None
    transport.clear()
    return protocol, transport


def daphne_server() -> Server:
    """A Daphne server object, never started: its handle_reply is what Daphne binds into ``send``."""
    return Server(application=None, endpoints=["tcp:port=0:interface=127.0.0.1"])


def text_frame(payload: bytes) -> bytes:
    assert len(payload) < 126
    return bytes([0x81, len(payload)]) + payload


def test_daphnes_send_callable_leads_to_its_protocol():
    protocol, _ = open_protocol()
    server = daphne_server()

    assert wire.daphne_protocol(functools.partial(server.handle_reply, protocol)) is protocol


@pytest.mark.parametrize(
    "send",
    [
        pytest.param(lambda message: None, id="a plain callable"),
        pytest.param(functools.partial(print, "x"), id="a partial of something else"),
        pytest.param(functools.partial(daphne_server().handle_reply, object()), id="no protocol"),
    ],
)
def test_any_other_send_callable_leads_nowhere(send):
    assert wire.daphne_protocol(send) is None


def test_an_event_is_framed_once_and_the_same_bytes_go_to_every_connection():
    factory = WebSocketServerFactory()
    connections = [open_protocol(factory) for _ in range(3)]
    frames = wire.Frames('{"kind":"chat","text":"\\u5927\\u5bb6\\u597d"}')

    assert all(frames.write(protocol) for protocol, _ in connections)

    expected = text_frame(frames.payload)
    assert [transport.value() for _, transport in connections] == [expected] * 3
    assert len(frames._prepared) == 1


def test_a_connection_that_is_not_open_is_not_written_to():
    protocol, transport = open_protocol()
    protocol.state = protocol.STATE_CLOSING

    assert wire.Frames("{}").write(protocol) is False
    assert transport.value() == b""


class WireInScope:
    """Puts a protocol in the scope as WireCapture does under Daphne."""

    def __init__(self, app, protocol) -> None:
        self.app, self.protocol = app, protocol

    async def __call__(self, scope, receive, send):
        await self.app({**scope, wire.SCOPE_KEY: self.protocol}, receive, send)


def frames_written(transport: StringTransport) -> list[dict]:
    """The text frames on the wire (each under 64 KiB, unmasked, as a server writes them)."""
    data, messages = transport.value(), []
    while data:
        size, start = data[1] & 0x7F, 2
        if size == 126:
            size, start = int.from_bytes(data[2:4], "big"), 4
        messages.append(json.loads(data[start : start + size]))
        data = data[start + size :]
    return messages


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_under_daphne_a_synced_client_gets_live_events_on_the_wire_in_order(ceremony):
    await sync_to_async(ceremony.open)()
    protocol, transport = open_protocol()
    cookie = await sync_to_async(session_cookie)(ceremony.people["bob"])
    socket = WebsocketCommunicator(
        WireInScope(application, protocol), f"/ws/opening/lots/{ceremony.lot.pk}/", headers=[ORIGIN, (b"cookie", cookie)]
    )
    assert (await socket.connect())[0]
    assert (await receive(socket))["type"] == "welcome"
    await socket.send_json_to({"type": "resume", "after": 0})
    while (await receive(socket))["type"] != "synced":
        pass

    for text in ("第一条", "第二条"):
        await sync_to_async(room_services.room_chat)(actor=ceremony.people["alice"], lot=ceremony.lot, text=text)
    answer = await ask(socket, {"type": "chat", "text": "第三条"})

    assert answer["type"] == "ack"
    for _ in range(100):
        chats = [m["data"]["text"] for m in frames_written(transport) if m.get("kind") == "chat"]
        if len(chats) == 3:
            break
        await socket.receive_nothing(timeout=0.02)
    assert chats == ["第一条", "第二条", "第三条"]
    seqs = [m["seq"] for m in frames_written(transport)]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
    await socket.disconnect()
