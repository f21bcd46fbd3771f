"""Consent: the ledger of opt-ins and opt-outs, and the projections the sender reads."""
from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update

from dashboard.extensions import db
from dashboard.models import (BrandOptOut, ConsentChainHead, ConsentEvent, Contact, ContactList, ListMembership,
                              SenderId)
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


# ----------------------------------------------------------------------------- projections against the ledger

BRAND_MARKER_START = "[scope: brand "
MISMATCHES_SHOWN = 100


@dataclass(frozen=True)
class ProjectionMismatch:
    """A projection the sender reads that disagrees with the ledger, for one contact."""

    contact_id: int
    phone: str
    projection: str  # "global opt-out", "list 3 membership", "brand Acme opt-out"
    stored: str
    ledger: str
    event_id: int | None  # the ledger's latest event for that scope (None: there is none)

    def __str__(self) -> str:
        proof = f"event {self.event_id}" if self.event_id else "no event"
        return (f"contact {self.contact_id} ({self.phone}): {self.projection} is {self.stored}, "
                f"the ledger says {self.ledger} ({proof})")


@dataclass(frozen=True)
class ProjectionReport:
    checked: int
    mismatches: list[ProjectionMismatch] = field(default_factory=list)  # the first MISMATCHES_SHOWN
    total: int = 0

    @property
    def consistent(self) -> bool:
        return self.total == 0

    def summary(self) -> str:
        if self.consistent:
            return f"projections match the ledger: {self.checked} checked"
        return f"{self.total} projection(s) disagree with the ledger; first: {self.mismatches[0]}"


def _latest(scope_condition, *group) -> Any:
    """The latest event id per contact (and `group`) among events matching the scope."""
    return (select(ConsentEvent.contact_id, *group, func.max(ConsentEvent.id).label("event_id"))
            .where(scope_condition).group_by(ConsentEvent.contact_id, *group).subquery())


def _global_scope():
    return ConsentEvent.list_id.is_(None) & ~ConsentEvent.evidence.startswith(BRAND_MARKER_START)


def verify_projections() -> ProjectionReport:
    """Check every projection the sender and the audience read — Contact.global_opt_out,
    ListMembership.subscribed, BrandOptOut.opted_out — against the latest ledger event of its
    scope. A row set by hand in the database (`global_opt_out = 0` after a STOP) is named here,
    with the contact and the event that proves what it should be."""
    found: list[ProjectionMismatch] = []
    checked = 0

    latest = _latest(_global_scope())
    rows = db.session.execute(
        select(Contact.id, Contact.phone, Contact.global_opt_out, ConsentEvent.kind, ConsentEvent.id)
        .outerjoin(latest, latest.c.contact_id == Contact.id)
        .outerjoin(ConsentEvent, ConsentEvent.id == latest.c.event_id)
        .execution_options(yield_per=VERIFY_BATCH))
    for contact_id, phone, opted_out, kind, event_id in rows:
        checked += 1
        if bool(opted_out) != (kind == OPT_OUT):
            found.append(ProjectionMismatch(contact_id, phone, "global opt-out", _yes_no(opted_out),
                                            _yes_no(kind == OPT_OUT), event_id))

    latest = _latest(ConsentEvent.list_id.is_not(None), ConsentEvent.list_id)
    rows = db.session.execute(
        select(Contact.id, Contact.phone, ListMembership.list_id, ListMembership.subscribed, ConsentEvent.kind,
               ConsentEvent.id)
        .join(ListMembership, ListMembership.contact_id == Contact.id)
        .outerjoin(latest, (latest.c.contact_id == Contact.id) & (latest.c.list_id == ListMembership.list_id))
        .outerjoin(ConsentEvent, ConsentEvent.id == latest.c.event_id)
        .execution_options(yield_per=VERIFY_BATCH))
    for contact_id, phone, list_id, subscribed, kind, event_id in rows:
        checked += 1
        if bool(subscribed) != (kind == OPT_IN):
            found.append(ProjectionMismatch(contact_id, phone, f"list {list_id} membership",
                                            _subscribed(subscribed), _subscribed(kind == OPT_IN), event_id))
    orphans = db.session.execute(
        select(Contact.id, Contact.phone, latest.c.list_id, latest.c.event_id)
        .join(latest, latest.c.contact_id == Contact.id)
        .join(ConsentEvent, ConsentEvent.id == latest.c.event_id)
        .outerjoin(ListMembership, (ListMembership.contact_id == Contact.id)
                   & (ListMembership.list_id == latest.c.list_id))
        .where(ConsentEvent.kind == OPT_IN, ListMembership.id.is_(None)))
    for contact_id, phone, list_id, event_id in orphans:
        found.append(ProjectionMismatch(contact_id, phone, f"list {list_id} membership", "missing",
                                        "subscribed", event_id))

    expected = _brand_states()
    stored = {(row.contact_id, row.brand): row.opted_out for row in db.session.scalars(select(BrandOptOut))}
    phones = dict(db.session.execute(select(Contact.id, Contact.phone).where(
        Contact.id.in_({contact_id for contact_id, _brand in expected | stored.keys()}))).all()) \
        if expected or stored else {}
    for key in sorted(set(expected) | set(stored), key=lambda k: (k[0], k[1])):
        checked += 1
        kind, event_id = expected.get(key, (None, None))
        if bool(stored.get(key)) != (kind == OPT_OUT):
            found.append(ProjectionMismatch(key[0], phones.get(key[0], ""), f"brand {key[1]} opt-out",
                                            _yes_no(stored.get(key)), _yes_no(kind == OPT_OUT), event_id))
    return ProjectionReport(checked=checked, mismatches=found[:MISMATCHES_SHOWN], total=len(found))


def _yes_no(value: Any) -> str:
    return "on" if value else "off"


def _subscribed(value: Any) -> str:
    return "subscribed" if value else "not subscribed"


def _known_brands() -> list[str]:
    brands = set(db.session.scalars(select(BrandOptOut.brand).distinct()))
    brands |= set(db.session.scalars(select(SenderId.brand).distinct().where(SenderId.brand != "")))
    return sorted(brands, key=len, reverse=True)  # the longest marker first: "Acme] x" beats "Acme"


def _brand_of(evidence: str, brands: list[str]) -> str | None:
    return next((b for b in brands if evidence.startswith(brand_scope_marker(b) + " ")), None)


def _brand_states() -> dict[tuple[int, str], tuple[str, int]]:
    """(contact, brand) → (kind, event id) of the latest brand-scoped event."""
    brands = _known_brands()
    states: dict[tuple[int, str], tuple[str, int]] = {}
    rows = db.session.execute(select(ConsentEvent.id, ConsentEvent.contact_id, ConsentEvent.kind, ConsentEvent.evidence)
                              .where(ConsentEvent.list_id.is_(None),
                                     ConsentEvent.evidence.startswith(BRAND_MARKER_START))
                              .order_by(ConsentEvent.id).execution_options(yield_per=VERIFY_BATCH))
    for event_id, contact_id, kind, evidence in rows:
        brand = _brand_of(evidence, brands)
        if brand is not None:
            states[(contact_id, brand)] = (kind, event_id)
    return states


@dataclass(frozen=True)
class ConsentState:
    """What the projections the sender reads say about one contact now."""

    opted_out_everywhere: bool
    lists: list[tuple[int, str, bool]]  # (list id, list name, subscribed)
    brands_opted_out: list[str]


def state_of(contact: Contact) -> ConsentState:
    from_lists = db.session.execute(
        select(ListMembership.list_id, ContactList.name, ListMembership.subscribed)
        .join(ContactList, ContactList.id == ListMembership.list_id)
        .where(ListMembership.contact_id == contact.id).order_by(ListMembership.list_id)).all()
    brands = db.session.scalars(select(BrandOptOut.brand).where(BrandOptOut.contact_id == contact.id,
                                                               BrandOptOut.opted_out.is_(True))
                                .order_by(BrandOptOut.brand))
    return ConsentState(bool(contact.global_opt_out), [tuple(row) for row in from_lists], list(brands))


@dataclass(frozen=True)
class LedgerDecision:
    """Whether the ledger lets us text a contact now, and the event that decides it."""

    allowed: bool
    reason: str
    event_id: int | None


def decision_from_ledger(contact_id: int, *, list_id: int | None = None, brand: str | None = None) -> LedgerDecision:
    """Decide from the ledger alone — not the projections — whether `contact_id` may be sent to
    (for a campaign of `list_id`, from a sender of `brand`), naming the deciding event. The
    sender's opt-out check reads the projections for speed; this is the proof it can be held to,
    and what `verify_projections` compares them with."""
    def latest(condition) -> ConsentEvent | None:
        return db.session.scalar(select(ConsentEvent).where(ConsentEvent.contact_id == contact_id, condition)
                                 .order_by(ConsentEvent.id.desc()).limit(1))

    event = latest(_global_scope())
    if event is not None and event.kind == OPT_OUT:
        return LedgerDecision(False, f"opted out of all messages (consent event {event.id})", event.id)
    if brand:
        event = latest(ConsentEvent.list_id.is_(None)
                       & ConsentEvent.evidence.startswith(brand_scope_marker(brand) + " ", autoescape=True))
        if event is not None and event.kind == OPT_OUT:
            return LedgerDecision(False, f"opted out of {brand} (consent event {event.id})", event.id)
    if list_id is None:
        return LedgerDecision(True, "no opt-out recorded", event.id if event is not None else None)
    event = latest(ConsentEvent.list_id == list_id)
    if event is None:
        return LedgerDecision(False, f"no opt-in to list {list_id} recorded", None)
    if event.kind == OPT_OUT:
        return LedgerDecision(False, f"opted out of list {list_id} (consent event {event.id})", event.id)
    return LedgerDecision(True, f"opted in to list {list_id} (consent event {event.id})", event.id)
