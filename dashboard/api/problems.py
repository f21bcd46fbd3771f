"""Errors as RFC 9457 `application/problem+json`: one documented type per kind of refusal, with
field-level errors. Every type's URI resolves: GET /api/v1/problems/<slug> describes it."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from flask import Response

CONTENT_TYPE = "application/problem+json"


@dataclass(frozen=True)
class ProblemType:
    slug: str
    status: int
    title: str
    description: str


TYPES = {
    t.slug: t
    for t in (
        ProblemType(
            "malformed-body",
            400,
            "Malformed request body",
            "The body is not JSON (or not UTF-8). Send a JSON object with Content-Type: "
            "application/json.",
        ),
        ProblemType(
            "validation-error",
            422,
            "Invalid request",
            "One or more fields are missing, of the wrong type or out of range; "
            "`errors` names each field.",
        ),
        ProblemType(
            "unauthorized",
            401,
            "Missing or invalid API key",
            "Send `Authorization: Bearer <key>` with an active key. Revoked keys open nothing.",
        ),
        ProblemType(
            "insufficient-scope",
            403,
            "The key lacks the scope",
            "The key was not given the scope this endpoint needs (send, read, contacts or verify).",
        ),
        ProblemType(
            "rate-limited",
            429,
            "Too many requests",
            "The key's rate limit is reached; retry after the number of seconds in Retry-After.",
        ),
        ProblemType("not-found", 404, "Not found", "No such resource, or no such endpoint."),
        ProblemType(
            "method-not-allowed",
            405,
            "Method not allowed",
            "The endpoint exists; the Allow header lists its methods.",
        ),
        ProblemType(
            "payload-too-large",
            413,
            "Request body too large",
            "The body is larger than the server accepts.",
        ),
        ProblemType(
            "idempotency-key-reused",
            409,
            "Idempotency-Key reused with another request",
            "This Idempotency-Key was used with a different method, path or body within the "
            "last 24 hours.",
        ),
        ProblemType(
            "empty-text",
            422,
            "Empty text",
            "A message needs a text (or a template that renders to one).",
        ),
        ProblemType(
            "text-too-long",
            422,
            "Text too long",
            "The text needs more than 255 parts, the most one message can have.",
        ),
        ProblemType(
            "missing-sender",
            422,
            "No sender",
            "`from` is required: one of your approved sender IDs.",
        ),
        ProblemType(
            "invalid-number",
            422,
            "Invalid number",
            "`to` is not a valid phone number (E.164 such as +14155552671, or a national "
            "number of the "
            "server's DEFAULT_REGION).",
        ),
        ProblemType(
            "unknown-sender",
            422,
            "Unknown sender",
            "`from` is not one of the sender IDs configured in the console.",
        ),
        ProblemType(
            "sender-not-approved",
            422,
            "Sender not approved for the destination",
            "The sender has no approved registration for the destination's country "
            "(docs/senders.md).",
        ),
        ProblemType(
            "recipient-opted-out",
            422,
            "Recipient opted out",
            "The recipient opted out (STOP, the console or the API); nothing was sent.",
        ),
        ProblemType(
            "country-not-allowed",
            403,
            "Destination country not allowed for this key",
            "Geo permissions: the key may only send to the countries it was given.",
        ),
        ProblemType(
            "duplicate-message",
            409,
            "Duplicate message",
            "The same text went to the same number through this key within its duplicate window.",
        ),
        ProblemType(
            "batch-refused",
            422,
            "Batch refused",
            "At least one message of the batch may not be sent; `errors` lists each one by index. "
            "Nothing was queued.",
        ),
        ProblemType(
            "unknown-template",
            422,
            "Unknown template",
            "`template_id` names no active message template.",
        ),
        ProblemType(
            "template-error",
            422,
            "Template cannot be rendered",
            "The template or its params do not render.",
        ),
        ProblemType(
            "invalid-verification",
            422,
            "Invalid verification request",
            "The code request cannot be sent as given.",
        ),
        ProblemType(
            "verify-rate-limited",
            429,
            "Too many codes to this number",
            "The number was sent VERIFY_SENDS_PER_NUMBER codes within the last hour.",
        ),
        ProblemType(
            "velocity-limit",
            429,
            "Too many codes to this number range",
            "Fraud guard: codes to numbers sharing this prefix exceeded the velocity limit; "
            "the range is "
            "paused and an alert was raised.",
        ),
        ProblemType(
            "too-many-attempts",
            429,
            "Too many wrong codes",
            "Too many failed checks for this number, or through this key, within the last hour.",
        ),
        ProblemType(
            "invalid-contact",
            422,
            "Invalid contact",
            "The contact or consent change is refused as given.",
        ),
        ProblemType(
            "internal-error",
            500,
            "Internal error",
            "Something failed on our side; the request may be retried.",
        ),
    )
}


class Problem(Exception):
    """Raised by the API's views; the blueprint answers it as problem+json."""

    def __init__(
        self,
        slug: str,
        detail: str = "",
        *,
        errors: list[dict] | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or slug)
        self.type = TYPES[slug]
        self.detail = detail or self.type.description
        self.errors = errors
        self.status = status or self.type.status
        self.headers = headers or {}


def type_uri(slug: str) -> str:
    return f"/api/v1/problems/{slug}"


def response(problem: Problem, instance: str) -> Response:
    body = {
        "type": type_uri(problem.type.slug),
        "title": problem.type.title,
        "status": problem.status,
        "detail": problem.detail,
        "instance": instance,
    }
    if problem.errors:
        body["errors"] = problem.errors
    return Response(
        orjson.dumps(body),
        status=problem.status,
        headers=problem.headers,
        content_type=CONTENT_TYPE,
    )
