"""Checkpoints and proofs: the supervisors' page, public signed notes, and the proof API (docs/audit.md §11–12).

Checkpoints and consistency proofs reveal only tree sizes and roots: anyone
may fetch them, as with a Certificate Transparency log. An inclusion proof
names an event: it is served to those entitled to it
(``tree.inclusion_proof_allowed``), and to nobody else, as if the event did
not exist.
"""

from __future__ import annotations

from typing import cast

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.models import User
from audit import selectors, tree
from audit.models import AuditCheckpoint, CheckpointSubscription
from audit.note import verifier_key
from core.errors import DomainError, NotFound

CHECKPOINTS_SHOWN = 100


def _platform_keys() -> tuple[str, str]:
    from bidding.receipts import receipt_key

    key = receipt_key()
    return verifier_key(tree.log_origin(), key.private.public_key()), key.public_pem


@login_required
@require_GET
def checkpoints(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)
    selectors.require_auditor(user)
    vkey, pem = _platform_keys()
    return render(
        request,
        "audit/checkpoints.html",
        {
            "checkpoints": list(AuditCheckpoint.objects.order_by("-size", "-id")[:CHECKPOINTS_SHOWN]),
            "head": tree.tree_head(),
            "vkey": vkey,
            "public_pem": pem,
            "subscribed": CheckpointSubscription.objects.filter(user=user).exists(),
        },
    )


@login_required
@require_POST
def checkpoint_subscription(request: HttpRequest) -> HttpResponse:
    tree.subscription_set(user=request.user, subscribed=request.POST.get("subscribed") == "1")
    return redirect("audit:checkpoints")


def _note_response(checkpoint: AuditCheckpoint) -> HttpResponse:
    response = HttpResponse(checkpoint.note, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="{tree.checkpoint_file_name(checkpoint)}"'
    return response


@require_GET
def checkpoint_latest_note(request: HttpRequest) -> HttpResponse:
    checkpoint = tree.checkpoint_latest()
    if checkpoint is None:
        raise NotFound("checkpoint.not_found", _("还没有检查点。"))
    return _note_response(checkpoint)


@require_GET
def checkpoint_note(request: HttpRequest, size: int) -> HttpResponse:
    return _note_response(tree.checkpoint_by_size(size=size))


@require_GET
def platform_key(request: HttpRequest) -> JsonResponse:
    vkey, pem = _platform_keys()
    return JsonResponse({"origin": tree.log_origin(), "verifier_key": vkey, "public_key_pem": pem})


def _size_param(request: HttpRequest, name: str) -> int | None:
    raw = request.GET.get(name)
    if raw in (None, ""):
        return None
    if not raw.isdigit():
        raise DomainError("proof.size_invalid", _("树大小必须是非负整数。"), field=name)
    return int(raw)


@require_GET
def inclusion_proof(request: HttpRequest, seq: int) -> JsonResponse:
    if not tree.inclusion_proof_allowed(user=request.user, seq=seq):
        raise NotFound("proof.event_not_found", _("审计记录不存在。"))
    size = _size_param(request, "size")
    checkpoint = tree.checkpoint_by_size(size=size) if size is not None else None
    return JsonResponse(tree.inclusion_proof_for(seq=seq, checkpoint=checkpoint).as_json())


@require_GET
def consistency_proof(request: HttpRequest) -> JsonResponse:
    old_size, new_size = _size_param(request, "from"), _size_param(request, "to")
    if old_size is None or new_size is None:
        raise DomainError("proof.size_missing", _("请给出两个检查点的树大小（from 与 to）。"))
    old = tree.checkpoint_by_size(size=old_size)
    new = tree.checkpoint_by_size(size=new_size)
    return JsonResponse(
        {
            "from": {"size": old.size, "root": old.root, "checkpoint": old.note},
            "to": {"size": new.size, "root": new.root, "checkpoint": new.note},
            "proof": tree.consistency_proof_for(old=old, new=new),
        }
    )
