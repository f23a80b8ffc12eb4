"""Models of the finance app.

``SavingsFact`` is the savings reports' own table: one row per awarded lot,
with what the reports slice and sum (docs/finance-savings.md). It is derived
data, never edited by hand: ``finance.services.savings_fact_record`` writes
it in the transaction of the award (``tendering.services.lot_award``), the
data migration filled it for the lots awarded before it existed, and
``finance.selectors.savings_fact_discrepancies`` (``manage.py savings_facts``)
compares it with the lots.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation
from tendering.models import Category, Lot


class SavingsFact(models.Model):
    """An awarded lot as the savings reports see it.

    Amounts are whole fen (分, hundredths of a yuan) in 64-bit integers, so
    that the database sums them exactly on every backend: SQLite keeps a
    DECIMAL column as a binary floating-point number and sums it as one,
    which loses fen on large totals, where integer sums cannot. Readers turn
    them back into ``Decimal`` yuan (``finance.selectors.Figure``).
    """

    lot = models.OneToOneField(
        Lot, verbose_name=_("标段"), primary_key=True, on_delete=models.CASCADE, related_name="savings_fact"
    )
    awarded_at = models.DateTimeField(_("定标时间"))
    # The calendar day of ``awarded_at`` in Asia/Shanghai (finance.periods): what periods filter on.
    award_date = models.DateField(_("定标日期"))
    # Copied from the tender at the award; a published tender's fields no longer change.
    category = models.CharField(_("交易类别"), max_length=20, choices=Category.choices)
    region = models.CharField(_("项目所在地区"), max_length=6)
    # Both indexed by the composite indexes below, which begin with them.
    agency = models.ForeignKey(
        Organisation, verbose_name=_("招标代理机构"), on_delete=models.PROTECT, related_name="+", db_index=False
    )
    tenderer = models.ForeignKey(
        Organisation, verbose_name=_("招标人"), on_delete=models.PROTECT, related_name="+", db_index=False
    )
    control_fen = models.BigIntegerField(_("招标控制价（分）"))
    award_fen = models.BigIntegerField(_("中标价（分）"))

    class Meta:
        verbose_name = _("节约资金统计记录")
        verbose_name_plural = _("节约资金统计记录")
        # Every report filters a range of award dates; the drill-down lists one slice (a category, a
        # region, an agency, a tenderer, or none) in (award_date, lot) order and sums the lots before
        # a page: one index per slice, each ending in that order, serves both (bench/savings.py).
        # Agents' reports are always within their own agency.
        indexes = [
            models.Index(fields=["award_date", "lot"], name="finance_fact_date"),
            models.Index(fields=["category", "award_date", "lot"], name="finance_fact_category"),
            models.Index(fields=["region", "award_date", "lot"], name="finance_fact_region"),
            models.Index(fields=["agency", "award_date", "lot"], name="finance_fact_agency"),
            models.Index(fields=["tenderer", "award_date", "lot"], name="finance_fact_tenderer"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(award_fen__gt=0) & Q(award_fen__lte=F("control_fen")),
                name="finance_fact_award_within_control",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.lot_id} {self.award_date}"
