from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ComplaintsConfig(AppConfig):
    name = "complaints"
    verbose_name = _("投诉处理")

    def ready(self) -> None:
        # The audit browser names the complaints' events in Chinese, like every other action.
        from audit.selectors import ACTION_LABELS
        from complaints.audit_labels import COMPLAINT_ACTION_LABELS

        ACTION_LABELS.update(COMPLAINT_ACTION_LABELS)
