"""The sender's heartbeat: which workers live, and whether a sender runs (on both databases: the
same rows are the list of live workers that several workers on PostgreSQL will share)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import SenderWorker
from dashboard.models.types import utcnow
from dashboard.services import workers

STALE = timedelta(seconds=20)


def test_no_sender_is_running_before_any_worker_beat(database_app):
    status = workers.sender_status(utcnow(), STALE)
    assert (status.running, status.since, status.ever_ran) == (False, None, False)


def test_a_beating_worker_is_running_since_its_first_beat(database_app):
    start = utcnow()
    workers.beat("host:1", "host", 1, start)
    workers.beat("host:1", "host", 1, start + timedelta(seconds=5))
    status = workers.sender_status(start + timedelta(seconds=10), STALE)
    assert (status.running, status.since, status.workers) == (True, start, ("host:1",))
    row = db.session.get(SenderWorker, "host:1")
    assert (row.started_at, row.heartbeat_at, row.pid) == (start, start + timedelta(seconds=5), 1)


def test_a_stale_heartbeat_means_no_sender_since_that_beat(database_app):
    start = utcnow()
    workers.beat("host:1", "host", 1, start)
    status = workers.sender_status(start + STALE + timedelta(seconds=1), STALE)
    assert (status.running, status.since, status.ever_ran) == (False, start, True)


def test_live_workers_lists_every_worker_with_a_recent_heartbeat(database_app):
    now = utcnow()
    workers.beat("a:1", "a", 1, now - timedelta(seconds=60))  # gone
    workers.beat("b:2", "b", 2, now - timedelta(seconds=3))
    workers.beat("c:3", "c", 3, now - timedelta(seconds=1))
    assert [w.worker_id for w in workers.live_workers(now, STALE)] == ["b:2", "c:3"]


def test_workers_gone_for_a_week_are_forgotten(database_app):
    now = utcnow()
    workers.beat("old:1", "old", 1, now - workers.FORGET_AFTER - timedelta(hours=1))
    workers.beat("new:2", "new", 2, now)
    assert db.session.scalars(select(SenderWorker.worker_id)).all() == ["new:2"]
