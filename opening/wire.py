"""Room events written straight to Daphne's WebSocket connections, framed once per event and process.

Through the ASGI interface every socket's copy of an event costs a trip
through ``consumer.send``, the session middleware's ``send``, Daphne's
``handle_reply`` (which looks the connection up and checks the message),
the text encoded to UTF-8 again and a WebSocket frame built around it, for
each socket (docs/realtime.md §4: most of the server's CPU per event).
Autobahn, which Daphne's WebSocket protocol is built on, has the broadcast
path for this: ``factory.prepareMessage`` builds the frame once and
``protocol.sendPreparedMessage`` writes those bytes to a connection.

``WireCapture`` (the outermost ASGI middleware of the WebSocket stack,
config/asgi.py) finds Daphne's protocol object behind the ``send`` callable
Daphne hands the application — ``functools.partial(server.handle_reply,
protocol)`` — and puts it in the scope. Under any other server (or the
test communicator) there is none, and the consumer sends through ASGI as
before. The consumer still decides what is written and when (order, gaps,
the client being synced); only the last step is shorter.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

SCOPE_KEY = "sunbid.wire"

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def daphne_protocol(send: Any) -> Any | None:
    """The Autobahn protocol behind Daphne's ``send`` callable, or None under anything else."""
    if not isinstance(send, functools.partial) or len(send.args) != 1 or send.keywords:
        return None
    if getattr(send.func, "__name__", "") != "handle_reply":
        return None
    protocol = send.args[0]
    if not callable(getattr(protocol, "sendPreparedMessage", None)) or getattr(protocol, "factory", None) is None:
        return None
    return protocol


class WireCapture:
    """ASGI middleware: the WebSocket connection's Daphne protocol in ``scope[SCOPE_KEY]``, when there is one."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") == "websocket":
            protocol = daphne_protocol(send)
            if protocol is not None:
                scope = {**scope, SCOPE_KEY: protocol}
        await self.app(scope, receive, send)


class Frames:
    """One event's text as a WebSocket frame, built on first use per factory (one per Daphne process)."""

    __slots__ = ("payload", "_prepared")

    def __init__(self, text: str) -> None:
        self.payload = text.encode("utf-8")
        self._prepared: dict[int, Any] = {}

    def write(self, protocol: Any) -> bool:
        """Write the frame to ``protocol``'s connection; False when the connection is not open."""
        if protocol.state != protocol.STATE_OPEN:
            return False
        factory = protocol.factory
        prepared = self._prepared.get(id(factory))
        if prepared is None:
            prepared = self._prepared[id(factory)] = factory.prepareMessage(self.payload)
        protocol.sendPreparedMessage(prepared)
        return True
