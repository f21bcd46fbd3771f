"""Message templates: list, live editor (encoding, parts, preview for a sample contact), archive, delete.

Admin and ops write templates; compliance has no use for them (docs/roles.md).
"""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import ContactList, MessageTemplate
from dashboard.models.types import utcnow
from dashboard.services import message_templates as service
from dashboard.sms.encoding import lookalike_advice
from dashboard.web.access import STAFF, roles_required
from dashboard.web.forms import EmptyForm, MessageTemplateForm, TemplatePreviewForm, choices

bp = Blueprint("message_templates", __name__, url_prefix="/templates")


@bp.route("/")
@roles_required(*STAFF)
def index():
    show_archived = request.args.get("archived") == "1"
    return render_template("message_templates/index.html", templates=service.templates(show_archived),
                           show_archived=show_archived, action_form=EmptyForm())


def _preview_form() -> TemplatePreviewForm:
    form = TemplatePreviewForm(formdata=request.args if request.method == "GET" else request.form)
    lists = db.session.execute(select(ContactList.id, ContactList.name).order_by(ContactList.name)).all()
    form.sample_list.choices = choices([(0, "— none: use the typed sample —"), *lists])
    return form


def _editor(form: MessageTemplateForm, template: MessageTemplate | None):
    status = 400 if form.errors else 200
    return render_template("message_templates/form.html", form=form, template=template,
                           sample=_preview_form()), status


def _flash_warnings(check) -> None:
    for warning in check.warnings:
        flash(f"Saved with a warning: {warning}.", "error")


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*STAFF)
def new():
    form = MessageTemplateForm()
    if form.validate_on_submit():
        try:
            template, check = service.create_template(name=form.name.data, body=form.body.data, kind=form.kind.data,
                                                      created_by_id=current_user.id, now=utcnow())
        except service.TemplateRefused as exc:
            form.body.errors = [str(exc)]
        else:
            _flash_warnings(check)
            flash(f"Template “{template.name}” saved.", "success")
            return redirect(url_for("message_templates.edit", template_id=template.id))
    return _editor(form, None)


@bp.route("/<int:template_id>/edit", methods=["GET", "POST"])
@roles_required(*STAFF)
def edit(template_id: int):
    template = db.get_or_404(MessageTemplate, template_id)
    form = MessageTemplateForm(obj=template)
    if form.validate_on_submit():
        try:
            check = service.update_template(template, name=form.name.data, body=form.body.data, kind=form.kind.data,
                                            now=utcnow())
        except service.TemplateRefused as exc:
            db.session.rollback()
            form.body.errors = [str(exc)]
        else:
            _flash_warnings(check)
            flash(f"Template “{template.name}” saved.", "success")
            return redirect(url_for("message_templates.edit", template_id=template.id))
    return _editor(form, template)


@bp.route("/preview", methods=["POST"])
@roles_required(*STAFF)
def preview():
    """The editor's live panel: the template rendered for a sample contact, footer included, and
    what that text costs (encoding, parts, room left, which characters forced UCS-2). A POST: the
    sample number and the text stay out of URLs and access logs; it changes nothing."""
    body = request.form.get("body", "")
    kind = request.form.get("kind", "marketing")
    sample = _preview_form()
    valid = sample.validate()  # an unknown or out-of-range list id is ignored, not queried
    context, label = service.sample_contexts(sample.sample_list.data if valid else None,
                                             sample.sample_name.data or "" if valid else "",
                                             sample.sample_phone.data or "" if valid else "",
                                             current_app.config["DEFAULT_REGION"])
    result = service.preview(body, kind, context, label, current_app.config)
    culprits, gsm_version = lookalike_advice(result.text or "",
                                             result.rendered.non_gsm_chars if result.rendered else ())
    return render_template("message_templates/_preview.html", preview=result, culprits=culprits,
                           gsm_version=gsm_version)


@bp.route("/<int:template_id>/<any(archive, unarchive):action>", methods=["POST"])
@roles_required(*STAFF)
def archive(template_id: int, action: str):
    template = db.get_or_404(MessageTemplate, template_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    service.set_archived(template, action == "archive", utcnow())
    flash(f"Template “{template.name}” {action}d.", "success")
    return redirect(url_for("message_templates.index"))


@bp.route("/<int:template_id>/delete", methods=["POST"])
@roles_required(*STAFF)
def delete(template_id: int):
    template = db.get_or_404(MessageTemplate, template_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    name = template.name
    try:
        service.delete_template(template)
    except service.TemplateRefused as exc:
        flash(str(exc), "error")
    else:
        flash(f"Template “{name}” deleted.", "success")
    return redirect(url_for("message_templates.index"))
