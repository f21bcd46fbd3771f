"""Campaign reports: counts, delivery rate, failures by reason, country and carrier, cost, timings;
and the message-level CSV export, streamed.

Everything is computed with a handful of GROUP BY queries, whatever the campaign's size: never
one query per message. Countries are grouped by the number prefix that decides them
(dashboard.sms.regions) and each group is resolved from one of its numbers. Costs are the prices
written on the parts when they were submitted (docs/architecture.md #10), never today's price list.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import case, func, literal, select

from dashboard.csv_stream import csv_chunks as stream_csv
from dashboard.extensions import db
from dashboard.models import AuditLog, Bind, Campaign, Message, MessagePart
from dashboard.services import audit
from dashboard.services.sqlexpr import count_where, region_prefix, seconds_between
from dashboard.sms import lifecycle as lc
from dashboard.sms.money import MoneyTotals
from dashboard.sms.regions import RegionCache
from dashboard.sms.traffic import rate

EXPORT_BATCH = 1000  # rows fetched per round trip (yield_per)
CHUNK_ROWS = 500  # CSV rows per chunk written to the socket
EXPORT_COLUMNS = ("message_id", "destination", "country", "status", "reason", "error", "bind", "parts", "price",
                  "currency", "submitted_at", "done_at", "possible_duplicate")
# Messages that reached the SMSC and ended: the denominator of the delivery rate. Cancelled and
# skipped messages were never attempted; queued and in-flight ones have no outcome yet.
OUTCOMES = tuple(sorted(lc.OUTCOMES))
FAILED_STATES = tuple(sorted(lc.FAILED_OUTCOMES))
WAITING = (lc.QUEUED, lc.SUBMITTING, lc.SUBMITTED)  # no outcome yet


def _pct(part: int, whole: int) -> float | None:
    # The percentage is the charts' (sms/traffic.rate), to one decimal for the report's tables.
    value = rate(part, whole)
    return round(value, 1) if value is not None else None


@dataclass(frozen=True)
class Breakdown:
    """One line of the by-country or by-carrier table."""

    label: str
    messages: int
    delivered: int
    failed: int
    parts: int
    cost: MoneyTotals

    @property
    def delivered_pct(self) -> float | None:
        return _pct(self.delivered, self.delivered + self.failed)


@dataclass(frozen=True)
class FailureLine:
    status: str
    error: str  # SMPP status name, or the receipt's stat/err
    reason: str  # the message's own reason text
    count: int


@dataclass(frozen=True)
class Timings:
    first_created: datetime | None
    first_submitted: datetime | None
    last_submitted: datetime | None
    last_done: datetime | None
    avg_seconds_to_delivery: float | None  # submit → delivery receipt, delivered messages
    max_seconds_to_delivery: float | None

    @property
    def send_seconds(self) -> float | None:
        if self.first_submitted and self.last_submitted:
            return (self.last_submitted - self.first_submitted).total_seconds()
        return None


@dataclass(frozen=True)
class CampaignReport:
    campaign_id: int
    by_status: dict[str, int]
    segments: int  # parts the messages need, counted at launch
    parts_submitted: int  # parts the SMSC accepted (and bills)
    cost: MoneyTotals  # by currency, at the prices recorded when the parts went
    failures: list[FailureLine]
    by_country: list[Breakdown]
    by_carrier: list[Breakdown]
    timings: Timings

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def delivered(self) -> int:
        return self.by_status.get(lc.DELIVERED, 0)

    @property
    def failed(self) -> int:
        return sum(self.by_status.get(s, 0) for s in FAILED_STATES)

    @property
    def with_outcome(self) -> int:
        return sum(self.by_status.get(s, 0) for s in OUTCOMES)

    @property
    def delivered_pct(self) -> float | None:
        """Delivered ÷ messages with an outcome (delivered, partially delivered or failed)."""
        return _pct(self.delivered, self.with_outcome)


def _parts_per_message(campaign_id: int):
    """One row per message of the campaign: parts accepted by the SMSC, their cost, and the
    receipt or error of the first part that did not deliver (what the failure tables show)."""
    not_delivered = MessagePart.status != lc.DELIVERED
    return (select(MessagePart.message_id.label("message_id"),
                   func.count(MessagePart.submitted_at).label("parts"),
                   func.sum(MessagePart.price).label("cost"),
                   # One message's parts share its route's currency (written with each price).
                   func.max(MessagePart.currency).label("currency"),
                   func.max(case((not_delivered, MessagePart.receipt_stat))).label("stat"),
                   func.max(case((not_delivered, MessagePart.receipt_err))).label("err"),
                   func.max(case((not_delivered, MessagePart.error_name))).label("part_error"))
            .join(Message, Message.id == MessagePart.message_id)
            .where(Message.campaign_id == campaign_id)
            .group_by(MessagePart.message_id).subquery())


def _breakdowns(campaign_id: int, parts, key, label_of) -> list[Breakdown]:
    """Messages grouped by `key`: counts, delivered, failed, parts and cost per group. `label_of`
    turns a group's (key, sample destination) into its label; groups with one label are merged."""
    rows = db.session.execute(
        select(key.label("key"), parts.c.currency, func.min(Message.destination).label("sample"),
               func.count().label("messages"),
               count_where(Message.status == lc.DELIVERED).label("delivered"),
               count_where(Message.status.in_(FAILED_STATES)).label("failed"),
               func.coalesce(func.sum(parts.c.parts), 0).label("parts"),
               func.sum(parts.c.cost).label("cost"))
        .select_from(Message).outerjoin(parts, parts.c.message_id == Message.id)
        .where(Message.campaign_id == campaign_id).group_by(key, parts.c.currency)).all()
    merged: dict[str, list] = defaultdict(lambda: [0, 0, 0, 0, MoneyTotals()])
    for row in rows:
        totals = merged[label_of(row.key, row.sample)]
        for i, value in enumerate((row.messages, row.delivered, row.failed, row.parts)):
            totals[i] += int(value)
        totals[4].add(row.currency, row.cost)
    lines = [Breakdown(label, *values) for label, values in merged.items()]
    return sorted(lines, key=lambda line: (-line.messages, line.label))


def campaign_report(campaign: Campaign) -> CampaignReport:
    """The whole report for one campaign, from set-based queries."""
    parts = _parts_per_message(campaign.id)
    of_campaign = Message.campaign_id == campaign.id
    by_status = dict(db.session.execute(select(Message.status, func.count()).where(of_campaign)
                                        .group_by(Message.status)).all())
    totals = db.session.execute(
        select(func.coalesce(func.sum(Message.segments), 0),
               func.coalesce(func.sum(parts.c.parts), 0))
        .select_from(Message).outerjoin(parts, parts.c.message_id == Message.id).where(of_campaign)).one()
    cost = MoneyTotals(db.session.execute(
        select(parts.c.currency, func.sum(parts.c.cost)).select_from(Message)
        .join(parts, parts.c.message_id == Message.id).where(of_campaign)
        .group_by(parts.c.currency)).all())

    error = func.coalesce(Message.error_name, parts.c.part_error, parts.c.stat, literal(""))
    failures = [FailureLine(status, _error_label(err, stat, receipt_err), reason or "", count)
                for status, err, stat, receipt_err, reason, count in db.session.execute(
                    select(Message.status, error, parts.c.stat, parts.c.err, Message.reason, func.count())
                    .select_from(Message).outerjoin(parts, parts.c.message_id == Message.id)
                    .where(of_campaign, Message.status.in_(FAILED_STATES))
                    .group_by(Message.status, error, parts.c.stat, parts.c.err, Message.reason)
                    .order_by(func.count().desc(), Message.status)).all()]

    regions = RegionCache()
    by_country = _breakdowns(campaign.id, parts, region_prefix(Message.destination),
                             lambda _key, sample: regions.region(sample))
    bind_names = dict(db.session.execute(select(Bind.id, Bind.name)).all())
    by_carrier = _breakdowns(campaign.id, parts, Message.bind_id,
                             lambda bind_id, _sample: bind_names.get(bind_id, "(no bind)"))
    return CampaignReport(campaign_id=campaign.id, by_status=by_status, segments=int(totals[0]),
                          parts_submitted=int(totals[1]), cost=cost, failures=failures,
                          by_country=by_country, by_carrier=by_carrier, timings=_timings(campaign.id))


def _error_label(error: str, stat: str | None, receipt_err: str | None) -> str:
    """The SMPP error name, or the receipt's stat with its err code ("UNDELIV err 001")."""
    if error and error == stat and receipt_err:
        return f"{stat} err {receipt_err}"
    return error


def _timings(campaign_id: int) -> Timings:
    row = db.session.execute(select(
        func.min(Message.created_at), func.min(Message.submitted_at), func.max(Message.submitted_at),
        func.max(Message.done_at)).where(Message.campaign_id == campaign_id)).one()
    seconds = seconds_between(Message.submitted_at, Message.done_at)
    avg, longest = db.session.execute(select(func.avg(seconds), func.max(seconds)).where(
        Message.campaign_id == campaign_id, Message.status == lc.DELIVERED,
        Message.submitted_at.is_not(None), Message.done_at.is_not(None))).one()
    return Timings(*row, avg_seconds_to_delivery=None if avg is None else float(avg),
                   max_seconds_to_delivery=None if longest is None else float(longest))


# --- The message-level export ---------------------------------------------------------------

def _export_rows(campaign_id: int) -> Iterator[dict]:
    """Plain column rows in id order, fetched EXPORT_BATCH at a time: the session's identity map
    does not grow and the whole campaign never sits in memory."""
    parts = _parts_per_message(campaign_id)
    query = (select(Message.id, Message.destination, Message.status, Message.reason, Message.error_name,
                    parts.c.part_error, parts.c.stat, parts.c.err, Bind.name.label("bind"), Message.segments,
                    parts.c.cost, parts.c.currency, Message.submitted_at, Message.done_at,
                    Message.possible_duplicate)
             .select_from(Message).outerjoin(parts, parts.c.message_id == Message.id)
             .outerjoin(Bind, Bind.id == Message.bind_id)
             .where(Message.campaign_id == campaign_id).order_by(Message.id)
             .execution_options(yield_per=EXPORT_BATCH))
    regions = RegionCache()
    for row in db.session.execute(query):
        error = row.error_name or row.part_error or row.stat or ""
        yield {"message_id": row.id, "destination": row.destination, "country": regions.region(row.destination),
               "status": row.status, "reason": row.reason or "", "error": _error_label(error, row.stat, row.err),
               "bind": row.bind or "", "parts": row.segments,
               "price": "" if row.cost is None else f"{Decimal(row.cost):f}",
               "currency": row.currency or "",
               "submitted_at": _iso(row.submitted_at), "done_at": _iso(row.done_at),
               "possible_duplicate": "yes" if row.possible_duplicate else "no"}


def _iso(value: datetime | None) -> str:
    return value.isoformat().replace("+00:00", "Z") if value else ""


def csv_chunks(campaign_id: int, audit_id: int) -> Iterator[str]:
    """The export as CSV text in chunks of CHUNK_ROWS rows; records the row count when done."""
    rows = ([row[c] for c in EXPORT_COLUMNS] for row in _export_rows(campaign_id))
    return stream_csv(EXPORT_COLUMNS, rows, CHUNK_ROWS, lambda count: audit.export_finished(audit_id, count))


def start_export(campaign: Campaign, now: datetime) -> AuditLog:
    return audit.export_started("campaign_export", fmt="csv", filters={"campaign": str(campaign.id)}, target=campaign,
                                detail=f"messages of campaign “{campaign.name}”", now=now)


def status_counts() -> dict[str, int]:
    """Every message by status: `flask status`."""
    rows = db.session.execute(select(Message.status, func.count()).group_by(Message.status)).all()
    return {status: count for status, count in rows}


def possible_duplicates() -> int:
    """Messages retried after a part may already have reached the SMSC (a crash, a lost link, a
    worker that lost its bind): the number a person should know when judging a run."""
    return db.session.scalar(select(func.count()).select_from(Message).where(Message.possible_duplicate.is_(True)))


def in_progress() -> int:
    """Messages queued or on their way now (the claim index answers it: docs/performance.md)."""
    return db.session.scalar(select(func.count()).select_from(Message).where(Message.status.in_(WAITING))) or 0
