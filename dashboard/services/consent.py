"""Consent: the ledger of opt-ins and opt-outs, and the projections the sender reads."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from dashboard.extensions import db
from dashboard.models import ConsentChainHead, ConsentEvent, Contact, ListMembership
from dashboard.sms import ledger

OPT_IN = "opt_in"
OPT_OUT = "opt_out"
HEAD_ID = 1
VERIFY_BATCH = 2000


def record(contact: Contact, kind: str, *, source: str, evidence: str, actor: str, now: datetime,
           list_id: int | None = None, inbound_message_id: int | None = None) -> ConsentEvent:
    """Append a consent event to the hash chain and update the projections used at send time.

    Does not commit; the chain head stays locked until the caller's transaction ends, so keep
    that short.
    """
    if kind not in (OPT_IN, OPT_OUT):
        raise ValueError(f"unknown consent kind {kind!r}")
    entry = ledger.LedgerEntry(contact_id=contact.id, phone=contact.phone, list_id=list_id, kind=kind,
                               source=source, evidence=evidence, inbound_message_id=inbound_message_id,
                               actor=actor, created_at=now)
    prev_hash = _lock_chain_head()
    event = ConsentEvent(contact_id=contact.id, phone=contact.phone, list_id=list_id, kind=kind, source=source,
                         evidence=evidence, actor=actor, inbound_message_id=inbound_message_id, created_at=now,
                         prev_hash=prev_hash, hash=ledger.event_hash(entry, prev_hash))
    db.session.add(event)
    db.session.flush()
    db.session.execute(update(ConsentChainHead).where(ConsentChainHead.id == HEAD_ID)
                       .values(last_event_id=event.id, last_hash=event.hash),
                       execution_options={"synchronize_session": False})
    if list_id is None:
        contact.global_opt_out = kind == OPT_OUT
    else:
        membership = db.session.scalar(select(ListMembership).where(
            ListMembership.list_id == list_id, ListMembership.contact_id == contact.id))
        if membership is None:
            membership = ListMembership(list_id=list_id, contact_id=contact.id, created_at=now)
            db.session.add(membership)
        membership.subscribed = kind == OPT_IN
    return event


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
    """Every event in chain order, streamed in batches (millions of rows never sit in memory)."""
    query = select(ConsentEvent).order_by(ConsentEvent.id).execution_options(yield_per=VERIFY_BATCH)
    for event in db.session.scalars(query):
        yield ledger.StoredEvent(id=event.id, entry=entry_of(event), prev_hash=event.prev_hash, hash=event.hash)


def entry_of(event: ConsentEvent) -> ledger.LedgerEntry:
    return ledger.LedgerEntry(contact_id=event.contact_id, phone=event.phone, list_id=event.list_id,
                              kind=event.kind, source=event.source, evidence=event.evidence,
                              inbound_message_id=event.inbound_message_id, actor=event.actor,
                              created_at=event.created_at)


def verify_chain() -> ledger.ChainReport:
    """Recompute the whole chain; the report names the first broken event, if any."""
    head = chain_head()
    return ledger.verify(stored_events(), head)
