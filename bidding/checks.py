"""System checks: a deployment that cannot sign receipts is refused by ``check --deploy``.

Without a receipt key no bid can complete (EB 27: the receipt is issued at
once), so a production server must not start accepting uploads without one.
"""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, Tags, register
from django.core.exceptions import ImproperlyConfigured


@register(Tags.security, deploy=True)
def receipt_key_loads(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    from bidding.receipts import receipt_key

    try:
        receipt_key()
    except ImproperlyConfigured as exc:
        return [
            Error(
                str(exc),
                hint="Generate one with: openssl genpkey -algorithm ed25519 -out receipt-signing-key.pem",
                id="bidding.E001",
            )
        ]
    return []
