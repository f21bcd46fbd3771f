from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from dashboard.extensions import db
from dashboard.models import Contact, ContactList, ListMembership, SenderId
from dashboard.models.types import utcnow
from dashboard.services import contacts as contact_service
from dashboard.services import senders as sender_service
from dashboard.services import signup as signup_service
from dashboard.web import saved_search
from dashboard.web.access import STAFF, roles_required
from dashboard.web.forms import (ContactForm, ContactListForm, ContactSearchForm, EmptyForm,
                                 OptOutForm, RegistrationForm, SenderBrandForm, SenderIdForm,
                                 SignupSettingsForm, choices)
from dashboard.web.responses import go_to

bp = Blueprint("contacts", __name__)


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
    search_form = ContactSearchForm(formdata=None)
    token = request.args.get("search")
    query = None
    if token:
        saved = saved_search.recall("contacts", token)
        if saved is None or saved.get("list") != list_id:
            flash("That search has expired: search again.", "error")
            return redirect(url_for("contacts.show_list", list_id=list_id), 303)
        query = search_form.q.data = saved["q"]
    return _list_page(contact_list, form, search_form, query, {"search": token} if token else {},
                      400 if form.errors else 200)


def _list_page(contact_list: ContactList, form: ContactForm, search_form: ContactSearchForm,
               query: str | None, pager_args: dict, status: int):
    page = contact_service.list_members(contact_list.id, query, _region(), before=_cursor("before"),
                                        after=_cursor("after"))
    total = db.session.scalar(select(func.count()).select_from(ListMembership)
                              .where(ListMembership.list_id == contact_list.id))
    subscribed = contact_service.list_sizes().get(contact_list.id, 0)
    return render_template("contacts/list.html", contact_list=contact_list, page=page, form=form,
                           search_form=search_form, query=query, pager_args=pager_args, total=total,
                           subscribed=subscribed, signup_form=_signup_form(contact_list),
                           opt_out_form=OptOutForm(formdata=None), action_form=EmptyForm()), status


def _cursor(name: str) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() and len(value) < 12 else None


@bp.route("/lists/<int:list_id>/search", methods=["POST"])
@roles_required(*STAFF)
def search_list(list_id: int):
    """A number or a name is posted, kept in the session, and the list shown under its id."""
    contact_list = db.get_or_404(ContactList, list_id)
    search_form = ContactSearchForm()
    if not search_form.validate():
        return _list_page(contact_list, ContactForm(formdata=None), search_form, None, {}, 400)
    text = (search_form.q.data or "").strip()
    if not text:
        return redirect(url_for("contacts.show_list", list_id=list_id), 303)
    token = saved_search.remember("contacts", {"list": list_id, "q": text})
    return redirect(url_for("contacts.show_list", list_id=list_id, search=token), 303)


def _member_or_404(list_id: int, contact_id: int) -> tuple[ContactList, Contact]:
    contact_list = db.get_or_404(ContactList, list_id)
    contact = db.get_or_404(Contact, contact_id)
    member = select(ListMembership.id).where(ListMembership.list_id == list_id,
                                             ListMembership.contact_id == contact_id)
    if db.session.scalar(member) is None:
        abort(404)
    return contact_list, contact


@bp.route("/lists/<int:list_id>/contacts/<int:contact_id>/opt-out", methods=["POST"])
@roles_required(*STAFF)
def opt_out(list_id: int, contact_id: int):
    contact_list, contact = _member_or_404(list_id, contact_id)
    form = OptOutForm()
    if not form.validate_on_submit():
        problems = "; ".join(e for errors in form.errors.values() for e in errors)
        flash(f"Could not record the opt-out: {problems}", "error")
    else:
        everything = form.scope.data == "global"
        contact_service.opt_out(contact_list, contact, everything=everything,
                                actor=current_user.email, note=form.note.data or "", now=utcnow())
        scope = "everything we send" if everything else contact_list.name
        flash(f"{contact.phone} opted out of {scope}; "
              "recorded in the consent ledger with your name.", "success")
    return go_to(_back_to(list_id))


@bp.route("/lists/<int:list_id>/contacts/<int:contact_id>/remove", methods=["POST"])
@roles_required(*STAFF)
def remove(list_id: int, contact_id: int):
    contact_list, contact = _member_or_404(list_id, contact_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    contact_service.remove_from_list(contact_list, contact, actor=current_user.email, now=utcnow())
    flash(f"{contact.phone} removed from {contact_list.name}; "
          "the consent ledger records who removed it.", "success")
    return go_to(_back_to(list_id))


def _back_to(list_id: int) -> str:
    """Back where the action was pressed: the same search and page."""
    args = {k: v for k, v in request.args.items() if k in ("search", "before", "after")}
    return url_for("contacts.show_list", list_id=list_id, **args)


def _signup_form(contact_list: ContactList) -> SignupSettingsForm:
    form = SignupSettingsForm(enabled=contact_list.signup_enabled, sender_id=contact_list.signup_sender_id)
    form.sender_id.choices = choices([(0, "—")] + [(s.id, s.value) for s in sender_service.approved_senders()])
    return form


@bp.route("/lists/<int:list_id>/signup", methods=["POST"])
@roles_required(*STAFF)
def signup_settings(list_id: int):
    """Turn the list's public double opt-in page on or off, and choose who texts the confirmation."""
    contact_list = db.get_or_404(ContactList, list_id)
    form = _signup_form(contact_list)
    if form.validate_on_submit():
        try:
            signup_service.configure(contact_list, enabled=form.enabled.data, sender_id=form.sender_id.data or None)
        except signup_service.SignupError as exc:
            flash(str(exc), "error")
        else:
            flash("Sign-up page " + ("enabled." if contact_list.signup_enabled else "disabled."), "success")
    else:
        flash("Could not save the sign-up settings.", "error")
    return redirect(url_for("contacts.show_list", list_id=list_id))


@bp.route("/senders/", methods=["GET", "POST"])
@roles_required(*STAFF)
def senders():
    form = SenderIdForm()
    if form.validate_on_submit():
        try:
            sender = contact_service.create_sender_id(form.value.data, form.kind.data, _region(),
                                                      brand=form.brand.data or "")
        except contact_service.ContactError as exc:
            form.value.errors.append(str(exc))
        else:
            flash(f"Sender ID {sender.value} added.", "success")
            return redirect(url_for("contacts.senders"))
    rows = db.session.scalars(select(SenderId).order_by(SenderId.value)).all()
    return render_template("contacts/senders.html", senders=rows, form=form), 400 if form.errors else 200


@bp.route("/senders/<int:sender_id>")
@roles_required(*STAFF)
def sender(sender_id: int):
    """One sender ID: its brand and its registration in each country."""
    sender = db.get_or_404(SenderId, sender_id)
    return _sender_page(sender, RegistrationForm(formdata=None), SenderBrandForm(formdata=None, brand=sender.brand))


def _sender_page(sender: SenderId, registration_form: RegistrationForm, brand_form: SenderBrandForm, status=200):
    return render_template("contacts/sender.html", sender=sender, registration_form=registration_form,
                           brand_form=brand_form), status


@bp.route("/senders/<int:sender_id>/registrations", methods=["POST"])
@roles_required(*STAFF)
def save_registration(sender_id: int):
    """Add a country's registration, or change it (the country is the key)."""
    sender = db.get_or_404(SenderId, sender_id)
    form = RegistrationForm()
    if form.validate_on_submit():
        references = {name: getattr(form, name).data or "" for name in sender_service.REFERENCE_FIELDS}
        try:
            registration = sender_service.save_registration(sender, form.country.data, form.status.data,
                                                            now=utcnow(), notes=form.notes.data or "", **references)
        except sender_service.SenderError as exc:
            form.country.errors.append(str(exc))
        else:
            flash(f"{sender.value} in {registration.country}: {registration.status}.", "success")
            return redirect(url_for("contacts.sender", sender_id=sender.id))
    return _sender_page(sender, form, SenderBrandForm(formdata=None, brand=sender.brand), 400)


@bp.route("/senders/<int:sender_id>/brand", methods=["POST"])
@roles_required(*STAFF)
def sender_brand(sender_id: int):
    sender = db.get_or_404(SenderId, sender_id)
    form = SenderBrandForm()
    if not form.validate_on_submit():
        return _sender_page(sender, RegistrationForm(formdata=None), form, 400)
    sender_service.set_brand(sender, form.brand.data)
    flash(f"Brand of {sender.value}: {sender.brand or 'none'}.", "success")
    return redirect(url_for("contacts.sender", sender_id=sender.id))


def _region() -> str:
    from flask import current_app
    return current_app.config["DEFAULT_REGION"]
