"""Answers shared by the views."""

from __future__ import annotations

from flask import Response, redirect
from flask_htmx import make_response

from dashboard.extensions import htmx


def go_to(url: str) -> Response:
    """After a POST: a 303 to `url`, or for htmx (a button with hx-confirm) the same as HX-Redirect,
    so the whole page moves instead of the next page being swapped into the button."""
    if htmx:
        return make_response(redirect=url)
    return redirect(url, 303)
