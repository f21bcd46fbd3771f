"""Alerts and budgets end to end: the real worker (rollups, evaluation, notifications) against the
simulator; the webhook received by a local HTTP server that checks its signature, the e-mail by a
local SMTP server (aiosmtpd)."""
from __future__ import annotations

import json
import socket
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from dashboard.extensions import db
from dashboard.models import Alert, AlertNotification, AuditLog, Campaign, Message, SpendBudget
from dashboard.models.types import utcnow
from dashboard.services import alerts, budgets, notifications
from dashboard.services.campaigns import create_campaign
from dashboard.services.routing import create_route
from dashboard.services.sending.enqueue import enqueue
from dashboard.services.users import create_user
from dashboard.simulator import OutcomeRule
from dashboard.sms import lifecycle as lc
from dashboard.sms.alerts import signature
from tests.conftest import PASSWORD, approved_sender, numbers, wait_for

SECRET = "webhook-secret"


class Receiver:
    """An alert webhook receiver on loopback: keeps each call whose signature checks out, and
    answers `status` (a list: one answer per call, the last repeated)."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.refused: list[str] = []
        self.answers = [200]
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                timestamp = int(self.headers["X-Switchboard-Timestamp"])
                expected = f"v1={signature(SECRET, timestamp, body)}"
                if self.headers.get("X-Switchboard-Signature") != expected:
                    receiver.refused.append("bad signature")
                    self.send_response(401)
                else:
                    answer = receiver.answers.pop(0) if len(receiver.answers) > 1 else receiver.answers[0]
                    if answer == 200:
                        receiver.calls.append(json.loads(body))
                    self.send_response(answer)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.content.decode())
        return "250 OK"


@pytest.fixture
def receiver():
    found = Receiver()
    yield found
    found.stop()


@pytest.fixture
def mailbox():
    box = Mailbox()
    with socket.socket() as probe:  # aiosmtpd checks it is up by connecting to its port: no port 0
        probe.bind(("127.0.0.1", 0))
        box.port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    yield box
    controller.stop()


def _alerting_to(app, receiver: Receiver, mailbox: Mailbox | None = None) -> None:
    app.config.update(ALERT_WEBHOOK_URL=receiver.url, ALERT_WEBHOOK_SECRET=SECRET)
    if mailbox is not None:
        app.config.update(ALERT_EMAIL_TO="ops@example.com", SMTP_HOST="127.0.0.1", SMTP_PORT=mailbox.port)


def _final(count: int) -> bool:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Message).where(Message.status.in_(lc.FINAL))) == count


def _alert_states() -> list[str]:
    db.session.expire_all()
    return [a.state for a in db.session.scalars(select(Alert).where(Alert.rule_id.is_not(None)).order_by(Alert.id))]


def test_an_alert_fires_when_the_outcome_mix_degrades_and_resolves_when_it_recovers(
        app, mailbox, receiver, make_simulator, make_bind, worker):
    # The mailbox and the receiver come before the worker: fixtures stop in reverse order, so the
    # worker stops first and no e-mail is being sent when the SMTP server's loop closes.
    _alerting_to(app, receiver, mailbox)
    simulator = make_simulator(receipt_delay=0.05)
    bind = make_bind(simulator)
    approved_sender()
    rule = alerts.create_rule(alerts.RuleSettings(name="Delivery below 80 %", kind="delivery_rate", threshold=80,
                                                  scope="bind", scope_value=str(bind.id), window_minutes=10,
                                                  min_messages=10, email=True), utcnow())
    worker()
    enqueue(destinations=numbers(20), text="All well", source="Switchboard", now=utcnow())
    wait_for(lambda: _final(20), message="the healthy traffic ends")

    simulator.set_outcomes([OutcomeRule(".", "UNDELIV")])  # the carrier starts losing everything
    enqueue(destinations=numbers(20, start=200), text="Into the void", source="Switchboard", now=utcnow())
    wait_for(lambda: _alert_states() == ["firing"], timeout=30, message="the alert fires")
    wait_for(lambda: len(receiver.calls) == 1 and len(mailbox.messages) == 1, timeout=20,
             message="the worker sends the webhook and the e-mail")
    fired = receiver.calls[0]
    assert fired["event"] == "firing" and fired["key"] == f"rule:{rule.id}:bind:{bind.id}"
    assert "below 80 %" in fired["detail"] and receiver.refused == []
    assert "firing: Delivery below 80 %" in mailbox.messages[0]

    simulator.set_outcomes([])  # it recovers: enough good traffic lifts the window's rate again
    enqueue(destinations=numbers(80, start=300), text="Back to normal", source="Switchboard", now=utcnow())
    wait_for(lambda: _alert_states() == ["resolved"], timeout=40, message="the alert resolves")
    wait_for(lambda: [c["event"] for c in receiver.calls] == ["firing", "resolved"] and len(mailbox.messages) == 2,
             timeout=20, message="the resolution is sent too, by webhook and by e-mail")
    assert "resolved: Delivery below 80 %" in mailbox.messages[1]
    alert = db.session.scalar(select(Alert))
    assert alert.resolved_at is not None and "Resolved" in alert.detail


def test_a_webhook_that_fails_is_tried_again_later_and_signed_each_time(app, receiver):
    _alerting_to(app, receiver)
    receiver.answers = [500, 200]
    now = utcnow()
    alerts.open_system_alert("budget:USD", "Monthly budget for USD reached", "spent", 10.0, now)
    db.session.commit()

    assert notifications.deliver_due(now) == {"sent": 0, "failed": 1}
    pending = db.session.scalar(select(AlertNotification))
    assert pending.status == "pending" and pending.attempts == 1 and pending.response_code == 500
    assert pending.next_attempt_at >= now + timedelta(seconds=20)  # back-off, not at once
    assert notifications.deliver_due(now + timedelta(seconds=5)) == {"sent": 0, "failed": 0}

    assert notifications.deliver_due(now + timedelta(minutes=2)) == {"sent": 1, "failed": 0}
    assert [c["key"] for c in receiver.calls] == ["budget:USD"] and receiver.refused == []
    db.session.refresh(pending)
    assert pending.status == "sent" and pending.attempts == 2


def test_the_monthly_budget_pauses_sending_and_a_raised_budget_lets_it_go_on(
        app, make_simulator, make_bind, make_list, worker):
    simulator = make_simulator(receipt_delay=0.05)
    bind = make_bind(simulator, tps=4, window=2)  # slow enough to watch the budget land
    create_route(destination="US", bind_id=bind.id, price="0.0100", currency="USD")
    sender = approved_sender()
    contact_list = make_list(numbers(10, start=400), name="Budgeted")
    budgets.set_budget("USD", "0.05", utcnow())
    campaign = create_campaign(name="Spend", list_id=contact_list.id, sender_id_id=sender.id, text="Hi",
                               scheduled_at=utcnow() + timedelta(seconds=3), created_by_id=None, now=utcnow())
    enqueue(destinations=numbers(30), text="One-off", source="Switchboard", now=utcnow())
    worker()

    wait_for(lambda: _reached("USD"), timeout=30, message="the budget is reached")
    wait_for(lambda: _campaign_status(campaign.id) == "paused", timeout=20, message="the campaign pauses")
    # What was claimed before the budget landed is answered (at most a window): then nothing more.
    wait_for(lambda: _in_flight() == 0, timeout=10, message="the last claimed messages are answered")
    sent = _submitted()
    time.sleep(2)
    assert _submitted() == sent  # nothing more goes…
    queued = _queued()
    assert queued > 0  # …and nothing is dropped: it waits
    paused = db.session.get(Campaign, campaign.id)
    assert paused.status_reason.startswith("monthly budget reached")
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "campaign_pause",
                                                    AuditLog.target_id == campaign.id)) is not None
    assert [a.key for a in alerts.open_alerts()] == ["budget:USD"]
    waiting = db.session.scalar(select(Message).where(Message.status == lc.QUEUED, Message.campaign_id.is_(None)))
    assert waiting is not None  # a one-off waits, and its page says why
    page = app.test_client()
    create_user("ops@example.com", "ops", PASSWORD)
    page.post("/login", data={"email": "ops@example.com", "password": PASSWORD})
    assert "the monthly budget for USD was reached" in page.get(f"/messages/{waiting.id}").get_data(as_text=True)

    budgets.set_budget("USD", "100", utcnow())  # raised: one-off traffic goes on by itself
    wait_for(lambda: _submitted() > sent, timeout=20, message="sending goes on after the raise")
    wait_for(lambda: not alerts.open_alerts(), timeout=20, message="the budget alert resolves")
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "budget_set")) is not None


def _reached(currency: str) -> bool:
    db.session.expire_all()
    budget = db.session.get(SpendBudget, currency)
    return budget is not None and budget.reached_at is not None


def _campaign_status(campaign_id: int) -> str:
    db.session.expire_all()
    return db.session.get(Campaign, campaign_id).status


def _submitted() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Message).where(Message.submitted_at.is_not(None)))


def _in_flight() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Message).where(Message.status == lc.SUBMITTING))


def _queued() -> int:
    return db.session.scalar(select(func.count()).select_from(Message).where(Message.status == lc.QUEUED))


def test_a_rule_with_bad_settings_is_refused_with_the_reason(app):
    with pytest.raises(alerts.AlertError, match="at most 100"):
        alerts.create_rule(alerts.RuleSettings(name="x", kind="delivery_rate", threshold=150), utcnow())
    with pytest.raises(alerts.AlertError, match="currency"):
        alerts.create_rule(alerts.RuleSettings(name="x", kind="cost_per_hour", threshold=5, currency="dollars"),
                           utcnow())
    with pytest.raises(alerts.AlertError, match="no such bind"):
        alerts.create_rule(alerts.RuleSettings(name="x", kind="bind_down", threshold=30, scope="bind",
                                               scope_value="99"), utcnow())
    assert alerts.rules() == []
