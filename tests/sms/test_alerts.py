"""Alert decisions: when a measurement fires or resolves, and how a webhook is signed."""
from __future__ import annotations

import hashlib
import hmac

from dashboard.sms.alerts import RULE_KINDS, Measurement, describe, retry_in, should_fire, should_resolve, signature

RATE = RULE_KINDS["delivery_rate"]
THROTTLING = RULE_KINDS["throttling"]


def test_a_delivery_rate_fires_below_its_threshold_only_on_enough_traffic():
    assert should_fire(RATE, Measurement("", "", 70.0, volume=50), threshold=80, min_volume=20)
    assert not should_fire(RATE, Measurement("", "", 70.0, volume=5), threshold=80, min_volume=20)
    assert not should_fire(RATE, Measurement("", "", 85.0, volume=50), threshold=80, min_volume=20)
    assert not should_fire(RATE, Measurement("", "", None, volume=0), threshold=80, min_volume=20)


def test_a_spike_fires_above_its_threshold_whatever_the_volume():
    assert should_fire(THROTTLING, Measurement("bind:1", "", 120.0), threshold=100, min_volume=20)
    assert not should_fire(THROTTLING, Measurement("bind:1", "", 100.0), threshold=100, min_volume=20)


def test_an_alert_resolves_on_recovery_or_when_nothing_is_left_to_measure_not_on_thin_traffic():
    assert should_resolve(RATE, Measurement("", "", 92.0, volume=40), threshold=80, min_volume=20)
    assert not should_resolve(RATE, Measurement("", "", 92.0, volume=3), threshold=80, min_volume=20)
    assert not should_resolve(RATE, Measurement("", "", 60.0, volume=40), threshold=80, min_volume=20)
    assert should_resolve(RATE, Measurement("", "", None, volume=0), threshold=80, min_volume=20)
    assert should_resolve(RATE, None, threshold=80, min_volume=20)


def test_a_latency_target_is_judged_against_its_own_share():
    target = RULE_KINDS["latency_target"]
    measured = Measurement("kind:one_time_code", "One-time codes", 93.0, volume=100, threshold=95.0)
    assert should_fire(target, measured, threshold=0, min_volume=20)
    assert "below 95 %" in describe(target, measured, 0, 15)


def test_a_webhook_signature_is_hmac_sha256_over_the_timestamp_and_the_body():
    body = b'{"event": "firing"}'
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature("s3cret", 1700000000, body) == expected
    assert signature("other", 1700000000, body) != expected


def test_failed_deliveries_wait_longer_each_time_up_to_a_cap():
    delays = [retry_in(n) for n in range(1, 12)]
    assert delays[0] < delays[3] < delays[6]
    assert max(delays) <= 4 * 3600
