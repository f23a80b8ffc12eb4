"""What makes the draw fast (bench/draw.py): two indexes for the candidate query, lz4 for the frozen pool.

The candidate query (experts.selectors._candidate_rows) finds the experts of
the requested specialties through the specialty link table, then reads each
one's status, region, employer and code. Both lookups become index-only:

- the link table (Django's automatic many-to-many table, so the index is
  created here in SQL rather than declared on a model) gets
  (specialty_id, expert_id), so the experts of a specialty come straight
  from the index instead of one table row each;
- the expert table gets a narrow index on its key with the columns read.

On PostgreSQL the draw's ``DrawPool`` row holds a few hundred kilobytes of
codes, which TOAST compresses on insert: with lz4 instead of the default
pglz that costs a third of the time for about the same size. Skipped where
the server was built without lz4 (the default then stays).
"""

from __future__ import annotations

from django.db import migrations, models

LINKS_INDEX = "experts_expert_specialties_specialty_expert"
_POOL_COLUMNS = ("canonical", "excluded")


def _lz4_available(cursor) -> bool:
    cursor.execute(
        "SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'"
    )
    row = cursor.fetchone()
    return bool(row and row[0] and "lz4" in row[0])


def pool_columns_lz4(apps, schema_editor) -> None:
    _set_compression(schema_editor, "lz4")


def pool_columns_default(apps, schema_editor) -> None:
    _set_compression(schema_editor, "default")


def _set_compression(schema_editor, method: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        if not _lz4_available(cursor):
            return
        columns = ", ".join(f"ALTER COLUMN {column} SET COMPRESSION {method}" for column in _POOL_COLUMNS)
        cursor.execute(f"ALTER TABLE experts_drawpool {columns}")


class Migration(migrations.Migration):
    dependencies = [
        ("experts", "0003_draw_pool"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="expert",
            index=models.Index(
                fields=["id", "status", "region", "employer_credit_code", "code"],
                name="expert_draw_candidate",
            ),
        ),
        migrations.RunSQL(
            f"CREATE INDEX {LINKS_INDEX} ON experts_expert_specialties (specialty_id, expert_id)",
            f"DROP INDEX {LINKS_INDEX}",
        ),
        migrations.RunPython(pool_columns_lz4, pool_columns_default),
    ]
