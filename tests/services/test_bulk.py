"""The sender's executemany shortcut must store exactly what SQLAlchemy itself would store: the same
text for a datetime (SQLite compares them as strings), the same JSON, numbers and booleans —
on SQLite and on PostgreSQL, whose driver takes named parameters instead of positional ones."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import insert, select, text

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
