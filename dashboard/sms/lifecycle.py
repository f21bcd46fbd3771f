"""Message and part states, and the rules that keep them moving forward only (docs/architecture.md #4, #5).

A message's state is derived from its parts; a late or duplicate event never moves a part or a
message backwards. The one sanctioned step back is a retry, which only the claim owner takes.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from dashboard.sms.backoff import backoff_delay
from dashboard.sms.smpp_status import is_throttling, is_transient

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
# What counts as failed wherever messages are counted (reports, guard rails, home page): every
# failure, and a message of which only some parts arrived.
FAILED_OUTCOMES = FAILURES | {PARTIALLY_DELIVERED}
# Messages that reached the SMSC and ended: the denominator of a delivery rate. Cancelled and
# skipped ones were never attempted; queued and in-flight ones have no outcome yet.
OUTCOMES = FAILED_OUTCOMES | {DELIVERED}

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
    if len(states) == 1:  # most messages: the part's state is the message's
        state = states[0]
        return state if state in PART_FINAL else SUBMITTING if state in (PENDING, SUBMITTING) else SUBMITTED
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


def part_state_after_response(command_status: int) -> str:
    """A part's state once the SMSC answered its submit_sm: accepted, back to pending for another
    attempt (throttled or a temporary error), or failed for good."""
    if command_status == 0:
        return SUBMITTED
    if is_throttling(command_status) or is_transient(command_status):
        return PENDING
    return FAILED


GAVE_UP_EXPIRED = "expired"
GAVE_UP_ATTEMPTS = "attempts"


class Settlement(NamedTuple):
    """What becomes of a message once its parts changed (a response, a receipt, a reaped claim).
    A tuple, not a dataclass: the sender decides this twice per message."""

    fail_pending: bool = False  # the parts not accepted yet fail with the message
    state: str | None = None  # the message's new state; None: it stays as it is
    requeue: bool = False  # back to the queue for another attempt
    retry_in: float | None = None  # seconds before that attempt; None: at once
    gave_up: str | None = None  # GAVE_UP_EXPIRED or GAVE_UP_ATTEMPTS when it ends unsent


_UNCHANGED = Settlement()
_FAIL_PENDING = Settlement(fail_pending=True)


def settle(part_states: Sequence[str], *, status: str, attempts: int, max_attempts: int, throttled: bool,
           created_at: datetime, validity: timedelta, now: datetime, waiting: bool = False,
           retry_base: float = 2.0) -> Settlement:
    """The one rule for a message after its parts changed.

    `throttled`: the last refusal was the SMSC slowing us down, which slows the whole bind instead
    and uses up no attempt (the validity period, from `created_at`, is what bounds a message it
    keeps refusing). `waiting`: the sender still holds parts of this message to write (a slow bind
    spreads a long message over seconds), so it is not requeued.
    """
    fail_pending = FAILED in part_states and PENDING in part_states  # one part refused for good
    states = [FAILED if s == PENDING else s for s in part_states] if fail_pending else part_states
    if SUBMITTING in states or (waiting and PENDING in states):
        return _FAIL_PENDING if fail_pending else _UNCHANGED  # more answers to come, or parts to write
    if PENDING in states:
        if created_at + validity <= now:
            return Settlement(fail_pending=True, state=EXPIRED, gave_up=GAVE_UP_EXPIRED)
        if not throttled and attempts >= max_attempts:
            return Settlement(fail_pending=True, state=FAILED, gave_up=GAVE_UP_ATTEMPTS)
        # Throttling keeps the message's place in the queue: the bind slows down instead.
        return Settlement(requeue=True, retry_in=None if throttled else backoff_delay(attempts, base=retry_base))
    derived = derive_message_state(states)
    if derived != status and (is_final(derived) or moves_forward(status, derived)):
        return Settlement(fail_pending, derived)
    return _FAIL_PENDING if fail_pending else _UNCHANGED
