"""The charts, the carrier health panel, the alerts pages and /metrics, as the console serves them."""
from __future__ import annotations

import base64
import re
from datetime import timedelta

from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import Alert, AuditLog, Bind
from dashboard.models.types import utcnow
from dashboard.services import alerts, rollups
from dashboard.sms import lifecycle as lc
from tests.services.test_rollups import Traffic, _write


def _seed_traffic(app) -> None:
    traffic = Traffic(utcnow())
    specs = [traffic.rows() for _ in range(6)] + [traffic.rows(lc.UNDELIVERABLE, "UNDELIV, err 001: x")
                                                   for _ in range(2)]
    for message, _part, _events in specs:
        message["purpose"] = "one_time_code"
    _write(traffic, *specs)
    rollups.run(utcnow(), minute_hours=48)


def _svg(html: str, chart: str) -> str:
    figure = re.search(rf'data-chart="{chart}".*?src="data:image/svg\+xml;base64,([^"]+)"', html, re.S)
    assert figure, f"no {chart} chart in the page"
    return base64.b64decode(figure.group(1)).decode()


def test_the_overview_draws_every_chart_from_the_rollups(client, auth, make_user, app):
    make_user()
    auth.login()
    _seed_traffic(app)

    page = client.get("/").get_data(as_text=True)

    for chart in ("delivery", "throughput", "cost", "failures", "latency"):
        assert f'data-chart="{chart}"' in page
    delivery = _svg(page, "delivery")
    assert "Delivery rate (%)" in delivery and "Delivered % of messages with an outcome" in delivery
    assert "75.0 % delivered of 8 messages with an outcome in the last 24 h." in page
    assert "UNDELIV err 001" in _svg(page, "failures")
    assert "USD" in _svg(page, "cost")
    assert 'id="kpi-delivered">6<' in page and 'id="kpi-failed">2<' in page
    # One-time codes met their target (95 % within 10 s): 6 delivered within 4 s, 2 failed → 75 %.
    assert re.search(r'data-kind="one_time_code".*?data-share>75\.0 %', page, re.S)


def test_an_empty_chart_says_why_it_is_empty(client, auth, make_user):
    make_user()
    auth.login()
    page = client.get("/charts/all/delivery?range=1h").get_data(as_text=True)
    assert "the rollup job has not run" in page and "<img" not in page
    rollups.run(utcnow(), minute_hours=48)
    page = client.get("/charts/all/delivery?range=1h").get_data(as_text=True)
    assert "No messages were sent or ended at all in the last 1 h." in page


def test_a_range_button_swaps_the_panel_for_its_range(client, auth, make_user, app):
    make_user()
    auth.login()
    _seed_traffic(app)
    panel = client.get("/charts/all?range=7d", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'data-range="7d"' in panel and 'aria-pressed="true" data-range="7d"' in panel
    assert panel.count("every 10s") == 5  # each of the five charts polls itself
    assert "in the last 7 days" in panel


def test_a_bind_page_shows_its_health_and_charts_and_compliance_cannot_read_them(
        client, auth, make_user, make_bind, simulator):
    bind = make_bind(simulator)
    make_user("ops@example.com", "ops")
    make_user("audit@example.com", "compliance")
    auth.login("ops@example.com")
    page = client.get(f"/binds/{bind.id}").get_data(as_text=True)
    assert 'id="bind-health"' in page and f'id="charts-bind-{bind.id}"' in page
    assert "Without a receipt after 10 min" in page
    auth.logout()
    auth.login("audit@example.com")
    assert client.get(f"/charts/bind-{bind.id}/throughput").status_code == 403
    assert client.get("/charts/bind-999/throughput").status_code == 404
    assert client.get("/charts/nonsense/throughput").status_code == 404


def test_an_open_alert_shows_on_every_page_until_it_resolves_and_says_who_acknowledged_it(
        client, auth, make_user):
    make_user()
    make_user("ops@example.com", "ops")
    auth.login("ops@example.com")
    alerts.open_system_alert("budget:USD", "Monthly budget for USD reached", "spent 10 of 10", 10.0, utcnow())
    db.session.commit()
    for url in ("/", "/campaigns/", "/binds/", "/alerts/"):
        assert 'data-alert="budget:USD" data-alert-state="firing"' in client.get(url).get_data(as_text=True)
    alert = db.session.scalar(select(Alert))

    client.post(f"/alerts/{alert.id}/acknowledge")

    banner = client.get("/alerts/banner", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'data-alert-state="acknowledged"' in banner and "ops@example.com is on it" in banner
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "alert_acknowledge")).actor == "ops@example.com"
    alerts.resolve_system_alert("budget:USD", utcnow())
    db.session.commit()
    assert "data-alert=" not in client.get("/alerts/banner").get_data(as_text=True)
    assert "Resolved" in client.get("/alerts/").get_data(as_text=True)  # kept in the history


def test_an_admin_writes_a_rule_and_bad_input_comes_back_with_the_reason(client, auth, make_user):
    make_user()
    auth.login()
    bad = client.post("/alerts/rules", data={"name": "Too strict", "kind": "delivery_rate", "threshold": "150",
                                             "scope": "all", "window_minutes": "15", "min_messages": "20",
                                             "enabled": "y"})
    assert bad.status_code == 400 and "at most 100" in bad.get_data(as_text=True)
    good = client.post("/alerts/rules", data={"name": "Delivery below 90 %", "kind": "delivery_rate",
                                              "threshold": "90", "scope": "all", "window_minutes": "15",
                                              "min_messages": "20", "enabled": "y"})
    assert good.status_code == 303
    assert "Delivery below 90 %" in client.get("/alerts/").get_data(as_text=True)
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "alert_rule_create")) is not None
    budget = client.post("/alerts/budgets", data={"currency": "usd", "amount": "lots"})
    assert budget.status_code == 400 and "not an amount" in budget.get_data(as_text=True)
    assert client.post("/alerts/budgets", data={"currency": "usd", "amount": "5000"}).status_code == 303
    target = client.post("/alerts/targets", data={"kind": "marketing", "seconds": "60", "share": "80"})
    assert target.status_code == 303
    assert "80 % delivered within 60 s" in client.get("/").get_data(as_text=True)


def test_metrics_answer_an_allowed_address_or_a_token_and_nobody_else(client, app, make_bind, simulator):
    make_bind(simulator)
    _seed_traffic(app)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'switchboard_bind_up{bind="sim"} 0.0' in text
    assert "switchboard_delivered_total 6.0" in text and "switchboard_failed_total 2.0" in text
    assert 'switchboard_receipt_latency_seconds_bucket{le="5"} 8.0' in text
    assert 'switchboard_messages{status="queued"} 0.0' in text
    assert 'switchboard_alerts_open{state="firing"} 0.0' in text

    app.config.update(METRICS_ALLOWED_NETWORKS="10.0.0.0/8", METRICS_TOKEN="scrape-me")
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer scrape-me"}).status_code == 200


def test_a_campaign_report_draws_its_run(client, auth, make_user, make_list, sender, app):
    from dashboard.services.campaigns import create_campaign
    make_user()
    auth.login()
    contact_list = make_list(["+12025550101"])
    campaign = create_campaign(name="c", list_id=contact_list.id, sender_id_id=sender.id, text="hi",
                               scheduled_at=utcnow(), created_by_id=None, now=utcnow())
    campaign.launched_at = utcnow() - timedelta(minutes=30)
    db.session.commit()
    page = client.get(f"/campaigns/{campaign.id}/report").get_data(as_text=True)
    assert 'data-range="run"' in page and "Its run" in page
    assert db.session.get(Bind, 1) is None  # no bind: the empty state speaks of the campaign
    assert "for this campaign" in page or "rollup job has not run" in page
