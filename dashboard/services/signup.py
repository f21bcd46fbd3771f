"""Double opt-in through a list's public sign-up page (issue 4, point 6).

A person types a number on /join/<token>; we text it a confirmation through the normal sending path
(same routing, same send-time suppression) from the list's sign-up sender; a YES from that
number before the confirmation expires opts it in, with the whole exchange as evidence.

Abuse protection: the SignupRequest rows are the rate limiter's counters (per IP per hour, per
number per day, across lists), so the limits hold across every web worker without another
service; and the page answers the same whether or not the number is subscribed already (a
subscribed number is simply not texted), so it cannot be used to find out who is on a list.
"""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from dashboard.extensions import db
from dashboard.models import Contact, ContactList, InboundMessage, ListMembership, SenderId, SignupRequest
from dashboard.services import audit, consent, locks
from dashboard.services.contacts import contact_for
from dashboard.services.senders import approved_for
from dashboard.services.sending.enqueue import enqueue
from dashboard.sms import ledger
from dashboard.sms.numbers import InvalidNumber, destination_country, from_smpp_address, is_mobile, normalise

PENDING, CONFIRMED, EXPIRED, NOT_SENT = "pending", "confirmed", "expired", "not_sent"
SIGNUP_LOCK_KEY = 0x5167_6E75_7000  # any constant: the advisory lock of the sign-up limits
CONFIRMATION_BATCH = 200
IP_WINDOW = timedelta(hours=1)
NUMBER_WINDOW = timedelta(days=1)


class SignupError(ValueError):
    """A bad request from the form (an invalid number); `str()` is fit to show."""


class RateLimited(Exception):
    """Too many requests from this IP or for this number; the page answers 429."""


@dataclass(frozen=True)
class SignupSettings:
    confirmation_minutes: int = 30
    per_ip: int = 5
    per_number: int = 3
    default_region: str = "US"

    @classmethod
    def from_config(cls, config) -> "SignupSettings":
        return cls(confirmation_minutes=config["SIGNUP_CONFIRMATION_MINUTES"], per_ip=config["SIGNUP_LIMIT_PER_IP"],
                   per_number=config["SIGNUP_LIMIT_PER_NUMBER"], default_region=config["DEFAULT_REGION"])


# ----------------------------------------------------------------------------- staff side

def configure(contact_list: ContactList, *, enabled: bool, sender_id: int | None) -> None:
    """Turn the list's sign-up page on or off. The page needs a sender to text from; its
    address (the token) is made once and kept, so a link that was printed keeps working."""
    sender = db.session.get(SenderId, sender_id) if sender_id else None
    if enabled and sender is None:
        raise SignupError("Choose the sender ID that texts the confirmation.")
    before = audit.snapshot(contact_list, ("signup_enabled", "signup_sender_id"))
    contact_list.signup_enabled = enabled
    contact_list.signup_sender_id = sender.id if sender else None
    if enabled and not contact_list.signup_token:
        contact_list.signup_token = secrets.token_urlsafe(12)
    changes = audit.diff(before, audit.snapshot(contact_list, ("signup_enabled", "signup_sender_id")))
    if changes:
        audit.record("list_signup", target=contact_list, changes=changes)
    db.session.commit()


def list_for_token(token: str) -> ContactList | None:
    """The list behind a sign-up address, only while its page is enabled."""
    return db.session.scalar(select(ContactList).where(ContactList.signup_token == token,
                                                       ContactList.signup_enabled.is_(True)))


# ----------------------------------------------------------------------------- the public form

def confirmation_text(contact_list: ContactList, minutes: int) -> str:
    return (f"{contact_list.name}: reply YES within {minutes} min to confirm you want our texts. "
            f"Reply STOP to opt out. Msg&data rates may apply.")


def request_signup(contact_list: ContactList, raw_phone: str, *, ip: str, user_agent: str, now: datetime,
                   settings: SignupSettings) -> SignupRequest:
    """Record a sign-up request; the worker texts the confirmation (`send_confirmations`).

    The request does the same work whether or not the number is subscribed (one row written),
    so its timing tells nothing. Only mobile numbers of countries where the list's sign-up
    sender is approved are taken (SMS pumping). The limits are checked and the row inserted
    under a lock (`_serialise`), so concurrent requests cannot all pass a check made before any
    of them wrote. Raises SignupError (bad number) or RateLimited; commits."""
    try:
        phone = normalise(raw_phone, settings.default_region)
    except InvalidNumber as exc:
        raise SignupError(f"That is not a number we can text: {exc.reason}.") from None
    sender = contact_list.signup_sender
    if not is_mobile(phone) or not approved_for(sender, destination_country(phone)):
        raise SignupError("That is not a number we can text from this page: use a mobile number of a country "
                          "this list serves.")
    ip = (ip or "unknown")[:45]
    _serialise()
    if _count(SignupRequest.ip == ip, since=now - IP_WINDOW) >= settings.per_ip:
        db.session.rollback()
        raise RateLimited("too many sign-up requests from this address")
    if _count(SignupRequest.phone == phone, since=now - NUMBER_WINDOW) >= settings.per_number:
        db.session.rollback()
        raise RateLimited("too many sign-up requests for this number")
    request = SignupRequest(list_id=contact_list.id, phone=phone, ip=ip, user_agent=(user_agent or "")[:400],
                            requested_at=now, expires_at=now + timedelta(minutes=settings.confirmation_minutes),
                            sender_value=sender.value)
    db.session.add(request)
    db.session.commit()
    return request


def _serialise() -> None:
    """Take the sign-up lock until the transaction ends: the check and the insert are atomic.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: a write as the transaction's first
    statement takes the database's write lock (other writers wait on busy_timeout)."""
    locks.serialise(SIGNUP_LOCK_KEY, SignupRequest.__table__)


def send_confirmations(now: datetime, default_region: str = "US") -> int:
    """Worker job: text the confirmation of each new request, unless the number is on the list
    already (then it is marked not_sent: nothing to confirm, nobody texted). Returns how many."""
    sent = 0
    for request in db.session.scalars(select(SignupRequest).where(
            SignupRequest.status == PENDING, SignupRequest.message_id.is_(None),
            SignupRequest.confirmation_text == "").order_by(SignupRequest.id).limit(CONFIRMATION_BATCH)).all():
        if _subscribed(request.list_id, request.phone):
            request.status = NOT_SENT
        else:
            contact_list = db.session.get(ContactList, request.list_id)
            minutes = round((request.expires_at - request.requested_at).total_seconds() / 60)
            request.confirmation_text = confirmation_text(contact_list, minutes)
            [message] = enqueue(destinations=[request.phone], text=request.confirmation_text,
                                source=request.sender_value, now=now, default_region=default_region, priority=10)
            request.message_id = message.id
            sent += 1
        db.session.commit()
    return sent


def _count(condition, *, since: datetime) -> int:
    return db.session.scalar(select(func.count()).select_from(SignupRequest)
                             .where(condition, SignupRequest.requested_at > since))


def _subscribed(list_id: int, phone: str) -> bool:
    return db.session.scalar(select(ListMembership.subscribed).join(Contact, Contact.id == ListMembership.contact_id)
                             .where(ListMembership.list_id == list_id, Contact.phone == phone)) is True


# ----------------------------------------------------------------------------- the reply

def confirm_from_mo(mo: InboundMessage, now: datetime) -> SignupRequest | None:
    """A YES from a number with a confirmation still open completes the most recent one (the
    one texted from the sender the reply went to, if there is such). Anything else does nothing:
    a YES out of the blue, or after the confirmation expired, opts no one in. Does not commit."""
    try:
        phone = normalise(from_smpp_address(mo.source))
    except InvalidNumber:
        return None
    at = mo.received_at or now
    db.session.execute(update(SignupRequest).where(SignupRequest.phone == phone, SignupRequest.status == PENDING,
                                                   SignupRequest.expires_at <= at)
                       .values(status=EXPIRED).execution_options(synchronize_session=False))
    open_requests = db.session.scalars(select(SignupRequest).where(
        SignupRequest.phone == phone, SignupRequest.status == PENDING, SignupRequest.expires_at > at)
        .order_by(SignupRequest.id.desc())).all()
    if not open_requests:
        return None
    written_to = (mo.destination or "").lstrip("+")
    request = next((r for r in open_requests if r.sender_value.lstrip("+") == written_to), open_requests[0])
    contact = contact_for(phone, now)
    event = consent.record(contact, consent.OPT_IN, source="web_form", evidence=_evidence(request, mo),
                           actor=f"double opt-in #{request.id}", now=now, list_id=request.list_id,
                           inbound_message_id=mo.id)
    request.status, request.confirmed_at = CONFIRMED, now
    request.inbound_message_id, request.consent_event_id = mo.id, event.id
    return request


def _evidence(request: SignupRequest, mo: InboundMessage) -> str:
    """The whole exchange, as JSON (keys sorted) so a reviewer can read it and a program parse it."""
    contact_list = db.session.get(ContactList, request.list_id)
    return json.dumps({
        "method": "double opt-in",
        "form": {"list": contact_list.name, "request_id": request.id, "ip": request.ip,
                 "user_agent": request.user_agent, "submitted_at": ledger.timestamp(request.requested_at)},
        "confirmation": {"message_id": request.message_id, "from": request.sender_value, "to": request.phone,
                         "text": request.confirmation_text, "expires_at": ledger.timestamp(request.expires_at)},
        "reply": {"mo_id": mo.id, "from": mo.source, "to": mo.destination, "text": mo.text,
                  "received_at": ledger.timestamp(mo.received_at)},
    }, sort_keys=True, ensure_ascii=False)
