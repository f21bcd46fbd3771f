"""Alerting: the rules admins write, the alerts they raise (with who acknowledged them), the
notifications the worker delivers for them, the monthly budgets per currency and the delivery-time
targets per message type (dashboard/services/alerts.py, budgets.py, notifications.py)."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dashboard.extensions import db
from dashboard.models.types import UTCDateTime, utcnow


class AlertRule(db.Model):
    """One condition to watch (dashboard/sms/alerts.py RULE_KINDS says what each kind measures).
    `scope` narrows it to a bind, a destination country or a campaign; a rule on all binds raises
    one alert per bind."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(30))
    scope: Mapped[str] = mapped_column(String(10), default="all")  # all | bind | country | campaign
    scope_value: Mapped[str] = mapped_column(String(20), default="")  # bind or campaign id, country code
    threshold: Mapped[float]
    window_minutes: Mapped[int] = mapped_column(default=15)
    min_messages: Mapped[int] = mapped_column(default=20)  # fewer outcomes than this judge nothing
    currency: Mapped[str | None] = mapped_column(String(3))  # for cost rules
    email: Mapped[bool] = mapped_column(default=False)  # also by e-mail (ALERT_EMAIL_TO)
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # kept for its alerts' history


class Alert(db.Model):
    """One episode of a condition: firing → (acknowledged) → resolved. The history stays."""

    __table_args__ = (Index("ix_alert_open", "state", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("alert_rule.id"))
    key: Mapped[str] = mapped_column(String(120))  # rule and scope item ("rule:3:bind:2"), or "budget:USD"
    title: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(15), default="firing")  # firing | acknowledged | resolved
    value: Mapped[float | None]
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(254))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    rule: Mapped[AlertRule | None] = relationship()


class AlertNotification(db.Model):
    """A webhook call or an e-mail owed for an alert's change, delivered by the worker (never by a
    web request) and retried with back-off until it goes or its attempts are spent."""

    __table_args__ = (Index("ix_alert_notification_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alert.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(10))  # webhook | email
    event: Mapped[str] = mapped_column(String(15))  # firing | acknowledged | resolved
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    response_code: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    alert: Mapped[Alert] = relationship()


class SpendBudget(db.Model):
    """The most that may be spent in one calendar month (UTC) in one currency; never converted.
    When the month's spend reaches it, sending in that currency pauses until it is raised or the
    month ends (dashboard/services/budgets.py)."""

    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    monthly_amount: Mapped[Decimal] = mapped_column(Numeric(16, 4))
    reached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reached_month: Mapped[str | None] = mapped_column(String(7))  # "2026-11": a new month lifts it
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LatencyTargetRow(db.Model):
    """Per message type: `share` % delivered within `seconds` of being queued."""

    __tablename__ = "latency_target"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    seconds: Mapped[float]
    share: Mapped[float]
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

