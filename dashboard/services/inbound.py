"""Inbound (MO) messages: keywords become consent events at once, with the MO as evidence."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import Contact, InboundMessage
from dashboard.services import consent
from dashboard.sms.keywords import match_keyword
from dashboard.sms.numbers import InvalidNumber, normalise


def act_on_keywords(bind_id: int | None, now: datetime, help_text: str | None = None) -> int:
    """Handle every MO not yet looked at. Opt-outs are global: a STOP to any of our numbers stops
    all our marketing to that person (the conservative reading of TCPA/CTIA and most regulators).
    HELP is answered with `help_text`, from the number the person wrote to, ahead of bulk traffic."""
    query = select(InboundMessage).where(InboundMessage.keyword.is_(None)).order_by(InboundMessage.id)
    handled = 0
    for mo in db.session.scalars(query).all():
        keyword = match_keyword(mo.text)
        mo.keyword = keyword or ""
        if keyword in ("STOP", "START"):
            contact = _contact_for(mo.source, now)
            if contact is not None:
                consent.record(contact, consent.OPT_OUT if keyword == "STOP" else consent.OPT_IN,
                               source="keyword", evidence=f"SMS {mo.text!r} from {mo.source} to {mo.destination}",
                               actor=f"mo:{mo.id}", now=now, inbound_message_id=mo.id)
        elif keyword == "HELP" and help_text and mo.destination:
            _reply(mo, help_text, now)
        handled += 1
    db.session.commit()
    return handled


def _reply(mo: InboundMessage, text: str, now: datetime) -> None:
    from dashboard.services.outbox import OutboxError, enqueue
    try:
        enqueue(destinations=[mo.source if mo.source.startswith("+") else f"+{mo.source}"], text=text,
                source=mo.destination, now=now, priority=10)
    except OutboxError:
        pass  # an unreachable sender (not a valid number) gets no reply; the MO itself stays stored


def _contact_for(source: str, now: datetime) -> Contact | None:
    raw = source if source.startswith("+") else f"+{source}"
    try:
        phone = normalise(raw)
    except InvalidNumber:
        return None
    contact = db.session.scalar(select(Contact).where(Contact.phone == phone))
    if contact is None:
        # An opt-out from a number we do not know yet must still stick when it is imported later.
        contact = Contact(phone=phone, created_at=now)
        db.session.add(contact)
        db.session.flush()
    return contact
