"""Contact lists and contacts; every opt-in goes through the consent ledger."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select

from dashboard.extensions import db
from dashboard.models import Contact, ContactList, ListMembership, SenderId
from dashboard.services import audit, consent
from dashboard.services.search import Page, cursor_page, like_escaped
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


def list_members(list_id: int, query: str | None, default_region: str, *, before: int | None = None,
                 after: int | None = None, size: int = 50) -> Page:
    """A list's contacts, newest first, a page at a time: all of them, the one with a number
    typed in any format, or those whose name (or number, for four digits or more) contains the
    text."""
    rows = (select(Contact, ListMembership.subscribed).join(ListMembership)
            .where(ListMembership.list_id == list_id))
    text = (query or "").strip()
    if text:
        try:
            rows = rows.where(Contact.phone == normalise(text, default_region))
        except InvalidNumber:
            pattern = "%" + like_escaped(text.lower()) + "%"
            matches = func.lower(Contact.name).like(pattern, escape="\\")
            digits = "".join(ch for ch in text if ch.isdigit())
            if len(digits) >= 4:
                matches = matches | Contact.phone.contains(digits)
            rows = rows.where(matches)
    return cursor_page(rows, Contact.id, before=before, after=after, size=size,
                       row_id=lambda row: row[0].id)


def opt_out(contact_list: ContactList, contact: Contact, *, everything: bool, actor: str, note: str,
            now: datetime) -> None:
    """A person asked us (by phone, by mail…) to stop: an opt-out in the consent ledger, of this
    list or of everything we send, with the acting user as evidence."""
    evidence = f"opted out in the console by {actor}"
    if note.strip():
        evidence += f": {note.strip()}"
    consent.record(contact, consent.OPT_OUT, source="admin", evidence=evidence, actor=actor,
                   now=now, list_id=None if everything else contact_list.id)
    db.session.commit()


def remove_from_list(contact_list: ContactList, contact: Contact, *, actor: str,
                     now: datetime) -> None:
    """Take a contact off a list (a wrong number, a duplicate). The ledger records it as an opt-out
    of the list by this user, so the list's consent history still explains why they are gone."""
    consent.record(contact, consent.OPT_OUT, source="admin",
                   evidence=f"removed from the list by {actor}", actor=actor, now=now,
                   list_id=contact_list.id)
    db.session.execute(delete(ListMembership).where(ListMembership.list_id == contact_list.id,
                                                    ListMembership.contact_id == contact.id))
    db.session.commit()


def save_contact(raw_phone: str, *, name: str | None, fields: dict | None, now: datetime,
                 default_region: str = "US") -> tuple[Contact, bool]:
    """Create the contact with this number, or update its name and fields (given ones only).
    Returns it and whether it is new. The caller commits."""
    try:
        phone = normalise(raw_phone, default_region)
    except InvalidNumber as exc:
        raise ContactError(f"{raw_phone}: {exc}") from None
    created = db.session.scalar(select(Contact.id).where(Contact.phone == phone)) is None
    contact = contact_for(phone, now)
    update_contact(contact, name=name, fields=fields)
    return contact, created


def update_contact(contact: Contact, *, name: str | None, fields: dict | None) -> None:
    """Change the name and merge custom fields (a field set to null is removed). The caller commits."""
    if name is not None:
        contact.name = name.strip()
    if fields is not None:
        merged = {**(contact.fields or {}), **fields}
        contact.fields = {key: value for key, value in merged.items() if value is not None}


def change_consent(contact: Contact, kind: str, *, list_id: int | None, brand: str | None, evidence: str,
                   actor: str, now: datetime, source: str = "api") -> None:
    """An opt-in or opt-out reported by an application, into the consent ledger with its evidence
    (of one list, one brand, or everything). An opt-in to a list adds the contact to it. The caller
    commits."""
    if list_id is not None and brand is not None:
        raise ContactError("give a list or a brand, not both")
    if list_id is not None and db.session.get(ContactList, list_id) is None:
        raise ContactError(f"no list {list_id}")
    consent.record(contact, kind, source=source, evidence=evidence, actor=actor, now=now, list_id=list_id,
                   brand=brand)
