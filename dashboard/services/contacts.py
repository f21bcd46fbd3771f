"""Contact lists and contacts; every opt-in goes through the consent ledger."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from dashboard.extensions import db
from dashboard.models import Contact, ContactList, ListMembership, SenderId
from dashboard.services import audit, consent
from dashboard.sms.numbers import InvalidNumber, normalise, region_and_zones
from dashboard.sms.sender_ids import InvalidSenderId, validate_sender_id


class ContactError(ValueError):
    pass


def create_list(name: str, description: str = "") -> ContactList:
    name = name.strip()
    if db.session.scalar(select(ContactList).where(ContactList.name == name)):
        raise ContactError(f"a list named {name!r} already exists")
    if not name:
        raise ContactError("a list needs a name")
    contact_list = ContactList(name=name, description=description or "")
    db.session.add(contact_list)
    db.session.flush()
    audit.record("list_create", target=contact_list, changes={"name": [None, name]})
    db.session.commit()
    return contact_list


def add_contact(contact_list: ContactList, raw_phone: str, *, name: str = "", evidence: str, actor: str,
                now: datetime, default_region: str = "US", source: str = "admin", commit: bool = True) -> Contact:
    """Add (or re-subscribe) a number to a list, recording the opt-in with its evidence."""
    try:
        phone = normalise(raw_phone, default_region)
    except InvalidNumber as exc:
        raise ContactError(f"{raw_phone}: {exc}") from None
    contact = contact_for(phone, now, name=name)
    if name and not contact.name:
        contact.name = name
    consent.record(contact, consent.OPT_IN, source=source, evidence=evidence, actor=actor, now=now,
                   list_id=contact_list.id)
    if commit:
        db.session.commit()
    return contact


def contact_for(phone: str, now: datetime, *, name: str = "") -> Contact:
    """The contact with this E.164 number, created (with its time zone and country) if new."""
    contact = db.session.scalar(select(Contact).where(Contact.phone == phone))
    if contact is None:
        contact = Contact(phone=phone, name=name, created_at=now, **number_facts(phone))
        db.session.add(contact)
        db.session.flush()
    return contact


def number_facts(phone: str) -> dict:
    """Columns derived from the number: a time zone when it has exactly one, and its country."""
    country, zones = region_and_zones(phone)
    return {"time_zone": zones[0] if len(zones) == 1 else None, "country": country}


def list_sizes() -> dict[int, int]:
    rows = db.session.execute(select(ListMembership.list_id, func.count()).where(
        ListMembership.subscribed.is_(True)).group_by(ListMembership.list_id)).all()
    return dict(rows)


def create_sender_id(raw_value: str, kind: str, default_region: str = "US", brand: str = "") -> SenderId:
    """Validate (dashboard.sms.sender_ids) and store a sender ID; ContactError says why not."""
    try:
        value = validate_sender_id(raw_value, kind, default_region)
    except InvalidSenderId as exc:
        raise ContactError(exc.reason) from None
    if db.session.scalar(select(SenderId).where(SenderId.value == value)):
        raise ContactError("This sender ID exists already.")
    sender = SenderId(value=value, kind=kind, status="approved", brand=(brand or "").strip())
    db.session.add(sender)
    db.session.flush()
    audit.record("sender_create", target=sender, changes=audit.diff({}, audit.snapshot(sender, ("value", "kind", "brand"))))
    db.session.commit()
    return sender
