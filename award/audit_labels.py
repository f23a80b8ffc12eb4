"""Chinese labels of the award step's audit events (shown in the audit browser)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

AWARD_ACTION_LABELS = {
    "award.publicity.published": _("发布中标候选人公示"),
    "award.objection.filed": _("对中标候选人公示提出异议"),
    "award.objection.answered": _("答复中标候选人公示异议"),
    "award.result.announced": _("公告中标结果"),
    "award.letter.issued": _("签发中标通知书/中标结果通知书"),
}
