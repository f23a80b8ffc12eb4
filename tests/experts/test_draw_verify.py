"""The published record and ``python -m experts.verify_draw``: a real draw, with a replacement from a reserve and one from the stream, re-run by the standard-library verifier outside Django; any tampering is named."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from audit.models import AuditEvent
from core.errors import DomainError
from experts import services, verify_draw
from experts.models import DrawStatus, SelectionStatus
from experts.verification import draw_record, record_digest, record_json

from .draw_support import (
    T0,
    approved_request,
    award,
    close_bidding,
    make_experts,
    notified,
    specialty,
)


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(T0, tick=False)
    return time_machine


@pytest.fixture
def finished_draw(lot, people, orgs, clock, sent):
    """A draw made through the services, with one replacement from a reserve and one from the stream, revealed."""
    building, decoration = specialty("A0101"), specialty("A0102")
    make_experts(12, [building])
    make_experts(5, [decoration])
    make_experts(3, [building, decoration])
    close_bidding(clock)
    request = approved_request(people, lot, [(building, 3, 1), (decoration, 2, 0)])
    services.draw_run(actor=people["sam"], request=request, supervisor_number="602214076")
    building_member = next(s for s in notified(request) if s.item.specialty.code == "A0101")
    services.selection_decline(
        selection=building_member, channel="sms"
    )  # the reserve (position 4) steps in
    decoration_member = next(s for s in notified(request) if s.item.specialty.code == "A0102")
    services.selection_decline(
        selection=decoration_member, channel="link"
    )  # the stream continues: position 7
    for selection in notified(request):
        services.selection_confirm(selection=selection, channel="link")
    request.refresh_from_db()
    assert request.status == DrawStatus.COMPLETE
    assert request.selections.get(position=4).status == SelectionStatus.CONFIRMED
    assert request.selections.get(position=7).item.specialty.code == "A0102"
    award(people, orgs, lot)
    return services.draw_reveal(actor=people["sam"], request=request)


def run_verifier(record: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    """``python -m experts.verify_draw`` in a clean environment where importing Django fails outright."""
    path = tmp_path / "draw-record.json"
    path.write_text(json.dumps(record, ensure_ascii=False, indent=2), encoding="utf-8")
    poison = tmp_path / "no-django" / "django"
    poison.mkdir(parents=True, exist_ok=True)
    (poison / "__init__.py").write_text('raise ImportError("the verifier must not need Django")\n')
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(poison.parent),
        "PYTHONIOENCODING": "utf-8",
    }
    return subprocess.run(
        [sys.executable, "-m", "experts.verify_draw", str(path)],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )


def test_the_verifier_reproduces_a_real_draw_with_both_kinds_of_replacement(
    finished_draw, tmp_path
):
    record = draw_record(finished_draw)

    result = run_verifier(record, tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "验证通过" in result.stdout and "VERIFIED" in result.stdout
    assert "the 6 initial picks (members and reserves) match the replay" in result.stdout
    assert "the 1 replacements drawn by continuing the stream match" in result.stdout, result.stdout
    assert [pick["position"] for pick in record["picks"]] == list(range(1, 8))


def test_the_record_carries_what_the_chain_committed_to(finished_draw):
    record = draw_record(finished_draw)

    committed = AuditEvent.objects.get(seq=record["audit"]["committed_seq"])
    run = AuditEvent.objects.get(seq=record["audit"]["draw_seq"])
    revealed = AuditEvent.objects.get(action="experts.draw.revealed")
    assert committed.action == "experts.draw.committed" and committed.seq < run.seq
    assert json.loads(committed.payload)["secret_commitment"] == record["secret_commitment"]
    assert run.prev_hash == record["chain_head"]
    assert (
        json.loads(run.payload)["supervisor_number"] == record["supervisor_number"] == "602214076"
    )
    assert json.loads(revealed.payload)["record_sha256"] == record_digest(record)
    assert json.loads(record_json(record)) == record


def _swap_experts(record: dict) -> None:
    first, second = record["picks"][0], record["picks"][1]
    first["expert"], second["expert"] = second["expert"], first["expert"]


def _change_replacement(record: dict) -> None:
    last = record["picks"][-1]
    last["expert"] = next(
        code for code in record["pool"][last["specialty"]] if code != last["expert"]
    )


def _drop_from_pool(record: dict) -> None:
    record["pool"]["A0101"].remove(record["picks"][0]["expert"])


def _other_number(record: dict) -> None:
    record["supervisor_number"] = "602214077"


def _other_secret(record: dict) -> None:
    record["secret"] = "00" * 32


def _hide_a_replacement(record: dict) -> None:
    record["picks"].pop()  # positions 1–6 still replay: only the panel check can tell


def _unreplaced_decline(record: dict) -> None:
    confirmed = next(pick for pick in record["picks"] if pick["status"] == "confirmed")
    confirmed["status"] = "declined"


@pytest.mark.parametrize(
    ("tamper", "named"),
    [
        (_swap_experts, "position 1: the replay draws"),
        (_change_replacement, "position 7: the replay draws"),
        (_drop_from_pool, "the pool does not match the published pool hash"),
        (_other_number, "the seed derived from"),
        (_other_secret, "does not match the commitment"),
        (_hide_a_replacement, "specialty 'A0102': 1 confirmed, the panel needs 2"),
        (_unreplaced_decline, "confirmed, the panel needs"),
    ],
)
def test_a_tampered_record_fails_naming_the_first_mismatch(finished_draw, tmp_path, tamper, named):
    record = copy.deepcopy(draw_record(finished_draw))
    tamper(record)

    result = run_verifier(record, tmp_path)

    assert result.returncode == 1, result.stdout
    assert "验证失败" in result.stdout
    assert named in result.stdout


def test_the_verifier_refuses_what_is_not_a_record(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("[1, 2, 3]", encoding="utf-8")
    assert verify_draw.main([str(path)]) == 1
    path.write_text("{not json", encoding="utf-8")
    assert verify_draw.main([str(path)]) == 1
    path.write_text(json.dumps({"format": "sunbid-expert-draw", "version": 99}), encoding="utf-8")
    assert verify_draw.main([str(path)]) == 1


def test_the_record_is_not_available_before_the_reveal(lot, people, clock, sent):
    building = specialty("A0101")
    make_experts(5, [building])
    close_bidding(clock)
    request = approved_request(people, lot, [(building, 5, 0)])
    services.draw_run(actor=people["sam"], request=request, supervisor_number="1")

    with pytest.raises(DomainError) as refused:
        draw_record(request)
    assert refused.value.code == "draw.not_revealed"
