from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import Role, User
from dashboard.services import users as user_service
from dashboard.web.access import roles_required
from dashboard.web.forms import UserForm

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
    return render_template("users/index.html", users=users, form=form), 400 if form.errors else 200
