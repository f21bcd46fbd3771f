from __future__ import annotations

import pytest


@pytest.fixture
def ops(client, auth, make_user):
    make_user("ops@example.com", "ops")
    auth.login("ops@example.com")
    return client


def test_the_message_box_asks_for_the_live_counter_as_you_type(ops, make_list, sender):
    make_list(["+12025550101"])
    page = ops.get("/campaigns/new").data.decode()
    assert 'hx-get="/campaigns/segments"' in page
    assert 'hx-trigger="input changed delay:150ms, load"' in page


def test_the_counter_shows_gsm7_parts_and_room_left(ops):
    page = ops.get("/campaigns/segments", query_string={"text": "Hello €"}).data.decode()
    assert 'data-encoding="gsm7"' in page and 'data-parts="1"' in page
    assert "152 characters left in this part" in page  # € counts two septets


def test_an_emoji_switches_to_ucs2_and_names_the_character(ops):
    page = ops.get("/campaigns/segments", query_string={"text": "Hello 🎉"}).data.decode()
    assert 'data-encoding="ucs2"' in page
    assert "<code>🎉</code>" in page
    assert "62 UTF-16 units left in this part" in page  # 6 + 2 units of 70


def test_a_curly_apostrophe_is_named_with_its_gsm_lookalike(ops):
    page = ops.get("/campaigns/segments", query_string={"text": "a" * 155 + "’"}).data.decode()
    assert 'data-parts="3"' in page
    assert "<code>’</code> → <code>&#39;</code>" in page
    assert "make it cheaper" in page


def test_a_compliance_reviewer_gets_no_counter(client, auth, make_user):
    make_user("c@example.com", "compliance")
    auth.login("c@example.com")
    assert client.get("/campaigns/segments?text=x").status_code == 403


def test_a_scheduled_campaign_shows_its_estimate_by_route_after_suppression(ops, app, make_list, sender, simulator,
                                                                          make_bind):
    from datetime import timedelta
    from decimal import Decimal

    from sqlalchemy import select

    from dashboard.extensions import db
    from dashboard.models import Contact, Route
    from dashboard.models.types import utcnow
    from dashboard.services.campaigns import create_campaign, estimate
    us = make_bind(simulator, name="us-carrier")
    db.session.add_all([Route(prefix="1", bind_id=us.id, price_per_segment=Decimal("0.0075")),
                        Route(prefix="1212", bind_id=us.id, price_per_segment=Decimal("0.0100"))])
    contact_list = make_list(["+12025550101", "+12025550102", "+12125550103", "+14155550104"])
    db.session.scalar(select(Contact).where(Contact.phone == "+14155550104")).global_opt_out = True
    db.session.commit()
    text = "x" * 200  # two GSM parts
    campaign = create_campaign(name="Later", list_id=contact_list.id, sender_id_id=sender.id, text=text,
                               scheduled_at=utcnow() + timedelta(days=1), created_by_id=None, now=utcnow())
    result = estimate(campaign)
    assert (result.audience, result.suppressed, result.recipients, result.segments) == (4, 1, 3, 2)
    assert {(line.route, line.recipients, line.cost) for line in result.lines} == {
        ("1 → us-carrier", 2, Decimal("0.0300")), ("1212 → us-carrier", 1, Decimal("0.0200"))}
    assert result.total_cost == Decimal("0.0500")
    page = ops.get(f"/campaigns/{campaign.id}").data.decode()
    assert f'hx-get="/campaigns/{campaign.id}/estimate"' in page  # loaded after the page: big lists take time
    partial = ops.get(f"/campaigns/{campaign.id}/estimate").data.decode()
    assert "3 recipients after suppression" in partial and "0.0500" in partial
