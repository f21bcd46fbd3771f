"""The webhook delivery log: every event with its attempts, last response code and latency, and
a button to deliver one again."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import WebhookEvent
from dashboard.models.types import utcnow
from dashboard.services import search, webhooks
from dashboard.web.access import STAFF, roles_required
from dashboard.web.forms import EmptyForm
from dashboard.web.params import int_arg

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
STATUSES = (webhooks.PENDING, webhooks.DELIVERED, webhooks.FAILED)


@bp.route("/")
@roles_required(*STAFF)
def index():
    status = request.args.get("status", "")
    if status and status not in STATUSES:
        abort(400, description=f"status is one of {', '.join(STATUSES)}")
    query = (
        select(WebhookEvent).where(WebhookEvent.status == status)
        if status
        else select(WebhookEvent)
    )
    page = search.cursor_page(
        query,
        WebhookEvent.id,
        before=int_arg("before"),
        after=int_arg("after"),
        row_id=lambda row: row[0].id,
    )
    return render_template(
        "webhooks/index.html",
        page=page,
        status=status,
        statuses=STATUSES,
        counts=webhooks.event_counts(),
        action_form=EmptyForm(),
    )


@bp.route("/<int:event_id>")
@roles_required(*STAFF)
def show(event_id: int):
    event = db.get_or_404(WebhookEvent, event_id)
    return render_template(
        "webhooks/show.html",
        event=event,
        envelope=webhooks.envelope(event),
        attempts=webhooks.attempts_of(event),
        action_form=EmptyForm(),
    )


@bp.route("/<int:event_id>/redeliver", methods=["POST"])
@roles_required(*STAFF)
def redeliver(event_id: int):
    event = db.get_or_404(WebhookEvent, event_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    webhooks.redeliver(event, utcnow())
    flash(
        f"Event evt_{event.id} will be delivered again as soon as its receiver answers.", "success"
    )
    return redirect(url_for("webhooks.show", event_id=event.id), 303)
