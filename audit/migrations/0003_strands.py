"""Strands: the chain becomes several hash chains, so that appenders stop queueing on one head.

Existing events are format 1 and stay as they were hashed: strand 0, their
strand_seq their seq. On PostgreSQL, a sequence hands out the global seq and
``sunbid_audit_claim`` takes a free strand's lock and reads its head in one
round trip (docs/audit.md §5).
"""

from django.db import migrations, models
from django.db.models import F

CLAIM_FUNCTION = """
CREATE OR REPLACE FUNCTION sunbid_audit_claim(lock_key integer, strands integer, preferred integer, want_seq boolean)
RETURNS TABLE(strand integer, strand_seq bigint, prev_hash varchar, seq bigint)
LANGUAGE plpgsql AS $$
DECLARE
    chosen integer := -1;
    candidate integer;
BEGIN
    -- The preferred strand first: the one this connection used last, which it
    -- still holds if it is inside the same transaction (advisory locks are re-entrant).
    FOR step IN 0 .. strands - 1 LOOP
        candidate := (preferred + step) % strands;
        IF pg_try_advisory_xact_lock(lock_key, candidate) THEN
            chosen := candidate;
            EXIT;
        END IF;
    END LOOP;
    IF chosen < 0 THEN
        -- Every strand is busy: queue on the preferred one.
        chosen := preferred % strands;
        PERFORM pg_advisory_xact_lock(lock_key, chosen);
    END IF;
    RETURN QUERY
        SELECT chosen,
               COALESCE(MAX(e.strand_seq), 0),
               COALESCE((SELECT h.hash FROM audit_auditevent h
                         WHERE h.strand = chosen ORDER BY h.strand_seq DESC LIMIT 1),
                        repeat('0', 64))::varchar,
               CASE WHEN want_seq THEN nextval('sunbid_audit_seq') ELSE NULL END
        FROM audit_auditevent e WHERE e.strand = chosen;
END;
$$;
"""


def backfill(apps, schema_editor):
    AuditEvent = apps.get_model("audit", "AuditEvent")
    AuditEvent.objects.update(strand=0, strand_seq=F("seq"), format=1)


def postgres_objects(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    AuditEvent = apps.get_model("audit", "AuditEvent")
    start = (AuditEvent.objects.aggregate(top=models.Max("seq"))["top"] or 0) + 1
    schema_editor.execute(f"CREATE SEQUENCE IF NOT EXISTS sunbid_audit_seq START WITH {int(start)}")
    schema_editor.execute(CLAIM_FUNCTION, params=None)  # its % is the modulo operator


def drop_postgres_objects(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP FUNCTION IF EXISTS sunbid_audit_claim(integer, integer, integer, boolean)")
    schema_editor.execute("DROP SEQUENCE IF EXISTS sunbid_audit_seq")


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_sensitivity_bids_until_deadline"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="strand",
            field=models.PositiveSmallIntegerField(default=0, verbose_name="分链"),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="strand_seq",
            field=models.BigIntegerField(null=True, verbose_name="分链序号"),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="format",
            field=models.PositiveSmallIntegerField(default=1, verbose_name="格式版本"),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="auditevent",
            name="strand_seq",
            field=models.BigIntegerField(verbose_name="分链序号"),
        ),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.UniqueConstraint(fields=["strand", "strand_seq"], name="audit_event_strand_seq_unique"),
        ),
        migrations.RunPython(postgres_objects, drop_postgres_objects),
    ]
