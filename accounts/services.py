"""Writes for organisations, users, roles, sign-in events and notifications."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mass_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts import credit_code, tokens
from accounts.keys import check_key_set
from accounts.models import (
    ROLE_ORGANISATION_KINDS,
    ApiToken,
    Notification,
    Organisation,
    OrganisationKey,
    OrganisationKeyStatus,
    OrganisationKind,
    Role,
    RoleGrant,
    User,
    validate_credit_code,
)
from accounts.selectors import may_hold_keys
from audit.services import record, record_standalone
from core.errors import DomainError, NotFound, NotPermitted


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


def user_roles_validate(*, organisation: Organisation, roles: Iterable[str]) -> list[str]:
    """The roles, sorted and without repeats, if the organisation's kind may hold each of them.

    Raises ``DomainError`` (``user.role``, ``user.role_organisation``) otherwise.
    Forms call it too, so that the admin shows the same message as the service.
    """
    checked = sorted(set(roles))
    for role in checked:
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
    return checked


def user_create(
    *,
    actor: User | None,
    organisation: Organisation,
    username: str,
    password: str | None,
    roles: Iterable[str],
    full_name: str = "",
    email: str = "",
    mobile: str = "",
) -> User:
    """Create a user in an organisation with roles that organisation may hold.

    ``password=None`` leaves the account without a usable password (it cannot
    sign in with one until a password is set).
    """
    roles = user_roles_validate(organisation=organisation, roles=roles)
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
        if password is None:
            user.set_unusable_password()
        else:
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


# What the platform administrator may change after registration. An
# organisation's kind is fixed: the roles of its users depend on it.
ORGANISATION_EDITABLE_FIELDS = (
    "name",
    "credit_code",
    "region",
    "address",
    "contact_name",
    "contact_phone",
    "is_active",
)
USER_EDITABLE_FIELDS = ("organisation", "full_name", "email", "mobile", "is_active")


def _audit_value(value: Any) -> Any:
    return value.name if isinstance(value, Organisation) else value


def organisation_update(*, actor: User | None, organisation: Organisation, data: Mapping[str, Any]) -> Organisation:
    """Change an organisation's registered details (``ORGANISATION_EDITABLE_FIELDS`` only).

    The credit code is checked again and names and codes stay unique. Audited
    as ``accounts.organisation.updated`` with each changed field's old and new
    value; nothing is written when nothing changed.
    """
    unknown = set(data) - set(ORGANISATION_EDITABLE_FIELDS)
    if unknown:
        raise DomainError("organisation.field", _("组织的这些信息不能修改：%(fields)s。"), fields="、".join(sorted(unknown)))
    changes = dict(data)
    if "name" in changes:
        changes["name"] = (changes["name"] or "").strip()
        if not changes["name"]:
            raise DomainError("organisation.name", _("请填写组织名称。"), field="name")
    if "credit_code" in changes:
        try:
            validate_credit_code(changes["credit_code"])
        except ValidationError as exc:
            raise DomainError(f"organisation.{exc.code}", exc.messages[0], field="credit_code") from None
        changes["credit_code"] = credit_code.normalise(changes["credit_code"])
    with transaction.atomic():
        locked = Organisation.objects.select_for_update().get(pk=organisation.pk)
        others = Organisation.objects.exclude(pk=locked.pk)
        if "credit_code" in changes and others.filter(credit_code=changes["credit_code"]).exists():
            raise DomainError("organisation.duplicate_code", _("该统一社会信用代码已登记。"), field="credit_code")
        if "name" in changes and others.filter(name=changes["name"]).exists():
            raise DomainError("organisation.duplicate_name", _("该组织名称已登记。"), field="name")
        diff = {name: [getattr(locked, name), value] for name, value in changes.items() if getattr(locked, name) != value}
        if not diff:
            return locked
        for name, (_old, new) in diff.items():
            setattr(locked, name, new)
        locked.save(update_fields=list(diff))
        record("accounts.organisation.updated", actor=actor, obj=locked, data={"changes": diff})
    return locked


def user_update(
    *,
    actor: User | None,
    user: User,
    data: Mapping[str, Any],
    roles: Iterable[str] | None = None,
) -> User:
    """Change a user's details (``USER_EDITABLE_FIELDS``) and, when given, replace their roles.

    Every role the user ends up with must fit the kind of the organisation
    they end up in (``user_roles_validate``); admin-site access (``is_staff``)
    follows the platform-administrator role. Audited as
    ``accounts.user.updated`` with old and new values; nothing is written when
    nothing changed.
    """
    unknown = set(data) - set(USER_EDITABLE_FIELDS)
    if unknown:
        raise DomainError("user.field", _("用户的这些信息不能修改：%(fields)s。"), fields="、".join(sorted(unknown)))
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        current_roles = sorted(locked.role_grants.values_list("role", flat=True))
        organisation = data.get("organisation", locked.organisation)
        new_roles = current_roles if roles is None else sorted(set(roles))
        if organisation is None:
            if new_roles:
                raise DomainError("user.organisation", _("拥有角色的用户必须属于一个组织。"), field="organisation")
        else:
            new_roles = user_roles_validate(organisation=organisation, roles=new_roles)
        diff = {
            name: [_audit_value(getattr(locked, name)), _audit_value(value)]
            for name, value in data.items()
            if getattr(locked, name) != value
        }
        if new_roles != current_roles:
            diff["roles"] = [current_roles, new_roles]
        if not diff:
            return locked
        for name, value in data.items():
            setattr(locked, name, value)
        locked.is_staff = Role.PLATFORM_ADMIN in new_roles
        locked.save()
        if new_roles != current_roles:
            locked.role_grants.exclude(role__in=new_roles).delete()
            RoleGrant.objects.bulk_create(
                [RoleGrant(user=locked, role=role) for role in new_roles if role not in current_roles]
            )
        record("accounts.user.updated", actor=actor, obj=locked, data={"changes": diff})
    locked.__dict__.pop("roles", None)
    return locked


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


# --- organisation keys -----------------------------------------------------------------------


def organisation_key_register(*, actor: User, encryption_public: bytes, signing_public: bytes) -> OrganisationKey:
    """Register a new key set for the actor's organisation and retire the one in use.

    The actor must hold a role that seals or keeps an opening-key share
    (``selectors.KEY_ROLES``) in an active organisation (``key.not_permitted``,
    403). ``encryption_public`` must be an RSA 3072 (e = 65537) and
    ``signing_public`` an ECDSA P-256 SubjectPublicKeyInfo DER (``key.invalid``,
    ``key.weak``); neither may have been registered before, by anyone
    (``key.duplicate``). The previous active key set is retired, never
    deleted: bids sealed to it must still open. Audited as
    ``accounts.key.retired`` (when there was one) and ``accounts.key.registered``.
    """
    if not may_hold_keys(actor):
        raise NotPermitted("key.not_permitted", _("您的角色不能管理本单位的密钥。"))
    checked = check_key_set(encryption_public=encryption_public, signing_public=signing_public)
    fingerprints = [checked.encryption_fingerprint, checked.signing_fingerprint]
    with transaction.atomic():
        # The organisation row is the lock: two registrations for one
        # organisation run one after the other, so exactly one stays active.
        organisation = Organisation.objects.select_for_update().get(pk=actor.organisation_id)
        if OrganisationKey.objects.filter(
            Q(encryption_fingerprint__in=fingerprints) | Q(signing_fingerprint__in=fingerprints)
        ).exists():
            raise DomainError("key.duplicate", _("该公钥已经登记过，请生成新的密钥。"))
        now = timezone.now()
        previous = OrganisationKey.objects.filter(
            organisation=organisation, status=OrganisationKeyStatus.ACTIVE
        ).first()
        if previous is not None:
            previous.status = OrganisationKeyStatus.RETIRED
            previous.retired_at = now
            previous.save(update_fields=["status", "retired_at"])
            record(
                "accounts.key.retired",
                actor=actor,
                obj=previous,
                data={
                    "organisation": organisation.credit_code,
                    "encryption_fingerprint": previous.encryption_fingerprint,
                    "signing_fingerprint": previous.signing_fingerprint,
                },
            )
        try:
            # A savepoint, so that a key registered at the same moment by
            # another organisation surfaces as key.duplicate, not a 500.
            with transaction.atomic():
                key = OrganisationKey.objects.create(
                    organisation=organisation,
                    encryption_public=checked.encryption_public,
                    encryption_fingerprint=checked.encryption_fingerprint,
                    signing_public=checked.signing_public,
                    signing_fingerprint=checked.signing_fingerprint,
                    status=OrganisationKeyStatus.ACTIVE,
                    registered_by=actor,
                    registered_at=now,
                )
        except IntegrityError:
            raise DomainError("key.duplicate", _("该公钥已经登记过，请生成新的密钥。")) from None
        record(
            "accounts.key.registered",
            actor=actor,
            obj=key,
            data={
                "organisation": organisation.credit_code,
                "encryption_fingerprint": key.encryption_fingerprint,
                "signing_fingerprint": key.signing_fingerprint,
                "replaces": previous.encryption_fingerprint if previous is not None else None,
            },
        )
    return key


# --- API tokens ------------------------------------------------------------------------------

API_TOKEN_NAME_MAX = 100
API_TOKENS_PER_USER = 20


def api_token_create(*, actor: User, name: str) -> tuple[ApiToken, str]:
    """A new API token for the actor, and its secret — returned once, stored only as its SHA-256.

    ``token.name`` when the name is empty or too long; ``token.too_many`` past
    ``API_TOKENS_PER_USER`` unrevoked tokens. Audited as
    ``accounts.token.created`` with the name and display prefix, never the secret.
    """
    name = (name or "").strip()
    if not name or len(name) > API_TOKEN_NAME_MAX:
        raise DomainError("token.name", _("请填写令牌名称（不超过100个字符）。"), field="name")
    secret = tokens.new_secret()
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=actor.pk)
        if ApiToken.objects.filter(user=locked, revoked_at__isnull=True).count() >= API_TOKENS_PER_USER:
            raise DomainError(
                "token.too_many",
                _("有效令牌已达上限（%(limit)s 个），请先撤销不用的令牌。"),
                limit=API_TOKENS_PER_USER,
            )
        token = ApiToken.objects.create(
            user=locked, name=name, token_hash=tokens.secret_hash(secret), prefix=tokens.display_prefix(secret)
        )
        record("accounts.token.created", actor=actor, obj=token, data={"name": name, "prefix": token.prefix})
    return token, secret


def api_token_revoke(*, actor: User, token_id: int) -> ApiToken:
    """Revoke one of the actor's own tokens (someone else's: ``token.not_found``, 404).

    Revoking a revoked token changes nothing and records nothing. Audited as
    ``accounts.token.revoked``.
    """
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().filter(pk=token_id, user=actor).first()
        if token is None:
            raise NotFound("token.not_found", _("令牌不存在。"))
        if token.revoked_at is not None:
            return token
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        record("accounts.token.revoked", actor=actor, obj=token, data={"name": token.name, "prefix": token.prefix})
    return token
