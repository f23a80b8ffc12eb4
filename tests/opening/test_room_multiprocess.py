"""One room served by two server processes: every client, on either, gets every event once, in order.

The deployment runs several Daphne processes behind one address with the
Redis channel layer (docs/realtime.md). These tests start two real Daphne
processes on free ports, against this test's PostgreSQL database and Redis,
connect participants to both with the ``websockets`` client (session cookie,
allowed ``Origin``), make room events happen — through the services in this
process (some from several threads at once) and through sockets on either
process — and compare what every client received with the room's stored
events. One bidder drops its connection and comes back on the other process
with its last seq; another socket sits idle past the Redis client's read
timeout and must still be there.

Services leg only (marker ``services``): skipped without PostgreSQL and
``REDIS_URL``, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection, connections
from django.utils import timezone

from accounts.models import User
from opening import room_services
from opening.models import Room, RoomEvent
from tendering import services as tendering
from tendering.models import Lot

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

BASE_DIR = Path(__file__).resolve().parents[2]
# Longer than the 5 s that redis-py 8 waits on a read by default, which is also how long the
# core channel layer's idle BZPOPMIN blocks (channels_redis#422).
IDLE_SECONDS = 7
WAIT_SECONDS = 30


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def _require_services() -> None:
    missing = []
    if connection.vendor != "postgresql":
        missing.append("DATABASE_URL is not a PostgreSQL database")
    if not os.environ.get("REDIS_URL", "").strip():
        missing.append("REDIS_URL is not set")
    if missing:
        reason = "two server processes need PostgreSQL and Redis: " + "; ".join(missing)
        if _in_ci():
            pytest.fail(f"{reason} (CI=true: the services leg is required)", pytrace=False)
        pytest.skip(reason)


def _test_database_url() -> str:
    """This test's database (pytest-django's ``test_…``) as a URL the server processes can use."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = db["HOST"] or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{credentials}@{host}{port}/{quote(db['NAME'], safe='')}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Servers:
    def __init__(self, processes: list[subprocess.Popen[bytes]], ports: list[int], logs: list[Path]):
        self.processes = processes
        self.ports = ports
        self.logs = logs

    def log_text(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}" for log in self.logs)


def _wait_ready(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).close()
            return
        except urllib.error.HTTPError:
            return  # any HTTP answer: Django is up
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"daphne on port {port} did not answer within 60 s:\n{log.read_text(errors='replace')}")


@pytest.fixture
def servers(transactional_db, tmp_path) -> Iterator[Servers]:
    """Two Daphne processes on free ports, serving this test's database through the test's Redis."""
    _require_services()
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": _test_database_url(),
            "REDIS_URL": os.environ["REDIS_URL"].strip(),
            # Sessions made here must be readable there: same secret, same development mode.
            "SECRET_KEY": settings.SECRET_KEY,
            "DEBUG": "1",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SUNBID_VAR_DIR": str(tmp_path / "server-var"),
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "PYTHONUNBUFFERED": "1",
        }
    )
    processes, ports, logs = [], [], []
    try:
        for index in range(2):
            port = _free_port()
            log = tmp_path / f"daphne-{index}.log"
            with open(log, "wb") as output:
                processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
                        cwd=BASE_DIR, env=env, stdout=output, stderr=subprocess.STDOUT,
                    )
                )
            ports.append(port)
            logs.append(log)
        for port, process, log in zip(ports, processes, logs, strict=True):
            _wait_ready(port, process, log)
        yield Servers(processes, ports, logs)
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def session_cookie(user: User) -> str:
    """A signed-in Django session for ``user``, as ``login()`` leaves it."""
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return store.session_key


class Socket:
    """One participant's WebSocket, read on the sockets' event loop; what came, in order."""

    def __init__(self, name: str, port: int) -> None:
        self.name = name
        self.port = port
        self.connection: Any = None
        self.received: list[dict[str, Any]] = []
        self.texts: dict[int, str] = {}
        self.backlog: list[int] = []  # seqs that came before ``synced``
        self.live: list[int] = []  # seqs that came after it
        self.synced = False
        self.reader: asyncio.Task[None] | None = None

    @property
    def seqs(self) -> list[int]:
        return self.backlog + self.live

    @property
    def last(self) -> int:
        return max(self.seqs, default=0)

    def take(self, text: str) -> None:
        message = json.loads(text)
        self.received.append(message)
        if message.get("type") == "synced":
            self.synced = True
        elif message.get("type") == "event":
            (self.live if self.synced else self.backlog).append(message["seq"])
            self.texts[message["seq"]] = text

    def acks(self, ref: str) -> list[dict[str, Any]]:
        return [m for m in self.received if m.get("type") in ("ack", "error") and m.get("ref") == ref]


class Sockets:
    """Clients on an event loop of their own thread, so that the test's thread can call services."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.all: list[Socket] = []
        self.path = ""  # the room's WebSocket path, set by the test

    def run(self, coroutine: Any, timeout: float = WAIT_SECONDS) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def connect(self, name: str, user: User, port: int, *, after: int = 0) -> Socket:
        """Connect ``user`` to the lot's room on ``port``, resume after ``after`` and wait for ``synced``."""
        sock = Socket(name, port)
        self.all.append(sock)
        self.run(self._open(sock, session_cookie(user), after))
        self.wait(lambda: sock.synced, f"{name} to be synced")
        return sock

    async def _open(self, sock: Socket, cookie: str, after: int) -> None:
        from websockets.asyncio.client import connect

        sock.connection = await connect(
            f"ws://127.0.0.1:{sock.port}{self.path}",
            additional_headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}"},
            origin=f"http://127.0.0.1:{sock.port}",  # type: ignore[arg-type]
            compression=None,
            open_timeout=WAIT_SECONDS,
            proxy=None,
            max_size=1 << 22,
        )
        await sock.connection.send(json.dumps({"type": "resume", "after": after}))
        sock.reader = asyncio.get_running_loop().create_task(self._read(sock))

    async def _read(self, sock: Socket) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for text in sock.connection:
                sock.take(text)
        except ConnectionClosed:
            pass

    def send(self, sock: Socket, message: dict[str, Any]) -> dict[str, Any]:
        """Send one client message with a ``ref`` and return the server's answer to it."""
        self.run(sock.connection.send(json.dumps(message, ensure_ascii=False)))
        self.wait(lambda: bool(sock.acks(message["ref"])), f"an answer to {message['ref']}")
        return sock.acks(message["ref"])[0]

    def drop(self, sock: Socket) -> None:
        self.run(sock.connection.close())
        self.wait(lambda: sock.reader is not None and sock.reader.done(), f"{sock.name} to be closed")

    def wait(self, condition: Callable[[], bool], what: str, timeout: float = WAIT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"waited {timeout:.0f} s for {what}")
            time.sleep(0.02)

    def close(self) -> None:
        async def close_all() -> None:
            for sock in self.all:
                if sock.connection is not None:
                    await sock.connection.close()

        try:
            self.run(close_all())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)


@pytest.fixture
def sockets(servers) -> Iterator[Sockets]:
    pytest.importorskip("websockets", reason="the websockets client is a test dependency (pyproject [test])")
    made = Sockets()
    yield made
    made.close()


def stored_events(lot: Lot) -> list[tuple[int, str]]:
    return list(RoomEvent.objects.filter(room__lot=lot).order_by("seq").values_list("seq", "text"))


def last_seq(lot: Lot) -> int:
    return Room.objects.get(lot=lot).last_seq


def in_threads(*calls: Callable[[], Any]) -> None:
    """Run the calls at the same time, each on its own thread and database connection."""
    errors: list[BaseException] = []

    def run(call: Callable[[], Any]) -> None:
        try:
            call()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=WAIT_SECONDS)
    if errors:
        raise errors[0]


def chats(user: User, lot: Lot, count: int, label: str) -> Callable[[], None]:
    def run() -> None:
        for index in range(count):
            room_services.room_chat(actor=user, lot=lot, text=f"{label}第{index + 1}条消息")

    return run


def test_clients_on_two_server_processes_receive_every_event_once_in_the_same_order(servers, sockets, ceremony):
    lot, people = ceremony.lot, ceremony.people
    first, second = servers.ports
    sockets.path = f"/ws/opening/lots/{lot.pk}/"
    # Bidding closes and the opening is due now, by the real clock the servers also read.
    now = timezone.now()
    Lot.objects.filter(pk=lot.pk).update(bid_deadline=now, opening_time=now)

    seats = {"alice": first, "bob": first, "terry": first, "carol": second, "sam": second, "dave": second}
    socks = {name: sockets.connect(name, people[name], port) for name, port in seats.items()}
    dave = socks.pop("dave")

    # The opening, by the timed step in this process: announced to both processes over Redis.
    tendering.lots_advance_due()
    sockets.wait(lambda: dave.last == last_seq(lot), "dave to see the opening")

    # dave's network drops; the room goes on without him.
    dave_last = dave.last
    sockets.drop(dave)

    # Events from three threads of this process at once, and from sockets on either process.
    in_threads(
        chats(people["alice"], lot, 5, "主持人"),
        chats(people["bob"], lot, 5, "投标人甲"),
        chats(people["terry"], lot, 5, "招标人"),
        lambda: room_services.room_sign_in(actor=people["carol"], lot=lot),
    )
    objection = sockets.send(
        socks["carol"], {"type": "objection", "ref": "o1", "text": "请核实开标时间是否按公告执行。"}
    )
    assert objection["type"] == "ack", objection
    answer = sockets.send(
        socks["alice"],
        {"type": "answer", "ref": "a1", "objection": objection["result"]["objection"], "text": "已核实，按公告时间开标。"},
    )
    assert answer["type"] == "ack", answer

    # dave comes back, on the other process, after the last seq he saw.
    back = sockets.connect("dave again", people["dave"], first, after=dave_last)
    room_services.room_chat(actor=people["sam"], lot=lot, text="监督人员：开标继续进行。")

    final = last_seq(lot)
    everyone = [*socks.values(), back]
    sockets.wait(lambda: all(sock.last == final for sock in everyone), f"every client to reach seq {final}")

    stored = stored_events(lot)
    assert [seq for seq, _ in stored] == list(range(1, final + 1))
    for sock in socks.values():
        # Every event exactly once, in seq order, byte for byte what the room stored.
        assert sock.seqs == list(range(1, final + 1)), sock.name
        assert [sock.texts[seq] for seq in sock.seqs] == [text for _, text in stored], sock.name
    on_first = [sock for sock in socks.values() if sock.port == first]
    on_second = [sock for sock in socks.values() if sock.port == second]
    assert on_first and on_second
    assert {tuple(sock.seqs) for sock in on_first} == {tuple(sock.seqs) for sock in on_second}

    # dave: everything before the drop on one process, everything after it on the other,
    # the missed part from the backlog before ``synced`` and nothing twice.
    assert dave.seqs == list(range(1, dave_last + 1))
    missed = back.backlog
    assert missed and missed[0] == dave_last + 1
    assert dave.seqs + back.seqs == list(range(1, final + 1))
    assert [back.texts[seq] for seq in back.seqs] == [text for seq, text in stored if seq > dave_last]
    assert "Traceback" not in servers.log_text()


def test_a_socket_left_idle_past_the_redis_read_timeout_still_gets_the_next_event(servers, sockets, people, lot):
    first, second = servers.ports
    sockets.path = f"/ws/opening/lots/{lot.pk}/"
    # Sign-in (and so chat) is open from half an hour before the opening.
    now = timezone.now()
    Lot.objects.filter(pk=lot.pk).update(bid_deadline=now, opening_time=now)
    host = sockets.connect("alice", people["alice"], first)
    tenderer = sockets.connect("terry", people["terry"], second)
    connected = (host.connection, tenderer.connection)

    time.sleep(IDLE_SECONDS)
    room_services.room_chat(actor=people["sam"], lot=lot, text="监督人员已进入开标室。")

    final = last_seq(lot)
    sockets.wait(lambda: host.last == final and tenderer.last == final, "both to get the chat line")
    assert (host.connection, tenderer.connection) == connected
    assert host.live == tenderer.live == [final]
    assert "Traceback" not in servers.log_text()
