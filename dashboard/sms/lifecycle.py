"""Message and part states, and the rules that keep them moving forward only (DESIGN #4, #5).

A message's state is derived from its parts; a late or duplicate event never moves a part or a
message backwards. The one sanctioned step back is a retry, which only the claim owner takes.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable

QUEUED = "queued"
SUBMITTING = "submitting"
SUBMITTED = "submitted"
DELIVERED = "delivered"
PARTIALLY_DELIVERED = "partially_delivered"
UNDELIVERABLE = "undeliverable"
EXPIRED = "expired"
REJECTED = "rejected"
FAILED = "failed"
CANCELLED = "cancelled"
SKIPPED = "skipped"

# Part states: pending (not yet written) → submitting → submitted → one of PART_FINAL.
PENDING = "pending"

MESSAGE_STATES = (QUEUED, SUBMITTING, SUBMITTED, DELIVERED, PARTIALLY_DELIVERED, UNDELIVERABLE,
                  EXPIRED, REJECTED, FAILED, CANCELLED, SKIPPED)
FINAL = frozenset({DELIVERED, PARTIALLY_DELIVERED, UNDELIVERABLE, EXPIRED, REJECTED, FAILED,
                   CANCELLED, SKIPPED})
PART_FINAL = frozenset({DELIVERED, UNDELIVERABLE, EXPIRED, REJECTED, FAILED, CANCELLED, SKIPPED})
FAILURES = frozenset({UNDELIVERABLE, EXPIRED, REJECTED, FAILED})

_RANK = {QUEUED: 0, PENDING: 0, SUBMITTING: 1, SUBMITTED: 2}


def rank(state: str) -> int:
    return _RANK.get(state, 3)


def is_final(state: str) -> bool:
    return state in FINAL


def moves_forward(current: str, new: str) -> bool:
    """True when `new` is a step forward from `current`. Final states never change."""
    return rank(new) > rank(current)


# When parts fail in different ways, the message reports the most telling one.
_FAILURE_PRECEDENCE = (REJECTED, UNDELIVERABLE, EXPIRED, FAILED, CANCELLED, SKIPPED)


def derive_message_state(part_states: Iterable[str]) -> str:
    """The message's state from all of its parts (Kannel looks only at the first, Jasmin the last)."""
    states = list(part_states)
    if not states:
        return QUEUED
    if all(s in PART_FINAL for s in states):
        counts = Counter(states)
        if counts[DELIVERED] == len(states):
            return DELIVERED
        if counts[DELIVERED]:
            return PARTIALLY_DELIVERED
        for state in _FAILURE_PRECEDENCE:
            if counts[state]:
                return state
    if any(s in (PENDING, SUBMITTING) for s in states):
        return SUBMITTING
    return SUBMITTED
