"""Is a bind healthy? Measured, not assumed: a decision from recent facts, kept apart from the
queries that gather them (redash's `should_alert` pattern)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HealthPolicy:
    window_minutes: float = 15.0          # how far back the rates look
    min_samples: int = 20                 # fewer responses than this say nothing about a rate
    max_error_rate: float = 0.5           # share of submits refused (throttling excluded)
    receipt_wait_minutes: float = 10.0    # a part without a receipt after this long is suspicious
    max_missing_receipt_share: float = 0.5


@dataclass(frozen=True)
class HealthSample:
    responses: int            # submit responses in the window
    errors: int               # of which refused, throttling excluded: throttling slows a bind, it isn't broken
    aged_submitted: int       # parts accepted in the window and older than receipt_wait_minutes
    aged_without_receipt: int  # of which still have no receipt


def assess(sample: HealthSample, policy: HealthPolicy = HealthPolicy()) -> str | None:
    """None when healthy, else the reason to route around this bind."""
    if sample.responses >= policy.min_samples:
        rate = sample.errors / sample.responses
        if rate > policy.max_error_rate:
            return f"{rate:.0%} of the last {sample.responses} submits refused"
    if sample.aged_submitted >= policy.min_samples:
        share = sample.aged_without_receipt / sample.aged_submitted
        if share > policy.max_missing_receipt_share:
            return (f"{share:.0%} of {sample.aged_submitted} messages have no receipt after "
                    f"{policy.receipt_wait_minutes:g} min")
    return None
