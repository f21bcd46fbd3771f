"""The public double opt-in page of a list: /join/<token>. No login; CSRF on; rate-limited in
services/signup.py; the same answer whether or not the number is subscribed already."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request

from dashboard.models.types import utcnow
from dashboard.services import signup as signup_service
from dashboard.web.access import public
from dashboard.web.forms import SignupForm

bp = Blueprint("signup", __name__)


@bp.route("/join/<token>", methods=["GET", "POST"])
@public
def join(token: str):
    contact_list = signup_service.list_for_token(token)
    if contact_list is None:
        abort(404)  # unknown, or the page is switched off: nothing tells which
    settings = signup_service.SignupSettings.from_config(current_app.config)
    form = SignupForm()
    if form.validate_on_submit():
        try:
            signup_service.request_signup(contact_list, form.phone.data, ip=request.remote_addr or "",
                                          user_agent=request.headers.get("User-Agent", ""), now=utcnow(),
                                          settings=settings)
        except signup_service.SignupError as exc:
            form.phone.errors.append(str(exc))
        except signup_service.RateLimited:
            return render_template("signup/join.html", contact_list=contact_list, form=form,
                                   limited=True), 429, {"Retry-After": "3600"}
        else:
            return render_template("signup/join.html", contact_list=contact_list, form=form, sent=True,
                                   minutes=settings.confirmation_minutes)
    return render_template("signup/join.html", contact_list=contact_list, form=form), 400 if form.errors else 200
