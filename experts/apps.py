from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate, pre_migrate
from django.utils.translation import gettext_lazy as _


class ExpertsConfig(AppConfig):
    name = "experts"
    verbose_name = _("评标专家")

    def ready(self) -> None:
        pre_migrate.connect(_set_draw_copy_aside, sender=self, dispatch_uid="experts.draw_copy.pre")
        post_migrate.connect(_keep_draw_copy, sender=self, dispatch_uid="experts.draw_copy.post")


def _set_draw_copy_aside(*, using: str, **kwargs: Any) -> None:
    """Before ``migrate`` runs anything: drop the draw copy's triggers (docs/draw.md §2).

    SQLite rebuilds a table for most schema changes, and renaming the rebuilt
    table fails while a trigger of the other table names it. Migrations run
    without the triggers, draws refuse to run meanwhile (they check), and
    ``_keep_draw_copy`` puts them back and corrects the copy afterwards.
    """
    from experts import draw_copy

    draw_copy.uninstall(connections[using])


def _keep_draw_copy(*, using: str, apps: Any = None, **kwargs: Any) -> None:
    """After every ``migrate`` (and test-database flush): the triggers in place and the copy exact.

    Nothing to do when the database has been migrated back to before the
    copy existed.
    """
    from experts import draw_copy

    if apps is not None:
        try:
            through = apps.get_model("experts", "ExpertSpecialty")
        except LookupError:
            return
        names = {field.name for field in through._meta.get_fields()}
        if not names.issuperset(draw_copy.COPIED):
            return
    draw_copy.install(connections[using])
