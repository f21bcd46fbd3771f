"""The traffic figures' pure rules: histograms, failure labels, message types, chart ranges."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from dashboard.sms.receipt_codes import describe_receipt
from dashboard.sms.receipts import describe_outcome
from dashboard.sms.traffic import (
    LATENCY_BOUNDS,
    bucket_index,
    chart_range,
    failure_reason,
    message_type,
    percentile,
    run_range,
    share_within,
    step_for,
    step_starts,
)


def test_a_duration_falls_in_the_first_bucket_whose_bound_it_does_not_pass():
    assert bucket_index(0.2, LATENCY_BOUNDS) == 0
    assert bucket_index(1.0, LATENCY_BOUNDS) == 1
    assert bucket_index(7, LATENCY_BOUNDS) == LATENCY_BOUNDS.index(10)
    assert bucket_index(99999, LATENCY_BOUNDS) == len(LATENCY_BOUNDS)


def test_percentiles_are_interpolated_inside_their_bucket_as_prometheus_does():
    counts = [0] * (len(LATENCY_BOUNDS) + 1)
    counts[LATENCY_BOUNDS.index(2)] = 50  # 50 between 1 and 2 s
    counts[LATENCY_BOUNDS.index(10)] = 50  # 50 between 5 and 10 s
    assert percentile(counts, LATENCY_BOUNDS, 0.5) == pytest.approx(2.0)
    assert percentile(counts, LATENCY_BOUNDS, 0.95) == pytest.approx(5 + 5 * 45 / 50)
    assert percentile([0] * len(counts), LATENCY_BOUNDS, 0.5) is None


def test_a_percentile_past_the_last_bound_says_only_that_it_is_above_it():
    counts = [0] * len(LATENCY_BOUNDS) + [3]
    assert percentile(counts, LATENCY_BOUNDS, 0.95) == LATENCY_BOUNDS[-1]


def test_the_share_within_a_target_counts_every_bucket_up_to_it_and_only_takes_a_bound():
    counts = list(range(len(LATENCY_BOUNDS) + 1))
    assert share_within(counts, LATENCY_BOUNDS, 2) == 0 + 1 + 2
    with pytest.raises(ValueError, match="not a histogram bound"):
        share_within(counts, LATENCY_BOUNDS, 7)


@pytest.mark.parametrize(("status", "reason", "label"), [
    ("undeliverable", describe_outcome("UNDELIV", "001"), "UNDELIV err 001"),
    ("undeliverable", describe_receipt("UNDELIV", "001"), "UNDELIV err 001"),  # the demo's wording
    ("expired", describe_outcome("EXPIRED", "000"), "EXPIRED"),
    ("rejected", describe_outcome("REJECTD", "013"), "REJECTD err 013"),
    ("failed", "refused by the SMSC: ESME_RINVDSTADR", "ESME_RINVDSTADR"),
    ("expired", "validity period passed before it could be sent: throttled by the SMSC", "validity passed"),
    ("failed", "gave up after 5 attempts: temporary SMSC error ESME_RSYSERR", "gave up (attempts spent)"),
    ("failed", "cannot be encoded: more than 255 parts", "cannot be encoded"),
    ("partially_delivered", None, "partially delivered"),
    ("failed", "something nobody wrote", "failed"),
])
def test_each_failure_is_counted_under_a_short_label(status, reason, label):
    assert failure_reason(status, reason) == label


def test_messages_are_one_time_codes_transactional_or_marketing():
    assert message_type("one_time_code", 10) == "one_time_code"
    assert message_type(None, 5) == "one_time_code"  # the lane ahead of transactional traffic
    assert message_type(None, 10) == "transactional"
    assert message_type("help_reply", 10) == "transactional"
    assert message_type(None, 100) == "marketing"


def test_a_range_reaching_past_the_minute_rollups_is_drawn_hourly():
    now = datetime(2026, 11, 30, 12, 7, tzinfo=timezone.utc)
    day = chart_range("24h")
    assert step_for(day, now, now - timedelta(hours=48)) == timedelta(minutes=15)
    assert step_for(day, now, now - timedelta(hours=6)) == timedelta(hours=1)
    assert chart_range("nonsense").key == "24h"


def test_steps_are_whole_periods_ending_with_the_current_one():
    now = datetime(2026, 11, 30, 12, 7, 30, tzinfo=timezone.utc)
    starts = step_starts(now, timedelta(hours=1), timedelta(minutes=15))
    assert [s.strftime("%H:%M") for s in starts] == ["11:00", "11:15", "11:30", "11:45", "12:00"]


def test_a_campaigns_run_gets_the_finest_step_that_keeps_the_chart_readable():
    assert run_range(timedelta(minutes=20)).step == timedelta(minutes=1)
    assert run_range(timedelta(hours=30)).step == timedelta(minutes=15)
    assert run_range(timedelta(days=90)).step == timedelta(days=1)
