"""The one domain error type.

Services raise ``DomainError`` with a stable machine code (for APIs and tests)
and a translatable message (for people). Views and consumers never invent
their own error texts: ``core.middleware.DomainErrorMiddleware`` maps an
uncaught error to an HTML page or a JSON body, and form views put
``error.message`` on the form.
"""

from __future__ import annotations

from typing import Any

from django.utils.functional import Promise


class DomainError(Exception):
    """A business rule refused the operation.

    ``code`` is stable and documented (``lot.illegal_transition``); ``message``
    is a lazy translation formatted with ``params``; ``status`` is the HTTP
    status the error maps to; ``field`` names the form field at fault, if any.
    """

    status: int = 400

    def __init__(
        self,
        code: str,
        message: str | Promise,
        *,
        status: int | None = None,
        field: str | None = None,
        **params: Any,
    ) -> None:
        self.code = code
        self.field = field
        self._message = message
        self.params = params
        if status is not None:
            self.status = status
        super().__init__(code)

    @property
    def message(self) -> str:
        text = str(self._message)
        return text % self.params if self.params else text

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message}


class NotPermitted(DomainError):
    """The actor may not do this to this object (HTTP 403)."""

    status = 403


class NotFound(DomainError):
    """The object does not exist or is not visible to the actor (HTTP 404).

    Used instead of ``NotPermitted`` where admitting that an object exists
    would itself leak information (another organisation's tender, say).
    """

    status = 404
