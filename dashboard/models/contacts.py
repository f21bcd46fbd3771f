"""Audience and consent: contact lists, contacts, the consent ledger, sender ids."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dashboard.extensions import db
from dashboard.models.types import UTCDateTime, utcnow


class ContactList(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    memberships: Mapped[list[ListMembership]] = relationship(back_populates="contact_list",
                                                             cascade="all, delete-orphan")


class Contact(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), unique=True)  # E.164
    name: Mapped[str] = mapped_column(String(200), default="")
    fields: Mapped[dict] = mapped_column(JSON, default=dict)
    time_zone: Mapped[str | None] = mapped_column(String(64))
    # Projection of the ledger's latest global event, so the send-time check is one indexed read.
    global_opt_out: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    memberships: Mapped[list[ListMembership]] = relationship(back_populates="contact")


class ListMembership(db.Model):
    """A contact's opt-in to one list. `subscribed` is a projection of the consent ledger kept
    for fast audience queries; the ledger stays the record of truth."""

    __table_args__ = (UniqueConstraint("list_id", "contact_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("contact_list.id", ondelete="CASCADE"), index=True)
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
    status: Mapped[str] = mapped_column(String(12), default="approved")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
