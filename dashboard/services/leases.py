"""Leases: what one sender worker alone may do — drive a bind, or run the jobs that run once —
held in the database, renewed by the holder, taken over by another worker once they expire
(docs/scaling.md). PostgreSQL carries the coordination: a row per lease, changed only by
conditional UPDATEs, so two workers racing for one lease cannot both win.

Fencing: a worker that stalls (a long pause, a network cut) past its lease must not act on it
once it wakes up, because another worker may hold it by then. Each change of owner raises the
lease's `epoch`; the claims of a bind's messages and the marking of parts as submitting check, in
the same statement or transaction, that the lease is still this owner's at this epoch
(`held_clause`, `check_held`). The holder also keeps a deadline on its own clock and writes no
bytes after it (dashboard/worker/bind_runner.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, exists, or_, select, update

from dashboard.extensions import db
from dashboard.models import WorkerLease
from dashboard.services.bulk import on_conflict_do_nothing

LEADER = "leader"
L = WorkerLease.__table__


class LeaseLost(Exception):
    """The lease this work needs is no longer ours: stop, and let its new holder go on."""


def bind_lease(bind_id: int) -> str:
    return f"bind:{bind_id}"


@dataclass(frozen=True)
class Lease:
    """A lease as its holder knows it."""
    name: str
    owner: str
    epoch: int
    expires_at: datetime


def acquire(name: str, owner: str, now: datetime, ttl: timedelta) -> Lease | None:
    """Take the lease if it is free, expired, or already ours (then it is renewed); None when
    another worker holds it. Commits."""
    db.session.execute(on_conflict_do_nothing(L, "name").values(name=name, epoch=0))
    # A new owner raises the epoch; our own lease taken again (a renewal by another path) keeps it.
    new_owner = case((L.c.owner.is_distinct_from(owner), 1), else_=0)
    row = db.session.execute(
        update(L).where(L.c.name == name, or_(L.c.owner.is_(None), L.c.owner == owner, L.c.expires_at < now))
        .values(epoch=L.c.epoch + new_owner, owner=owner, expires_at=now + ttl, acquired_at=now)
        .returning(L.c.epoch)).first()
    db.session.commit()
    if row is None:
        return None
    return Lease(name, owner, row.epoch, now + ttl)


def renew(lease: Lease, now: datetime, ttl: timedelta) -> Lease | None:
    """Extend a lease we hold; None when it is no longer ours at this epoch (it expired and was
    taken over). Commits."""
    renewed = db.session.execute(
        update(L).where(L.c.name == lease.name, L.c.owner == lease.owner, L.c.epoch == lease.epoch,
                        L.c.expires_at >= now)
        .values(expires_at=now + ttl)).rowcount
    db.session.commit()
    return Lease(lease.name, lease.owner, lease.epoch, now + ttl) if renewed == 1 else None


def release(lease: Lease) -> None:
    """Give a lease up at once (a clean stop, a bind handed over), so that the next worker need not
    wait for it to expire. Commits."""
    db.session.execute(update(L).where(L.c.name == lease.name, L.c.owner == lease.owner,
                                       L.c.epoch == lease.epoch).values(owner=None, expires_at=None))
    db.session.commit()


def held_clause(name, owner, epoch, now):
    """A SQL condition, true while `owner` holds the lease `name` at `epoch` (each argument a value
    or a bind parameter): the fence of the claim statement."""
    return exists().where(L.c.name == name, L.c.owner == owner, L.c.epoch == epoch, L.c.expires_at > now)


def check_held(lease: Lease, now: datetime) -> bool:
    """Is the lease still ours, in the current transaction? On PostgreSQL the row is locked FOR
    SHARE until the transaction ends, so a takeover waits for what this transaction writes under
    the lease to commit first, and then sees it."""
    return db.session.execute(
        select(L.c.name).where(L.c.name == lease.name, L.c.owner == lease.owner, L.c.epoch == lease.epoch,
                               L.c.expires_at > now).with_for_update(read=True)).first() is not None


def holders(prefix: str = "bind:") -> dict[str, tuple[str | None, int, datetime | None]]:
    """name → (owner, epoch, expires at) of the leases whose name starts with `prefix`."""
    rows = db.session.execute(select(L.c.name, L.c.owner, L.c.epoch, L.c.expires_at)
                              .where(L.c.name.startswith(prefix))).all()
    return {name: (owner, epoch, expires) for name, owner, epoch, expires in rows}

