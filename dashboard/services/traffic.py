"""What the rollups say: traffic over a chart's range, totals for a period, today's latency
targets, carrier health. Every figure is read from the rollup tables (dashboard/services/
rollups.py writes them), never from the message table, so pages cost the same at a million
messages as at a hundred.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from decimal import Decimal

from sqlalchemy import case, func, select

from dashboard.extensions import db
from dashboard.models import LatencyTargetRow, Message, RollupCursor, failure_rollup, spend_rollup, traffic_rollup
from dashboard.models.rollup import DELIVERY_TIME, RECEIPT_LATENCY, SUBMIT_LATENCY
from dashboard.services import audit
from dashboard.services.rollups import CURSOR
from dashboard.services.sqlexpr import epoch_bucket
from dashboard.sms import lifecycle as lc
from dashboard.sms.money import MoneyTotals
from dashboard.sms.traffic import (
    LATENCY_BOUNDS,
    MESSAGE_TYPES,
    SUBMIT_BOUNDS,
    TYPE_LABELS,
    ChartRange,
    LatencyTarget,
    percentile,
    rate,
    share_met,
    share_within,
    step_for,
    step_starts,
)

TOTALS = ("submitted", "parts", "throttled", "refused", "timeouts", "delivered", "failed")


@dataclass(frozen=True)
class Scope:
    """Whose traffic: everything, one bind's, or one campaign's."""
    kind: str = "all"  # all | bind | campaign
    id: int = 0

    def where(self, table) -> list:
        if self.kind == "bind":
            return [table.c.bind_id == self.id]
        if self.kind == "campaign":
            return [table.c.campaign_id == self.id]
        return []

    @property
    def slug(self) -> str:
        return "all" if self.kind == "all" else f"{self.kind}-{self.id}"


@dataclass
class Step:
    start: datetime
    counts: Counter = field(default_factory=Counter)
    receipt: list[int] = field(default_factory=lambda: [0] * len(RECEIPT_LATENCY))
    cost: MoneyTotals = field(default_factory=MoneyTotals)
    failures: Counter = field(default_factory=Counter)

    @property
    def delivery_rate(self) -> float | None:
        return rate(self.counts["delivered"], self.counts["delivered"] + self.counts["failed"])

    def latency(self, q: float) -> float | None:
        return percentile(self.receipt, LATENCY_BOUNDS, q)


@dataclass
class Series:
    """One point per step of a chart's range."""
    steps: list[Step]
    step: timedelta
    currencies: list[str]
    reasons: list[str]  # failure reasons, most frequent first

    @property
    def empty(self) -> bool:
        return not any(s.counts["parts"] or s.counts["delivered"] or s.counts["failed"] or s.cost or s.failures
                       for s in self.steps)

    def total(self, name: str) -> int:
        return sum(s.counts[name] for s in self.steps)


def coarser(data: Series, step: timedelta) -> Series:
    """The same series in steps of `step` (a whole number of its own), each the sum of the steps
    that start within it, aligned to whole `step`s since the epoch (bar charts)."""
    if step <= data.step:
        return data
    size = int(step.total_seconds())
    merged: dict[int, Step] = {}
    for point in data.steps:
        key = int(point.start.timestamp()) // size * size
        into = merged.get(key)
        if into is None:
            into = merged[key] = Step(datetime.fromtimestamp(key, tz=timezone.utc))
        into.counts.update(point.counts)
        into.receipt = [a + b for a, b in zip(into.receipt, point.receipt)]
        into.cost += point.cost
        into.failures.update(point.failures)
    return Series(list(merged.values()), step, data.currencies, data.reasons)


def minute_horizon(now: datetime, minute_hours: float) -> datetime:
    return now - timedelta(hours=minute_hours)


TABLES = ("traffic", "spend", "failures")


def series(scope: Scope, chart: ChartRange, now: datetime, minute_hours: float,
           start: datetime | None = None, tables: tuple[str, ...] = TABLES) -> Series:
    """The scope's traffic over the range ending now (or from `start`, a campaign's run), one step
    at a time: counts, receipt latency, cost by currency, failures by reason (read from the
    rollup `tables` asked for only)."""
    step = step_for(chart, now, minute_horizon(now, minute_hours))
    starts = step_starts(now, now - start if start else chart.span, step)
    size = int(step.total_seconds())
    steps = {int(s.timestamp()): Step(s) for s in starts}
    first = starts[0]

    def at(period) -> Step | None:
        return steps.get(int(period))

    # Summed per step by the database: Python sees one row per step (and currency or reason),
    # not one per rollup row.
    t = traffic_rollup
    bucket = epoch_bucket(t.c.period_start, size)
    for row in db.session.execute(
            select(bucket, *[func.sum(t.c[n]) for n in TOTALS], *[func.sum(t.c[n]) for n in RECEIPT_LATENCY])
            .where(t.c.period_start >= first, *scope.where(t)).group_by(bucket)) if "traffic" in tables else ():
        point = at(row[0])
        if point is None:
            continue
        for name, value in zip(TOTALS, row[1:1 + len(TOTALS)]):
            point.counts[name] += int(value or 0)
        for i, value in enumerate(row[1 + len(TOTALS):]):
            point.receipt[i] += int(value or 0)
    s = spend_rollup
    bucket = epoch_bucket(s.c.period_start, size)
    currencies: Counter = Counter()
    for period, currency, amount in db.session.execute(
            select(bucket, s.c.currency, func.sum(s.c.amount))
            .where(s.c.period_start >= first, *scope.where(s)).group_by(bucket, s.c.currency)
    ) if "spend" in tables else ():
        point = at(period)
        if point is not None and currency:
            point.cost.add(currency, amount)
            currencies[currency] += 1
    f = failure_rollup
    bucket = epoch_bucket(f.c.period_start, size)
    reasons: Counter = Counter()
    for period, reason, count in db.session.execute(
            select(bucket, f.c.reason, func.sum(f.c.count))
            .where(f.c.period_start >= first, *scope.where(f)).group_by(bucket, f.c.reason)
    ) if "failures" in tables else ():
        point = at(period)
        if point is not None and count:
            point.failures[reason] += int(count)
            reasons[reason] += int(count)
    return Series(list(steps.values()), step, [c for c, _ in currencies.most_common()],
                  [r for r, _ in reasons.most_common()])


# ----------------------------------------------------------------------------- totals


@dataclass
class Totals:
    counts: Counter
    cost: MoneyTotals
    receipt: list[int]
    submit: list[int]

    @property
    def delivery_rate(self) -> float | None:
        return rate(self.counts["delivered"], self.counts["delivered"] + self.counts["failed"])

    def receipt_latency(self, q: float) -> float | None:
        return percentile(self.receipt, LATENCY_BOUNDS, q)

    def submit_latency(self, q: float) -> float | None:
        return percentile(self.submit, SUBMIT_BOUNDS, q)


def totals(scope: Scope, since: datetime, until: datetime | None = None) -> Totals:
    """Everything the scope did from `since` (to `until`): counts, cost by currency, latencies."""
    t = traffic_rollup
    when = [t.c.period_start >= since] + ([t.c.period_start < until] if until else [])
    row = db.session.execute(select(*[func.sum(t.c[n]) for n in (*TOTALS, *RECEIPT_LATENCY, *SUBMIT_LATENCY)])
                             .where(*when, *scope.where(t))).one()
    values = [int(v or 0) for v in row]
    counts = Counter(dict(zip(TOTALS, values)))
    receipt = values[len(TOTALS):len(TOTALS) + len(RECEIPT_LATENCY)]
    submit = values[len(TOTALS) + len(RECEIPT_LATENCY):]
    return Totals(counts, spend(scope, since, until), receipt, submit)


def spend(scope: Scope, since: datetime | None = None, until: datetime | None = None) -> MoneyTotals:
    """Money spent by currency (prices recorded at send time: docs/architecture.md #10)."""
    s = spend_rollup
    when = ([s.c.period_start >= since] if since else []) + ([s.c.period_start < until] if until else [])
    return MoneyTotals(db.session.execute(select(s.c.currency, func.sum(s.c.amount))
                                          .where(*when, *scope.where(s), s.c.currency != "")
                                          .group_by(s.c.currency)).all())


def spend_month_and_day(now: datetime) -> tuple[MoneyTotals, MoneyTotals]:
    """This month's and today's spend by currency, in one pass over the month's rollups."""
    s = spend_rollup
    today = start_of_day(now)
    month, day = MoneyTotals(), MoneyTotals()
    for currency, whole, part in db.session.execute(
            select(s.c.currency, func.sum(s.c.amount), func.sum(case((s.c.period_start >= today, s.c.amount))))
            .where(s.c.period_start >= start_of_month(now), s.c.currency != "").group_by(s.c.currency)):
        month.add(currency, whole)
        day.add(currency, part)
    return month, day


def start_of_day(now: datetime) -> datetime:
    return datetime.combine(now.date(), time.min, tzinfo=timezone.utc)


def start_of_month(now: datetime) -> datetime:
    return datetime(now.year, now.month, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class DayTraffic:
    day: str
    submitted: int
    delivered: int
    failed: int
    parts: int
    cost: MoneyTotals

    @property
    def delivered_pct(self) -> float | None:
        return rate(self.delivered, self.delivered + self.failed)


def _date(epoch) -> str:
    return datetime.fromtimestamp(int(epoch), tz=timezone.utc).date().isoformat()


def daily(now: datetime, days: int = 7) -> list[DayTraffic]:
    """Each of the last `days` UTC days, today included: messages sent (first part accepted),
    outcomes, parts and cost, as the rollups counted them on the day they happened."""
    first = start_of_day(now) - timedelta(days=days - 1)
    t, s = traffic_rollup, spend_rollup
    day = epoch_bucket(t.c.period_start, 86400)
    by_day: dict[str, Counter] = defaultdict(Counter)
    for start, *values in db.session.execute(
            select(day, func.sum(t.c.submitted), func.sum(t.c.delivered), func.sum(t.c.failed),
                   func.sum(t.c.parts)).where(t.c.period_start >= first).group_by(day)):
        by_day[_date(start)].update(dict(zip(("submitted", "delivered", "failed", "parts"),
                                             (int(v or 0) for v in values))))
    costs: dict[str, MoneyTotals] = defaultdict(MoneyTotals)
    day = epoch_bucket(s.c.period_start, 86400)
    for start, currency, amount in db.session.execute(
            select(day, s.c.currency, func.sum(s.c.amount)).where(s.c.period_start >= first, s.c.currency != "")
            .group_by(day, s.c.currency)):
        costs[_date(start)].add(currency, amount)
    result = []
    for offset in range(days):
        key = (first + timedelta(days=offset)).date().isoformat()
        c = by_day[key]
        result.append(DayTraffic(key, c["submitted"], c["delivered"], c["failed"], c["parts"], costs[key]))
    return result


# ----------------------------------------------------------------------------- latency targets


@dataclass(frozen=True)
class TargetToday:
    target: LatencyTarget
    label: str
    within: int
    with_outcome: int

    @property
    def share(self) -> float | None:
        return share_met(self.within, self.with_outcome)

    @property
    def met(self) -> bool | None:
        return None if self.share is None else self.share >= self.target.share


def latency_targets() -> dict[str, LatencyTarget]:
    return {row.kind: LatencyTarget(row.kind, row.seconds, row.share)
            for row in db.session.scalars(select(LatencyTargetRow))}


def targets_since(since: datetime, until: datetime | None = None) -> list[TargetToday]:
    """Per message type: of the messages that ended since `since`, how many were delivered within
    their type's target (a failure misses it)."""
    t = traffic_rollup
    when = [t.c.period_start >= since] + ([t.c.period_start < until] if until else [])
    rows = {kind: values for kind, *values in db.session.execute(
        select(t.c.kind, func.sum(t.c.delivered), func.sum(t.c.failed), *[func.sum(t.c[n]) for n in DELIVERY_TIME])
        .where(*when).group_by(t.c.kind))}
    result = []
    targets = latency_targets()
    for kind in MESSAGE_TYPES:
        if kind not in targets:
            continue
        values = [int(v or 0) for v in rows.get(kind, [0] * (2 + len(DELIVERY_TIME)))]
        within = share_within(values[2:], LATENCY_BOUNDS, targets[kind].seconds)
        result.append(TargetToday(targets[kind], TYPE_LABELS[kind], within, values[0] + values[1]))
    return result


# ----------------------------------------------------------------------------- freshness


def rolled_up_at() -> datetime | None:
    """When the rollup job last ran (None: never): an empty chart says whether that is why."""
    cursor = db.session.get(RollupCursor, CURSOR)
    return cursor.updated_at if cursor else None


def failures_by_reason(scope: Scope, since: datetime, limit: int = 8) -> list[tuple[str, int]]:
    f = failure_rollup
    return [(reason, int(n)) for reason, n in db.session.execute(
        select(f.c.reason, func.sum(f.c.count)).where(f.c.period_start >= since, *scope.where(f))
        .group_by(f.c.reason).order_by(func.sum(f.c.count).desc()).limit(limit)) if n]


def amount(value) -> Decimal:
    return Decimal(str(value or 0))


def set_latency_target(kind: str, seconds: float, share: float, now: datetime) -> None:
    """An admin's new target for a message type (audited): `share` % within `seconds`, one of the
    histogram's bounds so that the share met is read exactly."""
    if kind not in MESSAGE_TYPES:
        raise ValueError(f"unknown message type {kind!r}")
    if seconds not in LATENCY_BOUNDS:
        raise ValueError("choose one of " + ", ".join(f"{b:g}" for b in LATENCY_BOUNDS) + " seconds")
    if not 0 < share <= 100:
        raise ValueError("the share is a percentage above 0 and at most 100")
    row = db.session.get(LatencyTargetRow, kind)
    before = {"seconds": row.seconds, "share": row.share} if row else {}
    if row is None:
        row = LatencyTargetRow(kind=kind, seconds=seconds, share=share, updated_at=now)
        db.session.add(row)
    else:
        row.seconds, row.share, row.updated_at = seconds, share, now
    audit.record("latency_target_set", target_type="latency_target", detail=kind,
                 changes=audit.diff(before, {"seconds": seconds, "share": share}), now=now)
    db.session.commit()


# ----------------------------------------------------------------------------- carrier health


def receipts_missing(now: datetime, late: timedelta, window: timedelta | None = None) -> dict[int, int]:
    """Per bind: messages submitted more than `late` ago (and within `window` before that) still
    without a final receipt. Read from the messages waiting for one (the claim index finds them
    by status), whatever the size of the history."""
    query = select(Message.bind_id, func.count()).where(Message.status == lc.SUBMITTED,
                                                        Message.submitted_at < now - late)
    if window is not None:
        query = query.where(Message.submitted_at >= now - late - window)
    return {bind_id: n for bind_id, n in db.session.execute(query.group_by(Message.bind_id)) if bind_id}


@dataclass(frozen=True)
class BindHealth:
    """A bind at a glance over the last hour: what it sent, what the SMSC refused or throttled,
    how fast receipts came back, and what still waits for one."""
    last_hour: Totals
    last_day: Totals
    missing_receipts: int  # submitted more than `late` ago (over the last day), no final receipt yet
    submitted_before: int  # messages submitted in that same day, up to `late` ago
    late: timedelta

    @property
    def missing_share(self) -> float | None:
        return rate(self.missing_receipts, self.submitted_before)


def bind_health(bind_id: int, now: datetime, late: timedelta) -> BindHealth:
    scope = Scope("bind", bind_id)
    day = timedelta(days=1)
    before = totals(scope, now - late - day, now - late)
    return BindHealth(totals(scope, now - timedelta(hours=1)), totals(scope, now - day),
                      receipts_missing(now, late, day).get(bind_id, 0), before.counts["submitted"], late)
