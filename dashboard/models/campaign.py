from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dashboard.extensions import db
from dashboard.models.contacts import ContactList, SenderId
from dashboard.models.types import UTCDateTime, utcnow
from dashboard.models.user import User

CAMPAIGN_STATES = ("draft", "scheduled", "launching", "running", "paused", "completed", "cancelled")


class Campaign(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    list_id: Mapped[int] = mapped_column(ForeignKey("contact_list.id"))
    sender_id_id: Mapped[int] = mapped_column(ForeignKey("sender_id.id"))
    text: Mapped[str] = mapped_column(Text)
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    status: Mapped[str] = mapped_column(String(12), default="scheduled", index=True)
    priority: Mapped[int] = mapped_column(default=100)  # lower goes first; transactional API traffic uses 10
    # Launch streams the audience in batches; the cursor makes a crashed launch resumable.
    launch_cursor: Mapped[int] = mapped_column(default=0)
    materialised: Mapped[int] = mapped_column(default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    launched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    contact_list: Mapped[ContactList] = relationship()
    sender: Mapped[SenderId] = relationship()
    created_by: Mapped[User | None] = relationship()
