"""Chinese labels of the evaluation's audit events (shown in the audit browser)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

EVALUATION_ACTION_LABELS = {
    "evaluation.scheme.saved": _("保存评标办法"),
    "evaluation.started": _("开始评标"),
    "evaluation.member.signed_in": _("评标专家签到并作出回避承诺"),
    "evaluation.chair.voted": _("推选组长投票"),
    "evaluation.chair.elected": _("评标委员会组长当选"),
    "evaluation.chair.revote": _("推选组长无人过半数，重新投票"),
    "evaluation.scores.saved": _("暂存评分"),
    "evaluation.scores.submitted": _("提交评审意见"),
    "evaluation.scores.opened": _("全体成员已提交评审意见"),
    "evaluation.bid.rejected": _("否决投标"),
    "evaluation.bid.reinstated": _("撤销对投标的否决"),
    "evaluation.extension.requested": _("申请延长评标时间"),
    "evaluation.deadline.extended": _("延长评标时间"),
    "evaluation.report.drafted": _("生成评标报告"),
    "evaluation.report.discarded": _("撤回评标报告草稿"),
    "evaluation.report.signed": _("评标专家签署评标报告"),
    "evaluation.report.final": _("评标报告生效"),
    "evaluation.signing_key.registered": _("登记评标签名密钥"),
}
