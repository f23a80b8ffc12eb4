from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EvaluationConfig(AppConfig):
    name = "evaluation"
    verbose_name = _("评标")

    def ready(self) -> None:
        # The audit browser names the evaluation's events in Chinese, like every other action.
        from audit.selectors import ACTION_LABELS
        from evaluation.audit_labels import EVALUATION_ACTION_LABELS

        ACTION_LABELS.update(EVALUATION_ACTION_LABELS)
