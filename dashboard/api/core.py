"""What every endpoint of the API does the same way, declared once per endpoint with @operation:
authenticate the bearer key, check its scope and rate limit, parse and validate the body and the
query against the endpoint's schemas, replay an Idempotency-Key, commit, and answer JSON — or
problem+json, never an HTML page and never a 500 for bad input. The declarations are also what
the OpenAPI document is built from (spec.py)."""

from __future__ import annotations

import inspect
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

import orjson
from flask import Blueprint, Response, g, request
from limits import parse_many
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError
from werkzeug.routing import IntegerConverter

from dashboard.api.problems import Problem
from dashboard.api.schemas import MAX_ID
from dashboard.extensions import limiter
from dashboard.models import ApiKey
from dashboard.models.types import utcnow
from dashboard.services import api_keys, audit, idempotency
from dashboard.services.sending import rows

bp = Blueprint("api", __name__, url_prefix="/api/v1")
API_ROLE = "api"  # what API views declare instead of console roles (tests/web/test_access.py)
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


class AnyInt(IntegerConverter):
    """`<anyint:…>`: any whole number; the endpoint answers 404 beyond what an id can be. The
    console's bounded converter (web/params.py) makes werkzeug drop the route instead, and the
    request would fall through to the console's HTML 404."""


@dataclass(frozen=True)
class Operation:
    """One endpoint as the OpenAPI document describes it."""

    method: str
    path: str  # OpenAPI form: /messages/{message_id}
    rule: str  # Flask form: /messages/<anyint:message_id>
    endpoint: str
    summary: str
    description: str
    scope: str | None
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    responses: dict[int, type[BaseModel] | None]
    problems: tuple[int, ...]
    idempotent: bool
    tag: str
    path_params: dict[str, str] = field(default_factory=dict)


OPERATIONS: list[Operation] = []


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    if isinstance(payload, BaseModel):
        payload = payload.model_dump(mode="json", by_alias=True)
    # Times in UTC with a Z, as webhooks write them (services/webhooks.iso_time).
    return Response(
        orjson.dumps(payload, option=orjson.OPT_UTC_Z),
        status=status,
        headers=headers,
        content_type="application/json",
    )


def _field(location: tuple, prefix: str = "") -> str:
    out = prefix
    for part in location:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def validation_problem(exc: ValidationError, prefix: str = "") -> Problem:
    errors = [
        {"field": _field(tuple(e["loc"]), prefix), "detail": e["msg"]} for e in exc.errors()[:100]
    ]
    return Problem(
        "validation-error",
        f"{len(exc.errors())} field(s) invalid: "
        + "; ".join(f"{e['field']}: {e['detail']}" for e in errors[:3]),
        errors=errors,
    )


def _authenticate(scope: str | None) -> ApiKey:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    key = (
        api_keys.authenticate(token.strip(), utcnow())
        if scheme.lower() == "bearer" and token
        else None
    )
    if key is None:
        raise Problem("unauthorized", headers={"WWW-Authenticate": 'Bearer realm="switchboard"'})
    if scope is not None and scope not in key.scope_set:
        raise Problem(
            "insufficient-scope",
            f"this key's scopes are {key.scopes or 'none'}; this endpoint needs {scope}",
        )
    _rate_limit(key)
    g.api_key = key
    audit.act_as(audit.Actor(None, f"api key {key.prefix}", request.remote_addr or ""))
    return key


_hits = threading.Lock()


def _rate_limit(key: ApiKey) -> None:
    """The key's own limits, counted by Flask-Limiter's storage (RATELIMIT_STORAGE_URI)."""
    strategy = limiter.limiter
    for item in parse_many(key.rate_limit):
        # One hit at a time per process: limits' memory storage starts its expiry timer without a
        # lock, and two threads of one gunicorn worker starting it at once raised (a 500) under
        # load.
        with _hits:
            allowed = strategy.hit(item, "api-key", str(key.id))
        if not allowed:
            reset = strategy.get_window_stats(item, "api-key", str(key.id)).reset_time
            wait = max(1, math.ceil(reset - time.time()))
            raise Problem(
                "rate-limited",
                f"this key may make {item}; retry in {wait} s",
                headers={"Retry-After": str(wait)},
            )


def _body(model: type[BaseModel]) -> BaseModel:
    raw = request.get_data(cache=True)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Problem("malformed-body", f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise Problem("malformed-body", "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_problem(exc) from None


def _query(model: type[BaseModel]) -> BaseModel:
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as exc:
        raise validation_problem(exc, "query") from None


def _replayed(key: ApiKey, digest: str) -> Response | None:
    """The stored answer to this key's earlier request with the same Idempotency-Key."""
    token = request.headers.get("Idempotency-Key")
    record = idempotency.find(key.id, token) if token else None
    if record is None:
        return None
    if record.request_hash != digest:
        raise Problem(
            "idempotency-key-reused", f"Idempotency-Key {token!r} was used with another request"
        )
    return Response(
        record.body,
        status=record.status_code,
        content_type="application/json",
        headers={"Idempotent-Replayed": "true"},
    )


def operation(
    method: str,
    rule: str,
    *,
    summary: str,
    scope: str | None,
    tag: str,
    description: str = "",
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    responses: dict[int, type[BaseModel] | None],
    problems: tuple[int, ...] = (),
    idempotent: bool = False,
) -> Callable:
    """Declare and register one endpoint. The view gets the key, `body`/`query` when declared and
    the path parameters; it returns (status, payload) and does not commit: this does, after
    keeping the response of an idempotent request in the same transaction."""
    path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)
    params = {name: kind for kind, name in re.findall(r"<(?:(\w+):)?(\w+)>", rule)}

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(**path_args):
            if any(isinstance(v, int) and v > MAX_ID for v in path_args.values()):
                raise Problem("not-found", f"no such resource: ids run from 1 to {MAX_ID}")
            key = _authenticate(scope)
            token = request.headers.get("Idempotency-Key") if idempotent else None
            digest = None
            if token is not None:
                if not IDEMPOTENCY_KEY.match(token):
                    raise Problem(
                        "validation-error",
                        "Idempotency-Key is 1 to 255 printable ASCII characters",
                        errors=[
                            {
                                "field": "header.Idempotency-Key",
                                "detail": "1 to 255 printable ASCII characters",
                            }
                        ],
                    )
                digest = idempotency.request_hash(
                    request.method, request.path, request.get_data(cache=True)
                )
                replay = _replayed(key, digest)
                if replay is not None:
                    return replay
            kwargs = dict(path_args)
            if body is not None:
                kwargs["body"] = _body(body)
            if query is not None:
                kwargs["query"] = _query(query)
            try:
                status, payload = view(key, **kwargs)
            except BaseException:
                rows.rollback()
                raise
            response = json_response(payload, status)
            if digest is not None and 200 <= status < 300:
                idempotency.remember(
                    key.id, token, digest, status, response.get_data(as_text=True), utcnow()
                )
            try:
                rows.commit()
            except IntegrityError:
                rows.rollback()
                if digest is None:
                    raise
                # The same key sent concurrently: the other request committed first; answer with
                # its response.
                replay = _replayed(key, digest)
                if replay is None:
                    raise
                return replay
            return response

        wrapper.allowed_roles = API_ROLE  # type: ignore[attr-defined]
        wrapper.api_scope = scope  # type: ignore[attr-defined]
        bp.add_url_rule(rule, endpoint=view.__name__, view_func=wrapper, methods=[method])
        OPERATIONS.append(
            Operation(
                method=method,
                path=path,
                rule=rule,
                endpoint=f"api.{view.__name__}",
                summary=summary,
                description=description or inspect.cleandoc(view.__doc__ or ""),
                scope=scope,
                body=body,
                query=query,
                responses=responses,
                problems=problems,
                idempotent=idempotent,
                tag=tag,
                path_params=params,
            )
        )
        return wrapper

    return decorator


def public_operation(
    method: str, rule: str, *, summary: str, tag: str, responses: dict[int, type[BaseModel] | None]
) -> Callable:
    """An endpoint that needs no key (the OpenAPI document, the problem types)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(**path_args):
            status, payload = view(**path_args)
            return json_response(payload, status)

        wrapper.allowed_roles = API_ROLE  # type: ignore[attr-defined]
        wrapper.api_scope = None  # type: ignore[attr-defined]
        bp.add_url_rule(rule, endpoint=view.__name__, view_func=wrapper, methods=[method])
        OPERATIONS.append(
            Operation(
                method=method,
                path=re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule),
                rule=rule,
                endpoint=f"api.{view.__name__}",
                summary=summary,
                description=inspect.cleandoc(view.__doc__ or ""),
                scope=None,
                body=None,
                query=None,
                responses=responses,
                problems=(404,),
                idempotent=False,
                tag=tag,
                path_params={n: k for k, n in re.findall(r"<(?:(\w+):)?(\w+)>", rule)},
            )
        )
        return wrapper

    return decorator
