"""Benchmark: one opening room with N bidders through the real stack, against a bare floor.

Run by hand (not part of the test suite), with PostgreSQL and Redis of its own::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench REDIS_URL=redis://127.0.0.1:6379/11 \\
        .venv/bin/python bench/room.py                         # N = 200, 1000, 2000; both layers; floor
    ... bench/room.py --sizes 1000 --layers pubsub --events 20 # one point
    ... bench/room.py --json var/bench-room.json               # the numbers as JSON too

The database is created if missing and migrated; every run seeds new lots
(the 2,000 bidder organisations and their users are made once and reused).
docs/realtime.md explains the results.

What runs where (2 cores: clients in this process, servers in their own):

- the room: two Daphne processes (``config.asgi:application``, DEBUG off,
  the Redis channel layer chosen by ``CHANNEL_LAYER``, PostgreSQL), each
  listening on its own port with a listen backlog of 4,096. Clients are
  spread round-robin over the two ports: that is what a reverse proxy in
  front of them does (no proxy process here, so its cost is not measured);
- the floor: two ``bench/room_floor.py`` processes — a bare ``websockets``
  server that fans out, unchanged, each frame published on one Redis pub/sub
  channel — with the same clients, ports spread and frame sizes;
- the clients: N bidders (``websockets``, one asyncio loop), each an
  authenticated participant — a bidder organisation with a current bid in
  the lot, a user with the bidder role, a Django session made directly in
  the database, sent as the session cookie with an allowed ``Origin`` — plus
  the host (the agency's agent) who drives the room by chatting.

Each scenario (one channel layer or the floor, one N):

1. connect: N handshakes, at most ``--connect-concurrency`` in flight, each
   ``resume`` after 0, the backlog and ``synced``. Reported: failures by
   reason, the handshake time (TCP to ``synced``) p50/p99, the wall time.
2. paced: ``--events`` chat lines by the host, one at a time, each waited
   for until every client has it (or ``--timeout``), then ``--gap`` seconds.
   Latency of one delivery = the time its frame was complete in this
   process (stamped as the bytes are parsed, before any JSON decoding)
   minus the event's ``at`` (server clock, same machine; ``at`` is taken
   when the event is made inside the committing transaction, so the rest of
   the transaction and the commit are counted).
3. burst: ``--burst`` chat lines sent back to back (the floor: published
   back to back); latency as above, so queueing is included.
4. opening (the room only; the floor replays a frame of the same size): a
   separate process moves the lot's deadline and opening time to now and
   runs the real timed step (``tendering.services.lots_advance_due`` →
   ``room_open``), which announces the N bids in one ``opened`` event.
5. recovery: a client that saw a gap in ``seq`` reconnects at once and
   resumes after its last seq (as the room page does); at the end every
   client still short of the last seq resumes. What came in live and what
   only by resume is counted apart; "lost" is what never came at all.
6. every client checks that it saw every seq exactly once, in order.

CPU seconds of each server process and of this process are sampled per
phase from /proc. The servers log at INFO (``LOG_LEVEL``), where
channels-redis reports a group message dropped for capacity; such drops,
Redis read timeouts, an exhausted Redis pool and crashed consumers are
counted from their logs and fail the run. Exit status: 0 when the targets hold (no loss and no
failed handshake at the largest N; p99(room)/p99(floor) ≤ 3 at 1,000 with
the layer of ``CHANNEL_LAYER``, default the first of ``--layers``), 1 when
one is missed, 2 when the run itself failed.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import json
import os
import resource
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LISTEN_BACKLOG = 4096
RATIO_TARGET = 3.0
RATIO_AT = 1000
CHAT_TEXT = "请各投标人保持网络畅通，开标时间到达后解密窗口自动开启，请在规定时间内完成解密。"
BENCH_SECRET_KEY = "sunbid-bench-room-" + "x" * 48  # the bench's own database only
CLIENT_MAX_SIZE = 1 << 24  # the ``opened`` event of 2,000 bids is ~0.5 MB
TICKS = os.sysconf("SC_CLK_TCK")
HOST_BURST = 20  # opening.consumers.RATE_BURST
HOST_RATE = 4.5  # per second; the room allows 5


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- the environment: set before Django reads its settings ------------------------------------


def server_environment(var_dir: Path, layer: str | None = None) -> dict[str, str]:
    """The settings every process of the bench runs with (this one, Daphne's, the opener's)."""
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "0",
            "SECRET_KEY": BENCH_SECRET_KEY,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SERVE_STATIC": "0",
            "SECURE_SSL_REDIRECT": "0",
            "SUNBID_VAR_DIR": str(var_dir),
            # INFO: channels_redis reports the messages it drops for capacity only at INFO.
            "LOG_LEVEL": env.get("LOG_LEVEL", "INFO"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    if layer is not None:
        env["CHANNEL_LAYER"] = layer
    return env


def require_services() -> tuple[str, str]:
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("bench/room.py needs DATABASE_URL=postgres://… (two server processes share it).")
    if not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise SystemExit("bench/room.py needs REDIS_URL=redis://… (the channel layer between the processes).")
    return database_url, redis_url


def ensure_database(database_url: str) -> None:
    """Create the bench's PostgreSQL database when it does not exist yet."""
    import psycopg

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')


def raise_file_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# --- the world: agency, custodians, N bidders with bids, sessions ----------------------------


@dataclass
class Person:
    user_id: int
    cookie: str


@dataclass
class World:
    host: Person
    bidders: list[Person]
    organisation_ids: list[int]
    bidder_user_ids: list[int]
    agent_id: int
    tenderer_id: int
    supervisor_id: int


def seed_world(count: int) -> World:
    """The agency (with its agent), tenderer and supervising authority with keys; ``count`` bidders.

    The three custodian organisations go through the services (their keys
    split each lot's opening key at publication). The bidders — organisation,
    user with the bidder role — are bulk-inserted, and reused by later runs.
    Every user gets a fresh Django session, written directly to the database.
    """
    from django.contrib.auth.hashers import make_password
    from django.db import transaction

    from accounts.credit_code import make as make_code
    from accounts.models import Organisation, OrganisationKind, Role, RoleGrant, User
    from accounts.services import organisation_create, organisation_key_register, user_create
    from bidding.sealing import keys as sealkeys

    def org(name: str, kind: str, serial: int) -> Organisation:
        existing = Organisation.objects.filter(name=name).first()
        return existing or organisation_create(
            actor=None, name=name, code=make_code(f"91330100MD{serial:07d}"), kind=kind
        )

    def person(username: str, organisation: Organisation, role: str) -> User:
        existing = User.objects.filter(username=username).first()
        if existing is not None:
            return existing
        user = user_create(
            actor=None, organisation=organisation, username=username, password=None,
            roles=[role], full_name=username, email=f"{username}@example.cn",
        )
        keyset = sealkeys.KeySet.generate(organisation.credit_code)
        organisation_key_register(
            actor=user,
            encryption_public=sealkeys.spki_der(keyset.encryption_private),
            signing_public=sealkeys.spki_der(keyset.signing_private),
        )
        return user

    agency = org("开标室基准测试招标代理有限公司", OrganisationKind.AGENCY, 1)
    tenderer = org("开标室基准测试招标人", OrganisationKind.TENDERER, 2)
    supervisor = org("开标室基准测试监督部门", OrganisationKind.SUPERVISOR, 3)
    agent = person("room-bench-agent", agency, Role.AGENT)
    person("room-bench-tenderer", tenderer, Role.TENDERER_REP)
    person("room-bench-supervisor", supervisor, Role.SUPERVISOR)

    names = [f"开标室基准测试投标人{i:04d}有限公司" for i in range(count)]
    have = dict(Organisation.objects.filter(name__in=names).values_list("name", "pk"))
    missing = [i for i, name in enumerate(names) if name not in have]
    if missing:
        say(f"setup: {len(missing)} bidder organisations and users …")
        with transaction.atomic():
            made = Organisation.objects.bulk_create(
                [
                    Organisation(
                        name=names[i],
                        credit_code=make_code(f"91330100ME{i:07d}"),
                        kind=OrganisationKind.BIDDER,
                    )
                    for i in missing
                ]
            )
            unusable = make_password(None)
            users = User.objects.bulk_create(
                [
                    User(
                        username=f"room-bench-bidder-{i:04d}",
                        organisation=organisation,
                        full_name=f"投标代表{i:04d}",
                        password=unusable,
                    )
                    for i, organisation in zip(missing, made, strict=True)
                ]
            )
            RoleGrant.objects.bulk_create([RoleGrant(user=user, role=Role.BIDDER) for user in users])
        have = dict(Organisation.objects.filter(name__in=names).values_list("name", "pk"))
    organisation_ids = [have[name] for name in names]
    by_org = dict(
        User.objects.filter(organisation_id__in=organisation_ids, username__startswith="room-bench-bidder-")
        .values_list("organisation_id", "pk")
    )
    bidder_user_ids = [by_org[pk] for pk in organisation_ids]
    cookies = make_sessions([agent.pk, *bidder_user_ids])
    return World(
        host=Person(agent.pk, cookies[agent.pk]),
        bidders=[Person(pk, cookies[pk]) for pk in bidder_user_ids],
        organisation_ids=organisation_ids,
        bidder_user_ids=bidder_user_ids,
        agent_id=agent.pk,
        tenderer_id=tenderer.pk,
        supervisor_id=supervisor.pk,
    )


def make_sessions(user_ids: list[int]) -> dict[int, str]:
    """One signed-in Django session per user, as ``login()`` would leave it; returns the session keys."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    from accounts.models import User

    store = SessionStore()
    expires = timezone.now() + dt.timedelta(hours=8)
    rows, keys = [], {}
    for user in User.objects.filter(pk__in=user_ids):
        key = secrets.token_hex(16)
        data = {
            SESSION_KEY: str(user.pk),
            BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
            HASH_SESSION_KEY: user.get_session_auth_hash(),
        }
        rows.append(Session(session_key=key, session_data=store.encode(data), expire_date=expires))
        keys[user.pk] = key
    Session.objects.bulk_create(rows, batch_size=1000)
    return keys


def seed_lot(world: World, count: int, label: str) -> int:
    """A published lot whose sign-in is open, with ``count`` current bids; returns its id.

    Published through the services (its room and opening key are made there)
    with dates far ahead, then its deadline and opening time are moved to 25
    minutes from now, so that sign-in is open and the host may chat, and
    nothing is due during the run. The bids need not be real sealed files:
    the room only needs them to exist as current bids; their uploads and
    bids are bulk-inserted.
    """
    from decimal import Decimal

    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import User
    from bidding.models import Bid, Upload, UploadStatus
    from tendering import services as tendering
    from tendering.models import EvaluationMethod, Lot

    agent = User.objects.get(pk=world.agent_id)
    now = timezone.now()
    far = now + dt.timedelta(days=30)
    tender = tendering.tender_create(
        actor=agent,
        data=tendering.TenderInput(
            title=f"开标室基准测试（{label}）",
            project_name="开标室基准测试项目",
            tenderer_id=world.tenderer_id,
            category="construction",
            region="330000",
            description="开标室实时广播基准测试用招标项目。",
            contact_name="王工",
            contact_phone="0571-88880000",
            supervising_authority_id=world.supervisor_id,
        ),
    )
    tendering.lot_save(
        actor=agent,
        tender=tender,
        data=tendering.LotInput(
            name="门诊楼改造工程施工",
            estimated_price=Decimal("12000000.00"),
            control_price=Decimal("11800000.00"),
            bid_security=Decimal("200000.00"),
            doc_start=now - dt.timedelta(hours=1),
            doc_end=now + dt.timedelta(days=20),
            bid_deadline=far,
            opening_time=far,
            evaluation_method=EvaluationMethod.COMPREHENSIVE,
        ),
    )
    tendering.document_upload(
        actor=agent,
        tender=tender,
        upload=SimpleUploadedFile("招标文件.pdf", b"%PDF-1.4 bench tender documents", "application/pdf"),
    )
    tender = tendering.tender_publish(actor=agent, tender=tender)
    lot = tender.lots.get()
    opening = now + dt.timedelta(minutes=25)
    Lot.objects.filter(pk=lot.pk).update(bid_deadline=opening, opening_time=opening)
    received = now - dt.timedelta(minutes=5)
    with transaction.atomic():
        uploads = Upload.objects.bulk_create(
            [
                Upload(
                    lot=lot, organisation_id=org_id, created_by_id=user_id, size=4096, part_size=4096,
                    received=4096, status=UploadStatus.COMPLETE, header_checked=True,
                    created_at=received, received_at=received, closed_at=received,
                )
                for org_id, user_id in zip(
                    world.organisation_ids[:count], world.bidder_user_ids[:count], strict=True
                )
            ],
            batch_size=1000,
        )
        Bid.objects.bulk_create(
            [
                Bid(
                    lot=lot, organisation_id=upload.organisation_id, upload=upload,
                    submitted_by_id=upload.created_by_id, size=4096, sha256="0" * 64,
                    header_sha256="0" * 64, payload_sha256="0" * 64,
                    bidder_fingerprint=f"{i:064x}", signing_fingerprint=f"{i:064x}",
                    opening_fingerprint="0" * 64,
                    received_at=received + dt.timedelta(microseconds=i),
                    receipt_no=f"BENCH-{lot.pk}-{i:05d}", receipt="{}", audit_seq=0,
                )
                for i, upload in enumerate(uploads)
            ],
            batch_size=1000,
        )
    return lot.pk


def open_lot(lot_id: int) -> None:
    """The opening as the timed step does it (run in its own process, by ``--open-lot``)."""
    from django.utils import timezone

    from tendering.models import Lot
    from tendering.services import lots_advance_due

    now = timezone.now()
    Lot.objects.filter(pk=lot_id).update(bid_deadline=now, opening_time=now)
    lots_advance_due(now=now)


# --- server processes ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Servers:
    """Two server processes, each on its own port; stopped together."""

    def __init__(self, kind: str, processes: list[subprocess.Popen[bytes]], ports: list[int], logs: list[Path]):
        self.kind = kind
        self.processes = processes
        self.ports = ports
        self.logs = logs

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]

    def cpu(self) -> list[float]:
        return [cpu_seconds(pid) for pid in self.pids]

    def alive(self) -> None:
        for process, log in zip(self.processes, self.logs, strict=True):
            if process.poll() is not None:
                raise RuntimeError(f"{self.kind} server exited with {process.returncode}; see {log}")

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def settle(self, quiet: float = 0.05, longest: float = 60.0) -> None:
        """Wait until both processes are idle (under ``quiet`` of a core for half a second)."""
        deadline = time.monotonic() + longest
        before = sum(self.cpu())
        while time.monotonic() < deadline:
            time.sleep(0.5)
            after = sum(self.cpu())
            if after - before < quiet * 0.5:
                return
            before = after


def wait_http(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}; see {log}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).close()
            return
        except urllib.error.HTTPError:
            return  # any HTTP answer means Django is up
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"server on port {port} did not answer within {timeout:.0f} s; see {log}")


def start_room(
    env: dict[str, str], work: Path, layer: str, application: str, handshake_timeout: int | None
) -> Servers:
    processes, ports, logs = [], [], []
    for index in range(2):
        port = free_port()
        log = work / f"daphne-{layer}-{index}.log"
        with open(log, "wb") as output:
            processes.append(
                subprocess.Popen(
                    [
                        str(Path(sys.executable).with_name("daphne")),
                        # A listen backlog for a reconnection storm: Twisted's default is 50.
                        "-e", f"tcp:port={port}:interface=127.0.0.1:backlog={LISTEN_BACKLOG}",
                        "--access-log", os.devnull,
                        *(["--websocket_connect_timeout", str(handshake_timeout)] if handshake_timeout else []),
                        application,
                    ],
                    cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
                )
            )
        ports.append(port)
        logs.append(log)
    for port, process, log in zip(ports, processes, logs, strict=True):
        wait_http(port, process, log)
    return Servers(f"room/{layer}", processes, ports, logs)


def start_floor(env: dict[str, str], work: Path, redis_url: str, channel: str) -> Servers:
    processes, ports, logs = [], [], []
    for index in range(2):
        port = free_port()
        log = work / f"floor-{index}.log"
        output = open(log, "wb")  # noqa: SIM115 - kept open for the child's lifetime
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "room_floor.py"), "--port", str(port),
             "--redis", redis_url, "--channel", channel],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=output,
        )
        assert process.stdout is not None
        line = process.stdout.readline().decode().strip()
        if line != f"ready {port}":
            process.kill()
            raise RuntimeError(f"floor server did not start ({line!r}); see {log}")
        processes.append(process)
        ports.append(port)
        logs.append(log)
    return Servers("floor", processes, ports, logs)


# --- clients -----------------------------------------------------------------------------------


def make_connection_class() -> type:
    from websockets.asyncio.client import ClientConnection
    from websockets.frames import Frame, Opcode

    data_opcodes = (Opcode.TEXT, Opcode.BINARY, Opcode.CONT)

    class TimedConnection(ClientConnection):
        """Stamps each complete data message with the time its last frame was parsed here.

        ``data_received`` parses frames as the bytes arrive; the stamp is taken
        there, before the message waits in the queue for ``recv()`` and before
        any JSON decoding, so a client's own backlog of work counts as little
        as possible against the server.
        """

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.arrivals: collections.deque[float] = collections.deque()

        def process_event(self, event: Any) -> None:
            if isinstance(event, Frame) and event.fin and event.opcode in data_opcodes:
                self.arrivals.append(time.time())
            super().process_event(event)

    return TimedConnection


_AT_CACHE: dict[str, float] = {}


def at_timestamp(at: str) -> float:
    stamp = _AT_CACHE.get(at)
    if stamp is None:
        stamp = _AT_CACHE[at] = dt.datetime.fromisoformat(at).timestamp()
        if len(_AT_CACHE) > 10000:
            _AT_CACHE.clear()
    return stamp


def event_head(text: str) -> tuple[int, str] | None:
    """(seq, at) from the head of an event frame without decoding the whole JSON.

    ``opening.events.event_text`` writes ``type, seq, kind, at, data`` in that
    order; the ``opened`` event of 2,000 bids is half a megabyte, and decoding
    it 2,000 times would make the clients, not the server, the bottleneck.
    """
    if not text.startswith('{"type":"event","seq":'):
        return None
    comma = text.index(",", 22)
    seq = int(text[22:comma])
    at_start = text.index('"at":"', comma) + 6
    return seq, text[at_start : text.index('"', at_start)]


class Refused(Exception):
    pass


@dataclass
class Tally:
    """What one scenario's clients saw, shared by all of them (one event loop)."""

    expected: int = 0
    counts: collections.Counter[int] = field(default_factory=collections.Counter)
    waiters: dict[int, asyncio.Event] = field(default_factory=dict)
    live: list[tuple[int, float]] = field(default_factory=list)  # (seq, latency seconds)
    resumed: collections.Counter[int] = field(default_factory=collections.Counter)
    duplicates: int = 0
    gaps: int = 0
    reconnects: int = 0
    reconnect_failures: list[str] = field(default_factory=list)
    sizes: dict[int, int] = field(default_factory=dict)

    def delivered(self, seq: int) -> None:
        self.counts[seq] += 1
        if self.counts[seq] >= self.expected:
            waiter = self.waiters.get(seq)
            if waiter is not None:
                waiter.set()

    async def wait_all(self, seq: int, timeout: float) -> bool:
        if self.counts[seq] >= self.expected:
            return True
        waiter = self.waiters.setdefault(seq, asyncio.Event())
        try:
            await asyncio.wait_for(waiter.wait(), timeout)
            return True
        except TimeoutError:
            return False


class Client:
    """One participant's socket, following the room protocol like the room page does."""

    connection_class: type | None = None

    def __init__(self, *, url: str, cookie: str | None, origin: str, tally: Tally | None, backlog: bool):
        self.url = url
        self.cookie = cookie
        self.origin = origin
        self.tally = tally
        self.backlog = backlog  # the server replays missed events (the room) or not (the floor)
        self.connection: Any = None
        self.last = 0
        self.seen: list[int] = []
        self.handshake: float | None = None
        self.failure: str | None = None
        self.welcome: dict[str, Any] | None = None
        self.reader: asyncio.Task[None] | None = None
        self.resyncing = False
        self.closing = False

    async def open(self, *, after: int, open_timeout: float, replay_live: bool) -> None:
        """Connect, resume after ``after``, take the backlog up to ``synced``; start reading."""
        from websockets.asyncio.client import connect

        if Client.connection_class is None:
            Client.connection_class = make_connection_class()
        headers = {"Cookie": f"sessionid={self.cookie}"} if self.cookie else None
        started = time.perf_counter()
        self.connection = await connect(
            self.url,
            additional_headers=headers,
            origin=self.origin,  # type: ignore[arg-type]
            compression=None,
            open_timeout=open_timeout,
            ping_interval=None,
            close_timeout=5,
            max_size=CLIENT_MAX_SIZE,
            max_queue=None,
            proxy=None,
            create_connection=Client.connection_class,
        )
        connection = self.connection
        await connection.send(json.dumps({"type": "resume", "after": after}))
        while True:
            text = await asyncio.wait_for(connection.recv(), open_timeout)
            arrival = connection.arrivals.popleft()
            head = event_head(text)
            if head is not None:
                self.take(head[0], text, arrival, live=replay_live)
                continue
            message = json.loads(text)
            kind = message.get("type")
            if kind == "welcome":
                self.welcome = message
            elif kind == "synced":
                if not self.backlog:
                    self.last = max(self.last, int(message["last_seq"]))
                break
            elif kind == "error":
                raise Refused(message.get("code") or "error")
        self.handshake = time.perf_counter() - started
        self.reader = asyncio.create_task(self.read())

    async def read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        connection = self.connection
        try:
            async for text in connection:
                arrival = connection.arrivals.popleft()
                self.on_text(text, arrival)
                if self.resyncing:
                    return
        except ConnectionClosed:
            pass
        if not self.closing and not self.resyncing:
            # The server dropped us: come back as the page would, after the last seq seen.
            self.resyncing = True
            asyncio.get_running_loop().create_task(self.resync())

    def on_text(self, text: str, arrival: float) -> None:
        head = event_head(text)
        if head is not None:
            self.take(head[0], text, arrival, live=True)

    def take(self, seq: int, text: str, arrival: float, *, live: bool) -> None:
        tally = self.tally
        if seq <= self.last:
            if tally is not None:
                tally.duplicates += 1
            return
        if seq != self.last + 1 and self.backlog:
            # A hole: whatever is after it waits for the backlog of a fresh connection.
            if tally is not None:
                tally.gaps += 1
            if not self.resyncing:
                self.resyncing = True
                asyncio.get_running_loop().create_task(self.resync())
            return
        self.last = seq
        self.seen.append(seq)
        if tally is None:
            return
        if live:
            tally.live.append((seq, arrival - at_timestamp(event_head(text)[1])))  # type: ignore[index]
        else:
            tally.resumed[seq] += 1
        if seq not in tally.sizes:
            tally.sizes[seq] = len(text.encode())
        tally.delivered(seq)

    async def resync(self) -> None:
        """Reconnect and resume after the last seq in order; what the backlog brings counts as resumed."""
        tally = self.tally
        if tally is not None:
            tally.reconnects += 1
        try:
            if self.connection is not None:
                await self.connection.close()
            self.resyncing = False
            await self.open(after=self.last, open_timeout=60, replay_live=False)
        except Exception as exc:  # noqa: BLE001 - counted and reported
            if tally is not None:
                tally.reconnect_failures.append(describe(exc))

    async def close(self) -> None:
        self.closing = True
        if self.connection is not None:
            await self.connection.close()
        if self.reader is not None:
            try:
                await asyncio.wait_for(self.reader, 10)
            except (TimeoutError, asyncio.CancelledError):
                self.reader.cancel()


def describe(exc: BaseException) -> str:
    from websockets.exceptions import InvalidStatus

    if isinstance(exc, InvalidStatus):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, Refused):
        return f"refused {exc}"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return type(exc).__name__


class Host(Client):
    """The agency's agent: sends chat lines and learns the seq of each from its own copy."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(tally=None, backlog=True, **kwargs)
        self.markers: dict[str, asyncio.Future[tuple[int, str]]] = {}
        self.kinds: dict[str, asyncio.Future[tuple[int, str]]] = {}
        self.errors: list[dict[str, Any]] = []
        self.refs = 0
        # The room refuses a client's messages beyond a burst of 20 and 5 per second
        # (opening.consumers); the host keeps under it, a little slower to allow for jitter.
        self.tokens = float(HOST_BURST - 1)  # ``resume`` took one
        self.refilled = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(float(HOST_BURST), self.tokens + (now - self.refilled) * HOST_RATE)
        self.refilled = now

    async def ready_for(self, count: int) -> None:
        """Wait until ``count`` messages may be sent back to back."""
        self._refill()
        if self.tokens < count:
            await asyncio.sleep((count - self.tokens) / HOST_RATE)
            self._refill()

    def on_text(self, text: str, arrival: float) -> None:
        message = json.loads(text)
        kind = message.get("type")
        if kind == "event":
            self.take(message["seq"], text, arrival, live=True)
            data = message.get("data") or {}
            if message.get("kind") == "chat":
                future = self.markers.pop(str(data.get("text", "")).rsplit(" ", 1)[-1], None)
                if future is not None and not future.done():
                    future.set_result((message["seq"], text))
            future_kind = self.kinds.pop(message.get("kind"), None)
            if future_kind is not None and not future_kind.done():
                future_kind.set_result((message["seq"], text))
        elif kind == "error":
            self.errors.append(message)
            for future in list(self.markers.values()):
                if not future.done():
                    future.set_exception(Refused(f"{message.get('code')}: {message.get('message')}"))

    async def chat(self, marker: str) -> asyncio.Future[tuple[int, str]]:
        """Send one chat line ending in `` marker``; the future gets its (seq, frame) when it comes back."""
        await self.ready_for(1)
        self.tokens -= 1
        future: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()
        self.markers[marker] = future
        self.refs += 1
        await self.connection.send(
            json.dumps({"type": "chat", "ref": f"b{self.refs}", "text": f"{CHAT_TEXT} {marker}"}, ensure_ascii=False)
        )
        return future

    def expect(self, kind: str) -> asyncio.Future[tuple[int, str]]:
        future: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()
        self.kinds[kind] = future
        return future


# --- one scenario --------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(fraction * (len(ordered) - 1)))))
    return ordered[index]


def summary_ms(values: list[float]) -> dict[str, float]:
    return {
        "samples": len(values),
        "p50_ms": round(percentile(values, 0.50) * 1000, 2),
        "p95_ms": round(percentile(values, 0.95) * 1000, 2),
        "p99_ms": round(percentile(values, 0.99) * 1000, 2),
        "max_ms": round(max(values) * 1000, 2) if values else float("nan"),
    }


@dataclass
class Scenario:
    kind: str  # "core", "pubsub" or "floor"
    size: int
    servers: Servers
    path: str
    cookies: list[str | None]
    host_cookie: str | None
    lot_id: int | None
    options: argparse.Namespace
    env: dict[str, str]
    redis_url: str
    floor_channel: str = ""
    chat_template: str = ""
    opened_template: str = ""


async def connect_all(clients: list[Client], concurrency: int, open_timeout: float) -> dict[str, Any]:
    gate = asyncio.Semaphore(concurrency)
    failures: collections.Counter[str] = collections.Counter()

    async def one(client: Client) -> None:
        async with gate:
            try:
                await client.open(after=0, open_timeout=open_timeout, replay_live=False)
            except Exception as exc:  # noqa: BLE001 - a failed handshake is a result
                client.failure = describe(exc)
                failures[client.failure] += 1

    started = time.perf_counter()
    await asyncio.gather(*(one(client) for client in clients))
    wall = time.perf_counter() - started
    times = [client.handshake for client in clients if client.handshake is not None]
    return {
        "connected": len(times),
        "failed": sum(failures.values()),
        "failures": dict(failures),
        "wall_s": round(wall, 2),
        "handshake": summary_ms(times),
    }


class Phase:
    """CPU seconds of the servers and of this process between start() and stop()."""

    def __init__(self, servers: Servers) -> None:
        self.servers = servers
        self.result: dict[str, Any] = {}

    def __enter__(self) -> Phase:
        self.wall = time.perf_counter()
        self.server_cpu = self.servers.cpu()
        self.client_cpu = own_cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        self.result = {
            "wall_s": round(time.perf_counter() - self.wall, 2),
            "server_cpu_s": [round(b - a, 2) for a, b in zip(self.server_cpu, self.servers.cpu(), strict=True)],
            "client_cpu_s": round(own_cpu() - self.client_cpu, 2),
        }


async def run_scenario(s: Scenario) -> dict[str, Any]:
    options = s.options
    ports = s.servers.ports
    tally = Tally()
    clients = [
        Client(
            url=f"ws://127.0.0.1:{ports[i % 2]}{s.path}",
            cookie=cookie,
            origin=f"http://127.0.0.1:{ports[i % 2]}",
            tally=tally,
            backlog=s.kind != "floor",
        )
        for i, cookie in enumerate(s.cookies)
    ]
    result: dict[str, Any] = {"kind": s.kind, "size": s.size}
    host: Host | None = None
    if s.kind != "floor":
        host = Host(url=f"ws://127.0.0.1:{ports[0]}{s.path}", cookie=s.host_cookie,
                    origin=f"http://127.0.0.1:{ports[0]}")
        await host.open(after=0, open_timeout=60, replay_live=False)

    with Phase(s.servers) as phase:
        result["connect"] = await connect_all(clients, options.connect_concurrency, options.open_timeout)
    result["connect"]["cpu"] = phase.result
    result["server_rss_mib"] = [round(rss_mib(pid), 1) for pid in s.servers.pids]
    connected = [client for client in clients if client.failure is None]
    tally.expected = len(connected)
    if host is not None and host.welcome:
        result["welcome_last_seq"] = host.welcome.get("last_seq")
    say(f"  {s.kind} N={s.size}: {len(connected)} connected in {result['connect']['wall_s']} s "
        f"(handshake p50 {result['connect']['handshake']['p50_ms']} ms, "
        f"p99 {result['connect']['handshake']['p99_ms']} ms), failures {result['connect']['failures']}")
    tally.live.clear()
    publisher = None
    if s.kind == "floor":
        from redis import asyncio as aioredis

        publisher = aioredis.Redis.from_url(s.redis_url)
    floor_seq = max((client.last for client in connected), default=0)

    async def emit_floor(template: str) -> int:
        nonlocal floor_seq
        floor_seq += 1
        at = dt.datetime.now().astimezone().isoformat(timespec="milliseconds")
        text = template.replace('"seq":0,', f'"seq":{floor_seq},', 1).replace('"at":"AT"', f'"at":"{at}"', 1)
        await publisher.publish(s.floor_channel, text.encode())
        return floor_seq

    timeouts = 0
    paced: list[int] = []
    with Phase(s.servers) as phase:
        for k in range(options.events):
            if host is not None:
                future = await host.chat(f"p{k}")
                seq, text = await asyncio.wait_for(future, options.timeout)
                if not s.chat_template:
                    s.chat_template = frame_template(text)
            else:
                seq = await emit_floor(s.chat_template)
            paced.append(seq)
            if not await tally.wait_all(seq, options.timeout):
                timeouts += 1
            await asyncio.sleep(options.gap)
    paced_set = set(paced)
    result["paced"] = {**summary_ms([lat for seq, lat in tally.live if seq in paced_set]),
                       "events": len(paced), "timeouts": timeouts, "cpu": phase.result}
    burst: list[int] = []
    if options.burst:
        with Phase(s.servers) as phase:
            if host is not None:
                await host.ready_for(options.burst)
                futures = [await host.chat(f"b{k}") for k in range(options.burst)]
                burst = [(await asyncio.wait_for(future, options.timeout * 2))[0] for future in futures]
            else:
                burst = [await emit_floor(s.chat_template) for _ in range(options.burst)]
            done = await tally.wait_all(max(burst), options.timeout * 2)
        burst_set = set(burst)
        result["burst"] = {**summary_ms([lat for seq, lat in tally.live if seq in burst_set]),
                           "complete": done, "cpu": phase.result}
    opening: list[int] = []
    if options.opening:
        with Phase(s.servers) as phase:
            if host is not None:
                future_opened = host.expect("opened")
                opener = await asyncio.create_subprocess_exec(
                    sys.executable, str(Path(__file__).resolve()), "--open-lot", str(s.lot_id),
                    cwd=ROOT, env=s.env,
                )
                if await opener.wait() != 0:
                    raise RuntimeError("the opening process failed")
                seq, text = await asyncio.wait_for(future_opened, options.timeout * 3)
                s.opened_template = frame_template(text)
            else:
                seq = await emit_floor(s.opened_template)
            opening.append(seq)
            done = await tally.wait_all(seq, options.timeout * 3)
        result["opening"] = {**summary_ms([lat for q, lat in tally.live if q == seq]),
                             "bytes": tally.sizes.get(seq), "complete": done, "cpu": phase.result}

    # Recovery: anyone still short of the last event resumes (the room) — the floor has no backlog.
    final = max([*paced, *burst, *opening], default=0)
    if host is not None:
        await asyncio.sleep(0.5)
        final = max(final, host.last)
    await asyncio.sleep(0.5)
    behind = [client for client in connected if client.last < final and not client.resyncing]
    if s.kind != "floor":
        await asyncio.gather(*(client.resync() for client in behind))
    deadline = time.monotonic() + options.timeout
    while any(client.resyncing for client in connected) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)

    first = min([*paced], default=1)
    expected_seqs = list(range(first, final + 1))
    out_of_order = sum(1 for client in connected if client.seen != sorted(client.seen))
    lost = sum(len(set(expected_seqs) - set(client.seen)) for client in connected)
    deliveries = len(connected) * len(expected_seqs)
    live_count = sum(1 for seq, _lat in tally.live if first <= seq <= final)
    resumed = sum(count for seq, count in tally.resumed.items() if first <= seq <= final)
    result["delivery"] = {
        "events": len(expected_seqs),
        "expected": deliveries,
        "live": live_count,
        "by_resume": resumed,
        "lost": lost,
        "duplicates": tally.duplicates,
        "gaps_seen": tally.gaps,
        "reconnects": tally.reconnects,
        "reconnect_failures": dict(collections.Counter(tally.reconnect_failures)),
        "clients_out_of_order": out_of_order,
        "chat_frame_bytes": tally.sizes.get(paced[0]) if paced else None,
    }
    if host is not None and host.errors:
        result["host_errors"] = host.errors[:5]

    closing = [client.close() for client in clients if client.connection is not None]
    if host is not None:
        closing.append(host.close())
    await asyncio.gather(*closing, return_exceptions=True)
    if publisher is not None:
        await publisher.aclose()
    return result


def frame_template(text: str) -> str:
    """A frame of the room, as the floor's template: the same bytes with ``seq`` 0 and ``at`` "AT"."""
    seq_end = text.index(",", 22)
    at_start = text.index('"at":"') + 6
    at_end = text.index('"', at_start)
    return '{"type":"event","seq":0,' + text[seq_end + 1 : at_start - 6] + '"at":"AT"' + text[at_end + 1 :]


# --- the whole run ---------------------------------------------------------------------------


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200,1000,2000", help="comma-separated N (default 200,1000,2000)")
    parser.add_argument("--layers", default="core,pubsub",
                        help="channel layers to measure: core (RedisChannelLayer), pubsub (RedisPubSubChannelLayer)")
    parser.add_argument("--no-floor", action="store_true", help="skip the bare websockets floor")
    parser.add_argument("--events", type=int, default=30, help="paced events per scenario (default 30)")
    parser.add_argument("--burst", type=int, default=15,
                        help="events sent back to back (default 15, at most 20: the room's rate limit; 0: none)")
    parser.add_argument("--no-opening", dest="opening", action="store_false",
                        help="skip the opening (the big 'opened' event)")
    parser.add_argument("--gap", type=float, default=0.05, help="seconds between paced events (default 0.05)")
    parser.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for one event everywhere")
    parser.add_argument("--connect-concurrency", type=int, default=100,
                        help="handshakes in flight at once (default 100)")
    parser.add_argument("--open-timeout", type=float, default=30.0, help="seconds for one handshake")
    parser.add_argument("--application", default="config.asgi:application",
                        help="the ASGI application Daphne serves (to try a change of the stack; PYTHONPATH reaches it)")
    parser.add_argument("--daphne-handshake-timeout", type=int, default=30,
                        help="Daphne's --websocket_connect_timeout in seconds (default 30, as the README's deployment"
                             " runs it; 0 for Daphne's own 5)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--open-lot", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


def print_table(results: list[dict[str, Any]]) -> None:
    header = (f"{'scenario':<8} {'N':>5} {'conn':>5} {'fail':>4} {'hs p99':>8} "
              f"{'p50':>7} {'p99':>7} {'max':>7} {'burst p99':>9} {'open p99':>8} "
              f"{'live':>7} {'resume':>6} {'lost':>4} {'dup':>3} {'srv cpu/evt':>11}")
    print(header)
    for r in results:
        d, p = r["delivery"], r["paced"]
        cpu = sum(p["cpu"]["server_cpu_s"]) / max(1, p["events"])
        print(
            f"{r['kind']:<8} {r['size']:>5} {r['connect']['connected']:>5} {r['connect']['failed']:>4} "
            f"{r['connect']['handshake']['p99_ms']:>8} {p['p50_ms']:>7} {p['p99_ms']:>7} {p['max_ms']:>7} "
            f"{r.get('burst', {}).get('p99_ms', '-'):>9} {r.get('opening', {}).get('p99_ms', '-'):>8} "
            f"{d['live']:>7} {d['by_resume']:>6} {d['lost']:>4} {d['duplicates']:>3} {cpu * 1000:>9.1f}ms"
        )


def main() -> int:
    options = arguments()
    database_url, redis_url = require_services()
    work = Path(tempfile.mkdtemp(prefix="sunbid-room-bench-"))
    base_env = server_environment(work / "var")
    os.environ.update(base_env)

    import django

    django.setup()
    if options.open_lot:
        open_lot(options.open_lot)
        return 0

    if options.burst > HOST_BURST:
        raise SystemExit(f"--burst {options.burst}: the room accepts at most {HOST_BURST} messages back to back")
    limit = raise_file_limit()
    sizes = [int(part) for part in options.sizes.split(",") if part.strip()]
    layers = [part.strip() for part in options.layers.split(",") if part.strip()]
    for layer in layers:
        if layer not in ("core", "pubsub"):
            raise SystemExit(f"unknown layer {layer!r}: use core or pubsub")
    if limit < 2 * max(sizes) + 200:
        raise SystemExit(f"open-file limit {limit} is too low for N = {max(sizes)}")

    from django.core.management import call_command

    say(f"work directory {work}; open-file limit {limit}")
    ensure_database(database_url)
    call_command("migrate", verbosity=0, interactive=False)
    world = seed_world(max(sizes))
    results: list[dict[str, Any]] = []
    templates: dict[int, tuple[str, str]] = {}
    try:
        for layer in layers:
            lots = {size: seed_lot(world, size, f"{layer} N={size}") for size in sizes}
            env = server_environment(work / "var", layer)
            servers = start_room(env, work, layer, options.application, options.daphne_handshake_timeout)
            say(f"room with the {layer} layer: Daphne pids {servers.pids} on ports {servers.ports}")
            try:
                for size in sizes:
                    scenario = Scenario(
                        kind=layer, size=size, servers=servers, path=f"/ws/opening/lots/{lots[size]}/",
                        cookies=[person.cookie for person in world.bidders[:size]],
                        host_cookie=world.host.cookie, lot_id=lots[size], options=options,
                        env=env, redis_url=redis_url,
                    )
                    result = asyncio.run(run_scenario(scenario))
                    servers.alive()
                    results.append(result)
                    templates.setdefault(size, (scenario.chat_template, scenario.opened_template))
                    servers.settle()
            finally:
                servers.stop()
            findings = log_findings(servers.logs)
            say(f"room with the {layer} layer: server logs {findings}")
            for result in results:
                if result["kind"] == layer:
                    result["server_log"] = findings
        if not options.no_floor:
            channel = f"sunbid-bench-floor-{secrets.token_hex(4)}"
            servers = start_floor(base_env, work, redis_url, channel)
            say(f"floor: pids {servers.pids} on ports {servers.ports}")
            try:
                for size in sizes:
                    chat, opened = templates.get(size, (fallback_chat(), ""))
                    floor_options = argparse.Namespace(**{**vars(options), "opening": bool(opened) and options.opening})
                    scenario = Scenario(
                        kind="floor", size=size, servers=servers, path="/ws/floor/",
                        cookies=[None] * size, host_cookie=None, lot_id=None, options=floor_options,
                        env=base_env, redis_url=redis_url, floor_channel=channel,
                        chat_template=chat or fallback_chat(), opened_template=opened,
                    )
                    result = asyncio.run(run_scenario(scenario))
                    servers.alive()
                    results.append(result)
                    servers.settle()
            finally:
                servers.stop()
    except Exception as exc:  # noqa: BLE001 - the run failed: say why, exit 2
        say(f"run failed: {type(exc).__name__}: {exc}")
        if results:
            print_table(results)
        return 2

    print_table(results)
    verdict = judge(results, sizes, layers)
    for line in verdict["lines"]:
        print(line)
    if options.json:
        options.json.parent.mkdir(parents=True, exist_ok=True)
        options.json.write_text(json.dumps({"results": results, "verdict": verdict,
                                            "load_average": os.getloadavg()}, indent=2, ensure_ascii=False))
    print(f"load average: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
    return 0 if verdict["ok"] else 1


# What the server logs may say about lost or broken delivery, counted per layer.
LOG_SIGNS = {
    "over_capacity": "channels over capacity",  # channels_redis core dropped a group message
    "redis_timeouts": "Timeout reading from",  # a Redis read gave up (and took a socket with it)
    "pool_exhausted": "Too many connections",  # the Redis pool's cap was hit
    "application_errors": "Exception inside application",  # a consumer crashed: its socket closed
}


def log_findings(logs: list[Path]) -> dict[str, int]:
    text = "\n".join(log.read_text(errors="replace") for log in logs)
    return {name: text.count(sign) for name, sign in LOG_SIGNS.items()}


def fallback_chat() -> str:
    from opening.events import event_text

    """A chat frame as the room makes it, for a floor run without a room run of the same N."""
    return frame_template(
        event_text(
            seq=0, kind="chat", at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            data={"user_name": "room-bench-agent", "organisation_name": "开标室基准测试招标代理有限公司",
                  "role": "host", "text": f"{CHAT_TEXT} p0"},
        )
    )


def judge(results: list[dict[str, Any]], sizes: list[int], layers: list[str]) -> dict[str, Any]:
    lines, ok = [], True
    by = {(r["kind"], r["size"]): r for r in results}
    largest = max(sizes)
    for kind in [*layers, "floor"]:
        r = by.get((kind, largest))
        if r is None:
            continue
        d = r["delivery"]
        clean = r["connect"]["failed"] == 0 and d["lost"] == 0 and d["duplicates"] == 0 and d["clients_out_of_order"] == 0
        logged = r.get("server_log", {})
        clean = clean and not any(logged.values())
        lines.append(f"N={largest} {kind}: failed handshakes {r['connect']['failed']}, lost {d['lost']}, "
                     f"by resume {d['by_resume']}, duplicates {d['duplicates']}, out of order "
                     f"{d['clients_out_of_order']}, server logs {logged or '-'} → {'ok' if clean else 'MISSED'}")
        ok = ok and clean
    ratios = {}
    for kind in layers:
        room, floor = by.get((kind, RATIO_AT)), by.get(("floor", RATIO_AT))
        if room and floor:
            ratio = room["paced"]["p99_ms"] / floor["paced"]["p99_ms"]
            ratios[kind] = round(ratio, 2)
            lines.append(f"N={RATIO_AT} {kind}: p99 room {room['paced']['p99_ms']} ms / floor "
                         f"{floor['paced']['p99_ms']} ms = {ratio:.2f} (target ≤ {RATIO_TARGET:g})")
    chosen = os.environ.get("CHANNEL_LAYER", layers[0] if layers else "core")
    if chosen in ratios:
        ok = ok and ratios[chosen] <= RATIO_TARGET
    return {"ok": ok, "lines": lines, "ratios": ratios}


if __name__ == "__main__":
    sys.exit(main())
