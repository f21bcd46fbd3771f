from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import Role, User
from dashboard.models.types import utcnow
from dashboard.services import users as user_service
from dashboard.web.access import roles_required
from dashboard.web.forms import EmptyForm, UserForm

bp = Blueprint("users", __name__, url_prefix="/users")


@bp.route("/", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def index():
    form = UserForm()
    if form.validate_on_submit():
        try:
            user = user_service.create_user(form.email.data, form.role.data, form.password.data)
        except user_service.UserError as exc:
            flash(str(exc), "error")
        else:
            flash(f"Created {user.role} {user.email}.", "success")
            return redirect(url_for("users.index"))
    users = db.session.scalars(select(User).order_by(User.email)).all()
    return render_template("users/index.html", users=users, form=form, action_form=EmptyForm(), now=utcnow(),
                           roles=[r.value for r in reversed(Role)]), 400 if form.errors else 200  # least first


@bp.route("/<int:user_id>", methods=["POST"])
@roles_required(Role.ADMIN)
def change(user_id: int):
    """Deactivate, reactivate, change the role or reset the password of one user."""
    user = db.get_or_404(User, user_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    action = request.form.get("action", "")
    try:
        if action in ("deactivate", "reactivate"):
            user_service.set_active(user, action == "reactivate", by=current_user)
        elif action == "role":
            user_service.set_role(user, request.form.get("role", ""), by=current_user)
        elif action == "password":
            user_service.reset_password(user, request.form.get("password", ""))
        else:
            abort(400, description="unknown action")
    except user_service.UserError as exc:
        flash(f"{user.email}: {exc}", "error")
    else:
        flash(f"{user.email}: {action} done; their sessions have ended.", "success")
    return redirect(url_for("users.index")), 303
