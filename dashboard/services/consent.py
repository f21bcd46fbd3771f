"""Consent: the ledger of opt-ins and opt-outs, and the projections the sender reads."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import Contact, ConsentEvent, ListMembership

OPT_IN = "opt_in"
OPT_OUT = "opt_out"


def record(contact: Contact, kind: str, *, source: str, evidence: str, actor: str, now: datetime,
           list_id: int | None = None, inbound_message_id: int | None = None) -> ConsentEvent:
    """Append a consent event and update the projections used at send time. Does not commit."""
    if kind not in (OPT_IN, OPT_OUT):
        raise ValueError(f"unknown consent kind {kind!r}")
    event = ConsentEvent(contact_id=contact.id, list_id=list_id, kind=kind, source=source, evidence=evidence,
                         actor=actor, inbound_message_id=inbound_message_id, created_at=now)
    db.session.add(event)
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
