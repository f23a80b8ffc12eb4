"""Load the specialty code list (专业分类) from experts/fixtures/specialties.json.

Every database gets the list, test databases included. The fixture is in
Django's fixture format (``loaddata specialties`` reads it too); here parents
are resolved by code rather than by the fixture's primary keys, so that the
rows take whatever keys the database hands out. Reversing removes exactly
the codes of the fixture, leaves first.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.db import migrations

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "specialties.json"


def _nodes() -> list[tuple[str, str, str | None]]:
    """(code, name, parent code), parents before their children."""
    rows = json.loads(FIXTURE.read_text(encoding="utf-8"))
    code_of = {row["pk"]: row["fields"]["code"] for row in rows}
    nodes = [
        (row["fields"]["code"], row["fields"]["name"], code_of.get(row["fields"]["parent"]))
        for row in rows
    ]
    return sorted(nodes, key=lambda node: (len(node[0]), node[0]))


def load(apps, schema_editor):
    Specialty = apps.get_model("experts", "Specialty")
    created: dict[str, object] = {}
    for code, name, parent in _nodes():
        specialty, _ = Specialty.objects.update_or_create(
            code=code, defaults={"name": name, "parent": created[parent] if parent else None}
        )
        created[code] = specialty


def unload(apps, schema_editor):
    Specialty = apps.get_model("experts", "Specialty")
    for code, _name, _parent in reversed(_nodes()):
        Specialty.objects.filter(code=code).delete()


class Migration(migrations.Migration):
    dependencies = [("experts", "0001_initial")]

    operations = [migrations.RunPython(load, unload)]
