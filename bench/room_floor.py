"""The floor for bench/room.py: a bare ``websockets`` broadcast server, no Django, no Channels.

Started by ``bench/room.py`` (two processes, like the room's two Daphne
processes), never by hand in normal use::

    .venv/bin/python bench/room_floor.py --port 8101 --redis redis://127.0.0.1:6379/11 \\
        --channel sunbid-bench-floor

What one process does, and nothing more:

- accepts WebSocket connections on any path (no origin check, no session,
  no database), waits for the client's first message (the room protocol's
  ``resume``), answers with a ``welcome`` and a ``synced`` of the same shape
  as the room's, and adds the connection to its set of clients;
- subscribes to one Redis pub/sub channel; every message published there is
  a complete event frame, already encoded (the driver makes the text once,
  exactly as ``opening.events`` does), and is written unchanged to every
  client with ``websockets.broadcast`` (the UTF-8 bytes are made once, then
  one frame per connection, no per-client ``await``).

So between the driver's timestamp and the client's receive there is one
Redis PUBLISH hop, one process's fan-out and the kernel: the least a
two-process broadcast over Redis can cost on this machine. The room's extra
cost over this is what Django, Channels, the channel layer and the consumer
add.

Per-message compression is off (``compression=None``): Daphne never accepts
permessage-deflate (autobahn's ``perMessageCompressionAccept`` defaults to
refusing every offer), so the floor does not either.

It prints ``ready <port>`` on standard output once listening and subscribed,
and stops on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from typing import Any

from redis import asyncio as aioredis
from websockets.asyncio.server import ServerConnection, broadcast, serve

# Same listen backlog as the Daphne processes get from bench/room.py: a connection
# burst must not overflow the accept queue of one side only.
LISTEN_BACKLOG = 4096


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis", required=True, help="Redis URL of the pub/sub channel")
    parser.add_argument("--channel", required=True, help="Redis pub/sub channel of the events")
    return parser.parse_args()


def iso_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime()) + time.strftime("%z")


class Floor:
    def __init__(self) -> None:
        self.clients: set[ServerConnection] = set()
        self.last_seq = 0

    async def handler(self, connection: ServerConnection) -> None:
        """One client: the room's opening exchange, then membership until it goes away."""
        try:
            first = json.loads(await connection.recv())
        except Exception:  # noqa: BLE001 - a client that sends nothing usable is simply dropped
            return
        after = first.get("after", 0) if isinstance(first, dict) else 0
        await connection.send(
            json.dumps(
                {
                    "type": "welcome",
                    "lot": 0,
                    "you": {"user": 0, "name": "floor", "organisation": 0, "organisation_name": "",
                            "role": "bidder", "bid": None, "can_pause": False},
                    "server_time": iso_now(),
                    "last_seq": self.last_seq,
                },
                ensure_ascii=False,
                separators=(",", ":"),
            )
        )
        # No backlog is kept: the floor measures live fan-out only. ``synced`` says where live starts.
        await connection.send(
            json.dumps({"type": "synced", "last_seq": max(after, self.last_seq), "server_time": iso_now()})
        )
        self.clients.add(connection)
        try:
            await connection.wait_closed()
        finally:
            self.clients.discard(connection)

    async def relay(self, redis_url: str, channel: str, subscribed: asyncio.Event) -> None:
        """Every frame published on ``channel`` goes out unchanged to every client of this process."""
        client = aioredis.Redis.from_url(redis_url)
        pubsub = client.pubsub()
        await pubsub.subscribe(channel)
        subscribed.set()
        try:
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                data: Any = message["data"]
                seq_at = data.find(b'"seq":')
                if seq_at >= 0:
                    end = data.find(b",", seq_at)
                    self.last_seq = int(data[seq_at + 6 : end])
                # text=True: the bytes are UTF-8 JSON already; websockets frames them once per client.
                broadcast(self.clients, data, text=True)
        finally:
            await pubsub.aclose()
            await client.aclose()


async def main() -> int:
    options = arguments()
    floor = Floor()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    subscribed = asyncio.Event()
    relay = asyncio.create_task(floor.relay(options.redis, options.channel, subscribed))
    async with serve(
        floor.handler,
        "127.0.0.1",
        options.port,
        compression=None,
        # Daphne pings idle sockets every 20 s; nothing is idle that long in a run.
        ping_interval=None,
        max_size=1 << 20,
        backlog=LISTEN_BACKLOG,
    ):
        await subscribed.wait()
        print(f"ready {options.port}", flush=True)
        await stop.wait()
    relay.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await relay
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
