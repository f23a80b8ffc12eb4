"""Every request body is capped before Django spools it, not only bid upload parts (bidding/asgi.py)."""

from __future__ import annotations

import asyncio
import json

import pytest

from bidding.asgi import RequestBodyLimit, request_body_limit

MIB = 1024 * 1024


@pytest.fixture
def limits(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * MIB
    settings.TENDER_DOCUMENT_MAX_BYTES = 3 * MIB
    settings.BID_UPLOAD_PART_SIZE = 4096
    return settings


def _call(app, *, method="POST", path="/api/lots/1/uploads/", headers=(), chunks=(b"",)):
    sent: list[dict] = []
    calls = {"n": 0}
    queue = list(chunks)

    async def receive():
        calls["n"] += 1
        body = queue.pop(0) if queue else b""
        return {"type": "http.request", "body": body, "more_body": bool(queue)}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": list(headers)}
    asyncio.run(app(scope, receive, send))
    return sent, calls["n"]


async def _reading_app(scope, receive, send, *, seen: list[dict]) -> None:
    """Django's handler in miniature: read the body to its end, then answer 200."""
    while True:
        message = await receive()
        seen.append(message)
        if message["type"] == "http.disconnect":
            return
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def _app(seen: list[dict]):
    async def app(scope, receive, send):
        await _reading_app(scope, receive, send, seen=seen)

    return app


def test_the_limit_is_the_largest_body_a_view_accepts_with_room_for_the_form(limits):
    assert request_body_limit() == 3 * MIB + 1 * MIB
    limits.TENDER_DOCUMENT_MAX_BYTES = MIB // 2
    assert request_body_limit() == 2 * MIB  # never below Django's own form limit


def test_an_api_request_declaring_a_body_over_the_limit_is_refused_with_json_before_it_is_read(
    limits,
):
    seen: list[dict] = []
    sent, calls = _call(
        RequestBodyLimit(_app(seen)),
        headers=[(b"content-length", str(4 * MIB + 1).encode())],
        chunks=[b"\0"],
    )
    assert calls == 0 and seen == []
    assert sent[0]["status"] == 413
    assert dict(sent[0]["headers"])[b"content-type"] == b"application/json"
    assert json.loads(sent[1]["body"])["error"]["code"] == "request.too_large"


def test_a_page_request_over_the_limit_gets_a_plain_page(limits):
    seen: list[dict] = []
    sent, calls = _call(
        RequestBodyLimit(_app(seen)),
        path="/manage/tenders/1/documents/",
        headers=[(b"content-length", str(5 * MIB).encode())],
    )
    assert calls == 0
    assert sent[0]["status"] == 413
    assert dict(sent[0]["headers"])[b"content-type"].startswith(b"text/html")
    assert "过大".encode() in sent[1]["body"]


def test_a_chunked_body_is_cut_off_once_its_running_total_passes_the_limit(limits):
    seen: list[dict] = []
    chunk = b"\0" * MIB
    sent, calls = _call(RequestBodyLimit(_app(seen)), path="/accounts/login/", chunks=[chunk] * 10)
    assert calls == 5  # four MiB are allowed; the fifth passes the limit and nothing more is read
    assert seen[-1]["type"] == "http.disconnect"
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [413]


def test_a_body_within_the_limit_reaches_the_application(limits):
    seen: list[dict] = []
    sent, _calls = _call(
        RequestBodyLimit(_app(seen)),
        headers=[(b"content-length", str(3 * MIB).encode())],
        chunks=[b"\0" * MIB] * 3,
    )
    assert sent[0]["status"] == 200
    assert sum(len(m.get("body", b"")) for m in seen) == 3 * MIB


def test_upload_parts_keep_their_own_smaller_limit(limits):
    seen: list[dict] = []
    sent, calls = _call(
        RequestBodyLimit(_app(seen)),
        method="PUT",
        path="/api/uploads/8f0e5f0c-3a0b-4c63-9d7c-2f4a3f1f9b10/parts/0",
        headers=[(b"content-length", b"4097")],
    )
    assert calls == 0
    assert json.loads(sent[1]["body"])["error"]["code"] == "upload.part_too_large"


def test_websockets_and_lifespan_pass_untouched(limits):
    reached: list[str] = []

    async def app(scope, receive, send):
        reached.append(scope["type"])

    async def nothing():
        return {}

    async def drop(message):
        return None

    asyncio.run(RequestBodyLimit(app)({"type": "websocket", "path": "/ws/"}, nothing, drop))
    asyncio.run(RequestBodyLimit(app)({"type": "lifespan"}, nothing, drop))
    assert reached == ["websocket", "lifespan"]


def test_the_deployed_application_is_guarded():
    from config.asgi import application

    guard = application.application_mapping["http"]
    assert isinstance(guard, RequestBodyLimit)
