"""Writes for organisations, users, roles, sign-in events and notifications."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mass_mail
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts import credit_code
from accounts.models import (
    ROLE_ORGANISATION_KINDS,
    Notification,
    Organisation,
    OrganisationKind,
    Role,
    RoleGrant,
    User,
    validate_credit_code,
)
from audit.services import record, record_standalone
from core.errors import DomainError


def organisation_create(
    *,
    actor: User | None,
    name: str,
    code: str,
    kind: str,
    region: str = "",
    address: str = "",
    contact_name: str = "",
    contact_phone: str = "",
) -> Organisation:
    """Register an organisation after checking its unified social credit code."""
    name = name.strip()
    if not name:
        raise DomainError("organisation.name", _("请填写组织名称。"), field="name")
    try:
        validate_credit_code(code)
    except ValidationError as exc:
        raise DomainError(f"organisation.{exc.code}", exc.messages[0], field="credit_code") from None
    code = credit_code.normalise(code)
    if kind not in OrganisationKind.values:
        raise DomainError("organisation.kind", _("组织类型无效。"), field="kind")
    with transaction.atomic():
        if Organisation.objects.filter(credit_code=code).exists():
            raise DomainError("organisation.duplicate_code", _("该统一社会信用代码已登记。"), field="credit_code")
        if Organisation.objects.filter(name=name).exists():
            raise DomainError("organisation.duplicate_name", _("该组织名称已登记。"), field="name")
        organisation = Organisation.objects.create(
            name=name,
            credit_code=code,
            kind=kind,
            region=region,
            address=address,
            contact_name=contact_name,
            contact_phone=contact_phone,
        )
        record(
            "accounts.organisation.created",
            actor=actor,
            obj=organisation,
            data={"name": name, "credit_code": code, "kind": kind},
        )
    return organisation


def user_create(
    *,
    actor: User | None,
    organisation: Organisation,
    username: str,
    password: str,
    roles: Iterable[str],
    full_name: str = "",
    email: str = "",
    mobile: str = "",
) -> User:
    """Create a user in an organisation with roles that organisation may hold."""
    roles = sorted(set(roles))
    for role in roles:
        if role not in Role.values:
            raise DomainError("user.role", _("角色无效。"), field="roles")
        if organisation.kind not in ROLE_ORGANISATION_KINDS[role]:
            raise DomainError(
                "user.role_organisation",
                _("“%(role)s”角色不能授予%(kind)s的用户。"),
                field="roles",
                role=Role(role).label,
                kind=OrganisationKind(organisation.kind).label,
            )
    with transaction.atomic():
        if User.objects.filter(username=username).exists():
            raise DomainError("user.duplicate", _("用户名已被使用。"), field="username")
        user = User(
            username=username,
            organisation=organisation,
            full_name=full_name,
            email=email,
            mobile=mobile,
            is_staff=Role.PLATFORM_ADMIN in roles,
        )
        user.set_password(password)
        user.save()
        RoleGrant.objects.bulk_create([RoleGrant(user=user, role=role) for role in roles])
        record(
            "accounts.user.created",
            actor=actor,
            obj=user,
            data={"username": username, "organisation": organisation.name, "roles": roles},
        )
    return user


def login_succeeded(*, user: User) -> None:
    record_standalone("accounts.login.succeeded", actor=user, obj=user)


def login_failed(*, username: str, locked_out: bool) -> None:
    """Audit a failed sign-in. The attempted username is kept; the password never is."""
    record_standalone(
        "accounts.login.locked_out" if locked_out else "accounts.login.failed",
        actor=None,
        data={"username": username[:150]},
    )


def logged_out(*, user: User) -> None:
    record_standalone("accounts.logout", actor=user, obj=user)


def notify_users(recipients: Iterable[User], *, title: str, body: str, url: str) -> list[Notification]:
    """In-app notifications now (in the caller's transaction), e-mails after commit."""
    users = list(recipients)
    notifications = Notification.objects.bulk_create(
        [Notification(recipient=user, title=title[:200], body=body, url=url) for user in users]
    )
    link = f"{settings.SITE_URL.rstrip('/')}{url}"
    messages = [
        (title, f"{body}\n\n{link}", settings.DEFAULT_FROM_EMAIL, [user.email]) for user in users if user.email
    ]
    if messages:
        transaction.on_commit(lambda: send_mass_mail(messages, fail_silently=False))
    return notifications


def notification_mark_read(*, actor: User, notification_id: int) -> None:
    Notification.objects.filter(pk=notification_id, recipient=actor, read_at__isnull=True).update(
        read_at=timezone.now()
    )


def notifications_mark_all_read(*, actor: User) -> int:
    return Notification.objects.filter(recipient=actor, read_at__isnull=True).update(read_at=timezone.now())
