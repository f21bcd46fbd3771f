"""SQL expressions several services build, written once for SQLite and PostgreSQL alike."""
from __future__ import annotations

from sqlalchemy import BigInteger, ColumnElement, Integer, case, cast, func, or_

from dashboard.extensions import db
from dashboard.sms.regions import SHARED_CALLING_CODES, SHARED_PREFIX_CHARS, SINGLE_PREFIX_CHARS


def is_postgresql() -> bool:
    return db.engine.dialect.name == "postgresql"


def region_prefix(column) -> ColumnElement:
    """dashboard.sms.regions.region_prefix, in SQL, so the database groups by it."""
    shared = or_(*(func.substr(column, 2, len(code)) == code for code in SHARED_CALLING_CODES))
    return case((shared, func.substr(column, 1, SHARED_PREFIX_CHARS)),
                else_=func.substr(column, 1, SINGLE_PREFIX_CHARS))


def count_where(condition) -> ColumnElement:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def seconds_between(start, end) -> ColumnElement:
    if is_postgresql():
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def epoch_bucket(column, seconds: int) -> ColumnElement:
    """The start of the `seconds`-long period a UTC timestamp falls in, as seconds since 1970
    (timestamps are stored without a zone, in UTC: docs/architecture.md, models/types.py)."""
    if is_postgresql():
        return cast(func.floor(func.extract("epoch", column) / seconds), BigInteger) * seconds
    return cast(func.strftime("%s", column), Integer) // seconds * seconds
