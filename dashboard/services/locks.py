"""Checks that must not race their own insert (limits counted over rows): one lock, taken first."""

from __future__ import annotations

from sqlalchemy import Table, text, update

from dashboard.extensions import db


def serialise(lock_key: int, table: Table) -> None:
    """Take a lock until the transaction ends, so that a count and the insert it allows are atomic.

    PostgreSQL: the transaction-scoped advisory lock `lock_key`. SQLite: a write as the
    transaction's first statement (on `table`, touching no row) takes the database's write lock;
    other writers wait on busy_timeout."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key})
    else:
        db.session.execute(update(table).where(table.c.id == -1).values(id=table.c.id))
