"""``sunbid_audit_append``: claim a strand, hash and insert an event in one statement (PostgreSQL).

The caller sends the event's canonical text around the four values only the
append knows (``audit.encoding.envelope_parts_v2``); the database claims a
strand (``sunbid_audit_claim``), takes the next seq, joins the text exactly
as ``audit.encoding.join_parts_v2`` does, hashes it with SHA-256 and inserts
the row: one round trip instead of three, the hash over the same bytes.
"""

from django.db import migrations

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
    claimed record;
    position bigint;
    digest varchar;
BEGIN
    SELECT * INTO claimed FROM sunbid_audit_claim(lock_key, strands, preferred, true);
    position := claimed.strand_seq + 1;
    digest := encode(sha256(convert_to(
        text_head || claimed.prev_hash || text_middle || claimed.seq::text
        || ',"strand":' || claimed.strand::text || ',"strand_seq":' || position::text || text_tail,
        'UTF8')), 'hex');
    INSERT INTO audit_auditevent (
        seq, created_at, actor_id, actor_name, organisation_id, organisation_name, ip, user_agent,
        action, object_type, object_id, tender_id, lot_id, sensitivity, payload,
        strand, strand_seq, format, prev_hash, hash)
    VALUES (
        claimed.seq, p_created_at, p_actor_id, p_actor_name, p_organisation_id, p_organisation_name, p_ip,
        p_user_agent, p_action, p_object_type, p_object_id, p_tender_id, p_lot_id, p_sensitivity, p_payload,
        claimed.strand, position, 2, claimed.prev_hash, digest);
    RETURN QUERY SELECT claimed.seq, claimed.strand, position, claimed.prev_hash, digest;
END;
$$;
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_FUNCTION, params=None)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "DROP FUNCTION IF EXISTS sunbid_audit_append(integer, integer, integer, timestamptz, bigint, varchar,"
            " bigint, varchar, inet, varchar, varchar, varchar, varchar, bigint, bigint, varchar, text, text, text, text)"
        )


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_merkle_tree")]

    operations = [migrations.RunPython(create, drop)]
