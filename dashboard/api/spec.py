"""The OpenAPI 3.1 document, built from the endpoints' declarations (core.OPERATIONS) and their
pydantic schemas: what it says is what the code validates and answers."""

from __future__ import annotations

from functools import lru_cache

from pydantic.json_schema import models_json_schema

from dashboard.api.core import OPERATIONS, Operation
from dashboard.api.problems import CONTENT_TYPE, TYPES, type_uri
from dashboard.api.schemas import MAX_ID, FieldError, ProblemOut

REF = "#/components/schemas/{model}"
PROBLEM_TITLES = {
    400: "Malformed body",
    401: "Missing or invalid API key",
    403: "Not allowed for this key",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    422: "Refused: the problem type says why",
    429: "Too many requests",
}
ALWAYS = (401, 403, 429)


@lru_cache(maxsize=1)
def document() -> dict:
    models = {(op.body, "validation") for op in OPERATIONS if op.body}
    models |= {(m, "serialization") for op in OPERATIONS for m in op.responses.values() if m}
    models |= {(ProblemOut, "serialization"), (FieldError, "serialization")}
    refs, definitions = models_json_schema(
        sorted(models, key=lambda m: (m[0].__name__, m[1])), ref_template=REF
    )
    paths: dict[str, dict] = {}
    for op in sorted(OPERATIONS, key=lambda o: (o.path, o.method)):
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Switchboard API",
            "version": "1",
            "description": "Send SMS, follow them to delivery by webhook, manage consent and "
            "one-time codes. "
            "Every error is RFC 9457 problem+json; its `type` names one of the problem types "
            "listed under x-problem-types. docs/api.md has the guide.",
        },
        "servers": [{"url": "/api/v1"}],
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key from the console (Admin → API keys)",
                }
            },
        },
        "x-problem-types": [
            {"type": type_uri(t.slug), "status": t.status, "title": t.title} for t in TYPES.values()
        ],
    }


def _operation(op: Operation, refs: dict) -> dict:
    out: dict = {
        "operationId": op.endpoint.removeprefix("api."),
        "summary": op.summary,
        "tags": [op.tag],
    }
    if op.description:
        out["description"] = op.description
    if op.scope:
        out["security"] = [{"bearerAuth": []}]
        out["description"] = f"{out.get('description', '')}\n\nScope: `{op.scope}`.".strip()
    else:
        out["security"] = []
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID}
            if kind == "anyint"
            else {"type": "string", "pattern": "^[a-z0-9-]{1,40}$"},
        }
        for name, kind in op.path_params.items()
    ]
    if op.query is not None:
        schema = op.query.model_json_schema(ref_template=REF)
        for name, prop in schema["properties"].items():
            prop = dict(prop)
            prop.pop("title", None)
            parameters.append(
                {
                    "name": name,
                    "in": "query",
                    "required": name in schema.get("required", []),
                    "schema": prop,
                }
            )
    if op.idempotent:
        parameters.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "Retry safely: the same key and body get the original response",
                "schema": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 255,
                    "pattern": "^[\\x21-\\x7e]+$",
                },
            }
        )
    if parameters:
        out["parameters"] = parameters
    if op.body is not None:
        out["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
        }
    responses: dict = {}
    for status, model in op.responses.items():
        entry: dict = {
            "description": model.__doc__.strip().splitlines()[0]
            if model and model.__doc__
            else "OK"
        }
        if model is not None:
            entry["content"] = {"application/json": {"schema": refs[(model, "serialization")]}}
        responses[str(status)] = entry
    problem = {CONTENT_TYPE: {"schema": refs[(ProblemOut, "serialization")]}}
    codes = set(op.problems) | (set(ALWAYS) if op.scope else set())
    if op.body is not None:
        codes |= {400, 413, 422}
    if op.query is not None or op.path_params:
        codes |= {422} if op.query is not None else set()
    for status in sorted(codes):
        responses[str(status)] = {"description": PROBLEM_TITLES[status], "content": problem}
    responses["default"] = {"description": "Any other error, as problem+json", "content": problem}
    out["responses"] = responses
    return out
