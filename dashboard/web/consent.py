"""Compliance review of the consent ledger: search, proof per number, exports, chain check.

Who may do what (docs/roles.md): admin and compliance search, export and verify; ops may open
one number's history (from the contact lists) but not search across numbers or export.
"""
from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, render_template, request, stream_with_context
from flask_login import current_user

from dashboard.models import Role
from dashboard.models.types import utcnow
from dashboard.services import compliance, consent
from dashboard.sms.numbers import InvalidNumber, normalise
from dashboard.web.access import ALL_ROLES, roles_required
from dashboard.web.forms import ConsentSearchForm, EmptyForm, choices

bp = Blueprint("consent", __name__, url_prefix="/consent")
PAGE_SIZE = 50
REVIEWERS = (Role.ADMIN, Role.COMPLIANCE)
EXPORT_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


def _search_form() -> tuple[ConsentSearchForm, compliance.ConsentFilter | None]:
    """The form bound to the query string, and the filter it describes (None when invalid)."""
    form = ConsentSearchForm(formdata=request.args)
    form.scope.choices = choices(compliance.list_choices())
    if request.args and not form.validate():
        return form, None
    phone = ""
    if form.phone.data and form.phone.data.strip():
        try:
            phone = normalise(form.phone.data, current_app.config["DEFAULT_REGION"])
        except InvalidNumber as exc:
            form.phone.errors = [str(exc)]
            return form, None
    if form.since.data and form.until.data and form.since.data > form.until.data:
        form.until.errors = ["The end date is before the start date."]
        return form, None
    return form, compliance.ConsentFilter(phone=phone, scope=form.scope.data or "", since=form.since.data,
                                          until=form.until.data)


@bp.route("/")
@roles_required(*REVIEWERS)
def index():
    form, flt = _search_form()
    page = max(request.args.get("page", 1, type=int), 1)
    rows, has_next = compliance.search(flt, page, PAGE_SIZE) if flt else ([], False)
    return render_template("consent/index.html", form=form, rows=rows, has_next=has_next, page=page,
                           filters=flt.as_dict() if flt else {}, verify_form=EmptyForm(),
                           total=compliance.event_count()), 200 if flt else 400


@bp.route("/numbers/<phone>")
@roles_required(*ALL_ROLES)
def number(phone: str):
    try:
        phone = normalise(phone, current_app.config["DEFAULT_REGION"])
    except InvalidNumber:
        abort(404)
    rows = compliance.history(phone)
    if not rows:
        abort(404)
    return render_template("consent/number.html", phone=phone, rows=rows, head=consent.chain_head(),
                           reviewer=current_user.has_role(*REVIEWERS), verify_form=EmptyForm())


@bp.route("/export.<fmt>")
@roles_required(*REVIEWERS)
def export(fmt: str):
    if fmt not in EXPORT_TYPES:
        abort(404)
    _form, flt = _search_form()
    if flt is None:
        abort(400)
    now = utcnow()
    audit = compliance.start_export(current_user, flt, fmt, now)
    chunks = (compliance.csv_chunks(flt, audit.id) if fmt == "csv"
              else compliance.json_chunks(flt, audit.id, now))
    filename = f"consent-events-{now:%Y%m%dT%H%M%SZ}.{fmt}"
    return Response(stream_with_context(chunks), mimetype=EXPORT_TYPES[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store"})


@bp.route("/verify", methods=["POST"])
@roles_required(*REVIEWERS)
def verify():
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    report = compliance.verify_and_log(current_user, utcnow())
    if request.headers.get("HX-Request"):
        return render_template("consent/_chain_status.html", report=report)
    return render_template("consent/verified.html", report=report)


@bp.route("/audit")
@roles_required(*REVIEWERS)
def audit():
    page = max(request.args.get("page", 1, type=int), 1)
    entries, has_next = compliance.audit_entries(page, PAGE_SIZE)
    return render_template("consent/audit.html", entries=entries, page=page, has_next=has_next)
