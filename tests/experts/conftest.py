from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from tests.experts.draw_support import close_bidding, patch_notifications, specialty


@pytest.fixture
def specialty_list(transactional_db) -> None:
    """The specialty code list, for transactional tests.

    The data migration loads it once per test database, but a transactional
    test that ran earlier flushed every table. Loading is idempotent.
    (``serialized_rollback`` would restore it too, but clashes with the
    content types Django recreates after a flush.)
    """
    importlib.import_module("experts.migrations.0002_specialties").load(apps, None)


# Shared by the draw tests. A test module that needs a different version
# (another clock, another specialty) defines its own, which takes precedence.


@pytest.fixture
def closed_lot(lot, clock):
    """The conftest ``lot`` after its bid deadline, by the test module's ``clock``."""
    close_bidding(clock)
    lot.refresh_from_db()
    return lot


@pytest.fixture
def building(db):
    return specialty("A0101")


@pytest.fixture
def decoration(db):
    return specialty("A0102")


@pytest.fixture
def sent(monkeypatch):
    return patch_notifications(monkeypatch)
