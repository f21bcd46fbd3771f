"""Who may see what. Every view declares its roles with @roles_required (or @public); a test
walks the URL map and fails on any view that declares neither."""
from __future__ import annotations

from functools import wraps
from typing import Callable

from flask import Flask, abort, redirect, request, url_for
from flask_login import current_user

from dashboard.extensions import db, htmx, login_manager
from dashboard.models import Role, User

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
def load_user(user_id: str) -> User | None:
    return db.session.get(User, int(user_id))


@login_manager.unauthorized_handler
def unauthorized():
    target = url_for("auth.login", next=request.full_path if request.method == "GET" else None)
    if htmx:
        # A fragment request must not get the login page swapped into it (STYLE #8).
        return "", 401, {"HX-Redirect": target}
    return redirect(target)


def install_access_handlers(app: Flask) -> None:
    from flask import render_template
    from flask_wtf.csrf import CSRFError

    @app.errorhandler(403)
    def _forbidden(_error):
        return render_template("errors/403.html"), 403

    @app.errorhandler(CSRFError)
    def _csrf_failed(error):
        # A stale or missing token: refuse, and say so plainly.
        return render_template("errors/400.html", reason=error.description), 400

    @app.after_request
    def _vary_on_htmx(response):
        # Some URLs answer with a page or a fragment depending on HX-Request.
        response.vary.add("HX-Request")
        return response
