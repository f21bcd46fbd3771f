"""Delivering alert notifications: a signed webhook call and, where a rule asks, an e-mail over
SMTP. Run by the worker's job, never by a web request. Each due notification is claimed with a
conditional UPDATE (docs/architecture.md, "Conventions"), sent, and recorded; a failure is tried
again with back-off (dashboard.sms.alerts.retry_in) until its attempts are spent.
"""
from __future__ import annotations

import json
import smtplib
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import select, update

from dashboard.extensions import db
from dashboard.models import Alert, AlertNotification
from dashboard.settings import setting
from dashboard.sms.alerts import WEBHOOK_ATTEMPTS, retry_in, signature

TIMEOUT_SECONDS = 10
BATCH = 20
LEASE = timedelta(minutes=2)  # a claimed notification whose sender died is tried again after this


def payload(alert: Alert, event: str, now: datetime) -> dict:
    return {"event": event, "alert_id": alert.id, "key": alert.key, "title": alert.title, "detail": alert.detail,
            "state": alert.state, "value": alert.value, "started_at": alert.started_at.isoformat(),
            "acknowledged_by": alert.acknowledged_by,
            "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None, "sent_at": now.isoformat()}


def deliver_due(now: datetime) -> dict[str, int]:
    """Send what is due; returns how many went and how many failed this time."""
    due = db.session.scalars(select(AlertNotification.id).where(
        AlertNotification.status == "pending", AlertNotification.next_attempt_at <= now)
        .order_by(AlertNotification.id).limit(BATCH)).all()
    sent = failed = 0
    for notification_id in due:
        # Claimed by moving its next attempt past the lease: a second worker skips it.
        claimed = db.session.execute(update(AlertNotification).where(
            AlertNotification.id == notification_id, AlertNotification.status == "pending",
            AlertNotification.next_attempt_at <= now).values(next_attempt_at=now + LEASE)
            .execution_options(synchronize_session=False)).rowcount
        db.session.commit()
        if not claimed:
            continue
        notification = db.session.get(AlertNotification, notification_id)
        try:
            code = _send(notification, now)
        except (OSError, smtplib.SMTPException, urllib.error.URLError, ValueError) as exc:
            notification.attempts += 1
            notification.last_error = f"{type(exc).__name__}: {exc}"[:500]
            notification.response_code = getattr(exc, "code", None)
            if notification.attempts >= WEBHOOK_ATTEMPTS:
                notification.status = "failed"
            else:
                notification.next_attempt_at = now + timedelta(seconds=retry_in(notification.attempts))
            failed += 1
        else:
            notification.attempts += 1
            notification.status, notification.sent_at, notification.response_code = "sent", now, code
            notification.last_error = None
            sent += 1
        db.session.commit()
    return {"sent": sent, "failed": failed}


def _send(notification: AlertNotification, now: datetime) -> int | None:
    body = payload(notification.alert, notification.event, now)
    if notification.channel == "webhook":
        return _post(body, now)
    _mail(body)
    return None


def _post(body: dict, now: datetime) -> int:
    url = setting("ALERT_WEBHOOK_URL")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"ALERT_WEBHOOK_URL must be an http(s) URL, not {url!r}")
    data = json.dumps(body, sort_keys=True).encode()
    timestamp = int(now.timestamp())
    headers = {"Content-Type": "application/json", "User-Agent": "Switchboard-alerts",
               "X-Switchboard-Timestamp": str(timestamp)}
    secret = setting("ALERT_WEBHOOK_SECRET")
    if secret:
        headers["X-Switchboard-Signature"] = f"v1={signature(secret, timestamp, data)}"
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # raises HTTPError on 4xx/5xx
        return response.status


def _mail(body: dict) -> None:
    message = EmailMessage()
    message["From"] = setting("ALERT_EMAIL_FROM")
    message["To"] = setting("ALERT_EMAIL_TO")
    message["Subject"] = f"[Switchboard] {body['state']}: {body['title']}"
    message.set_content(f"{body['title']}\n\n{body['detail']}\n\nState: {body['state']}"
                        + (f" (acknowledged by {body['acknowledged_by']})" if body["acknowledged_by"] else "")
                        + f"\nSince: {body['started_at']}\n")
    with smtplib.SMTP(setting("SMTP_HOST"), setting("SMTP_PORT"), timeout=TIMEOUT_SECONDS) as smtp:
        if setting("SMTP_STARTTLS"):
            smtp.starttls()
        if setting("SMTP_USERNAME"):
            smtp.login(setting("SMTP_USERNAME"), setting("SMTP_PASSWORD"))
        smtp.send_message(message)
