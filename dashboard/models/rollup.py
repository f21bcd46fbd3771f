"""Rollups: per-minute (then hourly) aggregates of the message traffic that the charts, counters,
alerts and /metrics read instead of the message table (dashboard/services/rollups.py writes them).

A row holds one period of one combination of dimensions: bind, destination country, campaign,
sender ID and message type. "None" is stored as 0 or '' rather than NULL: the upsert that adds a
run's deltas finds its row through the unique key, and NULLs never compare equal in one.
Histograms are per-bucket counts (not cumulative) over the bounds in dashboard/sms/traffic.py.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, BigInteger, Column, Float, Index, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dashboard.extensions import db
from dashboard.models.types import UTCDateTime
from dashboard.sms.traffic import LATENCY_BOUNDS, SUBMIT_BOUNDS

DIMENSIONS = ("bind_id", "country", "campaign_id", "sender", "kind")
KEY = ("period_start", "resolution", *DIMENSIONS)
# Histogram columns: receipt latency (submit → final receipt), delivery time (queued → delivered
# receipt, for the latency targets per message type) and submit latency (submit_sm → its response).
RECEIPT_LATENCY = tuple(f"rl_{i}" for i in range(len(LATENCY_BOUNDS) + 1))
DELIVERY_TIME = tuple(f"dl_{i}" for i in range(len(LATENCY_BOUNDS) + 1))
SUBMIT_LATENCY = tuple(f"sl_{i}" for i in range(len(SUBMIT_BOUNDS) + 1))
COUNTS = ("submitted", "parts", "throttled", "refused", "timeouts", "delivered", "failed",
          *RECEIPT_LATENCY, *DELIVERY_TIME, *SUBMIT_LATENCY)
SUMS = ("rl_sum", "sl_sum")  # seconds, for Prometheus' histogram _sum
MEASURES = COUNTS + SUMS


def _dimension_columns() -> list[Column]:
    return [Column("period_start", UTCDateTime(), nullable=False),
            Column("resolution", Integer, nullable=False),  # seconds: 60, or 3600 once coarsened
            Column("bind_id", Integer, nullable=False, default=0),
            Column("country", String(3), nullable=False, default=""),  # "??" unknown
            Column("campaign_id", Integer, nullable=False, default=0),
            Column("sender", String(20), nullable=False, default=""),
            Column("kind", String(16), nullable=False, default="")]


traffic_rollup = db.Table(
    "traffic_rollup",
    Column("id", Integer, primary_key=True),
    *_dimension_columns(),
    *[Column(name, Integer, nullable=False, default=0) for name in COUNTS],
    *[Column(name, Float, nullable=False, default=0.0) for name in SUMS],
    UniqueConstraint(*KEY, name="uq_traffic_rollup_key"),
    # The charts read one scope over a time range: everything, one bind, or one campaign.
    Index("ix_traffic_rollup_bind", "bind_id", "period_start"),
    Index("ix_traffic_rollup_campaign", "campaign_id", "period_start"),
)

spend_rollup = db.Table(
    "spend_rollup",
    Column("id", Integer, primary_key=True),
    *_dimension_columns(),
    Column("currency", String(3), nullable=False, default=""),
    Column("parts", Integer, nullable=False, default=0),
    Column("amount", Numeric(18, 6), nullable=False, default=Decimal("0")),
    UniqueConstraint(*KEY, "currency", name="uq_spend_rollup_key"),
    Index("ix_spend_rollup_bind", "bind_id", "period_start"),
    Index("ix_spend_rollup_campaign", "campaign_id", "period_start"),
)

failure_rollup = db.Table(
    "failure_rollup",
    Column("id", Integer, primary_key=True),
    *_dimension_columns(),
    Column("reason", String(80), nullable=False),
    Column("count", Integer, nullable=False, default=0),
    UniqueConstraint(*KEY, "reason", name="uq_failure_rollup_key"),
    Index("ix_failure_rollup_bind", "bind_id", "period_start"),
    Index("ix_failure_rollup_campaign", "campaign_id", "period_start"),
)


class RollupCursor(db.Model):
    """How far the rollup job has read the message timeline: every event id up to `last_id` is
    counted, except the `gaps` — ids below it not visible yet (a transaction that took its id
    before a later one committed) — which are looked for again until PostgreSQL says no
    transaction that could hold them is still running (services/rollups.py)."""

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger, default=0)
    gaps: Mapped[list] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    coarsened_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
