"""Field formats of the complaint pages. The rules (10 days, objections, states) are the services'."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from complaints.models import Outcome, Subject
from complaints.services import ATTACHMENT_MAX_BYTES, ComplaintInput
from tendering.forms import MultipleFileField
from tendering.models import Lot


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%d")


def _date(label: Any, *, required: bool = True, help_text: Any = "") -> forms.DateField:
    return forms.DateField(label=label, required=required, help_text=help_text, widget=DateInput())


class ComplaintForm(forms.Form):
    lot = forms.ModelChoiceField(
        label=_("投诉的标段"),
        queryset=Lot.objects.none(),
        required=False,
        empty_label=_("整个项目（全部标段）"),
    )
    subject = forms.ChoiceField(label=_("投诉事项"), choices=[("", _("请选择"))] + Subject.choices)
    known_on = _date(
        _("知道或者应当知道之日"),
        help_text=_("投诉应自该日起10日内提出（TR 60），逾期不予受理。"),
    )
    facts = forms.CharField(
        label=_("事实和理由"), widget=forms.Textarea(attrs={"rows": 8}), max_length=20_000
    )
    claims = forms.CharField(
        label=_("请求事项"),
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=20_000,
        help_text=_("写明请求监督部门作出的具体处理，例如责令改正招标文件、重新评标。"),
    )
    objection_raised = forms.BooleanField(
        label=_("已就该事项先向招标人（招标代理机构）提出异议"),
        required=False,
        help_text=_(
            "对招标文件、开标、评标结果（中标候选人公示）投诉的，应当先提出异议（TR 22、TR 44、TR 54、TR 60），"
            "否则监督部门可不予受理；异议答复期间不计入投诉期限。"
        ),
    )
    objected_on = _date(_("提出异议日期"), required=False)
    objection_answered_on = _date(
        _("收到异议答复日期"), required=False, help_text=_("未收到答复的请留空。")
    )
    attachments = MultipleFileField(
        label=_("证明材料"),
        required=False,
    )

    def __init__(self, *args: Any, lots: QuerySet[Lot], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        lot_field = self.fields["lot"]
        assert isinstance(lot_field, forms.ModelChoiceField)
        lot_field.queryset = lots
        lot_field.label_from_instance = lambda lot: (
            gettext("第%(number)s标段") % {"number": lot.number} + " " + lot.name
        )
        self.fields["attachments"].help_text = gettext(
            "至少上传一份证明材料，单个文件不超过%(mb)d MB。"
        ) % {"mb": ATTACHMENT_MAX_BYTES // (1024 * 1024)}

    def to_input(self) -> ComplaintInput:
        data = self.cleaned_data
        return ComplaintInput(
            lot_id=data["lot"].pk if data["lot"] else None,
            subject=data["subject"],
            facts=data["facts"],
            claims=data["claims"],
            known_on=data["known_on"],
            objection_raised=data["objection_raised"],
            objected_on=data["objected_on"],
            objection_answered_on=data["objection_answered_on"],
        )


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("理由"), widget=forms.Textarea(attrs={"rows": 3}), max_length=5_000
    )


class StatementRequestForm(forms.Form):
    questions = forms.CharField(
        label=_("需说明的事项"), widget=forms.Textarea(attrs={"rows": 4}), max_length=20_000
    )
    due_on = _date(_("答复期限"))


class StatementAnswerForm(forms.Form):
    answer = forms.CharField(
        label=_("说明内容"), widget=forms.Textarea(attrs={"rows": 6}), max_length=20_000
    )
    attachments = MultipleFileField(label=_("附件"), required=False)


class DecisionForm(forms.Form):
    outcome = forms.ChoiceField(
        label=_("处理结果"), choices=Outcome.choices, widget=forms.RadioSelect
    )
    decision = forms.CharField(
        label=_("处理决定"),
        widget=forms.Textarea(attrs={"rows": 6}),
        max_length=20_000,
        help_text=_(
            "写明认定的事实、依据和理由；投诉成立的，写明处理措施（如责令改正、重新评标、重新招标）。"
        ),
    )
