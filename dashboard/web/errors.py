"""Error pages that look like the rest of the console: 404 and 500 (403 and CSRF refusals are in
access.py, with the roles)."""

from __future__ import annotations

from flask import Flask, render_template
from werkzeug.exceptions import InternalServerError, NotFound

from dashboard.extensions import db


def install_error_pages(app: Flask) -> None:
    @app.errorhandler(NotFound)
    def _not_found(_error):
        return render_template("errors/404.html"), 404

    @app.errorhandler(InternalServerError)
    def _server_error(_error):
        # The failed request may have left the session mid-transaction; the page must not depend
        # on the database either (bare: no navigation, no sender banner).
        db.session.rollback()
        return render_template("errors/500.html", bare=True), 500
