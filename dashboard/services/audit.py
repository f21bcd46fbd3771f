"""The audit trail: who changed what, when and from where; append-only and hash-chained.

Services call `record()` in the same transaction as the change it describes, so a change and its
audit row commit (or roll back) together. Who acts is read from `flask.g.audit_actor`, which the
web layer sets for each request (the logged-in user and the client address) and the CLI for each
command; anything else (the worker's jobs) acts as "system". The chain works like the consent
ledger's (docs/consent.md): each row's hash covers its content and the hash before it, a one-row
head records the end, and database triggers refuse UPDATE and DELETE (docs/security.md).
"""

from __future__ import annotations

import json
from contextlib import closing
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

from flask import g, has_app_context
from sqlalchemy import Select, func, select, update

from dashboard.extensions import db
from dashboard.models import AuditChainHead, AuditLog
from dashboard.models.types import utcnow
from dashboard.sms import ledger

HEAD_ID = 1
MASK = "********"
VERIFY_BATCH = 2000
EXPORT_COLUMNS = (
    "id",
    "at",
    "actor",
    "user_id",
    "ip",
    "action",
    "target_type",
    "target_id",
    "changes",
    "format",
    "filters",
    "row_count",
    "detail",
    "prev_hash",
    "hash",
)


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    email: str
    ip: str = ""


SYSTEM = Actor(None, "system")


def current_actor() -> Actor:
    return (getattr(g, "audit_actor", None) if has_app_context() else None) or SYSTEM


def act_as(actor: Actor) -> None:
    """Who the audit rows of this request or command are written for."""
    g.audit_actor = actor


def _plain(value: Any) -> Any:
    """A value as JSON keeps it: what the hash covers must read back identically."""
    if isinstance(value, datetime):
        return ledger.timestamp(value)
    if isinstance(value, (date, Decimal)):
        return str(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def snapshot(obj: Any, fields: Iterable[str]) -> dict[str, Any]:
    """The named attributes of a model, as plain values (before/after a change)."""
    return {name: _plain(getattr(obj, name)) for name in fields}


def diff(
    before: Mapping[str, Any], after: Mapping[str, Any], secrets: Iterable[str] = ()
) -> dict[str, list]:
    """field → [before, after] for the fields that changed; secrets show only that they changed."""
    hidden = set(secrets)
    changes = {}
    for name in sorted(set(before) | set(after)):
        old, new = _plain(before.get(name)), _plain(after.get(name))
        if old != new:
            changes[name] = (
                [MASK if old is not None else None, MASK] if name in hidden else [old, new]
            )
    return changes


def record(
    action: str,
    *,
    target: Any = None,
    target_type: str = "",
    target_id: int | None = None,
    changes: Mapping[str, Any] | None = None,
    detail: str = "",
    format: str | None = None,
    filters: Mapping[str, Any] | None = None,
    row_count: int | None = None,
    actor: Actor | None = None,
    now: datetime | None = None,
) -> AuditLog:
    """Append one audit row in the caller's transaction (no commit). `target` is a model
    instance (its table name and id are recorded), or give `target_type`/`target_id`."""
    actor = actor or current_actor()
    if target is not None:
        target_type, target_id = target.__tablename__, target.id
    values = {
        "at": now or utcnow(),
        "user_id": actor.user_id,
        "actor": actor.email[:254],
        "ip": (actor.ip or "")[:45],
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "changes": _plain(dict(changes or {})),
        "format": format,
        "filters": _plain(dict(filters or {})),
        "row_count": row_count,
        "detail": (detail or "")[:500],
    }
    prev_hash = _lock_head()
    entry = AuditLog(
        **values, prev_hash=prev_hash, hash=ledger.record_hash(payload(values), prev_hash)
    )
    db.session.add(entry)
    db.session.flush()
    db.session.execute(
        update(AuditChainHead)
        .where(AuditChainHead.id == HEAD_ID)
        .values(last_event_id=entry.id, last_hash=entry.hash),
        execution_options={"synchronize_session": False},
    )
    return entry


def payload(row: Any) -> dict[str, Any]:
    """What a row's hash covers (a mapping of its columns, or an AuditLog)."""
    get = row.get if isinstance(row, Mapping) else lambda name: getattr(row, name)
    values = {
        name: get(name)
        for name in (
            "user_id",
            "actor",
            "ip",
            "action",
            "target_type",
            "target_id",
            "changes",
            "format",
            "filters",
            "row_count",
            "detail",
        )
    }
    return {"v": 1, "at": ledger.timestamp(get("at")), **values}


def _lock_head() -> str:
    # Update the head first: it serialises appenders exactly like the consent ledger's head
    # (services/consent.py `_lock_chain_head`), and UNIQUE(prev_hash) is the backstop.
    db.session.execute(
        update(AuditChainHead)
        .where(AuditChainHead.id == HEAD_ID)
        .values(length=AuditChainHead.length + 1),
        execution_options={"synchronize_session": False},
    )
    return db.session.scalar(select(AuditChainHead.last_hash).where(AuditChainHead.id == HEAD_ID))


def verify_chain() -> ledger.ChainReport:
    """Recompute every row's hash and link, and compare the end with the head."""
    head = db.session.get(AuditChainHead, HEAD_ID, populate_existing=True)
    result = db.session.execute(
        select(AuditLog.__table__).order_by(AuditLog.id).execution_options(yield_per=VERIFY_BATCH)
    )
    events = (
        ledger.StoredEvent(row["id"], payload(row), row["prev_hash"], row["hash"]) for row in result.mappings()
    )
    # Closed when verification stops at the first broken row: on PostgreSQL the stream is a
    # server-side cursor.
    with closing(result):
        return ledger.verify(
            events,
            ledger.ChainHead(head.last_event_id, head.last_hash, head.length),
            digest=ledger.record_hash,
        )


# ----------------------------------------------------------------------------- exports


def export_started(
    action: str,
    *,
    fmt: str,
    filters: Mapping[str, Any] | None = None,
    detail: str = "",
    target: Any = None,
    now: datetime | None = None,
) -> AuditLog:
    """Write and commit the audit row of an export before its first byte leaves: an aborted
    download is still logged. `export_finished` appends the row count once the last byte is out."""
    entry = record(action, format=fmt, filters=filters, detail=detail, target=target, now=now)
    db.session.commit()
    return entry


def export_finished(start_id: int, count: int) -> None:
    record("export_finished", target_type="audit_log", target_id=start_id, row_count=count)
    db.session.commit()


# ----------------------------------------------------------------------------- browsing


@dataclass(frozen=True)
class AuditFilter:
    action: str = ""
    actor: str = ""
    target_type: str = ""
    since: date | None = None
    until: date | None = None  # inclusive

    def as_dict(self) -> dict[str, str]:
        values = {
            "action": self.action,
            "actor": self.actor,
            "target_type": self.target_type,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
        }
        return {key: value for key, value in values.items() if value}


def _filtered(query: Select, flt: AuditFilter) -> Select:
    if flt.action:
        query = query.where(AuditLog.action == flt.action)
    if flt.actor:
        query = query.where(func.lower(AuditLog.actor) == flt.actor.strip().lower())
    if flt.target_type:
        query = query.where(AuditLog.target_type == flt.target_type)
    if flt.since:
        query = query.where(
            AuditLog.at >= datetime.combine(flt.since, time(0), tzinfo=timezone.utc)
        )
    if flt.until:
        query = query.where(
            AuditLog.at
            < datetime.combine(flt.until + timedelta(days=1), time(0), tzinfo=timezone.utc)
        )
    return query


def entries(
    flt: AuditFilter, page: int, page_size: int
) -> tuple[list[AuditLog], dict[int, int], bool]:
    """One page, newest first; the row counts of the exports on it (start id → rows); more?"""
    rows = db.session.scalars(
        _filtered(select(AuditLog), flt)
        .order_by(AuditLog.id.desc())
        .offset((page - 1) * page_size)
        .limit(page_size + 1)
    ).all()
    starts = [row.id for row in rows[:page_size]]
    finished = (
        dict(
            db.session.execute(
                select(AuditLog.target_id, AuditLog.row_count).where(
                    AuditLog.action == "export_finished", AuditLog.target_id.in_(starts)
                )
            ).all()
        )
        if starts
        else {}
    )
    return list(rows[:page_size]), finished, len(rows) > page_size


def choices() -> tuple[list[str], list[str]]:
    """The actions and target types that occur, for the filter's menus."""
    actions = db.session.scalars(select(AuditLog.action).distinct().order_by(AuditLog.action)).all()
    targets = db.session.scalars(
        select(AuditLog.target_type)
        .distinct()
        .where(AuditLog.target_type != "")
        .order_by(AuditLog.target_type)
    ).all()
    return list(actions), list(targets)


def export_rows(flt: AuditFilter) -> Iterator[list]:
    """Every matching row, oldest first, as CSV cells (JSON columns as JSON text)."""
    query = (
        _filtered(select(AuditLog.__table__), flt)
        .order_by(AuditLog.id)
        .execution_options(yield_per=1000)
    )
    for row in db.session.execute(query).mappings():
        values = dict(row) | {
            "at": ledger.timestamp(row["at"]),
            "changes": json.dumps(row["changes"], sort_keys=True),
            "filters": json.dumps(row["filters"], sort_keys=True),
        }
        yield ["" if values[c] is None else values[c] for c in EXPORT_COLUMNS]
