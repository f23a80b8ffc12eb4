"""One ``DrawPool`` row per draw: the frozen pool's canonical bytes and every exclusion by reason.

Before, the pool was a JSON column of the request (read back, parsed, with
every request) and each excluded expert a ``DrawExclusion`` row; a "local"
draw over a large pool wrote thousands of them, more than the draw's whole
time budget (bench/draw.py). Existing draws move over: the pool is encoded
canonically (docs/draw.md §4, version 1, spelled out here so that this
migration never changes), the exclusions are grouped by reason. Going back
rebuilds the column and one row per excluded expert.
"""

from __future__ import annotations

import json
from collections import defaultdict

import django.db.models.deletion
from django.db import migrations, models


def _canonical_v1(pool: dict[str, list[str]]) -> str:
    normalised = {specialty: sorted(codes) for specialty, codes in pool.items()}
    return json.dumps(
        {"v": 1, "pool": normalised}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def to_pool_rows(apps, schema_editor) -> None:
    DrawRequest = apps.get_model("experts", "DrawRequest")
    DrawExclusion = apps.get_model("experts", "DrawExclusion")
    DrawPool = apps.get_model("experts", "DrawPool")
    excluded: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for request_id, reason, code in DrawExclusion.objects.values_list(
        "request_id", "reason", "expert__code"
    ).iterator():
        excluded[request_id][reason].append(code)
    drawn = DrawRequest.objects.filter(drawn_at__isnull=False).values_list("pk", "pool_snapshot")
    for request_id, pool in drawn.iterator():
        by_reason = excluded.get(request_id, {})
        DrawPool.objects.create(
            request_id=request_id,
            canonical=_canonical_v1(pool or {}),
            excluded={reason: sorted(codes) for reason, codes in sorted(by_reason.items())},
        )


def from_pool_rows(apps, schema_editor) -> None:
    DrawRequest = apps.get_model("experts", "DrawRequest")
    DrawExclusion = apps.get_model("experts", "DrawExclusion")
    DrawPool = apps.get_model("experts", "DrawPool")
    Expert = apps.get_model("experts", "Expert")
    ids = dict(Expert.objects.values_list("code", "pk"))
    for frozen in DrawPool.objects.all().iterator():
        DrawRequest.objects.filter(pk=frozen.request_id).update(
            pool_snapshot=json.loads(frozen.canonical)["pool"]
        )
        DrawExclusion.objects.bulk_create(
            [
                DrawExclusion(request_id=frozen.request_id, expert_id=ids[code], reason=reason)
                for reason, codes in frozen.excluded.items()
                for code in codes
            ],
            batch_size=500,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("experts", "0002_specialties"),
    ]

    operations = [
        migrations.CreateModel(
            name="DrawPool",
            fields=[
                (
                    "request",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="frozen",
                        serialize=False,
                        to="experts.drawrequest",
                    ),
                ),
                ("canonical", models.TextField(verbose_name="冻结的候选专家库")),
                ("excluded", models.JSONField(default=dict, verbose_name="回避排除的专家")),
            ],
            options={
                "verbose_name": "冻结的候选专家库",
                "verbose_name_plural": "冻结的候选专家库",
            },
        ),
        migrations.RunPython(to_pool_rows, from_pool_rows),
        migrations.RemoveField(
            model_name="drawrequest",
            name="pool_snapshot",
        ),
        migrations.DeleteModel(
            name="DrawExclusion",
        ),
    ]
