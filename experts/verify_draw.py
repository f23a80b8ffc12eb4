"""Re-run a published expert draw and check it: ``python -m experts.verify_draw RECORD.json``.

Standard library only (with ``experts.draw``, itself standard library only):
it needs neither Django nor the platform's database, so anyone holding the
published record can run it. It checks, in this order (docs/draw.md §9):

1. the record's format and version;
2. the frozen pool against its published hash;
3. the revealed secret against the commitment recorded before the draw;
4. the seed against secret, pool hash, chain head and the supervisor's number;
5. every pick — members, reserves, replacements — against a replay of the
   stream, in position order;
6. the panel: every item has its members confirmed, and every decline (or
   unanswered invitation) was replaced exactly once — by the item's reserves
   in position order, then by the stream — so nothing was drawn off the
   record and nothing was left out of it.

Prints a verdict in Chinese and English; exits 0 when everything matches,
1 naming the first mismatch otherwise (2 for a command-line error).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import re
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from experts import draw

RECORD_FORMAT = "sunbid-expert-draw"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_NUMBER = re.compile(r"[0-9]{1,12}")
_STATUSES = frozenset({"confirmed", "declined", "no_answer", "reserve"})
_LEFT = frozenset({"declined", "no_answer"})


class Mismatch(Exception):
    """The first check that failed, in both languages."""

    def __init__(self, chinese: str, english: str) -> None:
        self.chinese = chinese
        self.english = english
        super().__init__(english)


def _field(record: Mapping[str, Any], name: str, kind: type) -> Any:
    value = record.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise Mismatch(
            f"记录缺少字段“{name}”或类型不符", f"field '{name}' is missing or of the wrong type"
        )
    return value


def _hex64(record: Mapping[str, Any], name: str) -> str:
    value = _field(record, name, str)
    if not _HEX64.fullmatch(value):
        raise Mismatch(
            f"字段“{name}”不是64位十六进制小写字符串",
            f"field '{name}' is not 64 lowercase hex digits",
        )
    return value


def _pool(record: Mapping[str, Any]) -> dict[str, list[str]]:
    pool = _field(record, "pool", dict)
    for specialty, codes in pool.items():
        if not isinstance(codes, list) or not all(isinstance(code, str) for code in codes):
            raise Mismatch(
                f"专业“{specialty}”的候选名单格式错误",
                f"pool of specialty '{specialty}' is not a list of codes",
            )
        if len(set(codes)) != len(codes):
            raise Mismatch(
                f"专业“{specialty}”的候选名单有重复编号",
                f"pool of specialty '{specialty}' repeats a code",
            )
    return pool


def _items(record: Mapping[str, Any], pool: Mapping[str, list[str]]) -> list[tuple[str, int, int]]:
    order: list[tuple[str, int, int]] = []
    for entry in _field(record, "items", list):
        if not isinstance(entry, dict):
            raise Mismatch("抽取专业清单格式错误", "an entry of 'items' is not an object")
        specialty = _field(entry, "specialty", str)
        members = _field(entry, "members", int)
        reserves = _field(entry, "reserves", int)
        if specialty not in pool:
            raise Mismatch(
                f"专业“{specialty}”不在冻结的候选库中",
                f"specialty '{specialty}' has no frozen pool",
            )
        if members < 1 or reserves < 0:
            raise Mismatch(
                f"专业“{specialty}”的人数无效", f"specialty '{specialty}' has invalid counts"
            )
        order.append((specialty, members, reserves))
    if len({specialty for specialty, _members, _reserves in order}) != len(order):
        raise Mismatch("抽取专业清单有重复专业", "'items' repeats a specialty")
    return order


def _picks(record: Mapping[str, Any]) -> list[tuple[int, str, str, str]]:
    picks = []
    for index, entry in enumerate(_field(record, "picks", list), 1):
        if not isinstance(entry, dict):
            raise Mismatch("抽取结果格式错误", "an entry of 'picks' is not an object")
        position = _field(entry, "position", int)
        if position != index:
            raise Mismatch(
                f"抽取结果的顺序号不连续：第{index}项的顺序号为{position}",
                f"picks are not numbered 1, 2, 3, …: entry {index} has position {position}",
            )
        status = _field(entry, "status", str)
        if status not in _STATUSES:
            raise Mismatch(
                f"第{position}位的状态“{status}”无效",
                f"position {position}: status '{status}' is not valid",
            )
        picks.append(
            (position, _field(entry, "specialty", str), _field(entry, "expert", str), status)
        )
    return picks


def check(record: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Yield each passed check as (Chinese, English); raise ``Mismatch`` at the first failure."""
    if record.get("format") != RECORD_FORMAT or record.get("version") != draw.VERSION:
        raise Mismatch(
            f"不是第{draw.VERSION}版的专家抽取记录",
            f"not a version {draw.VERSION} '{RECORD_FORMAT}' record",
        )
    pool = _pool(record)
    published_hash = _hex64(record, "pool_hash")
    if draw.pool_hash(pool) != published_hash:
        raise Mismatch(
            "候选专家库与公布的哈希值不符（候选库被改动过）",
            "the pool does not match the published pool hash (the pool was altered)",
        )
    yield "候选专家库哈希一致", "pool hash matches the frozen pool"

    secret_hex = _hex64(record, "secret")
    secret = bytes.fromhex(secret_hex)
    if not hmac.compare_digest(draw.commitment(secret), _hex64(record, "secret_commitment")):
        raise Mismatch(
            "公布的随机秘密与抽取前记录的承诺值不符",
            "the revealed secret does not match the commitment made before the draw",
        )
    yield "随机秘密与抽取前的承诺值一致", "the secret matches its commitment"

    number = _field(record, "supervisor_number", str)
    if not _NUMBER.fullmatch(number):
        raise Mismatch(
            "监督随机数应为1至12位数字", "the supervisor's number must be 1 to 12 digits"
        )
    seed = draw.derive_seed(
        secret=secret,
        pool_hash=published_hash,
        chain_head=_hex64(record, "chain_head"),
        supervisor_number=number,
    )
    if seed.hex() != _hex64(record, "seed"):
        raise Mismatch(
            "由秘密、专家库哈希、审计链头和监督随机数推导出的种子与记录不符",
            "the seed derived from secret, pool hash, chain head and supervisor's number differs from the record",
        )
    yield (
        "随机种子推导一致",
        "the seed derives from secret, pool hash, chain head and supervisor's number",
    )

    items = _items(record, pool)
    picks = _picks(record)
    drawing = draw.Drawing(seed=seed, pool=pool)
    drawing.replay(
        draw.initial_order(
            (specialty, members + reserves) for specialty, members, reserves in items
        )
    )
    initial = list(drawing.picks)  # a copy: the stream below appends to drawing.picks
    if len(picks) < len(initial):
        raise Mismatch(
            f"记录只有{len(picks)}项抽取结果，重新抽取得到{len(initial)}项",
            f"the record has {len(picks)} picks, the replay makes {len(initial)} initial picks",
        )
    for (position, specialty, expert, _status), (expected_specialty, expected) in zip(
        picks, initial, strict=False
    ):
        _compare(position, specialty, expert, expected_specialty, expected)
    yield (
        f"首轮抽取的{len(initial)}名专家（含候补）与重新抽取结果一致",
        f"the {len(initial)} initial picks (members and reserves) match the replay",
    )

    specialties = {specialty for specialty, _members, _reserves in items}
    for position, specialty, expert, _status in picks[len(initial) :]:
        if specialty not in specialties:
            raise Mismatch(
                f"第{position}位：专业“{specialty}”不在抽取专业清单中",
                f"position {position}: specialty '{specialty}' is not one of the requested items",
            )
        expected = drawing.pick(specialty)
        _compare(position, specialty, expert, specialty, expected)
    later = len(picks) - len(initial)
    yield (
        f"续抽递补的{later}名专家与随机流一致",
        f"the {later} replacements drawn by continuing the stream match",
    )

    for specialty, members, _reserves in items:
        _check_panel(specialty, members, picks[: len(initial)], picks[len(initial) :])
    yield (
        "每个专业的确认人数齐全，每次拒绝或未答复都恰好递补一次",
        "every item is confirmed in full, each decline replaced exactly once",
    )


def _check_panel(
    specialty: str,
    members: int,
    initial: list[tuple[int, str, str, str]],
    later: list[tuple[int, str, str, str]],
) -> None:
    mine = [pick for pick in initial if pick[1] == specialty]
    reserves = mine[members:]
    streamed = [pick for pick in later if pick[1] == specialty]
    everyone = mine + streamed
    confirmed = sum(1 for pick in everyone if pick[3] == "confirmed")
    if confirmed != members:
        raise Mismatch(
            f"专业“{specialty}”确认参加{confirmed}人，应为{members}人",
            f"specialty '{specialty}': {confirmed} confirmed, the panel needs {members}",
        )
    if any(pick[3] == "reserve" for pick in mine[:members] + streamed):
        raise Mismatch(
            f"专业“{specialty}”有正式抽中的专家被记为候补",
            f"specialty '{specialty}': a member is recorded as a reserve",
        )
    called = [pick for pick in reserves if pick[3] != "reserve"]
    waiting = [pick for pick in reserves if pick[3] == "reserve"]
    if called and waiting and called[-1][0] > waiting[0][0]:
        raise Mismatch(
            f"专业“{specialty}”的候补未按抽取顺序递补",
            f"specialty '{specialty}': reserves were not called in position order",
        )
    if streamed and waiting:
        raise Mismatch(
            f"专业“{specialty}”尚有候补未递补，却继续抽取了专家",
            f"specialty '{specialty}': the stream was continued while a reserve was still waiting",
        )
    left = sum(1 for pick in everyone if pick[3] in _LEFT)
    if left != len(called) + len(streamed):
        raise Mismatch(
            f"专业“{specialty}”有{left}人拒绝或未答复，递补却有{len(called) + len(streamed)}人",
            f"specialty '{specialty}': {left} declined or did not answer, "
            f"but {len(called) + len(streamed)} replacements are recorded",
        )


def _compare(
    position: int, specialty: str, expert: str, expected_specialty: str, expected: str | None
) -> None:
    if specialty != expected_specialty:
        raise Mismatch(
            f"第{position}位：专业应为“{expected_specialty}”，记录为“{specialty}”",
            f"position {position}: specialty should be '{expected_specialty}', the record says '{specialty}'",
        )
    if expected is None:
        raise Mismatch(
            f"第{position}位：专业“{specialty}”的候选库已抽完，记录却有专家“{expert}”",
            f"position {position}: the pool of '{specialty}' is exhausted, yet the record names '{expert}'",
        )
    if expert != expected:
        raise Mismatch(
            f"第{position}位：应抽中“{expected}”，记录为“{expert}”",
            f"position {position}: the replay draws '{expected}', the record says '{expert}'",
        )


def record_digest(record: Mapping[str, Any]) -> str:
    """SHA-256 of the record's compact canonical JSON, as in the audit chain's reveal event."""
    compact = json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(compact.encode("utf-8")).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m experts.verify_draw",
        description="重新计算并核验一次评标专家抽取 / Re-run and verify a published expert draw.",
    )
    parser.add_argument("record", help="抽取记录文件（JSON）/ the draw record (JSON)")
    args = parser.parse_args(argv)
    try:
        with open(args.record, encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError) as exc:
        print(f"验证失败：无法读取抽取记录 / VERIFICATION FAILED: cannot read the record: {exc}")
        return 1
    if not isinstance(record, dict):
        print(
            "验证失败：抽取记录应为JSON对象 / VERIFICATION FAILED: the record is not a JSON object"
        )
        return 1
    try:
        for chinese, english in check(record):
            print(f"✓ {chinese} / {english}")
    except Mismatch as mismatch:
        print(f"✗ 验证失败：{mismatch.chinese}")
        print(f"  VERIFICATION FAILED: {mismatch.english}")
        return 1
    print(
        f"验证通过：{record.get('tender_code', '')} 抽取结果可由公布的数据完全重现（共{len(record['picks'])}人次）。"
    )
    print(
        f"VERIFIED: the draw is reproduced exactly from the published data ({len(record['picks'])} picks)."
    )
    print(f"记录摘要 / record SHA-256: {record_digest(record)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
