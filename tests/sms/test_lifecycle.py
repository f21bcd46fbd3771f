"""The state rules of messages and parts, with fixed clocks: derived from every part, forward only,
and what becomes of a message after its parts changed (docs/architecture.md #4, #5)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from dashboard.sms import lifecycle as lc

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
DAY = timedelta(hours=48)


def settle(states, *, status=lc.SUBMITTING, attempts=1, max_attempts=5, throttled=False, age=timedelta(0),
           waiting=False):
    return lc.settle(states, status=status, attempts=attempts, max_attempts=max_attempts, throttled=throttled,
                     created_at=NOW - age, validity=DAY, now=NOW, waiting=waiting)


@pytest.mark.parametrize("parts, expected", [
    ([lc.DELIVERED], lc.DELIVERED),
    ([lc.UNDELIVERABLE], lc.UNDELIVERABLE),
    ([lc.SUBMITTED], lc.SUBMITTED),
    ([lc.PENDING], lc.SUBMITTING),
    ([lc.DELIVERED, lc.DELIVERED], lc.DELIVERED),
    ([lc.DELIVERED, lc.UNDELIVERABLE], lc.PARTIALLY_DELIVERED),
    ([lc.EXPIRED, lc.REJECTED], lc.REJECTED),
    ([lc.DELIVERED, lc.SUBMITTED], lc.SUBMITTED),
    ([lc.SUBMITTED, lc.SUBMITTING], lc.SUBMITTING),
    ([], lc.QUEUED),
])
def test_a_message_state_is_derived_from_every_part(parts, expected):
    assert lc.derive_message_state(parts) == expected


def test_a_response_moves_a_part_to_submitted_pending_or_failed():
    assert lc.part_state_after_response(0) == lc.SUBMITTED
    assert lc.part_state_after_response(0x58) == lc.PENDING  # throttled: again, later
    assert lc.part_state_after_response(0x08) == lc.PENDING  # system error: again, later
    assert lc.part_state_after_response(0x0B) == lc.FAILED  # invalid destination: never


def test_accepted_parts_make_the_message_submitted_then_delivered():
    assert settle([lc.SUBMITTED]) == lc.Settlement(state=lc.SUBMITTED)
    assert settle([lc.DELIVERED], status=lc.SUBMITTED) == lc.Settlement(state=lc.DELIVERED)


def test_nothing_moves_while_answers_are_still_to_come():
    assert settle([lc.SUBMITTED, lc.SUBMITTING]) == lc.Settlement()


def test_a_late_event_never_moves_a_message_back():
    assert settle([lc.SUBMITTED], status=lc.DELIVERED) == lc.Settlement()


def test_a_temporary_refusal_goes_back_to_the_queue_with_back_off():
    decision = settle([lc.PENDING], attempts=2)
    assert decision.requeue and decision.retry_in > 0 and decision.state is None


def test_throttling_keeps_the_place_in_the_queue_and_spends_no_attempt():
    decision = settle([lc.PENDING], attempts=9, throttled=True)
    assert decision == lc.Settlement(requeue=True, retry_in=None)


def test_a_message_gives_up_after_its_attempts():
    assert settle([lc.PENDING], attempts=5) == lc.Settlement(fail_pending=True, state=lc.FAILED,
                                                             gave_up=lc.GAVE_UP_ATTEMPTS)


def test_a_message_past_its_validity_expires_even_while_throttled():
    assert settle([lc.PENDING], throttled=True, age=DAY) == lc.Settlement(fail_pending=True, state=lc.EXPIRED,
                                                                        gave_up=lc.GAVE_UP_EXPIRED)


def test_one_part_refused_for_good_fails_the_parts_still_to_send():
    decision = settle([lc.SUBMITTED, lc.FAILED, lc.PENDING])
    assert decision.fail_pending and not decision.requeue
    assert settle([lc.FAILED, lc.PENDING, lc.SUBMITTING]) == lc.Settlement(fail_pending=True)


def test_a_message_whose_other_parts_wait_in_the_sender_is_not_requeued():
    assert settle([lc.SUBMITTED, lc.PENDING], waiting=True) == lc.Settlement()
