"""Forms of the bid security pages: formats only (a date is a date, an amount has two decimals).

Whether a payment matches a security, a refund is due or a date is allowed
is for ``bidding.security`` to say; the views put its refusals back on the
field it names (``tendering.forms.apply_error``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from bidding.security import PaymentInput
from bidding.security_selectors import QUEUE_STATES, QueueFilter, RefundRule


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%d")


def _date_field(label: Any, *, required: bool = True) -> forms.DateField:
    return forms.DateField(label=label, required=required, widget=DateInput())


class PaymentForm(forms.Form):
    reference = forms.CharField(
        label=_("付款参考号（附言）"),
        max_length=300,
        help_text=_("转账附言中的付款参考号，以 BZ 开头共18位；也可粘贴整段附言。"),
    )
    amount = forms.DecimalField(
        label=_("金额（元）"),
        max_digits=14,
        decimal_places=2,
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
    )
    paid_on = _date_field(_("到账日期"))
    payer_name = forms.CharField(label=_("付款人户名"), max_length=200)
    payer_account = forms.CharField(label=_("付款人账号"), max_length=40)
    payer_bank = forms.CharField(label=_("付款人开户行"), max_length=200)
    bank_serial = forms.CharField(
        label=_("交易流水号"),
        max_length=64,
        help_text=_("银行回单上的流水号：同一流水号不会重复登记，以后导入含该笔的流水也不会重复入账。"),
    )

    def to_input(self) -> PaymentInput:
        data = self.cleaned_data
        return PaymentInput(
            reference=data["reference"],
            amount=data["amount"],
            paid_on=data["paid_on"],
            payer_name=data["payer_name"],
            payer_account=data["payer_account"],
            payer_bank=data["payer_bank"],
            bank_serial=data["bank_serial"],
        )


class StatementForm(forms.Form):
    file = forms.FileField(
        label=_("银行流水文件（CSV）"),
        help_text=_("网银导出的交易明细（收入），CSV 格式，UTF-8 或 GBK 编码，不超过 2 MB。"),
    )


STATE_CHOICES = [
    ("due", _("待退还")),
    ("overdue", _("已逾期")),
    ("held", _("未到退还条件")),
    ("in_batch", _("退付中")),
    ("paid", _("已退还")),
    ("forfeited", _("已没收")),
    ("all", _("全部")),
]
assert [value for value, _label in STATE_CHOICES] == list(QUEUE_STATES)


class QueueFilterForm(forms.Form):
    state = forms.ChoiceField(label=_("状态"), choices=STATE_CHOICES, required=False)
    rule = forms.ChoiceField(
        label=_("退还依据"),
        choices=[("", _("全部"))] + [(key, label) for key, label in RefundRule.LABELS.items()],
        required=False,
    )
    q = forms.CharField(label=_("搜索"), max_length=100, required=False)
    due_before = _date_field(_("应退日期不晚于"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["q"].widget.attrs["placeholder"] = _("项目编号、投标人、付款人或参考号")

    def to_filter(self) -> QueueFilter:
        """The filter asked for; a malformed field is ignored rather than refusing the page."""
        data = self.cleaned_data if self.is_valid() else {}
        due_before = data.get("due_before")
        return QueueFilter(
            state=data.get("state") or "due",
            rule=data.get("rule") or "",
            q=data.get("q") or "",
            due_before=due_before if isinstance(due_before, dt.date) else None,
        )


class BatchForm(forms.Form):
    """The payments ticked on the queue page (``payment`` repeated)."""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        values = self.data.getlist("payment") if hasattr(self.data, "getlist") else []
        try:
            cleaned["payments"] = sorted({int(value) for value in values})
        except (TypeError, ValueError):
            raise forms.ValidationError(_("所选款项无效，请刷新后重新选择。")) from None
        return cleaned


class RefundPaidForm(forms.Form):
    paid_on = _date_field(_("退付日期"))
    bank_reference = forms.CharField(
        label=_("银行交易参考号"), max_length=64, help_text=_("网银批量业务的批次号或回单上的交易流水号。")
    )


class ReleaseForm(forms.Form):
    reason = forms.CharField(label=_("撤回原因"), max_length=500, help_text=_("例如：银行退回批量文件。"))


class ContractForm(forms.Form):
    signed_on = _date_field(_("合同签订日期"))


class ForfeitForm(forms.Form):
    reason = forms.CharField(
        label=_("没收理由"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("写明依据（如招标文件条款）和投标人撤销投标文件的事实。"),
    )
