"""Executemany for the sender's hottest statements, without SQLAlchemy's per-row work.

A Core `execute(stmt, [dict, …])` compiles (or finds in its cache) the statement, then runs every
parameter dict through the compiler's generic parameter construction. At a few thousand rows a
second that generic step cost more than SQLite itself (docs/performance.md). Here each statement
is compiled once per dialect by SQLAlchemy — so the SQL text, quoting and paramstyle are still
SQLAlchemy's, never built from strings — and each row becomes one tuple (or dict, for named
paramstyles), its values converted by the columns' own type processors: the same conversions
SQLAlchemy would apply, just without the machinery around them.

On PostgreSQL a batch is one statement whatever its size: the rows travel as one array per column
and the statement reads them with `unnest`, so the server plans once and the driver adapts a few
lists instead of building and parsing a statement per row (docs/performance.md, "PostgreSQL").
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Integer, Table, bindparam, cast, func, insert, select, update
from sqlalchemy import Sequence as DatabaseSequence
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from dashboard.extensions import db


@dataclass(frozen=True)
class _Prepared:
    sql: str
    order: tuple[str, ...] | None  # parameter names in position order; None for named paramstyles
    convert: tuple[tuple[str, str, Callable | None], ...]  # (parameter, row key, type processor)


_prepared: dict[tuple, _Prepared] = {}


def _prepare(conn: Connection, key: tuple, build: Callable[[], tuple], binary: bool = False) -> _Prepared:
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
        found = _Prepared(
            sql=compiled.string, order=names,
            convert=tuple((name, name.removeprefix("v_"), types[name].dialect_impl(dialect).bind_processor(dialect))
                          for name in params))
        found = _prepared[cache_key] = _binary(found) if binary else found
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


def _arrays(prepared: _Prepared, rows: Sequence[dict]) -> dict[str, list]:
    """One list per parameter, its values converted by the column's type processor: the arrays of
    an `unnest` statement."""
    return {name: [row[key] if process is None else process(row[key]) for row in rows]
            for name, key, process in prepared.convert}


def _unnest(table: Table, names: dict[str, str]):
    """The rows of a batch as a table, from one array parameter per column: `names` maps each
    parameter to the column whose type its elements have."""
    arrays = [cast(bindparam(name), postgresql.ARRAY(_element_type(table.c[column].type)))
              for name, column in names.items()]
    return func.unnest(*arrays).table_valued(*names).render_derived(name="v")


def _element_type(column_type):
    # A TypeDecorator (our UTC datetimes) is stored as its implementation; the values given are
    # already converted by the decorator's processor.
    return getattr(column_type, "impl_instance", None) or getattr(column_type, "impl", None) or column_type


def _types(table: Table, names: dict[str, str]) -> dict:
    return {name: table.c[column].type for name, column in names.items()}


def insert_many(conn: Connection, table: Table, columns: tuple[str, ...], rows: Sequence[dict]) -> None:
    """INSERT one row per dict; every dict has exactly `columns`."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        prepared = _prepare_pg_insert(conn, table, columns)
        conn.exec_driver_sql(prepared.sql, _arrays(prepared, rows))
        return
    _run(conn, _prepare_insert(conn, table, columns), rows)


def _prepare_pg_insert(conn: Connection, table: Table, columns: tuple[str, ...]) -> _Prepared:
    def build():
        names = {f"v_{c}": c for c in columns}
        rows = _unnest(table, names)
        return (insert(table).from_select(list(columns), select(*(rows.c[name] for name in names))),
                _types(table, names))
    return _prepare(conn, ("pg-insert", table.name, columns), build, binary=True)


def _binary(prepared: _Prepared) -> _Prepared:
    """The statement with its array parameters sent in PostgreSQL's binary format: psycopg writes
    a text array by quoting and escaping every element (each JSON of the timeline, each id), and
    that was most of the sender's time on PostgreSQL. Only the placeholders SQLAlchemy compiled
    change, `%(name)s` to psycopg's `%(name)b`."""
    sql = prepared.sql
    for name, _key, _process in prepared.convert:
        sql = sql.replace(f"%({name})s", f"%({name})b")
    return _Prepared(sql=sql, order=prepared.order, convert=prepared.convert)


def _prepare_insert(conn: Connection, table: Table, columns: tuple[str, ...]) -> _Prepared:
    def build():
        return (insert(table).values({c: bindparam(f"v_{c}") for c in columns}),
                {f"v_{c}": table.c[c].type for c in columns})
    return _prepare(conn, ("insert", table.name, columns), build)


def insert_returning_ids(conn: Connection, table: Table, columns: tuple[str, ...], rows: Sequence[dict],
                         *, reserved: bool = False) -> list[int]:
    """INSERT one row per dict; their new ids, in the order of `rows`.

    A multi-row INSERT … RETURNING promises no order on SQLite, so SQLAlchemy adds a sorting
    sentinel and a lot of work per row. On SQLite each row is one execute of the prepared statement
    instead, whose id sqlite3 reports (`lastrowid`); elsewhere, SQLAlchemy's ordered RETURNING.

    `reserved` (PostgreSQL): the ids come from a block this connection took from the sequence
    earlier (RESERVED_BLOCK at a time), so the insert needs no answer from the server first and can
    go out in a pipeline. Ids then follow the order of each connection's inserts, not of all
    of them: only for tables nothing reads in id order across writers (the sender's parts and
    receipts; not messages, which the API pages by id, nor the webhook outbox).
    """
    if not rows:
        return []
    if conn.dialect.name == "postgresql":
        # The ids are taken from the table's sequence first, in order, and inserted with the rows:
        # one statement, and no question of the order RETURNING would give them in.
        ids = (_take_reserved(conn, table, len(rows)) if reserved
               else list(conn.execute(_reserve_ids(table), {"n": len(rows)}).scalars()))
        insert_many(conn, table, ("id", *columns), [{**row, "id": row_id} for row, row_id in zip(rows, ids)])
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


RESERVED_BLOCK = 1000


def _take_reserved(conn: Connection, table: Table, n: int) -> list[int]:
    # Kept with the database connection (SQLAlchemy's per-connection `info`), for its life: a
    # sequence's values are never handed out twice, whatever becomes of the transaction that took
    # them, so a rolled-back batch leaves its ids for the next one.
    reserve = conn.connection.info.setdefault("reserved_ids", {}).setdefault(table.name, deque())
    if len(reserve) < n:
        wanted = {"n": max(n - len(reserve), RESERVED_BLOCK)}
        if conn.connection.info.get("pipeline") is None:
            reserve.extend(conn.execute(_reserve_ids(table), wanted).scalars())
        else:
            # In a pipeline SQLAlchemy cannot tell a statement returns rows before its answer
            # comes; psycopg's own fetch waits for it.
            compiled = _reserve_ids(table).compile(dialect=conn.dialect)
            with conn.connection.driver_connection.cursor() as cursor:
                cursor.execute(compiled.string, compiled.construct_params(wanted))
                reserve.extend(row[0] for row in cursor.fetchall())
    return [reserve.popleft() for _ in range(n)]


def _reserve_ids(table: Table):
    # The serial column's own sequence, by PostgreSQL's name for it (looking it up with
    # pg_get_serial_sequence() for every row cost as much as the insert).
    sequence = DatabaseSequence(f"{table.name}_id_seq")
    return select(sequence.next_value()).select_from(func.generate_series(1, bindparam("n", type_=Integer)))


class RowCount:
    """How many rows a statement matched. In a pipeline (`pipeline`) the server has not answered
    yet when the statement returns: asking for the count waits for it then."""

    def __init__(self, known: int | None = None, cursor=None, driver_pipeline=None) -> None:
        self._known, self._cursor, self._pipeline = known, cursor, driver_pipeline

    @classmethod
    def of(cls, conn: Connection, result) -> RowCount:
        driver_pipeline = conn.connection.info.get("pipeline")
        if driver_pipeline is None:
            return cls(result.rowcount)
        # SQLAlchemy has closed the cursor (a statement without rows), but psycopg still gives
        # it the count when the pipeline's answers come in.
        return cls(cursor=result.context.cursor, driver_pipeline=driver_pipeline)

    def value(self) -> int:
        if self._known is None:
            if self._cursor.rowcount < 0:  # not answered yet: everything sent so far is waited for
                self._pipeline.sync()
            self._known = self._cursor.rowcount
        return self._known


def update_many(conn: Connection, table: Table, columns: tuple[str, ...], rows: Sequence[dict],
                guard: tuple[str, ...] = ()) -> int:
    """UPDATE … SET columns WHERE id = :b_id [AND guard column = :g_<column> …], once per dict.
    Returns how many rows changed in all, so that a guarded caller can tell whether any row had
    moved under it (sqlite3 and psycopg both sum rowcount over an executemany; on PostgreSQL the
    one UPDATE … FROM unnest(…) counts the rows it matched)."""
    return update_many_counted(conn, table, columns, rows, guard).value()


def update_many_counted(conn: Connection, table: Table, columns: tuple[str, ...], rows: Sequence[dict],
                        guard: tuple[str, ...] = ()) -> RowCount:
    """update_many, its count asked for later: in a pipeline, the statement does not wait."""
    if not rows:
        return RowCount(0)
    if conn.dialect.name == "postgresql":
        prepared = _prepare_pg_update(conn, table, columns, guard)
        return RowCount.of(conn, conn.exec_driver_sql(prepared.sql, _arrays(prepared, rows)))

    def build():
        condition = table.c.id == bindparam("b_id")
        for column in guard:
            condition = condition & (table.c[column] == bindparam(f"g_{column}"))
        types = {f"v_{c}": table.c[c].type for c in columns}
        types["b_id"] = table.c.id.type
        types.update({f"g_{c}": table.c[c].type for c in guard})
        return update(table).where(condition).values({c: bindparam(f"v_{c}") for c in columns}), types
    return RowCount(_run(conn, _prepare(conn, ("update", table.name, columns, guard), build), rows))


@contextmanager
def pipeline(conn: Connection) -> Iterator[None]:
    """On PostgreSQL, the statements of the block are sent without waiting for each one's answer
    (psycopg's pipeline mode): a transaction's writes cost one round trip, waited for at the
    block's end, instead of one each; the COMMIT after the block is one more. A statement whose rows are fetched, or a RowCount asked for, waits for everything
    sent before it; an error surfaces there or at the commit, and the transaction is rolled back as
    ever. On SQLite, which answers in-process, the block runs as it is."""
    if conn.dialect.name != "postgresql":
        yield
        return
    info = conn.connection.info
    dbapi_error = conn.dialect.loaded_dbapi.Error
    try:
        with conn.connection.driver_connection.pipeline() as driver_pipeline:
            info["pipeline"] = driver_pipeline
            try:
                yield
            finally:
                info.pop("pipeline", None)
    except dbapi_error as exc:
        # An answer that came in at the block's end (or at a RowCount's wait) is psycopg's own
        # error, past SQLAlchemy: raised as SQLAlchemy raises a statement's (IntegrityError …),
        # and a lost connection is invalidated, not handed out again.
        lost = conn.dialect.is_disconnect(exc, conn.connection.dbapi_connection, None)
        if lost:
            conn.invalidate(exc)
        raise DBAPIError.instance(None, None, exc, dbapi_error, connection_invalidated=lost,
                                  dialect=conn.dialect) from exc


def on_conflict_do_nothing(table, *unique_columns: str, where=None):
    """INSERT … ON CONFLICT (unique_columns) [WHERE where] DO NOTHING, in this database's dialect: a
    row that is there already (a retried batch, a racing worker) is skipped by the database.
    `where` is the predicate of a partial unique index, which both databases need to find it."""
    dialect_insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
    return dialect_insert(table).on_conflict_do_nothing(index_elements=list(unique_columns), index_where=where)


def _prepare_pg_update(conn: Connection, table: Table, columns: tuple[str, ...], guard: tuple[str, ...]) -> _Prepared:
    def build():
        names = {"b_id": "id", **{f"v_{c}": c for c in columns}, **{f"g_{c}": c for c in guard}}
        rows = _unnest(table, names)
        condition = table.c.id == rows.c.b_id
        for column in guard:
            condition = condition & (table.c[column] == rows.c[f"g_{column}"])
        return (update(table).where(condition).values({c: rows.c[f"v_{c}"] for c in columns}),
                _types(table, names))
    return _prepare(conn, ("pg-update", table.name, columns, guard), build, binary=True)
