from __future__ import annotations

from django.apps import AppConfig


class BiddingConfig(AppConfig):
    name = "bidding"
    verbose_name = "投标"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The audit browser names bidding events in Chinese, like every other action.
        from audit.selectors import ACTION_LABELS
        from bidding.audit_labels import BIDDING_ACTION_LABELS

        ACTION_LABELS.update(BIDDING_ACTION_LABELS)
        from bidding.security import SECURITY_ACTION_LABELS

        ACTION_LABELS.update(SECURITY_ACTION_LABELS)
        from bidding import checks  # noqa: F401  (registers the deploy check)
