"""Who may see what. Every view declares its roles with @roles_required (or @public); a test
walks the URL map and fails on any view that declares neither."""
from __future__ import annotations

import hmac
import time
from functools import wraps
from typing import Callable

from flask import Flask, abort, redirect, render_template, request, session, url_for
from flask_login import current_user, logout_user
from flask_wtf.csrf import CSRFError

from dashboard.extensions import db, htmx, login_manager
from dashboard.models import Role, User
from dashboard.services import audit
from dashboard.web.params import MAX_ID

ALL_ROLES = (Role.ADMIN, Role.OPS, Role.COMPLIANCE)
STAFF = (Role.ADMIN, Role.OPS)


def roles_required(*roles: Role) -> Callable:
    allowed = frozenset(r.value for r in roles)

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role not in allowed:
                abort(403)
            return view(*args, **kwargs)

        wrapper.allowed_roles = allowed  # read by the route audit test
        return wrapper

    return decorator


def public(view: Callable) -> Callable:
    view.allowed_roles = "public"
    return view


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """The session carries "id:token" (User.get_id); a token that changed since the session
    began (logout, deactivation, password reset, role change) ends the session here."""
    user_id, _, token = session_id.partition(":")
    if not user_id.isdigit() or not token or int(user_id) > MAX_ID:
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not hmac.compare_digest(user.session_token.encode(), token.encode()):
        return None
    return user


@login_manager.unauthorized_handler
def unauthorized():
    target = url_for("auth.login", next=request.full_path if request.method == "GET" else None)
    if htmx:
        # A fragment request must not get the login page swapped into it (docs/architecture.md, "Conventions").
        return "", 401, {"HX-Redirect": target}
    return redirect(target)


def install_access_handlers(app: Flask) -> None:
    @app.before_request
    def _idle_sessions_expire():
        # Idle expiry on the server: a session unused for SESSION_IDLE_MINUTES ends, whatever the
        # cookie says. The time of the last request rides in the signed session.
        now = time.time()
        seen = session.get("seen")
        if current_user.is_authenticated and seen is not None \
                and now - seen > app.config["SESSION_IDLE_MINUTES"] * 60:
            logout_user()
            session.clear()
        if current_user.is_authenticated:
            session["seen"] = now
            session.permanent = True

    @app.before_request
    def _audit_actor():
        user = current_user if current_user.is_authenticated else None
        audit.act_as(audit.Actor(user.id if user else None, user.email if user else "anonymous",
                                 request.remote_addr or ""))

    @app.errorhandler(403)
    def _forbidden(_error):
        return render_template("errors/403.html"), 403

    @app.errorhandler(400)
    def _bad_request(error):
        return render_template("errors/400.html", reason=error.description), 400

    @app.errorhandler(413)
    def _too_large(_error):
        limit = app.config["IMPORT_MAX_MB"]
        return render_template("errors/400.html", reason=f"The upload is larger than {limit} MB, the most "
                                                         "this console accepts (IMPORT_MAX_MB)."), 413

    @app.errorhandler(CSRFError)
    def _csrf_failed(error):
        # A stale or missing token: refuse, and say so plainly.
        return render_template("errors/400.html", reason=error.description), 400

    @app.after_request
    def _vary_on_htmx(response):
        # Some URLs answer with a page or a fragment depending on HX-Request.
        response.vary.add("HX-Request")
        return response
