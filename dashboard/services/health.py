"""Gathers the facts dashboard.sms.health decides on, from the bind's recent parts."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, select

from dashboard.extensions import db
from dashboard.models import MessagePart
from dashboard.sms.health import HealthPolicy, HealthSample, assess
from dashboard.sms.smpp_status import THROTTLING


def sample(bind_id: int, now: datetime, policy: HealthPolicy) -> HealthSample:
    since = now - timedelta(minutes=policy.window_minutes)
    aged_before = now - timedelta(minutes=policy.receipt_wait_minutes)
    responded = MessagePart.command_status.is_not(None)
    refused = and_(responded, MessagePart.command_status != 0, MessagePart.command_status.not_in(THROTTLING))
    aged = and_(MessagePart.submitted_at.is_not(None), MessagePart.submitted_at <= aged_before)
    row = db.session.execute(
        select(func.count().filter(responded),
               func.sum(case((refused, 1), else_=0)),
               func.sum(case((aged, 1), else_=0)),
               func.sum(case((and_(aged, MessagePart.receipt_stat.is_(None)), 1), else_=0)))
        .where(MessagePart.bind_id == bind_id, MessagePart.submitting_at >= since)).one()
    return HealthSample(responses=row[0] or 0, errors=row[1] or 0, aged_submitted=row[2] or 0,
                        aged_without_receipt=row[3] or 0)


def unhealthy_reason(bind_id: int, now: datetime, policy: HealthPolicy = HealthPolicy()) -> str | None:
    return assess(sample(bind_id, now, policy), policy)
