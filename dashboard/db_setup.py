"""Database connection settings that must hold for every connection."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from dashboard.extensions import db


def _engine_to_set_up(app: Flask, database: str, what: str) -> Engine | None:
    """The app's engine when its database is `database` and `what` is not set up on it yet (apps
    built for the same URL share one engine); None otherwise."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith(database):
        return None
    with app.app_context():
        engine = db.engine
    done = engine.__dict__.setdefault("_switchboard_set_up", set())
    if what in done:
        return None
    done.add(what)
    return engine


def install_sqlite_pragmas(app: Flask) -> None:
    """WAL lets the web app read while the sender writes; foreign keys are off by default in
    SQLite and we rely on them."""
    engine = _engine_to_set_up(app, "sqlite", "pragmas")
    if engine is None:
        return
    url = app.config["SQLALCHEMY_DATABASE_URI"]

    @event.listens_for(engine, "do_connect")
    def _owner_only(_dialect, _record, _cargs, _cparams) -> None:
        # Owner-only from the start (SQLite gives its -wal and -shm files the database file's
        # mode), created at the first connection, not when the app is built: a demo that stops on
        # a busy port leaves no database behind.
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            path = Path(url.removeprefix("sqlite:///"))
            if not path.exists() and path.parent.is_dir():
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


def install_unprepared_statements(app: Flask) -> None:
    """On PostgreSQL, a statement run with the execution option `unprepared=True` is sent without
    being prepared, so that it is planned for its values every time. psycopg prepares a statement
    on its fifth run, and PostgreSQL may then keep one generic plan for it for the rest of the
    connection: for the sender's claim that plan cost ~1 ms of PostgreSQL's CPU per message in most
    runs (docs/performance.md, "Scale-out on PostgreSQL"). Every other statement stays prepared."""
    engine = _engine_to_set_up(app, "postgresql", "unprepared")
    if engine is None:
        return

    @event.listens_for(engine, "do_execute")
    def _execute(cursor, statement, parameters, context) -> bool | None:
        if not context.execution_options.get("unprepared"):
            return None  # SQLAlchemy executes it as usual
        cursor.execute(statement, parameters, prepare=False)
        return True


@contextmanager
def one_connection_session() -> Iterator[None]:
    """Within this block the current app context's db.session keeps one connection, for a thread
    that commits several times a second (a bind runner). A session that gives its connection back
    at each commit checks one out for its next transaction, and on PostgreSQL each checkout is a
    pre-ping round trip: five per batch of the sending path (docs/scaling.md, "What limits it").
    A connection the database dropped fails the statement that finds out; after the rollback that
    follows, the next statement connects again."""
    db.session.remove()  # the thread's session until now, and any connection it still holds
    with db.engine.connect() as connection:
        # A plain Session: Flask-SQLAlchemy's picks its engine by bind key and ignores `bind`.
        db.session.registry.set(Session(bind=connection))
        try:
            yield
        finally:
            db.session.remove()
