"""Alerts: the rules admins write (audited), their evaluation by the worker's job, the alerts they
raise — firing, acknowledged (by whom), resolved, kept as history — and the notifications owed for
each change, which the worker delivers (dashboard/services/notifications.py).

The decisions are dashboard.sms.alerts' (should_fire, should_resolve); this module measures, from
the rollups and the binds' live state, and acts. Other services raise alerts of their own through
`open_system_alert` (the monthly budget).
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from dashboard.extensions import db
from dashboard.models import (
    Alert,
    AlertNotification,
    AlertRule,
    Bind,
    BindStatus,
    Campaign,
    User,
    spend_rollup,
    traffic_rollup,
)
from dashboard.services import audit, traffic
from dashboard.settings import setting
from dashboard.sms.alerts import (
    ACKNOWLEDGED,
    FIRING,
    OPEN,
    RESOLVED,
    RULE_KINDS,
    Measurement,
    RuleKind,
    describe,
    should_fire,
    should_resolve,
)
from dashboard.sms.money import MoneyError, currency_code

AUDITED = ("name", "kind", "scope", "scope_value", "threshold", "window_minutes", "min_messages", "currency",
           "email", "enabled")
SCOPE_COLUMN = {"bind": "bind_id", "country": "country", "campaign": "campaign_id"}


class AlertError(ValueError):
    pass


@dataclass(frozen=True)
class RuleSettings:
    name: str
    kind: str
    threshold: float
    scope: str = "all"
    scope_value: str = ""
    window_minutes: int = 15
    min_messages: int = 20
    currency: str | None = None
    email: bool = False
    enabled: bool = True


def _checked(values: RuleSettings) -> dict:
    kind = RULE_KINDS.get(values.kind)
    if kind is None:
        raise AlertError(f"unknown kind of rule {values.kind!r}")
    if not values.name.strip():
        raise AlertError("the rule needs a name")
    if values.scope not in kind.scopes:
        raise AlertError(f"a {kind.label.lower()} rule applies to: {', '.join(kind.scopes)}")
    scope_value = (values.scope_value or "").strip()
    if values.scope in ("bind", "campaign"):
        model = Bind if values.scope == "bind" else Campaign
        if not scope_value.isdigit() or db.session.get(model, int(scope_value)) is None:
            raise AlertError(f"no such {values.scope} {scope_value!r}")
    elif values.scope == "country":
        if len(scope_value) != 2 or not scope_value.isalpha():
            raise AlertError("give the country as its two-letter code, e.g. US")
        scope_value = scope_value.upper()
    else:
        scope_value = ""
    if not math.isfinite(values.threshold) or values.threshold < 0:
        raise AlertError("the threshold must be a number of 0 or more")
    if kind.unit == "%" and values.threshold > 100:
        raise AlertError("the threshold is a percentage: at most 100")
    if not 1 <= values.window_minutes <= 24 * 60:
        raise AlertError("the window is between 1 minute and 24 hours")
    if not 0 <= values.min_messages <= 1_000_000:
        raise AlertError("the minimum number of messages is between 0 and 1,000,000")
    currency = None
    if kind.key == "cost_per_hour":
        try:
            currency = currency_code(values.currency or "")
        except MoneyError as exc:
            raise AlertError(str(exc)) from None
    return dict(name=values.name.strip(), kind=kind.key, threshold=float(values.threshold), scope=values.scope,
                scope_value=scope_value, window_minutes=values.window_minutes, min_messages=values.min_messages,
                currency=currency, email=values.email, enabled=values.enabled)


def create_rule(values: RuleSettings, now: datetime) -> AlertRule:
    rule = AlertRule(created_at=now, **_checked(values))
    db.session.add(rule)
    db.session.flush()
    audit.record("alert_rule_create", target=rule, changes=audit.diff({}, audit.snapshot(rule, AUDITED)), now=now)
    db.session.commit()
    return rule


def update_rule(rule: AlertRule, values: RuleSettings, now: datetime) -> AlertRule:
    before = audit.snapshot(rule, AUDITED)
    for name, value in _checked(values).items():
        setattr(rule, name, value)
    changes = audit.diff(before, audit.snapshot(rule, AUDITED))
    if changes:
        audit.record("alert_rule_update", target=rule, changes=changes, now=now)
    db.session.commit()
    return rule


def delete_rule(rule: AlertRule, now: datetime) -> None:
    """The rule stops; it stays for the history of its alerts, whose open ones resolve."""
    rule.enabled, rule.deleted_at = False, now
    for alert in _open_alerts(rule_id=rule.id):
        _resolve(alert, now, "its rule was deleted")
    audit.record("alert_rule_delete", target=rule, changes={"name": [rule.name, None]}, now=now)
    db.session.commit()


def rules() -> list[AlertRule]:
    return list(db.session.scalars(select(AlertRule).where(AlertRule.deleted_at.is_(None)).order_by(AlertRule.id)))


# ----------------------------------------------------------------------------- alert states


def _open_alerts(**where) -> list[Alert]:
    query = select(Alert).where(Alert.state.in_(OPEN))
    for name, value in where.items():
        query = query.where(getattr(Alert, name) == value)
    return list(db.session.scalars(query.order_by(Alert.id)))


def open_alerts() -> list[Alert]:
    """What the banner shows on every page: firing first, then acknowledged, newest first."""
    return list(db.session.scalars(select(Alert).where(Alert.state.in_(OPEN))
                                   .order_by(Alert.state.desc(), Alert.started_at.desc())))


def history(limit: int = 100) -> list[Alert]:
    return list(db.session.scalars(select(Alert).order_by(Alert.id.desc()).limit(limit)))


def _notify(alert: Alert, event: str, email: bool, now: datetime) -> None:
    """The notifications this change owes, written in its transaction; the worker sends them."""
    if setting("ALERT_WEBHOOK_URL"):
        db.session.add(AlertNotification(alert=alert, channel="webhook", event=event, next_attempt_at=now,
                                         created_at=now))
    if email and setting("ALERT_EMAIL_TO") and setting("SMTP_HOST"):
        db.session.add(AlertNotification(alert=alert, channel="email", event=event, next_attempt_at=now,
                                         created_at=now))


def _fire(key: str, title: str, detail: str, value: float | None, now: datetime, rule: AlertRule | None) -> Alert:
    alert = Alert(rule_id=rule.id if rule else None, key=key, title=title, detail=detail, state=FIRING, value=value,
                  started_at=now)
    db.session.add(alert)
    db.session.flush()
    _notify(alert, FIRING, rule.email if rule else True, now)
    return alert


def _resolve(alert: Alert, now: datetime, why: str) -> None:
    alert.state, alert.resolved_at = RESOLVED, now
    alert.detail = f"{alert.detail}\nResolved: {why}" if alert.detail else f"Resolved: {why}"
    _notify(alert, RESOLVED, alert.rule.email if alert.rule else True, now)


def acknowledge(alert: Alert, user: User, now: datetime) -> None:
    """Someone is on it: the alert stays open, and says who."""
    if alert.state != FIRING:
        raise AlertError(f"this alert is {alert.state}, not firing")
    alert.state, alert.acknowledged_at, alert.acknowledged_by = ACKNOWLEDGED, now, user.email
    audit.record("alert_acknowledge", target=alert, changes={"state": [FIRING, ACKNOWLEDGED]}, detail=alert.title,
                 now=now)
    _notify(alert, ACKNOWLEDGED, alert.rule.email if alert.rule else True, now)
    db.session.commit()


def open_system_alert(key: str, title: str, detail: str, value: float | None, now: datetime) -> Alert:
    """An alert another service raises (the monthly budget); one open per key. The caller commits."""
    existing = _open_alerts(key=key)
    if existing:
        existing[0].value, existing[0].detail = value, detail
        return existing[0]
    return _fire(key, title, detail, value, now, None)


def resolve_system_alert(key: str, now: datetime) -> None:
    for alert in _open_alerts(key=key):
        _resolve(alert, now, "back within its limit")


# ----------------------------------------------------------------------------- evaluation


def evaluate(now: datetime) -> dict[str, int]:
    """The worker's job: measure every enabled rule, fire what crossed its threshold, resolve what
    recovered. Returns how many fired and resolved."""
    fired = resolved = 0
    open_by_key = {a.key: a for a in _open_alerts() if a.rule_id is not None}
    for rule in db.session.scalars(select(AlertRule).where(AlertRule.enabled.is_(True),
                                                           AlertRule.deleted_at.is_(None))).all():
        kind = RULE_KINDS[rule.kind]
        measured = {m.item: m for m in MEASURES[rule.kind](rule, now)}
        prefix = f"rule:{rule.id}:"
        for item, measurement in measured.items():
            key = prefix + item
            if key not in open_by_key and should_fire(kind, measurement, rule.threshold, rule.min_messages):
                _fire(key, f"{rule.name}", describe(kind, measurement, rule.threshold, rule.window_minutes),
                      measurement.value, now, rule)
                fired += 1
            elif key in open_by_key and measurement.value is not None:
                open_by_key[key].value = measurement.value
        for key, alert in open_by_key.items():
            if not key.startswith(prefix):
                continue
            measurement = measured.get(key[len(prefix):])
            if should_resolve(kind, measurement, rule.threshold, rule.min_messages):
                _resolve(alert, now, describe(kind, measurement, rule.threshold, rule.window_minutes)
                         if measurement and measurement.value is not None else "nothing left to measure")
                resolved += 1
    db.session.commit()
    return {"fired": fired, "resolved": resolved}


def _bind_names() -> dict[int, str]:
    return dict(db.session.execute(select(Bind.id, Bind.name)).all())


def _item(rule: AlertRule, key) -> tuple[str, str]:
    """The scope item a grouped row belongs to, and its label."""
    if rule.scope == "all" and rule.kind not in ("bind_down", "throttling", "errors", "receipts_missing"):
        return "", ""
    column = "bind" if rule.scope == "all" else rule.scope
    if column == "bind":
        return f"bind:{key}", f"bind “{_bind_names().get(key, key)}”"
    return f"{column}:{key}", f"{column} {key}"


def _traffic_by(rule: AlertRule, now: datetime, *measures: str) -> dict:
    """The rule's window of the traffic rollups, summed per scope item."""
    t = traffic_rollup
    scope_column = t.c[SCOPE_COLUMN.get(rule.scope, "bind_id")]
    wanted = [t.c.period_start >= now - timedelta(minutes=rule.window_minutes)]
    if rule.scope in SCOPE_COLUMN:
        value = rule.scope_value if rule.scope == "country" else int(rule.scope_value or 0)
        wanted.append(scope_column == value)
    per_item = rule.scope != "all" or rule.kind in ("throttling", "errors", "receipts_missing")
    columns = [scope_column] if per_item else []
    rows = db.session.execute(select(*columns, *[func.sum(t.c[m]) for m in measures]).where(*wanted)
                              .group_by(*columns)).all()
    return {(row[0] if per_item else None): [int(v or 0) for v in row[len(columns):]] for row in rows}


def _measure_delivery_rate(rule: AlertRule, now: datetime) -> list[Measurement]:
    result = []
    for key, (delivered, failed) in _traffic_by(rule, now, "delivered", "failed").items():
        item, label = _item(rule, key) if key is not None else ("", "")
        judged = delivered + failed
        result.append(Measurement(item, label, 100.0 * delivered / judged if judged else None, judged))
    return result


def _measure_cost(rule: AlertRule, now: datetime) -> list[Measurement]:
    s = spend_rollup
    wanted = [s.c.period_start >= now - timedelta(hours=1), s.c.currency == rule.currency]
    if rule.scope in ("bind", "campaign"):
        wanted.append(s.c[SCOPE_COLUMN[rule.scope]] == int(rule.scope_value))
    spent = db.session.scalar(select(func.sum(s.c.amount)).where(*wanted))
    item, label = ("", "") if rule.scope == "all" else _item(rule, int(rule.scope_value))
    return [Measurement(item, label, float(spent or 0), 0)]


def _measure_bind_down(rule: AlertRule, now: datetime) -> list[Measurement]:
    """Seconds each enabled bind has been other than bound. With no sender running, no bind is
    bound, whatever its last written state says."""
    stale = timedelta(seconds=setting("SENDER_STALE_SECONDS"))
    from_binds = select(Bind.id, Bind.name, BindStatus.state, BindStatus.state_since, BindStatus.heartbeat_at).join(
        BindStatus, BindStatus.bind_id == Bind.id, isouter=True).where(Bind.enabled.is_(True), Bind.deleted_at.is_(None))
    if rule.scope == "bind":
        from_binds = from_binds.where(Bind.id == int(rule.scope_value))
    result = []
    for bind_id, name, state, since, heartbeat in db.session.execute(from_binds):
        alive = heartbeat is not None and now - heartbeat <= stale
        if state == "bound" and alive:
            down = 0.0
        else:
            began = since if state != "bound" else heartbeat
            down = (now - began).total_seconds() if began else 0.0
        result.append(Measurement(f"bind:{bind_id}", f"bind “{name}”", down, 0))
    return result


def _measure_answers(*measures: str):
    def measure(rule: AlertRule, now: datetime) -> list[Measurement]:
        result = []
        for key, values in _traffic_by(rule, now, *measures).items():
            item, label = _item(rule, key)
            result.append(Measurement(item, label, float(sum(values)), 0))
        return result
    return measure


def _measure_receipts_missing(rule: AlertRule, now: datetime) -> list[Measurement]:
    """Of the messages submitted in the window before RECEIPT_MISSING_MINUTES ago, the share still
    waiting for their final receipt, per bind."""
    late = timedelta(minutes=setting("RECEIPT_MISSING_MINUTES"))
    window = timedelta(minutes=rule.window_minutes)
    t = traffic_rollup
    wanted = [t.c.period_start >= now - late - window, t.c.period_start < now - late]
    if rule.scope == "bind":
        wanted.append(t.c.bind_id == int(rule.scope_value))
    sent = dict(db.session.execute(select(t.c.bind_id, func.sum(t.c.submitted)).where(*wanted)
                                   .group_by(t.c.bind_id)).all())
    waiting = traffic.receipts_missing(now, late, window)
    return [Measurement(*_item(rule, bind_id), 100.0 * waiting.get(bind_id, 0) / int(count) if count else None,
                        int(count or 0)) for bind_id, count in sent.items() if bind_id]


def _measure_latency_targets(rule: AlertRule, now: datetime) -> list[Measurement]:
    return [Measurement(f"kind:{t.target.kind}", t.label, t.share, t.with_outcome, threshold=t.target.share)
            for t in traffic.targets_since(traffic.start_of_day(now))]


MEASURES = {
    "delivery_rate": _measure_delivery_rate,
    "cost_per_hour": _measure_cost,
    "bind_down": _measure_bind_down,
    "throttling": _measure_answers("throttled"),
    "errors": _measure_answers("refused", "timeouts"),
    "receipts_missing": _measure_receipts_missing,
    "latency_target": _measure_latency_targets,
}


def open_counts() -> dict[str, int]:
    """Open alerts by state, for /metrics."""
    counts = defaultdict(int, dict(db.session.execute(select(Alert.state, func.count()).where(
        Alert.state.in_(OPEN)).group_by(Alert.state)).all()))
    return {state: counts[state] for state in OPEN}


def kind_of(rule: AlertRule) -> RuleKind:
    return RULE_KINDS[rule.kind]
