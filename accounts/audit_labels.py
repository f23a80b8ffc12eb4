"""Chinese labels of the key and token audit events (shown in the audit browser)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

KEY_ACTION_LABELS = {
    "accounts.key.registered": _("登记组织密钥"),
    "accounts.key.retired": _("停用组织密钥"),
    "accounts.token.created": _("创建 API 令牌"),
    "accounts.token.revoked": _("撤销 API 令牌"),
}
