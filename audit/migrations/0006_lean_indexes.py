"""Leaner appends: fewer and cheaper indexes on the events, and the claim folded into the append (PostgreSQL).

Every index is written by every append. ``hash`` had a unique index (and its
``varchar_pattern_ops`` twin) that nothing looks records up by — the
(``strand``, ``strand_seq``) constraint is what stops a strand forking —
``action`` had two indexes where one ``varchar_pattern_ops`` index serves both
the exact names and the prefix filters, and ``created_at`` had a B-tree where
a BRIN index (a summary per range of table blocks; events are appended in
time order) serves the period filters at a fraction of the upkeep. BRIN is
PostgreSQL's, so that index is made here per database and is not part of the
model state (SQLite gets a plain index of the same name). ``sunbid_audit_append`` now claims the
strand itself and reads the strand's head in one index probe, instead of
calling ``sunbid_audit_claim`` (kept for ``chain_head_for_update``) and
probing twice. The hash is over the same bytes as before (docs/audit.md §5).
"""

from django.db import migrations, models

APPEND_FUNCTION = """
CREATE OR REPLACE FUNCTION sunbid_audit_append(
    lock_key integer, strands integer, preferred integer,
    p_created_at timestamptz, p_actor_id bigint, p_actor_name varchar,
    p_organisation_id bigint, p_organisation_name varchar, p_ip inet, p_user_agent varchar,
    p_action varchar, p_object_type varchar, p_object_id varchar,
    p_tender_id bigint, p_lot_id bigint, p_sensitivity varchar, p_payload text,
    text_head text, text_middle text, text_tail text)
RETURNS TABLE(seq bigint, strand integer, strand_seq bigint, prev_hash varchar, hash varchar)
LANGUAGE plpgsql AS $$
DECLARE
    chosen integer := -1;
    candidate integer;
    head_position bigint;
    head_hash varchar;
    new_seq bigint;
    position bigint;
    digest varchar;
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
    -- The head, read after the lock is granted: one probe of (strand, strand_seq).
    SELECT e.strand_seq, e.hash INTO head_position, head_hash
        FROM audit_auditevent e WHERE e.strand = chosen ORDER BY e.strand_seq DESC LIMIT 1;
    IF NOT FOUND THEN
        head_position := 0;
        head_hash := repeat('0', 64);
    END IF;
    new_seq := nextval('sunbid_audit_seq');
    position := head_position + 1;
    digest := encode(sha256(convert_to(
        text_head || head_hash || text_middle || new_seq::text
        || ',"strand":' || chosen::text || ',"strand_seq":' || position::text || text_tail,
        'UTF8')), 'hex');
    INSERT INTO audit_auditevent (
        seq, created_at, actor_id, actor_name, organisation_id, organisation_name, ip, user_agent,
        action, object_type, object_id, tender_id, lot_id, sensitivity, payload,
        strand, strand_seq, format, prev_hash, hash)
    VALUES (
        new_seq, p_created_at, p_actor_id, p_actor_name, p_organisation_id, p_organisation_name, p_ip,
        p_user_agent, p_action, p_object_type, p_object_id, p_tender_id, p_lot_id, p_sensitivity, p_payload,
        chosen, position, 2, head_hash, digest);
    seq := new_seq;
    strand := chosen;
    strand_seq := position;
    prev_hash := head_hash;
    hash := digest;
    RETURN NEXT;
END;
$$;
"""


CREATED_INDEX = "audit_event_created_at"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_FUNCTION, params=None)
        # autosummarize: each block range is summarised as soon as it fills, not at the next VACUUM.
        schema_editor.execute(
            f"CREATE INDEX {CREATED_INDEX} ON audit_auditevent USING brin (created_at)"
            " WITH (pages_per_range = 32, autosummarize = on)"
        )
    else:
        schema_editor.execute(f"CREATE INDEX {CREATED_INDEX} ON audit_auditevent (created_at)")


def restore(apps, schema_editor):
    schema_editor.execute(f"DROP INDEX {CREATED_INDEX}")
    if schema_editor.connection.vendor == "postgresql":
        from importlib import import_module

        previous = import_module("audit.migrations.0005_append_function")
        schema_editor.execute(previous.APPEND_FUNCTION, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0005_append_function")]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="created_at",
            field=models.DateTimeField(verbose_name="时间"),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="action",
            field=models.CharField(max_length=100, verbose_name="操作"),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(max_length=64, verbose_name="哈希"),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["action"], name="audit_event_action", opclasses=["varchar_pattern_ops"]),
        ),
        migrations.RunPython(create, restore),
    ]
