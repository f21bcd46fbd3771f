"""Which sender worker drives which bind: pure, so every worker computes the same answer from the
same facts without talking to the others (docs/scaling.md, "Binds spread over workers").

Binds are dealt to the live workers in turn, both in a stable order, so each worker gets within
one of its fair share. When the live workers differ for a moment between two workers' views
(a heartbeat late by a second), both may want one bind: the lease decides, and the next round
agrees again.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


def assignment(binds: Iterable[int], workers: Sequence[str]) -> dict[int, str]:
    """bind id → the worker that should drive it. Workers in the order given (oldest first keeps
    long-lived assignments stable); no live worker, no assignment."""
    if not workers:
        return {}
    return {bind: workers[index % len(workers)] for index, bind in enumerate(sorted(set(binds)))}


@dataclass(frozen=True)
class Plan:
    """What one worker does this round: binds to take, binds to hand over."""
    take: tuple[int, ...]
    hand_over: tuple[int, ...]


def plan(me: str, binds: Iterable[int], workers: Sequence[str], held: Iterable[int]) -> Plan:
    """This worker's moves: take the binds assigned to it that it does not hold yet; hand over
    those it holds that are now someone else's (a worker joined) or gone (disabled). A worker not
    among `workers` yet (its first heartbeat is on its way) counts itself in."""
    live = list(workers) if me in workers else [*workers, me]
    wanted = {bind for bind, worker in assignment(binds, live).items() if worker == me}
    held = set(held)
    return Plan(take=tuple(sorted(wanted - held)), hand_over=tuple(sorted(held - wanted)))
