"""The process's relay: one channel-layer member per room, every local socket served, a busy one never in the way."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from asgiref.sync import sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels_redis.core import RedisChannelLayer

from opening import relay, room_services
from opening.events import room_group
from tests.opening.test_room_consumer import joined, receive

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def members(group: str) -> int:
    """How many channels the configured layer holds in ``group`` (in memory or in Redis).

    On Redis the tests compare with the count before they start: a member
    left by an earlier run against the same server (a process killed before
    it left) stays until the layer's group expiry.
    """
    layer = get_channel_layer()
    if isinstance(layer, InMemoryChannelLayer):
        return len(layer.groups.get(group, {}))
    if isinstance(layer, RedisChannelLayer):
        connection = layer.connection(layer.consistent_hash(group))
        # Members the layer still counts: younger than its group expiry (older ones it drops itself).
        return int(await connection.zcount(layer._group_key(group), time.time() - layer.group_expiry, "+inf"))
    raise AssertionError(f"no way to count the members of a group on {type(layer).__name__}")


async def test_all_sockets_of_a_room_in_one_process_share_one_group_member(ceremony):
    await sync_to_async(ceremony.open)()
    group = room_group(ceremony.lot.pk)
    before = await members(group)
    sockets = [(await joined(ceremony.people[name], ceremony.lot))[0] for name in ("alice", "bob", "carol")]
    assert await members(group) == before + 1

    await sync_to_async(room_services.room_chat)(actor=ceremony.people["alice"], lot=ceremony.lot, text="大家好")
    for socket in sockets:
        event = await receive(socket)
        assert (event["kind"], event["data"]["text"]) == ("chat", "大家好")

    for socket in sockets[:2]:
        await socket.disconnect()
    assert await members(group) == before + 1
    await sockets[2].disconnect()
    assert await members(group) == before


async def test_a_socket_that_joins_after_the_last_one_left_starts_a_new_member(ceremony):
    await sync_to_async(ceremony.open)()
    group = room_group(ceremony.lot.pk)
    before = await members(group)
    first, _, _ = await joined(ceremony.people["bob"], ceremony.lot)
    await first.disconnect()
    assert await members(group) == before

    again, _, _ = await joined(ceremony.people["bob"], ceremony.lot)
    assert await members(group) == before + 1
    await sync_to_async(room_services.room_chat)(actor=ceremony.people["alice"], lot=ceremony.lot, text="再次")
    assert (await receive(again))["data"]["text"] == "再次"
    await again.disconnect()


class SlowSocket:
    """A socket stuck in a delivery (a gap fetch that waits on the database)."""

    def __init__(self) -> None:
        self.synced = True
        self.sent_seq = 0
        self.delivery = asyncio.Lock()
        self.got: list[int] = []

    async def room_event(self, message: dict, frames=None) -> None:
        async with self.delivery:
            self.got.append(int(message["seq"]))
            self.sent_seq = int(message["seq"])


async def test_a_busy_socket_is_served_by_its_own_task_and_does_not_hold_up_the_others():
    lot_id = 987654
    before = await members(room_group(lot_id))
    slow, quick = SlowSocket(), SlowSocket()
    await relay.relay_join(lot_id, slow)
    await relay.relay_join(lot_id, quick)
    await slow.delivery.acquire()  # busy until released
    await get_channel_layer().group_send(room_group(lot_id), {"type": "room.event", "seq": 1, "text": json.dumps({})})
    for _ in range(100):
        if quick.got:
            break
        await asyncio.sleep(0.01)
    assert quick.got == [1] and slow.got == []

    slow.delivery.release()
    for _ in range(100):
        if slow.got:
            break
        await asyncio.sleep(0.01)
    assert slow.got == [1]
    await relay.relay_leave(lot_id, slow)
    await relay.relay_leave(lot_id, quick)
    assert await members(room_group(lot_id)) == before
