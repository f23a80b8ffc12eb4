"""Chinese labels of the complaints' audit events (shown in the audit browser)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

COMPLAINT_ACTION_LABELS = {
    "complaints.complaint.filed": _("提起投诉"),
    "complaints.complaint.accepted": _("受理投诉"),
    "complaints.complaint.not_accepted": _("投诉不予受理"),
    "complaints.complaint.decided": _("作出投诉处理决定"),
    "complaints.complaint.withdrawn": _("撤回投诉"),
    "complaints.suspension.ordered": _("责令暂停招标投标活动"),
    "complaints.suspension.lifted": _("恢复招标投标活动"),
    "complaints.statement.requested": _("要求被投诉人作出书面说明"),
    "complaints.statement.answered": _("被投诉人提交书面说明"),
    "complaints.calendar_day.saved": _("保存节假日安排"),
    "complaints.calendar_day.deleted": _("删除节假日安排"),
}
