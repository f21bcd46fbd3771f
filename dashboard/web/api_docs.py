"""The API's page in the console: how to authenticate, copy-paste curl and Python examples, the
webhook signature check, the problem types, and the OpenAPI document."""

from __future__ import annotations

from flask import Blueprint, render_template

from dashboard.api import examples
from dashboard.api.problems import TYPES, type_uri
from dashboard.services.webhooks import SIGNATURE_HEADER
from dashboard.web.access import ALL_ROLES, roles_required

bp = Blueprint("api_docs", __name__, url_prefix="/api-docs")


@bp.route("/")
@roles_required(*ALL_ROLES)
def index():
    problems = [(type_uri(t.slug), t) for t in TYPES.values()]
    return render_template(
        "api_docs/index.html",
        examples=examples,
        problems=problems,
        signature_header=SIGNATURE_HEADER,
    )
