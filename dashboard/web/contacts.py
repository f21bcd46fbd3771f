from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from dashboard.extensions import db
from dashboard.models import Contact, ContactList, ListMembership, SenderId
from dashboard.models.types import utcnow
from dashboard.services import contacts as contact_service
from dashboard.web.access import STAFF, roles_required
from dashboard.web.forms import ContactForm, ContactListForm, SenderIdForm

bp = Blueprint("contacts", __name__)
PAGE_SIZE = 50


@bp.route("/lists/", methods=["GET", "POST"])
@roles_required(*STAFF)
def lists():
    form = ContactListForm()
    if form.validate_on_submit():
        try:
            created = contact_service.create_list(form.name.data, form.description.data or "")
        except contact_service.ContactError as exc:
            flash(str(exc), "error")
        else:
            return redirect(url_for("contacts.show_list", list_id=created.id))
    all_lists = db.session.scalars(select(ContactList).order_by(ContactList.name)).all()
    return render_template("contacts/lists.html", lists=all_lists, sizes=contact_service.list_sizes(),
                           form=form), 400 if form.errors else 200


@bp.route("/lists/<int:list_id>", methods=["GET", "POST"])
@roles_required(*STAFF)
def show_list(list_id: int):
    contact_list = db.get_or_404(ContactList, list_id)
    form = ContactForm()
    if form.validate_on_submit():
        try:
            contact = contact_service.add_contact(
                contact_list, form.phone.data, name=form.name.data or "", evidence=form.evidence.data,
                actor=current_user.email, now=utcnow(), default_region=_region(), source="admin")
        except contact_service.ContactError as exc:
            form.phone.errors.append(str(exc))
        else:
            flash(f"Added {contact.phone}.", "success")
            return redirect(url_for("contacts.show_list", list_id=list_id))
    page = max(request.args.get("page", 1, type=int), 1)
    query = (select(Contact, ListMembership.subscribed).join(ListMembership)
             .where(ListMembership.list_id == list_id).order_by(Contact.id))
    rows = db.session.execute(query.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    total = db.session.scalar(select(func.count()).select_from(ListMembership)
                              .where(ListMembership.list_id == list_id))
    return render_template("contacts/list.html", contact_list=contact_list, rows=rows, form=form, page=page,
                           pages=max(1, -(-total // PAGE_SIZE)), total=total), 400 if form.errors else 200


@bp.route("/senders/", methods=["GET", "POST"])
@roles_required(*STAFF)
def senders():
    form = SenderIdForm()
    if form.validate_on_submit():
        try:
            sender = contact_service.create_sender_id(form.value.data, form.kind.data, _region())
        except contact_service.ContactError as exc:
            form.value.errors.append(str(exc))
        else:
            flash(f"Sender ID {sender.value} added.", "success")
            return redirect(url_for("contacts.senders"))
    rows = db.session.scalars(select(SenderId).order_by(SenderId.value)).all()
    return render_template("contacts/senders.html", senders=rows, form=form), 400 if form.errors else 200


def _region() -> str:
    from flask import current_app
    return current_app.config["DEFAULT_REGION"]
