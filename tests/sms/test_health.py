import pytest

from dashboard.sms.health import HealthPolicy, HealthSample, assess


def test_a_bind_with_few_samples_is_healthy_whatever_its_rates():
    assert assess(HealthSample(responses=5, errors=5, aged_submitted=5, aged_without_receipt=5)) is None


def test_a_bind_refusing_most_submits_is_unhealthy_with_the_rate_in_the_reason():
    reason = assess(HealthSample(responses=40, errors=30, aged_submitted=0, aged_without_receipt=0))
    assert reason == "75% of the last 40 submits refused"


def test_a_bind_whose_receipts_do_not_come_back_is_unhealthy():
    reason = assess(HealthSample(responses=100, errors=0, aged_submitted=100, aged_without_receipt=80))
    assert reason == "80% of 100 messages have no receipt after 10 min"


@pytest.mark.parametrize("errors, healthy", [(10, True), (11, False)])
def test_the_error_threshold_is_a_strict_upper_bound(errors, healthy):
    policy = HealthPolicy(max_error_rate=0.5)
    sample = HealthSample(responses=20, errors=errors, aged_submitted=0, aged_without_receipt=0)
    assert (assess(sample, policy) is None) is healthy
