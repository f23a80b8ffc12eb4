from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AwardConfig(AppConfig):
    name = "award"
    verbose_name = _("公示与定标")

    def ready(self) -> None:
        # The audit browser names the award step's events in Chinese, like every other action.
        from audit.selectors import ACTION_LABELS
        from award.audit_labels import AWARD_ACTION_LABELS

        ACTION_LABELS.update(AWARD_ACTION_LABELS)
