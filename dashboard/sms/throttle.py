"""Per-bind rate control, counted in message parts (each part is one submit_sm).

`TokenBucket` enforces a rate; `AdaptiveRate` decides what that rate should
be after the SMSC answered ESME_RTHROTTLED (down to what it accepted when it
was saturated, gently otherwise; back up by a share of the working rate).
Both are global to a bind and take `now` (monotonic seconds) as an argument;
`refill_tokens` is the same idea for a campaign's throughput cap, kept in the
database. The sender waits on the bucket with the message at the head of its
queue instead of rescheduling individual messages, so order is kept:

    bucket.rate = adaptive.current(now)
    if bucket.take(encoded.segments, now):
        send(...)
    else:
        sleep(bucket.wait_time(encoded.segments, now))
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

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

    def available(self, now: float) -> int:
        """How many single tokens `take(1, ...)` would grant one after another now."""
        self._refill(now)
        return max(0, int(self.tokens + _EPSILON))

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
    settled_tps: float | None  # the rate the last slowdown settled on; None: never throttled
    throttled_since: float | None
    last_throttled_at: float | None
    throttle_events: int


class AdaptiveRate:
    """The rate a bind sends at: the contracted one until the SMSC throttles, then just under what
    the SMSC grants today (docs/architecture.md, "Throttling").

    The bind's loop reports every answer (`on_answers`). A throttling answer lowers the rate only
    when it answers a part sent after the last cut: the 50 throttled answers to a window that was
    already on its way when the rate was cut are one signal, not 50 cuts. How far it is cut
    depends on what the SMSC took over the last second:

    * most of what we sent since it began refusing was refused: the SMSC is saturated, and what
      it took meanwhile is what it grants; the rate goes to `settle` (0.95) of that at once, so a
      contract far above the grant comes down in one step instead of one halving per second;
    * most of it was taken: a probe just above the grant, or throttling that is not about speed at
      all; the rate is cut by `decrease` (a tenth), at most once per `cooldown`.

    Afterwards the rate climbs by `climb_share` per second of the rate that is working, not of the
    contract: it probes gently above the grant and is cut back just under it, so throttled
    answers stay a small share instead of storming every time it climbs (carriers suspend binds
    that keep hammering after throttling).
    """

    WINDOW = 1.0  # seconds of answers that say what the SMSC grants now

    def __init__(
        self,
        contracted_tps: float,
        *,
        floor: float = 1.0,
        decrease: float = 0.9,
        settle: float = 0.95,
        climb_share: float = 0.05,
        cooldown: float = 1.0,
    ) -> None:
        self.contracted_tps = _positive(contracted_tps, "contracted_tps")
        for name, value in (("decrease", decrease), ("settle", settle)):
            if not 0 < value < 1:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        # A floor above the contract would mean sending faster than agreed.
        self.floor = min(_positive(floor, "floor"), self.contracted_tps)
        self.decrease = decrease
        self.settle = settle
        self.climb_share = _positive(climb_share, "climb_share")
        self.cooldown = cooldown
        self.throttle_events = 0
        self._base = self.contracted_tps  # the rate set by the last cut: the one that last worked
        self._cut_at: float | None = None
        self._since: float | None = None
        self._answers: deque[tuple[float, int, int]] = deque()  # (when, taken, throttled)

    def current(self, now: float) -> float:
        """The rate (parts per second) to send at, at time `now`."""
        if self._cut_at is None:
            return self.contracted_tps
        climbed = self._base * (1.0 + self.climb_share) ** max(0.0, now - self._cut_at)
        return min(self.contracted_tps, climbed)

    @property
    def settled_tps(self) -> float | None:
        """The rate the last slowdown settled on (just under the SMSC's grant), or None."""
        return self._base if self._cut_at is not None else None

    def on_answers(self, now: float, taken: int, throttled_sent_at: Sequence[float] = ()) -> bool:
        """Record one batch of submit answers: `taken` not throttled (accepted, or refused for
        another reason), and the send times (monotonic seconds) of the throttled ones. True if
        the rate was cut."""
        self._answers.append((now, taken, len(throttled_sent_at)))
        while self._answers and now - self._answers[0][0] > self.WINDOW:
            self._answers.popleft()
        if not any(self._cut_at is None or sent_at >= self._cut_at for sent_at in throttled_sent_at):
            return False
        rate = self.current(now)
        granted = self._granted(now)
        if granted is not None and self.settle * granted < rate:
            target = self.settle * granted
        elif self._cut_at is not None and now - self._cut_at < self.cooldown:
            return False
        else:
            target = rate * self.decrease
        if rate >= self.contracted_tps:
            self._since = now  # a new slowdown episode starts
        self._base = max(self.floor, target)
        self._cut_at = now
        self.throttle_events += 1
        return True

    MEASURE = 0.1  # seconds of saturation that tell the grant well enough

    def _granted(self, now: float) -> float | None:
        """What the SMSC grants, per second, when it is saturated: since it began refusing, most
        answers were refused, and every one it took was one it had room for. None when it is not
        saturated (or not for long enough to tell)."""
        first = next((i for i, answer in enumerate(self._answers) if answer[2]), None)
        if first is None:
            return None
        since = self._answers[first][0]
        taken = sum(answer[1] for answer in list(self._answers)[first + 1:])
        throttled = sum(answer[2] for answer in list(self._answers)[first:])
        if now - since < self.MEASURE or throttled <= taken:
            return None
        return taken / (now - since)

    def throttled_since(self, now: float) -> float | None:
        """When the current slowdown began, or None when back at the contracted rate."""
        if self._since is None or self.current(now) >= self.contracted_tps:
            return None
        return self._since

    def state(self, now: float) -> RateState:
        """Everything the UI shows about this bind's rate."""
        return RateState(
            contracted_tps=self.contracted_tps,
            current_tps=self.current(now),
            settled_tps=self.settled_tps,
            throttled_since=self.throttled_since(now),
            last_throttled_at=self._cut_at,
            throttle_events=self.throttle_events,
        )


def refill_tokens(tokens: float, refilled_at: datetime | None, now: datetime, rate: float) -> float:
    """A campaign's throughput-cap bucket (kept in its row, shared by every bind and worker): at
    most one second's worth, starting empty so that a launch does not burst."""
    if refilled_at is None:
        return 0.0
    elapsed = max(0.0, (now - refilled_at).total_seconds())
    return min(max(1.0, rate), tokens + elapsed * rate)


def _positive(value: float, name: str) -> float:
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return float(value)
