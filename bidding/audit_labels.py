"""Chinese labels of the audit events the bidding app records (shown in the audit browser)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

BIDDING_ACTION_LABELS = {
    "bidding.upload.started": _("开始上传投标文件"),
    "bidding.upload.failed": _("投标文件上传被拒绝"),
    "bidding.upload.abandoned": _("放弃上传投标文件"),
    "bidding.upload.discarded": _("截止时未传完的投标文件作废"),
    "bidding.bid.submitted": _("递交投标文件"),
    "bidding.bid.replaced": _("替换投标文件"),
    "bidding.bid.withdrawn": _("撤回投标文件"),
    "bidding.bid.decrypted": _("解密投标文件"),
    "bidding.bid.decryption_failed": _("投标文件解密失败"),
}
