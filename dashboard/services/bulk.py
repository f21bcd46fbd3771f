"""Executemany for the sender's hottest statements, without SQLAlchemy's per-row work.

A Core `execute(stmt, [dict, …])` compiles (or finds in its cache) the statement, then runs every
parameter dict through the compiler's generic parameter construction. At a few thousand rows a
second that generic step cost more than SQLite itself (docs/performance.md). Here each statement
is compiled once per dialect by SQLAlchemy — so the SQL text, quoting and paramstyle are still
SQLAlchemy's, never built from strings — and each row becomes one tuple (or dict, for named
paramstyles), its values converted by the columns' own type processors: the same conversions
SQLAlchemy would apply, just without the machinery around them.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Table, bindparam, insert, text, update
from sqlalchemy.engine import Connection


@dataclass(frozen=True)
class _Prepared:
    sql: str
    order: tuple[str, ...] | None  # parameter names in position order; None for named paramstyles
    convert: tuple[tuple[str, str, Callable | None], ...]  # (parameter, row key, type processor)


_prepared: dict[tuple, _Prepared] = {}


def _prepare(conn: Connection, key: tuple, build: Callable[[], tuple]) -> _Prepared:
    """`build` returns the statement and the type of each of its bind parameters, by name; a row's
    key is the parameter's name without the "v_" that SQLAlchemy needs on bind parameters named
    after columns. Types are taken in the dialect's own implementation: the generic DateTime
    would leave datetimes to sqlite3's adapter, which writes no ".000000" on a whole second."""
    dialect = conn.dialect
    cache_key = (dialect.name, dialect.driver, key)
    found = _prepared.get(cache_key)
    if found is None:
        statement, types = build()
        compiled = statement.compile(dialect=dialect)
        names = tuple(compiled.positiontup) if compiled.positional else None
        params = names if names is not None else tuple(compiled.binds)
        found = _prepared[cache_key] = _Prepared(
            sql=compiled.string, order=names,
            convert=tuple((name, name.removeprefix("v_"), types[name].dialect_impl(dialect).bind_processor(dialect))
                          for name in params))
    return found


def _parameters(prepared: _Prepared, rows: Sequence[dict]) -> list:
    convert = prepared.convert
    if prepared.order is not None:
        return [tuple(row[key] if process is None else process(row[key])
                      for _, key, process in convert) for row in rows]
    return [{name: row[key] if process is None else process(row[key])
             for name, key, process in convert} for row in rows]


def _run(conn: Connection, prepared: _Prepared, rows: Sequence[dict]) -> int:
    return conn.exec_driver_sql(prepared.sql, _parameters(prepared, rows)).rowcount


def insert_many(conn: Connection, table: Table, columns: tuple[str, ...], rows: Sequence[dict]) -> None:
    """INSERT one row per dict; every dict has exactly `columns`."""
    if not rows:
        return
    _run(conn, _prepare_insert(conn, table, columns), rows)


def _prepare_insert(conn: Connection, table: Table, columns: tuple[str, ...]) -> _Prepared:
    def build():
        return (insert(table).values({c: bindparam(f"v_{c}") for c in columns}),
                {f"v_{c}": table.c[c].type for c in columns})
    return _prepare(conn, ("insert", table.name, columns), build)


# n new ids of a table's serial id, in increasing order (PostgreSQL).
_NEXT_IDS = text("SELECT nextval(pg_get_serial_sequence(:p_table, 'id')) "
                 "FROM generate_series(1, :p_count) ORDER BY 1")


def insert_returning_ids(conn: Connection, table: Table, columns: tuple[str, ...], rows: Sequence[dict]) -> list[int]:
    """INSERT one row per dict; their new ids, in the order of `rows`.

    A multi-row INSERT … RETURNING promises no order on SQLite, so SQLAlchemy adds a sorting
    sentinel and a lot of work per row. On SQLite each row is one execute of the prepared statement
    instead, whose id sqlite3 reports (`lastrowid`); elsewhere, SQLAlchemy's ordered RETURNING.
    """
    if not rows:
        return []
    if conn.dialect.name == "postgresql":
        # The ids first, from the table's sequence, then one executemany with them: SQLAlchemy's
        # ordered multi-row RETURNING made psycopg parse a statement of thousands of placeholders
        # per thousand rows (two thirds of a 10,000-message API batch, docs/performance.md).
        ids = list(conn.execute(_NEXT_IDS, {"p_table": table.name, "p_count": len(rows)}).scalars())
        _run(conn, _prepare_insert(conn, table, ("id", *columns)), [{**row, "id": i} for i, row in zip(ids, rows)])
        return ids
    if conn.dialect.name != "sqlite":
        statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        return list(conn.execute(statement, [{c: row[c] for c in columns} for row in rows]).scalars())
    prepared = _prepare_insert(conn, table, columns)
    cursor = conn.connection.driver_connection.cursor()
    ids = []
    try:
        for params in _parameters(prepared, rows):
            cursor.execute(prepared.sql, params)
            ids.append(cursor.lastrowid)
    finally:
        cursor.close()
    return ids


def update_many(conn: Connection, table: Table, columns: tuple[str, ...], rows: Sequence[dict],
                guard: tuple[str, ...] = ()) -> int:
    """UPDATE … SET columns WHERE id = :b_id [AND guard column = :g_<column> …], once per dict.
    Returns how many rows changed in all, so that a guarded caller can tell whether any row had
    moved under it (sqlite3 and psycopg both sum rowcount over an executemany)."""
    if not rows:
        return 0

    def build():
        condition = table.c.id == bindparam("b_id")
        for column in guard:
            condition = condition & (table.c[column] == bindparam(f"g_{column}"))
        types = {f"v_{c}": table.c[c].type for c in columns}
        types["b_id"] = table.c.id.type
        types.update({f"g_{c}": table.c[c].type for c in guard})
        return update(table).where(condition).values({c: bindparam(f"v_{c}") for c in columns}), types
    return _run(conn, _prepare(conn, ("update", table.name, columns, guard), build), rows)
