"""Audit trail: every change to the console's configuration, users, campaigns, lists and
templates, and every export, appended and hash-chained like the consent ledger (docs/security.md)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dashboard.extensions import db
from dashboard.models.types import UTCDateTime, utcnow


class AuditLog(db.Model):
    """One row per audited action: who (`actor` keeps the email; `user_id` is no foreign key, so
    the row never changes when a user does), when, from which address, what (`action`, the
    target) and what changed (`changes`: field → [before, after], secrets masked).

    Database triggers refuse UPDATE and DELETE (migration 0010_security_audit); `hash` chains
    each row to the one before it. An export is two rows: its start, written before the first
    byte, and `export_finished` with the row count, pointing at the start (target_id).
    """

    __table_args__ = (UniqueConstraint("prev_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    user_id: Mapped[int | None]
    actor: Mapped[str] = mapped_column(String(254))
    ip: Mapped[str] = mapped_column(String(45), default="")
    action: Mapped[str] = mapped_column(String(40), index=True)
    target_type: Mapped[str] = mapped_column(String(40), default="", index=True)
    target_id: Mapped[int | None]
    changes: Mapped[dict] = mapped_column(JSON, default=dict)
    format: Mapped[str | None] = mapped_column(String(10))
    filters: Mapped[dict] = mapped_column(JSON, default=dict)
    row_count: Mapped[int | None]
    detail: Mapped[str] = mapped_column(String(500), default="")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(db.Model):
    """The one row (id 1) that says where the audit chain ends (see ConsentChainHead)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    last_event_id: Mapped[int | None]
    last_hash: Mapped[str] = mapped_column(String(64))
    length: Mapped[int] = mapped_column(default=0)
