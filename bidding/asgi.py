"""An ASGI guard in front of Django that caps every request body before Django reads it.

Django's ASGI handler reads the whole request body into a spooled temporary
file before any view runs (in memory up to ``FILE_UPLOAD_MAX_MEMORY_SIZE``,
then on disk). A view can refuse an oversized body, but only after it was
received: without a cap, one request could fill the disk. This guard refuses
it first, whatever the ASGI server:

- a ``PUT`` to ``/api/uploads/<id>/parts/<n>`` (a sealed bid's part) may
  carry at most ``BID_UPLOAD_PART_SIZE`` bytes (``upload.part_too_large``);
- any other HTTP request at most ``request_body_limit()`` bytes: the largest
  body a view accepts, i.e. ``DATA_UPLOAD_MAX_MEMORY_SIZE`` or a tender
  document of ``TENDER_DOCUMENT_MAX_BYTES`` plus ``FORM_OVERHEAD`` for the
  rest of its multipart form, whichever is larger (``request.too_large``;
  the expert pool import has no size limit of its own, so it shares this one).

A declared ``Content-Length`` over the limit is answered 413 without reading
the body; a body without a length (chunked) is cut off, answered 413 and
reported to Django as a disconnect as soon as its running total passes the
limit. JSON for paths under ``/api/``, a plain page otherwise. The reverse
proxy should refuse earlier still (``client_max_body_size``, README).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.conf import settings
from django.utils.translation import gettext

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PART_PATH = re.compile(r"^/api/uploads/[0-9a-fA-F-]{36}/parts/[0-9]+$")


# Room for the multipart envelope of the tender document form: boundaries, part headers,
# the CSRF token. Generous: a form's fields are a few hundred bytes.
FORM_OVERHEAD = 1024 * 1024


def request_body_limit() -> int:
    """The most bytes any request other than a bid part may carry."""
    return max(
        int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE),
        int(settings.TENDER_DOCUMENT_MAX_BYTES) + FORM_OVERHEAD,
    )


async def _send_413(send: Send, body: bytes, content_type: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode("ascii")),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _json_error(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}, ensure_ascii=False).encode(
        "utf-8"
    )


async def _refuse_part(send: Send, limit: int) -> None:
    message = gettext("分片过大：每片不得超过 %(limit)s 字节。") % {"limit": limit}
    await _send_413(send, _json_error("upload.part_too_large", message), b"application/json")


async def _refuse_request(send: Send, path: str, limit: int) -> None:
    message = gettext("请求内容过大：不得超过 %(limit)s 字节。") % {"limit": limit}
    if path.startswith("/api/"):
        await _send_413(send, _json_error("request.too_large", message), b"application/json")
        return
    page = (
        '<!doctype html><html lang="zh-CN"><meta charset="utf-8">'
        f"<title>413</title><p>{html.escape(message)}</p></html>"
    ).encode()
    await _send_413(send, page, b"text/html; charset=utf-8")


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class RequestBodyLimit:
    """Wrap the HTTP application; every HTTP request's body is counted against its limit."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if scope.get("method") == "PUT" and PART_PATH.match(path):
            limit = int(settings.BID_UPLOAD_PART_SIZE)

            async def refuse() -> None:
                await _refuse_part(send, limit)

        else:
            limit = request_body_limit()

            async def refuse() -> None:
                await _refuse_request(send, path, limit)

        length = _content_length(scope)
        if length is not None and length > limit:
            await refuse()
            return
        received = 0
        refused = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message.get("type") == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Answer now and tell Django the client went away: it stops reading and sends nothing.
                    refused = True
                    await refuse()
                    return {"type": "http.disconnect"}
            return message

        await self.app(scope, limited_receive, send)


# The name the guard had when it looked only at bid parts.
UploadPartLimit = RequestBodyLimit
