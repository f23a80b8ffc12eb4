"""The committee's own rules, as pure functions: electing the chair (组长) and TR 48's one third.

Standard library only, like ``evaluation.scoring``: the services call these
under the evaluation's row lock and record what they decided.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

OPEN = "open"  # votes still missing, nobody has a majority yet
ELECTED = "elected"  # one candidate holds a majority of the members
REVOTE = "revote"  # everyone voted and nobody holds a majority (a tie, or votes too scattered)


@dataclass(frozen=True, kw_only=True)
class Tally:
    """The state of one round of the chair election."""

    outcome: str
    chair: int | None  # the elected member's seat when ``outcome`` is ELECTED
    counts: dict[int, int]  # votes per candidate seat
    cast: int
    members: int


def majority(members: int) -> int:
    """Votes needed to elect: more than half of the members (not of the votes cast)."""
    return members // 2 + 1


def election_tally(votes: Mapping[int, int], *, members: int) -> Tally:
    """The round's outcome from ``votes`` (voter seat → candidate seat), ``members`` being the committee size.

    A candidate with more than half of all members' votes is elected at once:
    the votes still missing could not change that. Once every member has
    voted and nobody holds such a majority — two candidates level, or the
    votes spread over several — the round ends without a chair and the
    committee votes again (REVOTE). Otherwise the round stays OPEN.
    """
    if members < 1:
        raise ValueError("a committee has members")
    if len(votes) > members:
        raise ValueError("more votes than members")
    counts = Counter(votes.values())
    leaders = counts.most_common(1)
    if leaders and leaders[0][1] >= majority(members):
        return Tally(outcome=ELECTED, chair=leaders[0][0], counts=dict(counts), cast=len(votes), members=members)
    outcome = REVOTE if len(votes) == members else OPEN
    return Tally(outcome=outcome, chair=None, counts=dict(counts), cast=len(votes), members=members)


def extension_granted(requests: int, *, members: int) -> bool:
    """TR 48: more than one third of the members found the time too short.

    Strictly more: 3 of 9 (exactly a third) is not enough, 4 of 9 is; 2 of 5
    is (2 > 5/3). Compared in integers (3 × requests > members), never in
    fractions that would round.
    """
    if members < 1:
        raise ValueError("a committee has members")
    return 3 * requests > members
