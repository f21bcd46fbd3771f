"""Retry delays: exponential back-off with jitter.

Jitter spreads the retries of messages that failed together (an SMSC outage
fails thousands at once) so they do not all come back in the same second.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta


def backoff_delay(
    attempt: int,
    *,
    base: float = 1.0,
    factor: float = 2.0,
    cap: float = 300.0,
    jitter: float = 0.2,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after failed attempt number `attempt` (1 = the first try).

    The delay is base × factor^(attempt-1), varied by ±`jitter` (a fraction)
    using `rand()` in [0, 1), and never above `cap`. Near the cap the centre
    is lowered to cap / (1 + jitter) instead of clipping, so capped retries
    stay spread out rather than all landing on exactly `cap`.
    """
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    if not 0 <= jitter < 1:
        raise ValueError(f"jitter must be in [0, 1), got {jitter}")
    try:
        raw = base * factor ** (attempt - 1)
    except OverflowError:  # factor ** 2000 does not fit a float
        raw = float("inf")
    centre = min(raw, cap / (1 + jitter))
    return max(0.0, centre * (1 + jitter * (2 * rand() - 1)))


def next_attempt_at(attempt: int, now: datetime, **kw: float | Callable[[], float]) -> datetime:
    """When to try again after failed attempt `attempt`: `now` + backoff_delay(attempt, **kw)."""
    return now + timedelta(seconds=backoff_delay(attempt, **kw))  # type: ignore[arg-type]
