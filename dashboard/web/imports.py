"""Contact CSV imports: upload, preview with column mapping, live progress, bad-rows report.

The web request only saves the file and the mapping; the worker imports the rows
(services.imports.process_pending_imports).
"""
from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, stream_with_context, url_for
from flask_login import current_user

from dashboard.extensions import db
from dashboard.models import ContactImport, ContactList
from dashboard.models.types import utcnow
from dashboard.services import imports as import_service
from dashboard.sms.contact_csv import HeaderError, Mapping, field_columns
from dashboard.web.access import STAFF, roles_required
from dashboard.web.forms import EmptyForm, ImportMappingForm, ImportUploadForm, choices

bp = Blueprint("imports", __name__)
NO_COLUMN = -1


@bp.route("/lists/<int:list_id>/import", methods=["GET", "POST"])
@roles_required(*STAFF)
def upload(list_id: int):
    contact_list = db.get_or_404(ContactList, list_id)
    form = ImportUploadForm()
    if form.validate_on_submit():
        upload_file = form.file.data
        try:
            imp = import_service.save_upload(upload_file.stream, upload_file.filename, contact_list, current_user,
                                             source=form.source.data, evidence=form.evidence.data, now=utcnow())
        except import_service.ImportRefused as exc:
            form.file.errors.append(str(exc))
        else:
            return redirect(url_for("imports.show", import_id=imp.id))
    return render_template("imports/upload.html", contact_list=contact_list, form=form), 400 if form.errors else 200


@bp.route("/imports/<int:import_id>", methods=["GET", "POST"])
@roles_required(*STAFF)
def show(import_id: int):
    imp = db.get_or_404(ContactImport, import_id)
    if imp.status != "preview":
        return render_template("imports/show.html", imp=imp, issues=import_service.issues(imp),
                               percent=import_service.progress_percent(imp))
    form = _mapping_form(imp)
    if form.validate_on_submit():
        try:
            import_service.confirm(imp, _mapping(imp, form), form.has_header.data)
        except import_service.ImportRefused as exc:
            flash(str(exc), "error")
        else:
            return redirect(url_for("imports.show", import_id=imp.id))
    return render_template("imports/preview.html", imp=imp, form=form, rows=import_service.preview(imp),
                           earlier=import_service.earlier_import_of_same_file(imp)), 400 if form.errors else 200


def _mapping_form(imp: ContactImport) -> ImportMappingForm:
    guess = import_service.mapping_of(imp)
    form = ImportMappingForm(data=None if request.method == "POST" else {
        "phone_column": guess.phone if guess else 0,
        "name_column": guess.name if guess and guess.name is not None else NO_COLUMN,
        "has_header": imp.has_header, "extra_fields": True})
    columns = [(i, f"{i + 1}: {name}" if imp.has_header else f"column {i + 1}") for i, name in enumerate(imp.header)]
    form.phone_column.choices = choices(columns)
    form.name_column.choices = choices([(NO_COLUMN, "none")] + columns)
    return form


def _mapping(imp: ContactImport, form: ImportMappingForm) -> Mapping:
    """Raises ImportRefused when two kept columns would be one custom field."""
    phone, name = form.phone_column.data, form.name_column.data
    name = None if name == NO_COLUMN else name
    fields = {}
    if form.extra_fields.data:
        try:
            fields = field_columns(imp.header, (phone, name), form.has_header.data)
        except HeaderError as exc:
            raise import_service.ImportRefused(str(exc)) from None
    return Mapping(phone=phone, name=name, fields=fields)


@bp.route("/imports/<int:import_id>/progress")
@roles_required(*STAFF)
def progress(import_id: int):
    imp = db.get_or_404(ContactImport, import_id)
    return render_template("imports/_progress.html", imp=imp, percent=import_service.progress_percent(imp))


@bp.route("/imports/<int:import_id>/issues.csv", methods=["POST"])
@roles_required(*STAFF)
def issues_csv(import_id: int):
    """The refused rows (numbers and names): an audited export, and a POST."""
    imp = db.get_or_404(ContactImport, import_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    return Response(stream_with_context(import_service.issues_csv(imp)), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="import-{imp.id}-bad-rows.csv"'})
