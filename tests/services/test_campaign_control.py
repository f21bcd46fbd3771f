"""Pause, resume and cancel act within a second; nothing is dropped or sent twice."""
from __future__ import annotations

import time
from collections import Counter

from sqlalchemy import func, select

from dashboard.extensions import db
from dashboard.models import Campaign, Message
from dashboard.models.types import utcnow
from dashboard.services import campaigns
from tests.conftest import numbers, wait_for


def _campaign(make_list, sender, count=120):
    contact_list = make_list(numbers(count))
    return campaigns.create_campaign(name="Weekly", list_id=contact_list.id, sender_id_id=sender.id, text="News",
                                     scheduled_at=utcnow(), created_by_id=None, now=utcnow())


def _statuses(campaign_id):
    db.session.expire_all()
    return dict(db.session.execute(select(Message.status, func.count()).where(Message.campaign_id == campaign_id)
                                   .group_by(Message.status)).all())


def test_a_paused_campaign_sends_nothing_more_and_finishes_once_resumed(
        app, simulator, make_bind, make_list, sender, worker):
    make_bind(simulator, tps=40, window=10)
    campaign = _campaign(make_list, sender)
    worker()
    wait_for(lambda: simulator.submit_count() >= 20, message="sending under way")
    campaigns.pause(db.session.get(Campaign, campaign.id), utcnow())
    time.sleep(1.0)  # a pause acts within a second…
    paused_at = simulator.submit_count()
    time.sleep(1.5)
    assert simulator.submit_count() == paused_at  # …and then nothing more goes out
    assert paused_at < 120
    assert _statuses(campaign.id).get("cancelled", 0) == 0

    campaigns.resume(db.session.get(Campaign, campaign.id), utcnow())
    wait_for(lambda: _statuses(campaign.id) == {"delivered": 120}, timeout=30, message="all delivered")
    assert set(Counter(s.destination_addr for s in simulator.submits).values()) == {1}
    wait_for(lambda: (db.session.expire_all(), db.session.get(Campaign, campaign.id).status)[1] == "completed")


def test_cancel_leaves_unsent_messages_cancelled_not_deleted(app, simulator, make_bind, make_list, sender, worker):
    make_bind(simulator, tps=40, window=10)
    campaign = _campaign(make_list, sender)
    worker()
    wait_for(lambda: simulator.submit_count() >= 20, message="sending under way")
    campaigns.cancel(db.session.get(Campaign, campaign.id), utcnow())
    time.sleep(1.5)
    sent = simulator.submit_count()
    wait_for(lambda: set(_statuses(campaign.id)) <= {"delivered", "cancelled"}, message="settled")
    statuses = _statuses(campaign.id)
    assert statuses["delivered"] == sent
    assert statuses["cancelled"] == 120 - sent
    assert db.session.get(Campaign, campaign.id).status == "cancelled"
    cancelled = db.session.scalar(select(Message).where(Message.status == "cancelled"))
    assert cancelled.reason == "campaign cancelled"


def test_the_campaign_page_pauses_through_htmx_and_offers_resume(app, client, auth, make_user, make_list, sender):
    make_user()
    auth.login()
    campaign = _campaign(make_list, sender, count=3)
    response = client.post(f"/campaigns/{campaign.id}/pause", headers={"HX-Request": "true"})
    assert response.status_code == 200
    page = response.data.decode()
    assert page.lstrip().startswith('<section id="campaign-progress" data-status="paused"')
    assert ">Resume</button>" in page and ">Pause</button>" not in page


def test_resuming_a_campaign_that_is_not_paused_says_why(app, client, auth, make_user, make_list, sender):
    make_user()
    auth.login()
    campaign = _campaign(make_list, sender, count=3)
    response = client.post(f"/campaigns/{campaign.id}/resume", headers={"HX-Request": "true"})
    assert "a scheduled campaign cannot be resumed" in response.data.decode()
    assert db.session.get(Campaign, campaign.id).status == "scheduled"


def test_a_compliance_reviewer_cannot_control_campaigns(app, client, auth, make_user, make_list, sender):
    make_user("c@example.com", "compliance")
    auth.login("c@example.com")
    campaign = _campaign(make_list, sender, count=3)
    for action in ("pause", "resume", "cancel"):
        assert client.post(f"/campaigns/{campaign.id}/{action}").status_code == 403
    assert client.get(f"/campaigns/{campaign.id}/pause").status_code == 405


def test_launch_materialises_in_batches_counting_each_recipient_once(app, make_list, sender):
    campaign = _campaign(make_list, sender, count=5)
    created = [campaigns.launch_round(utcnow(), batch_size=2) for _ in range(4)]
    assert created == [2, 2, 1, 0]
    campaign = db.session.get(Campaign, campaign.id)
    assert (campaign.materialised, campaign.status) == (5, "running")
    assert db.session.scalar(select(func.count()).select_from(Message)) == 5


def test_one_launch_call_runs_batches_until_its_time_budget_is_spent(app, make_list, sender):
    campaign = _campaign(make_list, sender, count=7)
    assert campaigns.launch_due(utcnow(), batch_size=2, budget_seconds=30) == 7
    assert db.session.get(Campaign, campaign.id).materialised == 7
    second = make_list(numbers(5, start=300), name="Second")
    other = campaigns.create_campaign(name="Other", list_id=second.id, sender_id_id=sender.id, text="News",
                                      scheduled_at=utcnow(), created_by_id=None, now=utcnow())
    assert campaigns.launch_due(utcnow(), batch_size=2, budget_seconds=0) == 2  # one round only
    assert db.session.get(Campaign, other.id).status == "launching"
