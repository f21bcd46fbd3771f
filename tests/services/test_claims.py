"""One owner at a time (docs/architecture.md #2): claimers racing for the same queue never share a message,
on SQLite (serialised writers) and on PostgreSQL (FOR UPDATE SKIP LOCKED), which SQLAlchemy
would silently drop on SQLite — so both are tested."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from dashboard.db_setup import one_connection_session
from dashboard.extensions import db
from dashboard.models import Bind, Message
from dashboard.models.types import utcnow
from dashboard.services.sending.claim import claim_messages
from dashboard.services.sending.rows import BindSettings

MESSAGES = 2000
CLAIMERS = 4


def _queue(count: int) -> BindSettings:
    """A bind with `count` queued one-part messages."""
    bind = Bind(name="b", host="h", port=1, system_id="s", password_encrypted="x")
    db.session.add(bind)
    db.session.commit()
    now = utcnow()
    db.session.execute(Message.__table__.insert(), [
        dict(destination=f"+1415{i:07d}", source="S", source_ton=5, source_npi=0, text="hi", encoding="gsm7",
             segments=1, priority=100, status="queued", bind_id=bind.id, udh_ref=0, created_at=now, attempts=0,
             event_seq=0, possible_duplicate=False) for i in range(count)])
    db.session.commit()
    return BindSettings(bind_id=bind.id)


def test_racing_claimers_never_claim_the_same_message(database_app):
    settings = _queue(MESSAGES)
    claimed: dict[int, list[int]] = {n: [] for n in range(CLAIMERS)}
    errors: list[BaseException] = []
    start = threading.Barrier(CLAIMERS)

    def claimer(number: int) -> None:
        try:
            with database_app.app_context():
                start.wait()
                while parts := claim_messages(settings, f"claimer-{number}", 25, utcnow(), timedelta(minutes=5)):
                    claimed[number].extend(p.message_id for p in parts)
                db.session.remove()
        except BaseException as exc:  # surfaced below, with the thread's own error
            errors.append(exc)

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(CLAIMERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    everything = [m for ids in claimed.values() for m in ids]
    assert len(everything) == MESSAGES
    assert len(set(everything)) == MESSAGES  # nobody got a message someone else had
    assert sum(1 for ids in claimed.values() if ids) > 1  # they really raced
    owners = dict(db.session.execute(db.select(Message.claimed_by, db.func.count()).group_by(Message.claimed_by)).all())
    assert sum(owners.values()) == MESSAGES and None not in owners


def test_a_claim_takes_no_more_than_its_limit(database_app):
    # PostgreSQL may run an `IN (… LIMIT n FOR UPDATE SKIP LOCKED)` subquery once per outer row:
    # before the claim's subquery was materialised, a limit of 1 claimed 2 messages there.
    settings = _queue(5)
    now = utcnow()
    assert [len(claim_messages(settings, "w", limit, now, timedelta(seconds=30))) for limit in (1, 2, 1, 5)] \
        == [1, 2, 1, 1]


def test_parts_that_leave_at_once_are_recorded_as_submitting_by_the_claim_itself(database_app):
    from itertools import count

    from sqlalchemy import event, select

    from dashboard.models import MessageEvent, MessagePart
    from dashboard.services.sending.claim import SendNow, release_unsent
    settings = _queue(5)
    sequences = count(10)
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    send_now = SendNow(3, "sess-1", lambda: next(sequences))
    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        parts = claim_messages(settings, "w", 5, utcnow(), timedelta(seconds=30), send_now=send_now)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert len(parts) == 5
    # The first three in queue order go now, each with its own sequence number ...
    assert [(part.message_id, seq) for part, seq in send_now.assigned] == \
        [(part.message_id, 10 + i) for i, part in enumerate(parts[:3])]
    # ... and are on disk as submitting before a byte leaves (#1), written once: inserted so, not
    # inserted pending and then updated.
    rows = {p.id: p for p in db.session.scalars(select(MessagePart))}
    assert [(rows[p.part_id].status, rows[p.part_id].session_id, rows[p.part_id].sequence_number)
            for p in parts] == [("submitting", "sess-1", 10), ("submitting", "sess-1", 11),
                                ("submitting", "sess-1", 12), ("pending", None, None), ("pending", None, None)]
    assert all(rows[p.part_id].submitting_at is not None for p in parts[:3])
    assert not [s for s in statements if s.lstrip().upper().startswith("UPDATE MESSAGE_PART")]
    submits = db.session.scalars(select(MessageEvent.message_id).where(MessageEvent.kind == "submit_sm")).all()
    assert sorted(submits) == sorted(p.message_id for p in parts[:3])

    # A part from an earlier attempt that leaves at once is updated to submitting the same way.
    release_unsent(parts[3:4], utcnow(), "test")
    retry = SendNow(1, "sess-2", lambda: 99)
    again = claim_messages(settings, "w", 1, utcnow(), timedelta(seconds=30), send_now=retry)
    assert [(p.part_id, seq) for p, seq in retry.assigned] == [(parts[3].part_id, 99)] == [(again[0].part_id, 99)]
    db.session.expire_all()
    part = db.session.get(MessagePart, parts[3].part_id)
    assert (part.status, part.session_id, part.sequence_number) == ("submitting", "sess-2", 99)


def test_on_postgresql_the_claim_is_planned_for_its_values_and_nothing_else_is(database_app):
    """psycopg prepares a statement on its fifth run, and PostgreSQL may then keep one generic plan
    for it: for the claim that plan cost ~1 ms of PostgreSQL's CPU per message in most runs, and
    four workers collapsed; planning every statement of the sender cost a fifth of its rate
    (docs/performance.md, "Scale-out on PostgreSQL"). So the claim is never prepared, and the
    statements around it are."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no plan cache")
    settings = _queue(8)
    with one_connection_session():  # as a bind runner claims: psycopg keeps prepared statements per connection
        for _ in range(8):
            assert len(claim_messages(settings, "w1", 1, utcnow(), timedelta(seconds=30))) == 1
        prepared = db.session.connection().exec_driver_sql("SELECT statement FROM pg_prepared_statements").scalars().all()
        db.session.rollback()
    assert not [s for s in prepared if s.lstrip().startswith("WITH due AS MATERIALIZED")]
    assert [s for s in prepared if "global_opt_out" in s]  # the opt-out check, run as often, is prepared
