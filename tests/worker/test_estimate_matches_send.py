"""The dry run and the estimate predict exactly whom the send skips: the opt-out rule they use is
the one the sender's claim uses (dashboard.services.suppression), global, list and brand alike."""
from __future__ import annotations

from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import Campaign, Contact, Message, SenderId, SenderRegistration
from dashboard.models.types import utcnow
from dashboard.services import consent
from dashboard.services.campaigns import create_campaign, dry_run, estimate
from tests.conftest import numbers, wait_for


def _opt_out(phone: str, **scope) -> None:
    contact = db.session.scalar(select(Contact).where(Contact.phone == phone))
    consent.record(contact, consent.OPT_OUT, source="test", evidence="said STOP", actor="tests", now=utcnow(),
                   **scope)
    db.session.commit()


def test_the_dry_run_and_the_estimate_skip_exactly_whom_the_send_skips(
        app, simulator, make_bind, make_list, worker):
    app.config["OPT_OUT_SCOPE"] = "brand"
    acme = SenderId(value="AcmeShop", kind="alphanumeric", status="approved", brand="Acme",
                    registrations=[SenderRegistration(country="US", status="approved")])
    db.session.add(acme)
    db.session.commit()
    make_bind(simulator)
    audience = numbers(8)
    contact_list = make_list(audience)
    _opt_out(audience[0])  # everything we send
    _opt_out(audience[1], list_id=contact_list.id)  # this list
    _opt_out(audience[2], brand="Acme")  # this campaign's brand
    _opt_out(audience[3], brand="Beta")  # another brand: still sent to
    campaign = create_campaign(name="autumn", list_id=contact_list.id, sender_id_id=acme.id, text="Acme sale",
                               scheduled_at=utcnow(), created_by_id=None, now=utcnow(), draft=True)

    predicted = {row.phone: row.skipped for row in dry_run(campaign) if row.skipped}
    assert predicted == {audience[0]: "opted out of all messages", audience[1]: "opted out of the list",
                         audience[2]: "opted out of Acme"}
    figures = estimate(campaign)
    assert (figures.audience, figures.suppressed, figures.recipients) == (8, 3, 5)

    db.session.execute(Campaign.__table__.update().values(status="scheduled"))
    db.session.commit()
    worker()

    def completed():
        db.session.expire_all()
        return db.session.get(Campaign, campaign.id).status == "completed"
    wait_for(completed, timeout=30, message="the campaign completed")
    reached = {f"+{m.destination_addr}" for m in simulator.messages()}
    assert set(audience) - reached == set(predicted)
    # And the one skipped at send time says why, in the same words.
    skipped = {m.destination: m.reason for m in db.session.scalars(
        select(Message).where(Message.campaign_id == campaign.id, Message.status == "skipped"))}
    assert skipped == {audience[2]: "opted out of Acme"}
