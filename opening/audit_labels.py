"""Chinese labels of the opening key's audit events (shown in the audit browser)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

OPENING_ACTION_LABELS = {
    "opening.key.created": _("生成开标密钥"),
    "opening.share.submitted": _("提交开标密钥份额"),
    "opening.key.rebuilt": _("重建开标私钥"),
}
