"""POST /verify and POST /verify/check: one-time codes (dashboard.services.verify)."""

from __future__ import annotations

from flask import current_app

from dashboard.api import schemas as s
from dashboard.api.core import operation
from dashboard.api.messages import enqueue_problem
from dashboard.api.problems import Problem
from dashboard.models import ApiKey
from dashboard.models.types import utcnow
from dashboard.services import verify
from dashboard.services.sending import enqueue


def _problem(exc: verify.VerifyError) -> Problem:
    return Problem(exc.problem, exc.detail, errors=[{"field": exc.field, "detail": exc.detail}])


@operation(
    "POST",
    "/verify",
    summary="Text a one-time code",
    scope="verify",
    tag="One-time codes",
    body=s.VerifyStart,
    responses={201: s.VerificationOut},
    idempotent=True,
    problems=(409, 422),
)
def start_verification(key: ApiKey, body: s.VerifyStart):
    """The code goes through the priority lane, ahead of every queued campaign and API message on
    its bind; it is stored hashed. Refused for countries outside the key's geo permissions
    (country-not-allowed), beyond VERIFY_SENDS_PER_NUMBER codes an hour to one number
    (verify-rate-limited), and when codes to one number range exceed the velocity limit
    (velocity-limit, which also raises an alert)."""
    try:
        sent = verify.start(
            key,
            to=body.to,
            source=body.from_,
            now=utcnow(),
            template=body.template,
            code_length=body.code_length,
            expiry_minutes=body.expiry_minutes,
            default_region=current_app.config["DEFAULT_REGION"],
            commit=False,
        )
    except enqueue.EnqueueError as exc:
        raise enqueue_problem(exc) from None
    except verify.VerifyError as exc:
        raise _problem(exc) from None
    v = sent.verification
    return 201, {
        "id": v.id,
        "to": v.destination,
        "channel": v.channel,
        "status": v.status,
        "message_id": sent.message_id,
        "expires_at": v.expires_at,
        "created_at": v.created_at,
    }


@operation(
    "POST",
    "/verify/check",
    summary="Check a one-time code",
    scope="verify",
    tag="One-time codes",
    body=s.VerifyCheck,
    responses={200: s.CheckResult},
    problems=(422,),
)
def check_verification(key: ApiKey, body: s.VerifyCheck):
    """`approved` once for the right code of the number's pending verification; `denied`
    otherwise (wrong, expired, spent or no code). A code is spent after VERIFY_MAX_ATTEMPTS wrong
    tries; too many wrong checks per number or per key within an hour answer too-many-attempts."""
    try:
        result = verify.check(
            key,
            to=body.to,
            code=body.code,
            now=utcnow(),
            default_region=current_app.config["DEFAULT_REGION"],
        )
    except enqueue.EnqueueError as exc:
        raise enqueue_problem(exc) from None
    except verify.VerifyError as exc:
        raise _problem(exc) from None
    return 200, {
        "status": result.status,
        "verification_id": result.verification.id if result.verification else None,
        "attempts_left": result.attempts_left,
    }
