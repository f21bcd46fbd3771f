"""Contacts and consent through the API: create or update a contact, opt it in or out with
evidence (into the consent ledger, source "api"), read its consent state and the proof. The
rules are the contacts and consent services'; this module turns them into JSON."""

from __future__ import annotations

from flask import current_app

from dashboard.api import schemas as s
from dashboard.api.core import operation
from dashboard.api.problems import Problem
from dashboard.extensions import db
from dashboard.models import ApiKey, Contact
from dashboard.models.types import utcnow
from dashboard.services import compliance, consent, contacts
from dashboard.sms.numbers import InvalidNumber, normalise


def _contact(contact_id: int) -> Contact:
    contact = db.session.get(Contact, contact_id)
    if contact is None:
        raise Problem("not-found", f"no contact {contact_id}")
    return contact


def _state(contact: Contact) -> dict:
    state = consent.state_of(contact)
    return {
        "opted_out_everywhere": state.opted_out_everywhere,
        "lists": [
            {"list_id": i, "list_name": n, "subscribed": bool(sub)} for i, n, sub in state.lists
        ],
        "brands_opted_out": state.brands_opted_out,
    }


def contact_out(contact: Contact) -> dict:
    return {
        "id": contact.id,
        "phone": contact.phone,
        "name": contact.name or "",
        "fields": contact.fields or {},
        "country": contact.country,
        "time_zone": contact.time_zone,
        "created_at": contact.created_at,
        "consent": _state(contact),
    }


def _refused(exc: contacts.ContactError, field: str | None = None) -> Problem:
    return Problem("invalid-contact", str(exc), errors=[{"field": field, "detail": str(exc)}])


@operation(
    "POST",
    "/contacts",
    summary="Create or update a contact by number",
    scope="contacts",
    tag="Contacts",
    body=s.ContactIn,
    responses={201: s.ContactOut, 200: s.ContactOut},
    idempotent=True,
    problems=(422,),
)
def save_contact(key: ApiKey, body: s.ContactIn):
    """201 when the number is new, 200 when it was known (its name and the given fields change)."""
    try:
        contact, created = contacts.save_contact(
            body.phone,
            name=body.name,
            fields=body.fields,
            now=utcnow(),
            default_region=current_app.config["DEFAULT_REGION"],
        )
    except contacts.ContactError as exc:
        raise Problem(
            "invalid-number", str(exc), errors=[{"field": "phone", "detail": str(exc)}]
        ) from None
    db.session.flush()
    return (201 if created else 200), contact_out(contact)


@operation(
    "GET",
    "/contacts/<anyint:contact_id>",
    summary="A contact and its consent state",
    scope="contacts",
    tag="Contacts",
    responses={200: s.ContactOut},
    problems=(404,),
)
def get_contact(key: ApiKey, contact_id: int):
    return 200, contact_out(_contact(contact_id))


@operation(
    "PATCH",
    "/contacts/<anyint:contact_id>",
    summary="Change a contact's name or fields",
    scope="contacts",
    tag="Contacts",
    body=s.ContactUpdate,
    responses={200: s.ContactOut},
    problems=(404,),
)
def update_contact(key: ApiKey, contact_id: int, body: s.ContactUpdate):
    """Fields are merged; a field set to null is removed."""
    contact = _contact(contact_id)
    contacts.update_contact(contact, name=body.name, fields=body.fields)
    db.session.flush()
    return 200, contact_out(contact)


@operation(
    "POST",
    "/contacts/lookup",
    summary="Find a contact by number",
    scope="contacts",
    tag="Contacts",
    body=s.Lookup,
    responses={200: s.ContactOut},
    problems=(404,),
)
def lookup_contact(key: ApiKey, body: s.Lookup):
    """A POST, so that the number stays out of URLs and access logs."""
    try:
        phone = normalise(body.phone, current_app.config["DEFAULT_REGION"])
    except InvalidNumber as exc:
        raise Problem(
            "invalid-number",
            f"{body.phone}: {exc}",
            errors=[{"field": "phone", "detail": str(exc)}],
        ) from None
    contact = db.session.scalar(db.select(Contact).where(Contact.phone == phone))
    if contact is None:
        raise Problem("not-found", "no contact with this number")
    return 200, contact_out(contact)


def _change(key: ApiKey, contact_id: int, body: s.ConsentChange, kind: str):
    contact = _contact(contact_id)
    try:
        contacts.change_consent(
            contact,
            kind,
            list_id=body.list_id,
            brand=body.brand,
            evidence=body.evidence,
            actor=f"api key {key.prefix}",
            now=utcnow(),
        )
    except contacts.ContactError as exc:
        raise _refused(exc, "list_id") from None
    db.session.flush()
    return 200, contact_out(contact)


@operation(
    "POST",
    "/contacts/<anyint:contact_id>/opt-in",
    summary="Record an opt-in with its evidence",
    scope="contacts",
    tag="Contacts",
    body=s.ConsentChange,
    responses={200: s.ContactOut},
    idempotent=True,
    problems=(404,),
)
def opt_in(key: ApiKey, contact_id: int, body: s.ConsentChange):
    """Into the consent ledger (source "api"); with `list_id`, the contact joins that list."""
    return _change(key, contact_id, body, consent.OPT_IN)


@operation(
    "POST",
    "/contacts/<anyint:contact_id>/opt-out",
    summary="Record an opt-out with its evidence",
    scope="contacts",
    tag="Contacts",
    body=s.ConsentChange,
    responses={200: s.ContactOut},
    idempotent=True,
    problems=(404,),
)
def opt_out(key: ApiKey, contact_id: int, body: s.ConsentChange):
    """Of one list, one brand, or (neither given) everything we send. Messages to the number are
    refused from now on (problem type recipient-opted-out) and skipped if already queued."""
    return _change(key, contact_id, body, consent.OPT_OUT)


@operation(
    "GET",
    "/contacts/<anyint:contact_id>/consent",
    summary="Consent state and its proof",
    scope="contacts",
    tag="Contacts",
    responses={200: s.ConsentProof},
    problems=(404,),
)
def consent_proof(key: ApiKey, contact_id: int):
    """The ledger's events for the number, oldest first, with their hashes, and the decision the
    ledger alone gives."""
    contact = _contact(contact_id)
    decision = consent.decision_from_ledger(contact.id)
    return 200, {
        "contact_id": contact.id,
        "phone": contact.phone,
        "state": _state(contact),
        "decision": {
            "allowed": decision.allowed,
            "reason": decision.reason,
            "event_id": decision.event_id,
        },
        "events": [
            {
                "id": row.event.id,
                "kind": row.event.kind,
                "list_id": row.event.list_id,
                "source": row.event.source,
                "evidence": row.event.evidence,
                "actor": row.event.actor,
                "created_at": row.event.created_at,
                "hash": row.event.hash,
            }
            for row in compliance.history(contact.phone)
        ],
    }
