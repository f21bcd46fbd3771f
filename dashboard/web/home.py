"""The overview: today's figures, the binds, the last seven days, recent campaigns; and the
sender banner every page polls."""

from __future__ import annotations

from datetime import datetime, time, timezone

from flask import Blueprint, render_template
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import Campaign
from dashboard.models.types import utcnow
from dashboard.services import binds as bind_service
from dashboard.services import reports
from dashboard.web.access import ALL_ROLES, roles_required

bp = Blueprint("home", __name__)


def _today() -> dict[str, int]:
    return reports.traffic_since(datetime.combine(utcnow().date(), time.min, tzinfo=timezone.utc))


@bp.route("/")
@roles_required(*ALL_ROLES)
def index():
    campaigns = db.session.scalars(select(Campaign).order_by(Campaign.id.desc()).limit(5)).all()
    return render_template(
        "home/index.html",
        counts=_today(),
        binds=bind_service.list_binds(),
        campaigns=campaigns,
        days=reports.daily_traffic(utcnow(), 7),
    )


@bp.route("/stats")
@roles_required(*ALL_ROLES)
def stats():
    return render_template("home/_stats.html", counts=_today(), binds=bind_service.list_binds())


@bp.route("/sender-status")
@roles_required(*ALL_ROLES)
def sender_banner():
    """The banner alone, polled by every page: it appears when the sender stops, and goes when it
    is back."""
    return render_template("_sender_banner.html")
