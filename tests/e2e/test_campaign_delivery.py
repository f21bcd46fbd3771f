"""The walking skeleton, end to end: campaign → scheduler → SMPP → simulator → receipts."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select

from dashboard.extensions import db
from dashboard.models import Campaign, Message, Route
from dashboard.models.types import utcnow
from dashboard.services.campaigns import cost_so_far, create_campaign
from dashboard.simulator import OutcomeRule
from dashboard.sms.money import MoneyTotals
from tests.conftest import numbers, wait_for


def _status_counts(campaign_id: int) -> dict[str, int]:
    db.session.expire_all()
    return dict(db.session.execute(select(Message.status, func.count()).where(Message.campaign_id == campaign_id)
                                   .group_by(Message.status)).all())


def test_a_campaign_to_twenty_contacts_is_sent_once_each_and_receipts_come_back(
        app, make_simulator, make_bind, make_list, sender, worker):
    # Numbers ending in 7 are undeliverable at this SMSC: 2 of the 20 (…0107 and …0117).
    simulator = make_simulator(outcomes=[OutcomeRule(r"7$", "UNDELIV")])
    bind = make_bind(simulator)
    db.session.add(Route(prefix="1", bind_id=bind.id, price_per_segment=Decimal("0.0100")))
    db.session.commit()
    audience = numbers(20)
    contact_list = make_list(audience)
    campaign = create_campaign(name="Spring sale", list_id=contact_list.id, sender_id_id=sender.id,
                               text="Spring sale: 20% off today only", scheduled_at=utcnow(), created_by_id=None,
                               now=utcnow())
    worker()

    wait_for(lambda: sum(_status_counts(campaign.id).get(s, 0) for s in ("delivered", "undeliverable")) == 20,
             timeout=30, message="20 messages in a final state")

    assert _status_counts(campaign.id) == {"delivered": 18, "undeliverable": 2}
    submits = [s for s in simulator.submits if s.accepted]
    assert len(submits) == 20
    assert sorted(s.destination_addr for s in submits) == sorted(n.lstrip("+") for n in audience)
    wait_for(lambda: db.session.get(Campaign, campaign.id).status == "completed" or db.session.expire_all(),
             timeout=10, message="campaign completed")
    # Every submitted part carries the price of its route; undeliverable ones were still paid for
    # (counted by the rollup job, which runs every second here).
    wait_for(lambda: cost_so_far(db.session.get(Campaign, campaign.id)) == MoneyTotals([("USD", Decimal("0.2000"))]),
             timeout=10, message="the campaign's cost, rolled up")


def test_a_multipart_unicode_message_is_sent_as_parts_and_reassembles_exactly(
        app, simulator, make_bind, sender, worker, runner):
    make_bind(simulator)
    text = "Grüße aus Köln 🎉 " * 6  # UCS-2 because of the emoji: 2 units each
    result = runner.invoke(args=["send", "--to", numbers(1)[0], "--text", text, "--from", "Switchboard"])
    assert result.exit_code == 0, result.output
    message_id = int(result.output.split()[0])
    worker()
    wait_for(lambda: (db.session.expire_all(), db.session.get(Message, message_id).status)[1] == "delivered",
             message="multipart message delivered")
    message = db.session.get(Message, message_id)
    assert [p.status for p in message.parts] == ["delivered"] * message.segments
    assert message.segments > 1
    assembled = simulator.messages()
    assert [m.text for m in assembled] == [text]
    assert assembled[0].parts == message.segments
