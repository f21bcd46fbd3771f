"""The HTTP API under /api/v1: JSON in and out, bearer API keys, problem+json errors, an OpenAPI
3.1 document built from the code (docs/api.md). It calls the services the console and the CLI
call; nothing here decides what may be sent, who opted out or what a status means.

The console's session and CSRF do not apply here (the blueprint is exempt from CSRF: a bearer key
is not sent by a browser on its own), and an API key opens nothing in the console.
"""

from __future__ import annotations

import logging

from flask import Flask, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule

from dashboard.api import campaigns, contacts, messages, verify  # noqa: F401  (their @operation endpoints)
from dashboard.api import schemas as s
from dashboard.api.core import OPERATIONS, AnyInt, bp, json_response, public_operation
from dashboard.api.problems import TYPES, Problem, response, type_uri
from dashboard.api.spec import document
from dashboard.extensions import csrf, db

log = logging.getLogger(__name__)
_STATUS_SLUGS = {
    400: "malformed-body",
    401: "unauthorized",
    403: "insufficient-scope",
    404: "not-found",
    405: "method-not-allowed",
    413: "payload-too-large",
    429: "rate-limited",
}


@public_operation(
    "GET",
    "/openapi.json",
    summary="This API's OpenAPI 3.1 document",
    tag="Meta",
    responses={200: None},
)
def openapi():
    return 200, document()


@public_operation(
    "GET",
    "/problems/<slug>",
    summary="What one problem type means",
    tag="Meta",
    responses={200: s.ProblemTypeOut},
)
def problem_type(slug: str):
    found = TYPES.get(slug)
    if found is None:
        raise Problem("not-found", f"no problem type {slug!r}")
    return 200, {
        "type": type_uri(slug),
        "title": found.title,
        "status": found.status,
        "description": found.description,
    }


_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def _unknown(rest: str = ""):
    """Anything else under /api/v1: 405 with Allow when the path exists, else 404, both as
    problem+json."""
    adapter = _api_rules().bind("")
    try:
        adapter.match(request.path, method=request.method)
    except MethodNotAllowed as exc:
        raise Problem(
            "method-not-allowed",
            f"{request.method} is not allowed here",
            headers={"Allow": ", ".join(sorted(set(exc.valid_methods or [])))},
        ) from None
    except NotFound:
        pass
    raise Problem("not-found", f"no endpoint {request.method} {request.path}")


_rules: list[Map] = []


def _api_rules() -> Map:
    if not _rules:
        _rules.append(
            Map(
                [Rule(f"/api/v1{op.rule}", methods=[op.method]) for op in OPERATIONS],
                converters={"anyint": AnyInt},
            )
        )
    return _rules[0]


_unknown.allowed_roles = "api"  # type: ignore[attr-defined]
_unknown.api_scope = None  # type: ignore[attr-defined]
bp.add_url_rule("/<path:rest>", endpoint="unknown", view_func=_unknown, methods=_ALL_METHODS)
bp.add_url_rule("/", endpoint="unknown", view_func=_unknown, methods=_ALL_METHODS)


@bp.errorhandler(Problem)
def _problem(problem: Problem):
    return response(problem, request.path)


@bp.errorhandler(Exception)
def _error(error: Exception):
    db.session.rollback()
    if isinstance(error, HTTPException):
        slug = _STATUS_SLUGS.get(error.code or 500, "internal-error")
        return response(Problem(slug, error.description or "", status=error.code), request.path)
    log.exception("API request %s %s failed", request.method, request.path)
    return response(Problem("internal-error"), request.path)


def register_api(app: Flask) -> None:
    app.url_map.converters["anyint"] = AnyInt
    csrf.exempt(bp)
    app.register_blueprint(bp)


__all__ = ["OPERATIONS", "json_response", "register_api"]
