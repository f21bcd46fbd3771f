"""API keys: created, changed and revoked by admins (audited), shown once, stored hashed; and the
check every API request makes (docs/api.md, "Authentication").

A key reads `sb_<prefix>_<secret>`. The prefix is public (it names the key in the console and
finds its row); the secret is 256 random bits stored as its SHA-256 only. A slow password hash
protects guessable passwords; a random secret of that size cannot be guessed, and a fast hash keeps
every request's check in microseconds. The webhook signing secret is encrypted at rest with the
keyring of dashboard/crypto.py, so it can be read back to sign; it too is shown once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from limits import parse_many
from sqlalchemy import select, update

from dashboard.crypto import decrypt_secret, encrypt_secret
from dashboard.extensions import db
from dashboard.models import ApiKey, FraudAlert
from dashboard.models.api import SCOPES
from dashboard.services import audit
from dashboard.settings import app_config
from dashboard.sms.sender_ids import InvalidSenderId, normalise_country

TOKEN_PREFIX = "sb"
# last_used_at is written at most this often: a write per request would make every request of a
# busy key wait on one row.
LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_URL_LENGTH = 2000
_AUDITED = (
    "name",
    "scopes",
    "allowed_countries",
    "rate_limit",
    "duplicate_window_minutes",
    "webhook_url",
    "inbound_webhooks",
)


class ApiKeyError(ValueError):
    """Why a key's settings were refused; fit to show in the console."""


@dataclass(frozen=True)
class KeySettings:
    name: str
    scopes: tuple[str, ...]
    allowed_countries: str = ""  # "US, CA"; empty: any country
    rate_limit: str = "100 per second"
    duplicate_window_minutes: int = 0
    webhook_url: str = ""
    inbound_webhooks: bool = False


@dataclass(frozen=True)
class NewKey:
    """What the console shows once: the key and its webhook signing secret."""

    key: ApiKey
    token: str
    webhook_secret: str


def _validated(settings: KeySettings) -> dict:
    name = settings.name.strip()
    if not name or len(name) > 80:
        raise ApiKeyError("a key needs a name of at most 80 characters")
    scopes = [s for s in SCOPES if s in settings.scopes]
    if not scopes or set(settings.scopes) - set(SCOPES):
        raise ApiKeyError(f"choose at least one scope of {', '.join(SCOPES)}")
    try:
        countries = sorted(
            {
                normalise_country(c)
                for c in settings.allowed_countries.replace(";", ",").split(",")
                if c.strip()
            }
        )
    except InvalidSenderId as exc:
        raise ApiKeyError(exc.reason) from None
    try:
        if not parse_many(settings.rate_limit):
            raise ValueError
    except ValueError:
        raise ApiKeyError(
            f"{settings.rate_limit!r} is not a rate limit such as '100 per second' or "
            "'50 per second; 10000 per day'"
        ) from None
    if not 0 <= settings.duplicate_window_minutes <= 1440:
        raise ApiKeyError("the duplicate window is between 0 (off) and 1440 minutes")
    url = settings.webhook_url.strip()
    if url:
        check_url(url)
    if settings.inbound_webhooks and not url:
        raise ApiKeyError("inbound messages need a webhook URL to go to")
    return {
        "name": name,
        "scopes": ",".join(scopes),
        "allowed_countries": ",".join(countries),
        "rate_limit": settings.rate_limit.strip(),
        "duplicate_window_minutes": settings.duplicate_window_minutes,
        "webhook_url": url or None,
        "inbound_webhooks": settings.inbound_webhooks,
    }


def check_url(url: str) -> str:
    """A webhook URL the worker can POST to: http or https, with a host. ApiKeyError otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > MAX_URL_LENGTH:
        raise ApiKeyError(
            f"{url[:80]!r} is not an http(s) URL of at most {MAX_URL_LENGTH} characters"
        )
    return url


def create_key(settings: KeySettings, *, created_by_id: int | None, now: datetime) -> NewKey:
    values = _validated(settings)
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    webhook_secret = "whsec_" + secrets.token_urlsafe(32)
    key = ApiKey(
        prefix=prefix,
        secret_hash=_hash(secret),
        created_by_id=created_by_id,
        created_at=now,
        webhook_secret_encrypted=encrypt_secret(app_config(), webhook_secret),
        **values,
    )
    db.session.add(key)
    db.session.flush()
    audit.record(
        "api_key_create",
        target=key,
        now=now,
        detail=f"key {prefix}",
        changes=audit.diff({}, audit.snapshot(key, _AUDITED)),
    )
    db.session.commit()
    return NewKey(key, f"{TOKEN_PREFIX}_{prefix}_{secret}", webhook_secret)


def update_key(key: ApiKey, settings: KeySettings, now: datetime) -> None:
    values = _validated(settings)
    before = audit.snapshot(key, _AUDITED)
    for name, value in values.items():
        setattr(key, name, value)
    changes = audit.diff(before, audit.snapshot(key, _AUDITED))
    if changes:
        audit.record(
            "api_key_change", target=key, now=now, detail=f"key {key.prefix}", changes=changes
        )
    db.session.commit()


def revoke_key(key: ApiKey, now: datetime) -> None:
    """From now on the key opens nothing. Webhooks already due for its messages still go out."""
    if key.revoked_at is not None:
        raise ApiKeyError(f"key {key.prefix} was revoked already")
    key.revoked_at = now
    audit.record("api_key_revoke", target=key, now=now, detail=f"key {key.prefix}")
    db.session.commit()


def roll_webhook_secret(key: ApiKey, now: datetime) -> str:
    """A new signing secret, shown once; events are signed with it from now on."""
    secret = "whsec_" + secrets.token_urlsafe(32)
    key.webhook_secret_encrypted = encrypt_secret(app_config(), secret)
    audit.record(
        "api_key_webhook_secret",
        target=key,
        now=now,
        detail=f"key {key.prefix}",
        changes={"webhook_secret": [audit.MASK, audit.MASK]},
    )
    db.session.commit()
    return secret


def webhook_secret(key: ApiKey) -> str:
    return decrypt_secret(app_config(), key.webhook_secret_encrypted)


def authenticate(token: str, now: datetime) -> ApiKey | None:
    """The active key this bearer token is, or None. Same work whether the prefix exists or not."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1] or len(parts[1]) > 24:
        return None
    key = db.session.scalar(select(ApiKey).where(ApiKey.prefix == parts[1]))
    expected = key.secret_hash if key is not None else _DUMMY_HASH
    if (
        not hmac.compare_digest(_hash(parts[2]), expected)
        or key is None
        or key.revoked_at is not None
    ):
        return None
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        db.session.execute(
            update(ApiKey)
            .where(ApiKey.id == key.id)
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
    return key


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


_DUMMY_HASH = _hash("no such key")


def keys() -> list[ApiKey]:
    return list(
        db.session.scalars(
            select(ApiKey).order_by(ApiKey.revoked_at.is_not(None), ApiKey.id.desc())
        )
    )


def recent_alerts(limit: int = 20) -> list[FraudAlert]:
    return list(db.session.scalars(select(FraudAlert).order_by(FraudAlert.id.desc()).limit(limit)))
