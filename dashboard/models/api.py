"""The HTTP API's own rows: keys, idempotency records, one-time codes, fraud alerts and the
webhook outbox (docs/api.md)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, column
from sqlalchemy.orm import Mapped, mapped_column

from dashboard.extensions import db
from dashboard.models.types import UTCDateTime, utcnow

SCOPES = ("send", "read", "contacts", "verify")


class ApiKey(db.Model):
    """An application's credential. The secret is shown once and stored as its SHA-256 only (a
    random 256-bit secret needs no slow hash, and every request checks it); `prefix` is the
    public half that finds the row. The webhook signing secret is encrypted at rest (crypto.py)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    prefix: Mapped[str] = mapped_column(String(24), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(String(80))  # comma-separated, of SCOPES
    # Geo permissions: ISO regions this key may send to, comma-separated; empty = any country.
    allowed_countries: Mapped[str] = mapped_column(String(400), default="")
    rate_limit: Mapped[str] = mapped_column(String(80))  # Flask-Limiter notation, "100 per second"
    # Same destination and text within this many minutes is refused (0: off).
    duplicate_window_minutes: Mapped[int] = mapped_column(default=0)
    webhook_url: Mapped[str | None] = mapped_column(
        Text
    )  # default for messages without callback_url
    inbound_webhooks: Mapped[bool] = mapped_column(default=False)  # MOs POSTed to webhook_url
    webhook_secret_encrypted: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(s for s in self.scopes.split(",") if s)

    @property
    def country_set(self) -> frozenset[str]:
        return frozenset(c for c in self.allowed_countries.split(",") if c)

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class IdempotencyRecord(db.Model):
    """The response to a request made with an Idempotency-Key, kept for IDEMPOTENCY_HOURS: the
    same key and body get it again, and create nothing (docs/architecture.md #8)."""

    __table_args__ = (UniqueConstraint("api_key_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_key.id"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))  # method, path and body
    status_code: Mapped[int]
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Verification(db.Model):
    """A one-time code sent to a number. Only its keyed hash is stored (services/verify.py)."""

    __table_args__ = (
        Index("ix_verification_destination", "destination", "created_at"),
        Index("ix_verification_prefix", "prefix", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_key.id"), index=True)
    destination: Mapped[str] = mapped_column(String(20))
    prefix: Mapped[str] = mapped_column(String(20))  # the range the velocity limit counts
    channel: Mapped[str] = mapped_column(String(10), default="sms")
    code_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int]
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class VerificationCheck(db.Model):
    """Every POST /verify/check, right or wrong: the per-number and per-key attempt limits count
    them."""

    __table_args__ = (
        Index("ix_verification_check_destination", "destination", "at"),
        Index("ix_verification_check_key", "api_key_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    verification_id: Mapped[int | None] = mapped_column(ForeignKey("verification.id"))
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_key.id"))
    destination: Mapped[str] = mapped_column(String(20))
    approved: Mapped[bool] = mapped_column(default=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FraudAlert(db.Model):
    """A burst stopped by the fraud guard (codes to one number range beyond the velocity limit).
    Shown on the API keys page; one row per range and window, however long the burst."""

    __table_args__ = (Index("ix_fraud_alert_prefix", "kind", "prefix", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    prefix: Mapped[str] = mapped_column(String(20))
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_key.id"))
    count: Mapped[int]
    detail: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookEvent(db.Model):
    """One event for one receiver: a message's status change or an MO. The outbox the worker
    delivers from, in id order per (key, URL) — each key signs with its own secret — and the
    delivery log the console shows."""

    __table_args__ = (
        # The deliverer's queue: pending events per URL in order. Partial: delivered ones leave it.
        Index(
            "ix_webhook_event_pending",
            "api_key_id",
            "url",
            "id",
            sqlite_where=column("status") == "pending",
            postgresql_where=column("status") == "pending",
        ),
        Index("ix_webhook_event_message", "message_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_key.id"))
    url: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(40))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id"))
    inbound_message_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_message.id"))
    seq: Mapped[int | None]  # the message's timeline sequence number (docs/architecture.md #5)
    payload: Mapped[dict] = mapped_column(JSON)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None]
    last_latency_ms: Mapped[float | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookAttempt(db.Model):
    """One POST: which events it carried, and what came back."""

    __table_args__ = (Index("ix_webhook_attempt_url", "url", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    event_ids: Mapped[list] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None]
    latency_ms: Mapped[float]
    error: Mapped[str | None] = mapped_column(Text)
