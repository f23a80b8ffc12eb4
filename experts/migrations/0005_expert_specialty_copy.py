"""The draw reads its candidates from the specialty rows alone: a copy of four expert columns on them.

``Expert.specialties`` gets an explicit through model, ``ExpertSpecialty``,
on the table Django had made for it (state only: the table, its keys and
its unique pair stay as they are). The table gains the expert's code,
status, region and employer credit code, filled here from the experts, and
one index holding everything the draw's scan reads (experts.selectors),
which replaces the two indexes of migration 0004 that served the join.

The copy is kept in step by database triggers (``experts.draw_copy``),
installed at the end and again, with a re-synchronisation, after every
``migrate`` (``ExpertsConfig``'s ``post_migrate`` handler): a table that
SQLite rebuilds for a later schema change loses its triggers, and whatever
changed an expert while they were missing is corrected then.
"""

from __future__ import annotations

import django.db.models.deletion
from django.db import migrations, models

LINKS_INDEX_0004 = "experts_expert_specialties_specialty_expert"
_COPIED = ("code", "status", "region", "employer_credit_code")


def backfill(apps, schema_editor) -> None:
    """Every specialty row takes its expert's values (the columns were just added, empty)."""
    columns = ", ".join(_COPIED)
    with schema_editor.connection.cursor() as cursor:
        if schema_editor.connection.vendor == "postgresql":
            cursor.execute(
                "UPDATE experts_expert_specialties l SET "
                + ", ".join(f"{column} = e.{column}" for column in _COPIED)
                + " FROM experts_expert e WHERE e.id = l.expert_id"
            )
        else:
            cursor.execute(
                f"UPDATE experts_expert_specialties SET ({columns}) = (SELECT "
                + ", ".join(f"e.{column}" for column in _COPIED)
                + " FROM experts_expert e WHERE e.id = experts_expert_specialties.expert_id)"
            )


def install_triggers(apps, schema_editor) -> None:
    from experts import draw_copy

    draw_copy.install(schema_editor.connection)


def uninstall_triggers(apps, schema_editor) -> None:
    from experts import draw_copy

    draw_copy.uninstall(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("experts", "0004_draw_speed"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ExpertSpecialty",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "expert",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="experts.expert",
                            ),
                        ),
                        (
                            "specialty",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="experts.specialty",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "experts_expert_specialties",
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("expert", "specialty"),
                                name="experts_expert_specialties_expert_id_specialty_id_f23781bb_uniq",
                            )
                        ],
                    },
                ),
                migrations.AlterField(
                    model_name="expert",
                    name="specialties",
                    field=models.ManyToManyField(
                        related_name="experts",
                        through="experts.ExpertSpecialty",
                        to="experts.specialty",
                        verbose_name="评标专业",
                    ),
                ),
            ],
        ),
        migrations.AddField(
            model_name="expertspecialty",
            name="code",
            field=models.CharField(db_default="", editable=False, max_length=20),
        ),
        migrations.AddField(
            model_name="expertspecialty",
            name="status",
            field=models.CharField(db_default="", editable=False, max_length=20),
        ),
        migrations.AddField(
            model_name="expertspecialty",
            name="region",
            field=models.CharField(db_default="", editable=False, max_length=6),
        ),
        migrations.AddField(
            model_name="expertspecialty",
            name="employer_credit_code",
            field=models.CharField(db_default="", editable=False, max_length=18),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="expertspecialty",
            index=models.Index(
                fields=["specialty", "code", "expert", "status", "region", "employer_credit_code"],
                name="expert_specialty_draw",
            ),
        ),
        # SQLite rebuilt the table above and dropped this one already (it is not in the state).
        migrations.RunSQL(
            f"DROP INDEX IF EXISTS {LINKS_INDEX_0004}",
            f"CREATE INDEX IF NOT EXISTS {LINKS_INDEX_0004} "
            "ON experts_expert_specialties (specialty_id, expert_id)",
        ),
        migrations.RemoveIndex(model_name="expert", name="expert_draw_candidate"),
        # Going back, this runs first: the triggers name the columns removed above.
        migrations.RunPython(install_triggers, uninstall_triggers),
    ]
