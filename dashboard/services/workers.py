"""Sender workers: the heartbeat each `flask worker` process writes, and what the console says
about it ("no sender running since …").

The sender and the web app are different processes, so the database is where one tells the other
that it lives. The same rows are the list of live workers that several workers sharing one
PostgreSQL database need to divide binds between them: a worker is live while its heartbeat is
younger than the limit (`live_workers`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from dashboard.extensions import db
from dashboard.models import SenderWorker

# Rows of workers gone this long are deleted: long enough to say since when nothing runs.
FORGET_AFTER = timedelta(days=7)


def beat(worker_id: str, host: str, pid: int, now: datetime) -> None:
    """Record that this worker is alive now; its first beat records when it started."""
    updated = db.session.execute(
        update(SenderWorker)
        .where(SenderWorker.worker_id == worker_id)
        .values(heartbeat_at=now, host=host, pid=pid)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not updated:
        db.session.add(
            SenderWorker(worker_id=worker_id, host=host, pid=pid, started_at=now, heartbeat_at=now)
        )
    db.session.execute(delete(SenderWorker).where(SenderWorker.heartbeat_at < now - FORGET_AFTER))
    db.session.commit()


def live_workers(now: datetime, stale_after: timedelta) -> list[SenderWorker]:
    """Workers whose heartbeat is younger than `stale_after`, oldest first."""
    return list(
        db.session.scalars(
            select(SenderWorker)
            .where(SenderWorker.heartbeat_at > now - stale_after)
            .order_by(SenderWorker.started_at, SenderWorker.worker_id)
        )
    )


@dataclass(frozen=True)
class SenderStatus:
    """Whether any sender runs, and since when it does (or does not)."""

    running: bool
    since: datetime | None  # running: the oldest live worker's start; not: the last heartbeat seen
    workers: tuple[str, ...] = ()  # live worker ids

    @property
    def ever_ran(self) -> bool:
        return self.running or self.since is not None


def sender_status(now: datetime, stale_after: timedelta) -> SenderStatus:
    live = live_workers(now, stale_after)
    if live:
        return SenderStatus(True, live[0].started_at, tuple(w.worker_id for w in live))
    last = db.session.scalar(
        select(SenderWorker.heartbeat_at).order_by(SenderWorker.heartbeat_at.desc()).limit(1)
    )
    return SenderStatus(False, last)
