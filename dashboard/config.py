"""Configuration: built-in defaults < instance/config.py < SWITCHBOARD_* environment variables.

Environment values are parsed strictly against the type of the default, so a typo such as
SWITCHBOARD_DEMO=yes-please fails at start-up instead of silently meaning False.
"""
from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Any

from dashboard.sms.money import is_currency_code

ENV_PREFIX = "SWITCHBOARD_"

DEFAULTS: dict[str, Any] = {
    "SECRET_KEY": None,  # generated once into instance/secret_key when not configured
    "DATABASE_URL": None,  # None → SQLite in the instance folder
    "DEFAULT_REGION": "US",
    "SIMULATOR_HOST": "127.0.0.1",
    "SIMULATOR_PORT": 2775,
    # Where `python app.py` (the demo) serves the console; `--host`/`--port` override them.
    "HOST": "127.0.0.1",
    "PORT": 5000,
    # ISO 4217 code: pre-filled for new routes, and the currency of budgets and of costs recorded
    # before routes had one (migration 0011).
    "DEFAULT_CURRENCY": "USD",
    # A sender worker writes a heartbeat every few seconds; older than this, every page says that no
    # sender is running and the binds say so too (dashboard/services/workers.py).
    "SENDER_STALE_SECONDS": 20,
    "CLAIM_LEASE_SECONDS": 120,
    # Several sender workers (PostgreSQL): how long a worker's lease on a bind (and on the jobs that
    # run once) lasts unrenewed; another worker takes over this long after the holder dies
    # (docs/scaling.md).
    "LEASE_SECONDS": 15,
    # `flask --app app postgres start`: the port of the local PostgreSQL it starts for trying several
    # workers (not 5432, where a system PostgreSQL may listen).
    "LOCAL_POSTGRES_PORT": 5433,
    "RECEIPT_HOLD_HOURS": 24,
    # A message not sent within this many hours (retries, throttling, no bind) expires, visibly.
    "VALIDITY_HOURS": 48,
    # CA bundle for SMPP over TLS to carriers with a private CA; None uses the system's trust store.
    "SMPP_TLS_CA_FILE": "",
    "HELP_TEXT": "Switchboard messages. Reply STOP to opt out, START to opt back in.",
    # Inbound keywords, comma-separated; matched on the first word(s), ignoring case, accents and
    # punctuation (dashboard/sms/keywords.py). YES only confirms a pending double opt-in.
    "OPT_OUT_KEYWORDS": "STOP,STOPALL,STOP ALL,UNSUBSCRIBE,END,CANCEL,QUIT,ARRET,BAJA,STOPP,ALTO,PARAR,"
                        "CANCELAR,ABMELDEN",
    "OPT_IN_KEYWORDS": "START,UNSTOP,SUBSCRIBE",
    "CONFIRM_KEYWORDS": "YES,OUI,SI,JA",
    "HELP_KEYWORDS": "HELP,INFO,AIDE,AYUDA,HILFE",
    # "global": a STOP stops everything we send to that number; "brand": a STOP sent to a sender
    # that has a brand stops only that brand's senders (docs/consent.md).
    "OPT_OUT_SCOPE": "global",
    # A sender ID needs an approved registration for every destination country of a campaign.
    # False: a sender with no registrations at all is taken as approved everywhere (legacy).
    "SENDER_REGISTRATION_REQUIRED": True,
    # Double opt-in sign-up page: how long a confirmation stays open, and the abuse limits.
    "SIGNUP_CONFIRMATION_MINUTES": 30,
    "SIGNUP_LIMIT_PER_IP": 5,  # requests per IP per hour, all lists together
    "SIGNUP_LIMIT_PER_NUMBER": 3,  # requests per number per day, all lists together
    # Opt-out footer for message templates (dashboard.sms.templating.with_opt_out_footer): appended to
    # messages of FOOTER_KINDS sent where FOOTER_REQUIRED_COUNTRIES ("*" = everywhere) ask for it.
    "OPT_OUT_FOOTER": "Reply STOP to opt out",
    "FOOTER_REQUIRED_COUNTRIES": "US,CA,FR,GB",
    "FOOTER_KINDS": "marketing",
    "IMPORT_DIR": "",  # uploaded CSV files; "" → instance/imports
    # Four eyes: a campaign is approved by another admin or ops user before it can be scheduled.
    "CAMPAIGN_APPROVAL_REQUIRED": True,
    # When true, a test send of the campaign's message must have been made before it is approved.
    "TEST_SEND_REQUIRED": False,
    "DEFAULT_TIME_ZONE": "UTC",  # pre-selected in the campaign form
    "WTF_CSRF_TIME_LIMIT": None,  # tokens live as long as the session; the session cookie expires
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    # Security (docs/security.md). Files holding the session-signing key and the encryption keys
    # of secrets at rest; "" → instance/secret_key and instance/encryption_keys, made on first start.
    "SECRET_KEY_FILE": "",
    "ENCRYPTION_KEY_FILE": "",
    # Cookies only over HTTPS; the demo (plain http on 127.0.0.1) turns it off.
    "SECURE_COOKIES": True,
    "SESSION_IDLE_MINUTES": 720,  # a session unused this long ends (server-side)
    # Reverse proxies in front of the console whose X-Forwarded-For/-Proto to trust (ProxyFix).
    "TRUSTED_PROXIES": 0,
    # Login: Flask-Limiter limits per client address and per account; after LOGIN_LOCKOUT_FAILURES
    # failures in a row the account is locked (in the database, so across processes).
    "LOGIN_LIMIT_PER_ADDRESS": "20 per minute; 200 per hour",
    "LOGIN_LIMIT_PER_ACCOUNT": "10 per minute",
    "LOGIN_LOCKOUT_FAILURES": 10,
    "LOGIN_LOCKOUT_MINUTES": 15,
    # Flask-Limiter's counters: memory:// holds for one process; with several gunicorn workers use
    # a shared store, e.g. redis://localhost:6379 (docs/security.md).
    "RATELIMIT_STORAGE_URI": "memory://",
    # The HTTP API (docs/api.md): a new key's rate limit (Flask-Limiter notation, counted in
    # RATELIMIT_STORAGE_URI), how long an Idempotency-Key's response is kept.
    "API_DEFAULT_RATE_LIMIT": "100 per second",
    "IDEMPOTENCY_HOURS": 24,
    # One-time codes (POST /verify): defaults a request may change within bounds, and the limits.
    "VERIFY_CODE_LENGTH": 6,
    "VERIFY_EXPIRY_MINUTES": 10,
    "VERIFY_MAX_ATTEMPTS": 5,  # wrong codes before a code is spent
    "VERIFY_SENDS_PER_NUMBER": 5,  # codes per number per hour, all keys together
    "VERIFY_FAILED_CHECKS_PER_NUMBER": 10,  # wrong or unmatched checks per number per hour
    "VERIFY_FAILED_CHECKS_PER_KEY": 1000,  # the same, per API key per hour
    # Fraud guard (SMS pumping): more than VERIFY_PREFIX_LIMIT codes within the window to numbers
    # sharing their first VERIFY_PREFIX_DIGITS digits (country code included) are refused and raise
    # an alert.
    "VERIFY_PREFIX_DIGITS": 7,
    "VERIFY_PREFIX_LIMIT": 20,
    "VERIFY_PREFIX_WINDOW_MINUTES": 10,
    # Webhooks, delivered by the worker: per-request time-out, how long a failing receiver is
    # retried (exponential back-off from the base up to the cap), events per POST.
    "WEBHOOK_TIMEOUT_SECONDS": 10.0,
    "WEBHOOK_RETRY_HOURS": 24.0,
    "WEBHOOK_RETRY_BASE_SECONDS": 5.0,
    "WEBHOOK_RETRY_MAX_SECONDS": 3600.0,
    "WEBHOOK_BATCH_SIZE": 100,
    "IMPORT_MAX_MB": 50,  # largest CSV upload; bigger requests are refused with 413
    "IMPORT_MAX_COLUMNS": 200,
    "IMPORT_RETENTION_HOURS": 24,  # an uploaded file not imported by then is deleted
    # Rollups (docs/monitoring.md): per-minute rows are kept this long, then folded into hours.
    # The 24 h charts draw 15-minute steps from them; older ranges read the hours.
    "ROLLUP_MINUTE_HOURS": 25,
    # Carrier health: a message still without a final receipt this long after it was submitted
    # counts as "receipt missing".
    "RECEIPT_MISSING_MINUTES": 10,
    # /metrics (Prometheus): a bearer token, or client addresses allowed without one (CIDR list).
    "METRICS_TOKEN": "",
    "METRICS_ALLOWED_NETWORKS": "127.0.0.1/32,::1/128",
    # Alerts go to this webhook (signed with HMAC-SHA256 over the time stamp and body with the
    # secret) and, for rules that ask for it, by e-mail through this SMTP server.
    "ALERT_WEBHOOK_URL": "",
    "ALERT_WEBHOOK_SECRET": "",
    "ALERT_EMAIL_TO": "",  # comma-separated
    "ALERT_EMAIL_FROM": "switchboard@localhost",
    "SMTP_HOST": "",
    "SMTP_PORT": 25,
    "SMTP_USERNAME": "",
    "SMTP_PASSWORD": "",
    "SMTP_STARTTLS": False,
}


class ConfigError(ValueError):
    pass


CHOICES = {"OPT_OUT_SCOPE": ("global", "brand")}


def check_choices(config: dict[str, Any]) -> None:
    """Settings with a fixed set of values or a fixed shape: a typo stops start-up instead of
    meaning the default."""
    for name, allowed in CHOICES.items():
        if config.get(name) not in allowed:
            raise ConfigError(f"{name} must be one of {', '.join(allowed)}, not {config.get(name)!r}")
    if not is_currency_code(config.get("DEFAULT_CURRENCY")):
        raise ConfigError(f"DEFAULT_CURRENCY must be an ISO 4217 code such as USD or EUR, "
                          f"not {config.get('DEFAULT_CURRENCY')!r}")


def _parse(name: str, raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{ENV_PREFIX}{name} must be true or false, not {raw!r}")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{ENV_PREFIX}{name} must be an integer, not {raw!r}") from None
    if isinstance(default, float):
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{ENV_PREFIX}{name} must be a number, not {raw!r}") from None
    return raw


def from_environment(environ: os._Environ[str] | dict[str, str], defaults: dict[str, Any]) -> dict[str, Any]:
    """The SWITCHBOARD_* variables, typed like the defaults they override."""
    values = {}
    for key, raw in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        name = key[len(ENV_PREFIX):]
        values[name] = _parse(name, raw, defaults.get(name))
    return values


def instance_secret_key(instance_path: str, file_name: str = "") -> str:
    """The session-signing key: from SECRET_KEY_FILE, or kept in the instance folder, made once
    (owner-only) so sessions survive restarts without anyone having to invent a key for the demo."""
    return read_or_create_secret(Path(file_name) if file_name else Path(instance_path) / "secret_key",
                                 lambda: secrets.token_urlsafe(48))


def read_or_create_secret(path: Path, make) -> str:
    """The file's content; a missing file is created owner-only (0600) with `make()`."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = make()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process (a test's worker, a second gunicorn worker) made it first
        return _read_when_written(path)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def _read_when_written(path: Path) -> str:
    for _ in range(50):
        content = path.read_text().strip()
        if content:
            return content
        time.sleep(0.01)
    raise ConfigError(f"{path} is empty")
