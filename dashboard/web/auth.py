from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from dashboard.extensions import limiter
from dashboard.services import users as user_service
from dashboard.web.access import ALL_ROLES, public, roles_required
from dashboard.web.forms import EmptyForm, LoginForm

bp = Blueprint("auth", __name__)
# One message for every refusal: which part was wrong, or that the account is locked, would tell
# an attacker which addresses have accounts.
REFUSED = "Wrong email or password, or too many failed attempts: wait a few minutes and try again."


def _safe_next(target: str | None) -> str:
    # Only local paths: an open redirect after login is a phishing gift.
    if target and urlsplit(target).netloc == "" and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("home.index")


def _account_key() -> str:
    return "login:" + request.form.get("email", "").strip().lower()[:254]


@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_ADDRESS"], methods=["POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"], key_func=_account_key, methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = user_service.authenticate(form.email.data, form.password.data,
                                         policy=user_service.LockoutPolicy.from_config(current_app.config))
        if user is None:
            flash(REFUSED, "error")
            return render_template("auth/login.html", form=form), 401
        session.clear()  # no state from before the login survives into the signed-in session
        login_user(user)
        return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form), (400 if request.method == "POST" else 200)


@bp.app_errorhandler(429)
def too_many_requests(error):
    form = LoginForm(formdata=None)
    flash("Too many attempts from here: wait a minute and try again.", "error")
    return render_template("auth/login.html", form=form), 429, {"Retry-After": "60"}


@bp.route("/logout", methods=["POST"])
@roles_required(*ALL_ROLES)
def logout():
    if EmptyForm().validate_on_submit():
        user_service.log_out(current_user)
        logout_user()
        session.clear()
    return redirect(url_for("auth.login"))
