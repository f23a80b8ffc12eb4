"""What the savings fact of an awarded lot holds: the one definition, for the writer and the checks."""

from __future__ import annotations

from decimal import Decimal

from finance.models import SavingsFact
from finance.periods import award_date_of
from tendering.models import Lot

FEN_PER_YUAN = 100

# The fields a fact takes from its lot and tender (its primary key is the lot's).
FACT_FIELDS = ("awarded_at", "award_date", "category", "region", "agency_id", "tenderer_id", "control_fen", "award_fen")


def to_fen(amount: Decimal) -> int:
    """Yuan with at most two decimals to whole fen; anything finer is a bug upstream, never rounded away."""
    fen = amount * FEN_PER_YUAN
    if fen != fen.to_integral_value():
        raise ValueError(f"{amount} is not a whole number of fen")
    return int(fen)


def fact_for(lot: Lot) -> SavingsFact:
    """The (unsaved) fact of an awarded lot; ``lot.tender`` is read, so select it with the lot."""
    if lot.award_price is None or lot.awarded_at is None:
        raise ValueError(f"lot {lot.pk} has no award price or time")
    tender = lot.tender
    return SavingsFact(
        lot_id=lot.pk,
        awarded_at=lot.awarded_at,
        award_date=award_date_of(lot.awarded_at),
        category=tender.category,
        region=tender.region,
        agency_id=tender.agency_id,
        tenderer_id=tender.tenderer_id,
        control_fen=to_fen(lot.control_price),
        award_fen=to_fen(lot.award_price),
    )
