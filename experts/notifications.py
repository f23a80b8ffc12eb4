"""Telling experts they were drawn, and alerting people when a panel cannot be filled.

Called by ``experts.services`` inside the draw's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from experts.models import DrawRequest, DrawSelection


def selections_notify(selections: Sequence[DrawSelection]) -> None:
    """Queue the messages for experts just made members (status NOTIFIED, respond_by set).

    Creates the OutboundMessage rows and the expiry job in the caller's
    transaction; the gateway sends after commit.
    """
    raise NotImplementedError("written by the notifications engineer")


def panel_alert(request: DrawRequest, *, reason: str) -> None:
    """Alert the requesting agent and the supervisors that the panel cannot be completed."""
    raise NotImplementedError("written by the notifications engineer")
