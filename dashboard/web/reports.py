"""Campaign reports and the message-level CSV export.

Admin and ops, and compliance read-only: the report has no controls, and the export is audited
like a consent export (docs/roles.md).
"""
from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, stream_with_context
from flask_login import current_user

from dashboard.extensions import db
from dashboard.models import Campaign
from dashboard.models.types import utcnow
from dashboard.services import reports
from dashboard.services.traffic import Scope
from dashboard.web.access import ALL_ROLES, roles_required
from dashboard.web.charts import panel_context
from dashboard.web.forms import EmptyForm

bp = Blueprint("reports", __name__, url_prefix="/campaigns")


@bp.route("/<int:campaign_id>/report")
@roles_required(*ALL_ROLES)
def report(campaign_id: int):
    campaign = db.get_or_404(Campaign, campaign_id)
    charts = panel_context(Scope("campaign", campaign.id), campaign, "run") if campaign.launched_at else {}
    return render_template("reports/campaign.html", campaign=campaign, report=reports.campaign_report(campaign),
                           can_operate=current_user.has_role("admin", "ops"), **charts)


@bp.route("/<int:campaign_id>/messages.csv", methods=["POST"])
@roles_required(*ALL_ROLES)
def messages_csv(campaign_id: int):
    """A POST: a link from another site must not write an export in a user's name."""
    campaign = db.get_or_404(Campaign, campaign_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    now = utcnow()
    audit = reports.start_export(campaign, now)
    filename = f"campaign-{campaign.id}-messages-{now:%Y%m%dT%H%M%SZ}.csv"
    return Response(stream_with_context(reports.csv_chunks(campaign.id, audit.id)),
                    mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
