"""Audit log: who looked at or took away sensitive data (consent exports, chain checks)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from dashboard.extensions import db
from dashboard.models.types import UTCDateTime, utcnow


class AuditLog(db.Model):
    """One row per audited action. `actor` keeps the email even if the user is deleted later;
    `row_count` stays NULL for an export whose download never finished."""

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(40), index=True)  # consent_export, consent_verify
    format: Mapped[str | None] = mapped_column(String(10))
    filters: Mapped[dict] = mapped_column(JSON, default=dict)
    row_count: Mapped[int | None]
    detail: Mapped[str] = mapped_column(String(500), default="")
