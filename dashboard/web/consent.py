"""Compliance review of the consent ledger: search, proof per contact, exports, chain check.

Who may do what (docs/roles.md): admin and compliance search, export and verify; ops may open
one contact's history (from the contact lists) but not search across numbers or export.

Phone numbers stay out of URLs (they end up in access logs and browser history): a contact's
history is addressed by its id, and searches and exports are POSTs carrying the number in the body.
"""
from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, render_template, request, stream_with_context
from flask_login import current_user

from dashboard.extensions import db
from dashboard.models import Contact, Role
from dashboard.models.types import utcnow
from dashboard.services import compliance, consent
from dashboard.sms.numbers import InvalidNumber, normalise
from dashboard.web.access import ALL_ROLES, roles_required
from dashboard.web.forms import ConsentSearchForm, EmptyForm, choices
from dashboard.web.params import MAX_PAGE

bp = Blueprint("consent", __name__, url_prefix="/consent")
PAGE_SIZE = 50
REVIEWERS = (Role.ADMIN, Role.COMPLIANCE)
EXPORT_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


def _search_form() -> tuple[ConsentSearchForm, compliance.ConsentFilter | None]:
    """The form bound to the posted search, and the filter it describes (None when invalid)."""
    posted = request.method == "POST"
    form = ConsentSearchForm(formdata=request.form if posted else None)
    form.scope.choices = choices(compliance.list_choices())
    if posted and not form.validate():
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


def _page() -> int:
    raw = (request.form if request.method == "POST" else request.args).get("page", "1")
    try:
        page = int(raw)
    except ValueError:
        abort(400, description="page must be a whole number")
    if not 1 <= page <= MAX_PAGE:
        abort(400, description=f"page must be between 1 and {MAX_PAGE}")
    return page


@bp.route("/", methods=["GET", "POST"])
@roles_required(*REVIEWERS)
def index():
    """GET: the latest events; POST: a search (the number travels in the body, not the URL)."""
    form, flt = _search_form()
    page = _page()
    rows, has_next = compliance.search(flt, page, PAGE_SIZE) if flt else ([], False)
    return render_template("consent/index.html", form=form, rows=rows, has_next=has_next, page=page,
                           filters=flt.as_dict() if flt else {}, verify_form=EmptyForm(),
                           total=compliance.event_count()), 200 if flt else 400


@bp.route("/contacts/<int:contact_id>")
@roles_required(*ALL_ROLES)
def contact(contact_id: int):
    phone = db.session.scalar(db.select(Contact.phone).where(Contact.id == contact_id))
    rows = compliance.history(phone) if phone else []
    if not rows:
        abort(404)
    return render_template("consent/number.html", phone=phone, rows=rows, head=consent.chain_head(),
                           reviewer=current_user.has_role(*REVIEWERS), verify_form=EmptyForm())


@bp.route("/export.<fmt>", methods=["POST"])
@roles_required(*REVIEWERS)
def export(fmt: str):
    """A POST: a link from another site must not write an export in a reviewer's name."""
    if fmt not in EXPORT_TYPES:
        abort(404)
    _form, flt = _search_form()
    if flt is None:
        abort(400, description="the search is not valid")
    now = utcnow()
    audit = compliance.start_export(flt, fmt, now)
    chunks = (compliance.csv_chunks(flt, audit.id) if fmt == "csv"
              else compliance.json_chunks(flt, audit.id, now))
    filename = f"consent-events-{now:%Y%m%dT%H%M%SZ}.{fmt}"
    return Response(stream_with_context(chunks), mimetype=EXPORT_TYPES[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.route("/verify", methods=["POST"])
@roles_required(*REVIEWERS)
def verify():
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    report, projections = compliance.verify_and_log(utcnow())
    if request.headers.get("HX-Request"):
        return render_template("consent/_chain_status.html", report=report, projections=projections)
    return render_template("consent/verified.html", report=report, projections=projections)
