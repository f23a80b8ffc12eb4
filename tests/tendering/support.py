"""Helpers of the tendering tests for lots past their opening.

Since the opening room (issue 5) a lot reaches ``opening`` only through the
timed sweep, and only with at least ``lot.min_bidders`` current sealed bids:
with fewer, the room fails it at the opening time (TR 44). Tests of the timed
sweep and of the opening use real bids (``tests/opening/room_support.py``:
``build_ceremony``). Tests of what comes after — the state machine, evaluation
and award, the portal and the working area — put a lot there with
``force_opening``, which takes the same audited transition the sweep takes,
without the room and its bids.
"""

from __future__ import annotations

from django.db import transaction

from tendering import services
from tendering.models import Lot, LotStatus


def force_opening(lot: Lot) -> Lot:
    """Put ``lot`` in ``opening`` as the sweep does at the opening time, but without its room or any bid.

    For tests about the lot state machine and what follows the opening, not
    about the opening itself: the lot must be ``bidding_closed`` (closed by the
    sweep at its deadline). The transition goes through the state machine's
    own guard and is audited as the sweep's is (``tendering.lot.opening_started``,
    no actor), so the audit chain still verifies; what is skipped is
    ``opening.room_services.room_open`` — the count of bids (TR 44) and the room.
    """
    with transaction.atomic():
        locked = Lot.objects.select_for_update().select_related("tender").get(pk=lot.pk)
        assert locked.status == LotStatus.BIDDING_CLOSED, f"lot {lot.pk} is {locked.status}, not bidding_closed"
        services._transition(
            locked,
            LotStatus.OPENING,
            actor=None,
            action="tendering.lot.opening_started",
            data={"opening_time": locked.opening_time},
        )
    return locked
