"""Alert decisions, apart from the job that acts on them (redash's should_alert): what each rule
kind measures, when a measurement fires or resolves an alert, how a webhook is signed and when a
failed delivery is tried again. Pure: measurements in, decisions out; `now` is passed in.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from dashboard.sms.backoff import backoff_delay

FIRING = "firing"
ACKNOWLEDGED = "acknowledged"
RESOLVED = "resolved"
OPEN = (FIRING, ACKNOWLEDGED)


@dataclass(frozen=True)
class RuleKind:
    key: str
    label: str
    unit: str
    above: bool  # fires when the value is above the threshold (else below)
    scopes: tuple[str, ...]  # which scopes the kind can be narrowed to
    judged_on_volume: bool  # needs min_messages of traffic in its window to judge


RULE_KINDS = {k.key: k for k in (
    RuleKind("delivery_rate", "Delivery rate below", "%", False, ("all", "bind", "country", "campaign"), True),
    RuleKind("cost_per_hour", "Cost over the last hour above", "(currency)", True, ("all", "bind", "campaign"), False),
    RuleKind("bind_down", "Bind not bound for more than", "s", True, ("all", "bind"), False),
    RuleKind("throttling", "Throttled answers in the window above", "answers", True, ("all", "bind"), False),
    RuleKind("errors", "Refused or unanswered submits in the window above", "answers", True, ("all", "bind"), False),
    RuleKind("receipts_missing", "Share without a receipt after RECEIPT_MISSING_MINUTES above", "%", True,
             ("all", "bind"), True),
    RuleKind("latency_target", "A message type misses its delivery-time target today", "%", False,
             ("all",), True),
)}


@dataclass(frozen=True)
class Measurement:
    """What a rule measured for one scope item (a bind, a country…), over its window."""
    item: str  # "" for the whole scope, else "bind:3", "country:US", "campaign:5", "kind:marketing"
    label: str  # for people: "bind “acme”", "US"…
    value: float | None  # None: nothing to measure
    volume: int = 0  # messages the value is judged on
    threshold: float | None = None  # overrides the rule's (a latency target's share)


def breached(kind: RuleKind, value: float, threshold: float) -> bool:
    return value > threshold if kind.above else value < threshold


def should_fire(kind: RuleKind, measurement: Measurement, threshold: float, min_volume: int) -> bool:
    """A rule fires when its value is past the threshold, with enough traffic to judge it."""
    if measurement.value is None:
        return False
    if kind.judged_on_volume and measurement.volume < min_volume:
        return False
    return breached(kind, measurement.value, measurement.threshold if measurement.threshold is not None else threshold)


def should_resolve(kind: RuleKind, measurement: Measurement | None, threshold: float, min_volume: int) -> bool:
    """An open alert resolves when its value is back within the threshold on enough traffic, or
    when there is nothing left to measure (no traffic at all in the window, the item gone)."""
    if measurement is None or measurement.value is None:
        return True
    if kind.judged_on_volume and measurement.volume == 0:
        return True
    if kind.judged_on_volume and measurement.volume < min_volume:
        return False
    return not breached(kind, measurement.value,
                        measurement.threshold if measurement.threshold is not None else threshold)


def describe(kind: RuleKind, measurement: Measurement, threshold: float, window_minutes: int) -> str:
    """One line for the banner, the e-mail and the webhook."""
    limit = measurement.threshold if measurement.threshold is not None else threshold
    value = "—" if measurement.value is None else f"{measurement.value:,.1f}"
    where = f" on {measurement.label}" if measurement.label else ""
    if kind.key == "delivery_rate":
        return (f"Delivery rate{where} {value} % over the last {window_minutes} min "
                f"({measurement.volume} messages with an outcome), below {limit:g} %")
    if kind.key == "cost_per_hour":
        return f"Spent {value}{where} in the last hour, above {limit:g}"
    if kind.key == "bind_down":
        return f"Bind{where} not bound for {value} s, more than {limit:g} s"
    if kind.key == "throttling":
        return f"{value} throttled answers{where} in {window_minutes} min, above {limit:g}"
    if kind.key == "errors":
        return f"{value} refused or unanswered submits{where} in {window_minutes} min, above {limit:g}"
    if kind.key == "receipts_missing":
        return f"{value} % of messages{where} still without a receipt, above {limit:g} %"
    return f"{measurement.label}: {value} % met the delivery-time target today, below {limit:g} %"


# ----------------------------------------------------------------------------- delivery

WEBHOOK_ATTEMPTS = 12  # with the back-off below: about 17 hours of retries


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 over "<timestamp>.<body>" (as Stripe signs its webhooks): a receiver checks it
    and refuses an old timestamp, so a captured call cannot be replayed later."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def retry_in(attempts: int) -> float:
    """Seconds before the next try of a notification that failed `attempts` times."""
    return backoff_delay(attempts, base=30.0, cap=4 * 3600.0)
