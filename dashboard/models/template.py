"""Message templates: reusable campaign texts with placeholders (rendered by dashboard.sms.templating)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dashboard.extensions import db
from dashboard.models.types import UTCDateTime, utcnow
from dashboard.models.user import User

TEMPLATE_KINDS = ("marketing", "transactional")


class MessageTemplate(db.Model):
    """A body with `{{ placeholders }}`. `kind` decides the opt-out footer (marketing gets it where
    required). Archived templates are hidden from pickers but kept: campaigns may name them."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    body: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16), default="marketing")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    created_by: Mapped[User | None] = relationship()
