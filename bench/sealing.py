"""Benchmark: a 1 GiB sealed bid through the running server, and its decryption.

Run by hand (not part of the test suite)::

    .venv/bin/python bench/sealing.py             # 1 GiB sealed bid
    .venv/bin/python bench/sealing.py --quick     # 64 MiB
    .venv/bin/python bench/sealing.py --size 256M --keep

Everything happens in a temporary directory (SQLite database, MEDIA_ROOT,
receipt key, the sealed file): nothing of the checkout's ``var/`` is touched.

1. Setup, through the services: an agency, a tenderer and a supervising
   authority with registered keys (the opening key's custodians), a published
   lot, a bidder organisation with its keys, the tender documents obtained,
   and an API token.
2. The real server: Daphne in a subprocess on a free port, with the same
   database and storage.
3. A sealed bid of ``--size`` bytes (the whole sealed file, so a "1 GiB bid"
   fits the default ``BID_MAX_SIZE``), sealed by ``bidding.sealing.seal`` in
   a streaming way from a generator of random-ish data to a temporary file:
   never whole in memory.
4. Upload through the server with the command-line client's ``Uploader``
   (parts of ``BID_UPLOAD_PART_SIZE``, SHA-256 per part, the server's
   whole-file check at the last part, the receipt). Reported: throughput,
   and the server process's peak memory growth — VmHWM (reset through
   ``/proc/<pid>/clear_refs`` after the baseline) and VmRSS sampled every
   20 ms, minus the VmRSS baseline taken after a small warm-up bid (so that
   code loaded on first use is not counted as growth; the growth since
   start-up is shown too). Target: growth < 64 MiB.
5. Decryption: with the clock moved past the opening time (time-machine),
   the real service ``bidding.services.bid_decrypt`` with the file key
   unwrapped by the bidder's key — the bid loaded, header MAC, every chunk,
   the manifest, the signature, the comparison with the upload's hashes, the
   summary, files and file key recorded and audited in one transaction (no
   plaintext is written: files are read later from the ciphertext) — against
   a bare loop over the same stored ciphertext: read a chunk, AES-256-GCM
   decrypt it (same nonces, same AAD), SHA-256 it. Bare loop and service
   alternate ``--repeat`` times (default 3; the bid is put back to "pending"
   between service runs) and the medians count; the local copies are
   deleted and ``os.sync()`` runs (untimed) before each timed run, so no run
   pays for another's dirty pages. Target: service ≥ 0.8 × bare loop.
   ``--profile`` shows where the service spends its time (the ratio is then
   not valid).
6. Reading back (reported, no target): the bid's big file read whole through
   ``bidding.storage.open_bid_file`` (every chunk decrypted and verified
   again), and 4 KiB reads at random places of it (each decrypts one or two
   chunks).

Prints a table; exits 1 when a target is missed, 2 when the run itself failed.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import hashlib
import io
import os
import pstats
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MiB = 1024 * 1024
GiB = 1024 * MiB
DEFAULT_SIZE = GiB
QUICK_SIZE = 64 * MiB
WARM_UP_SIZE = 256 * 1024
MEMORY_TARGET = 64 * MiB
RATIO_TARGET = 0.8
SAMPLE_SECONDS = 0.02
POOL_SIZE = 8 * MiB


def parse_size(text: str) -> int:
    units = {"K": 1024, "M": MiB, "G": GiB}
    text = text.strip().upper().removesuffix("IB").removesuffix("B")
    factor = units.get(text[-1:], 1)
    number = text[:-1] if text[-1:] in units else text
    try:
        value = int(float(number) * factor)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text} (e.g. 1G, 256M)") from None
    if value < 4 * MiB:
        raise argparse.ArgumentTypeError("the size must be at least 4M")
    return value


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size", type=parse_size, default=DEFAULT_SIZE, help="sealed bid size (default 1G)"
    )
    parser.add_argument("--quick", action="store_true", help="64 MiB instead of the default 1 GiB")
    parser.add_argument(
        "--workdir", help="where to put database, storage and files (default: a temp dir)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory afterwards")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="bare loop and service runs, alternated; medians count (default 3)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile the decryption service (slows it: the ratio is then not valid)",
    )
    args = parser.parse_args()
    if args.quick:
        args.size = QUICK_SIZE
    return args


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- the environment: set before Django reads its settings ------------------------------------


def prepare_environment(work: Path, size: int) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("DATABASE_URL", "REDIS_URL", "RECEIPT_SIGNING_KEY", "MEDIA_ROOT", "SERVE_STATIC"):
        env.pop(name, None)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "SUNBID_VAR_DIR": str(work / "var"),
            "MEDIA_ROOT": str(work / "media"),
            "DEBUG": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if size > GiB:
        env["BID_MAX_SIZE"] = str(size)
    os.environ.clear()
    os.environ.update(env)
    return env


# --- random-ish content, never whole in memory -----------------------------------------------


class RandomishReader(io.RawIOBase):
    """``size`` bytes drawn from an 8 MiB random pool at a position that moves per MiB.

    Cheap enough not to dominate the sealing time, different in every chunk,
    and incompressible; only the pool is ever in memory.
    """

    def __init__(self, size: int) -> None:
        self.remaining = size
        self.position = 0
        self.pool = os.urandom(POOL_SIZE)
        self.view = memoryview(self.pool + self.pool[:MiB])

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        target = memoryview(buffer).cast("B")
        count = min(len(target), self.remaining)
        done = 0
        while done < count:
            block, within = divmod(self.position, MiB)
            start = (block * 7919 * 4099 + within) % POOL_SIZE
            step = min(count - done, MiB - within)
            target[done : done + step] = self.view[start : start + step]
            done += step
            self.position += step
        self.remaining -= count
        return count


# --- server process memory --------------------------------------------------------------------


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in bytes."""
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0]) * 1024
    return values


def reset_peak(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0, own processes)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w", encoding="ascii") as clear:
            clear.write("5")
        return True
    except OSError:
        return False


class MemorySampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_rss = 0
        self.samples = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            with contextlib.suppress(OSError):
                self.peak_rss = max(self.peak_rss, proc_status(self.pid)["VmRSS"])
                self.samples += 1
            self.stopping.wait(SAMPLE_SECONDS)

    def stop(self) -> None:
        self.stopping.set()
        self.join()


# --- setup through the services ---------------------------------------------------------------


@dataclass
class World:
    lot_id: int
    bidder_keys: Any
    token: str


def seed() -> World:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.utils import timezone

    from accounts.credit_code import make as make_code
    from accounts.models import OrganisationKind, Role
    from accounts.services import (
        api_token_create,
        organisation_create,
        organisation_key_register,
        user_create,
    )
    from bidding.sealing import keys as sealkeys
    from tendering import services as tendering
    from tendering.models import EvaluationMethod

    def org(name: str, kind: str, serial: int):
        return organisation_create(
            actor=None, name=name, code=make_code(f"91330100MC{serial:07d}"), kind=kind
        )

    def person(username: str, organisation, role: str):
        return user_create(
            actor=None,
            organisation=organisation,
            username=username,
            password=os.urandom(12).hex(),
            roles=[role],
            full_name=username,
            email=f"{username}@example.cn",
        )

    def register(user) -> sealkeys.KeySet:
        keyset = sealkeys.KeySet.generate(user.organisation.credit_code)
        organisation_key_register(
            actor=user,
            encryption_public=sealkeys.spki_der(keyset.encryption_private),
            signing_public=sealkeys.spki_der(keyset.signing_private),
        )
        return keyset

    agency = org("基准测试招标代理有限公司", OrganisationKind.AGENCY, 1)
    tenderer = org("基准测试招标人", OrganisationKind.TENDERER, 2)
    supervisor = org("基准测试监督部门", OrganisationKind.SUPERVISOR, 3)
    bidder_org = org("基准测试投标人有限公司", OrganisationKind.BIDDER, 4)
    agent = person("bench-agent", agency, Role.AGENT)
    rep = person("bench-tenderer", tenderer, Role.TENDERER_REP)
    sup = person("bench-supervisor", supervisor, Role.SUPERVISOR)
    bidder = person("bench-bidder", bidder_org, Role.BIDDER)
    say("setup: generating and registering RSA-3072 keys for the custodians and the bidder …")
    for custodian in (agent, rep, sup):
        register(custodian)
    bidder_keys = register(bidder)

    now = timezone.now()
    deadline = now + dt.timedelta(days=30)
    tender = tendering.tender_create(
        actor=agent,
        data=tendering.TenderInput(
            title="基准测试：门诊楼改造工程招标公告",
            project_name="基准测试门诊楼改造工程",
            tenderer_id=tenderer.pk,
            category="construction",
            region="330000",
            description="密封投标基准测试用招标项目。",
            contact_name="王工",
            contact_phone="0571-88880000",
            supervising_authority_id=supervisor.pk,
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
            bid_deadline=deadline,
            opening_time=deadline,
            evaluation_method=EvaluationMethod.COMPREHENSIVE,
        ),
    )
    tendering.document_upload(
        actor=agent,
        tender=tender,
        upload=SimpleUploadedFile(
            "招标文件.pdf", b"%PDF-1.4 bench tender documents", "application/pdf"
        ),
    )
    tender = tendering.tender_publish(actor=agent, tender=tender)
    tendering.documents_obtain(actor=bidder, tender=tender)
    _token, secret = api_token_create(actor=bidder, name="bench")
    return World(lot_id=tender.lots.get().pk, bidder_keys=bidder_keys, token=secret)


class TimedUploader:
    """The client's Uploader, timing each part: the last one includes the server's whole-file check."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        from bidding import client

        class Timed(client.Uploader):
            part_seconds: list[float]

            def _send_part(self, upload: str, index: int, data: bytes) -> dict[str, Any]:
                started = time.perf_counter()
                try:
                    return super()._send_part(upload, index, data)
                finally:
                    self.part_seconds.append(time.perf_counter() - started)

        uploader = Timed(*args, **kwargs)
        uploader.part_seconds = []
        return uploader


# --- the server -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as output:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "config.asgi:application",
            ],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"daphne exited with {server.returncode}; see {log}")
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/api/receipt-key", timeout=2
            ) as answer:
                if answer.status == 200:
                    return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError(f"daphne did not answer within 90 s; see {log}")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# --- sealing ----------------------------------------------------------------------------------


def content_size_for(sealed_size: int, chunk_size: int, tag_size: int) -> int:
    """Plaintext content that seals to at most ``sealed_size`` bytes (header and manifest under 8 KiB)."""
    chunks = -(-sealed_size // chunk_size)
    return sealed_size - chunks * tag_size - 8192


def seal_bid(path: Path, lot: Any, keys: Any, content: int, name: str) -> tuple[Any, float]:
    from bidding.sealing import format as sealing

    started = time.perf_counter()
    with open(path, "wb") as out:
        result = sealing.seal(
            out,
            tender=lot.tender,
            lot=lot.lot_number,
            bidder=keys.organisation,
            bidder_key=keys.encryption_private.public_key(),
            opening_key=lot.opening_key,
            signing_key=keys.signing_private,
            summary={"price": "11500000.00", "duration_days": 365, "quality": "合格", "fields": {}},
            files=[
                (
                    sealing.FileEntry(name, content, "application/octet-stream"),
                    RandomishReader(content),
                )
            ],
        )
    return result, time.perf_counter() - started


# --- decryption -------------------------------------------------------------------------------


def bare_loop(bid: Any, file_key: bytes) -> float:
    """Seconds for: read every chunk of the stored ciphertext, AES-256-GCM decrypt it, SHA-256 it."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.hashes import SHA256
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    from bidding import storage
    from bidding.sealing import format as sealing

    started = time.perf_counter()
    with storage.open_sealed_stream(bid) as stream:
        header = sealing.read_header(stream)
        key = HKDF(
            algorithm=SHA256(), length=32, salt=header.nonce, info=b"sunbid/v1 payload"
        ).derive(file_key)
        aead = AESGCM(key)
        aad = header.digest
        payload = bid.size - header.length - sealing.SIGNATURE_SIZE
        step = sealing.CHUNK_SIZE + sealing.TAG_SIZE
        chunks = -(-payload // step)
        digest = hashlib.sha256()
        for index in range(chunks):
            final = index == chunks - 1
            chunk = stream.read(payload - index * step if final else step)
            digest.update(chunk)
            aead.decrypt(index.to_bytes(11, "big") + (b"\x01" if final else b"\x00"), chunk, aad)
    return time.perf_counter() - started


def forget_decryption(bid_id: str) -> None:
    """Put a decrypted bid back to "pending" (no files, no kept key) for another timed run.

    Only for this benchmark's throw-away database: ``bid_decrypt`` returns a
    decrypted bid unchanged, so a repeated measurement needs it undone.
    """
    from bidding.models import Bid, BidFile, DecryptionStatus

    BidFile.objects.filter(bid_id=bid_id).delete()
    Bid.objects.filter(pk=bid_id).update(
        decryption_status=DecryptionStatus.PENDING, decrypted_at=None, file_key=None
    )


def read_back(bid_id: str) -> dict[str, Any]:
    """Seconds to read the bid's largest file whole through ``open_bid_file``, and random 4 KiB reads."""
    import random

    from bidding import storage
    from bidding.models import BidFile

    entry = (
        BidFile.objects.select_related("bid", "bid__upload")
        .filter(bid_id=bid_id)
        .order_by("-size")
        .first()
    )
    assert entry is not None
    os.sync()
    started = time.perf_counter()
    total = 0
    with storage.open_bid_file(entry) as reader:
        for block in iter(lambda: reader.read(MiB), b""):
            total += len(block)
    whole = time.perf_counter() - started
    if total != entry.size:
        raise RuntimeError(f"read back {total} bytes of {entry.size}")
    picks = random.Random(7).sample(range(max(1, entry.size - 4096)), 100)
    started = time.perf_counter()
    with storage.open_bid_file(entry) as reader:
        for position in picks:
            reader.seek(position)
            if len(reader.read(4096)) != min(4096, entry.size - position):
                raise RuntimeError("short random read")
    random_each = (time.perf_counter() - started) / len(picks)
    return {"size": entry.size, "whole": whole, "random_each": random_each}


def decrypt(world: World, bid_id: str, *, repeat: int, profile: bool = False) -> dict[str, Any]:
    """Alternate bare loop and service ``repeat`` times; medians, and the first run's memory growth."""
    import time_machine
    from django.db import connections

    from bidding import services
    from bidding.models import Bid, DecryptionStatus

    connections.close_all()
    bid = Bid.objects.select_related("lot").get(pk=bid_id)
    bare_runs: list[float] = []
    service_runs: list[float] = []
    growth = float("nan")
    pid = os.getpid()
    with time_machine.travel(bid.lot.opening_time + dt.timedelta(seconds=1), tick=True):
        file_key = services.file_key_from_private_key(
            bid=bid, role="bidder", private_key=world.bidder_keys.encryption_private
        )
        for run in range(repeat):
            if run:
                forget_decryption(bid_id)
            # Every timed run starts with no dirty pages left by the one before (sync is not timed).
            os.sync()
            bare_runs.append(bare_loop(bid, file_key))
            os.sync()
            rss_before = proc_status(pid)["VmRSS"]
            reset = reset_peak(pid)
            profiler = cProfile.Profile() if profile and run == 0 else None
            started = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            opened = services.bid_decrypt(bid=bid, file_key=file_key)
            if profiler is not None:
                profiler.disable()
            service_runs.append(time.perf_counter() - started)
            if run == 0 and reset:
                growth = proc_status(pid)["VmHWM"] - rss_before
            if profiler is not None:
                # Where the service spends its time beyond the bare loop (the profiler adds its own cost).
                pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(15)
            if opened.decryption_status != DecryptionStatus.DECRYPTED:
                raise RuntimeError(f"the bid was not decrypted: {opened.decryption_error_code}")
        back = read_back(bid_id)
    stored = sum(item.size for item in opened.files.all())
    return {
        "size": bid.size,
        "plaintext": stored,
        "read_back": back,
        "service": statistics.median(service_runs),
        "bare": statistics.median(bare_runs),
        "service_runs": service_runs,
        "bare_runs": bare_runs,
        "growth": growth,
    }


# --- the run ----------------------------------------------------------------------------------


def main() -> int:
    args = arguments()
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="sunbid-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    env = prepare_environment(work, args.size)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from bidding import client
    from bidding.sealing import format as sealing

    server = None
    try:
        say(f"work directory: {work}")
        call_command("migrate", verbosity=0)
        world = seed()
        connections.close_all()

        port = free_port()
        server = start_server(env, port, work / "daphne.log")
        pid = server.pid
        rss_start = proc_status(pid)["VmRSS"]
        console = client.Console(quiet=False, out=sys.stderr, err=sys.stderr)
        api = client.Api(f"http://127.0.0.1:{port}", world.token, timeout=600)
        lot = client.fetch_lot(api, world.lot_id)

        # Warm-up: one small bid through every code path, so the baseline holds the loaded code.
        warm = work / "warm-up.sealed"
        seal_bid(warm, lot, world.bidder_keys, WARM_UP_SIZE, "预热.bin")
        client.Uploader(api, warm, world.lot_id, console=client.Console(quiet=True)).run()

        target = args.size
        content = content_size_for(target, sealing.CHUNK_SIZE, sealing.TAG_SIZE)
        bid_file = work / "bid.sealed"
        say(f"sealing {content / MiB:.1f} MiB of content into {bid_file} …")
        sealed, seal_seconds = seal_bid(
            bid_file, lot, world.bidder_keys, content, "工程量清单及技术标.bin"
        )
        assert sealed.size <= target, (sealed.size, target)

        baseline = proc_status(pid)["VmRSS"]
        peak_reset = reset_peak(pid)
        sampler = MemorySampler(pid)
        sampler.start()
        say(f"uploading {sealed.size / MiB:.1f} MiB through daphne (pid {pid}) …")
        started = time.perf_counter()
        uploader = TimedUploader(api, bid_file, world.lot_id, console=console)
        outcome = uploader.run()
        upload_seconds = time.perf_counter() - started
        sampler.stop()
        status = proc_status(pid)
        peak = max(sampler.peak_rss, status["VmHWM"] if peak_reset else 0)
        key = client.fetch_receipt_key(api)
        list(client.verify_receipt(outcome.receipt, key, size=sealed.size, sha256=sealed.sha256))
        stop_server(server)
        server = None

        # The client's copy is no longer needed, and the dirty pages of everything written so far
        # are flushed: the decryption runs then do not pay for the upload's disk writes.
        bid_file.unlink()
        warm.unlink()
        os.sync()
        say("decrypting with bidding.services.bid_decrypt and the bare loop …")
        decryption = decrypt(world, str(outcome.bid), repeat=args.repeat, profile=args.profile)
    except Exception as exc:  # a broken run is reported, not a missed target
        say(f"benchmark failed: {exc!r}")
        log = work / "daphne.log"
        if log.exists():
            say(
                "--- daphne.log (tail) ---\n"
                + "\n".join(log.read_text(errors="replace").splitlines()[-30:])
            )
        raise SystemExit(2) from exc
    finally:
        if server is not None:
            stop_server(server)

    growth = peak - baseline
    upload_rate = sealed.size / upload_seconds / MiB
    service_rate = decryption["size"] / decryption["service"] / MiB
    bare_rate = decryption["size"] / decryption["bare"] / MiB
    ratio = service_rate / bare_rate
    back = decryption["read_back"]
    memory_ok = growth < MEMORY_TARGET
    ratio_ok = ratio >= RATIO_TARGET

    rows = [
        ("sealed bid", f"{sealed.size / MiB:,.1f} MiB", "", ""),
        ("sealing (client, streaming)", f"{sealed.size / seal_seconds / MiB:,.1f} MiB/s", "", ""),
        ("upload through daphne", f"{upload_rate:,.1f} MiB/s", "", f"{upload_seconds:.1f} s"),
        (
            "  last part + whole-file check",
            f"{uploader.part_seconds[-1]:.1f} s",
            "",
            f"other parts {sum(uploader.part_seconds[:-1]) / max(1, len(uploader.part_seconds) - 1) * 1000:.0f} ms each",
        ),
        (
            "server RSS baseline",
            f"{baseline / MiB:,.1f} MiB",
            "",
            f"at start-up {rss_start / MiB:.1f} MiB",
        ),
        (
            "server peak growth",
            f"{growth / MiB:,.1f} MiB",
            "< 64 MiB",
            "ok" if memory_ok else "MISSED",
        ),
        (
            "  (growth since start-up)",
            f"{(peak - rss_start) / MiB:,.1f} MiB",
            "",
            f"{sampler.samples} samples" + ("" if peak_reset else ", VmHWM not reset"),
        ),
        (
            "decrypt + verify (service)",
            f"{service_rate:,.1f} MiB/s",
            "",
            "median of " + " / ".join(f"{run:.2f} s" for run in decryption["service_runs"]),
        ),
        (
            "bare AES-256-GCM + SHA-256",
            f"{bare_rate:,.1f} MiB/s",
            "",
            "median of " + " / ".join(f"{run:.2f} s" for run in decryption["bare_runs"]),
        ),
        ("service / bare", f"{ratio:.2f}", ">= 0.80", "ok" if ratio_ok else "MISSED"),
        (
            "decryption memory growth",
            f"{decryption['growth'] / MiB:,.1f} MiB",
            "",
            "bench process, reported",
        ),
        (
            "read a file back (open_bid_file)",
            f"{back['size'] / back['whole'] / MiB:,.1f} MiB/s",
            "",
            f"{back['size'] / MiB:,.1f} MiB in {back['whole']:.2f} s",
        ),
        (
            "  4 KiB at a random place",
            f"{back['random_each'] * 1000:.1f} ms",
            "",
            "mean of 100 reads",
        ),
    ]
    print(
        f"\nSunbid sealed bid benchmark — {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, {os.cpu_count()} CPUs"
    )
    print(f"{'':32}{'measured':>18}  {'target':>10}  note")
    for label, value, goal, note in rows:
        print(f"{label:32}{value:>18}  {goal:>10}  {note}")
    print(
        f"\nreceipt {outcome.receipt['receipt_no']} verified; {decryption['plaintext'] / MiB:,.1f} MiB"
        " of files recorded, no plaintext stored"
    )

    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        say(f"kept: {work}")
    return 0 if memory_ok and ratio_ok else 1


if __name__ == "__main__":
    sys.exit(main())
