"""Sender workers: each running `flask worker` process, as its heartbeat says."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from dashboard.extensions import db
from dashboard.models.types import UTCDateTime


class SenderWorker(db.Model):
    """One row per sender process, written by its heartbeat job and read by every page (is a
    sender running?). Rows of workers that stopped stay a while, so the console can say since
    when nothing runs; the list of live workers is the rows with a recent heartbeat."""

    worker_id: Mapped[str] = mapped_column(String(80), primary_key=True)  # host:pid unless named
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class WorkerLease(db.Model):
    """A lease: the right of one sender worker to something only one may do at a time — drive a
    bind ("bind:<id>") or run the jobs that run once ("leader"). Held while renewed before
    `expires_at`; taken over by another worker once it passes. Each change of owner raises
    `epoch`, and the writes that lead to a send carry it (docs/scaling.md, "Fencing")."""

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(80))
    epoch: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acquired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
