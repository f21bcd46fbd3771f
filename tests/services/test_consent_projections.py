"""The projections the sender reads are checked against the ledger, and the ledger alone decides
whether a contact may be texted (issue 11, defect 7). On SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select, text

from dashboard.extensions import db
from dashboard.models import Contact, SenderId
from dashboard.models.types import utcnow
from dashboard.services import consent, contacts


def _contact(contact_list, phone="+12025550101") -> Contact:
    contacts.add_contact(contact_list, phone, evidence="form", actor="t", now=utcnow())
    return db.session.scalar(select(Contact).where(Contact.phone == phone))


def _stop(contact: Contact, **scope) -> int:
    event = consent.record(
        contact,
        consent.OPT_OUT,
        source="keyword",
        evidence="SMS 'STOP'",
        actor="mo:1",
        now=utcnow(),
        **scope,
    )
    db.session.commit()
    return event.id


def test_a_global_opt_out_cleared_by_hand_is_reported_with_the_contact_and_its_stop(database_app):
    contact_list = contacts.create_list("Customers")
    contact = _contact(contact_list)
    stop = _stop(contact)
    assert consent.verify_projections().consistent
    db.session.execute(
        text("UPDATE contact SET global_opt_out = false")
    )  # the attack: back in the audience
    db.session.commit()
    assert consent.verify_chain().intact  # the chain alone cannot see it…
    report = consent.verify_projections()  # …the projection check does
    [mismatch] = report.mismatches
    assert (
        mismatch.contact_id,
        mismatch.phone,
        mismatch.projection,
        mismatch.stored,
        mismatch.ledger,
        mismatch.event_id,
    ) == (contact.id, "+12025550101", "global opt-out", "off", "on", stop)
    decision = consent.decision_from_ledger(contact.id, list_id=contact_list.id)
    assert (decision.allowed, decision.event_id) == (False, stop)


def test_list_memberships_and_brand_opt_outs_are_checked_too(database_app):
    contact_list = contacts.create_list("Customers")
    db.session.add(SenderId(value="Acme", kind="alphanumeric", status="approved", brand="Acme"))
    first, second = _contact(contact_list), _contact(contact_list, "+12025550102")
    list_stop = _stop(first, list_id=contact_list.id)
    brand_stop = _stop(second, brand="Acme")
    db.session.execute(text("UPDATE list_membership SET subscribed = true"))
    db.session.execute(text("UPDATE brand_opt_out SET opted_out = false"))
    db.session.execute(
        text(
            "INSERT INTO contact (phone, name, fields, global_opt_out, created_at) "
            "VALUES ('+12025550103', '', '{}', false, CURRENT_TIMESTAMP)"
        )
    )
    third = db.session.scalar(select(Contact.id).where(Contact.phone == "+12025550103"))
    db.session.execute(
        text(
            "INSERT INTO list_membership (list_id, contact_id, subscribed, created_at) "
            "VALUES (:list, :contact, true, CURRENT_TIMESTAMP)"
        ),
        {"list": contact_list.id, "contact": third},
    )
    db.session.commit()
    report = consent.verify_projections()
    found = {(m.phone, m.projection, m.stored, m.ledger, m.event_id) for m in report.mismatches}
    assert found == {
        (
            "+12025550101",
            f"list {contact_list.id} membership",
            "subscribed",
            "not subscribed",
            list_stop,
        ),
        ("+12025550102", "brand Acme opt-out", "off", "on", brand_stop),
        (
            "+12025550103",
            f"list {contact_list.id} membership",
            "subscribed",
            "not subscribed",
            None,
        ),
    }
    assert report.total == 3 and "3 projection(s) disagree" in report.summary()
    assert not consent.decision_from_ledger(
        third, list_id=contact_list.id
    ).allowed  # no opt-in recorded
    assert not consent.decision_from_ledger(
        second.id, list_id=contact_list.id, brand="Acme"
    ).allowed
    assert consent.decision_from_ledger(second.id, list_id=contact_list.id, brand="Other").allowed


def test_consent_verify_exits_1_and_names_the_contact(app, runner, make_list):
    contact_list = make_list(["+12025550101"])
    contact = db.session.scalar(select(Contact))
    _stop(contact)
    assert runner.invoke(args=["consent", "verify"]).exit_code == 0
    db.session.execute(text("UPDATE contact SET global_opt_out = false"))
    db.session.commit()
    result = runner.invoke(args=["consent", "verify"])
    assert result.exit_code == 1
    assert (
        f"contact {contact.id} (+12025550101): global opt-out is off, the ledger says on"
        in result.output
    )
    assert contact_list.id


def test_the_verify_button_shows_the_mismatch(app, client, auth, make_user, make_list):
    make_list(["+12025550101"])
    _stop(db.session.scalar(select(Contact)))
    db.session.execute(text("UPDATE contact SET global_opt_out = false"))
    db.session.commit()
    make_user("c@example.com", "compliance")
    auth.login("c@example.com")
    page = client.post("/consent/verify").data.decode()
    assert "1 projection(s) disagree with the ledger" in page and "+12025550101" in page
