"""Carrier connections: SMPP binds, their live state, and routes by destination prefix."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from flask import current_app
from sqlalchemy import ForeignKey, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dashboard.extensions import db
from dashboard.models.types import UTCDateTime, utcnow

BIND_MODES = ("trx", "tx", "rx", "tx+rx")
CONCAT_MODES = ("udh", "payload")
MESSAGE_ID_FORMATS = ("auto", "str", "hex", "dec", "hex_to_dec")


class Bind(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int]
    system_id: Mapped[str] = mapped_column(String(16))
    # Fernet token, never the password itself; see dashboard.crypto.
    password_encrypted: Mapped[str] = mapped_column(Text)
    system_type: Mapped[str] = mapped_column(String(13), default="")
    mode: Mapped[str] = mapped_column(String(8), default="trx")
    tps: Mapped[float] = mapped_column(default=50.0)
    window: Mapped[int] = mapped_column(default=10)
    enquire_link_interval: Mapped[float] = mapped_column(default=30.0)
    response_timeout: Mapped[float] = mapped_column(default=10.0)
    use_tls: Mapped[bool] = mapped_column(default=False)
    default_data_coding: Mapped[int] = mapped_column(default=0)
    concat_mode: Mapped[str] = mapped_column(String(10), default="udh")
    message_id_format: Mapped[str] = mapped_column(String(12), default="auto")
    max_attempts: Mapped[int] = mapped_column(default=5)
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Deleted binds stay (disabled, renamed) so the messages they carried keep naming them.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    status: Mapped[BindStatus | None] = relationship(back_populates="bind", uselist=False,
                                                      cascade="all, delete-orphan")
    routes: Mapped[list[Route]] = relationship(back_populates="bind", cascade="all, delete-orphan")

    def __repr__(self) -> str:
        return f"<Bind {self.name} {self.host}:{self.port}>"


class BindStatus(db.Model):
    """The live state of a bind, written by the sender process and read by the web UI.

    It lives in the database because the sender and the web app are different processes.
    """

    bind_id: Mapped[int] = mapped_column(ForeignKey("bind.id", ondelete="CASCADE"), primary_key=True)
    state: Mapped[str] = mapped_column(String(20), default="disabled")
    state_since: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    in_flight: Mapped[int] = mapped_column(default=0)
    current_tps: Mapped[float] = mapped_column(default=0.0)
    allowed_tps: Mapped[float] = mapped_column(default=0.0)
    # After the SMSC throttled: the rate the bind settled on, just under what it grants (None: never).
    settled_tps: Mapped[float | None]
    throttled_total: Mapped[int] = mapped_column(default=0, server_default="0")  # ESME_RTHROTTLED/RMSGQFUL answers
    submitted_total: Mapped[int] = mapped_column(default=0)
    unmatched_receipts: Mapped[int] = mapped_column(default=0)
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    worker_id: Mapped[str | None] = mapped_column(String(80))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    bind: Mapped[Bind] = relationship(back_populates="status")


def _default_currency() -> str:
    return current_app.config["DEFAULT_CURRENCY"]


class Route(db.Model):
    """Destination prefix → bind, with the price per segment in a currency. Several rows may share
    a prefix: they are the failover options for it, cheapest healthy first."""

    id: Mapped[int] = mapped_column(primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), index=True, default="")
    bind_id: Mapped[int] = mapped_column(ForeignKey("bind.id", ondelete="CASCADE"))
    price_per_segment: Mapped[Decimal] = mapped_column(Numeric(12, 6), default=Decimal("0"))
    # ISO 4217, copied onto each message it prices; DEFAULT_CURRENCY unless given.
    currency: Mapped[str] = mapped_column(String(3), default=_default_currency)
    priority: Mapped[int] = mapped_column(default=100)
    enabled: Mapped[bool] = mapped_column(default=True)
    # A removed route that priced messages stays (disabled) for them to point at.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    bind: Mapped[Bind] = relationship(back_populates="routes")
