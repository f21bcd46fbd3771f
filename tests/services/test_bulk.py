"""The sender's executemany shortcut must store exactly what SQLAlchemy itself would store: the same
text for a datetime (SQLite compares them as strings), the same JSON, numbers and booleans —
on SQLite and on PostgreSQL, whose driver takes named parameters instead of positional ones."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from sqlalchemy import event, func, insert, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from dashboard.extensions import db
from dashboard.models import Bind, Message, MessageEvent, MessagePart
from dashboard.services import bulk

# A whole second: sqlite3's own datetime adapter would drop the ".000000" that SQLAlchemy writes.
AT = datetime(2026, 11, 23, 17, 5, 0, tzinfo=timezone.utc)


def _message() -> int:
    bind = Bind(name="b", host="h", port=1, system_id="s", password_encrypted="x")
    db.session.add(bind)
    db.session.flush()
    return db.session.execute(insert(Message.__table__).returning(Message.__table__.c.id), [dict(
        destination="+14155550100", source="S", source_ton=5, source_npi=0, text="hi", encoding="gsm7",
        segments=1, priority=100, status="queued", bind_id=bind.id, udh_ref=0, created_at=AT, attempts=0,
        event_seq=0, possible_duplicate=False)]).scalar_one()


def _raw(table: str, row_id: int, columns: str) -> tuple:
    # As stored, without SQLAlchemy's result conversion: what other queries compare against.
    return tuple(db.session.execute(text(f"SELECT {columns} FROM {table} WHERE id = :id"), {"id": row_id}).one())


def test_insert_many_stores_what_sqlalchemy_stores(database_app):
    message_id = _message()
    event = {"message_id": message_id, "part_no": 1, "kind": "submit_sm",
             "detail": {"sequence": 7, "text": "€ [ ]", "possible_duplicate": False}, "at": AT}
    table = MessageEvent.__table__
    by_core = db.session.execute(insert(table).returning(table.c.id), [event]).scalar_one()
    bulk.insert_many(db.session.connection(), table, ("message_id", "part_no", "kind", "detail", "at"), [event])
    by_bulk = db.session.scalar(select(table.c.id).where(table.c.id != by_core))
    db.session.commit()
    columns = "message_id, part_no, kind, detail, at"
    assert _raw("message_event", by_bulk, columns) == _raw("message_event", by_core, columns)
    assert db.session.get(MessageEvent, by_bulk).at == AT


def test_update_many_stores_what_sqlalchemy_stores_and_counts_guarded_rows(database_app):
    message_id = _message()
    table = MessagePart.__table__
    ids = db.session.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), [
        dict(message_id=message_id, part_no=n, parts_total=2, status="submitting") for n in (1, 2)]).scalars().all()
    values = {"status": "submitted", "price": Decimal("0.0125"), "submitted_at": AT}
    db.session.execute(table.update().where(table.c.id == ids[0]).values(**values))
    changed = bulk.update_many(db.session.connection(), table, ("price", "status", "submitted_at"),
                               [{"b_id": ids[1], **values}])
    db.session.commit()
    columns = "status, price, submitted_at"
    assert changed == 1
    assert _raw("message_part", ids[1], columns) == _raw("message_part", ids[0], columns)

    # The guard: a row whose status moved on since it was read is not written, and the count says so.
    changed = bulk.update_many(db.session.connection(), table, ("status",), [
        {"b_id": ids[0], "status": "delivered", "g_status": "submitted"},
        {"b_id": ids[1], "status": "delivered", "g_status": "submitting"}], guard=("status",))
    db.session.commit()
    assert changed == 1
    assert [db.session.get(MessagePart, i).status for i in ids] == ["delivered", "submitted"]


def test_insert_returning_ids_gives_each_rows_id_in_order(database_app):
    message_id = _message()
    table = MessagePart.__table__
    rows = [dict(message_id=message_id, part_no=n, parts_total=5, status="pending", bind_id=None)
            for n in (3, 1, 5, 2, 4)]
    ids = bulk.insert_returning_ids(db.session.connection(), table,
                                    ("message_id", "part_no", "parts_total", "status", "bind_id"), rows)
    db.session.commit()
    assert [db.session.get(MessagePart, i).part_no for i in ids] == [3, 1, 5, 2, 4]


def test_inserted_rows_get_new_ids_in_order_even_when_they_carry_an_empty_id(database_app):
    message_id = _message()
    table = MessagePart.__table__
    columns = ("message_id", "part_no", "parts_total", "status")
    rows = [{"id": None, "message_id": message_id, "part_no": n, "parts_total": 3, "status": "pending"}
            for n in (1, 2, 3)]
    ids = bulk.insert_returning_ids(db.session.connection(), table, columns, rows)
    assert ids == sorted(ids) and len(set(ids)) == 3
    stored = db.session.execute(select(table.c.id, table.c.part_no).where(table.c.id.in_(ids))).all()
    assert sorted(stored) == list(zip(ids, (1, 2, 3)))
    assert bulk.insert_returning_ids(db.session.connection(), table, columns, []) == []


PART_COLUMNS = ("message_id", "part_no", "parts_total", "status")


def _part_rows(message_id: int, numbers: range) -> list[dict]:
    return [{"message_id": message_id, "part_no": n, "parts_total": 9, "status": "pending"} for n in numbers]


def test_reserved_ids_are_taken_from_the_sequence_a_block_at_a_time(database_app):
    """The sender's parts and receipts take their ids from a block its connection reserved, so
    that their INSERT need not wait for an answer first (on SQLite: as without `reserved`)."""
    message_id = _message()
    table = MessagePart.__table__
    conn = db.session.connection()
    asked: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany):
        if "nextval" in statement:
            asked.append(statement)

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        first = bulk.insert_returning_ids(conn, table, PART_COLUMNS, _part_rows(message_id, range(1, 4)), reserved=True)
        second = bulk.insert_returning_ids(conn, table, PART_COLUMNS, _part_rows(message_id, range(4, 6)), reserved=True)
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    # Another writer's ids, from the sequence itself, never meet the reserved ones.
    other = bulk.insert_returning_ids(conn, table, PART_COLUMNS, _part_rows(message_id, range(6, 8)))
    db.session.commit()
    assert len(set(first + second + other)) == 7
    stored = db.session.execute(select(table.c.id, table.c.part_no).where(table.c.id.in_(first + second))).all()
    assert sorted(stored) == sorted(zip(first + second, (1, 2, 3, 4, 5)))
    if db.engine.dialect.name == "postgresql":
        assert len(asked) == 1  # one block, for both inserts
        assert second == [first[-1] + 1, first[-1] + 2]


def test_in_a_pipeline_writes_still_count_their_rows_and_reserve_ids(database_app):
    """In bulk.pipeline (PostgreSQL's pipeline mode) nothing waits for an answer until asked: a
    guarded update's count comes when asked for, and a reserve refilled inside is read right."""
    message_id = _message()
    table = MessagePart.__table__
    conn = db.session.connection()
    with bulk.pipeline(conn):
        ids = bulk.insert_returning_ids(conn, table, PART_COLUMNS, _part_rows(message_id, range(1, 3)), reserved=True)
        counted = bulk.update_many_counted(conn, table, ("status",), [
            {"b_id": ids[0], "status": "submitting", "g_status": "pending"},
            {"b_id": ids[1], "status": "submitting", "g_status": "submitted"}], guard=("status",))
        more = bulk.insert_returning_ids(conn, table, PART_COLUMNS, _part_rows(message_id, range(3, 4)),
                                      reserved=True)
        assert counted.value() == 1
    db.session.commit()
    assert len(set(ids + more)) == 3
    assert [db.session.get(MessagePart, i).status for i in ids + more] == ["submitting", "pending", "pending"]


def test_an_error_in_a_pipeline_is_raised_and_the_session_rolls_back_and_goes_on(database_app):
    """A refused write in a pipeline is raised by the block (on PostgreSQL when its answers come
    in, at the block's end); the session is rolled back as after any failed write, and its
    connection serves the next transaction."""
    message_id = _message()
    db.session.commit()
    table = MessagePart.__table__
    conn = db.session.connection()
    bulk.insert_many(conn, table, PART_COLUMNS, _part_rows(message_id, range(1, 2)))
    db.session.commit()
    with pytest.raises(IntegrityError) as refused:  # SQLAlchemy's, as for any statement
        conn = db.session.connection()
        with bulk.pipeline(conn):
            bulk.insert_many(conn, table, PART_COLUMNS, _part_rows(message_id, range(1, 2)))  # part 1 again
            bulk.insert_returning_ids(conn, table, PART_COLUMNS, _part_rows(message_id, range(2, 3)), reserved=True)
    assert "unique" in str(refused.value).lower()
    db.session.rollback()
    conn = db.session.connection()
    bulk.insert_returning_ids(conn, table, PART_COLUMNS, _part_rows(message_id, range(2, 3)), reserved=True)
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(table)) == 2


def test_a_connection_lost_in_a_pipeline_is_invalidated_and_the_next_transaction_gets_another(database_app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no connection to lose")
    message_id = _message()
    db.session.commit()
    table = MessagePart.__table__
    conn = db.session.connection()
    backend = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    with db.engine.connect() as other:  # the server drops this session's connection
        other.exec_driver_sql(f"SELECT pg_terminate_backend({int(backend)}, 5000)")  # and waits for it
    with pytest.raises(DBAPIError) as lost:
        with bulk.pipeline(conn):
            bulk.insert_many(conn, table, PART_COLUMNS, _part_rows(message_id, range(1, 2)))
    assert lost.value.connection_invalidated
    db.session.rollback()
    conn = db.session.connection()
    assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() != backend
    bulk.insert_many(conn, table, PART_COLUMNS, _part_rows(message_id, range(1, 2)))
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(table)) == 1
