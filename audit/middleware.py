"""Binds the request's network address and client to the audit context."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from audit.context import AuditContext, bind


def client_ip(meta: dict[str, str]) -> str | None:
    """The client's address; trusts X-Forwarded-For only behind PROXY_COUNT proxies."""
    proxies = settings.AXES_IPWARE_PROXY_COUNT
    if proxies:
        forwarded = [part.strip() for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return meta.get("REMOTE_ADDR") or None


class AuditContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        ctx = AuditContext(
            ip=client_ip(request.META),
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
        )
        with bind(ctx):
            return self.get_response(request)
