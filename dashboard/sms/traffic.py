"""Traffic figures as the charts, alerts and /metrics read them: latency histograms and the
percentiles read from them, the short label a failure is counted under, the message types with
their delivery-time targets, and the ranges and steps of the charts. Pure: no Flask, no database.
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

# Upper bounds (seconds) of the latency histogram buckets; one more bucket holds the rest.
# Receipt latency (submit → final receipt) and delivery time (queued → delivered) share them, so a
# delivery-time target is one of these bounds and its share met is read exactly, not interpolated.
LATENCY_BOUNDS: tuple[float, ...] = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 900, 3600)
# submit_sm → submit_sm_resp: milliseconds, not seconds.
SUBMIT_BOUNDS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def bucket_index(seconds: float, bounds: Sequence[float]) -> int:
    """The histogram bucket a duration falls in: the first bound it does not exceed."""
    for i, bound in enumerate(bounds):
        if seconds <= bound:
            return i
    return len(bounds)


def percentile(counts: Sequence[int], bounds: Sequence[float], q: float) -> float | None:
    """The q-quantile (0 < q < 1) of a histogram of per-bucket counts, interpolated linearly
    inside its bucket as Prometheus' histogram_quantile does; None without observations. A
    quantile in the open last bucket is reported as its lower bound (all we know is "above")."""
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for i, count in enumerate(counts):
        if count and seen + count >= rank:
            if i >= len(bounds):
                return float(bounds[-1])
            lower = 0.0 if i == 0 else float(bounds[i - 1])
            return lower + (float(bounds[i]) - lower) * (rank - seen) / count
        seen += count
    return float(bounds[-1])


def share_within(counts: Sequence[int], bounds: Sequence[float], seconds: float) -> int:
    """How many observations were at most `seconds` (which must be one of the bounds)."""
    if seconds not in bounds:
        raise ValueError(f"{seconds:g} s is not a histogram bound: choose one of "
                         + ", ".join(f"{b:g}" for b in bounds))
    return sum(counts[: list(bounds).index(seconds) + 1])


# ----------------------------------------------------------------------------- failure reasons

_REFUSED = re.compile(r"^refused by the SMSC: (\S+)")
_RECEIPT = re.compile(r"^([A-Z]{5,8})(?: \([^)]*\))?(?:, err (\w+))?")


def failure_reason(status: str, reason: str | None) -> str:
    """The short label a failed message is counted under in the failure charts, from the status
    and the reason the sender wrote on its final timeline event (dashboard/sms/receipts.py
    describe_outcome, dashboard/services/sending/record.py): "UNDELIV err 001", "ESME_RINVDSTADR",
    "validity passed", "gave up"… Unknown wording falls back on the status, never on free text."""
    text = (reason or "").strip()
    refused = _REFUSED.match(text)
    if refused:
        return refused.group(1)[:80]
    if text.startswith("validity period passed"):
        return "validity passed"
    if text.startswith("gave up after"):
        return "gave up (attempts spent)"
    if text.startswith("cannot be encoded"):
        return "cannot be encoded"
    receipt = _RECEIPT.match(text)
    if receipt:
        stat, err = receipt.groups()
        return f"{stat} err {err}" if err and err.strip("0") else stat
    return status.replace("_", " ")


# ----------------------------------------------------------------------------- message types

ONE_TIME_CODE = "one_time_code"
TRANSACTIONAL = "transactional"
MARKETING = "marketing"
MESSAGE_TYPES = (ONE_TIME_CODE, TRANSACTIONAL, MARKETING)
TYPE_LABELS = {ONE_TIME_CODE: "One-time codes", TRANSACTIONAL: "Transactional", MARKETING: "Marketing"}
# Queue priorities (dashboard/models/campaign.py KINDS): transactional traffic goes at 10, marketing
# at 100; anything ahead of transactional is a one-time code's lane (the API's verify lane).
TRANSACTIONAL_PRIORITY = 10


def message_type(purpose: str | None, priority: int) -> str:
    """One-time code, transactional or marketing, as the rollups classify a message (their SQL
    mirrors this: dashboard/services/rollups.py)."""
    if purpose == ONE_TIME_CODE or priority < TRANSACTIONAL_PRIORITY:
        return ONE_TIME_CODE
    return TRANSACTIONAL if priority <= TRANSACTIONAL_PRIORITY else MARKETING


@dataclass(frozen=True)
class LatencyTarget:
    """"`share` % of this type's messages delivered within `seconds` of being queued"."""
    kind: str
    seconds: float
    share: float  # percent

    def describe(self) -> str:
        return f"{self.share:g} % delivered within {self.seconds:g} s"


def share_met(delivered_within: int, with_outcome: int) -> float | None:
    """Percent of messages with an outcome that were delivered within the target (a failed
    message misses it); None when nothing had an outcome."""
    return 100.0 * delivered_within / with_outcome if with_outcome else None


# ----------------------------------------------------------------------------- chart ranges

@dataclass(frozen=True)
class ChartRange:
    key: str
    label: str
    span: timedelta
    step: timedelta  # one point per step


RANGES = {r.key: r for r in (
    ChartRange("1h", "1 h", timedelta(hours=1), timedelta(minutes=1)),
    ChartRange("24h", "24 h", timedelta(hours=24), timedelta(minutes=15)),
    ChartRange("7d", "7 d", timedelta(days=7), timedelta(hours=1)),
    ChartRange("30d", "30 d", timedelta(days=30), timedelta(hours=6)),
)}
DEFAULT_RANGE = "24h"


def chart_range(key: str | None) -> ChartRange:
    return RANGES.get(key or "", RANGES[DEFAULT_RANGE])


RUN_STEPS = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1),
             timedelta(hours=6), timedelta(days=1))


def run_range(span: timedelta, most_points: int = 150) -> ChartRange:
    """A campaign's run as a chart range: the finest step that keeps it under `most_points`."""
    step = next((s for s in RUN_STEPS if span / s <= most_points), RUN_STEPS[-1])
    return ChartRange("run", "Its run", span, step)


def step_for(chart: ChartRange, now: datetime, minute_horizon: datetime) -> timedelta:
    """A range reaching back past the minute rollups' horizon (they are hourly beyond it) is drawn
    at least hourly, or the hours would show as spikes between empty minutes."""
    if now - chart.span < minute_horizon and chart.step < timedelta(hours=1):
        return timedelta(hours=1)
    return chart.step


def step_starts(now: datetime, span: timedelta, step: timedelta) -> list[datetime]:
    """The start of each step of a chart ending now, aligned to whole steps since the epoch."""
    size = int(step.total_seconds())
    end = int(now.timestamp()) // size * size
    count = int(span.total_seconds()) // size
    return [datetime.fromtimestamp(end - size * i, tz=timezone.utc) for i in range(count, -1, -1)]


def floor_to(moment: datetime, seconds: int) -> datetime:
    return datetime.fromtimestamp(int(moment.timestamp()) // seconds * seconds, tz=timezone.utc)


def rate(numerator: float, denominator: float) -> float | None:
    """A percentage, or None (a gap in the chart, not a zero) when there is nothing to divide."""
    return 100.0 * numerator / denominator if denominator else None


def is_finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
