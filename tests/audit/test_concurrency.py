"""Concurrent appenders must leave one linear chain, never a fork or a gap.

Runs unchanged on SQLite (BEGIN IMMEDIATE serialises writers) and on
PostgreSQL (the transaction-scoped advisory lock does), see docs/audit.md §5.
"""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection, transaction

from audit.encoding import GENESIS_HASH
from audit.models import AuditEvent
from audit.selectors import chain_verify
from audit.services import record

THREADS = 8
EACH = 5


@pytest.mark.django_db(transaction=True)
def test_concurrent_appenders_leave_one_linear_chain():
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def append(worker: int) -> None:
        try:
            barrier.wait(timeout=30)
            for n in range(EACH):
                with transaction.atomic():
                    record("test.concurrent", actor=None, data={"worker": worker, "n": n})
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=append, args=(worker,)) for worker in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []

    rows = list(
        AuditEvent.objects.order_by("seq").values_list("seq", "prev_hash", "hash", "payload")
    )
    assert [seq for seq, *_ in rows] == list(range(1, THREADS * EACH + 1))
    previous = GENESIS_HASH
    for _seq, prev_hash, digest, _payload in rows:
        assert prev_hash == previous
        previous = digest
    written = sorted((p["worker"], p["n"]) for p in (json.loads(row[3]) for row in rows))
    assert written == [(worker, n) for worker in range(THREADS) for n in range(EACH)]
    report = chain_verify()
    assert report.ok
    assert (report.checked, report.head_seq, report.head_hash) == (
        THREADS * EACH,
        THREADS * EACH,
        previous,
    )
