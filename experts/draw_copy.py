"""The copy of each expert's draw columns on their specialty rows, kept in step by the database.

The draw's candidate query (``experts.selectors.eligible_pool``) reads, for
every expert of the requested specialties, the code, status, region and
employer: about 22,000 rows in bench/draw.py. Read from the expert table that
is a join per candidate; read from the specialty rows
(``ExpertSpecialty``, one per expert and specialty) it is one index-only
scan, so the specialty rows carry a copy of those four columns
(``COPIED``).

A copy is only as good as its synchronisation, and a stale one would draw a
suspended expert or an employee of the tenderer. So the database keeps it,
not the services: triggers on both tables, on SQLite and PostgreSQL, cover
every way a row can change — the pool services and the import, bulk
inserts, ``QuerySet.update``, the many-to-many manager, raw SQL, data
migrations:

- a specialty row that is inserted, re-pointed to another expert, or whose
  copy is written directly takes the expert's current values (on PostgreSQL
  reading the expert row ``FOR SHARE``, so that a concurrent, uncommitted
  change of the expert is waited for rather than missed);
- an expert whose code, status, region or employer changes, or who is
  inserted after their specialty rows (foreign keys are checked at commit),
  passes the new values to all their specialty rows, in the same statement's
  transaction.

Migrations run without them: on SQLite Django rebuilds a table for most
schema changes, which drops the table's own triggers and cannot even rename
the rebuilt table while a trigger of the other table names it. So
``ExpertsConfig`` drops them when ``migrate`` starts (``pre_migrate``,
``uninstall``) and re-creates them, correcting whatever changed meanwhile,
when it ends (``post_migrate``, ``install``). Every draw first checks that
they are all there (``installed``) and refuses to run on a copy nobody keeps
— during a migration, or after one that failed half way.
"""

from __future__ import annotations

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper

COPIED = ("code", "status", "region", "employer_credit_code")

LINKS = "experts_expert_specialties"
EXPERTS = "experts_expert"

# Trigger names, per database. The draw refuses to run unless all of them exist.
SQLITE_TRIGGERS = (
    "experts_copy_link_insert",
    "experts_copy_link_update",
    "experts_copy_expert_insert",
    "experts_copy_expert_update",
)
POSTGRESQL_TRIGGERS = ("experts_copy_link", "experts_copy_expert")
_POSTGRESQL_FUNCTIONS = ("experts_copy_to_link()", "experts_copy_from_expert()")

_columns = ", ".join(COPIED)
_expert_columns = ", ".join(f"e.{column}" for column in COPIED)
_new_columns = ", ".join(f"NEW.{column}" for column in COPIED)
_old_columns = ", ".join(f"OLD.{column}" for column in COPIED)
_set_from_new = ", ".join(f"{column} = NEW.{column}" for column in COPIED)

# SQLite has no BEFORE trigger that can change the row being written: the
# link triggers update it right after. Row values and sub-selects rather than
# UPDATE … FROM, which SQLite only has since 3.33 (Django accepts 3.31).
_SQLITE_LINK_FROM_EXPERT = (
    f"UPDATE {LINKS} SET ({_columns}) = "
    f"(SELECT {_expert_columns} FROM {EXPERTS} e WHERE e.id = NEW.expert_id) "
    f"WHERE id = NEW.id AND EXISTS (SELECT 1 FROM {EXPERTS} e WHERE e.id = NEW.expert_id)"
)
_SQLITE_INSTALL = (
    f"CREATE TRIGGER experts_copy_link_insert AFTER INSERT ON {LINKS} "
    f"BEGIN {_SQLITE_LINK_FROM_EXPERT}; END",
    # The WHEN clause stops the trigger's own UPDATE from firing it again
    # should anyone turn recursive_triggers on.
    f"CREATE TRIGGER experts_copy_link_update AFTER UPDATE OF expert_id, {_columns} ON {LINKS} "
    f"WHEN ({_new_columns}) IS NOT "
    f"(SELECT {_expert_columns} FROM {EXPERTS} e WHERE e.id = NEW.expert_id) "
    f"BEGIN {_SQLITE_LINK_FROM_EXPERT}; END",
    f"CREATE TRIGGER experts_copy_expert_insert AFTER INSERT ON {EXPERTS} "
    f"BEGIN UPDATE {LINKS} SET {_set_from_new} WHERE expert_id = NEW.id; END",
    f"CREATE TRIGGER experts_copy_expert_update AFTER UPDATE OF {_columns} ON {EXPERTS} "
    f"WHEN ({_old_columns}) IS NOT ({_new_columns}) "
    f"BEGIN UPDATE {LINKS} SET {_set_from_new} WHERE expert_id = NEW.id; END",
)

_POSTGRESQL_INSTALL = (
    f"""
    CREATE OR REPLACE FUNCTION experts_copy_to_link() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        expert record;
    BEGIN
        -- FOR SHARE: a concurrent transaction changing the expert is waited for,
        -- and its committed values are the ones copied.
        SELECT {_expert_columns} INTO expert FROM {EXPERTS} e WHERE e.id = NEW.expert_id FOR SHARE;
        IF FOUND THEN
            {" ".join(f"NEW.{column} := expert.{column};" for column in COPIED)}
        END IF;
        RETURN NEW;
    END
    $$
    """,
    f"""
    CREATE OR REPLACE FUNCTION experts_copy_from_expert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE {LINKS} SET {_set_from_new} WHERE expert_id = NEW.id;
        RETURN NULL;
    END
    $$
    """,
    f"DROP TRIGGER IF EXISTS experts_copy_link ON {LINKS}",
    f"CREATE TRIGGER experts_copy_link BEFORE INSERT OR UPDATE OF expert_id, {_columns} "
    f"ON {LINKS} FOR EACH ROW EXECUTE FUNCTION experts_copy_to_link()",
    f"DROP TRIGGER IF EXISTS experts_copy_expert ON {EXPERTS}",
    f"CREATE TRIGGER experts_copy_expert AFTER INSERT OR UPDATE OF {_columns} "
    f"ON {EXPERTS} FOR EACH ROW EXECUTE FUNCTION experts_copy_from_expert()",
)

# Every specialty row whose copy differs from its expert, corrected in one statement.
_SQLITE_RESYNC = (
    f"UPDATE {LINKS} SET ({_columns}) = "
    f"(SELECT {_expert_columns} FROM {EXPERTS} e WHERE e.id = {LINKS}.expert_id) "
    f"WHERE EXISTS (SELECT 1 FROM {EXPERTS} e WHERE e.id = {LINKS}.expert_id "
    f"AND ({_expert_columns}) IS NOT "
    f"({', '.join(f'{LINKS}.{column}' for column in COPIED)}))"
)
_POSTGRESQL_RESYNC = (
    f"UPDATE {LINKS} l SET {', '.join(f'{column} = e.{column}' for column in COPIED)} "
    f"FROM {EXPERTS} e WHERE e.id = l.expert_id "
    f"AND ({', '.join(f'l.{column}' for column in COPIED)}) IS DISTINCT FROM ({_expert_columns})"
)


def install(connection: BaseDatabaseWrapper) -> int:
    """(Re)create the triggers and correct every stale copy; returns how many rows were corrected.

    Idempotent. Called after every ``migrate`` and by the migration that
    introduced the copy (0005, which imports this function: should the
    triggers ever need a column added after it, give 0005 a frozen copy of
    today's statements). One transaction: on PostgreSQL, writers to either
    table wait while the triggers are replaced, so no change slips between
    dropping and re-creating them, and the copy is never seen half corrected.
    """
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for statement in _POSTGRESQL_INSTALL:
                cursor.execute(statement)
            cursor.execute(_POSTGRESQL_RESYNC)
        else:
            for name in SQLITE_TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            for statement in _SQLITE_INSTALL:
                cursor.execute(statement)
            cursor.execute(_SQLITE_RESYNC)
        return cursor.rowcount


def uninstall(connection: BaseDatabaseWrapper) -> None:
    """Drop the triggers (and PostgreSQL's trigger functions), wherever they are; idempotent.

    Before every ``migrate``, and going back before the copy existed.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            tables = set(connection.introspection.table_names(cursor))
            if LINKS in tables:
                cursor.execute(f"DROP TRIGGER IF EXISTS experts_copy_link ON {LINKS}")
            if EXPERTS in tables:
                cursor.execute(f"DROP TRIGGER IF EXISTS experts_copy_expert ON {EXPERTS}")
            for function in _POSTGRESQL_FUNCTIONS:
                cursor.execute(f"DROP FUNCTION IF EXISTS {function}")
        else:
            for name in SQLITE_TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")


def installed(connection: BaseDatabaseWrapper) -> bool:
    """Whether every trigger that keeps the copy is in place (and, on PostgreSQL, enabled)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            names = POSTGRESQL_TRIGGERS
            cursor.execute(
                "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE NOT t.tgisinternal AND t.tgenabled <> 'D' "
                f"AND c.relname IN (%s, %s) AND t.tgname IN ({', '.join(['%s'] * len(names))})",
                [LINKS, EXPERTS, *names],
            )
        else:
            names = SQLITE_TRIGGERS
            cursor.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' "
                f"AND tbl_name IN (%s, %s) AND name IN ({', '.join(['%s'] * len(names))})",
                [LINKS, EXPERTS, *names],
            )
        (count,) = cursor.fetchone()
    return count == len(names)
