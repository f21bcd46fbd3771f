"""Carrier binds. Admins add, change and delete them; ops read their live state (docs/roles.md)."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for

from dashboard.models import Bind, Role
from dashboard.models.types import utcnow
from dashboard.services import binds as bind_service
from dashboard.services import traffic
from dashboard.services.traffic import Scope
from dashboard.web.access import STAFF, roles_required
from dashboard.web.charts import panel_context
from dashboard.web.forms import BindForm, EmptyForm
from dashboard.web.responses import go_to

bp = Blueprint("binds", __name__, url_prefix="/binds")

FIELDS = bind_service.EDITABLE


def _bind_or_404(bind_id: int) -> Bind:
    bind = bind_service.live_bind(bind_id)
    if bind is None:
        abort(404)
    return bind


@bp.route("/")
@roles_required(*STAFF)
def index():
    return render_template("binds/index.html", binds=bind_service.list_binds())


@bp.route("/states")
@roles_required(*STAFF)
def states():
    return render_template("binds/_table.html", binds=bind_service.list_binds())


@bp.route("/new", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def new():
    form = BindForm()
    if form.validate_on_submit():
        if not form.password.data:
            form.password.errors.append("A password is required for a new bind.")
        else:
            try:
                bind = bind_service.create_bind(
                    password=form.password.data, **{f: getattr(form, f).data for f in FIELDS}
                )
            except bind_service.BindError as exc:
                flash(str(exc), "error")
            else:
                flash(
                    f"Bind “{bind.name}” created; the sender connects it within seconds.", "success"
                )
                return redirect(url_for("binds.show", bind_id=bind.id))
    return render_template("binds/form.html", form=form, bind=None), 400 if form.errors else 200


@bp.route("/<int:bind_id>")
@roles_required(*STAFF)
def show(bind_id: int):
    bind = _bind_or_404(bind_id)
    late = timedelta(minutes=current_app.config["RECEIPT_MISSING_MINUTES"])
    return render_template(
        "binds/show.html",
        bind=bind,
        in_flight=bind_service.in_flight_count(bind),
        action_form=EmptyForm(),
        health=traffic.bind_health(bind.id, utcnow(), late),
        **panel_context(Scope("bind", bind.id), bind, None),
    )


@bp.route("/<int:bind_id>/state")
@roles_required(*STAFF)
def state(bind_id: int):
    return render_template("binds/_state.html", bind=_bind_or_404(bind_id))


@bp.route("/<int:bind_id>/edit", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def edit(bind_id: int):
    bind = _bind_or_404(bind_id)
    form = BindForm(obj=bind)
    form.password.data = None  # never rendered back
    if form.validate_on_submit():
        try:
            bind_service.update_bind(
                bind,
                password=BindForm().password.data or None,
                **{f: getattr(form, f).data for f in FIELDS},
            )
        except bind_service.BindError as exc:
            flash(str(exc), "error")
        else:
            flash(
                f"Bind “{bind.name}” saved; the sender reconnects with the new settings.", "success"
            )
            return redirect(url_for("binds.show", bind_id=bind.id))
    return render_template("binds/form.html", form=form, bind=bind), 400 if form.errors else 200


@bp.route("/<int:bind_id>/delete", methods=["POST"])
@roles_required(Role.ADMIN)
def delete(bind_id: int):
    bind = _bind_or_404(bind_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    name = bind.name
    try:
        bind_service.delete_bind(bind, utcnow())
    except bind_service.BindError as exc:
        flash(str(exc), "error")
        return go_to(url_for("binds.show", bind_id=bind.id))
    flash(f"Bind “{name}” deleted; the messages it carried keep its name.", "success")
    return go_to(url_for("binds.index"))
