"""Bearer-token authentication for the JSON API.

On a path under ``/api/``, a request carrying ``Authorization: Bearer
sbt_<secret>`` is authenticated as the token's user, whatever session cookie it
also carries, and is exempt from the CSRF check: CSRF protects cookies a
browser sends on its own, and a bearer token is never sent on its own. Any
``Authorization`` header that is not a valid, unrevoked token of an active user
is refused with 401 ``auth.token_invalid`` — never quietly replaced by the
session, so that a client whose token was revoked learns it at once instead of
acting as whoever is signed in in the same browser.

Outside ``/api/`` the header is ignored: pages run on the session only.
Sits after ``AuthenticationMiddleware`` (which it overrides) and before any
view runs the CSRF check (``CsrfViewMiddleware.process_view``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import tokens
from accounts.models import ApiToken, User

API_PREFIX = "/api/"
# last_used_at is written at most this often per token: an upload of a large
# bid sends hundreds of parts, each would otherwise write the row again.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def _refused() -> JsonResponse:
    response = JsonResponse(
        {
            "error": {
                "code": "auth.token_invalid",
                "message": _("API 令牌无效、已撤销或对应的用户已停用。"),
            }
        },
        status=401,
    )
    response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response


def authenticate_token(header: str) -> ApiToken | None:
    """The unrevoked token of an active user that an ``Authorization`` header names, or None."""
    scheme, _sep, credentials = header.strip().partition(" ")
    secret = credentials.strip()
    if scheme.lower() != "bearer" or not tokens.is_well_formed(secret):
        return None
    token = (
        ApiToken.objects.select_related("user", "user__organisation")
        .filter(token_hash=tokens.secret_hash(secret), revoked_at__isnull=True)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def _apply(request: HttpRequest, token: ApiToken) -> None:
    user: User = token.user

    async def auser() -> User:
        return user

    request.user = user
    request.auser = auser  # type: ignore[attr-defined]
    request.api_token = token  # type: ignore[attr-defined]
    # Read by CsrfViewMiddleware.process_view: this request carries no ambient credential.
    request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]


class ApiTokenMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    @staticmethod
    def _header(request: HttpRequest) -> str | None:
        if not request.path_info.startswith(API_PREFIX):
            return None
        return request.headers.get("Authorization")

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        if self.is_async:
            return self.__acall__(request)
        header = self._header(request)
        if header is not None:
            token = authenticate_token(header)
            if token is None:
                return _refused()
            _apply(request, token)
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        header = self._header(request)
        if header is not None:
            token = await sync_to_async(authenticate_token)(header)
            if token is None:
                return _refused()
            _apply(request, token)
        return await self.get_response(request)
