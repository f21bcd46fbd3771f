"""Routes and prices: admins keep them; ops read them and ask which route a number would get.

A price change applies from now on: queued and sent messages keep what they were given
(docs/architecture.md #10, dashboard/services/routing.py).
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, render_template, url_for
from flask_login import current_user

from dashboard.extensions import db
from dashboard.models import Role, Route
from dashboard.models.types import utcnow
from dashboard.services import binds as bind_service
from dashboard.services import routing
from dashboard.sms.money import format_money
from dashboard.sms.routing import describe_prefix
from dashboard.web.access import STAFF, roles_required
from dashboard.web.forms import EmptyForm, RouteChangeForm, RouteForm, RouteTestForm, choices
from dashboard.web.responses import go_to

bp = Blueprint("routes", __name__, url_prefix="/routes")


def _described(route: Route) -> str:
    return (f"{describe_prefix(route.prefix)} through {route.bind.name} at "
            f"{format_money(route.price_per_segment, route.currency)} per part")


def _route_or_404(route_id: int) -> Route:
    route = db.session.get(Route, route_id)
    if route is None or route.deleted_at is not None:
        abort(404)
    return route


def _route_form() -> RouteForm:
    form = RouteForm()
    form.bind_id.choices = choices((b.id, b.name) for b in bind_service.list_binds())
    if not form.is_submitted():
        form.currency.data = current_app.config["DEFAULT_CURRENCY"]
    return form


def _page(
    form: RouteForm | None = None,
    test_form: RouteTestForm | None = None,
    answer=None,
    status: int = 200,
):
    can_edit = current_user.has_role(Role.ADMIN)
    return render_template(
        "routes/index.html",
        table=routing.route_table(),
        can_edit=can_edit,
        form=(form or _route_form()) if can_edit else None,
        test_form=test_form or RouteTestForm(),
        answer=answer,
        action_form=EmptyForm(),
    ), status


@bp.route("/")
@roles_required(*STAFF)
def index():
    return _page()


@bp.route("/", methods=["POST"])
@roles_required(Role.ADMIN)
def create():
    form = _route_form()
    if form.validate_on_submit():
        try:
            route = routing.create_route(
                destination=form.destination.data,
                bind_id=form.bind_id.data,
                price=form.price.data,
                currency=form.currency.data,
                priority=form.priority.data,
            )
        except routing.RouteError as exc:
            form.destination.errors.append(str(exc))
        else:
            flash(f"Route for {_described(route)} added.", "success")
            return go_to(url_for("routes.index"))
    return _page(form=form, status=400)


@bp.route("/test", methods=["POST"])
@roles_required(*STAFF)
def test():
    """Which route, bind and price a number gets now; the number comes in the body, not the URL."""
    test_form = RouteTestForm()
    answer = None
    if test_form.validate_on_submit():
        try:
            answer = routing.route_for_number(
                test_form.number.data, current_app.config["DEFAULT_REGION"]
            )
        except routing.RouteError as exc:
            test_form.number.errors.append(str(exc))
    return _page(test_form=test_form, answer=answer, status=200 if answer else 400)


@bp.route("/<int:route_id>/edit", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def edit(route_id: int):
    route = _route_or_404(route_id)
    form = RouteChangeForm(obj=route, price=f"{route.price_per_segment.normalize():f}")
    if form.validate_on_submit():
        try:
            routing.update_route(
                route,
                price=form.price.data,
                currency=form.currency.data,
                priority=form.priority.data,
                enabled=form.enabled.data,
            )
        except routing.RouteError as exc:
            db.session.rollback()
            form.price.errors.append(str(exc))
        else:
            flash(f"Route for {_described(route)} from now on.", "success")
            return go_to(url_for("routes.index"))
    return render_template(
        "routes/edit.html", route=route, form=form, label=describe_prefix(route.prefix)
    ), 400 if form.errors else 200


@bp.route("/<int:route_id>/delete", methods=["POST"])
@roles_required(Role.ADMIN)
def delete(route_id: int):
    route = _route_or_404(route_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    label, bind_name = describe_prefix(route.prefix), route.bind.name
    routing.delete_route(route, utcnow())
    flash(f"Route for {label} through {bind_name} removed.", "success")
    return go_to(url_for("routes.index"))
