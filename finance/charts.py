"""The two charts of the savings report, laid out on the server for inline SVG (and reused by the PDF).

No chart library and nothing sent to the browser but markup: the page draws
``savings_by_month`` as vertical bars and ``rate_by_category`` as horizontal
bars from the geometry computed here, each with a title and a description
for screen readers and a table with the same figures beside it. Geometry is
in floating-point pixels (it only places shapes); every number shown as text
is the report's exact ``Decimal``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from django.utils.translation import gettext as _

from finance.selectors import Slice

_STEPS = (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10))
TICKS = 5


def nice_scale(maximum: Decimal, ticks: int = TICKS) -> tuple[Decimal, Decimal]:
    """(top, step) of an axis from 0 that holds ``maximum`` in ``ticks`` round steps (1, 2, 2.5 or 5 × 10ⁿ)."""
    if maximum <= 0:
        return Decimal(ticks), Decimal(1)
    raw = maximum / ticks
    magnitude = Decimal(10) ** (raw.adjusted())
    step = next(magnitude * factor for factor in _STEPS if magnitude * factor >= raw)
    top = (maximum / step).to_integral_value(rounding=ROUND_CEILING) * step
    return top, step


def _plain(value: Decimal) -> str:
    text = f"{value:,f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def money_unit(top: Decimal) -> tuple[Decimal, str]:
    """The unit an axis up to ``top`` yuan is labelled in: 元, 万元 or 亿元."""
    if top >= Decimal(10) ** 8:
        return Decimal(10) ** 8, _("亿元")
    if top >= Decimal(10) ** 4:
        return Decimal(10) ** 4, _("万元")
    return Decimal(1), _("元")


@dataclass(frozen=True)
class Tick:
    position: float
    text: str

    @property
    def text_y(self) -> float:
        """The baseline of a value axis label beside a horizontal grid line."""
        return _r(self.position + 4)


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    """Shown on the axis."""
    title: str
    """The bar's full text (tooltip and screen readers)."""
    value_text: str
    key: str
    empty: bool

    @property
    def center_x(self) -> float:
        return _r(self.x + self.width / 2)

    @property
    def middle_y(self) -> float:
        return _r(self.y + self.height / 2 + 4)

    @property
    def end_x(self) -> float:
        return _r(self.x + self.width + 6)


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: float
    top: float
    right: float
    bottom: float
    bars: list[Bar]
    ticks: list[Tick]
    title: str
    description: str
    unit: str

    @property
    def plot_width(self) -> float:
        return self.right - self.left

    @property
    def plot_height(self) -> float:
        return self.bottom - self.top

    @property
    def axis_label_y(self) -> float:
        """Where the labels under a vertical chart's bars go."""
        return self.bottom + 16

    @property
    def tick_label_x(self) -> float:
        return self.left - 6

    @property
    def label_x(self) -> float:
        """Where the labels left of a horizontal chart's bars end."""
        return self.left - 8


def _r(value: float) -> float:
    return round(value, 1)


def savings_by_month(months: Sequence[Slice], *, width: int = 760, height: int = 300) -> Chart:
    """Vertical bars: each month's savings (节约资金), on an axis in 元, 万元 or 亿元."""
    left, top, right, bottom = 72.0, 24.0, width - 12.0, height - 44.0
    highest = max((month.figure.savings for month in months), default=Decimal(0))
    scale_top, step = nice_scale(highest)
    divisor, unit = money_unit(scale_top)
    plot_height = bottom - top
    ticks = [
        Tick(position=_r(bottom - plot_height * float(step * index / scale_top)), text=_plain(step * index / divisor))
        for index in range(int(scale_top / step) + 1)
    ]
    slot = (right - left) / max(len(months), 1)
    years = {month.key[:4] for month in months}
    # Every month is labelled while they fit; beyond two years, every third one.
    label_every = 1 if len(months) <= 24 else 3
    bars = []
    for index, month in enumerate(months):
        savings = month.figure.savings
        bar_height = plot_height * float(savings / scale_top) if savings > 0 else 0.0
        number = int(month.key[5:7])
        short = (
            _("%(month)s月") % {"month": number}
            if len(years) == 1
            else f"{month.key[2:4]}/{number:02d}"
        )
        rate = month.figure.rate
        bars.append(
            Bar(
                x=_r(left + slot * index + slot * 0.15),
                y=_r(bottom - bar_height),
                width=_r(slot * 0.7),
                height=_r(bar_height),
                label=short if index % label_every == 0 else "",
                title=_("%(month)s：节约资金 %(savings)s 元，节约率 %(rate)s，%(lots)s 个标段")
                % {
                    "month": month.label,
                    "savings": f"{savings:,}",
                    "rate": f"{rate}%" if rate is not None else "—",
                    "lots": month.figure.lots,
                },
                value_text=f"{savings:,}",
                key=month.key,
                empty=month.figure.lots == 0,
            )
        )
    best = max(months, key=lambda month: month.figure.savings_fen, default=None)
    total = sum((month.figure.savings for month in months), Decimal("0.00"))
    description = (
        _("共 %(count)s 个月，节约资金合计 %(total)s 元；最高为 %(month)s，%(savings)s 元。")
        % {"count": len(months), "total": f"{total:,}", "month": best.label, "savings": f"{best.figure.savings:,}"}
        if best is not None and best.figure.lots
        else _("期间内没有定标的标段。")
    )
    return Chart(
        width=width,
        height=height,
        left=left,
        top=top,
        right=right,
        bottom=bottom,
        bars=bars,
        ticks=ticks,
        title=_("各月节约资金（%(unit)s）") % {"unit": unit},
        description=description,
        unit=unit,
    )


def rate_by_category(categories: Sequence[Slice], *, width: int = 760, row: int = 34) -> Chart:
    """Horizontal bars: each category's savings rate (节约率), in per cent."""
    left, top, right = 150.0, 28.0, width - 80.0
    bottom = top + row * max(len(categories), 1)
    height = int(bottom + 16)
    highest = max((category.figure.rate or Decimal(0) for category in categories), default=Decimal(0))
    scale_top, step = nice_scale(highest)
    plot_width = right - left
    ticks = [
        Tick(position=_r(left + plot_width * float(step * index / scale_top)), text=f"{_plain(step * index)}%")
        for index in range(int(scale_top / step) + 1)
    ]
    bars = []
    for index, category in enumerate(categories):
        rate = category.figure.rate or Decimal("0.00")
        bars.append(
            Bar(
                x=left,
                y=_r(top + row * index + row * 0.2),
                width=_r(plot_width * float(rate / scale_top)) if rate > 0 else 0.0,
                height=_r(row * 0.6),
                label=category.label,
                title=_("%(category)s：节约率 %(rate)s%%，节约资金 %(savings)s 元，招标控制价 %(control)s 元")
                % {
                    "category": category.label,
                    "rate": rate,
                    "savings": f"{category.figure.savings:,}",
                    "control": f"{category.figure.control_price:,}",
                },
                value_text=f"{rate}%",
                key=category.key,
                empty=category.figure.lots == 0,
            )
        )
    best = max(categories, key=lambda category: category.figure.rate or Decimal(0), default=None)
    description = (
        _("共 %(count)s 个交易类别；节约率最高的是%(category)s，%(rate)s%%。")
        % {"count": len(categories), "category": best.label, "rate": best.figure.rate}
        if best is not None
        else _("期间内没有定标的标段。")
    )
    return Chart(
        width=width,
        height=height,
        left=left,
        top=top,
        right=right,
        bottom=bottom,
        bars=bars,
        ticks=ticks,
        title=_("各交易类别节约率"),
        description=description,
        unit="%",
    )
