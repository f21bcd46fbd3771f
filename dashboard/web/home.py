"""The overview: today's figures, spend against the budgets, the delivery-time targets, live
charts, the binds, the last seven days, recent campaigns; and the banners every page polls."""

from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import Campaign
from dashboard.models.types import utcnow
from dashboard.services import binds as bind_service
from dashboard.services import budgets, reports, traffic
from dashboard.services.traffic import Scope
from dashboard.web.access import ALL_ROLES, roles_required
from dashboard.web.charts import panel_context

bp = Blueprint("home", __name__)


def _today() -> dict:
    """The live part of the overview (it polls itself): today's figures, spend against the
    budgets, the delivery-time targets."""
    now = utcnow()
    today = traffic.totals(Scope(), traffic.start_of_day(now))
    return {"counts": {"sent": today.counts["submitted"], "delivered": today.counts["delivered"],
                       "failed": today.counts["failed"], "waiting": reports.in_progress(),
                       "delivery_rate": today.delivery_rate},
            "spending": budgets.standing(now), "targets": traffic.targets_since(traffic.start_of_day(now)),
            "binds": bind_service.list_binds()}


@bp.route("/")
@roles_required(*ALL_ROLES)
def index():
    now = utcnow()
    campaigns = db.session.scalars(select(Campaign).order_by(Campaign.id.desc()).limit(5)).all()
    return render_template(
        "home/index.html",
        campaigns=campaigns,
        days=traffic.daily(now, 7),
        **_today(),
        **panel_context(Scope(), None, None),
    )


@bp.route("/stats")
@roles_required(*ALL_ROLES)
def stats():
    return render_template("home/_stats.html", **_today())


@bp.route("/sender-status")
@roles_required(*ALL_ROLES)
def sender_banner():
    """The banner alone, polled by every page: it appears when the sender stops, and goes when it
    is back."""
    return render_template("_sender_banner.html")
