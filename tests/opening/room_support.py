"""A lot with three real sealed bids (bob's, carol's and dave's) and a clock to walk through its opening.

Use ``ceremony`` (fixture): the lot is published with its opening key, the
three bidders obtain the documents, register keys, seal and upload; then
``ceremony.at(...)`` moves the clock and ``ceremony.open()`` runs the timed
step that starts the opening.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest
import time_machine
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from accounts.models import User
from bidding import services as bidding
from bidding.models import Bid
from opening import room_services
from opening.models import Room
from tendering import services as tendering
from tendering.models import Lot
from tests.bidding.support import bidder_keys, obtain, seal, submit
from tests.conftest import TestKeySet

BIDDERS = ("bob", "carol", "dave")
PRICES = {"bob": "10850000.00", "carol": "11900000.00", "dave": "11200000.00"}  # carol is above the control price


@dataclass
class Ceremony:
    lot: Lot
    people: dict[str, User]
    keys: dict[str, TestKeySet]
    bids: dict[str, Bid]
    traveller: Any = None
    clock: dt.datetime | None = None
    _stack: list[Any] = field(default_factory=list)

    def at(self, moment: dt.datetime) -> None:
        """Stop the clock at ``moment`` (replacing any earlier stop)."""
        self.stop()
        self.traveller = time_machine.travel(moment, tick=False)
        self.traveller.start()
        self.clock = moment

    def after(self, **delta: float) -> None:
        assert self.clock is not None
        self.at(self.clock + dt.timedelta(**delta))

    def stop(self) -> None:
        if self.traveller is not None:
            self.traveller.stop()
            self.traveller = None

    def open(self) -> Room:
        """The opening time is here: the timed sweep closes bidding and opens the room."""
        self.at(self.lot.opening_time + dt.timedelta(seconds=1))
        tendering.lots_advance_due()
        self.lot.refresh_from_db()
        return self.room()

    def room(self) -> Room:
        return Room.objects.select_related("lot").get(lot=self.lot)

    def file_key(self, name: str) -> bytes:
        return bidding.file_key_from_private_key(
            bid=self.bids[name], role="bidder", private_key=self.keys[name].encryption_private
        )

    def decrypt(self, name: str) -> Bid:
        return room_services.room_decrypt(actor=self.people[name], lot=self.lot, file_key=self.file_key(name))

    def sign_confirmation(self, name: str) -> str:
        import base64

        room = self.room()
        message = room_services.confirmation_text(
            lot_id=self.lot.pk,
            digest=room.reading_digest,
            credit_code=self.people[name].organisation.credit_code,
        )
        signature = self.keys[name].signing_private.sign(message, ec.ECDSA(hashes.SHA256()))
        return base64.b64encode(signature).decode("ascii")

    def read_all(self) -> None:
        while self.room().stage == "reading":
            room_services.room_read_next(actor=self.people["alice"], lot=self.lot)


def build_ceremony(people: dict[str, User], lot: Lot, *, bidders: tuple[str, ...] = BIDDERS) -> Ceremony:
    keys: dict[str, TestKeySet] = {}
    bids: dict[str, Bid] = {}
    for name in bidders:
        user = people[name]
        obtain(user, lot)
        keys[name] = bidder_keys(user)
        summary = {
            "price": PRICES[name],
            "duration_days": 365,
            "quality": "合格",
            "fields": {"project_manager": f"{user.get_full_name()}项目经理"},
        }
        bids[name] = submit(user, lot, seal(lot, keys[name], summary=summary))
    return Ceremony(lot=lot, people=people, keys=keys, bids=bids)


@pytest.fixture
def ceremony(people, lot, bidding_settings):  # noqa: F811 - bidding_settings is a fixture
    made = build_ceremony(people, lot)
    yield made
    made.stop()
