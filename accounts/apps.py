from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("账户与组织")

    def ready(self) -> None:
        # The audit browser names the key and token events in Chinese.
        from accounts.audit_labels import KEY_ACTION_LABELS
        from audit.selectors import ACTION_LABELS

        ACTION_LABELS.update(KEY_ACTION_LABELS)
