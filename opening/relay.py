"""One channel-layer subscription per room and process, fanned out to the process's sockets.

With every socket in the room's group, one event costs the channel layer N
messages (the Redis core layer: N pushes, N pops, N wake-ups) and each
consumer a trip through its own receive loop. A room of 2,000 bidders
spread over a few server processes needs only one message per process: the
relay is the process's one member of the room's group, and it hands each
event to the process's consumers of that room directly (docs/realtime.md).

Order and completeness still come from the consumer, never from the relay:
an event is passed to ``RoomConsumer.room_event``, which holds it until the
client is synced, fetches any gap from the database and sends each seq
once, in order. A consumer that is busy (mid gap-fetch, not yet synced
behind a lock) is served by a task of its own, so one slow socket never
holds up the others.

State is per event loop: a test's event loop (or a restarted server) starts
with no relays, and a relay's tasks never outlive the loop they run on.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any, Protocol

from channels.layers import BaseChannelLayer, get_channel_layer

from opening import events, wire

logger = logging.getLogger(__name__)

# A broken channel layer is retried with this back-off, up to the cap (seconds).
RETRY_FIRST = 0.5
RETRY_CAP = 10.0


class RoomSocket(Protocol):
    """What the relay needs of a consumer (``opening.consumers.RoomConsumer``)."""

    synced: bool
    sent_seq: int
    delivery: asyncio.Lock

    async def room_event(self, message: dict[str, Any], frames: wire.Frames | None = None) -> None: ...


class RoomRelay:
    """The process's member of one room's group; started by the first socket, stopped by the last."""

    def __init__(self, layer: BaseChannelLayer, lot_id: int) -> None:
        self.layer = layer
        self.lot_id = lot_id
        self.group = events.room_group(lot_id)
        self.sockets: set[RoomSocket] = set()
        self.channel: str | None = None
        self.task: asyncio.Task[None] | None = None
        self.side_tasks: set[asyncio.Task[None]] = set()
        # Held while the group membership changes, so a socket joining while the
        # last one leaves never ends up attached to a relay that is stopping.
        self.lock = asyncio.Lock()
        # Re-add the channel to the group before the layer forgets it (core layer's group_expiry).
        expiry = getattr(layer, "group_expiry", None)
        self.refresh_every = max(60.0, min(float(expiry) / 3, 3600.0)) if expiry else None

    async def join(self, socket: RoomSocket) -> None:
        """Attach ``socket``; when this returns, every event sent to the group from now on reaches it."""
        async with self.lock:
            if self.task is None:
                # The default prefix: the Redis core layer pops one process-wide queue for
                # all of a process's channels, keyed by that prefix; another would never be read.
                self.channel = await self.layer.new_channel()
                await self.layer.group_add(self.group, self.channel)
                self.task = asyncio.create_task(self._run(self.channel), name=f"room-relay-{self.lot_id}")
            self.sockets.add(socket)

    async def leave(self, socket: RoomSocket) -> bool:
        """Detach ``socket``; True when it was the last one and the relay has stopped."""
        async with self.lock:
            self.sockets.discard(socket)
            if self.sockets or self.task is None:
                return False
            task, channel = self.task, self.channel
            self.task = self.channel = None
            task.cancel()
            try:
                await self.layer.group_discard(self.group, channel)
            except Exception:  # noqa: BLE001 - the membership expires by itself
                logger.warning("room %s: leaving the group failed", self.lot_id, exc_info=True)
            return True

    async def _run(self, channel: str) -> None:
        loop = asyncio.get_running_loop()
        refreshed = loop.time()
        delay = RETRY_FIRST
        while True:
            try:
                message = await self.layer.receive(channel)
                delay = RETRY_FIRST
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - sockets catch up from the database meanwhile
                logger.warning("room %s: relay receive failed; retrying in %.1fs", self.lot_id, delay, exc_info=True)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_CAP)
                continue
            if message.get("type") == events.EVENT_MESSAGE_TYPE:
                await self._fan_out(message)
            if self.refresh_every is not None and loop.time() - refreshed > self.refresh_every:
                refreshed = loop.time()
                try:
                    await self.layer.group_add(self.group, channel)
                except Exception:  # noqa: BLE001 - tried again after the next event
                    logger.warning("room %s: refreshing the group failed", self.lot_id, exc_info=True)

    async def _fan_out(self, message: dict[str, Any]) -> None:
        seq = int(message["seq"])
        frames = wire.Frames(str(message["text"]))  # framed on first use, once for all of them
        for socket in list(self.sockets):
            if socket.synced and (socket.delivery.locked() or seq != socket.sent_seq + 1):
                # Busy or behind: it may wait on the database; don't make the others wait.
                task = asyncio.create_task(socket.room_event(message))
                self.side_tasks.add(task)
                task.add_done_callback(self.side_tasks.discard)
                continue
            try:
                await socket.room_event(message, frames)
            except Exception:  # noqa: BLE001 - one closed socket must not stop the fan-out
                logger.debug("room %s: delivery to a socket failed", self.lot_id, exc_info=True)


_relays: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[int, int], RoomRelay]] = (
    weakref.WeakKeyDictionary()
)


def _relay_for(lot_id: int) -> RoomRelay | None:
    layer = get_channel_layer()
    if layer is None:
        return None
    per_loop = _relays.setdefault(asyncio.get_running_loop(), {})
    key = (id(layer), lot_id)
    relay = per_loop.get(key)
    if relay is None or relay.layer is not layer:
        relay = per_loop[key] = RoomRelay(layer, lot_id)
    return relay


async def relay_join(lot_id: int, socket: RoomSocket) -> None:
    """Attach a consumer to its room's relay in this process (starting the relay if needed)."""
    relay = _relay_for(lot_id)
    if relay is not None:
        await relay.join(socket)


async def relay_leave(lot_id: int, socket: RoomSocket) -> None:
    relay = _relay_for(lot_id)
    if relay is not None and await relay.leave(socket):
        per_loop = _relays.get(asyncio.get_running_loop(), {})
        if per_loop.get((id(relay.layer), lot_id)) is relay and not relay.sockets:
            del per_loop[(id(relay.layer), lot_id)]
