"""Who is acting, from where: set once per request or socket message.

EB 49 asks every step to record its time, network address and operator.
Services pass the actor explicitly; the network address and client come from
this context, which the HTTP middleware (and later the WebSocket middleware)
fills in, so that no service has to thread a request through.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AuditContext:
    ip: str | None = None
    user_agent: str = ""


# AuditContext is a frozen dataclass: the shared default cannot be mutated.
_current: ContextVar[AuditContext] = ContextVar("sunbid_audit_context", default=AuditContext())  # noqa: B039


def current() -> AuditContext:
    return _current.get()


@contextlib.contextmanager
def bind(ctx: AuditContext) -> Iterator[AuditContext]:
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
