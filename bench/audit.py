"""Benchmark: audit appends per second with concurrent writers, and verification speed (PostgreSQL).

Run by hand (not part of the test suite), on a database of its own::

    DB_PREPARE_THRESHOLD=5 DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_audit .venv/bin/python bench/audit.py
    ... bench/audit.py --writers 1,8,16 --seconds 10 --no-verify      # the append phase only
    ... bench/audit.py --verify-events 1000000 --no-append --jobs 2  # the verification phase only
    ... bench/audit.py --verify-events 1000000 --no-append --keep    # verify again what the last run wrote

DB_PREPARE_THRESHOLD=5 is the setting the README recommends for a deployment
connected straight to PostgreSQL; without it the append is not prepared.

The database is created if missing and migrated; the audit tables are
emptied first (this is a bench database: never point it at real data).

1. appends: W writer processes (W = 1, 8, 16), each its own connection,
   each appending one event per transaction through ``audit.services.record``
   (the path every service takes) for ``--seconds``. Reported: appends per
   second over the wall time, p50/p99 of one append transaction, strands
   used; then the chain is verified (every strand linked, no gap) and the
   new events are integrated into the Merkle tree (integration rate).
2. verification: ``--verify-events`` format 2 events spread over the
   strands are written straight into the table (hashes computed here, COPY),
   integrated, and then ``manage.py verify_audit``'s two checks are timed:
   the chains (``audit.selectors.chain_verify`` with ``--jobs`` worker
   processes) and the tree against a checkpoint (``audit.tree.tree_verify``).
   Reported: events per second.

Targets (issue 6): ≥ 2,000 appends/s at 16 writers; ≥ 500,000 events/s verified.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import statistics
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# As deployed: DEBUG off, so Django does not log every statement (its debug cursor wrapper
# costs a tenth of an append's client CPU). The writer processes inherit this environment.
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "sunbid-bench-audit-" + "x" * 48)  # the bench's own database only
os.environ.setdefault("ALLOWED_HOSTS", "localhost")


def _bench_signing_key() -> None:
    """A platform key of the bench's own for its checkpoints (DEBUG off creates none), kept under var/."""
    if os.environ.get("RECEIPT_SIGNING_KEY"):
        return
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = BASE_DIR / "var" / "bench-audit-signing-key.pem"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path.write_bytes(pem)
        path.chmod(0o600)
    os.environ["RECEIPT_SIGNING_KEY"] = str(path)


_bench_signing_key()


def _setup() -> None:
    import django

    django.setup()


def _ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def _empty_audit_tables() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE audit_auditevent, audit_auditleaf, audit_auditnode, audit_audittreestate, audit_auditcheckpoint"
        )


def _writer(seconds: float, standalone: bool, ready: mp.Queue, go: mp.Queue, out: mp.Queue) -> None:
    _setup()
    from django.db import connection, transaction

    from audit.services import record, record_standalone

    connection.ensure_connection()
    ready.put(os.getpid())
    start_at = go.get()
    while time.time() < start_at:
        time.sleep(0.0005)
    stop = start_at + seconds
    cpu_began = time.process_time()
    durations: list[float] = []
    strands: set[int] = set()
    n = 0
    while True:
        began = time.perf_counter()
        if time.time() >= stop:
            break
        data = {"n": n, "writer": os.getpid(), "amount": "1234567.89", "名称": "压力测试"}
        if standalone:
            event = record_standalone("bench.append", actor=None, data=data, tender_id=1, lot_id=1)
        else:
            with transaction.atomic():
                event = record("bench.append", actor=None, data=data, tender_id=1, lot_id=1)
        durations.append(time.perf_counter() - began)
        strands.add(event.strand)
        n += 1
    out.put((n, durations, sorted(strands), time.process_time() - cpu_began))
    connection.close()


def bench_appends(writers: int, seconds: float, standalone: bool = False) -> dict[str, object]:
    from django.db import connection

    from audit.models import AuditEvent
    from audit.selectors import chain_verify
    from audit.tree import tree_integrate

    before = AuditEvent.objects.count()
    connection.close()
    context = mp.get_context("spawn")
    out: mp.Queue = context.Queue()
    ready: mp.Queue = context.Queue()
    go: mp.Queue = context.Queue()
    processes = [context.Process(target=_writer, args=(seconds, standalone, ready, go, out)) for _ in range(writers)]
    for process in processes:
        process.start()
    for _ in processes:  # every writer set up and connected before the clock starts
        ready.get(timeout=300)
    start_at = time.time() + 0.5
    for _ in processes:
        go.put(start_at)
    results = [out.get(timeout=seconds + 120) for _ in processes]
    for process in processes:
        process.join()
    total = sum(n for n, _, _, _ in results)
    durations = sorted(d for _, ds, _, _ in results for d in ds)
    strands = sorted({s for _, _, ss, _ in results for s in ss})
    client_cpu = sum(cpu for *_, cpu in results)
    report = chain_verify()
    integrated, began = 0, time.perf_counter()
    while True:
        added = tree_integrate()
        if not added:
            break
        integrated += added
    integrate_seconds = time.perf_counter() - began
    return {
        "writers": writers,
        "mode": "standalone" if standalone else "transaction",
        "appends": total,
        "per_second": total / seconds,
        "p50_ms": statistics.median(durations) * 1000 if durations else 0.0,
        "p99_ms": durations[int(len(durations) * 0.99) - 1] * 1000 if durations else 0.0,
        "strands": len(strands),
        "client_cpu_ms_per_append": client_cpu * 1000 / total if total else 0.0,
        "chain_ok": report.ok and report.checked == before + total,
        "integrated_per_second": integrated / integrate_seconds if integrate_seconds else 0.0,
    }


def write_events(count: int, strands: int) -> None:
    """``count`` format 2 events over ``strands`` strands, hashed here and COPYed in."""
    import datetime as dt

    from django.db import connection

    from audit.encoding import envelope_text_v2, format_time, text_hash

    heads = {s: (0, "0" * 64) for s in range(strands)}
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    columns = (
        "seq, created_at, actor_id, actor_name, organisation_id, organisation_name, ip, user_agent, action, "
        "object_type, object_id, tender_id, lot_id, sensitivity, payload, strand, strand_seq, format, prev_hash, hash"
    )
    rng = random.Random(7)
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(f"COPY audit_auditevent ({columns}) FROM STDIN") as copy:
            for seq in range(1, count + 1):
                strand = rng.randrange(strands)
                position, prev = heads[strand]
                when = start + dt.timedelta(microseconds=seq * 1000)
                fields = {
                    "seq": seq,
                    "actor_id": 1000 + seq % 500,
                    "actor_name": f"user{seq % 500}",
                    "organisation_id": 10 + seq % 50,
                    "organisation_name": f"浙江第{seq % 50}建设集团有限公司",
                    "ip": f"10.{seq % 200}.{seq % 7}.{seq % 250}",
                    "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0",
                    "action": "bidding.upload.part_stored",
                    "object_type": "bidding.upload",
                    "object_id": f"{seq:08x}-0000-4000-8000-000000000000",
                    "tender_id": 1 + seq % 300,
                    "lot_id": 1 + seq % 900,
                    "sensitivity": "",
                    "payload": f'{{"index":{seq % 64},"sha256":"{seq:064x}","size":8388608}}',
                    "prev_hash": prev,
                    "strand": strand,
                    "strand_seq": position + 1,
                }
                digest = text_hash(envelope_text_v2(time=format_time(when), **fields))
                heads[strand] = (position + 1, digest)
                copy.write_row(
                    [
                        seq, when, fields["actor_id"], fields["actor_name"], fields["organisation_id"],
                        fields["organisation_name"], fields["ip"], fields["user_agent"], fields["action"],
                        fields["object_type"], fields["object_id"], fields["tender_id"], fields["lot_id"],
                        "", fields["payload"], strand, position + 1, 2, prev, digest,
                    ]
                )
        cursor.execute("SELECT setval('sunbid_audit_seq', %s)", [count + 1])
        cursor.execute("ANALYZE audit_auditevent")


def bench_verify(count: int, strands: int, keep: bool = False, jobs: int = 1) -> dict[str, object]:
    from audit.models import AuditEvent, CheckpointReason
    from audit.selectors import chain_verify
    from audit.tree import checkpoint_make, tree_verify

    began = time.perf_counter()
    if not (keep and AuditEvent.objects.count() >= count):
        _empty_audit_tables()
        write_events(count, strands)
    written = time.perf_counter() - began
    began = time.perf_counter()
    checkpoint = checkpoint_make(reason=CheckpointReason.MANUAL)
    integrate = time.perf_counter() - began
    began = time.perf_counter()
    report = chain_verify(chunk_size=20000, jobs=jobs)
    chains = time.perf_counter() - began
    began = time.perf_counter()
    findings = tree_verify()
    tree_seconds = time.perf_counter() - began
    return {
        "events": report.checked,
        "write_seconds": written,
        "integrate_seconds": integrate,
        "checkpoint_size": checkpoint.size,
        "chains_ok": report.ok,
        "chains_seconds": chains,
        "chains_per_second": report.checked / chains,
        "tree_ok": not findings,
        "tree_seconds": tree_seconds,
        "both_per_second": report.checked / (chains + tree_seconds),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writers", default="1,8,16")
    parser.add_argument("--seconds", type=float, default=10.0)
    # transaction: record() in transaction.atomic(), as a service appends with its change (BEGIN, append,
    # COMMIT); standalone: record_standalone(), as a sign-in is recorded (one autocommit statement).
    parser.add_argument("--modes", default="transaction,standalone")
    parser.add_argument("--verify-events", type=int, default=1_000_000)
    parser.add_argument("--no-append", dest="append", action="store_false")
    parser.add_argument("--no-verify", dest="verify", action="store_false")
    # Verify the events a previous run wrote (when there are at least --verify-events) instead of writing anew.
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes reading the chains (verify_audit --jobs)")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        print("DATABASE_URL must name a PostgreSQL database of the bench's own", file=sys.stderr)
        return 2
    _ensure_database(url)
    _setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print(f"load average {os.getloadavg()}; AUDIT_STRANDS={settings.AUDIT_STRANDS}; cpus {os.cpu_count()}")
    ok = True
    if args.append:
        _empty_audit_tables()
        print(
            f"{'mode':>11} {'writers':>7} {'appends':>8} {'per s':>8} {'p50 ms':>7} {'p99 ms':>7} {'strands':>7}"
            " chain  integrate/s  client cpu/append"
        )
        runs = [(mode, int(w)) for mode in args.modes.split(",") for w in args.writers.split(",")]
        for mode, writers in runs:
            result = bench_appends(writers, args.seconds, standalone=mode == "standalone")
            print(
                f"{result['mode']:>11} {result['writers']:>7} {result['appends']:>8} {result['per_second']:>8.0f} {result['p50_ms']:>7.2f}"
                f" {result['p99_ms']:>7.2f} {result['strands']:>7} {'ok' if result['chain_ok'] else 'BROKEN':>5}"
                f"  {result['integrated_per_second']:>11.0f}  {result['client_cpu_ms_per_append']:>8.3f} ms",
                flush=True,
            )
            ok = ok and bool(result["chain_ok"])
            if writers == 16 and mode == "standalone":
                ok = ok and float(result["per_second"]) >= 2000  # type: ignore[arg-type]
    if args.verify:
        result = bench_verify(args.verify_events, settings.AUDIT_STRANDS, keep=args.keep, jobs=args.jobs)
        print(
            f"verification of {result['events']} events: written in {result['write_seconds']:.1f} s, integrated and"
            f" checkpointed in {result['integrate_seconds']:.1f} s; chains {result['chains_seconds']:.2f} s"
            f" ({result['chains_per_second']:.0f}/s, {'ok' if result['chains_ok'] else 'BROKEN'}), tree"
            f" {result['tree_seconds']:.2f} s ({'ok' if result['tree_ok'] else 'BROKEN'}); both"
            f" {result['both_per_second']:.0f} events/s"
        )
        ok = ok and bool(result["chains_ok"]) and bool(result["tree_ok"])
        ok = ok and float(result["both_per_second"]) >= 500_000  # type: ignore[arg-type]
    print(f"load average {os.getloadavg()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
