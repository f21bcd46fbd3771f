"""Sender registrations per country: a campaign goes only where its sender is approved."""
from __future__ import annotations

import pytest
from sqlalchemy import select, text

from dashboard.extensions import db
from dashboard.models import Contact, SenderId, SenderRegistration
from dashboard.models.types import utcnow
from dashboard.services import senders
from dashboard.services.campaigns import CampaignError, create_campaign

US, DE, FR = "+12025550101", "+4915112345678", "+33612345678"


@pytest.fixture
def acme(app):
    sender = SenderId(value="ACME", kind="alphanumeric", status="approved")
    db.session.add(sender)
    db.session.commit()
    return sender


def register(sender, country, status, **fields):
    return senders.save_registration(sender, country, status, now=utcnow(), **fields)


def test_contacts_get_the_country_of_their_number(make_list):
    make_list([US, DE])
    assert dict(db.session.execute(select(Contact.phone, Contact.country)).all()) == {US: "US", DE: "DE"}


def test_each_audience_country_without_an_approval_is_named(make_list, acme):
    contact_list = make_list([US, DE, FR])
    register(acme, "US", "approved")
    register(acme, "DE", "pending")
    assert senders.approval_problems(acme, contact_list.id) == [
        "sender ACME is not approved for DE (pending)", "sender ACME is not approved for FR (no registration)"]
    register(acme, "fr", "rejected")
    assert senders.approval_problems(acme, contact_list.id)[-1] == "sender ACME is not approved for FR (rejected)"
    register(acme, "DE", "approved")
    register(acme, "FR", "approved")
    assert senders.approval_problems(acme, contact_list.id) == []


def test_only_the_subscribed_audience_counts(make_list, acme):
    from dashboard.services import consent
    contact_list = make_list([US, DE])
    register(acme, "US", "approved")
    german = db.session.scalar(select(Contact).where(Contact.phone == DE))
    consent.record(german, consent.OPT_OUT, source="admin", evidence="asked", actor="t", now=utcnow(),
                   list_id=contact_list.id)
    db.session.commit()
    assert senders.approval_problems(acme, contact_list.id) == []


def test_a_sender_without_registrations_is_refused_unless_the_setting_allows_it(app, make_list, acme):
    contact_list = make_list([US])
    assert senders.approval_problems(acme, contact_list.id) == ["sender ACME is not approved for US (no registration)"]
    app.config["SENDER_REGISTRATION_REQUIRED"] = False
    assert senders.approval_problems(acme, contact_list.id) == []
    register(acme, "DE", "approved")  # once it has registrations, they are what counts
    assert senders.approval_problems(acme, contact_list.id) == ["sender ACME is not approved for US (no registration)"]


def test_a_contact_of_unknown_country_is_reported(make_list, acme):
    contact_list = make_list([US])
    register(acme, "US", "approved")
    db.session.execute(text("UPDATE contact SET country = NULL"))
    assert senders.approval_problems(acme, contact_list.id) == [
        "sender ACME is not approved for some numbers (unknown country)"]


def test_a_campaign_cannot_be_created_for_countries_the_sender_is_not_approved_in(make_list, acme):
    contact_list = make_list([US, DE])
    register(acme, "US", "approved")
    register(acme, "DE", "pending")
    with pytest.raises(CampaignError, match=r"^sender ACME is not approved for DE \(pending\)$"):
        create_campaign(name="x", list_id=contact_list.id, sender_id_id=acme.id, text="hi", scheduled_at=utcnow(),
                        created_by_id=None, now=utcnow())
    register(acme, "DE", "approved")
    assert create_campaign(name="x", list_id=contact_list.id, sender_id_id=acme.id, text="hi",
                           scheduled_at=utcnow(), created_by_id=None, now=utcnow()).id


def test_the_plain_rows_the_sending_path_reads_get_the_same_verdicts_as_the_sender_itself(app, acme):
    """enqueue reads senders with for_sending (plain rows, one query), the console with the ORM:
    one rule (sending_problems) must answer both the same, registrations or none."""
    suspended = SenderId(value="OLDCO", kind="alphanumeric", status="suspended", brand="Old Co")
    db.session.add(suspended)
    db.session.commit()
    register(acme, "US", "approved")
    register(acme, "DE", "pending")
    found = senders.for_sending(["ACME", "OLDCO", "NOBODY", "ACME"])
    assert set(found) == {"ACME", "OLDCO"}
    assert {(r.country, r.status) for r in found["ACME"].registrations} == {("US", "approved"), ("DE", "pending")}
    assert (found["OLDCO"].registrations, found["OLDCO"].brand, found["OLDCO"].kind) == ((), "Old Co", "alphanumeric")
    for sender in (acme, suspended):
        for countries in (["US"], ["DE"], ["FR"], [None], ["US", "DE", None]):
            assert senders.sending_problems(found[sender.value], countries) == senders.sending_problems(
                sender, countries), (sender.value, countries)
    app.config["SENDER_REGISTRATION_REQUIRED"] = False
    plain = SenderId(value="PLAIN", kind="alphanumeric", status="approved")
    db.session.add(plain)
    db.session.commit()
    assert senders.sending_problems(senders.for_sending(["PLAIN"])["PLAIN"], ["FR"]) == []
    assert senders.for_sending([]) == {}


def test_saving_a_country_again_changes_its_registration(acme):
    register(acme, "US", "pending", notes="filed")
    register(acme, "us", "approved", notes="TCR approved")
    [registration] = db.session.scalars(select(SenderRegistration)).all()
    assert (registration.country, registration.status, registration.notes) == ("US", "approved", "TCR approved")


def test_a_us_long_code_needs_its_10dlc_ids_to_be_approved(app):
    long_code = SenderId(value="+12025550199", kind="long_code", status="approved")
    db.session.add(long_code)
    db.session.commit()
    with pytest.raises(senders.SenderError, match="10DLC brand ID"):
        register(long_code, "US", "approved")
    registration = register(long_code, "US", "approved", us_10dlc_brand_id="BXYZ123", us_10dlc_campaign_id="CABC456")
    assert (registration.us_10dlc_brand_id, registration.us_10dlc_campaign_id) == ("BXYZ123", "CABC456")


def test_india_keeps_the_dlt_ids(acme):
    registration = register(acme, "IN", "approved", dlt_entity_id="1101234567", dlt_template_id="1107000000001")
    assert (registration.dlt_entity_id, registration.dlt_template_id) == ("1101234567", "1107000000001")


def test_the_migration_backfills_the_country_of_existing_contacts(tmp_path):
    from flask_migrate import upgrade

    from dashboard import create_app
    from tests.conftest import make_config
    app = create_app(make_config(tmp_path / "old.db"))
    with app.app_context():
        upgrade(revision="0003")
        db.session.execute(text("INSERT INTO contact (phone, name, fields, global_opt_out, created_at) VALUES "
                                "(:us, '', '{}', 0, '2026-01-01'), (:de, '', '{}', 0, '2026-01-01')"),
                           {"us": US, "de": DE})
        db.session.commit()
        upgrade()
        assert dict(db.session.execute(text("SELECT phone, country FROM contact")).all()) == {US: "US", DE: "DE"}
        # 0004 rebuilds no table: the ledger's append-only triggers are still there.
        triggers = db.session.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).all()
        assert {"consent_event_no_update", "consent_event_no_delete"} <= set(triggers)
        db.session.remove()
        db.engine.dispose()


def test_a_contact_inserted_without_its_country_gets_it_from_its_number(app):
    db.session.execute(Contact.__table__.insert(), [dict(phone=DE, name="", fields={}, created_at=utcnow(),
                                                         global_opt_out=False)])
    db.session.add(Contact(phone=US, created_at=utcnow()))
    db.session.commit()
    assert dict(db.session.execute(select(Contact.phone, Contact.country)).all()) == {US: "US", DE: "DE"}
