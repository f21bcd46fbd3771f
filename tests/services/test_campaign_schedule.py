"""Four-eyes approval, recurring schedules across DST, drafts and the dry run."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from dashboard.extensions import db
from dashboard.models import Campaign, Contact, Message, Route
from dashboard.models.types import utcnow
from dashboard.services import campaigns
from dashboard.sms.send_window import SendWindow
from tests.conftest import numbers


def _create(contact_list, sender, user=None, **options):
    return campaigns.create_campaign(name=options.pop("name", "Weekly"), list_id=contact_list.id,
                                     sender_id_id=sender.id, text=options.pop("text", "News"),
                                     scheduled_at=options.pop("scheduled_at", utcnow()),
                                     created_by_id=user.id if user else None, now=options.pop("now", utcnow()),
                                     **options)


def test_self_approval_is_refused_and_another_ops_user_approves(app, make_list, sender, make_user):
    author, colleague = make_user("author@example.com", "ops"), make_user("second@example.com", "ops")
    reviewer = make_user("compliance@example.com", "compliance")
    campaign = _create(make_list(numbers(3)), sender, author, approval_required=True)
    assert campaign.status == "awaiting_approval"
    with pytest.raises(campaigns.CampaignError, match="another user must approve"):
        campaigns.approve(campaign, author, utcnow())
    with pytest.raises(campaigns.CampaignError, match="only admin and ops"):
        campaigns.approve(campaign, reviewer, utcnow())
    assert campaigns.launch_due(utcnow()) == 0  # awaiting approval: nothing is materialised
    campaigns.approve(campaign, colleague, utcnow())
    assert (campaign.status, campaign.approved_by_id) == ("scheduled", colleague.id)
    assert campaigns.launch_due(utcnow()) == 3


def test_a_required_test_send_comes_before_approval_and_a_returned_campaign_goes_back_to_draft(
        app, make_list, sender, make_user):
    author, colleague = make_user("author@example.com", "ops"), make_user("second@example.com", "admin")
    campaign = _create(make_list(numbers(2)), sender, author, approval_required=True)
    with pytest.raises(campaigns.CampaignError, match="send a test message"):
        campaigns.approve(campaign, colleague, utcnow(), test_send_required=True)
    campaigns.reject(campaign, colleague, utcnow(), "Typo in the first line")
    assert campaign.status == "draft" and "Typo in the first line" in campaign.status_reason
    campaigns.submit_for_approval(campaign, utcnow(), approval_required=True)
    campaigns.test_send(campaign, numbers(1)[0], author, utcnow())
    campaigns.approve(campaign, colleague, utcnow(), test_send_required=True)
    assert campaign.status == "scheduled"


def test_a_weekly_berlin_schedule_fires_at_ten_local_time_across_the_end_of_dst_and_once_per_fire(
        app, make_list, sender):
    # Berlin leaves summer time on Sunday 2026-10-25: 10:00 is 08:00 UTC before, 09:00 UTC after.
    start = datetime(2026, 10, 12, 12, 0, tzinfo=timezone.utc)
    series = _create(make_list(numbers(2)), sender, recurrence="0 10 * * mon", time_zone="Europe/Berlin",
                     scheduled_at=start, now=start)
    assert series.scheduled_at == datetime(2026, 10, 19, 8, 0, tzinfo=timezone.utc)
    for now in (datetime(2026, 10, 19, 7, 59, tzinfo=timezone.utc), datetime(2026, 10, 19, 8, 0, 5, tzinfo=timezone.utc),
                datetime(2026, 10, 19, 8, 0, 30, tzinfo=timezone.utc), datetime(2026, 10, 26, 8, 30, tzinfo=timezone.utc),
                datetime(2026, 10, 26, 9, 0, 1, tzinfo=timezone.utc), datetime(2026, 10, 26, 9, 0, 2, tzinfo=timezone.utc)):
        campaigns.start_due_occurrences(now)
    runs = db.session.scalars(select(Campaign).where(Campaign.series_id == series.id)
                              .order_by(Campaign.scheduled_at)).all()
    assert [r.scheduled_at for r in runs] == [datetime(2026, 10, 19, 8, 0, tzinfo=timezone.utc),
                                             datetime(2026, 10, 26, 9, 0, tzinfo=timezone.utc)]
    assert [r.name for r in runs] == ["Weekly · 2026-10-19 10:00 CEST", "Weekly · 2026-10-26 10:00 CET"]
    db.session.refresh(series)
    assert series.scheduled_at == datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
    assert series.status == "scheduled"  # the series itself never sends
    # An occurrence launches like any campaign, exactly once.
    assert campaigns.launch_due(datetime(2026, 10, 26, 9, 0, 3, tzinfo=timezone.utc)) == 4
    assert db.session.scalar(select(func.count()).select_from(Message)
                             .where(Message.campaign_id == series.id)) == 0


def test_a_schedule_missed_while_no_worker_ran_launches_once_and_says_so(app, make_list, sender):
    start = datetime(2026, 10, 1, tzinfo=timezone.utc)
    series = _create(make_list(numbers(1)), sender, recurrence="0 9 * * *", time_zone="UTC", scheduled_at=start,
                     now=start)
    assert campaigns.start_due_occurrences(datetime(2026, 10, 5, 9, 30, tzinfo=timezone.utc)) == 1
    [run] = db.session.scalars(select(Campaign).where(Campaign.series_id == series.id)).all()
    assert run.scheduled_at == datetime(2026, 10, 5, 9, 0, tzinfo=timezone.utc)
    assert "4 earlier fire time(s) missed" in run.status_reason


def test_a_draft_waits_and_a_bad_schedule_is_refused_before_anything_is_written(app, make_list, sender):
    contact_list = make_list(numbers(2))
    draft = _create(contact_list, sender, draft=True)
    assert draft.status == "draft" and campaigns.launch_due(utcnow()) == 0
    for options, message in [({"recurrence": "every monday"}, "not a valid schedule"),
                             ({"time_zone": "Mars/Olympus"}, "unknown time zone"),
                             ({"throughput_cap": 0.0}, "above 0"), ({"failure_threshold": 150.0}, "percentage")]:
        with pytest.raises(campaigns.CampaignError, match=message):
            _create(contact_list, sender, name="Bad", **options)
    assert db.session.scalar(select(func.count()).select_from(Campaign)) == 1


def test_the_dry_run_prices_every_recipient_and_names_who_would_be_skipped(app, simulator, make_bind, make_list,
                                                                           sender):
    bind = make_bind(simulator)
    db.session.add(Route(prefix="1", bind_id=bind.id, price_per_segment=Decimal("0.0100")))
    contact_list = make_list(numbers(4))
    opted_out = db.session.scalars(select(Contact)).first()
    opted_out.global_opt_out = True
    db.session.commit()
    campaign = _create(contact_list, sender, text="x" * 200, kind="transactional")  # two parts each
    rows = list(campaigns.dry_run(campaign))
    skipped = [r for r in rows if r.skipped]
    assert [(r.phone, r.skipped) for r in skipped] == [(opted_out.phone, "opted out of all messages")]
    assert [(r.parts, r.cost) for r in rows if not r.skipped] == [(2, Decimal("0.0200"))] * 3
    assert db.session.scalar(select(func.count()).select_from(Message)) == 0  # nothing written


def test_the_dry_run_page_and_csv(app, client, auth, make_user, simulator, make_bind, make_list, sender):
    make_bind(simulator)
    contact_list = make_list(numbers(3))
    db.session.scalars(select(Contact)).first().global_opt_out = True
    db.session.commit()
    campaign = _create(contact_list, sender)
    make_user("ops@example.com", "ops")
    auth.login("ops@example.com")
    page = client.get(f"/campaigns/{campaign.id}/dry-run").data.decode()
    assert 'data-dry="recipients">2<' in page and 'data-dry="skipped">1<' in page and "opted out of all messages" in page
    csv_rows = client.post(f"/campaigns/{campaign.id}/dry-run.csv").data.decode().splitlines()
    assert csv_rows[0].startswith("phone,name,route") and len(csv_rows) == 4


def test_the_send_window_is_open_in_every_zone_of_a_number_or_not_at_all():
    window = SendWindow(9 * 60, 20 * 60, frozenset(range(5)))  # 09:00-20:00 Monday to Friday
    saturday = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
    assert window.next_open(saturday, ("Europe/Berlin",)) == datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc)
    monday_noon_utc = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
    assert window.next_open(monday_noon_utc, ("Europe/Berlin",)) == monday_noon_utc
    # 07:00 in Los Angeles: wait until 09:00 there, even though New York is open already.
    assert window.next_open(datetime(2026, 11, 30, 15, 0, tzinfo=timezone.utc),
                            ("America/New_York", "America/Los_Angeles")) == datetime(2026, 11, 30, 17, 0,
                                                                                     tzinfo=timezone.utc)
    overnight = SendWindow(20 * 60, 2 * 60, frozenset({4}))  # Friday 20:00 to Saturday 02:00
    assert overnight.is_open_in(datetime(2026, 11, 28, 1, 0, tzinfo=timezone.utc), ZoneInfo("UTC"))
    assert not overnight.is_open_in(datetime(2026, 11, 28, 3, 0, tzinfo=timezone.utc), ZoneInfo("UTC"))



