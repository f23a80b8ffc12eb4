from __future__ import annotations

import importlib

import pytest
from django.apps import apps


@pytest.fixture
def specialty_list(transactional_db) -> None:
    """The specialty code list, for transactional tests.

    The data migration loads it once per test database, but a transactional
    test that ran earlier flushed every table. Loading is idempotent.
    (``serialized_rollback`` would restore it too, but clashes with the
    content types Django recreates after a flush.)
    """
    importlib.import_module("experts.migrations.0002_specialties").load(apps, None)
