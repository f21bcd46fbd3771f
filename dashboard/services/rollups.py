"""The rollup job: per-minute aggregates of the traffic, kept up to date from what changed since
the last run, never from a scan of the message table.

What changed is read from the message timeline (`message_event`, append-only): each fact the
rollups count has exactly one event, written in the transaction that made it true
(dashboard/services/sending/record.py):

  a part accepted     its `submit_sm_resp` with the part's `submitted_at` at the event's time:
                      parts, the message's first part (submitted), cost, submit latency
  refused, throttled  a `submit_sm_resp` with another status, or a `response_timeout`
  an outcome          the `status` event that moved the message to delivered or a failure:
                      the outcome, its failure reason, receipt latency (submit → final receipt)
                      and delivery time (queued → delivered)

The database adds up each run's events (GROUP BY in SQL; Python sees only the grouped rows) and
the deltas are added into the rollup tables, in the same transaction as the cursor's move: a
crash anywhere leaves both as they were, and the next run counts the same events once.

The cursor is not a plain "last id": on PostgreSQL ids are taken before commit, so a transaction
can commit after one with a higher id. Ids below the cursor that are not visible yet are kept as
gaps and looked for again on every run, until PostgreSQL's snapshot shows that no transaction
that could hold them is still running (then they were rolled back, and never come). On SQLite
writers take turns: an id below the highest committed one is never committed later.

A message's outcome can change once more after it is final (a late receipt for a part of a
message that had expired: expired → partially delivered). Then the earlier outcome is taken out
of its own period and the new one added, so the rollups always agree with the message table.

Minutes older than ROLLUP_MINUTE_HOURS are folded into hourly rows.

Runs take turns: a batch and a fold each begin by locking the cursor row. Normally only the
leader's job runs (dashboard/worker/scheduler.py), but a leader handing over, the demo loader or
an operator's own call may overlap it. A batch reads under one snapshot (REPEATABLE READ on
PostgreSQL), so when it waited for another run, PostgreSQL refuses its writes as a serialization
failure: the batch is rolled back and read again from the new cursor, never counted twice.
"""
from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    delete,
    func,
    literal,
    null,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import aliased

from dashboard.extensions import db
from dashboard.models import Message, MessageEvent, MessagePart, RollupCursor
from dashboard.models.rollup import (
    COUNTS,
    DELIVERY_TIME,
    DIMENSIONS,
    KEY,
    MEASURES,
    RECEIPT_LATENCY,
    SUBMIT_LATENCY,
    failure_rollup,
    spend_rollup,
    traffic_rollup,
)
from dashboard.services.sqlexpr import count_where, epoch_bucket, is_postgresql, region_prefix, seconds_between
from dashboard.sms import lifecycle as lc
from dashboard.sms.regions import RegionCache
from dashboard.sms.smpp_status import THROTTLING
from dashboard.sms.traffic import (
    LATENCY_BOUNDS,
    ONE_TIME_CODE,
    SUBMIT_BOUNDS,
    TRANSACTIONAL_PRIORITY,
    failure_reason,
)

E = MessageEvent.__table__
M = Message.__table__
P = MessagePart.__table__
CURSOR = "traffic"
BATCH_EVENTS = 100_000
# A gap is judged by PostgreSQL's snapshot only once it is this old: the transaction that took
# the id has had time to get its transaction id (it may take the id a moment before).
GAP_SETTLE_SECONDS = 2.0
SERIALIZATION_FAILURE = "40001"  # PostgreSQL's SQLSTATE: a row changed after this snapshot was taken
OUTCOME_STATES = tuple(sorted(lc.OUTCOMES))
# Failures that never reached a receipt: no receipt latency for them.
NO_RECEIPT_REASONS = ("validity passed", "gave up (attempts spent)", "cannot be encoded")


@dataclass
class RunResult:
    events: int = 0  # timeline events read this run
    caught_up: bool = True
    gaps: int = 0  # ids still awaited
    coarsened: int = 0  # minute rows folded into hours


def message_kind() -> ColumnElement:
    """dashboard.sms.traffic.message_type, in SQL."""
    return case((or_(M.c.purpose == ONE_TIME_CODE, M.c.priority < TRANSACTIONAL_PRIORITY), literal(ONE_TIME_CODE)),
                (M.c.priority <= TRANSACTIONAL_PRIORITY, literal("transactional")), else_=literal("marketing"))


def _bucket_case(seconds: ColumnElement, bounds) -> ColumnElement:
    return case(*((seconds <= bound, i) for i, bound in enumerate(bounds)), else_=len(bounds))


# ----------------------------------------------------------------------------- the run


def run(now: datetime, minute_hours: float, batch: int = BATCH_EVENTS, budget_seconds: float = 2.0) -> RunResult:
    """Roll up what the timeline gained since the last run, in batches of `batch` events, each
    committed with the cursor, for up to `budget_seconds`; then fold old minutes into hours."""
    result = RunResult()
    deadline = time.monotonic() + budget_seconds
    horizon = now - timedelta(hours=minute_hours)
    if db.session.get(RollupCursor, CURSOR) is None:
        db.session.execute(_on_conflict_nothing(RollupCursor.__table__).values(name=CURSOR, last_id=0, gaps=[]))
    db.session.commit()  # each batch is a transaction of its own, from its first statement
    while True:
        batch_result = _run_batch(now, horizon, batch)
        if batch_result is not None:
            read, more, gaps = batch_result
            result.events += read
            result.gaps = gaps
        else:  # another run moved the cursor meanwhile: read again from where it left it
            more = True
        if not more or time.monotonic() >= deadline:
            result.caught_up = not more
            break
    result.coarsened = coarsen(now, minute_hours)
    return result


def _run_batch(now: datetime, horizon: datetime, batch: int) -> tuple[int, bool, int] | None:
    """One batch in one transaction: (events read, more to read, gaps awaited), or None when
    another run got in first and this one was rolled back."""
    if is_postgresql():
        # One snapshot for the whole batch: the events summed, the holes found and the snapshot's
        # horizon must all describe the same moment (READ COMMITTED gives each statement its own).
        db.session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    try:
        return _count_batch(now, horizon, batch)
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != SERIALIZATION_FAILURE:
            raise
        db.session.rollback()
        return None


def _count_batch(now: datetime, horizon: datetime, batch: int) -> tuple[int, bool, int] | None:
    cursor = _lock_cursor()
    snapshot = _snapshot()
    start, gaps = cursor.last_id, list(cursor.gaps or [])
    newest = db.session.scalar(select(func.max(E.c.id)).where(E.c.id > start))
    upper = min(newest, start + batch) if newest else start
    gap_ids = [gap["id"] for gap in gaps]
    window = and_(E.c.id > start, E.c.id <= upper)
    selector = or_(window, E.c.id.in_(gap_ids)) if gap_ids else window
    deltas = Deltas(horizon)
    read = 0
    if upper > start or gap_ids:
        read = _responses(selector, deltas)
        outcomes, previous = _outcomes(selector, deltas, sign=1)
        read += outcomes
        if previous:
            _outcomes(E.c.id.in_(previous), deltas, sign=-1)
    found = set(db.session.scalars(select(E.c.id).where(E.c.id.in_(gap_ids)))) if gap_ids else set()
    waiting = [gap for gap in gaps if gap["id"] not in found] + [
        {"id": hole, "seen": now.isoformat(), "horizon": None} for hole in _holes(start, upper)]
    waiting = _still_awaited(waiting, snapshot, now)
    deltas.write()
    moved = db.session.execute(
        update(RollupCursor.__table__).where(RollupCursor.name == CURSOR, RollupCursor.last_id == start)
        .values(last_id=upper, gaps=waiting, updated_at=now)).rowcount
    if moved != 1:  # another run moved it meanwhile (SQLite): its counts stand, ours are undone
        db.session.rollback()
        return None
    db.session.commit()
    return read, newest is not None and newest > upper, len(waiting)


def _lock_cursor() -> RollupCursor:
    """The cursor, locked until this transaction ends: runs take turns (FOR UPDATE is left out on
    SQLite, where writers take turns anyway)."""
    return db.session.execute(select(RollupCursor).where(RollupCursor.name == CURSOR).with_for_update()
                              .execution_options(populate_existing=True)).scalar_one()


def _snapshot() -> tuple[int, int] | None:
    """(xmin, xmax) of this transaction's snapshot on PostgreSQL: every transaction id below xmin
    has ended; none at or above xmax had started. None on SQLite."""
    if not is_postgresql():
        return None
    row = db.session.execute(text(
        "SELECT pg_snapshot_xmin(pg_current_snapshot())::text, pg_snapshot_xmax(pg_current_snapshot())::text")).one()
    return int(row[0]), int(row[1])


def _holes(start: int, upper: int) -> list[int]:
    """Ids in (start, upper] that this snapshot does not see."""
    if upper <= start:
        return []
    present = db.session.scalar(select(func.count()).select_from(E).where(E.c.id > start, E.c.id <= upper))
    if present == upper - start:
        return []  # the usual case, answered from the primary key alone
    ids = select(E.c.id, func.lead(E.c.id).over(order_by=E.c.id).label("following")).where(
        E.c.id > start, E.c.id <= upper).subquery()
    first = db.session.scalar(select(func.min(E.c.id)).where(E.c.id > start, E.c.id <= upper))
    holes = list(range(start + 1, first if first is not None else upper + 1))
    for current, following in db.session.execute(select(ids.c.id, ids.c.following).where(
            ids.c.following > ids.c.id + 1)):
        holes.extend(range(current + 1, following))
    return holes


def _still_awaited(gaps: list[dict], snapshot: tuple[int, int] | None, now: datetime) -> list[dict]:
    """The gaps that may still fill. On SQLite none can (writers take turns, so an id below a
    committed one is never committed later). On PostgreSQL a gap is given up once a snapshot
    shows every transaction that could hold it ended: its horizon is the next transaction id as
    of GAP_SETTLE_SECONDS after it was seen, and it is done when the oldest running one is past it."""
    if snapshot is None:
        return []
    xmin, xmax = snapshot
    kept = []
    for gap in gaps:
        if gap["horizon"] is None:
            if (now - datetime.fromisoformat(gap["seen"])).total_seconds() >= GAP_SETTLE_SECONDS:
                gap = {**gap, "horizon": xmax}
            kept.append(gap)
        elif xmin < gap["horizon"]:
            kept.append(gap)
    return kept


# ----------------------------------------------------------------------------- what the events say


def _dimensions(bind_column) -> list:
    return [bind_column, region_prefix(M.c.destination), func.min(M.c.destination), M.c.campaign_id, M.c.source,
            message_kind()]


def _responses(selector, deltas: Deltas) -> int:
    """Submit responses and time-outs, in one pass over the batch's events and their parts: a part
    accepted (its `submit_sm_resp` at the part's `submitted_at`), or a response that was a problem
    (throttled, refused) or never came. Each response lands in one class; the command status is
    read from the event only for those that were not the part's acceptance."""
    minute = epoch_bucket(E.c.at, 60)
    timeout = E.c.kind == "response_timeout"
    accepted = and_(~timeout, P.c.submitted_at == E.c.at)
    status = E.c.detail["command_status"].as_integer()
    kind_of = case((accepted, literal("accepted")), (timeout, literal("timeouts")),
                   (status.in_(sorted(THROTTLING)), literal("throttled")), (status != 0, literal("refused")),
                   else_=null())  # a later response to a part accepted already: counted by its first
    latency = seconds_between(P.c.submitting_at, P.c.submitted_at)
    latency_bucket = case((accepted, _bucket_case(func.coalesce(latency, 0.0), SUBMIT_BOUNDS)), else_=null())
    dims = _dimensions(P.c.bind_id)
    rows = db.session.execute(
        select(minute, *dims, kind_of, P.c.currency, latency_bucket, func.count(), count_where(P.c.part_no == 1),
               func.sum(P.c.price), func.sum(func.coalesce(latency, 0.0)))
        .select_from(E.join(P, and_(P.c.message_id == E.c.message_id, P.c.part_no == E.c.part_no))
                     .join(M, M.c.id == E.c.message_id))
        .where(selector, E.c.kind.in_(("submit_sm_resp", "response_timeout")))
        .group_by(minute, *[d for i, d in enumerate(dims) if i != 2], kind_of, P.c.currency, latency_bucket)).all()
    count = 0
    for period, *key, kind, currency, bucket, parts, firsts, amount, latency_sum in rows:
        if kind is None:
            continue
        row = deltas.traffic(period, key)
        count += parts
        if kind != "accepted":
            row[kind] += parts
            continue
        row["parts"] += parts
        row["submitted"] += firsts
        row[SUBMIT_LATENCY[bucket]] += parts
        row["sl_sum"] += float(latency_sum or 0)
        deltas.spend(period, key, currency or "", parts, Decimal(str(amount or 0)))
    return count


def _outcome_columns():
    status = E.c.detail["status"].as_string()
    receipt = seconds_between(M.c.submitted_at, E.c.at)
    queued = seconds_between(M.c.created_at, E.c.at)
    return status, receipt, queued


def _outcomes(selector, deltas: Deltas, sign: int) -> tuple[int, list[int]]:
    """Final outcomes: added (sign 1), or taken out again where a later one replaced them (-1).
    Returns how many, and (when adding) the events of the earlier outcomes these replace."""
    minute = epoch_bucket(E.c.at, 60)
    status, receipt, queued = _outcome_columns()
    reason = E.c.detail["reason"].as_string()
    receipt_bucket = case((M.c.submitted_at.is_(None), null()), else_=_bucket_case(receipt, LATENCY_BOUNDS))
    delivery_bucket = _bucket_case(queued, LATENCY_BOUNDS)
    replaced = _earlier_outcome()
    dims = _dimensions(M.c.bind_id)
    rows = db.session.execute(
        select(minute, *dims, status, reason, receipt_bucket, delivery_bucket, replaced, func.count(),
               func.sum(case((M.c.submitted_at.is_(None), 0.0), else_=receipt)))
        .select_from(E.join(M, M.c.id == E.c.message_id))
        .where(selector, E.c.kind == "status", status.in_(OUTCOME_STATES))
        .group_by(minute, *[d for i, d in enumerate(dims) if i != 2], status, reason, receipt_bucket,
                  delivery_bucket, replaced)).all()
    count, previous = 0, []
    for period, *key, outcome, why, receipt_at, delivered_in, earlier, n, receipt_sum in rows:
        key = key[:6]
        row = deltas.traffic(period, key)
        if earlier is not None and sign == 1:
            previous.append(earlier)
        n *= sign
        if outcome == lc.DELIVERED:
            row["delivered"] += n
            row[DELIVERY_TIME[delivered_in]] += n
        else:
            row["failed"] += n
            label = failure_reason(outcome, why)
            deltas.failure(period, key, label, n)
        if receipt_at is not None and (outcome == lc.DELIVERED or failure_reason(outcome, why) not in NO_RECEIPT_REASONS):
            row[RECEIPT_LATENCY[receipt_at]] += n
            row["rl_sum"] += sign * float(receipt_sum or 0)
        count += abs(n)
    return count, previous


def _earlier_outcome() -> ColumnElement:
    """For an outcome that replaces an earlier outcome of the same message, the id of the event of
    that earlier outcome; NULL for the rest. Only a message of several parts can end twice (a
    part's late receipt after the message gave up), so only those look (the CASE runs the
    subquery for them alone), and an outcome that replaces none stays in its group."""
    earlier = aliased(E)
    before = (select(func.max(earlier.c.id))
              .where(earlier.c.message_id == E.c.message_id, earlier.c.id < E.c.id, earlier.c.kind == "status",
                     earlier.c.detail["status"].as_string().in_(OUTCOME_STATES))
              .scalar_subquery())
    return case((M.c.segments > 1, before), else_=null())


# ----------------------------------------------------------------------------- adding deltas up


class Deltas:
    """What one batch adds to each rollup row, by key; events older than the minute horizon go
    straight to their hour."""

    def __init__(self, horizon: datetime) -> None:
        self.horizon = int(horizon.timestamp())
        self.regions = RegionCache()
        self.rows: dict[tuple, dict] = {}
        self.spends: dict[tuple, list] = {}
        self.failures: dict[tuple, int] = defaultdict(int)

    def _key(self, period: int, key: list) -> tuple:
        bind_id, _prefix, sample, campaign_id, sender, kind = key
        resolution = 60 if period >= self.horizon else 3600
        start = datetime.fromtimestamp(int(period) // resolution * resolution, tz=timezone.utc)
        return (start, resolution, bind_id or 0, self.regions.region(sample) if sample else "", campaign_id or 0,
                sender or "", kind)

    def traffic(self, period: int, key: list) -> dict:
        full = self._key(period, key)
        row = self.rows.get(full)
        if row is None:
            row = self.rows[full] = dict.fromkeys(COUNTS, 0) | {"rl_sum": 0.0, "sl_sum": 0.0}
        return row

    def spend(self, period: int, key: list, currency: str, parts: int, amount: Decimal) -> None:
        totals = self.spends.setdefault((*self._key(period, key), currency), [0, Decimal("0")])
        totals[0] += parts
        totals[1] += amount

    def failure(self, period: int, key: list, reason: str, n: int) -> None:
        self.failures[(*self._key(period, key), reason)] += n

    def write(self) -> None:
        _add_into(traffic_rollup, KEY, MEASURES, [dict(zip(KEY, key)) | values for key, values in self.rows.items()])
        _add_into(spend_rollup, (*KEY, "currency"), ("parts", "amount"),
                  [dict(zip((*KEY, "currency"), key)) | {"parts": parts, "amount": amount}
                   for key, (parts, amount) in self.spends.items()])
        _add_into(failure_rollup, (*KEY, "reason"), ("count",),
                  [dict(zip((*KEY, "reason"), key)) | {"count": n} for key, n in self.failures.items() if n])


def _on_conflict_nothing(table):
    dialect_insert = postgresql.insert if is_postgresql() else sqlite.insert
    return dialect_insert(table).on_conflict_do_nothing()


def _add_into(table, key: tuple[str, ...], measures: Iterable[str], rows: list[dict]) -> None:
    """INSERT each row, or add its measures into the row already there (an upsert)."""
    if not rows:
        return
    dialect_insert = postgresql.insert if is_postgresql() else sqlite.insert
    statement = dialect_insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=list(key),
        set_={name: table.c[name] + statement.excluded[name] for name in measures})
    db.session.execute(statement, rows)


# ----------------------------------------------------------------------------- coarsening


def coarsen(now: datetime, minute_hours: float, max_hours: int = 48) -> int:
    """Fold minute rows older than `minute_hours` into their hours (up to `max_hours` hours of
    them per call), in one transaction per table set: the hour gains exactly what the minutes
    held. Returns the minute rows folded."""
    _lock_cursor()  # two folds at once would both add the same minutes into the hour
    cutoff = datetime.fromtimestamp(int((now - timedelta(hours=minute_hours)).timestamp()) // 3600 * 3600,
                                    tz=timezone.utc)
    oldest = db.session.scalar(select(func.min(traffic_rollup.c.period_start)).where(
        traffic_rollup.c.resolution == 60, traffic_rollup.c.period_start < cutoff))
    oldest_spend = db.session.scalar(select(func.min(spend_rollup.c.period_start)).where(
        spend_rollup.c.resolution == 60, spend_rollup.c.period_start < cutoff))
    oldest = min(filter(None, (oldest, oldest_spend)), default=None)
    if oldest is None:
        db.session.commit()  # lets the cursor go
        return 0
    until = min(cutoff, oldest + timedelta(hours=max_hours))
    folded = 0
    for table, key, measures in ((traffic_rollup, KEY, MEASURES), (spend_rollup, (*KEY, "currency"), ("parts", "amount")),
                                 (failure_rollup, (*KEY, "reason"), ("count",))):
        extra = [c for c in key if c not in KEY]
        hour = epoch_bucket(table.c.period_start, 3600)
        old = and_(table.c.resolution == 60, table.c.period_start < until)
        groups = db.session.execute(
            select(hour, *[table.c[d] for d in DIMENSIONS], *[table.c[c] for c in extra],
                   *[func.sum(table.c[m]) for m in measures], func.count())
            .where(old).group_by(hour, *[table.c[d] for d in DIMENSIONS], *[table.c[c] for c in extra])).all()
        rows = []
        for start, *rest in groups:
            dims = rest[:len(DIMENSIONS) + len(extra)]
            sums = rest[len(dims):len(dims) + len(tuple(measures))]
            folded += rest[-1]
            rows.append({"period_start": datetime.fromtimestamp(start, tz=timezone.utc), "resolution": 3600,
                         **dict(zip((*DIMENSIONS, *extra), dims)), **dict(zip(measures, sums))})
        _add_into(table, key, measures, rows)
        db.session.execute(delete(table).where(old))
    db.session.commit()
    return folded
