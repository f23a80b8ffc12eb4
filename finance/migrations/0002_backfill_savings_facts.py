"""Fill the savings facts of the lots awarded before the fact table existed.

Self-contained on purpose (historical models, no import of finance code): the
rule is the one of ``finance.facts.fact_for`` — award date in Asia/Shanghai,
amounts in whole fen, category, region, agency and tenderer from the tender.
"""

from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import migrations

ZONE = ZoneInfo("Asia/Shanghai")
BATCH = 2000


def _fen(amount):
    fen = amount * 100
    if fen != fen.to_integral_value():
        raise ValueError(f"{amount} is not a whole number of fen")
    return int(fen)


def backfill(apps, schema_editor):
    Lot = apps.get_model("tendering", "Lot")
    SavingsFact = apps.get_model("finance", "SavingsFact")
    db = schema_editor.connection.alias
    awarded = (
        Lot.objects.using(db)
        .filter(status="awarded", award_price__isnull=False, awarded_at__isnull=False)
        .select_related("tender")
        .order_by("pk")
    )
    batch = []
    for lot in awarded.iterator(chunk_size=BATCH):
        batch.append(
            SavingsFact(
                lot_id=lot.pk,
                awarded_at=lot.awarded_at,
                award_date=lot.awarded_at.astimezone(ZONE).date(),
                category=lot.tender.category,
                region=lot.tender.region,
                agency_id=lot.tender.agency_id,
                tenderer_id=lot.tender.tenderer_id,
                control_fen=_fen(Decimal(lot.control_price)),
                award_fen=_fen(Decimal(lot.award_price)),
            )
        )
        if len(batch) >= BATCH:
            SavingsFact.objects.using(db).bulk_create(batch)
            batch = []
    SavingsFact.objects.using(db).bulk_create(batch)


def unfill(apps, schema_editor):
    apps.get_model("finance", "SavingsFact").objects.using(schema_editor.connection.alias).all().delete()


class Migration(migrations.Migration):
    dependencies = [("finance", "0001_initial")]

    operations = [migrations.RunPython(backfill, unfill)]
