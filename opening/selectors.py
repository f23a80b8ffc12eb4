"""Reads of opening keys and custodians, with the visibility rules applied here.

A custodian's page and share are visible only to users of that custodian
organisation who hold the role its kind implies (an agency's agents, a
tenderer's representatives, a supervising authority's supervisors); to
everyone else the lot's custody does not exist (``NotFound``).
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import rsa
from django.db.models import Prefetch, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation, OrganisationKind, Role, User
from core.errors import DomainError, NotFound
from opening import crypto
from opening.models import Custodian, OpeningKey
from tendering.models import Lot, Tender, TenderStatus

MIN_CUSTODIANS = 2
MAX_CUSTODIANS = 7
MIN_THRESHOLD = 2
DEFAULT_CUSTODIAN_COUNT = 3  # the agency, the supervising authority, the tenderer
DEFAULT_THRESHOLD = 2

# The role a user must hold to act for a custodian organisation of each kind.
CUSTODIAN_ROLES: dict[str, str] = {
    OrganisationKind.AGENCY: Role.AGENT,
    OrganisationKind.SUPERVISOR: Role.SUPERVISOR,
    OrganisationKind.TENDERER: Role.TENDERER_REP,
}


# --- planning the custody (drafts) ------------------------------------------------------


def default_custodians(*, tender: Tender) -> list[Organisation]:
    """The default custodians: the agency, the supervising authority (once chosen) and the tenderer."""
    parties = [tender.agency, tender.supervising_authority, tender.tenderer]
    return [organisation for organisation in parties if organisation is not None]


def custodian_candidates(*, tender: Tender) -> list[Organisation]:
    """Who may be named custodian of a lot of ``tender``.

    The tender's own agency and tenderer, and any active supervising
    authority. Never a bidder (it would hold a key to its rivals' bids), never
    another agency or tenderer, never the platform (the point is that the
    platform cannot open bids by itself).
    """
    supervisors = Organisation.objects.filter(kind=OrganisationKind.SUPERVISOR, is_active=True)
    organisations = list(
        Organisation.objects.filter(
            Q(pk__in=[tender.agency_id, tender.tenderer_id]) | Q(pk__in=supervisors)
        ).order_by("kind", "name")
    )
    order = {
        OrganisationKind.AGENCY: 0,
        OrganisationKind.SUPERVISOR: 1,
        OrganisationKind.TENDERER: 2,
    }
    return sorted(organisations, key=lambda org: (order.get(org.kind, 9), org.name))


def custodians_planned(*, lot: Lot) -> list[Organisation]:
    """The custodians the lot's opening key will be split among, in share order.

    The ones named on the lot, else the defaults. Agency first, then
    supervising authorities, then the tenderer: the order fixes each share's
    x coordinate.
    """
    named = list(lot.custodians.all()) if lot.pk else []
    chosen = named or default_custodians(tender=lot.tender)
    order = {
        OrganisationKind.AGENCY: 0,
        OrganisationKind.SUPERVISOR: 1,
        OrganisationKind.TENDERER: 2,
    }
    return sorted(chosen, key=lambda org: (order.get(org.kind, 9), org.name, org.pk))


# --- the public key -----------------------------------------------------------------------


def opening_key_of(*, lot: Lot) -> OpeningKey | None:
    return OpeningKey.objects.filter(lot=lot).first()


def opening_public_key(lot: Lot) -> tuple[rsa.RSAPublicKey, str]:
    """The lot's opening public key and its fingerprint (``NotFound`` before publication)."""
    key = opening_key_of(lot=lot)
    if key is None:
        raise NotFound("opening.no_key", _("该标段尚无开标公钥。"))
    return crypto.load_public(bytes(key.public_key)), key.fingerprint


def public_key_for_download(*, lot_id: int) -> OpeningKey:
    """The opening key of a published lot, for anyone: the public key is published with the lot."""
    key = (
        OpeningKey.objects.select_related("lot", "lot__tender")
        .filter(lot_id=lot_id, lot__tender__published_at__isnull=False)
        .first()
    )
    if key is None:
        raise NotFound("opening.no_key", _("该标段尚无开标公钥。"))
    return key


def opening_keys_by_lot(*, lot_ids: list[int]) -> dict[int, OpeningKey]:
    """The opening keys of several lots at once (two queries), by lot id, with their custodians; no secrets."""
    keys = (
        OpeningKey.objects.filter(lot_id__in=lot_ids)
        .only("lot_id", "fingerprint", "threshold", "rebuilt_at")
        .prefetch_related(
            Prefetch(
                "custodians",
                queryset=Custodian.objects.select_related("organisation").order_by("x"),
            )
        )
    )
    return {key.lot_id: key for key in keys}


# --- the private key, after the opening ------------------------------------------------------


def opening_private_key(lot: Lot) -> rsa.RSAPrivateKey:
    """The rebuilt opening private key, for decrypting the lot's bids at the opening.

    Refused before the lot's opening time (``opening.too_early``) and until
    enough custodians have submitted their shares (``opening.not_rebuilt``).
    """
    key = opening_key_of(lot=lot)
    if key is None:
        raise NotFound("opening.no_key", _("该标段尚无开标公钥。"))
    if timezone.now() < lot.opening_time:
        raise DomainError(
            "opening.too_early",
            _("开标时间（%(time)s）之前不能使用开标密钥。"),
            status=409,
            time=timezone.localtime(lot.opening_time).strftime("%Y-%m-%d %H:%M"),
        )
    if key.private_key is None:
        raise DomainError(
            "opening.not_rebuilt",
            _("开标密钥尚未重建：需要%(threshold)d家保管单位提交密钥份额。"),
            status=409,
            threshold=key.threshold,
        )
    return crypto.load_private_der(bytes(key.private_key))


# --- custodians -------------------------------------------------------------------------------


def acts_for_custodian(user: User, organisation: Organisation) -> bool:
    """Whether ``user`` may act for ``organisation`` as a custodian."""
    role = CUSTODIAN_ROLES.get(organisation.kind)
    return (
        role is not None
        and user.is_authenticated
        and user.organisation_id == organisation.pk
        and organisation.is_active
        and user.has_role(role)
    )


@dataclass(frozen=True, kw_only=True)
class Custody:
    """A lot's custody as one custodian organisation's user sees it."""

    lot: Lot
    opening_key: OpeningKey
    custodians: list[Custodian]
    mine: Custodian

    @property
    def submitted(self) -> int:
        return sum(1 for custodian in self.custodians if custodian.has_submitted)

    @property
    def opening_time_passed(self) -> bool:
        return timezone.now() >= self.lot.opening_time


def custody_for_user(*, user: User, lot_id: int) -> Custody:
    """The custody of a lot, for a user acting for one of its custodians; ``NotFound`` for anyone else."""
    key = (
        OpeningKey.objects.select_related(
            "lot", "lot__tender", "lot__tender__agency", "lot__tender__tenderer"
        )
        .filter(
            lot_id=lot_id, lot__tender__status__in=[TenderStatus.PUBLISHED, TenderStatus.CANCELLED]
        )
        .first()
    )
    if key is None or not user.is_authenticated:
        raise NotFound("opening.custody_not_found", _("您不是该标段的开标密钥保管单位。"))
    custodians = list(
        key.custodians.select_related("organisation", "key", "submitted_by").order_by("x")
    )
    mine = next(
        (custodian for custodian in custodians if acts_for_custodian(user, custodian.organisation)),
        None,
    )
    if mine is None:
        raise NotFound("opening.custody_not_found", _("您不是该标段的开标密钥保管单位。"))
    return Custody(lot=key.lot, opening_key=key, custodians=custodians, mine=mine)
