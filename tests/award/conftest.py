"""One award world for the package, built once: the evaluation package's lot with its report final.

``tests/evaluation/conftest.py`` builds alice's lot (comprehensive scoring,
control price 11,800,000.00) with five sealed bids opened and a nine-member
committee; here the committee goes on to a final report, signed by every
member, at ``FINAL`` (Thursday 2 April 2026, 11:30 Beijing time):

    rank 1 bob   (浙江建工集团有限公司) 10,850,000.00  99.26
    rank 2 dave  (宁波远大建设有限公司) 11,200,000.00  98.30
    rank 3 erin  (温州华东建设有限公司) 10,500,000.00  97.67

carol's bid (above the control price) was rejected and frank's ranked
fourth: both are bidders of the lot but not candidates. TR 54's due dates
count from the day after: the publicity is due by 5 April 24:00 (``DUE``).

Built inside a transaction left open for the package, as the evaluation's
world is; each test's own transaction nests in it and is rolled back.
"""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.db import transaction
from django.test import override_settings

from award import services
from award.models import AwardResult, Objection, Publicity
from evaluation import services as evaluation_services
from evaluation.selectors import report_final_for_lot
from tendering.models import Lot
from tests.evaluation.conftest import SHANGHAI, STARTED, World, _build, _settings

FINAL = STARTED + dt.timedelta(hours=2)
DUE = dt.datetime(2026, 4, 6, 0, 0, tzinfo=SHANGHAI)
PRICES = {
    "bob": Decimal("10850000.00"),
    "dave": Decimal("11200000.00"),
    "erin": Decimal("10500000.00"),
}


def _make_final(world: World) -> None:
    with time_machine.travel(FINAL, tick=False):
        world.elect(chair=1)
        world.submit_all()
        report = evaluation_services.report_draft(actor=world.users[1], lot=world.lot)
        for seat in sorted(world.users):
            world.sign(seat, report)
    final = report_final_for_lot(world.lot)
    assert final is not None and final.final_at == FINAL


@pytest.fixture(scope="package")
def base_world(django_db_setup, django_db_blocker, tmp_path_factory):
    media = tmp_path_factory.mktemp("award-media")
    receipt_key = tmp_path_factory.mktemp("award-receipts") / "receipt-key.pem"
    receipt_key.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    fast = override_settings(
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        **_settings(media, receipt_key),
    )
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            with fast:
                built = _build(media)
                _make_final(built)
        except BaseException:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
            raise
    yield built, media, receipt_key
    with django_db_blocker.unblock():
        transaction.set_rollback(True)
        outer.__exit__(None, None, None)


@pytest.fixture
def world(base_world, db, settings) -> World:
    built, media, receipt_key = base_world
    for name, value in _settings(media, receipt_key).items():
        setattr(settings, name, value)
    copied = copy.copy(built)
    copied.signing_keys = {}
    # Read afresh: the object built with the world still says "opened".
    copied.lot = Lot.objects.select_related("tender").get(pk=built.lot.pk)
    return copied


@pytest.fixture
def receipt_key_path(base_world) -> Any:
    return base_world[2]


@pytest.fixture
def clock():
    """The tests' clock, stopped an hour after the report became final; tests move it on."""
    with time_machine.travel(FINAL + dt.timedelta(hours=1), tick=False) as traveller:
        yield traveller


# --- moving the award step on, through the services -------------------------------------------------


def publish(world: World, *, days: int = 3, starts_at: dt.datetime | None = None) -> Publicity:
    """Alice publishes the candidates now (or from ``starts_at``) for ``days`` days."""
    from django.utils import timezone

    start = starts_at or timezone.now()
    return services.publicity_publish(
        actor=world.people["alice"],
        lot=world.lot,
        starts_at=starts_at,
        ends_at=start + dt.timedelta(days=days),
    )


def object_(
    world: World,
    name: str = "dave",
    text: str = "第一中标候选人的项目经理有在建工程，不符合招标文件要求。",
) -> Objection:
    return services.objection_file(actor=world.people[name], lot=world.lot, text=text)


def answer(
    world: World, objection: Objection, *, outcome: str = "maintained", rank: int | None = None
) -> Objection:
    return services.objection_answer(
        actor=world.people["alice"],
        objection=objection,
        answer="经核查，该项目经理无在建工程，异议不成立。",
        outcome=outcome,
        disqualified_rank=rank,
    )


def announce(world: World, *, rank: int = 1, reason: str = "") -> AwardResult:
    return services.result_announce(
        actor=world.people["alice"], lot=world.lot, winner_rank=rank, reason=reason
    )
