from __future__ import annotations

from datetime import datetime

from decimal import Decimal

from sqlalchemy import ForeignKey, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dashboard.extensions import db
from dashboard.models.contacts import ContactList, SenderId
from dashboard.models.types import UTCDateTime, utcnow
from dashboard.models.user import User

CAMPAIGN_STATES = ("draft", "awaiting_approval", "scheduled", "launching", "running", "paused", "completed",
                   "cancelled")
KINDS = {"transactional": 10, "marketing": 100}  # kind → queue priority (lower goes first)
# One-time codes (POST /verify) overtake every campaign kind and every other API message on their bind.
OTP_PRIORITY = 1


class Campaign(db.Model):
    # One occurrence per fire time of a recurring series, however often the launcher runs.
    __table_args__ = (UniqueConstraint("series_id", "scheduled_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    list_id: Mapped[int] = mapped_column(ForeignKey("contact_list.id"))
    sender_id_id: Mapped[int] = mapped_column(ForeignKey("sender_id.id"))
    text: Mapped[str] = mapped_column(Text)  # a template body (placeholders), copied so approval sees what goes out
    template_id: Mapped[int | None] = mapped_column(ForeignKey("message_template.id"))
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")  # the zone the schedule was given in
    status: Mapped[str] = mapped_column(String(20), default="scheduled", index=True)
    kind: Mapped[str] = mapped_column(String(16), default="marketing")
    priority: Mapped[int] = mapped_column(default=100)  # lower goes first; transactional API traffic uses 10
    # Why it stopped by itself (budget, failure rate, sender) or why approval was refused.
    status_reason: Mapped[str | None] = mapped_column(Text)

    # Recurring: a series (recurrence set) never sends itself; each fire time launches an occurrence.
    recurrence: Mapped[str | None] = mapped_column(String(120))
    series_id: Mapped[int | None] = mapped_column(ForeignKey("campaign.id"), index=True)

    # Quiet hours in the recipient's local time (minutes after midnight; days "0123456", 0 = Monday).
    window_start: Mapped[int | None]
    window_end: Mapped[int | None]
    window_days: Mapped[str] = mapped_column(String(7), default="0123456")

    # Guard rails, kept by the sender in the claim transaction (cap, budget) and by a job (failures).
    throughput_cap: Mapped[float | None]  # messages per second across all binds and workers
    cap_tokens: Mapped[float] = mapped_column(default=0.0)
    cap_refilled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    budget: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    committed_cost: Mapped[Decimal] = mapped_column(Numeric(16, 6), default=Decimal("0"))
    failure_threshold: Mapped[float | None]  # percent of the last `failure_window` finished messages
    failure_window: Mapped[int] = mapped_column(default=100)
    guard_since: Mapped[datetime | None] = mapped_column(UTCDateTime)  # failures before a resume don't count

    # Four-eyes approval and the test send that can be required before it.
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    test_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    test_sent_to: Mapped[str | None] = mapped_column(String(20))
    test_message_id: Mapped[int | None]
    # Launch streams the audience in batches; the cursor makes a crashed launch resumable.
    launch_cursor: Mapped[int] = mapped_column(default=0)
    materialised: Mapped[int] = mapped_column(default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    launched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    contact_list: Mapped[ContactList] = relationship()
    sender: Mapped[SenderId] = relationship()
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    approved_by: Mapped[User | None] = relationship(foreign_keys=[approved_by_id])
    series: Mapped["Campaign | None"] = relationship(remote_side=[id])

    @property
    def is_series(self) -> bool:
        return self.recurrence is not None

    @property
    def metered(self) -> bool:
        return self.throughput_cap is not None or self.budget is not None
