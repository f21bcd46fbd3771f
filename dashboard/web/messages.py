from __future__ import annotations

from flask import Blueprint, render_template, request
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import Message
from dashboard.sms.lifecycle import MESSAGE_STATES
from dashboard.web.access import STAFF, roles_required
from dashboard.web.params import int_arg, page_arg

bp = Blueprint("messages", __name__, url_prefix="/messages")
PAGE_SIZE = 50


@bp.route("/")
@roles_required(*STAFF)
def index():
    status = request.args.get("status") or None
    campaign_id = int_arg("campaign")
    query = select(Message).order_by(Message.id.desc())
    if status in MESSAGE_STATES:
        query = query.where(Message.status == status)
    if campaign_id:
        query = query.where(Message.campaign_id == campaign_id)
    page = page_arg()
    messages = db.session.scalars(query.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)).all()
    return render_template("messages/index.html", messages=messages[:PAGE_SIZE], has_next=len(messages) > PAGE_SIZE,
                           page=page, status=status, campaign_id=campaign_id, states=MESSAGE_STATES)


@bp.route("/<int:message_id>")
@roles_required(*STAFF)
def show(message_id: int):
    return render_template("messages/show.html", message=db.get_or_404(Message, message_id))
