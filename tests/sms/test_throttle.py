import pytest

from dashboard.sms.throttle import AdaptiveRate, RateState, TokenBucket

# --- TokenBucket ------------------------------------------------------------


def test_it_starts_with_a_full_bucket_of_one_second():
    bucket = TokenBucket(rate=10)
    assert bucket.burst == 10
    assert all(bucket.take(1, now=0.0) for _ in range(10))
    assert not bucket.take(1, now=0.0)


def test_it_defaults_the_burst_to_at_least_one_part():
    assert TokenBucket(rate=0.5).burst == 1


def test_it_refills_at_the_rate():
    bucket = TokenBucket(rate=10)
    assert bucket.take(10, now=0.0)
    assert not bucket.take(1, now=0.05)
    assert bucket.take(1, now=0.1)


def test_it_takes_all_parts_of_a_message_or_none():
    bucket = TokenBucket(rate=10, burst=3)
    assert bucket.take(2, now=0.0)
    assert not bucket.take(3, now=0.0)
    assert bucket.tokens == pytest.approx(1)  # nothing was taken by the refusal
    assert bucket.take(3, now=0.2)


def test_it_tells_how_long_to_wait_and_that_is_enough():
    bucket = TokenBucket(rate=4, burst=4)
    bucket.take(4, now=0.0)
    wait = bucket.wait_time(3, now=0.0)
    assert wait == pytest.approx(0.75)
    assert not bucket.take(3, now=wait - 0.01)
    assert bucket.take(3, now=wait)
    assert bucket.wait_time(0, now=wait) == 0.0


def test_a_message_bigger_than_the_burst_goes_when_full_and_leaves_a_debt():
    bucket = TokenBucket(rate=1)
    assert bucket.take(3, now=0.0)
    # Three parts at one part per second: the next part waits three seconds.
    assert bucket.wait_time(1, now=0.0) == pytest.approx(3)
    assert not bucket.take(1, now=2.9)
    assert bucket.take(1, now=3.0)


def test_it_holds_the_rate_over_time():
    bucket = TokenBucket(rate=50)
    sent, now = 0, 0.0
    while now < 10.0:
        if bucket.take(3, now):
            sent += 3
        now += 0.001
    # 10 s at 50 parts/s plus the initial burst of 50.
    assert 500 <= sent <= 550 + 3


def test_it_does_not_mint_tokens_when_the_clock_steps_back():
    bucket = TokenBucket(rate=10)
    bucket.take(10, now=100.0)
    assert not bucket.take(1, now=50.0)
    assert not bucket.take(1, now=100.05)
    assert bucket.take(1, now=100.1)


def test_changing_the_rate_shrinks_an_automatic_burst():
    bucket = TokenBucket(rate=100)
    bucket.rate = 10
    assert bucket.burst == 10
    assert bucket.tokens == 10


def test_changing_the_rate_keeps_an_explicit_burst():
    bucket = TokenBucket(rate=100, burst=5)
    bucket.rate = 10
    assert bucket.burst == 5


@pytest.mark.parametrize(("rate", "burst"), [(0, None), (-1, None), (1, 0)])
def test_it_rejects_nonsense_rates(rate, burst):
    with pytest.raises(ValueError):
        TokenBucket(rate=rate, burst=burst)


def test_it_rejects_a_negative_take():
    with pytest.raises(ValueError):
        TokenBucket(rate=1).take(-1, now=0)


# --- AdaptiveRate -----------------------------------------------------------


def test_it_sends_at_the_contracted_rate_until_throttled():
    rate = AdaptiveRate(100)
    assert rate.current(0) == 100
    assert rate.throttled_since(0) is None


def test_it_halves_the_rate_when_throttled():
    rate = AdaptiveRate(100)
    assert rate.on_throttled(10.0)
    assert rate.current(10.0) == 50
    assert rate.throttled_since(10.0) == 10.0


def test_a_burst_of_throttled_responses_counts_as_one_event():
    rate = AdaptiveRate(100)
    counted = [rate.on_throttled(10.0 + i * 0.01) for i in range(50)]
    assert counted.count(True) == 1
    assert rate.current(10.5) == pytest.approx(50 + 0.5 * 10)


def test_throttling_a_second_later_halves_again():
    rate = AdaptiveRate(100, recover_per_s=0.0001)
    rate.on_throttled(0.0)
    assert rate.on_throttled(1.0)
    assert rate.current(1.0) == pytest.approx(25, rel=0.01)


def test_it_never_goes_below_the_floor():
    rate = AdaptiveRate(10, floor=2, recover_per_s=0.0001)
    for second in range(10):
        rate.on_throttled(float(second))
    assert rate.current(10.0) == pytest.approx(2, rel=0.01)


def test_the_floor_never_exceeds_the_contract():
    assert AdaptiveRate(0.5).floor == 0.5


def test_it_climbs_back_gradually_to_the_contracted_rate():
    rate = AdaptiveRate(100, recover_per_s=0.1)
    rate.on_throttled(0.0)
    assert rate.current(1.0) == pytest.approx(60)
    assert rate.current(4.0) == pytest.approx(90)
    assert rate.current(5.0) == 100
    assert rate.current(60.0) == 100
    assert rate.throttled_since(60.0) is None


def test_throttled_since_marks_the_start_of_the_slowdown_not_the_last_event():
    rate = AdaptiveRate(100)
    rate.on_throttled(0.0)
    rate.on_throttled(2.0)
    assert rate.throttled_since(2.5) == 0.0
    later = 100.0
    rate.on_throttled(later)
    assert rate.throttled_since(later) == later


def test_it_reports_its_state_for_display():
    rate = AdaptiveRate(100)
    rate.on_throttled(3.0)
    assert rate.state(3.0) == RateState(
        contracted_tps=100,
        current_tps=50,
        throttled_since=3.0,
        last_throttled_at=3.0,
        throttle_events=1,
    )


def test_the_adaptive_rate_drives_a_token_bucket():
    adaptive = AdaptiveRate(20)
    bucket = TokenBucket(rate=adaptive.current(0.0))
    adaptive.on_throttled(0.0)
    bucket.rate = adaptive.current(0.0)
    assert bucket.rate == 10
    assert bucket.burst == 10


@pytest.mark.parametrize(
    "kwargs",
    [
        {"contracted_tps": 0},
        {"contracted_tps": 10, "decrease": 1},
        {"contracted_tps": 10, "floor": 0},
    ],
)
def test_it_rejects_nonsense_settings(kwargs):
    with pytest.raises(ValueError):
        AdaptiveRate(**kwargs)
