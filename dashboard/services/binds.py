"""Carrier binds: create and update them with the password encrypted at rest."""
from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from dashboard.crypto import encrypt_secret
from dashboard.extensions import db
from dashboard.models import Bind, BindStatus, Message
from dashboard.models.carrier import BIND_MODES, CONCAT_MODES, MESSAGE_ID_FORMATS
from dashboard.services import audit, routing
from dashboard.settings import app_config
from dashboard.sms import lifecycle as lc

EDITABLE = ("name", "host", "port", "system_id", "system_type", "mode", "tps", "window",
            "enquire_link_interval", "response_timeout", "use_tls", "default_data_coding",
            "concat_mode", "message_id_format", "max_attempts", "enabled")


MAX_TPS = 100_000


class BindError(ValueError):
    pass


def _validate(values: dict[str, Any]) -> None:
    for name in ("name", "host", "system_id"):
        text = values.get(name)
        if not isinstance(text, str) or not text.strip():
            raise BindError(f"the bind's {name.replace('_', ' ')} is empty")
        if not text.isprintable():
            raise BindError(f"the bind's {name.replace('_', ' ')} contains a control character")
    if values.get("mode") not in BIND_MODES:
        raise BindError(f"bind mode must be one of {', '.join(BIND_MODES)}")
    if values.get("concat_mode", "udh") not in CONCAT_MODES:
        raise BindError(f"long-message mode must be one of {', '.join(CONCAT_MODES)}")
    if values.get("message_id_format", "auto") not in MESSAGE_ID_FORMATS:
        raise BindError(f"message id format must be one of {', '.join(MESSAGE_ID_FORMATS)}")
    if not (1 <= int(values.get("port", 0)) <= 65535):
        raise BindError("port must be between 1 and 65535")
    if len(values.get("system_id") or "") > 15:
        raise BindError("system_id is at most 15 characters (SMPP 3.4)")
    tps = float(values.get("tps", 1))
    if not math.isfinite(tps) or not 0 < tps <= MAX_TPS:
        raise BindError(f"throughput limit must be a number above 0 and at most {MAX_TPS:,} parts per second")
    for name in ("enquire_link_interval", "response_timeout"):
        if name in values and not math.isfinite(float(values[name])):
            raise BindError(f"{name.replace('_', ' ')} must be a number of seconds")
    if int(values.get("window", 1)) < 1:
        raise BindError("window must be at least 1")


def create_bind(*, password: str, **values: Any) -> Bind:
    values = {k: v for k, v in values.items() if k in EDITABLE and v is not None}
    values.setdefault("mode", "trx")
    values = {k: v.strip() if isinstance(v, str) else v for k, v in values.items()}
    _validate(values)
    if not password:
        raise BindError("a bind password is required")
    if len(password) > 8:
        # SMPP 3.4 limits password to 9 octets with its NUL; longer ones are silently cut by some SMSCs.
        raise BindError("SMPP 3.4 passwords are at most 8 characters")
    if db.session.scalar(select(Bind).where(Bind.name == values["name"])):
        raise BindError(f"a bind named {values['name']!r} already exists")
    bind = Bind(password_encrypted=encrypt_secret(app_config(), password), **values)
    bind.status = BindStatus(state="connecting" if bind.enabled is not False else "disabled")
    db.session.add(bind)
    db.session.flush()
    audit.record("bind_create", target=bind, changes=audit.diff({}, audit.snapshot(bind, EDITABLE) | {"password": 1},
                                                                 secrets=("password",)))
    db.session.commit()
    return bind


def update_bind(bind: Bind, *, password: str | None = None, **values: Any) -> Bind:
    values = {k: v.strip() if isinstance(v, str) else v for k, v in values.items() if k in EDITABLE and v is not None}
    before = audit.snapshot(bind, EDITABLE)
    merged = {k: getattr(bind, k) for k in EDITABLE} | values
    _validate(merged)
    clash = db.session.scalar(select(Bind).where(Bind.name == merged["name"], Bind.id != bind.id))
    if clash:
        raise BindError(f"a bind named {merged['name']!r} already exists")
    for key, value in values.items():
        setattr(bind, key, value)
    if password:
        if len(password) > 8:
            raise BindError("SMPP 3.4 passwords are at most 8 characters")
        bind.password_encrypted = encrypt_secret(app_config(), password)
    changes = audit.diff(before | {"password": 0}, audit.snapshot(bind, EDITABLE) | {"password": 1 if password else 0},
                         secrets=("password",))
    if changes:
        audit.record("bind_update", target=bind, changes=changes)
    db.session.commit()
    return bind


def list_binds() -> list[Bind]:
    """The binds in service (enabled or not); deleted ones are kept only for their history."""
    return list(db.session.scalars(
        select(Bind).where(Bind.deleted_at.is_(None)).order_by(Bind.name)))


def live_bind(bind_id: int) -> Bind | None:
    bind = db.session.get(Bind, bind_id)
    return bind if bind is not None and bind.deleted_at is None else None


# Messages on their way: waiting for this bind, being submitted, or accepted and awaiting receipts.
IN_FLIGHT = (lc.QUEUED, lc.SUBMITTING, lc.SUBMITTED)


def in_flight_count(bind: Bind) -> int:
    return db.session.scalar(select(func.count()).select_from(Message).where(
        Message.bind_id == bind.id, Message.status.in_(IN_FLIGHT))) or 0


def delete_bind(bind: Bind, now: datetime) -> None:
    """Take a bind out of service for good. Refused while messages are in flight on it (disable it
    instead: queued traffic fails over to other routes, receipts still come back). Its routes go;
    the row stays, disabled and renamed, because the messages it carried keep naming it."""
    waiting = in_flight_count(bind)
    if waiting:
        raise BindError(f"{waiting} message{'s are' if waiting != 1 else ' is'} in flight on "
                        f"{bind.name}: "
                        "disable it instead, and delete it once they have settled")
    routing.retire_routes_of(bind.id, now)
    audit.record("bind_delete", target=bind, changes={"name": [bind.name, None]})
    bind.enabled = False
    bind.deleted_at = now
    bind.name = f"{bind.name} (deleted {bind.id})"[:80]
    if bind.status is not None:
        bind.status.state = "disabled"
    db.session.commit()
