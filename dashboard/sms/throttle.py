"""Per-bind rate control, counted in message parts (each part is one submit_sm).

`TokenBucket` enforces a rate; `AdaptiveRate` decides what that rate should
be after the SMSC answered ESME_RTHROTTLED (additive increase, multiplicative
decrease). Both are global to a bind and take `now` (monotonic seconds) as an
argument. The sender waits on the bucket with the message at the head of its
queue instead of rescheduling individual messages, so order is kept:

    bucket.rate = adaptive.current(now)
    if bucket.take(encoded.segments, now):
        send(...)
    else:
        sleep(bucket.wait_time(encoded.segments, now))
"""

from __future__ import annotations

from dataclasses import dataclass

# Floating-point slack so that waiting exactly wait_time() is always enough.
_EPSILON = 1e-9


class TokenBucket:
    """Token bucket with all-or-nothing takes of several tokens.

    `burst` (the bucket size) defaults to max(1, rate) and then follows rate
    changes, so after a slowdown an idle bind cannot burst at the old rate.
    A message with more parts than `burst` is let through once the bucket is
    full and leaves it in debt, so the long-run rate still holds.
    """

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if burst is not None and burst <= 0:
            raise ValueError(f"burst must be positive, got {burst}")
        self._auto_burst = burst is None
        self._rate = _positive(rate, "rate")
        self.burst = float(burst) if burst is not None else max(1.0, self._rate)
        self.tokens = self.burst
        self._last: float | None = None

    @property
    def rate(self) -> float:
        """Tokens (parts) per second."""
        return self._rate

    @rate.setter
    def rate(self, value: float) -> None:
        self._rate = _positive(value, "rate")
        if self._auto_burst:
            self.burst = max(1.0, self._rate)
            self.tokens = min(self.tokens, self.burst)

    def _refill(self, now: float) -> None:
        if self._last is not None and now > self._last:
            self.tokens = min(self.burst, self.tokens + (now - self._last) * self._rate)
        # A clock that steps backwards must not mint tokens later.
        if self._last is None or now > self._last:
            self._last = now

    def _needed(self, n: int) -> float:
        return min(float(n), self.burst)

    def take(self, n: int, now: float) -> bool:
        """Take `n` tokens if they are all available; otherwise take none."""
        if n < 0:
            raise ValueError(f"cannot take {n} tokens")
        self._refill(now)
        if self.tokens + _EPSILON < self._needed(n):
            return False
        self.tokens -= n
        return True

    def wait_time(self, n: int, now: float) -> float:
        """Seconds until `take(n, ...)` would succeed (0.0 if it would now)."""
        self._refill(now)
        missing = self._needed(n) - self.tokens
        return max(0.0, missing / self._rate)


@dataclass(frozen=True)
class RateState:
    """A snapshot of an AdaptiveRate, for the bind status page."""

    contracted_tps: float
    current_tps: float
    throttled_since: float | None
    last_throttled_at: float | None
    throttle_events: int


class AdaptiveRate:
    """AIMD sending rate: cut on throttling, climb back while sending is clean.

    `on_throttled` multiplies the rate by `decrease` (never below `floor`),
    counting at most one event per `cooldown` seconds: the 50 throttled
    responses to one window of 50 PDUs are one signal, not 50 halvings.
    Afterwards the rate regains `recover_per_s` × contracted_tps per second
    until it is back at the contracted rate.
    """

    def __init__(
        self,
        contracted_tps: float,
        *,
        floor: float = 1.0,
        decrease: float = 0.5,
        recover_per_s: float = 0.1,
        cooldown: float = 1.0,
    ) -> None:
        self.contracted_tps = _positive(contracted_tps, "contracted_tps")
        if not 0 < decrease < 1:
            raise ValueError(f"decrease must be between 0 and 1, got {decrease}")
        # A floor above the contract would mean sending faster than agreed.
        self.floor = min(_positive(floor, "floor"), self.contracted_tps)
        self.decrease = decrease
        self.recover_per_s = _positive(recover_per_s, "recover_per_s")
        self.cooldown = cooldown
        self.throttle_events = 0
        self._base = self.contracted_tps
        self._base_at: float | None = None
        self._last_event: float | None = None
        self._since: float | None = None

    def current(self, now: float) -> float:
        """The rate (parts per second) to send at, at time `now`."""
        if self._base_at is None:
            return self.contracted_tps
        regained = self.recover_per_s * self.contracted_tps * max(0.0, now - self._base_at)
        return min(self.contracted_tps, self._base + regained)

    def on_throttled(self, now: float) -> bool:
        """Record a throttling response; True if it lowered the rate."""
        if self._last_event is not None and now - self._last_event < self.cooldown:
            return False
        rate = self.current(now)
        if rate >= self.contracted_tps:
            self._since = now  # a new slowdown episode starts
        self._base = max(self.floor, rate * self.decrease)
        self._base_at = now
        self._last_event = now
        self.throttle_events += 1
        return True

    def throttled_since(self, now: float) -> float | None:
        """When the current slowdown began, or None when at the contracted rate."""
        if self._since is None or self.current(now) >= self.contracted_tps:
            return None
        return self._since

    def state(self, now: float) -> RateState:
        """Everything the UI shows about this bind's rate."""
        return RateState(
            contracted_tps=self.contracted_tps,
            current_tps=self.current(now),
            throttled_since=self.throttled_since(now),
            last_throttled_at=self._last_event,
            throttle_events=self.throttle_events,
        )


def _positive(value: float, name: str) -> float:
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return float(value)
