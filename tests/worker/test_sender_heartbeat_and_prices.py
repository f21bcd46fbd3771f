"""What the running sender records beside its messages: its heartbeat, and each part's price in
the route's currency — which later price changes leave alone (docs/architecture.md #10)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import Message, MessagePart, SenderWorker
from dashboard.models.types import utcnow
from dashboard.services import routing, workers
from dashboard.services.campaigns import create_campaign
from dashboard.services.reports import campaign_report
from tests.conftest import numbers, wait_for


def test_a_running_worker_writes_its_heartbeat(app, worker):
    assert not workers.sender_status(utcnow(), timedelta(seconds=20)).running
    started = worker()
    row = wait_for(
        lambda: (db.session.expire_all(), db.session.get(SenderWorker, started.worker_id))[1],
        message="the worker's first heartbeat",
    )
    assert row.heartbeat_at >= row.started_at
    status = workers.sender_status(utcnow(), timedelta(seconds=20))
    assert status.running and status.workers == (started.worker_id,)


def test_each_part_keeps_the_price_and_currency_it_was_sent_at(
    app, simulator, make_bind, make_list, sender, worker
):
    bind = make_bind(simulator)
    route = routing.create_route(destination="1", bind_id=bind.id, price="0.0110", currency="CAD")
    contact_list = make_list(numbers(3))
    campaign = create_campaign(
        name="Priced",
        list_id=contact_list.id,
        sender_id_id=sender.id,
        text="x" * 200,
        scheduled_at=utcnow(),
        created_by_id=None,
        now=utcnow(),
    )
    worker()
    wait_for(
        lambda: (
            (
                db.session.expire_all(),
                db.session.scalars(
                    select(Message.status).where(Message.campaign_id == campaign.id)
                ).all(),
            )[1]
            == ["delivered"] * 3
        ),
        timeout=30,
        message="3 delivered",
    )

    routing.update_route(route, price="0.0500", currency="CAD", priority=100, enabled=True)
    db.session.expire_all()
    parts = db.session.scalars(select(MessagePart)).all()
    assert len(parts) == 6  # two parts each
    assert {(p.price, p.currency) for p in parts} == {(Decimal("0.0110"), "CAD")}
    report = campaign_report(campaign)
    assert report.cost.format("USD") == "0.0660 CAD"
