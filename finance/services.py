"""Writes of the finance app: the savings fact of an awarded lot.

The fact is derived from the lot and its tender (docs/finance-savings.md);
it is not a state change of its own and carries no audit record: the award's
record (``tendering.lot.awarded``) holds the winner and the price, and the
facts can always be rebuilt from the lots (``savings_facts_rebuild``).
"""

from __future__ import annotations

from django.db import connection, transaction

from finance.facts import fact_for
from finance.models import SavingsFact
from tendering.models import Lot, LotStatus


def savings_fact_record(*, lot: Lot) -> SavingsFact:
    """Write (or rewrite) the savings fact of a lot just awarded.

    Called by ``tendering.services.lot_award`` inside its transaction, with
    the lot's row locked and already saved as awarded, so that the fact
    commits or rolls back with the award: the reports never count a lot that
    is not awarded, nor miss one that is. Refuses to run outside a
    transaction or for a lot that is not awarded with a price.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("savings_fact_record runs inside the award's transaction")
    if lot.status != LotStatus.AWARDED:
        raise ValueError(f"lot {lot.pk} is not awarded")
    fact = fact_for(lot)
    # The primary key is the lot's: an existing row is updated, else one is inserted.
    fact.save()
    return fact


def savings_facts_rebuild(*, batch_size: int = 2000) -> int:
    """Make the fact table equal to the awarded lots again; returns the number of facts.

    For repairs (``manage.py savings_facts --rebuild``): every fact is
    deleted and rewritten from the lots in one transaction, so the reports
    see either the old table or the new one.
    """
    awarded = (
        Lot.objects.filter(status=LotStatus.AWARDED, award_price__isnull=False, awarded_at__isnull=False)
        .select_related("tender")
        .order_by("pk")
    )
    written = 0
    with transaction.atomic():
        SavingsFact.objects.all().delete()
        batch: list[SavingsFact] = []
        for lot in awarded.iterator(chunk_size=batch_size):
            batch.append(fact_for(lot))
            if len(batch) >= batch_size:
                SavingsFact.objects.bulk_create(batch)
                written += len(batch)
                batch = []
        SavingsFact.objects.bulk_create(batch)
        written += len(batch)
    return written
