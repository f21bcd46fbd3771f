"""The rollups against the message table they summarise: after real traffic through the
simulator, after a crash between two runs, and with transactions that commit out of id order."""
from __future__ import annotations

import threading
import uuid
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import event, insert, select, text

from dashboard import create_app
from dashboard.extensions import db
from dashboard.models import (
    Message,
    MessageEvent,
    MessagePart,
    RollupCursor,
    failure_rollup,
    spend_rollup,
    traffic_rollup,
)
from dashboard.models.rollup import COUNTS, DELIVERY_TIME, RECEIPT_LATENCY
from dashboard.models.types import utcnow
from dashboard.services import rollups
from dashboard.services.routing import create_route
from dashboard.services.sending.enqueue import enqueue
from dashboard.simulator import OutcomeRule
from dashboard.sms import lifecycle as lc
from dashboard.sms.regions import region_of
from dashboard.sms.traffic import LATENCY_BOUNDS, bucket_index, failure_reason, message_type
from tests.conftest import approved_sender, make_config, numbers, wait_for

LONG_TEXT = "A long one: " + "x" * 200  # two GSM-7 parts
ESME_RINVDSTADR = 0x0B


# ----------------------------------------------------------------------------- direct counts


def _minute(moment: datetime, horizon: datetime) -> tuple[datetime, int]:
    size = 60 if moment >= horizon else 3600
    return datetime.fromtimestamp(int(moment.timestamp()) // size * size, tz=timezone.utc), size


def direct_counts(horizon: datetime) -> tuple[dict, dict, dict]:
    """What the rollups must hold, counted straight from the message and part rows with the
    definitions of docs/monitoring.md: parts by when each was accepted, outcomes by when the
    message ended, failures by their reason, money by currency."""
    traffic: dict = defaultdict(lambda: defaultdict(int))
    spend: dict = defaultdict(lambda: [0, Decimal("0")])
    failures: dict = defaultdict(int)
    messages = {m.id: m for m in db.session.scalars(select(Message))}

    def dims(message, bind_id):
        return (bind_id or 0, region_of(message.destination), message.campaign_id or 0, message.source,
                message_type(message.purpose, message.priority))

    for part in db.session.scalars(select(MessagePart).where(MessagePart.submitted_at.is_not(None))):
        message = messages[part.message_id]
        key = (*_minute(part.submitted_at, horizon), *dims(message, part.bind_id))
        traffic[key]["parts"] += 1
        traffic[key]["submitted"] += part.part_no == 1
        spend[(*key, part.currency or "")][0] += 1
        spend[(*key, part.currency or "")][1] += part.price
    for message in messages.values():
        if message.status not in lc.OUTCOMES:
            continue
        key = (*_minute(message.done_at, horizon), *dims(message, message.bind_id))
        if message.status == lc.DELIVERED:
            traffic[key]["delivered"] += 1
            waited = (message.done_at - message.created_at).total_seconds()
            traffic[key][DELIVERY_TIME[bucket_index(waited, LATENCY_BOUNDS)]] += 1
        else:
            traffic[key]["failed"] += 1
            failures[(*key, failure_reason(message.status, message.reason))] += 1
        label = failure_reason(message.status, message.reason)
        if message.submitted_at and (message.status == lc.DELIVERED or label not in rollups.NO_RECEIPT_REASONS):
            latency = (message.done_at - message.submitted_at).total_seconds()
            traffic[key][RECEIPT_LATENCY[bucket_index(latency, LATENCY_BOUNDS)]] += 1
    return ({k: {m: n for m, n in v.items() if n} for k, v in traffic.items()},
            {k: (v[0], v[1].quantize(Decimal("0.000001"))) for k, v in spend.items()}, dict(failures))


def rolled_up() -> tuple[dict, dict, dict]:
    traffic = {}
    for row in db.session.execute(select(traffic_rollup)).mappings():
        key = (row["period_start"], row["resolution"], row["bind_id"], row["country"], row["campaign_id"],
               row["sender"], row["kind"])
        counts = {m: row[m] for m in COUNTS if m not in ("throttled", "refused", "timeouts") and not m.startswith("sl_")
                  and row[m]}
        if counts:
            traffic[key] = counts
    spend = {(r.period_start, r.resolution, r.bind_id, r.country, r.campaign_id, r.sender, r.kind, r.currency):
             (r.parts, Decimal(str(r.amount)).quantize(Decimal("0.000001")))
             for r in db.session.execute(select(spend_rollup)) if r.parts}
    failures = {(r.period_start, r.resolution, r.bind_id, r.country, r.campaign_id, r.sender, r.kind, r.reason):
                r.count for r in db.session.execute(select(failure_rollup)) if r.count}
    return traffic, spend, failures


def _response_problems_in_rollups() -> tuple[int, int]:
    rows = db.session.execute(select(traffic_rollup.c.throttled, traffic_rollup.c.refused)).all()
    return sum(r[0] for r in rows), sum(r[1] for r in rows)


# ----------------------------------------------------------------------------- against the simulator


def test_after_a_mixed_run_every_rollup_equals_a_direct_count_over_the_message_table(
        app, make_simulator, make_bind, worker):
    # Numbers ending in 7 are undeliverable, ending in 3 refused outright; one submit in six is
    # throttled and retried; some texts take two parts; two binds carry two countries.
    simulator = make_simulator(outcomes=[OutcomeRule(r"7$", "UNDELIV"), OutcomeRule(r"3$", submit_status=ESME_RINVDSTADR)],
                               throttle_ratio=0.15, receipt_delay=0.05)
    us_bind, ca_bind = make_bind(simulator, name="us"), make_bind(simulator, name="ca")
    create_route(destination="US", bind_id=us_bind.id, price="0.0075", currency="USD")
    create_route(destination="+1 416", bind_id=ca_bind.id, price="0.0110", currency="CAD")
    approved_sender("Switchboard", ("US", "CA"))
    us = numbers(24)
    canada = [f"+1416555{n:04d}" for n in range(100, 112)]
    now = utcnow()
    enqueue(destinations=us[:16] + canada[:8], text="Your code is 1234", source="Switchboard", now=now)
    enqueue(destinations=us[16:] + canada[8:], text=LONG_TEXT, source="Switchboard", now=now, priority=10)
    worker()
    wait_for(lambda: _all_final(36), timeout=60, message="every message ends")

    result = rollups.run(utcnow(), minute_hours=48)

    assert result.caught_up and result.gaps == 0
    horizon = utcnow() - timedelta(hours=48)
    traffic, spend, failures = rolled_up()
    expected_traffic, expected_spend, expected_failures = direct_counts(horizon)
    assert traffic == expected_traffic
    assert spend == expected_spend
    assert failures == expected_failures
    # The run covered what the test meant to mix.
    assert {key[3] for key in traffic} == {"US", "CA"}
    assert {key[7] for key in spend} == {"USD", "CAD"}
    assert any(label.startswith("UNDELIV") for *_, label in failures)
    assert any(label == "ESME_RINVDSTADR" for *_, label in failures)
    throttled, refused = _response_problems_in_rollups()
    logged = db.session.execute(select(MessageEvent.detail).where(MessageEvent.kind == "submit_sm_resp")).scalars().all()
    assert throttled == sum(1 for d in logged if d["command_status"] == 0x58) > 0
    assert refused == sum(1 for d in logged if d["command_status"] == ESME_RINVDSTADR) > 0
    # A second run finds nothing new and changes nothing.
    assert rollups.run(utcnow(), minute_hours=48).events == 0
    assert rolled_up() == (traffic, spend, failures)


def _all_final(count: int) -> bool:
    db.session.expire_all()
    final = db.session.scalar(select(db.func.count()).select_from(Message).where(Message.status.in_(lc.FINAL)))
    return final == count


# ----------------------------------------------------------------------------- crash and late commits


class Traffic:
    """Messages as the sender leaves them, written straight to the tables: a part accepted
    (submit_sm_resp at its submitted_at) and an outcome (the status event at done_at)."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.count = 0

    def rows(self, outcome: str = lc.DELIVERED, reason: str | None = None, at: datetime | None = None,
             destination: str = "+12025550142") -> tuple[dict, dict, list[dict]]:
        self.count += 1
        sent = at or self.now - timedelta(seconds=30)
        done = sent + timedelta(seconds=3)
        message = dict(destination=destination, source="Switchboard", text="hi", encoding="gsm7", segments=1,
                       priority=100, status=outcome, reason=reason, bind_id=None, price_per_segment=Decimal("0.0075"),
                       currency="USD", created_at=sent - timedelta(seconds=1), submitting_at=sent,
                       submitted_at=sent, done_at=done, attempts=1)
        part = dict(part_no=1, parts_total=1, status=outcome, price=Decimal("0.0075"), currency="USD",
                    submitting_at=sent, submitted_at=sent, done_at=done)
        events = [dict(kind="submit_sm_resp", part_no=1, at=sent, detail={"command_status": 0}),
                  dict(kind="status", part_no=None, at=done, detail={"seq": 2, "status": outcome, "reason": reason})]
        return message, part, events

    def write(self, connection, *specs) -> None:
        for message, part, events in specs:
            message_id = connection.execute(insert(Message.__table__).values(**message)).inserted_primary_key[0]
            connection.execute(insert(MessagePart.__table__).values(message_id=message_id, **part))
            for row in events:
                connection.execute(insert(MessageEvent.__table__).values(message_id=message_id, **row))


def _write(traffic: Traffic, *specs) -> None:
    traffic.write(db.session.connection(), *specs)
    db.session.commit()


def _equal_to_direct_counts() -> None:
    horizon = utcnow() - timedelta(hours=48)
    assert rolled_up() == direct_counts(horizon)


def test_a_crash_between_two_runs_neither_loses_nor_double_counts(database_app):
    traffic = Traffic(utcnow())
    _write(traffic, traffic.rows(), traffic.rows(lc.UNDELIVERABLE, "UNDELIV, err 001: the network could not"))
    rollups.run(utcnow(), minute_hours=48)
    _write(traffic, traffic.rows(), traffic.rows(lc.FAILED, "refused by the SMSC: ESME_RINVDSTADR"))

    def crash(_session):
        raise RuntimeError("the worker died before the rollup committed")

    event.listen(db.session, "before_commit", crash)  # the process dies with the deltas written, uncommitted
    try:
        with pytest.raises(RuntimeError):
            rollups.run(utcnow(), minute_hours=48)
    finally:
        event.remove(db.session, "before_commit", crash)
    db.session.rollback()
    db.session.remove()  # a new process: nothing of the dead one's session survives

    rollups.run(utcnow(), minute_hours=48)
    rollups.run(utcnow(), minute_hours=48)  # and again: nothing new, nothing counted twice

    _equal_to_direct_counts()
    assert sum(r.delivered for r in db.session.execute(select(traffic_rollup))) == 2
    assert sum(r.failed for r in db.session.execute(select(traffic_rollup))) == 2


def test_an_outcome_that_changes_after_the_message_ended_moves_in_the_rollups(database_app):
    traffic = Traffic(utcnow())
    message, part, events = traffic.rows(lc.EXPIRED, "validity period passed before it could be sent: x")
    message["segments"] = 2
    _write(traffic, (message, part, events))
    rollups.run(utcnow(), minute_hours=48)
    later = utcnow()
    row = db.session.scalar(select(Message).order_by(Message.id.desc()))
    row.status, row.reason, row.done_at = lc.PARTIALLY_DELIVERED, "UNDELIV, err 001: x", later
    db.session.add(MessageEvent(message_id=row.id, kind="status", at=later,
                                detail={"seq": 3, "status": lc.PARTIALLY_DELIVERED, "reason": row.reason}))
    db.session.commit()

    rollups.run(utcnow(), minute_hours=48)

    _equal_to_direct_counts()
    assert [r.reason for r in db.session.execute(select(failure_rollup)) if r.count] == ["UNDELIV err 001"]


def test_old_minutes_fold_into_hours_and_keep_their_totals(database_app):
    traffic = Traffic(utcnow())
    # Two minutes of one hour, whatever the time the test runs at.
    long_ago = (utcnow() - timedelta(hours=30)).replace(minute=10, second=0, microsecond=0)
    _write(traffic, traffic.rows(at=long_ago), traffic.rows(at=long_ago + timedelta(minutes=7)), traffic.rows())
    rollups.run(utcnow(), minute_hours=48)
    assert {r.resolution for r in db.session.execute(select(traffic_rollup))} == {60}

    folded = rollups.coarsen(utcnow(), minute_hours=6)

    assert folded == 4  # two minutes, each with its part and its outcome row
    assert rollups.coarsen(utcnow(), minute_hours=6) == 0
    old = [r for r in db.session.execute(select(traffic_rollup)) if r.period_start < utcnow() - timedelta(hours=6)]
    assert [(r.resolution, r.delivered, r.parts) for r in old] == [(3600, 2, 2)]
    assert sum(r.parts for r in db.session.execute(select(spend_rollup))) == 3


def test_an_event_committed_after_a_later_one_is_still_counted_on_postgresql(postgres, postgres_template):
    """Two senders on PostgreSQL: the first takes its event id, the second takes the next one and
    commits first. The run between them sees a gap, keeps it, and counts the event when it lands;
    an id whose transaction rolled back is given up once no transaction could still hold it."""
    url = postgres.create_database(f"late_{uuid.uuid4().hex[:8]}", template=postgres_template)
    app = create_app(make_config("unused.db", DATABASE_URL=url))
    with app.app_context():
        traffic = Traffic(utcnow())
        slow = db.engine.connect()
        slow_transaction = slow.begin()
        traffic.write(slow, traffic.rows())  # takes the lower ids, not committed yet
        _write(traffic, traffic.rows(lc.UNDELIVERABLE, "UNDELIV, err 001: x"))  # commits first

        first = rollups.run(utcnow(), minute_hours=48)
        assert first.gaps > 0
        assert sum(r.failed for r in db.session.execute(select(traffic_rollup))) == 1
        assert sum(r.delivered for r in db.session.execute(select(traffic_rollup))) == 0

        slow_transaction.commit()
        slow.close()
        rollups.run(utcnow(), minute_hours=48)
        _equal_to_direct_counts()

        with db.engine.connect() as doomed:
            undone = doomed.begin()
            traffic.write(doomed, traffic.rows())
            undone.rollback()
        _write(traffic, traffic.rows())
        assert rollups.run(utcnow(), minute_hours=48).gaps > 0
        later = utcnow() + timedelta(seconds=rollups.GAP_SETTLE_SECONDS + 1)
        rollups.run(later, minute_hours=48)  # the gap gets its horizon
        assert rollups.run(later, minute_hours=48).gaps == 0  # no transaction could hold it: given up
        _equal_to_direct_counts()
        assert db.session.get(RollupCursor, rollups.CURSOR).gaps == []
        db.session.remove()
        db.engine.dispose()
    postgres.drop_database(url.rsplit("/", 1)[1])


def test_the_timeline_ids_are_not_cached_per_connection(postgres, postgres_template):
    """A sender's connection that wrote once, idles while another writes, and writes again after
    the run gave up the first one's gaps: its event is still counted. With timeline ids cached in
    blocks per connection (migration 0014 caches the sender's other sequences) it would get an id
    from its old block, below the cursor, and never be counted (docs/monitoring.md)."""
    url = postgres.create_database(f"idle_{uuid.uuid4().hex[:8]}", template=postgres_template)
    app = create_app(make_config("unused.db", DATABASE_URL=url))
    with app.app_context():
        traffic = Traffic(utcnow())
        with db.engine.connect() as idle, db.engine.connect() as busy:
            with idle.begin():
                traffic.write(idle, traffic.rows())
            with busy.begin():
                traffic.write(busy, traffic.rows(lc.UNDELIVERABLE, "UNDELIV, err 001: x"))
            rollups.run(utcnow(), minute_hours=48)
            later = utcnow() + timedelta(seconds=rollups.GAP_SETTLE_SECONDS + 1)
            rollups.run(later, minute_hours=48)
            rollups.run(later, minute_hours=48)
            with idle.begin():
                traffic.write(idle, traffic.rows())
        rollups.run(later, minute_hours=48)
        _equal_to_direct_counts()
        db.session.remove()
        db.engine.dispose()
    postgres.drop_database(url.rsplit("/", 1)[1])


# ----------------------------------------------------------------------------- two runs at once


class _InThread:
    """Runs `call` in a thread of its own, with its own app context and session."""

    def __init__(self, app, call) -> None:
        self.error: Exception | None = None
        self.thread = threading.Thread(target=self._run, args=(app, call), daemon=True)

    def _run(self, app, call) -> None:
        with app.app_context():
            try:
                self.result = call()
            except Exception as exc:  # noqa: BLE001 — reported by join()
                self.error = exc
                self.failed()
            finally:
                db.session.remove()

    def failed(self) -> None:
        pass

    def start(self):
        self.thread.start()
        return self

    def join(self):
        """What `call` returned; what it raised is raised here."""
        self.thread.join(60)
        assert not self.thread.is_alive()
        if self.error is not None:
            raise self.error
        return self.result


class _Paused(_InThread):
    """An _InThread held inside `where` — a function of the rollups module, after it returns —
    until `go` is set."""

    def __init__(self, app, monkeypatch, where: str, call) -> None:
        super().__init__(app, call)
        self.inside, self.go = threading.Event(), threading.Event()
        original = getattr(rollups, where)
        paused = self

        def held(*args, **kwargs):
            value = original(*args, **kwargs)
            if threading.current_thread() is paused.thread and not paused.inside.is_set():
                paused.inside.set()
                paused.go.wait(30)
            return value

        monkeypatch.setattr(rollups, where, held)

    def failed(self) -> None:
        self.inside.set()  # start() need not wait for a pause that never comes

    def start(self) -> _Paused:
        super().start()
        assert self.inside.wait(30), "the paused run never got there"
        if self.error is not None:
            raise self.error
        return self


def _second_waits_for_the_first(app, first: _Paused, second: _InThread) -> None:
    """Start `second` while `first` is held; once PostgreSQL shows a session waiting on a lock (or
    `second` has finished), let `first` go on; return when both have ended. Each look at
    pg_stat_activity is a transaction of its own: PostgreSQL keeps one snapshot of it per
    transaction."""

    def waiting() -> bool:
        with db.engine.connect() as watcher:
            return watcher.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )).scalar() > 0

    second.start()
    try:
        with app.app_context():
            wait_for(lambda: not second.thread.is_alive() or waiting(), timeout=30,
                     message="the second run waits for the first")
    finally:  # the paused run lets its connection go whatever happened
        first.go.set()
        first.thread.join(60)
        second.thread.join(60)


def test_two_runs_at_once_count_every_event_once_on_postgresql(postgres, postgres_template, monkeypatch):
    """A run that reaches the same rollup rows while another run holds them waits, is refused its
    stale snapshot by PostgreSQL, and reads again from the cursor the first run moved: neither an
    error nor an event counted twice (the CI failure of 2026-12-01: a test's own run met the
    worker's rollup job)."""
    url = postgres.create_database(f"twice_{uuid.uuid4().hex[:8]}", template=postgres_template)
    app = create_app(make_config("unused.db", DATABASE_URL=url))
    with app.app_context():
        traffic = Traffic(utcnow())
        _write(traffic, traffic.rows(), traffic.rows(lc.UNDELIVERABLE, "UNDELIV, err 001: x"))
        first = _Paused(app, monkeypatch, "_add_into", lambda: rollups.run(utcnow(), minute_hours=48)).start()
        second = _InThread(app, lambda: rollups.run(utcnow(), minute_hours=48, budget_seconds=20))
        _second_waits_for_the_first(app, first, second)
        first.join()

        assert second.join().caught_up  # and it raised nothing
        _equal_to_direct_counts()
        assert sum(r.delivered for r in db.session.execute(select(traffic_rollup))) == 1
        assert sum(r.failed for r in db.session.execute(select(traffic_rollup))) == 1
        db.session.remove()
        db.engine.dispose()
    postgres.drop_database(url.rsplit("/", 1)[1])


def test_two_folds_at_once_add_each_minute_into_its_hour_once_on_postgresql(postgres, postgres_template, monkeypatch):
    url = postgres.create_database(f"fold_{uuid.uuid4().hex[:8]}", template=postgres_template)
    app = create_app(make_config("unused.db", DATABASE_URL=url))
    with app.app_context():
        traffic = Traffic(utcnow())
        long_ago = (utcnow() - timedelta(hours=30)).replace(minute=10, second=0, microsecond=0)
        _write(traffic, traffic.rows(at=long_ago), traffic.rows(at=long_ago + timedelta(minutes=7)))
        rollups.run(utcnow(), minute_hours=48)
        first = _Paused(app, monkeypatch, "_add_into", lambda: rollups.coarsen(utcnow(), minute_hours=6)).start()
        second = _InThread(app, lambda: rollups.coarsen(utcnow(), minute_hours=6))
        _second_waits_for_the_first(app, first, second)

        assert first.join() == 4
        assert second.join() == 0  # the first fold took them all
        rows = db.session.execute(select(traffic_rollup)).all()
        assert [(r.resolution, r.delivered, r.parts) for r in rows] == [(3600, 2, 2)]
        assert sum(r.parts for r in db.session.execute(select(spend_rollup))) == 2
        db.session.remove()
        db.engine.dispose()
    postgres.drop_database(url.rsplit("/", 1)[1])
