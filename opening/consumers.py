"""The opening room's WebSocket consumer: protocol v1 (docs/opening-room.md).

Thin: the origin check and the session login happen in the ASGI middleware
(``config.asgi``); each client message is parsed and validated here and
handed to one service of ``opening.room_services``, which checks the
sender's part in the room, the stage and the clock. Every message with a
``ref`` gets an ``ack`` or an ``error`` with a stable code.

Delivery: the consumer joins the room's relay (``opening.relay``: the
process's one member of the room's group) before it reads the backlog,
holds live events back until the client's ``resume`` has been answered from
the database, and then forwards each event exactly once, in ``seq`` order —
fetching from the database any event that a channel layer lost or delivered
out of order. The event texts are forwarded as stored, never re-encoded.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from audit import context as audit_context
from core.errors import DomainError, NotFound
from opening import events, relay, room_selectors, room_services, wire
from opening.models import Room

MAX_MESSAGE_BYTES = 16 * 1024
HELD_LIMIT = 1000
MAX_REF = 64
# A client may send bursts (a reconnect's resume, a few clicks) but not a flood.
RATE_BURST = 20
RATE_PER_SECOND = 5.0

CLOSE_NOT_AUTHENTICATED = 4401
CLOSE_NOT_PARTICIPANT = 4404

Handler = Callable[["RoomConsumer", dict[str, Any]], Awaitable[dict[str, Any] | None]]


def _client_address(scope: dict[str, Any]) -> tuple[str | None, str]:
    client = scope.get("client") or (None, None)
    agent = ""
    for name, value in scope.get("headers") or ():
        if name == b"user-agent":
            agent = value.decode("latin-1")[:300]
    return client[0], agent


class RoomConsumer(AsyncWebsocketConsumer):
    """One participant's connection to one lot's room."""

    lot_id: int
    user: User
    room_id: int
    sent_seq: int
    synced: bool
    held: deque[tuple[int, str]]

    async def connect(self) -> None:
        self.lot_id = int(self.scope["url_route"]["kwargs"]["lot_id"])
        self.user = self.scope.get("user")
        self.sent_seq = 0
        self.synced = False
        # Live events that arrive before the client's resume is answered. Bounded: anything
        # dropped here is in the database, and the gap check fetches it.
        self.held = deque(maxlen=HELD_LIMIT)
        # One delivery at a time: the poll runs beside the message handlers.
        self.delivery = asyncio.Lock()
        self.poller: asyncio.Task[None] | None = None
        self.tokens = float(RATE_BURST)
        self.last_refill = time.monotonic()
        # Daphne's connection, for live events framed once per process (opening/wire.py); None elsewhere.
        self.wire = self.scope.get(wire.SCOPE_KEY)
        ip, agent = _client_address(self.scope)
        self.audit_ctx = audit_context.AuditContext(ip=ip, user_agent=agent)
        if self.user is None or not self.user.is_authenticated:
            await self._refuse("auth.required", _("请先登录。"), CLOSE_NOT_AUTHENTICATED)
            return
        try:
            welcome = await self._welcome()
        except NotFound as error:
            await self._refuse(error.code, error.message, CLOSE_NOT_PARTICIPANT)
            return
        # Join before anything is read from the database, so no event can fall between
        # the backlog and the live stream; live events are held until the backlog is sent.
        # The process's relay is the room's group member and hands events to this consumer.
        await relay.relay_join(self.lot_id, self)
        self.joined = True
        await self.accept()
        await self.send(text_data=events.dumps(welcome))

    async def _refuse(self, code: str, message: str, close_code: int) -> None:
        await self.accept()
        await self.send(text_data=events.dumps({"type": "error", "ref": None, "code": code, "message": message}))
        await self.close(code=close_code)

    @database_sync_to_async
    def _welcome(self) -> dict[str, Any]:
        seat = room_selectors.room_for_participant(user=self.user, lot_id=self.lot_id)
        with audit_context.bind(self.audit_ctx):
            room = seat.room or room_services.room_ensure(lot=seat.lot)
        self.room_id = room.pk
        organisation = seat.organisation
        return {
            "type": "welcome",
            "lot": self.lot_id,
            "you": {
                "user": self.user.pk,
                "name": self.user.display_name,
                "organisation": organisation.pk if organisation else None,
                "organisation_name": organisation.name if organisation else "",
                "role": seat.role,
                "bid": str(seat.bid.pk) if seat.bid else None,
                "can_pause": seat.can_pause,
                "signed_in": room_selectors.signed_in(room=room, user=self.user),
            },
            "server_time": events.iso(timezone.now()),
            "last_seq": Room.objects.filter(pk=room.pk).values_list("last_seq", flat=True).get(),
        }

    async def disconnect(self, code: int) -> None:
        poller = getattr(self, "poller", None)
        if poller is not None:
            poller.cancel()
        if getattr(self, "joined", False):
            await relay.relay_leave(self.lot_id, self)

    # --- delivery ---------------------------------------------------------------------------

    @database_sync_to_async
    def _backlog(self, after: int, until: int | None = None) -> list[tuple[int, str]]:
        return list(room_selectors.room_events_after(room_id=self.room_id, after=after, until=until))

    @database_sync_to_async
    def _last_seq(self) -> int:
        return Room.objects.filter(pk=self.room_id).values_list("last_seq", flat=True).get()

    async def _send_in_order(self, rows: list[tuple[int, str]]) -> None:
        for seq, text in rows:
            if seq == self.sent_seq + 1:
                await self.send(text_data=text)
                self.sent_seq = seq

    async def _deliver(self, seq: int, text: str) -> None:
        if seq <= self.sent_seq:
            return
        if seq > self.sent_seq + 1:
            # Lost or overtaken on the channel layer: the database has every committed event.
            await self._send_in_order(await self._backlog(self.sent_seq, seq - 1))
        if seq == self.sent_seq + 1:
            await self.send(text_data=text)
            self.sent_seq = seq

    async def room_event(self, message: dict[str, Any], frames: wire.Frames | None = None) -> None:
        """A live event from the channel layer (``events.broadcast``), handed over by the process's relay.

        Returns without suspending when the event is the next one and no other
        delivery is running, so the relay can serve every socket in one pass;
        under Daphne the relay's ``frames`` (the event framed once for the
        process) are written to the connection directly.
        """
        seq, text = int(message["seq"]), str(message["text"])
        if not self.synced:
            self.held.append((seq, text))
            return
        if frames is not None and self.wire is not None and seq == self.sent_seq + 1 and not self.delivery.locked():
            # Nothing is awaited between the checks and the write: no other delivery can interleave.
            if frames.write(self.wire):
                self.sent_seq = seq
            return
        async with self.delivery:
            await self._deliver(seq, text)

    async def _catch_up(self) -> int:
        """Send whatever the database has beyond what this client has; the room's last seq."""
        last = await self._last_seq()
        if self.synced and last > self.sent_seq:
            async with self.delivery:
                await self._send_in_order(await self._backlog(self.sent_seq, last))
        return last

    async def _poll(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            await self._catch_up()

    # --- client messages -------------------------------------------------------------------

    def _allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(float(RATE_BURST), self.tokens + (now - self.last_refill) * RATE_PER_SECOND)
        self.last_refill = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    async def _error(self, ref: str | None, code: str, message: str, **extra: Any) -> None:
        await self.send(
            text_data=events.dumps({"type": "error", "ref": ref, "code": code, "message": message, **extra})
        )

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None or len(text_data.encode("utf-8")) > MAX_MESSAGE_BYTES:
            await self._error(None, "request.invalid", _("消息格式无效或过长。"))
            return
        try:
            message = json.loads(text_data)
        except json.JSONDecodeError:
            await self._error(None, "request.invalid_json", _("请求内容不是有效的 JSON。"))
            return
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self._error(None, "request.invalid", _("消息格式无效或过长。"))
            return
        ref = message.get("ref")
        if ref is not None and (not isinstance(ref, str) or len(ref) > MAX_REF):
            await self._error(None, "request.invalid_ref", _("消息编号无效。"))
            return
        if not self._allow():
            await self._error(ref, "room.too_many_messages", _("操作过于频繁，请稍后再试。"))
            return
        handler = HANDLERS.get(message["type"])
        if handler is None:
            await self._error(ref, "room.unknown_message", _("不支持的消息类型。"))
            return
        try:
            result = await handler(self, message)
        except DomainError as error:
            await self._error(ref, error.code, error.message, **({"field": error.field} if error.field else {}))
            return
        if result is not None:
            await self.send(text_data=events.dumps({"type": "ack", "ref": ref, "result": result}))

    async def _call(self, service: Callable[..., Any], **kwargs: Any) -> Any:
        """Run one service as this user, with this connection's address in the audit context."""

        def run() -> Any:
            lot = room_selectors.room_for_participant(user=self.user, lot_id=self.lot_id).lot
            with audit_context.bind(self.audit_ctx):
                return service(actor=self.user, lot=lot, **kwargs)

        return await database_sync_to_async(run)()

    # --- handlers (one service each) -------------------------------------------------------

    async def on_resume(self, message: dict[str, Any]) -> dict[str, Any] | None:
        after = message.get("after", 0)
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            raise DomainError("room.resume_invalid", _("续传位置无效。"))
        async with self.delivery:
            if self.synced:
                # A client that noticed a gap asks again: send what it lacks from the database.
                await self._send_in_order(await self._backlog(self.sent_seq))
            else:
                self.sent_seq = min(after, await self._last_seq())
                await self._send_in_order(await self._backlog(self.sent_seq))
                held, self.held = sorted(self.held), deque(maxlen=HELD_LIMIT)
                self.synced = True
                for seq, text in held:
                    await self._deliver(seq, text)
                every = settings.OPENING_ROOM["POLL_SECONDS"]
                if every:
                    self.poller = asyncio.create_task(self._poll(every))
        await self.send(
            text_data=events.dumps(
                {"type": "synced", "last_seq": self.sent_seq, "server_time": events.iso(timezone.now())}
            )
        )
        return None

    async def on_ping(self, message: dict[str, Any]) -> dict[str, Any] | None:
        last = await self._catch_up()
        await self.send(
            text_data=events.dumps(
                {
                    "type": "pong",
                    "ref": message.get("ref"),
                    "server_time": events.iso(timezone.now()),
                    "last_seq": last,
                }
            )
        )
        return None

    async def on_sign_in(self, message: dict[str, Any]) -> dict[str, Any]:
        attendance = await self._call(room_services.room_sign_in)
        return {"signed_in_at": events.iso(attendance.signed_in_at)}

    async def on_chat(self, message: dict[str, Any]) -> dict[str, Any]:
        event = await self._call(room_services.room_chat, text=message.get("text"))
        return {"seq": event.seq}

    async def on_objection(self, message: dict[str, Any]) -> dict[str, Any]:
        objection = await self._call(room_services.room_object, text=message.get("text"))
        return {"objection": objection.pk}

    async def on_answer(self, message: dict[str, Any]) -> dict[str, Any]:
        objection = await self._call(
            room_services.room_answer, objection_id=message.get("objection"), text=message.get("text")
        )
        return {"objection": objection.pk}

    async def on_record_cause(self, message: dict[str, Any]) -> dict[str, Any]:
        entry = await self._call(
            room_services.room_record_cause,
            bid_id=message.get("bid"),
            cause=message.get("cause"),
            note=message.get("note", ""),
        )
        return {"bid": str(entry.bid_id), "outcome": entry.outcome}

    async def on_read_next(self, message: dict[str, Any]) -> dict[str, Any]:
        entry = await self._call(room_services.room_read_next)
        return {"bid": str(entry.bid_id) if entry else None}

    async def on_confirm(self, message: dict[str, Any]) -> dict[str, Any]:
        entry = await self._call(room_services.room_confirm, signature=message.get("signature"))
        return {"confirmed_at": events.iso(entry.confirmed_at)}

    async def on_close(self, message: dict[str, Any]) -> dict[str, Any]:
        room = await self._call(room_services.room_close)
        return {"record_sha256": room.record_sha256}

    async def on_pause(self, message: dict[str, Any]) -> dict[str, Any]:
        pause = await self._call(room_services.room_pause, reason=message.get("reason"))
        return {"paused_at": events.iso(pause.paused_at)}

    async def on_unpause(self, message: dict[str, Any]) -> dict[str, Any]:
        pause = await self._call(room_services.room_unpause, reason=message.get("reason"))
        return {"resumed_at": events.iso(pause.resumed_at)}


HANDLERS: dict[str, Handler] = {
    "resume": RoomConsumer.on_resume,
    "ping": RoomConsumer.on_ping,
    "sign_in": RoomConsumer.on_sign_in,
    "chat": RoomConsumer.on_chat,
    "objection": RoomConsumer.on_objection,
    "answer": RoomConsumer.on_answer,
    "record_cause": RoomConsumer.on_record_cause,
    "read_next": RoomConsumer.on_read_next,
    "confirm": RoomConsumer.on_confirm,
    "close": RoomConsumer.on_close,
    "pause": RoomConsumer.on_pause,
    "unpause": RoomConsumer.on_unpause,
}
