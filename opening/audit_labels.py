"""Chinese labels of the opening key's and the opening room's audit events (shown in the audit browser)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

OPENING_ACTION_LABELS = {
    "opening.key.created": _("生成开标密钥"),
    "opening.share.submitted": _("提交开标密钥份额"),
    "opening.key.rebuilt": _("重建开标私钥"),
    "opening.room.scheduled": _("开标室建立"),
    "opening.room.signed_in": _("开标签到"),
    "opening.room.signed_in_sealed": _("投标人签到（截止后公布）"),
    "opening.room.opened": _("开标：公布投标人"),
    "opening.room.failed": _("开标：投标人不足，流标"),
    "opening.room.stage": _("开标阶段变更"),
    "opening.room.decrypted": _("投标文件解密成功"),
    "opening.room.decryption_failed": _("投标文件解密失败"),
    "opening.room.cause": _("记录未解密原因"),
    "opening.room.custody": _("保管单位提交开标密钥份额"),
    "opening.room.custody_rebuilt": _("开标私钥已重建"),
    "opening.room.reading_started": _("开始唱标"),
    "opening.room.read": _("唱标"),
    "opening.room.reading_finished": _("唱标结束"),
    "opening.room.confirmed": _("投标人确认开标结果"),
    "opening.room.objection": _("投标人提出异议"),
    "opening.room.answered": _("答复异议"),
    "opening.room.paused": _("监督人员暂停开标"),
    "opening.room.unpaused": _("监督人员恢复开标"),
    "opening.room.chat": _("开标室发言"),
    "opening.room.record": _("生成开标记录"),
    "opening.room.closed": _("开标结束，发布开标记录"),
}
