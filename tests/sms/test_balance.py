"""Binds are dealt over the live sender workers evenly, the same way by every worker."""
from __future__ import annotations

from collections import Counter

from dashboard.sms.balance import Plan, assignment, plan


def test_binds_are_spread_evenly_over_the_live_workers():
    spread = Counter(assignment(range(1, 8), ["w1", "w2", "w3"]).values())
    assert sorted(spread.values()) == [2, 2, 3]


def test_every_worker_computes_the_same_assignment_whatever_order_it_learns_the_binds_in():
    assert assignment([4, 1, 3, 2], ["a", "b"]) == assignment([1, 2, 3, 4], ["a", "b"])


def test_a_lone_worker_drives_every_bind():
    assert plan("w1", [1, 2, 3], ["w1"], held=[]) == Plan(take=(1, 2, 3), hand_over=())


def test_a_worker_that_joins_takes_its_share_and_the_first_hands_it_over():
    workers = ["w1", "w2"]
    assert plan("w1", [1, 2, 3, 4], workers, held=[1, 2, 3, 4]) == Plan(take=(), hand_over=(2, 4))
    assert plan("w2", [1, 2, 3, 4], workers, held=[]) == Plan(take=(2, 4), hand_over=())


def test_the_binds_of_a_worker_that_left_are_taken_by_the_rest():
    assert plan("w1", [1, 2, 3, 4], ["w1"], held=[1, 3]) == Plan(take=(2, 4), hand_over=())


def test_a_worker_whose_first_heartbeat_is_not_in_yet_counts_itself_in():
    assert plan("new", [1, 2], ["old"], held=[]) == Plan(take=(2,), hand_over=())


def test_a_disabled_bind_is_handed_over_to_nobody():
    assert plan("w1", [1], ["w1"], held=[1, 2]) == Plan(take=(), hand_over=(2,))
