"""Compliance review: search the consent ledger, prove one number's consent, export.

Exports are generators over `yield_per` batches, so a million events stream out in constant
memory; every export and every chain check is written to the audit trail first.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import Select, func, select

from dashboard.csv_stream import csv_chunks as stream_csv
from dashboard.extensions import db
from dashboard.models import AuditLog, ConsentEvent, ContactList
from dashboard.services import audit, consent
from dashboard.sms import ledger

EXPORT_BATCH = 1000
CHUNK_ROWS = 500  # rows per chunk written to the socket: fewer, larger writes
EXPORT_COLUMNS = ("id", "created_at", "phone", "contact_id", "list_id", "list_name", "kind", "source",
                  "evidence", "inbound_message_id", "actor", "prev_hash", "hash")
GLOBAL = "global"


@dataclass(frozen=True)
class ConsentFilter:
    """What a reviewer searches or exports. `scope` is "" (any), "global", or a list id."""

    phone: str = ""
    scope: str = ""
    since: date | None = None
    until: date | None = None  # inclusive

    def as_dict(self) -> dict[str, str]:
        """Only the filters that are set, as strings: for URLs and the audit log."""
        values = {"phone": self.phone, "scope": self.scope,
                  "since": self.since.isoformat() if self.since else "",
                  "until": self.until.isoformat() if self.until else ""}
        return {key: value for key, value in values.items() if value}


@dataclass(frozen=True)
class HistoryRow:
    event: ConsentEvent
    list_name: str | None
    problem: str  # "" when the event's own hash and its link are sound


def _filtered(query: Select, flt: ConsentFilter) -> Select:
    if flt.phone:
        query = query.where(ConsentEvent.phone == flt.phone)
    if flt.scope == GLOBAL:
        query = query.where(ConsentEvent.list_id.is_(None))
    elif flt.scope:
        query = query.where(ConsentEvent.list_id == int(flt.scope))
    if flt.since:
        query = query.where(ConsentEvent.created_at >= _midnight(flt.since))
    if flt.until:
        query = query.where(ConsentEvent.created_at < _midnight(flt.until + timedelta(days=1)))
    return query


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


def _events_with_list_names() -> Select:
    return select(ConsentEvent, ContactList.name).outerjoin(ContactList, ContactList.id == ConsentEvent.list_id)


def search(flt: ConsentFilter, page: int, page_size: int) -> tuple[list[tuple[ConsentEvent, str | None]], bool]:
    """One page of matching events, newest first, and whether there is another page."""
    query = _filtered(_events_with_list_names(), flt).order_by(ConsentEvent.id.desc())
    rows = db.session.execute(query.offset((page - 1) * page_size).limit(page_size + 1)).all()
    return [tuple(row) for row in rows[:page_size]], len(rows) > page_size


def history(phone: str) -> list[HistoryRow]:
    """Every event for one number, oldest first, each checked against its own hash and link."""
    rows = db.session.execute(_filtered(_events_with_list_names(), ConsentFilter(phone=phone))
                              .order_by(ConsentEvent.id)).all()
    return [HistoryRow(event, list_name, _check(event)) for event, list_name in rows]


def _check(event: ConsentEvent) -> str:
    predecessor = db.session.execute(select(ConsentEvent.id, ConsentEvent.hash).where(ConsentEvent.id < event.id)
                                     .order_by(ConsentEvent.id.desc()).limit(1)).first()
    stored = ledger.StoredEvent(event.id, consent.entry_of(event), event.prev_hash, event.hash)
    if predecessor is None:
        return ledger.check_event(stored, ledger.GENESIS, None)
    return ledger.check_event(stored, predecessor.hash, predecessor.id)


def list_choices() -> list[tuple[str, str]]:
    lists = db.session.execute(select(ContactList.id, ContactList.name).order_by(ContactList.name)).all()
    return [("", "Any list or global"), (GLOBAL, "Global (all messages)")] + [(str(i), n) for i, n in lists]


def _export_rows(flt: ConsentFilter) -> Iterator[dict]:
    # Ascending id: the order an offline verifier walks the chain in. Plain column rows, not ORM
    # objects, so the session's identity map does not grow with the export.
    columns = (ConsentEvent.id, ConsentEvent.created_at, ConsentEvent.phone, ConsentEvent.contact_id,
               ConsentEvent.list_id, ContactList.name.label("list_name"), ConsentEvent.kind, ConsentEvent.source,
               ConsentEvent.evidence, ConsentEvent.inbound_message_id, ConsentEvent.actor, ConsentEvent.prev_hash,
               ConsentEvent.hash)
    query = (_filtered(select(*columns).outerjoin(ContactList, ContactList.id == ConsentEvent.list_id), flt)
             .order_by(ConsentEvent.id).execution_options(yield_per=EXPORT_BATCH))
    for row in db.session.execute(query):
        values = row._asdict()
        values["created_at"] = ledger.timestamp(row.created_at)
        yield values


def csv_chunks(flt: ConsentFilter, audit_id: int) -> Iterator[str]:
    rows = (["" if row[c] is None else row[c] for c in EXPORT_COLUMNS] for row in _export_rows(flt))
    return stream_csv(EXPORT_COLUMNS, rows, CHUNK_ROWS, lambda count: audit.export_finished(audit_id, count))


def json_chunks(flt: ConsentFilter, audit_id: int, now: datetime) -> Iterator[str]:
    """One JSON document, written piece by piece: metadata first, the events array, the count last."""
    header = {"exported_at": ledger.timestamp(now), "filters": flt.as_dict(),
              "hash_format": f"consent-ledger v{ledger.CHAIN_VERSION}, see docs/consent.md"}
    yield json.dumps(header)[:-1] + ', "events": [\n'
    count, chunk = 0, []
    for row in _export_rows(flt):
        chunk.append(("" if count == 0 else ",\n") + json.dumps(row))
        count += 1
        if len(chunk) >= CHUNK_ROWS:
            yield "".join(chunk)
            chunk = []
    chunk.append(f'\n], "count": {count}}}\n')
    yield "".join(chunk)
    audit.export_finished(audit_id, count)


def start_export(flt: ConsentFilter, fmt: str, now: datetime) -> AuditLog:
    return audit.export_started("consent_export", fmt=fmt, filters=flt.as_dict(), now=now)


def verify_and_log(now: datetime) -> tuple[ledger.ChainReport, consent.ProjectionReport]:
    """Check the chain and every projection against the ledger; the check itself is audited."""
    report, projections = consent.verify_chain(), consent.verify_projections()
    audit.record("consent_verify", row_count=report.count, now=now,
                 detail=f"{report.summary()}; {projections.summary()}")
    db.session.commit()
    return report, projections


def event_count() -> int:
    return db.session.scalar(select(func.count()).select_from(ConsentEvent)) or 0
