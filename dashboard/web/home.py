from __future__ import annotations

from datetime import datetime, time, timezone

from flask import Blueprint, render_template
from sqlalchemy import func, select

from dashboard.extensions import db
from dashboard.models import Bind, Campaign, Message
from dashboard.models.types import utcnow
from dashboard.sms import lifecycle as lc
from dashboard.web.access import ALL_ROLES, roles_required

bp = Blueprint("home", __name__)


def today_counts() -> dict[str, int]:
    start = datetime.combine(utcnow().date(), time.min, tzinfo=timezone.utc)
    rows = dict(db.session.execute(select(Message.status, func.count()).where(Message.created_at >= start)
                                   .group_by(Message.status)).all())
    sent = sum(n for s, n in rows.items() if s not in (lc.QUEUED, lc.SUBMITTING, lc.SKIPPED, lc.CANCELLED))
    return {"sent": sent, "delivered": rows.get(lc.DELIVERED, 0),
            "failed": sum(rows.get(s, 0) for s in lc.FAILED_OUTCOMES),
            "waiting": rows.get(lc.QUEUED, 0) + rows.get(lc.SUBMITTING, 0) + rows.get(lc.SUBMITTED, 0)}


@bp.route("/")
@roles_required(*ALL_ROLES)
def index():
    binds = db.session.scalars(select(Bind).order_by(Bind.name)).all()
    campaigns = db.session.scalars(select(Campaign).order_by(Campaign.id.desc()).limit(5)).all()
    return render_template("home/index.html", counts=today_counts(), binds=binds, campaigns=campaigns)


@bp.route("/stats")
@roles_required(*ALL_ROLES)
def stats():
    binds = db.session.scalars(select(Bind).order_by(Bind.name)).all()
    return render_template("home/_stats.html", counts=today_counts(), binds=binds)
