"""The SMS and voice gateway: one small interface, a real HTTP client and a recording stand-in.

The platform never talks to a telecom operator itself. It posts JSON to a
gateway (a provider's service or a thin adapter in front of one) whose
contract is written down in docs/expert-notifications.md; the gateway posts
the experts' replies back to ``experts:gateway_inbound``, signed with a
shared secret.

Which gateway is used is the setting ``EXPERT_GATEWAY`` (a dotted path). The
default, ``RecordingGateway``, sends nothing: development, the demo and the
tests read what would have been said from ``OutboundMessage``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from functools import cache
from typing import Any, Protocol, runtime_checkable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.module_loading import import_string

SIGNATURE_HEADER = "X-Sunbid-Signature"
SIGNATURE_PREFIX = "sha256="


class GatewayError(Exception):
    """The gateway did not accept a message. Recorded on ``OutboundMessage.error``; never raised to a draw."""


@runtime_checkable
class Gateway(Protocol):
    """Sends one SMS or places one automated voice call; returns the gateway's reference for it.

    ``message_id`` is the platform's ``OutboundMessage`` id: a gateway uses it
    as an idempotency key, so a retried request never reaches an expert twice.
    Raises ``GatewayError`` when the message was not accepted.
    """

    def send_sms(self, to: str, text: str, *, message_id: int | None = None) -> str: ...

    def place_call(self, to: str, script: str, *, message_id: int | None = None) -> str: ...


class RecordingGateway:
    """Sends nothing; every message stays in ``OutboundMessage`` with the reference ``dev-<id>``.

    Messages the platform queued already have their row (``message_id``), which
    the dispatcher marks sent. A direct call without one (from a shell, say)
    gets a row of its own, so nothing said through this gateway goes unrecorded.
    """

    def send_sms(self, to: str, text: str, *, message_id: int | None = None) -> str:
        return self._record("sms", to, text, message_id)

    def place_call(self, to: str, script: str, *, message_id: int | None = None) -> str:
        return self._record("voice", to, script, message_id)

    def _record(self, channel: str, to: str, body: str, message_id: int | None) -> str:
        from experts.models import OutboundMessage

        if message_id is None:
            message = OutboundMessage.objects.create(
                channel=channel, recipient=to, body=body, sent_at=timezone.now()
            )
            message_id = message.pk
            OutboundMessage.objects.filter(pk=message_id).update(
                gateway_reference=f"dev-{message_id}"
            )
        return f"dev-{message_id}"


class HttpGateway:
    """Posts each message as JSON to the provider's URL, with a bearer token and a timeout.

    ``POST {EXPERT_GATEWAY_URL}/sms`` and ``POST {EXPERT_GATEWAY_URL}/calls``;
    a 2xx answer with ``{"reference": "…"}`` means accepted, anything else
    (another status, no reference, a timeout, a refused connection) is a
    ``GatewayError`` carrying what went wrong.
    """

    def __init__(
        self, *, base_url: str | None = None, token: str | None = None, timeout: float | None = None
    ) -> None:
        self.base_url = (base_url if base_url is not None else settings.EXPERT_GATEWAY_URL).rstrip(
            "/"
        )
        self.token = token if token is not None else settings.EXPERT_GATEWAY_TOKEN
        self.timeout = timeout if timeout is not None else settings.EXPERT_GATEWAY_TIMEOUT
        if not self.base_url or not self.token:
            raise ImproperlyConfigured(
                "HttpGateway needs EXPERT_GATEWAY_URL and EXPERT_GATEWAY_TOKEN."
            )

    def send_sms(self, to: str, text: str, *, message_id: int | None = None) -> str:
        return self._post(
            "/sms", {"to": to, "text": text, "client_reference": _client_reference(message_id)}
        )

    def place_call(self, to: str, script: str, *, message_id: int | None = None) -> str:
        return self._post(
            "/calls",
            {
                "to": to,
                "script": script,
                "language": "zh-CN",
                "keys": ["1", "2"],
                "client_reference": _client_reference(message_id),
            },
        )

    def _post(self, path: str, payload: dict[str, Any]) -> str:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(
            self.base_url + path,
            data=body,
            method="POST",
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json; charset=utf-8",
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(
                request, timeout=self.timeout
            ) as response:  # the URL comes from settings, never from input
                raw = response.read(64 * 1024)
        except urllib.error.HTTPError as exc:
            detail = exc.read(2048).decode("utf-8", "replace")
            raise GatewayError(f"HTTP {exc.code}: {detail}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise GatewayError(f"{type(exc).__name__}: {exc}") from None
        try:
            reference = json.loads(raw.decode("utf-8"))["reference"]
        except (ValueError, KeyError, TypeError):
            raise GatewayError(f"unexpected answer: {raw[:200]!r}") from None
        if not isinstance(reference, str) or not reference:
            raise GatewayError(f"unexpected answer: {raw[:200]!r}")
        return reference[:100]


def _client_reference(message_id: int | None) -> str:
    return f"sunbid-{message_id}" if message_id is not None else ""


@cache
def _gateway_class(path: str) -> type:
    try:
        return import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(f"EXPERT_GATEWAY={path!r} cannot be imported: {exc}") from exc


def get_gateway() -> Gateway:
    """The configured gateway (``settings.EXPERT_GATEWAY``), a fresh instance per call."""
    gateway = _gateway_class(settings.EXPERT_GATEWAY)()
    if not isinstance(gateway, Gateway):
        raise ImproperlyConfigured(
            f"EXPERT_GATEWAY={settings.EXPERT_GATEWAY!r} has no send_sms/place_call."
        )
    return gateway


# --- inbound replies ------------------------------------------------------------------------


def inbound_signature(body: bytes, *, secret: str | None = None) -> str:
    """The value of ``X-Sunbid-Signature`` for a raw request body: ``sha256=<hex HMAC-SHA256>``."""
    key = (secret if secret is not None else settings.EXPERT_GATEWAY_INBOUND_SECRET).encode("utf-8")
    return SIGNATURE_PREFIX + hmac.new(key, body, hashlib.sha256).hexdigest()


def inbound_signature_valid(body: bytes, header: str) -> bool:
    """True when ``header`` is the signature of ``body`` under the configured secret (constant time).

    With no secret configured nothing is valid: an unconfigured platform must
    not accept answers from anyone who can reach the URL.
    """
    if not settings.EXPERT_GATEWAY_INBOUND_SECRET or not header:
        return False
    return hmac.compare_digest(
        inbound_signature(body).encode("ascii"), header.strip().encode("ascii", "replace")
    )
