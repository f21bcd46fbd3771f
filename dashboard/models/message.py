"""Messages and everything that happens to them: parts, timeline, receipts, inbound messages."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, ForeignKey, Index, Numeric, String, Text, UniqueConstraint, column
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dashboard.extensions import db
from dashboard.models.types import UTCDateTime, utcnow


HELP_REPLY = "help_reply"
# One message per (campaign, contact): a campaign launch inserts with ON CONFLICT on these columns
# and this predicate (services.sending.enqueue.insert_unless_present). Partial, so that messages
# outside campaigns (the API's, the CLI's) write no entry in it.
LAUNCH_KEY = ("campaign_id", "contact_id")
LAUNCH_KEY_WHERE = column("campaign_id").is_not(None)


class Message(db.Model):
    __table_args__ = (
        # Launch is idempotent because the database says so, not a check in Python (docs/architecture.md #8).
        Index("uq_message_campaign_id_contact_id", *LAUNCH_KEY, unique=True,
              sqlite_where=LAUNCH_KEY_WHERE, postgresql_where=LAUNCH_KEY_WHERE),
        # The sender's claim query: queued messages for one bind, by priority then age.
        Index("ix_message_claim", "status", "bind_id", "priority", "id"),
        # A campaign's messages by state (and when queued ones may go): progress counts read the
        # index alone. Partial: messages outside campaigns (the API's) do not pay for it.
        Index("ix_message_campaign_status", "campaign_id", "status", "next_attempt_at",
              sqlite_where=column("campaign_id").is_not(None), postgresql_where=column("campaign_id").is_not(None)),
        # "What did we send to this number?": support answers it by number, newest first.
        Index("ix_message_destination", "destination", "id"),
        # The API's messages only (partial indexes: a campaign launch writes neither):
        # GET /messages?client_ref=…,
        Index("ix_message_client_ref", "client_ref",
              sqlite_where=column("client_ref").is_not(None), postgresql_where=column("client_ref").is_not(None)),
        # the webhook job's work: messages whose timeline moved past what it has turned into events
        # (a state, not a cursor over ids, which would skip a transaction that commits late),
        Index("ix_message_webhook_due", "id",
              sqlite_where=column("webhook_seq").is_not(None) & (column("event_seq") > column("webhook_seq")),
              postgresql_where=column("webhook_seq").is_not(None) & (column("event_seq") > column("webhook_seq"))),
        # and queued messages with a validity period of their own, which expire when it passes.
        Index("ix_message_valid_until", "status", "valid_until",
              sqlite_where=column("valid_until").is_not(None), postgresql_where=column("valid_until").is_not(None)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaign.id"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id"))
    destination: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(20))
    source_ton: Mapped[int] = mapped_column(default=5)
    source_npi: Mapped[int] = mapped_column(default=0)
    text: Mapped[str] = mapped_column(Text)
    encoding: Mapped[str] = mapped_column(String(5))
    segments: Mapped[int]
    priority: Mapped[int] = mapped_column(default=100)
    udh_ref: Mapped[int] = mapped_column(default=0)  # one concatenation reference per message, kept across retries
    # The recipient's IANA zone(s), comma-separated, for quiet hours; empty when unknown.
    recipient_tz: Mapped[str | None] = mapped_column(String(200))
    # None for ordinary traffic. HELP_REPLY: the answer to an inbound HELP, which carriers' rules
    # (CTIA) require even for a number that opted out, so opt-outs do not suppress it.
    purpose: Mapped[str | None] = mapped_column(String(20))

    status: Mapped[str] = mapped_column(String(20), default="queued")
    reason: Mapped[str | None] = mapped_column(Text)  # why it waits, or why it ended where it did
    error_code: Mapped[int | None]
    error_name: Mapped[str | None] = mapped_column(String(40))

    bind_id: Mapped[int | None] = mapped_column(ForeignKey("bind.id"))
    route_id: Mapped[int | None] = mapped_column(ForeignKey("route.id"))
    price_per_segment: Mapped[Decimal | None] = mapped_column(Numeric(12, 6))
    currency: Mapped[str | None] = mapped_column(String(3))  # of price_per_segment, from the route

    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    possible_duplicate: Mapped[bool] = mapped_column(default=False)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    claim_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    event_seq: Mapped[int] = mapped_column(default=0)  # per-message sequence carried by webhooks

    # Sent through the HTTP API (dashboard/api/): the key, the caller's reference, where its status
    # webhooks go (None: the key's default URL), and the last timeline sequence number turned into
    # webhook events (None: no webhooks for this message).
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_key.id"))
    client_ref: Mapped[str | None] = mapped_column(String(128))
    callback_url: Mapped[str | None] = mapped_column(Text)
    webhook_seq: Mapped[int | None]
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # not sent by then: expired

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitting_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    parts: Mapped[list[MessagePart]] = relationship(back_populates="message", order_by="MessagePart.part_no",
                                                    cascade="all, delete-orphan")
    events: Mapped[list[MessageEvent]] = relationship(back_populates="message", order_by="MessageEvent.id",
                                                      primaryjoin="Message.id == foreign(MessageEvent.message_id)",
                                                      cascade="all, delete-orphan")
    bind = relationship("Bind")
    campaign = relationship("Campaign")


class MessagePart(db.Model):
    """One submit_sm. Each part keeps its own SMSC id and receipt (docs/architecture.md #4)."""

    __table_args__ = (
        UniqueConstraint("message_id", "part_no"),
        Index("ix_message_part_smsc", "bind_id", "smsc_id_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Indexed by the unique (message_id, part_no) above.
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"))
    part_no: Mapped[int]
    parts_total: Mapped[int]
    status: Mapped[str] = mapped_column(String(20), default="pending")
    bind_id: Mapped[int | None] = mapped_column(ForeignKey("bind.id"))
    session_id: Mapped[str | None] = mapped_column(String(80))
    sequence_number: Mapped[int | None]
    smsc_message_id: Mapped[str | None] = mapped_column(String(80))
    smsc_id_key: Mapped[str | None] = mapped_column(String(80))
    command_status: Mapped[int | None]
    error_name: Mapped[str | None] = mapped_column(String(40))
    receipt_stat: Mapped[str | None] = mapped_column(String(10))
    receipt_err: Mapped[str | None] = mapped_column(String(10))
    price: Mapped[Decimal | None] = mapped_column(Numeric(12, 6))
    currency: Mapped[str | None] = mapped_column(String(3))  # of price, written with it (DESIGN 10)
    submitting_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    message: Mapped[Message] = relationship(back_populates="parts")


class MessageEvent(db.Model):
    """The message's timeline: every protocol event with its raw fields (docs/architecture.md #5).
    No foreign key on message_id, as on the receipts' ids: PostgreSQL checks one with a query per
    row, the sender writes four timeline rows and a receipt per message, and only the sender writes
    them, for rows it holds (docs/scaling.md, "What limits it"; tests/worker/test_integrity.py)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(index=True)
    part_no: Mapped[int | None]
    kind: Mapped[str] = mapped_column(String(30))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    message: Mapped[Message] = relationship(back_populates="events",
                                            primaryjoin="foreign(MessageEvent.message_id) == Message.id")


class DeliveryReceipt(db.Model):
    """Every receipt as received, committed before its deliver_sm_resp is sent (docs/architecture.md #3).
    part_id stays empty until a part matches; unmatched ones are held and retried."""

    __table_args__ = (Index("ix_delivery_receipt_match", "bind_id", "id_key", "part_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bind_id: Mapped[int]  # no foreign keys here: see MessageEvent
    smsc_message_id: Mapped[str] = mapped_column(String(80))
    id_key: Mapped[str] = mapped_column(String(80))
    stat: Mapped[str | None] = mapped_column(String(10))
    err: Mapped[str | None] = mapped_column(String(10))
    raw: Mapped[dict] = mapped_column(JSON, default=dict)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    part_id: Mapped[int | None]
    matched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duplicate: Mapped[bool] = mapped_column(default=False)


class InboundMessage(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    bind_id: Mapped[int | None] = mapped_column(ForeignKey("bind.id"))
    source: Mapped[str] = mapped_column(String(20))
    destination: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    keyword: Mapped[str | None] = mapped_column(String(20))
    raw: Mapped[dict] = mapped_column(JSON, default=dict)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Turned into webhook events yet (services/webhooks.py)? A state the job looks for, not a cursor.
    webhook_done: Mapped[bool] = mapped_column(default=False)

    __table_args__ = (
        Index("ix_inbound_message_webhook", "id",
              sqlite_where=column("webhook_done").is_(False), postgresql_where=column("webhook_done").is_(False)),
    )
