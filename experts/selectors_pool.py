"""Reads of the expert pool, with who may read what.

The pool — names, identity numbers, contacts, employers — is seen by
supervisors (read-only) and platform administrators (who maintain it), and by
nobody else at all: everyone else is refused (403) before any object is
looked up, so a refusal says nothing about which records exist. An expert
sees only their own record, through ``expert_for_self``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.db.models import Prefetch, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from accounts.models import Role, User
from core.errors import NotFound, NotPermitted
from experts.models import Expert, ExpertConflict, ExpertStatus, ExpertUnavailability, Specialty
from tendering.regions import REGION_NAMES

POOL_VIEWER_ROLES = (Role.SUPERVISOR, Role.PLATFORM_ADMIN)


def pool_can_view(user: User) -> bool:
    return user.is_authenticated and user.has_role(*POOL_VIEWER_ROLES)


def pool_can_manage(user: User) -> bool:
    return user.is_authenticated and user.has_role(Role.PLATFORM_ADMIN)


def pool_require_view(user: User) -> None:
    if not pool_can_view(user):
        raise NotPermitted("experts.pool_hidden", _("评标专家库仅对监督人员和平台管理员开放。"))


def pool_require_manage(user: User) -> None:
    if not pool_can_manage(user):
        raise NotPermitted("experts.pool_admin_only", _("只有平台管理员可以维护评标专家库。"))


@dataclass(frozen=True)
class PoolFilters:
    """The pool list's search: a name or code fragment, a specialty (any level), a region, a status."""

    q: str = ""
    specialty: str = ""
    region: str = ""
    status: str = ""

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> PoolFilters:
        """From query parameters; a value that names nothing is dropped rather than refused."""
        specialty = params.get("specialty", "").strip().upper()
        region = params.get("region", "").strip()
        status = params.get("status", "").strip()
        return cls(
            q=params.get("q", "").strip()[:50],
            specialty=specialty if Specialty.objects.filter(code=specialty).exists() else "",
            region=region if region in REGION_NAMES else "",
            status=status if status in ExpertStatus.values else "",
        )

    @property
    def active(self) -> bool:
        return bool(self.q or self.specialty or self.region or self.status)


def experts_for_pool(*, user: User, filters: PoolFilters | None = None) -> QuerySet[Expert]:
    """The pool as a supervisor or platform administrator searches it (NotPermitted for anyone else).

    A specialty filter matches the specialty and everything under it
    (``A02`` finds the experts of ``A0201``, ``A0202``, …).
    """
    pool_require_view(user)
    filters = filters or PoolFilters()
    experts = Expert.objects.all()
    if filters.q:
        experts = experts.filter(Q(name__icontains=filters.q) | Q(code__icontains=filters.q))
    if filters.specialty:
        experts = experts.filter(
            pk__in=Expert.specialties.through.objects.filter(
                specialty__code__startswith=filters.specialty
            ).values("expert_id")
        )
    if filters.region:
        experts = experts.filter(region=filters.region)
    if filters.status:
        experts = experts.filter(status=filters.status)
    return experts.prefetch_related(
        Prefetch("specialties", queryset=Specialty.objects.order_by("code"))
    ).order_by("code")


def expert_for_pool(*, user: User, expert_id: int) -> Expert:
    """One expert with specialties, conflicts and unavailable dates, for the pool's viewers."""
    pool_require_view(user)
    expert = (
        Expert.objects.select_related("user")
        .prefetch_related(
            Prefetch(
                "specialties", queryset=Specialty.objects.select_related("parent").order_by("code")
            ),
            Prefetch("conflicts", queryset=ExpertConflict.objects.order_by("organisation_name")),
            Prefetch("unavailable", queryset=ExpertUnavailability.objects.order_by("start", "end")),
        )
        .filter(pk=expert_id)
        .first()
    )
    if expert is None:
        raise NotFound("experts.not_found", _("没有找到该专家。"))
    return expert


def conflict_for_pool(*, user: User, expert: Expert, conflict_id: int) -> ExpertConflict:
    pool_require_manage(user)
    conflict = (
        ExpertConflict.objects.filter(pk=conflict_id, expert=expert)
        .select_related("expert")
        .first()
    )
    if conflict is None:
        raise NotFound("experts.conflict_not_found", _("没有找到该回避申报。"))
    return conflict


def unavailability_for_pool(
    *, user: User, expert: Expert, unavailability_id: int
) -> ExpertUnavailability:
    pool_require_manage(user)
    period = (
        ExpertUnavailability.objects.filter(pk=unavailability_id, expert=expert)
        .select_related("expert")
        .first()
    )
    if period is None:
        raise NotFound("experts.unavailability_not_found", _("没有找到该不可参评日期。"))
    return period


def expert_for_self(*, user: User) -> Expert | None:
    """The signed-in expert's own record (None if no record is linked to the account yet)."""
    if not (user.is_authenticated and user.has_role(Role.EXPERT)):
        raise NotPermitted("experts.self_only", _("只有评标专家可以查看本页。"))
    return (
        Expert.objects.filter(user=user)
        .prefetch_related(
            Prefetch(
                "specialties", queryset=Specialty.objects.select_related("parent").order_by("code")
            ),
            Prefetch("conflicts", queryset=ExpertConflict.objects.order_by("organisation_name")),
            Prefetch("unavailable", queryset=ExpertUnavailability.objects.order_by("start", "end")),
        )
        .first()
    )


def unavailability_for_self(*, user: User, unavailability_id: int) -> ExpertUnavailability:
    """One of the signed-in expert's own unavailable periods; anyone else's is a 404."""
    expert = expert_for_self(user=user)
    period = (
        ExpertUnavailability.objects.filter(pk=unavailability_id, expert=expert)
        .select_related("expert")
        .first()
        if expert is not None
        else None
    )
    if period is None:
        raise NotFound("experts.unavailability_not_found", _("没有找到该不可参评日期。"))
    return period


def specialty_leaf_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """Leaf specialties grouped under their parents, for choosing an expert's specialties."""
    specialties = list(Specialty.objects.select_related("parent__parent").order_by("code"))
    parents = {specialty.parent_id for specialty in specialties if specialty.parent_id}
    groups: dict[str, list[tuple[str, str]]] = {}
    for specialty in specialties:
        if specialty.pk in parents:
            continue
        parent = specialty.parent
        label = f"{parent.code} {parent.name}" if parent is not None else ""
        groups.setdefault(label, []).append((specialty.code, f"{specialty.code} {specialty.name}"))
    return list(groups.items())


def specialty_filter_choices() -> list[tuple[str, str]]:
    """Every specialty, indented by level, for filtering the pool list."""
    return [
        (
            specialty.code,
            "\u3000" * (len(specialty.code) // 2) + f"{specialty.code} {specialty.name}",
        )
        for specialty in Specialty.objects.order_by("code")
    ]
