"""/metrics: the console's state in Prometheus' text format (prometheus-client).

Every figure is read from the database at scrape time, by a collector registered on a registry
made for the request: the rollups (messages, parts, latency histograms, throttled answers), the
binds' live state, the queue, the alerts, the notifications and the budgets. So any gunicorn
worker answers the same whole picture, and nothing is lost when one restarts: it is
multiprocess-safe by construction. If PROMETHEUS_MULTIPROC_DIR is set (prometheus-client's
multiprocess mode), metrics kept in processes are merged in as well.

Not behind a login (a scraper has no session): it answers a bearer token (METRICS_TOKEN) or a
client address in METRICS_ALLOWED_NETWORKS, else 403 (docs/monitoring.md).
"""
from __future__ import annotations

import hmac
import ipaddress
import os
from datetime import timedelta

from flask import Blueprint, Response, abort, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from dashboard.extensions import db
from dashboard.models import AlertNotification, Bind, BindStatus, Message, RollupCursor, SpendBudget, traffic_rollup
from dashboard.models.rollup import RECEIPT_LATENCY, SUBMIT_LATENCY
from dashboard.models.types import utcnow
from dashboard.services import alerts
from dashboard.services.rollups import CURSOR
from dashboard.sms import lifecycle as lc
from dashboard.sms.traffic import LATENCY_BOUNDS, SUBMIT_BOUNDS

bp = Blueprint("metrics", __name__)

IN_FLIGHT = (lc.QUEUED, lc.SUBMITTING, lc.SUBMITTED)
COUNTERS = {"submitted": "Messages whose first part the SMSC accepted",
            "parts": "Parts the SMSC accepted",
            "delivered": "Messages delivered (final receipt)",
            "failed": "Messages that failed (undeliverable, expired, rejected, refused, partially delivered)",
            "throttled": "submit_sm answered ESME_RTHROTTLED or ESME_RMSGQFUL",
            "refused": "submit_sm refused with another error",
            "timeouts": "submit_sm with no answer within the time-out"}


def machine(view):
    """For test_access: neither a role nor public, but a token or an address (see the module)."""
    view.allowed_roles = "machine"
    return view


def allowed() -> bool:
    config = current_app.config
    token = config["METRICS_TOKEN"]
    sent = request.headers.get("Authorization", "")
    if token and sent.startswith("Bearer ") and hmac.compare_digest(sent[7:].encode(), token.encode()):
        return True
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    networks = [n.strip() for n in config["METRICS_ALLOWED_NETWORKS"].split(",") if n.strip()]
    return any(address in ipaddress.ip_network(n, strict=False) for n in networks)


@bp.route("/metrics")
@machine
def metrics():
    if not allowed():
        abort(403)
    registry = CollectorRegistry()
    registry.register(DatabaseCollector())
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def _histogram(name: str, doc: str, counts: list[int], bounds, total: float) -> HistogramMetricFamily:
    cumulative, buckets = 0, []
    for bound, count in zip([*bounds, float("inf")], counts):
        cumulative += count
        buckets.append(("+Inf" if bound == float("inf") else f"{bound:g}", cumulative))
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=total)


class DatabaseCollector(Collector):
    def collect(self):
        now = utcnow()
        t = traffic_rollup
        sums = db.session.execute(select(*[func.sum(t.c[n]) for n in (*COUNTERS, *RECEIPT_LATENCY, *SUBMIT_LATENCY,
                                                                      "rl_sum", "sl_sum")])).one()
        values = [v or 0 for v in sums]
        for (name, doc), value in zip(COUNTERS.items(), values):
            counter = CounterMetricFamily(f"switchboard_{name}", doc)
            counter.add_metric([], float(value))
            yield counter
        receipt = [int(v) for v in values[len(COUNTERS):len(COUNTERS) + len(RECEIPT_LATENCY)]]
        submit = [int(v) for v in values[len(COUNTERS) + len(RECEIPT_LATENCY):-2]]
        yield _histogram("switchboard_receipt_latency_seconds", "Submit to final receipt", receipt, LATENCY_BOUNDS,
                         float(values[-2]))
        yield _histogram("switchboard_submit_latency_seconds", "submit_sm to submit_sm_resp", submit, SUBMIT_BOUNDS,
                         float(values[-1]))

        stale = timedelta(seconds=current_app.config["SENDER_STALE_SECONDS"])
        up = GaugeMetricFamily("switchboard_bind_up", "1 when the bind is bound and its sender's heartbeat is fresh",
                               labels=["bind"])
        state = GaugeMetricFamily("switchboard_bind_state", "The bind's state as its sender last wrote it",
                                  labels=["bind", "state"])
        tps = GaugeMetricFamily("switchboard_bind_tps", "Parts per second: actual, allowed now, settled, contracted",
                                labels=["bind", "rate"])
        for name, contracted, status in db.session.execute(
                select(Bind.name, Bind.tps, BindStatus).join(BindStatus, BindStatus.bind_id == Bind.id, isouter=True)
                .where(Bind.deleted_at.is_(None))).all():
            alive = status is not None and status.heartbeat_at is not None and now - status.heartbeat_at <= stale
            up.add_metric([name], 1.0 if alive and status.state == "bound" else 0.0)
            state.add_metric([name, status.state if status else "unknown"], 1.0)
            tps.add_metric([name, "contracted"], float(contracted))
            if status is not None:
                tps.add_metric([name, "actual"], float(status.current_tps if alive else 0))
                tps.add_metric([name, "allowed"], float(status.allowed_tps if alive else 0))
                if status.settled_tps is not None:
                    tps.add_metric([name, "settled"], float(status.settled_tps))
        yield up
        yield state
        yield tps

        queue = GaugeMetricFamily("switchboard_queue_depth", "Queued messages by queue priority", labels=["priority"])
        for priority, count in db.session.execute(select(Message.priority, func.count()).where(
                Message.status == lc.QUEUED).group_by(Message.priority)):
            queue.add_metric([str(priority)], float(count))
        yield queue
        in_flight = GaugeMetricFamily("switchboard_messages", "Messages not final yet, by status", labels=["status"])
        counts = dict(db.session.execute(select(Message.status, func.count()).where(Message.status.in_(IN_FLIGHT))
                                         .group_by(Message.status)).all())
        for status in IN_FLIGHT:
            in_flight.add_metric([status], float(counts.get(status, 0)))
        yield in_flight

        open_alerts = GaugeMetricFamily("switchboard_alerts_open", "Open alerts by state", labels=["state"])
        for alert_state, count in alerts.open_counts().items():
            open_alerts.add_metric([alert_state], float(count))
        yield open_alerts
        notifications = GaugeMetricFamily("switchboard_alert_notifications",
                                          "Alert notifications (webhook, e-mail) by status: pending ones include "
                                          "those retrying after a failure; failed ones were given up",
                                          labels=["channel", "status"])
        for channel, status, count in db.session.execute(
                select(AlertNotification.channel, AlertNotification.status, func.count())
                .group_by(AlertNotification.channel, AlertNotification.status)):
            notifications.add_metric([channel, status], float(count))
        yield notifications
        failures = CounterMetricFamily("switchboard_alert_webhook_failures",
                                       "Failed attempts to deliver alert webhooks")
        failures.add_metric([], float(db.session.scalar(
            select(func.coalesce(func.sum(AlertNotification.attempts), 0)).where(
                AlertNotification.channel == "webhook", AlertNotification.status != "sent")) or 0)
            + float(db.session.scalar(select(func.coalesce(func.sum(AlertNotification.attempts - 1), 0)).where(
                AlertNotification.channel == "webhook", AlertNotification.status == "sent")) or 0))
        yield failures

        held = GaugeMetricFamily("switchboard_budget_reached", "1 while a currency's monthly budget holds sending",
                                 labels=["currency"])
        for currency, reached in db.session.execute(select(SpendBudget.currency, SpendBudget.reached_at)):
            held.add_metric([currency], 1.0 if reached else 0.0)
        yield held
        cursor = db.session.get(RollupCursor, CURSOR)
        lag = GaugeMetricFamily("switchboard_rollup_age_seconds", "Seconds since the rollup job last ran")
        lag.add_metric([], (now - cursor.updated_at).total_seconds() if cursor and cursor.updated_at else float("nan"))
        yield lag
