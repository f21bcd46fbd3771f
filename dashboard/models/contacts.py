"""Audience and consent: contact lists, contacts, the consent ledger, sender ids."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dashboard.extensions import db
from dashboard.models.types import UTCDateTime, utcnow


class ContactList(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Double opt-in sign-up page (/join/<signup_token>): off until staff turn it on and pick a sender.
    signup_enabled: Mapped[bool] = mapped_column(default=False)
    signup_token: Mapped[str | None] = mapped_column(String(32), unique=True, index=True)
    signup_sender_id: Mapped[int | None] = mapped_column(ForeignKey("sender_id.id"))

    memberships: Mapped[list[ListMembership]] = relationship(back_populates="contact_list",
                                                             cascade="all, delete-orphan")
    signup_sender: Mapped[SenderId | None] = relationship()


def _country_of_phone(context) -> str | None:
    """Column default: every insert that does not give a country (an ORM add, a bulk insert by
    any code path) still gets one, so no contact is left out of the sender-approval check."""
    from dashboard.sms.numbers import destination_country
    return destination_country(context.get_current_parameters().get("phone", ""))


class Contact(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), unique=True)  # E.164
    name: Mapped[str] = mapped_column(String(200), default="")
    fields: Mapped[dict] = mapped_column(JSON, default=dict)
    time_zone: Mapped[str | None] = mapped_column(String(64))
    # ISO region of the number (phonenumbers; "001" for non-geographic), stored so that the
    # countries of a big list's audience are one query, not a parse per contact.
    country: Mapped[str | None] = mapped_column(String(3), index=True, default=_country_of_phone)
    # Projection of the ledger's latest global event, so the send-time check is one indexed read.
    global_opt_out: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    memberships: Mapped[list[ListMembership]] = relationship(back_populates="contact")


class ListMembership(db.Model):
    """A contact's opt-in to one list. `subscribed` is a projection of the consent ledger kept
    for fast audience queries; the ledger stays the record of truth."""

    __table_args__ = (
        UniqueConstraint("list_id", "contact_id"),
        # The audience in contact order: launch batches walk it from their cursor, and a
        # campaign's audience count reads it alone.
        Index("ix_list_membership_audience", "list_id", "subscribed", "contact_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("contact_list.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"), index=True)
    subscribed: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    contact_list: Mapped[ContactList] = relationship(back_populates="memberships")
    contact: Mapped[Contact] = relationship(back_populates="memberships")


class ConsentEvent(db.Model):
    """Append-only ledger of opt-ins and opt-outs. list_id None means global scope.

    Database triggers refuse UPDATE and DELETE (migration 0002); `hash` chains each event to the
    one before it (dashboard.sms.ledger). Append only through services.consent.record.
    """

    # One successor per event: two writers that read the same head cannot both append (no fork).
    __table_args__ = (UniqueConstraint("prev_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id"), index=True)
    # The number at the time of the event, inside the hash: proof must not move with a contact edit.
    phone: Mapped[str] = mapped_column(String(20), index=True)
    list_id: Mapped[int | None] = mapped_column(ForeignKey("contact_list.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # opt_in | opt_out
    source: Mapped[str] = mapped_column(String(20))  # import, web_form, keyword, api, admin
    evidence: Mapped[str] = mapped_column(Text, default="")
    inbound_message_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_message.id"))
    actor: Mapped[str] = mapped_column(String(254), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class ConsentChainHead(db.Model):
    """The one row (id 1) that says where the chain ends. Appenders UPDATE it first, which
    serialises them (SQLite's write lock, PostgreSQL's row lock), and verify compares it with the
    last event to notice events cut from the end."""

    id: Mapped[int] = mapped_column(primary_key=True)
    last_event_id: Mapped[int | None]
    last_hash: Mapped[str] = mapped_column(String(64))
    length: Mapped[int] = mapped_column(default=0)


class SenderId(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[str] = mapped_column(String(20), unique=True)
    kind: Mapped[str] = mapped_column(String(12), default="alphanumeric")  # alphanumeric, short_code, long_code
    # Usable at all (a rejected sender is refused everywhere); per-country approval is in registrations.
    status: Mapped[str] = mapped_column(String(12), default="approved")
    # The brand a "brand"-scoped opt-out applies to (docs/consent.md); "" = none, opt-outs are global.
    brand: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    registrations: Mapped[list[SenderRegistration]] = relationship(
        back_populates="sender", cascade="all, delete-orphan", order_by="SenderRegistration.country")


REGISTRATION_STATUSES = ("pending", "approved", "rejected")


class SenderRegistration(db.Model):
    """A sender ID's registration in one destination country, with the registry's references."""

    __table_args__ = (UniqueConstraint("sender_id", "country"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sender_id: Mapped[int] = mapped_column(ForeignKey("sender_id.id", ondelete="CASCADE"))
    country: Mapped[str] = mapped_column(String(3))  # ISO 3166 alpha-2, as phonenumbers names regions
    status: Mapped[str] = mapped_column(String(12), default="pending")
    us_10dlc_brand_id: Mapped[str] = mapped_column(String(40), default="")
    us_10dlc_campaign_id: Mapped[str] = mapped_column(String(40), default="")
    dlt_entity_id: Mapped[str] = mapped_column(String(40), default="")
    dlt_template_id: Mapped[str] = mapped_column(String(40), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    sender: Mapped[SenderId] = relationship(back_populates="registrations")


class BrandOptOut(db.Model):
    """Projection of brand-scoped consent events (their evidence names the brand): the send-time
    check reads it, like Contact.global_opt_out for global ones."""

    __table_args__ = (UniqueConstraint("contact_id", "brand"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"))
    brand: Mapped[str] = mapped_column(String(80))
    opted_out: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SignupRequest(db.Model):
    """One submission of a list's public sign-up form, and what became of it. The rows are also
    the rate limiter's counters (per IP, per number) and the evidence of the exchange."""

    __table_args__ = (Index("ix_signup_request_phone", "phone", "requested_at"),
                      Index("ix_signup_request_ip", "ip", "requested_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("contact_list.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(String(20))
    ip: Mapped[str] = mapped_column(String(45))
    user_agent: Mapped[str] = mapped_column(String(400), default="")
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # pending → confirmed | expired; not_sent when the number is on the list already (nothing is texted)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    sender_value: Mapped[str] = mapped_column(String(20), default="")
    confirmation_text: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id"))
    inbound_message_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_message.id"))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consent_event_id: Mapped[int | None] = mapped_column(ForeignKey("consent_event.id"))
