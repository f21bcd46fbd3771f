"""Sender IDs and their registrations per destination country.

A campaign may only go to countries where its sender is approved (issue 4, point 9). Whether a
sender with no registrations at all counts as approved is a setting,
SENDER_REGISTRATION_REQUIRED (default True: registrations required). See docs/senders.md.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import Contact, ListMembership, SenderId, SenderRegistration
from dashboard.services import audit
from dashboard.settings import setting
from dashboard.sms.sender_ids import InvalidSenderId, normalise_country, registration_problems

REFERENCE_FIELDS = ("us_10dlc_brand_id", "us_10dlc_campaign_id", "dlt_entity_id", "dlt_template_id")


class SenderError(ValueError):
    pass


def audience_countries(list_id: int) -> list[str | None]:
    """The distinct countries of the list's subscribed audience (None: a number of no known
    country). One query over the stored Contact.country: no number is parsed."""
    return list(db.session.scalars(
        select(Contact.country).distinct()
        .join(ListMembership, ListMembership.contact_id == Contact.id)
        .where(ListMembership.list_id == list_id, ListMembership.subscribed.is_(True),
               Contact.global_opt_out.is_(False))))


def approval_problems(sender: SenderId, list_id: int, *, registration_required: bool | None = None) -> list[str]:
    """One sentence per destination country of the list's audience where `sender` may not send,
    e.g. "sender ACME is not approved for DE (pending)". Empty: it may send to all of them."""
    return sending_problems(sender, audience_countries(list_id), registration_required=registration_required)


@dataclass(frozen=True)
class Registration:
    country: str
    status: str


@dataclass(frozen=True)
class SenderForSending:
    """What the sending rules read of a sender ID, read as plain rows: every API request and
    every batch looks its senders up, and ORM objects with joined registrations took twice as
    long, an eighth of a single send's CPU (docs/performance.md, "HTTP API")."""

    id: int
    value: str
    kind: str
    status: str
    brand: str
    registrations: tuple[Registration, ...]


def for_sending(values: Iterable[str]) -> dict[str, SenderForSending]:
    """The sender IDs among `values` that exist, by value, with their registrations: one query."""
    wanted = sorted(set(values))
    if not wanted:
        return {}
    S, R = SenderId.__table__, SenderRegistration.__table__
    found: dict[str, tuple[tuple, list[Registration]]] = {}
    for row in db.session.connection().execute(
        select(S.c.id, S.c.value, S.c.kind, S.c.status, S.c.brand, R.c.country, R.c.status)
        .outerjoin(R, R.c.sender_id == S.c.id)
        .where(S.c.value.in_(wanted))
        .order_by(S.c.id, R.c.id)
    ):
        _, registrations = found.setdefault(row[1], (tuple(row[:5]), []))
        if row[5] is not None:
            registrations.append(Registration(row[5], row[6]))
    return {
        value: SenderForSending(*columns, registrations=tuple(registrations))
        for value, (columns, registrations) in found.items()
    }


def sending_problems(sender: SenderId | SenderForSending, countries: Iterable[str | None], *,
                     registration_required: bool | None = None) -> list[str]:
    """One sentence per country of `countries` (None: a number of no known country) where `sender`
    may not send; empty when it may send to all of them. The one rule for campaigns and single
    sends alike (docs/senders.md)."""
    if registration_required is None:
        registration_required = setting("SENDER_REGISTRATION_REQUIRED")
    if sender.status != "approved":
        return [f"sender {sender.value} is {sender.status}, not approved"]
    statuses = {r.country: r.status for r in sender.registrations}
    if not statuses and not registration_required:
        return []  # legacy: an approved sender without registrations goes everywhere (setting off)
    problems = []
    for country in sorted(set(countries), key=lambda c: c or ""):
        status = statuses.get(country, "no registration") if country else "unknown country"
        if status != "approved":
            problems.append(f"sender {sender.value} is not approved for {country or 'some numbers'} ({status})")
    return problems


def approved_for(sender: SenderId, country: str | None, *, registration_required: bool | None = None) -> bool:
    """May `sender` text a number of `country`? The rule of `sending_problems`, for one country."""
    return not sending_problems(sender, [country], registration_required=registration_required)


def approved_senders() -> list[SenderId]:
    """Sender IDs that may be chosen for a send, by value: the form choices and the CLI default."""
    return list(db.session.scalars(select(SenderId).where(SenderId.status == "approved").order_by(SenderId.value)))


def save_registration(sender: SenderId, country: str, status: str, *, now: datetime, notes: str = "",
                      **references: str) -> SenderRegistration:
    """Add the sender's registration for `country`, or change the one it has. SenderError says
    what is wrong (unknown country, an approval without the registry's references)."""
    try:
        country = normalise_country(country)
    except InvalidSenderId as exc:
        raise SenderError(exc.reason) from None
    references = {name: (references.get(name) or "").strip() for name in REFERENCE_FIELDS}
    problems = registration_problems(sender.kind, country, status, **{
        k: references[k] for k in ("us_10dlc_brand_id", "us_10dlc_campaign_id", "dlt_entity_id")})
    if problems:
        raise SenderError(" ".join(problems))
    registration = db.session.scalar(select(SenderRegistration).where(
        SenderRegistration.sender_id == sender.id, SenderRegistration.country == country))
    if registration is None:
        registration = SenderRegistration(sender_id=sender.id, country=country)
        db.session.add(registration)
    before = audit.snapshot(registration, ("status", "notes", *REFERENCE_FIELDS))
    registration.status = status
    registration.notes = notes or ""
    registration.updated_at = now
    for name, value in references.items():
        setattr(registration, name, value)
    audit.record("sender_registration", target=sender, detail=f"registration for {country}",
                 changes=audit.diff(before, audit.snapshot(registration, ("status", "notes", *REFERENCE_FIELDS))))
    db.session.commit()
    return registration


def set_brand(sender: SenderId, brand: str) -> None:
    old, sender.brand = sender.brand, (brand or "").strip()
    if old != sender.brand:
        audit.record("sender_brand", target=sender, changes={"brand": [old, sender.brand]})
    db.session.commit()


def sender_for_address(address: str) -> SenderId | None:
    """The sender ID an MO was written to: its destination is one of our senders, as the SMSC
    wrote it (a long code may arrive without its "+")."""
    if not address:
        return None
    candidates = {address, address.lstrip("+"), f"+{address.lstrip('+')}"}
    return db.session.scalar(select(SenderId).where(SenderId.value.in_(candidates)).limit(1))
