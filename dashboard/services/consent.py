"""Consent: the ledger of opt-ins and opt-outs, and the projections the sender reads."""
from __future__ import annotations

from contextlib import closing
from datetime import datetime

from sqlalchemy import insert, select, update

from dashboard.extensions import db
from dashboard.models import BrandOptOut, ConsentChainHead, ConsentEvent, Contact, ListMembership
from dashboard.sms import ledger

OPT_IN = "opt_in"
OPT_OUT = "opt_out"
HEAD_ID = 1
VERIFY_BATCH = 2000


def record(contact: Contact, kind: str, *, source: str, evidence: str, actor: str, now: datetime,
           list_id: int | None = None, inbound_message_id: int | None = None,
           brand: str | None = None) -> ConsentEvent:
    """Append a consent event to the hash chain and update the projections used at send time.

    Scope: `list_id` for one list, `brand` for one brand's senders, neither for everything. A
    brand scope is written at the head of the evidence ("[scope: brand Acme] …"), so it is inside
    the hash without changing the chain format, and projected into BrandOptOut.

    Does not commit; the chain head stays locked until the caller's transaction ends, so keep
    that short.
    """
    if brand is not None:
        if list_id is not None or not brand:
            raise ValueError("a brand scope is neither empty nor combined with a list")
        evidence = f"{brand_scope_marker(brand)} {evidence}"
    row = _chained_rows([(contact, evidence)], kind, source=source, actor=actor, now=now, list_id=list_id,
                        inbound_message_id=inbound_message_id)[0]
    event = ConsentEvent(**row)
    db.session.add(event)
    db.session.flush()
    _move_head(event.id, event.hash, 1)
    if brand is not None:
        _project_brand(contact, kind, brand, now)
    else:
        _project([contact], kind, list_id, now)
    return event


def brand_scope_marker(brand: str) -> str:
    return f"[scope: brand {brand}]"


def _project_brand(contact: Contact, kind: str, brand: str, now: datetime) -> None:
    row = db.session.scalar(select(BrandOptOut).where(BrandOptOut.contact_id == contact.id,
                                                      BrandOptOut.brand == brand))
    if row is None:
        row = BrandOptOut(contact_id=contact.id, brand=brand)
        db.session.add(row)
    row.opted_out = kind == OPT_OUT
    row.updated_at = now


def record_many(items: list[tuple[Contact, str]], kind: str, *, source: str, actor: str, now: datetime,
                list_id: int | None = None) -> int:
    """`record` for many contacts at once (an import batch): one lock, one multi-row insert.

    `items` are (contact, evidence) pairs of contacts that have ids. Returns the events written.
    """
    if not items:
        return 0
    rows = _chained_rows(items, kind, source=source, actor=actor, now=now, list_id=list_id)
    # executemany without RETURNING: the ORM would insert row by row to learn each id.
    db.session.execute(insert(ConsentEvent), rows)
    last_id = db.session.scalar(select(ConsentEvent.id).where(ConsentEvent.prev_hash == rows[-1]["prev_hash"]))
    _move_head(last_id, rows[-1]["hash"], len(rows))
    _project([contact for contact, _evidence in items], kind, list_id, now)
    return len(rows)


def _chained_rows(items: list[tuple[Contact, str]], kind: str, *, source: str, actor: str, now: datetime,
                  list_id: int | None, inbound_message_id: int | None = None) -> list[dict]:
    """Lock the chain head and build the events' column values, each chained to the one before."""
    if kind not in (OPT_IN, OPT_OUT):
        raise ValueError(f"unknown consent kind {kind!r}")
    prev_hash = _lock_chain_head()
    rows = []
    for contact, evidence in items:
        entry = ledger.LedgerEntry(contact_id=contact.id, phone=contact.phone, list_id=list_id, kind=kind,
                                   source=source, evidence=evidence, inbound_message_id=inbound_message_id,
                                   actor=actor, created_at=now)
        digest = ledger.event_hash(entry, prev_hash)
        rows.append({"contact_id": contact.id, "phone": contact.phone, "list_id": list_id, "kind": kind,
                     "source": source, "evidence": evidence, "inbound_message_id": inbound_message_id,
                     "actor": actor, "created_at": now, "prev_hash": prev_hash, "hash": digest})
        prev_hash = digest
    return rows


def _move_head(last_event_id: int, last_hash: str, appended: int) -> None:
    # _lock_chain_head already counted one event.
    db.session.execute(update(ConsentChainHead).where(ConsentChainHead.id == HEAD_ID)
                       .values(last_event_id=last_event_id, last_hash=last_hash,
                               length=ConsentChainHead.length + appended - 1),
                       execution_options={"synchronize_session": False})


def _project(contacts: list[Contact], kind: str, list_id: int | None, now: datetime) -> None:
    """Keep the send-time projections in step with the ledger."""
    if list_id is None:
        for contact in contacts:
            contact.global_opt_out = kind == OPT_OUT
        return
    ids = [c.id for c in contacts]
    existing = set(db.session.scalars(select(ListMembership.contact_id).where(
        ListMembership.list_id == list_id, ListMembership.contact_id.in_(ids))))
    if existing:
        db.session.execute(update(ListMembership).where(
            ListMembership.list_id == list_id, ListMembership.contact_id.in_(existing))
            .values(subscribed=kind == OPT_IN), execution_options={"synchronize_session": "fetch"})
    new = [{"list_id": list_id, "contact_id": i, "subscribed": kind == OPT_IN, "created_at": now}
           for i in dict.fromkeys(ids) if i not in existing]
    if new:
        db.session.execute(insert(ListMembership), new)


def _lock_chain_head() -> str:
    """Take the appenders' lock, then read the hash to chain to.

    Writing the head row first is what stops two writers from forking the chain: on SQLite the
    UPDATE takes the database write lock (later writers wait on busy_timeout), on PostgreSQL it
    row-locks the head until commit, and under READ COMMITTED the next statement then sees the
    committed head. (Under REPEATABLE READ or SERIALIZABLE a waiting writer gets a serialization
    error instead and must retry.) The UNIQUE(prev_hash) constraint is the backstop: a fork
    cannot be stored even if this lock were bypassed.
    """
    db.session.execute(update(ConsentChainHead).where(ConsentChainHead.id == HEAD_ID)
                       .values(length=ConsentChainHead.length + 1),
                       execution_options={"synchronize_session": False})
    return db.session.scalar(select(ConsentChainHead.last_hash).where(ConsentChainHead.id == HEAD_ID))


def chain_head() -> ledger.ChainHead:
    head = db.session.get(ConsentChainHead, HEAD_ID, populate_existing=True)
    return ledger.ChainHead(last_event_id=head.last_event_id, last_hash=head.last_hash, length=head.length)


def stored_events():
    """Every event in chain order, streamed in batches (millions of rows never sit in memory).

    Plain column rows, not ORM objects: the session's identity map would keep every one.
    """
    query = (select(ConsentEvent.id, ConsentEvent.prev_hash, ConsentEvent.hash, *ENTRY_COLUMNS)
             .order_by(ConsentEvent.id).execution_options(yield_per=VERIFY_BATCH))
    result = db.session.execute(query)
    try:
        for row in result:
            yield ledger.StoredEvent(id=row.id, entry=entry_of(row), prev_hash=row.prev_hash, hash=row.hash)
    finally:
        # Verification stops at the first broken event: on PostgreSQL the stream is a server-side
        # cursor, which must be closed then, not whenever the garbage collector gets to it.
        result.close()


ENTRY_COLUMNS = (ConsentEvent.contact_id, ConsentEvent.phone, ConsentEvent.list_id, ConsentEvent.kind,
                 ConsentEvent.source, ConsentEvent.evidence, ConsentEvent.inbound_message_id, ConsentEvent.actor,
                 ConsentEvent.created_at)


def entry_of(event) -> ledger.LedgerEntry:
    """The hashed content of an event (a ConsentEvent or a row with the same column names)."""
    return ledger.LedgerEntry(contact_id=event.contact_id, phone=event.phone, list_id=event.list_id,
                              kind=event.kind, source=event.source, evidence=event.evidence,
                              inbound_message_id=event.inbound_message_id, actor=event.actor,
                              created_at=event.created_at)


def verify_chain() -> ledger.ChainReport:
    """Recompute the whole chain; the report names the first broken event, if any."""
    head = chain_head()
    with closing(stored_events()) as events:
        return ledger.verify(events, head)
