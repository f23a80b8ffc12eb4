"""Forms of the evaluation pages: formats only (a number is a number); the rules are the services'."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from evaluation.models import BenchmarkMethod, EvaluationScheme, ItemKind
from evaluation.services import ItemInput, SchemeInput


def _points(label: Any, **kwargs: Any) -> forms.DecimalField:
    return forms.DecimalField(label=label, max_digits=5, decimal_places=2, **kwargs)


class SchemeForm(forms.Form):
    benchmark_method = forms.ChoiceField(label=_("评标基准价"), choices=BenchmarkMethod.choices)
    drop_extremes = forms.BooleanField(label=_("计算平均值时去掉一个最高报价和一个最低报价"), required=False)
    drop_extremes_min_bids = forms.IntegerField(
        label=_("有效投标不少于（家）时去掉最高最低报价"), min_value=3, max_value=99
    )
    price_points = _points(_("价格分满分"), help_text=_("投标报价等于评标基准价时得满分。"))
    deduct_above = _points(_("高于基准价每1%扣分"))
    deduct_below = _points(_("低于基准价每1%扣分"))
    candidates = forms.TypedChoiceField(
        label=_("推荐中标候选人数"), choices=[(1, "1"), (2, "2"), (3, "3")], coerce=int
    )
    duration_minutes = forms.IntegerField(label=_("评标时限（分钟）"), min_value=1)
    extension_minutes = forms.IntegerField(
        label=_("每次延长评标时间（分钟）"),
        min_value=1,
        help_text=_("超过三分之一的评标委员会成员认为评标时间不够时延长（《招标投标法实施条例》第四十八条）。"),
    )

    # The fields of the price formula: shown only for comprehensive scoring.
    PRICE_FIELDS = ("benchmark_method", "drop_extremes", "drop_extremes_min_bids", "price_points", "deduct_above", "deduct_below")

    @classmethod
    def initial_of(cls, scheme: EvaluationScheme | None, default: SchemeInput) -> dict[str, Any]:
        source: Any = scheme if scheme is not None else default
        return {name: getattr(source, name) for name in cls.base_fields}

    def drop_price_fields(self) -> None:
        """For a lowest-evaluated-price lot: the price formula does not apply and is not asked for."""
        for name in self.PRICE_FIELDS:
            del self.fields[name]


class ItemForm(forms.Form):
    kind = forms.ChoiceField(label=_("类别"), choices=ItemKind.choices)
    name = forms.CharField(label=_("评分因素"), max_length=100)
    description = forms.CharField(label=_("评分标准"), max_length=500, required=False)
    min_score = _points(_("最低分"))
    max_score = _points(_("最高分"))


ItemFormSet = forms.formset_factory(ItemForm, extra=2, can_delete=True, max_num=30, absolute_max=40)


def item_initial(scheme: EvaluationScheme | None, default: SchemeInput) -> list[dict[str, Any]]:
    if scheme is not None:
        return [
            {
                "kind": item.kind,
                "name": item.name,
                "description": item.description,
                "min_score": item.min_score,
                "max_score": item.max_score,
            }
            for item in scheme.items.order_by("position")
        ]
    return [
        {
            "kind": item.kind,
            "name": item.name,
            "description": item.description,
            "min_score": item.min_score,
            "max_score": item.max_score,
        }
        for item in default.items
    ]


def scheme_input(form: SchemeForm, items: Any, *, fallback: SchemeInput) -> SchemeInput:
    """The valid forms as the service's input; rows left blank or marked for deletion are skipped.

    A form without the price fields and no item formset (a lowest-evaluated-
    price lot, which does not use them) keeps ``fallback``'s price part and items.
    """
    data = {**{name: getattr(fallback, name) for name in SchemeForm.PRICE_FIELDS}, **form.cleaned_data}
    if items is None:
        return SchemeInput(
            **{name: data[name] for name in SchemeForm.base_fields},
            items=fallback.items,
        )
    rows = []
    for item_form in items.forms:
        cleaned = getattr(item_form, "cleaned_data", None) or {}
        if not cleaned or cleaned.get("DELETE"):
            continue
        rows.append(
            ItemInput(
                kind=cleaned["kind"],
                name=cleaned["name"],
                description=cleaned.get("description") or "",
                min_score=cleaned["min_score"],
                max_score=cleaned["max_score"],
            )
        )
    return SchemeInput(
        benchmark_method=data["benchmark_method"],
        drop_extremes=bool(data["drop_extremes"]),
        drop_extremes_min_bids=data["drop_extremes_min_bids"],
        price_points=data["price_points"],
        deduct_above=data["deduct_above"],
        deduct_below=data["deduct_below"],
        candidates=data["candidates"],
        duration_minutes=data["duration_minutes"],
        extension_minutes=data["extension_minutes"],
        items=tuple(rows),
    )


class SignInForm(forms.Form):
    no_conflict = forms.BooleanField(
        label=_("本人承诺：与本标段的投标人不存在近亲属、经济利益等利害关系，不存在应当回避的情形。"),
        required=False,
    )


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("理由"), widget=forms.Textarea(attrs={"rows": 3}), required=False)


class VoteForm(forms.Form):
    candidate = forms.IntegerField(label=_("推选组长"), min_value=1)
