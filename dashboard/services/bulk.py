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

from sqlalchemy import Table, bindparam, insert, update
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


def _run(conn: Connection, prepared: _Prepared, rows: Sequence[dict]) -> int:
    convert = prepared.convert
    if prepared.order is not None:
        params = [tuple(row[key] if process is None else process(row[key])
                        for _, key, process in convert) for row in rows]
    else:
        params = [{name: row[key] if process is None else process(row[key])
                   for name, key, process in convert} for row in rows]
    return conn.exec_driver_sql(prepared.sql, params).rowcount


def insert_many(conn: Connection, table: Table, columns: tuple[str, ...], rows: Sequence[dict]) -> None:
    """INSERT one row per dict; every dict has exactly `columns`."""
    if not rows:
        return

    def build():
        return (insert(table).values({c: bindparam(f"v_{c}") for c in columns}),
                {f"v_{c}": table.c[c].type for c in columns})
    _run(conn, _prepare(conn, ("insert", table.name, columns), build), rows)


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
