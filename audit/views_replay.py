"""The supervisors' replays: an opening, a lot's expert draws, a tender's whole life (docs/replay.md).

Thin views over ``audit.replay``: supervisors and platform administrators
only (others get 403, anonymous visitors the sign-in page), lots and tenders
that do not exist a 404. Each page lists every record server-side (who, from
which network address and client, when: EB 49) and the findings; the player
(static/js/replay.js) loads the same replay as JSON from the page's ``.json``
twin and plays it.
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.models import User
from audit import replay as selectors
from audit.replay import DrawReplay, OpeningReplay, ReplayEvent, TenderReplay
from experts.models import DrawSelection, DrawStatus, Locality, SelectionStatus
from opening.events import iso
from opening.models import BidCause, BidOutcome, ParticipantRole
from opening.views_room import ROOM_TEXTS, STAGE_BANNERS
from tendering.models import LotStatus

PAGE_SIZE = 30
# The ways an expert answers, as experts.responses records them.
ANSWER_CHANNELS = ("link", "sms", "voice", "timeout")

# The player's speeds: ("time", n) runs n seconds of the record per second;
# ("events", n) steps n events per second, for spans of weeks.
TIME_SPEEDS: list[tuple[str, Any]] = [
    ("time:1", "1×"),
    ("time:2", "2×"),
    ("time:5", "5×"),
    ("time:10", "10×"),
    ("time:60", "60×"),
    ("events:1", _("逐个事件")),
]
EVENT_SPEEDS: list[tuple[str, Any]] = [
    ("events:1", _("每秒 1 个事件")),
    ("events:2", _("每秒 2 个事件")),
    ("events:5", _("每秒 5 个事件")),
    ("events:10", _("每秒 10 个事件")),
]

# Texts replay.js shows besides the room's own (ROOM_TEXTS), translated here.
REPLAY_TEXTS: dict[str, Any] = {
    "play": _("播放"),
    "pause": _("暂停"),
    "position": _("第 %(index)s / %(total)s 个事件"),
    "before_first": _("尚未发生任何事件"),
    "system": _("系统"),
    "masked_expert": selectors.MASKED_EXPERT,
    "pause_reason": _("暂停原因：%(reason)s"),
    "resume_reason": _("恢复原因：%(reason)s"),
    "pause_open": _("（尚未恢复）"),
    "pauses.none": _("没有暂停。"),
    # the draw
    "draw.request": _("抽取申请 %(id)s"),
    "draw.items": _("%(specialty)s：%(members)s 人，候补 %(reserves)s 人"),
    "draw.evaluation": _("评标时间 %(time)s · %(place)s · 答复时限 %(minutes)s 分钟"),
    "draw.evaluation_label": _("评标安排"),
    "draw.pool_label": _("候选专家"),
    "draw.commitment": _("随机秘密承诺值"),
    "draw.pool_hash": _("专家库哈希"),
    "draw.chain_head": _("抽取时审计链头哈希"),
    "draw.number": _("监督人员输入的随机数"),
    "draw.secret": _("随机秘密（公布后）"),
    "draw.seed": _("随机种子（公布后）"),
    "draw.pool_sizes": _("%(sizes)s；回避排除 %(excluded)s 人"),
    "draw.pool_size": _("%(specialty)s：%(size)s 人"),
    "draw.rejected": _("驳回理由：%(reason)s"),
    "draw.exhausted": _("“%(specialty)s”专业符合条件的专家不足"),
    "draw.no_seats": _("尚未抽取。"),
    "draw.seats_unknown": _(
        "抽取结果：%(members)s 名评标专家已通知，%(reserves)s 名候补；各席位随答复显示。"
    ),
    "draw.col.position": _("抽取顺序"),
    "draw.col.specialty": _("专业"),
    "draw.col.status": _("状态"),
    "draw.col.deadline": _("答复截止"),
    "draw.col.answer": _("答复"),
    "draw.col.expert": _("专家"),
    "draw.hidden": _("结果公布前保密"),
    "draw.replaces": _("递补第 %(position)s 位（%(source)s）"),
    "draw.source.reserve": _("候补"),
    "draw.source.stream": _("继续抽取"),
    "draw.left": _("剩余 %(time)s"),
    "draw.counts": _("已确认 %(confirmed)s / 需 %(members)s 人"),
    # the tender
    "phase.count": "%(done)s / %(total)s",
    "lot.not_yet": "—",
}


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _choices(choices: list[tuple[str, Any]]) -> dict[str, str]:
    return {value: str(label) for value, label in choices}


def _texts(extra: dict[str, Any] | None = None) -> dict[str, str]:
    texts = {key: str(text) for key, text in ROOM_TEXTS.items()}
    texts.update({key: str(text) for key, text in REPLAY_TEXTS.items()})
    texts.update({key: str(text) for key, text in (extra or {}).items()})
    return texts


def _who(event: ReplayEvent) -> dict[str, Any]:
    return {
        "actor": event.actor_name,
        "organisation": event.organisation_name,
        "masked": event.masked,
        "ip": event.ip,
        "client": event.user_agent,
        "url": reverse("audit:event", args=[event.seq]),
    }


def _events_json(events: list[ReplayEvent], *, with_data: bool) -> list[dict[str, Any]]:
    rows = []
    for event in events:
        row = event.as_json()
        if not with_data:
            # The opening needs only the rebuilt room events; the payload is on the record's page.
            row["data"] = {"to": event.data["to"]} if "to" in event.data else {}
        rows.append({**row, **_who(event)})
    return rows


def _common(kind: str, replay: Any, *, mode: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "mode": mode,
        "start": iso(replay.start),
        "end": iso(replay.end),
        "timeZone": settings.TIME_ZONE,
        "findings": [finding.as_json() for finding in replay.findings],
    }


def opening_payload(replay: OpeningReplay) -> dict[str, Any]:
    """What the player loads for an opening: the records in chain order, the room's events among them."""
    lot = replay.lot
    return {
        **_common("opening", replay, mode="time"),
        "lot": {"id": lot.pk, "number": lot.number, "name": lot.name, "tender": lot.tender.code},
        "room": {"lastSeq": replay.room.last_seq, "stage": replay.room.stage},
        "events": _events_json(replay.events, with_data=False),
        "stages": {key: str(label) for key, label in STAGE_BANNERS.items()},
        "causes": _choices(BidCause.choices),
        "outcomes": _choices(BidOutcome.choices),
        "roles": _choices(ParticipantRole.choices),
        "texts": _texts(),
    }


def draw_payload(replay: DrawReplay) -> dict[str, Any]:
    return {
        **_common("draw", replay, mode="time"),
        "lot": {"id": replay.lot.pk, "number": replay.lot.number, "name": replay.lot.name},
        "events": _events_json(replay.events, with_data=True),
        "tracks": [
            {
                "request": track.request_id,
                "revealed": track.revealed,
                "panel": [
                    {
                        "position": member.position,
                        "code": member.code,
                        "name": member.name,
                        "specialty": member.specialty,
                    }
                    for member in track.panel
                ],
            }
            for track in replay.tracks
        ],
        "statuses": _choices(DrawStatus.choices),
        "seatStatuses": _choices(SelectionStatus.choices),
        "localities": _choices(Locality.choices),
        # How an expert answered, in the words the draw pages use.
        "channels": {
            channel: DrawSelection(response_channel=channel).response_channel_label
            for channel in ANSWER_CHANNELS
        },
        "texts": _texts(),
    }


def tender_payload(replay: TenderReplay) -> dict[str, Any]:
    return {
        **_common("tender", replay, mode="events"),
        "tender": {
            "id": replay.tender.pk,
            "code": replay.tender.code,
            "title": replay.tender.title,
        },
        "lots": [{"id": lot.pk, "number": lot.number, "name": lot.name} for lot in replay.lots],
        "events": _events_json(replay.events, with_data=False),
        "phases": {key: str(label) for key, label in selectors.PHASES.items()},
        "lotStatuses": _choices(LotStatus.choices),
        "texts": _texts(),
    }


def _rows(events: list[ReplayEvent]) -> list[tuple[int, ReplayEvent]]:
    return list(enumerate(events))


# --- pages ----------------------------------------------------------------------------------


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """Pick an opening (and its lot's draw, and its tender's life) to replay."""
    query = request.GET.get("q", "")[:100]
    rooms = selectors.rooms_for_replay(user=_user(request), query=query)
    page = Paginator(rooms, PAGE_SIZE).get_page(request.GET.get("page"))
    lots_with_draws = selectors.lots_with_draws(lot_ids=[room.lot_id for room in page.object_list])
    return render(
        request,
        "audit/replay_index.html",
        {
            "page": page,
            "query": urlencode({"q": query}) if query else "",
            "q": query,
            "lots_with_draws": lots_with_draws,
        },
    )


@login_required
@require_GET
def opening(request: HttpRequest, lot_id: int) -> HttpResponse:
    replay = selectors.opening_replay(user=_user(request), lot_id=lot_id)
    return render(
        request,
        "audit/replay_opening.html",
        {
            "replay": replay,
            "lot": replay.lot,
            "tender": replay.lot.tender,
            "rows": _rows(replay.events),
            "json_url": reverse("audit:replay_opening_json", args=[lot_id]),
            "speeds": TIME_SPEEDS,
        },
    )


@login_required
@never_cache
@require_GET
def opening_json(request: HttpRequest, lot_id: int) -> JsonResponse:
    replay = selectors.opening_replay(user=_user(request), lot_id=lot_id)
    return JsonResponse(opening_payload(replay), json_dumps_params={"ensure_ascii": False})


@login_required
@require_GET
def draw(request: HttpRequest, lot_id: int) -> HttpResponse:
    replay = selectors.draw_replay(user=_user(request), lot_id=lot_id)
    return render(
        request,
        "audit/replay_draw.html",
        {
            "replay": replay,
            "lot": replay.lot,
            "tender": replay.lot.tender,
            "rows": _rows(replay.events),
            "json_url": reverse("audit:replay_draw_json", args=[lot_id]),
            "speeds": TIME_SPEEDS,
        },
    )


@login_required
@never_cache
@require_GET
def draw_json(request: HttpRequest, lot_id: int) -> JsonResponse:
    replay = selectors.draw_replay(user=_user(request), lot_id=lot_id)
    return JsonResponse(draw_payload(replay), json_dumps_params={"ensure_ascii": False})


@login_required
@require_GET
def tender(request: HttpRequest, tender_id: int) -> HttpResponse:
    replay = selectors.tender_replay(user=_user(request), tender_id=tender_id)
    index_of = {event.seq: index for index, event in enumerate(replay.events)}
    lot_ids = [lot.pk for lot in replay.lots]
    phases = [
        (phase, [(index_of[event.seq], event) for event in phase.events]) for phase in replay.phases
    ]
    return render(
        request,
        "audit/replay_tender.html",
        {
            "replay": replay,
            "tender": replay.tender,
            "phases": phases,
            "lots_with_rooms": selectors.lots_with_rooms(lot_ids=lot_ids),
            "lots_with_draws": selectors.lots_with_draws(lot_ids=lot_ids),
            "json_url": reverse("audit:replay_tender_json", args=[tender_id]),
            "speeds": EVENT_SPEEDS,
        },
    )


@login_required
@never_cache
@require_GET
def tender_json(request: HttpRequest, tender_id: int) -> JsonResponse:
    replay = selectors.tender_replay(user=_user(request), tender_id=tender_id)
    return JsonResponse(tender_payload(replay), json_dumps_params={"ensure_ascii": False})
