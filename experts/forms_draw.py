"""Forms of the draw pages: they parse input, nothing more.

The rules (ER 9 committee size, the lot's state, the evaluation ahead, the
supervisor's number) live in ``experts.services``; views put a service's
``DomainError`` back on the field it names (``tendering.forms.apply_error``).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from experts.models import Locality
from experts.selectors import leaf_specialties
from experts.services import (
    MAX_RESPONSE_MINUTES,
    MIN_RESPONSE_MINUTES,
    DrawItemInput,
    DrawRequestInput,
)
from tendering.forms import DATETIME_LOCAL_FORMAT, DateTimeLocalInput


class DrawRequestForm(forms.Form):
    # Django reads the naive value in the current time zone (Asia/Shanghai) and returns it aware.
    evaluation_start = forms.DateTimeField(
        label=_("评标开始时间"),
        widget=DateTimeLocalInput(),
        input_formats=[
            DATETIME_LOCAL_FORMAT,
            "%Y-%m-%d %H:%M",
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%d %H:%M:%S",
        ],
    )
    evaluation_place = forms.CharField(
        label=_("评标地点"),
        max_length=200,
        help_text=_("将随抽取通知告知专家；请填写评标室等地点，勿写明招标人或投标人名称。"),
    )
    locality = forms.ChoiceField(
        label=_("专家来源"), choices=Locality.choices, initial=Locality.ANY
    )
    tenderer_representatives = forms.IntegerField(
        label=_("招标人代表人数"),
        min_value=0,
        max_value=20,
        initial=0,
        help_text=_("评标委员会成员总数须为5人以上单数，其中专家不少于三分之二。"),
    )
    # The service's bounds, so that the browser already refuses what it would.
    response_minutes = forms.IntegerField(
        label=_("答复时限（分钟）"),
        min_value=MIN_RESPONSE_MINUTES,
        max_value=MAX_RESPONSE_MINUTES,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["response_minutes"].initial = settings.EXPERT_DRAW["RESPONSE_MINUTES"]


class DrawItemForm(forms.Form):
    specialty = forms.ModelChoiceField(
        label=_("评标专业"), queryset=leaf_specialties(), empty_label=_("请选择专业")
    )
    members = forms.IntegerField(label=_("抽取人数"), min_value=1, max_value=50)
    # No initial value: a row left blank must stay "unchanged", so that the formset skips it.
    reserves = forms.IntegerField(
        label=_("候补人数"),
        min_value=0,
        max_value=20,
        required=False,
        widget=forms.NumberInput(attrs={"placeholder": "0"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A fresh queryset per form, so a specialty added since start-up is offered.
        self.fields["specialty"].queryset = leaf_specialties()


class _BaseDrawItemFormSet(forms.BaseFormSet):
    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        filled = [
            form for form in self.forms if form.has_changed() and not self._should_delete_form(form)
        ]
        if not filled:
            raise forms.ValidationError(_("请至少填写一个评标专业。"))


DrawItemFormSet = forms.formset_factory(
    DrawItemForm, formset=_BaseDrawItemFormSet, extra=3, max_num=10, validate_max=True
)


def request_input(form: DrawRequestForm, items: forms.BaseFormSet) -> DrawRequestInput:
    """The service's input from a valid form and formset (blank item rows left out)."""
    data = form.cleaned_data
    return DrawRequestInput(
        items=[
            DrawItemInput(
                specialty_id=item.cleaned_data["specialty"].pk,
                members=item.cleaned_data["members"],
                reserves=item.cleaned_data.get("reserves") or 0,
            )
            for item in items.forms
            if item.has_changed() and item.cleaned_data
        ],
        evaluation_start=data["evaluation_start"],
        evaluation_place=data["evaluation_place"],
        locality=data["locality"],
        tenderer_representatives=data["tenderer_representatives"],
        response_minutes=data["response_minutes"],
    )


class ReviewForm(forms.Form):
    APPROVE = "approve"
    REJECT = "reject"

    decision = forms.ChoiceField(
        label=_("审核意见"),
        choices=[(APPROVE, _("批准抽取")), (REJECT, _("驳回"))],
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(
        label=_("驳回理由"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("驳回时必填，将告知申请的代理机构经办人。"),
    )


class DrawRunForm(forms.Form):
    supervisor_number = forms.CharField(
        label=_("监督随机数"),
        max_length=12,
        help_text=_("由监督人员现场输入1至12位数字，与承诺的随机秘密和审计链头共同决定抽取结果。"),
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "off", "pattern": "[0-9]{1,12}"}
        ),
    )
