"""An ASGI guard in front of Django for the upload parts of sealed bids.

Django's ASGI handler reads the whole request body into a spooled temporary
file before any view runs (in memory up to ``FILE_UPLOAD_MAX_MEMORY_SIZE``,
then on disk). A view can refuse an oversized part, but only after the body
was received. This guard refuses it first: a ``PUT`` to
``/api/uploads/<id>/parts/<n>`` whose ``Content-Length`` exceeds
``BID_UPLOAD_PART_SIZE`` is answered 413 without reading the body, and a body
without a length (chunked) is cut off as soon as it passes the limit. So no
client can make the server store more than one part's worth of bytes per
request, whatever the ASGI server.
"""

from __future__ import annotations

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


async def _refuse(send: Send, limit: int) -> None:
    body = json.dumps(
        {
            "error": {
                "code": "upload.part_too_large",
                "message": gettext("分片过大：每片不得超过 %(limit)s 字节。") % {"limit": limit},
            }
        },
        ensure_ascii=False,
    ).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode("ascii")),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class UploadPartLimit:
    """Wrap the HTTP application; only upload part requests are looked at."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope.get("type") != "http"
            or scope.get("method") != "PUT"
            or not PART_PATH.match(scope.get("path", ""))
        ):
            await self.app(scope, receive, send)
            return
        limit = int(settings.BID_UPLOAD_PART_SIZE)
        length = _content_length(scope)
        if length is not None and length > limit:
            await _refuse(send, limit)
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
                    await _refuse(send, limit)
                    return {"type": "http.disconnect"}
            return message

        await self.app(scope, limited_receive, send)
