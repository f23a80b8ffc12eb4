from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accounts.models import Notification


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"user_roles": frozenset(), "unread_notifications": 0}
    return {
        "user_roles": user.roles,
        "unread_notifications": Notification.objects.filter(recipient=user, read_at__isnull=True).count(),
    }
