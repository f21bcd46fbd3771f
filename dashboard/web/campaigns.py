from __future__ import annotations

from datetime import timezone

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from dashboard.extensions import db, htmx
from dashboard.models import Campaign, ContactList, SenderId
from dashboard.models.types import utcnow
from dashboard.services import campaigns as campaign_service
from dashboard.sms.encoding import analyse, gsm_lookalike, replace_lookalikes
from dashboard.web.access import STAFF, roles_required
from dashboard.web.forms import CampaignForm, EmptyForm, choices

bp = Blueprint("campaigns", __name__, url_prefix="/campaigns")

LIVE_STATES = ("scheduled", "launching", "running", "paused")
ACTIONS = {"pause": campaign_service.pause, "resume": campaign_service.resume, "cancel": campaign_service.cancel}


@bp.route("/")
@roles_required(*STAFF)
def index():
    campaigns = db.session.scalars(select(Campaign).order_by(Campaign.id.desc())).all()
    return render_template("campaigns/index.html", campaigns=campaigns)


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*STAFF)
def new():
    form = CampaignForm()
    form.list_id.choices = choices((c.id, c.name) for c in db.session.scalars(select(ContactList).order_by(ContactList.name)))
    form.sender_id_id.choices = choices((s.id, s.value) for s in db.session.scalars(
        select(SenderId).where(SenderId.status == "approved").order_by(SenderId.value)))
    if form.validate_on_submit():
        when = form.scheduled_at.data
        scheduled_at = when.replace(tzinfo=timezone.utc) if when else utcnow()
        try:
            campaign = campaign_service.create_campaign(
                name=form.name.data, list_id=form.list_id.data, sender_id_id=form.sender_id_id.data,
                text=form.text.data, scheduled_at=scheduled_at, created_by_id=current_user.id, now=utcnow())
        except campaign_service.CampaignError as exc:
            flash(str(exc), "error")
        else:
            flash(f"Campaign “{campaign.name}” scheduled.", "success")
            return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    return render_template("campaigns/form.html", form=form), 400 if form.errors else 200


@bp.route("/segments")
@roles_required(*STAFF)
def segments():
    """The live counter under the message box: encoding, room left, parts, what forced UCS-2."""
    text = request.args.get("text", "")
    info = analyse(text)
    culprits = [(ch, gsm_lookalike(ch)) for ch in info.non_gsm_chars]
    return render_template("campaigns/_segments.html", text=text, info=info, culprits=culprits,
                           gsm_version=replace_lookalikes(text) if culprits else None)


@bp.route("/<int:campaign_id>")
@roles_required(*STAFF)
def show(campaign_id: int):
    campaign = db.get_or_404(Campaign, campaign_id)
    before_launch = campaign.status in ("scheduled", "paused") and not campaign.launched_at
    return render_template("campaigns/show.html", campaign=campaign,
                           progress=campaign_service.progress(campaign), segment_info=analyse(campaign.text),
                           live=campaign.status in LIVE_STATES, cost=campaign_service.cost_so_far(campaign),
                           estimate=campaign_service.estimate(campaign) if before_launch else None)


@bp.route("/<int:campaign_id>/progress")
@roles_required(*STAFF)
def progress(campaign_id: int):
    campaign = db.get_or_404(Campaign, campaign_id)
    return render_template("campaigns/_progress.html", campaign=campaign, cost=campaign_service.cost_so_far(campaign),
                           progress=campaign_service.progress(campaign), live=campaign.status in LIVE_STATES)


@bp.route("/<int:campaign_id>/<any(pause, resume, cancel):action>", methods=["POST"])
@roles_required(*STAFF)
def control(campaign_id: int, action: str):
    """Pause, resume or cancel; answers with the progress partial for htmx, or a redirect."""
    campaign = db.get_or_404(Campaign, campaign_id)
    error = None
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        ACTIONS[action](campaign, utcnow())
    except campaign_service.CampaignError as exc:
        error = str(exc)
    if htmx:
        return render_template("campaigns/_progress.html", campaign=campaign, error=error,
                               cost=campaign_service.cost_so_far(campaign),
                               progress=campaign_service.progress(campaign), live=campaign.status in LIVE_STATES)
    flash(error or f"Campaign “{campaign.name}” {campaign.status}.", "error" if error else "success")
    return redirect(url_for("campaigns.show", campaign_id=campaign.id))
