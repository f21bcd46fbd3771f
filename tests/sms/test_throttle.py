from datetime import datetime, timedelta, timezone

import pytest

from dashboard.sms.throttle import AdaptiveRate, RateState, TokenBucket, refill_tokens

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


def test_a_throttle_among_mostly_accepted_answers_cuts_the_rate_by_a_tenth():
    rate = AdaptiveRate(100)
    assert rate.on_answers(10.0, taken=50, throttled_sent_at=[9.99])
    assert rate.current(10.0) == pytest.approx(90)
    assert rate.throttled_since(10.0) == 10.0


def test_answers_to_parts_sent_before_the_cut_count_as_one_signal():
    rate = AdaptiveRate(100)
    rate.on_answers(10.0, taken=50, throttled_sent_at=[9.99])
    # The rest of the window was on its way before the cut: nothing new.
    assert not rate.on_answers(10.01, taken=0, throttled_sent_at=[9.991, 9.992, 9.995])
    assert rate.throttle_events == 1


def test_sporadic_throttling_cuts_at_most_once_per_cooldown():
    rate = AdaptiveRate(100, cooldown=1.0)
    rate.on_answers(10.0, taken=50, throttled_sent_at=[9.99])
    assert not rate.on_answers(10.5, taken=50, throttled_sent_at=[10.4])
    assert rate.on_answers(11.1, taken=50, throttled_sent_at=[11.0])
    assert rate.throttle_events == 2


def test_a_saturated_smsc_brings_the_rate_down_to_what_it_accepted_at_once():
    rate = AdaptiveRate(5000)
    # A burst of 400 taken, then the SMSC refuses everything beyond its grant of 400/s: every
    # 10 ms it takes 4 and refuses the other 40 of what we send.
    rate.on_answers(0.10, taken=400, throttled_sent_at=[0.09])
    assert rate.current(0.10) == pytest.approx(4500)  # one refusal among many taken: a gentle cut
    for step in range(1, 12):
        now = 0.10 + step * 0.01
        rate.on_answers(now, taken=4, throttled_sent_at=[now - 0.005] * 40)
    # A tenth of a second of saturation tells the grant: it goes just under it in one step.
    assert rate.current(0.21) == pytest.approx(0.95 * 400)
    assert rate.settled_tps == pytest.approx(380)


def test_it_never_goes_below_the_floor():
    rate = AdaptiveRate(10, floor=2, climb_share=0.0001)
    for second in range(100):
        rate.on_answers(float(second), taken=0, throttled_sent_at=[float(second)])
    assert rate.current(100.0) == pytest.approx(2, rel=0.01)


def test_the_floor_never_exceeds_the_contract():
    assert AdaptiveRate(0.5).floor == 0.5


def test_it_climbs_by_a_share_of_the_working_rate_not_of_the_contract():
    rate = AdaptiveRate(5000, climb_share=0.05)
    rate.on_answers(0.0, taken=0, throttled_sent_at=[0.0])
    rate.on_answers(0.2, taken=76, throttled_sent_at=[0.1] * 500)  # 380/s taken while saturated
    settled = rate.settled_tps
    assert settled == pytest.approx(0.95 * 380)
    # 10 % of the contract per second would be back at 860/s within a second, and storm again;
    # this climbs 5 % of the working rate per second.
    assert rate.current(1.2) == pytest.approx(settled * 1.05)
    assert rate.current(2.2) == pytest.approx(settled * 1.05 ** 2)
    assert rate.current(1000.0) == 5000


def test_it_settles_just_under_what_the_smsc_grants():
    """A simulated SMSC granting 400/s to a bind contracted at 5,000/s, as a token bucket of one
    second's worth, answering one round trip later: after the first two seconds the rate stays a
    few percent under 400 and throttled answers are rare (tests/worker/test_throttling.py does the
    same against the real simulator)."""
    rate = AdaptiveRate(5000)
    grant, tokens, step, rtt = 400.0, 400.0, 0.005, 0.005
    accepted = throttled = 0
    owed = 0.0
    answers: list[tuple[float, bool]] = []  # (sent at, throttled) answered one round trip later
    rates = []
    for tick in range(int(30 / step)):
        now = tick * step
        tokens = min(grant, tokens + grant * step)
        due = [a for a in answers if a[0] + rtt <= now]
        answers = [a for a in answers if a[0] + rtt > now]
        if due:
            rate.on_answers(now, sum(1 for _, t in due if not t), [sent for sent, t in due if t])
        owed += rate.current(now) * step
        while owed >= 1:
            owed -= 1
            ok = tokens >= 1
            tokens -= ok
            answers.append((now, not ok))
            if now >= 2:
                accepted += ok
                throttled += not ok
        if now >= 2:
            rates.append(rate.current(now))
    assert throttled <= 0.02 * accepted
    assert accepted >= 0.9 * grant * 28
    assert 0.85 * grant <= min(rates) and max(rates) <= 1.1 * grant


def test_throttled_since_marks_the_start_of_the_slowdown_not_the_last_event():
    rate = AdaptiveRate(100)
    rate.on_answers(0.0, taken=10, throttled_sent_at=[0.0])
    rate.on_answers(2.0, taken=10, throttled_sent_at=[2.0])
    assert rate.throttled_since(2.5) == 0.0
    later = 1000.0
    rate.on_answers(later, taken=10, throttled_sent_at=[later])
    assert rate.throttled_since(later) == later


def test_it_reports_its_state_for_display():
    rate = AdaptiveRate(100)
    assert rate.state(1.0).settled_tps is None
    rate.on_answers(3.0, taken=10, throttled_sent_at=[3.0])
    assert rate.state(3.0) == RateState(
        contracted_tps=100,
        current_tps=90,
        settled_tps=90,
        throttled_since=3.0,
        last_throttled_at=3.0,
        throttle_events=1,
    )


def test_the_adaptive_rate_drives_a_token_bucket():
    adaptive = AdaptiveRate(20)
    bucket = TokenBucket(rate=adaptive.current(0.0))
    adaptive.on_answers(0.0, taken=5, throttled_sent_at=[0.0])
    bucket.rate = adaptive.current(0.0)
    assert bucket.rate == 18
    assert bucket.burst == 18


def test_a_campaign_cap_bucket_starts_empty_and_holds_one_second():
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert refill_tokens(5.0, None, start, 10) == 0.0
    assert refill_tokens(0.0, start, start + timedelta(seconds=0.3), 10) == pytest.approx(3)
    assert refill_tokens(0.0, start, start + timedelta(seconds=60), 10) == 10
    assert refill_tokens(0.0, start, start + timedelta(seconds=60), 0.2) == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"contracted_tps": 0},
        {"contracted_tps": 10, "decrease": 1},
        {"contracted_tps": 10, "floor": 0},
        {"contracted_tps": 10, "climb_share": 0},
        {"contracted_tps": 10, "settle": 1},
    ],
)
def test_it_rejects_nonsense_settings(kwargs):
    with pytest.raises(ValueError):
        AdaptiveRate(**kwargs)
