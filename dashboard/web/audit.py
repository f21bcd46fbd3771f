"""The audit trail: browse and filter it, check its chain, export it (admin and compliance)."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, request, stream_with_context

from dashboard.csv_stream import csv_chunks
from dashboard.models import Role
from dashboard.models.types import utcnow
from dashboard.services import audit
from dashboard.web.access import roles_required
from dashboard.web.forms import AuditFilterForm, EmptyForm, choices
from dashboard.web.params import page_arg

bp = Blueprint("audit", __name__, url_prefix="/audit")
REVIEWERS = (Role.ADMIN, Role.COMPLIANCE)
PAGE_SIZE = 50
CHUNK_ROWS = 500


def _filter_form(formdata) -> tuple[AuditFilterForm, audit.AuditFilter | None]:
    form = AuditFilterForm(formdata=formdata)
    actions, targets = audit.choices()
    form.action.choices = choices(
        [("", "any action")] + [(a, a.replace("_", " ")) for a in actions]
    )
    form.target_type.choices = choices(
        [("", "anything")] + [(t, t.replace("_", " ")) for t in targets]
    )
    if formdata and not form.validate():
        return form, None
    return form, audit.AuditFilter(
        action=form.action.data or "",
        actor=(form.actor.data or "").strip(),
        target_type=form.target_type.data or "",
        since=form.since.data,
        until=form.until.data,
    )


@bp.route("/")
@roles_required(*REVIEWERS)
def index():
    form, flt = _filter_form(request.args or None)
    page = page_arg()
    entries, finished, has_next = audit.entries(flt, page, PAGE_SIZE) if flt else ([], {}, False)
    return render_template(
        "audit/index.html",
        form=form,
        entries=entries,
        finished=finished,
        page=page,
        has_next=has_next,
        filters=flt.as_dict() if flt else {},
        export_form=EmptyForm(),
        report=audit.verify_chain(),
    ), 200 if flt else 400


@bp.route("/export.csv", methods=["POST"])
@roles_required(*REVIEWERS)
def export():
    """The filtered trail as CSV, oldest first, with the hash columns; the export is audited too.
    A POST: a link on another site must not write audit rows in a reviewer's name."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    _form, flt = _filter_form(request.form)
    if flt is None:
        abort(400, description="the filter is not valid")
    now = utcnow()
    start = audit.export_started("audit_export", fmt="csv", filters=flt.as_dict(), now=now)
    chunks = csv_chunks(
        audit.EXPORT_COLUMNS,
        audit.export_rows(flt),
        CHUNK_ROWS,
        lambda count: audit.export_finished(start.id, count),
    )
    return Response(
        stream_with_context(chunks),
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="audit-{now:%Y%m%dT%H%M%SZ}.csv"'},
    )
