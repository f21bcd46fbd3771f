"""One-time codes (POST /verify, POST /verify/check): a code texted through the priority lane,
checked against its keyed hash, with attempts limited per code, per number and per key, and the
fraud guard against SMS pumping — geo permissions per key (enqueue's rule) and a velocity limit per
destination range that stops a burst and raises an alert (docs/api.md, "One-time codes").

Codes are stored as HMAC-SHA256 under a key derived from the encryption keyring (crypto.py): a copy
of the database alone cannot be searched for a six-digit code. The limits are counted over rows,
under a lock taken before the count (services/locks.py), so concurrent requests cannot all pass.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from dashboard.crypto import derived_key
from dashboard.extensions import db
from dashboard.models import ApiKey, FraudAlert, Message, Verification, VerificationCheck
from dashboard.models.campaign import OTP_PRIORITY
from dashboard.services import locks
from dashboard.services.sending import enqueue
from dashboard.settings import app_config, setting
from dashboard.sms import templating
from dashboard.sms.numbers import InvalidNumber, normalise

VERIFY_LOCK_KEY = 0x5665_7269_6679  # any constant: the advisory lock of the code limits
PENDING, APPROVED, EXPIRED, FAILED = "pending", "approved", "expired", "failed"
DEFAULT_TEMPLATE = "Your verification code is {{ code }}. It expires in {{ minutes }} minutes."
WINDOW = timedelta(hours=1)
VELOCITY_ALERT = "verify_velocity"


class VerifyError(ValueError):
    """Why no code was sent or checked; `problem` is the API's problem type, `field` the input."""

    problem = "invalid-verification"
    status = 422
    field: str | None = None

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if field is not None:
            self.field = field


class TooManyCodes(VerifyError):
    problem, status, field = "verify-rate-limited", 429, "to"


class VelocityLimited(VerifyError):
    problem, status, field = "velocity-limit", 429, "to"


class TooManyChecks(VerifyError):
    problem, status, field = "too-many-attempts", 429, "code"


@dataclass(frozen=True)
class Sent:
    verification: Verification
    message_id: int


@dataclass(frozen=True)
class Checked:
    status: str  # APPROVED or "denied"
    verification: Verification | None
    attempts_left: int


def prefix_of(e164: str, digits: int) -> str:
    """The number range the velocity limit counts: the first `digits` digits, country code
    included."""
    return e164.lstrip("+")[:digits]


def _hash(verification_id: int, code: str) -> str:
    key = derived_key(app_config(), b"switchboard one-time codes v1")
    return hmac.new(key, f"{verification_id}:{code}".encode(), hashlib.sha256).hexdigest()


def _count(model, *conditions) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0


def start(
    key: ApiKey,
    *,
    to: str,
    source: str,
    now: datetime,
    template: str | None = None,
    code_length: int | None = None,
    expiry_minutes: int | None = None,
    default_region: str = "US",
    commit: bool = True,
) -> Sent:
    """Text a new code to `to` from `source`, ahead of every queued campaign, and commit (unless
    told not to: the API commits with its idempotency record).
    Raises enqueue.EnqueueError (every rule a message obeys, and the key's geo permissions),
    VerifyError (template), TooManyCodes (per number) or VelocityLimited (per range, alerted)."""
    length = code_length or setting("VERIFY_CODE_LENGTH")
    minutes = expiry_minutes or setting("VERIFY_EXPIRY_MINUTES")
    code = "".join(secrets.choice("0123456789") for _ in range(length))
    try:
        text = templating.render(template or DEFAULT_TEMPLATE, {"code": code, "minutes": minutes})
    except templating.TemplateError as exc:
        raise VerifyError(f"the template cannot be rendered: {exc}", field="template") from None
    if code not in text:
        raise VerifyError(
            "the template must show the code: write {{ code }} where it goes", field="template"
        )
    policy = enqueue.Policy(
        default_region=default_region,
        api_key_id=key.id,
        allowed_countries=key.country_set,
        refuse_opted_out=True,
        default_callback=key.webhook_url,
    )
    expires_at = now + timedelta(minutes=minutes)
    checked = enqueue.check(
        [
            enqueue.Outgoing(
                to=to, text=text, source=source, priority=OTP_PRIORITY, valid_until=expires_at
            )
        ],
        policy,
        now,
    )
    destination = checked[0].destination
    prefix = prefix_of(destination, setting("VERIFY_PREFIX_DIGITS"))
    locks.serialise(VERIFY_LOCK_KEY, Verification.__table__)
    if _count(
        Verification,
        Verification.destination == destination,
        Verification.created_at > now - WINDOW,
    ) >= setting("VERIFY_SENDS_PER_NUMBER"):
        db.session.rollback()
        raise TooManyCodes(
            f"{destination} was sent {setting('VERIFY_SENDS_PER_NUMBER')} codes within the "
            "last hour; try again later"
        )
    window = timedelta(minutes=setting("VERIFY_PREFIX_WINDOW_MINUTES"))
    recent = _count(
        Verification, Verification.prefix == prefix, Verification.created_at > now - window
    )
    if recent >= setting("VERIFY_PREFIX_LIMIT"):
        db.session.rollback()
        _alert(key, prefix, recent, window, now)
        raise VelocityLimited(
            f"too many codes to numbers starting +{prefix} within {window.seconds // 60} "
            "minutes: this range is paused and an alert was raised"
        )
    [queued] = enqueue.insert(checked, policy, now)
    message_id = queued["id"]
    verification = Verification(
        api_key_id=key.id,
        destination=destination,
        prefix=prefix,
        code_hash="",
        status=PENDING,
        max_attempts=setting("VERIFY_MAX_ATTEMPTS"),
        message_id=message_id,
        created_at=now,
        expires_at=expires_at,
    )
    db.session.add(verification)
    db.session.flush()
    verification.code_hash = _hash(verification.id, code)
    if commit:
        enqueue.commit()
    return Sent(verification, message_id)


def _alert(key: ApiKey, prefix: str, count: int, window: timedelta, now: datetime) -> None:
    """One alert per range and window, however long the burst goes on (its own transaction)."""
    already = _count(
        FraudAlert,
        FraudAlert.kind == VELOCITY_ALERT,
        FraudAlert.prefix == prefix,
        FraudAlert.created_at > now - window,
    )
    if not already:
        db.session.add(
            FraudAlert(
                kind=VELOCITY_ALERT,
                prefix=prefix,
                api_key_id=key.id,
                count=count,
                created_at=now,
                detail=f"{count} codes to +{prefix}… within {window.seconds // 60} minutes; "
                f"further codes to that range refused (key {key.prefix})",
            )
        )
        db.session.commit()


def _redact(verification: Verification) -> None:
    """Once a code is used, spent or expired, its text keeps no trace of it: the digits that hash to
    it are masked in the message (same length and alphabet: parts and price do not change)."""
    message = db.session.get(Message, verification.message_id) if verification.message_id else None
    if message is None:
        return

    def mask(match: re.Match) -> str:
        digits = match.group(0)
        return (
            "*" * len(digits)
            if hmac.compare_digest(_hash(verification.id, digits), verification.code_hash)
            else digits
        )

    message.text = re.sub(r"\d{4,10}", mask, message.text)


def check(key: ApiKey, *, to: str, code: str, now: datetime, default_region: str = "US") -> Checked:
    """Is `code` the pending code of `to` sent through this key? Every check counts, right or
    wrong; a code is spent after VERIFY_MAX_ATTEMPTS wrong tries. Commits."""
    try:
        destination = normalise(to, default_region)
    except InvalidNumber as exc:
        raise enqueue.InvalidDestination(f"{to}: {exc}") from None
    locks.serialise(VERIFY_LOCK_KEY, Verification.__table__)
    failed = VerificationCheck.approved.is_(False)
    if _count(
        VerificationCheck,
        failed,
        VerificationCheck.destination == destination,
        VerificationCheck.at > now - WINDOW,
    ) >= setting("VERIFY_FAILED_CHECKS_PER_NUMBER"):
        db.session.rollback()
        raise TooManyChecks(f"too many wrong codes for {destination} within the last hour")
    if _count(
        VerificationCheck,
        failed,
        VerificationCheck.api_key_id == key.id,
        VerificationCheck.at > now - WINDOW,
    ) >= setting("VERIFY_FAILED_CHECKS_PER_KEY"):
        db.session.rollback()
        raise TooManyChecks(
            "too many wrong codes through this API key within the last hour", field=None
        )
    verification = db.session.scalar(
        select(Verification)
        .where(
            Verification.api_key_id == key.id,
            Verification.destination == destination,
            Verification.status == PENDING,
        )
        .order_by(Verification.id.desc())
        .limit(1)
    )
    approved = False
    if verification is not None and verification.expires_at <= now:
        verification.status = EXPIRED
    elif verification is not None:
        verification.attempts += 1
        approved = hmac.compare_digest(_hash(verification.id, code), verification.code_hash)
        if approved:
            verification.status, verification.approved_at = APPROVED, now
        elif verification.attempts >= verification.max_attempts:
            verification.status = FAILED
    if verification is not None and verification.status != PENDING:
        _redact(verification)
    db.session.add(
        VerificationCheck(
            verification_id=verification.id if verification else None,
            api_key_id=key.id,
            destination=destination,
            approved=approved,
            at=now,
        )
    )
    db.session.commit()
    left = (
        verification.max_attempts - verification.attempts
        if verification and verification.status == PENDING
        else 0
    )
    return Checked(APPROVED if approved else "denied", verification, left)
