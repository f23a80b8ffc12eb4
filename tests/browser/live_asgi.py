"""The real ASGI stack for browser tests that need WebSockets: Daphne in a thread, and a cable to cut.

pytest-django's ``live_server`` speaks WSGI only. ``LiveAsgiServer`` runs
Daphne — the server of ``make run`` and of production — in a thread of the
test process, serving ``config.asgi.application`` (HTTP, static files and the
room's WebSocket) from the test's database. Being in the test process, it
shares the in-memory channel layer of the default leg; with ``REDIS_URL`` set
it uses Redis like any other process.

Timed steps (``lots_advance_due``, ``rooms_advance_due``) are run with
``server.call(fn)``: on the server's event loop, as a worker of the server
would, so that the events they broadcast after commit reach the consumers the
way every other event does (the in-memory layer belongs to one event loop).

The database must be one that several threads can write at once with real
transactions: PostgreSQL, or SQLite in a file (the test database of
config/settings.py on the default leg). Django's shared-cache in-memory
SQLite cannot — it fails concurrent writers at once — so
``require_shareable_database`` skips there with the reason.

``CuttableProxy`` is a TCP forwarder put between one browser context and the
server: ``cut()`` drops every connection through it at once (both ends see
the connection die, as when a network goes down) and refuses new ones until
``restore()``. Chromium's offline emulation alone leaves an open WebSocket
open (microsoft/playwright#4910), so it cannot cut a live room by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from channels.db import database_sync_to_async
from django.db import connection, connections

T = TypeVar("T")
START_TIMEOUT = 30.0
CALL_TIMEOUT = 60.0


def require_shareable_database() -> None:
    """Skip unless the test database can be used by the server's threads with their own connections."""
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip(
            "a live ASGI server needs a database several threads can write (PostgreSQL or an SQLite"
            " file), not an in-memory SQLite database"
        )


def _fresh_reactor() -> Any:
    """Install a new asyncio Twisted reactor on a new event loop, in the calling thread.

    Daphne's module installs one reactor at import (it is an installed app),
    and a Twisted reactor cannot be run twice: each server gets its own, and
    ``daphne.server`` is re-imported to bind it (as daphne.testing does for its
    server processes).
    """
    from twisted.internet import asyncioreactor

    sys.modules.pop("twisted.internet.reactor", None)
    sys.modules.pop("daphne.server", None)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    asyncioreactor.install(loop)
    from twisted.internet import reactor

    return reactor


class LiveAsgiServer:
    """Daphne serving the project's ASGI application on 127.0.0.1, in a thread of this process.

    ``url`` names the host ``localhost`` (a secure context for WebCrypto, in
    ``ALLOWED_HOSTS`` of the development settings). Use as a context manager.
    """

    def __init__(self) -> None:
        self.port = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self._reactor: Any = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="live-asgi", daemon=True)

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    def __enter__(self) -> LiveAsgiServer:
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise RuntimeError(f"Daphne did not start within {START_TIMEOUT} s")
        if self._error is not None:
            raise RuntimeError("Daphne did not start") from self._error
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        try:
            reactor = _fresh_reactor()
            from daphne.server import Server

            from config.asgi import application

            self._reactor = reactor
            self.loop = reactor._asyncioEventloop
            server = Server(
                application=application,
                endpoints=["tcp:port=0:interface=127.0.0.1"],
                signal_handlers=False,
                verbosity=0,
            )

            def ready() -> None:
                if server.listening_addresses:
                    self.port = server.listening_addresses[0][1]
                    self._ready.set()
                else:
                    reactor.callLater(0.05, ready)

            reactor.callLater(0.05, ready)
            server.run()
        except BaseException as error:  # noqa: BLE001 - handed to the test thread
            self._error = error
            self._ready.set()

    def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a synchronous (ORM) callable as the server's own worker would, and return its result."""
        assert self.loop is not None, "the server is not running"
        future = asyncio.run_coroutine_threadsafe(
            database_sync_to_async(function)(*args, **kwargs), self.loop
        )
        return future.result(CALL_TIMEOUT)

    def stop(self) -> None:
        if self._reactor is None or not self._thread.is_alive():
            return
        # The server's database connections are closed where they were opened, before the
        # test database is flushed (or dropped, at the end of the session).
        with contextlib.suppress(Exception):
            self.call(connections.close_all)
        self._reactor.callFromThread(self._reactor.stop)
        self._thread.join(START_TIMEOUT)


class CuttableProxy:
    """A TCP forwarder to ``upstream_port`` on 127.0.0.1 whose connections can be cut at will.

    ``cut()``: every forwarded connection is reset at once, and new ones are
    refused (reset on accept) until ``restore()``. ``url`` names ``localhost``
    and the proxy's port; cookies, being per host and not per port, are the
    server's.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._online = True
        self._closed = False
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self.connections = 0  # accepted and forwarded, over the proxy's life
        self.refused = 0  # accepted and reset while cut
        self._thread = threading.Thread(target=self._accept, name="cuttable-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    def __enter__(self) -> CuttableProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _reset(sock: socket.socket) -> None:
        # SO_LINGER 0: close() sends RST, the way a dead link looks to the peer, not a polite FIN.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            sock.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _address = self._listener.accept()
            except OSError:
                return
            with self._lock:
                online = self._online and not self._closed
                if not online:
                    self.refused += 1
            if not online:
                self._reset(client)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                self._reset(client)
                continue
            with self._lock:
                self._sockets.update((client, upstream))
                self.connections += 1
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                target.sendall(data)
        except OSError:
            pass
        with self._lock:
            mine = source in self._sockets
            self._sockets.discard(source)
            self._sockets.discard(target)
        if mine:
            # One side ended: end the other, so each peer sees what the other did.
            with contextlib.suppress(OSError):
                target.shutdown(socket.SHUT_WR)
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.close()

    def cut(self) -> None:
        with self._lock:
            self._online = False
            doomed = list(self._sockets)
            self._sockets.clear()
        for sock in doomed:
            self._reset(sock)

    def restore(self) -> None:
        with self._lock:
            self._online = True

    def close(self) -> None:
        self._closed = True
        self.cut()
        # shutdown() wakes the thread blocked in accept(); close() alone may not.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._listener.close()
        self._thread.join(5)
