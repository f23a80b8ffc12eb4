from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OpeningConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "opening"
    verbose_name = _("开标密钥")

    def ready(self) -> None:
        # The audit browser names opening-key events in Chinese, like every other action.
        from audit.selectors import ACTION_LABELS
        from opening.audit_labels import OPENING_ACTION_LABELS

        ACTION_LABELS.update(OPENING_ACTION_LABELS)
