"""Verifying the chains in PostgreSQL at speed (``manage.py verify_audit``, docs/audit.md §6).

The rows leave the database as one COPY stream per seq range, all ranges read
in one exported snapshot, and ``audit.chain.scan_copy`` checks them in
streaming fashion (one process per range with ``jobs`` > 1). What the fast
walk cannot certify — rows it cannot rebuild byte for byte, strands where
something does not hold — goes back to the reference (``_row_hash``,
``verify_rows``) in the same snapshot, so the report is exactly the one the
reference walk would give, only sooner.
"""

from __future__ import annotations

import dataclasses
import multiprocessing

from django.db import connection, transaction
from django.db.models import Max, Min

from audit.chain import (
    ROW_FIELDS,
    ChainReport,
    deferred_holds,
    scan_copy_range,
    scan_copy_range_in_process,
    set_copy_session,
    stitch,
    verify_rows,
)
from audit.models import AuditEvent

_DEFERRED_BATCH = 2000
_DJANGO_OPTIONS = {"isolation_level", "server_side_binding", "assume_role", "pool", "prepare_threshold"}


def _conninfo() -> str:
    from psycopg.conninfo import make_conninfo

    settings = connection.settings_dict
    parts = {
        "dbname": settings.get("NAME") or None,
        "user": settings.get("USER") or None,
        "password": settings.get("PASSWORD") or None,
        "host": settings.get("HOST") or None,
        "port": str(settings["PORT"]) if settings.get("PORT") else None,
    }
    # The rest of OPTIONS are libpq's (sslmode, sslrootcert, …) but for what Django itself reads.
    for key, value in settings.get("OPTIONS", {}).items():
        if key not in _DJANGO_OPTIONS and isinstance(value, str | int) and not isinstance(value, bool):
            parts[key] = str(value)
    return make_conninfo(**{key: value for key, value in parts.items() if value is not None})


def _ranges(lo: int, hi: int, jobs: int) -> list[tuple[int, int]]:
    """[lo, hi] cut into ``jobs`` consecutive half-open seq ranges."""
    step = -(-(hi - lo + 1) // jobs)
    return [(start, min(start + step, hi + 1)) for start in range(lo, hi + 1, step)]


def chain_verify_postgresql(*, jobs: int = 1, chunk_size: int = 5000) -> ChainReport:
    """The chains' report, as ``verify_rows`` over every strand would give it (PostgreSQL).

    With ``jobs`` > 1 the ranges are read by that many worker processes, on
    connections of their own that share this transaction's snapshot; that
    needs committed rows (a management command, not a test's transaction).
    """
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        with connection.cursor() as cursor:
            if outermost:
                # A transaction of our own: one snapshot for every statement of the walk.
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            set_copy_session(cursor)
            bounds = AuditEvent.objects.aggregate(lo=Min("seq"), hi=Max("seq"))
            lo, hi = bounds["lo"], bounds["hi"]
            if lo is None:
                return ChainReport(ok=True, checked=0, head_seq=None, head_hash=None, strands=0)
            ranges = _ranges(lo, hi, max(1, jobs))
            if len(ranges) == 1:
                scans = [scan_copy_range(cursor.cursor, lo, hi + 1)]
            else:
                cursor.execute("SELECT pg_export_snapshot()")
                (snapshot,) = cursor.fetchone()
                tasks = [(_conninfo(), snapshot, start, end) for start, end in ranges]
                with multiprocessing.get_context("spawn").Pool(len(tasks)) as pool:
                    scans = pool.map(scan_copy_range_in_process, tasks)
        counts, suspect, first_v2 = stitch(scans)
        _check_deferred([d for scan in scans for d in scan.deferred if d[1] not in suspect], first_v2, suspect)
        checked = 0
        for strand in sorted(counts):
            if strand not in suspect:
                checked += counts[strand]
                continue
            rows = (
                AuditEvent.objects.filter(strand=strand)
                .order_by("strand_seq")
                .values(*ROW_FIELDS)
                .iterator(chunk_size=chunk_size)
            )
            report = verify_rows(rows)
            if not report.ok:
                return dataclasses.replace(report, checked=checked + report.checked)
            checked += report.checked
    heads = [(scan.head_seq, scan.head_hash) for scan in scans if scan.head_seq is not None]
    head_seq, head_hash = max(heads)
    return ChainReport(ok=True, checked=checked, head_seq=head_seq, head_hash=head_hash, strands=len(counts))


def _check_deferred(
    deferred: list[tuple[int, int, int]], first_v2: dict[int, int | None], suspect: set[int]
) -> None:
    """Hash the rows the fast walk handed back from their database values; their strands are suspect if one fails."""
    for start in range(0, len(deferred), _DEFERRED_BATCH):
        batch = [d for d in deferred[start : start + _DEFERRED_BATCH] if d[1] not in suspect]
        if not batch:
            continue
        rows = AuditEvent.objects.filter(seq__in=[seq for seq, _, _ in batch]).values(*ROW_FIELDS)
        found = {row["seq"]: row for row in rows}
        for seq, strand, _position in batch:
            row = found.get(seq)
            if row is None or row["strand"] != strand or not deferred_holds(row, first_v2.get(strand)):
                suspect.add(strand)

