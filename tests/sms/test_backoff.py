from datetime import UTC, datetime, timedelta

import pytest

from dashboard.sms.backoff import backoff_delay, next_attempt_at


def middle() -> float:
    return 0.5


@pytest.mark.parametrize(("attempt", "delay"), [(1, 1), (2, 2), (3, 4), (4, 8), (8, 128)])
def test_it_doubles_the_delay_each_attempt(attempt, delay):
    assert backoff_delay(attempt, rand=middle) == delay


def test_it_applies_jitter_in_both_directions():
    assert backoff_delay(4, rand=lambda: 0.0) == pytest.approx(8 * 0.8)
    assert backoff_delay(4, rand=lambda: 0.999999) == pytest.approx(8 * 1.2, rel=1e-5)


@pytest.mark.parametrize("attempt", [10, 20, 100, 5000])
def test_it_never_exceeds_the_cap_yet_keeps_retries_spread(attempt):
    low = backoff_delay(attempt, rand=lambda: 0.0)
    high = backoff_delay(attempt, rand=lambda: 0.999999)
    assert high <= 300
    assert high - low > 60


def test_near_the_cap_it_centres_below_it_so_jitter_fits_underneath():
    # 2^8 = 256, but 256 * 1.2 would exceed 300: the centre becomes 300 / 1.2.
    assert backoff_delay(9, rand=middle) == pytest.approx(250)


def test_it_returns_the_exact_cap_without_jitter():
    assert backoff_delay(50, jitter=0) == 300


def test_it_honours_custom_base_factor_and_cap():
    assert backoff_delay(3, base=5, factor=3, cap=1000, jitter=0) == 45
    assert backoff_delay(3, base=5, factor=3, cap=30, jitter=0) == 30


@pytest.mark.parametrize("attempt", [0, -1])
def test_it_counts_attempts_from_one(attempt):
    with pytest.raises(ValueError, match="from 1"):
        backoff_delay(attempt)


def test_it_rejects_a_jitter_of_a_whole_delay_or_more():
    with pytest.raises(ValueError):
        backoff_delay(1, jitter=1)


def test_it_uses_real_randomness_by_default():
    delays = {backoff_delay(5) for _ in range(20)}
    assert len(delays) > 1
    assert all(16 * 0.8 <= d <= 16 * 1.2 for d in delays)


def test_it_schedules_the_next_attempt_from_now():
    now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    assert next_attempt_at(3, now, rand=middle) == now + timedelta(seconds=4)
    assert next_attempt_at(1, now, base=30, jitter=0).tzinfo is UTC
