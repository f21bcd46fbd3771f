"""Contact pages: sender IDs are validated by kind before they are stored."""
from __future__ import annotations

from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import SenderId


def _ops(auth, make_user):
    make_user("ops@example.com", "ops")
    auth.login("ops@example.com")


def test_an_alphanumeric_sender_id_is_added(client, auth, make_user):
    _ops(auth, make_user)
    response = client.post("/senders/", data={"value": " Acme ", "kind": "alphanumeric"})
    assert response.status_code == 302
    sender = db.session.scalar(select(SenderId))
    assert (sender.value, sender.kind) == ("Acme", "alphanumeric")
    assert "Sender ID Acme added." in client.get("/senders/").data.decode()


def test_a_long_code_is_stored_as_e164(client, auth, make_user):
    _ops(auth, make_user)
    assert client.post("/senders/", data={"value": "(202) 555-0101", "kind": "long_code"}).status_code == 302
    assert db.session.scalar(select(SenderId.value)) == "+12025550101"


def test_an_alphanumeric_sender_id_over_eleven_characters_is_refused(client, auth, make_user):
    _ops(auth, make_user)
    response = client.post("/senders/", data={"value": "SwitchboardX", "kind": "alphanumeric"})
    assert response.status_code == 400
    assert "At most 11 GSM characters; this is 12." in response.data.decode()
    assert db.session.scalar(select(SenderId)) is None


def test_a_sender_id_with_a_curly_quote_is_refused_naming_the_character(client, auth, make_user):
    _ops(auth, make_user)
    response = client.post("/senders/", data={"value": "Bob’s", "kind": "alphanumeric"})
    assert response.status_code == 400
    assert "not &#39;’&#39; (U+2019)" in response.data.decode()


def test_a_short_code_of_two_digits_is_refused(client, auth, make_user):
    _ops(auth, make_user)
    response = client.post("/senders/", data={"value": "12", "kind": "short_code"})
    assert response.status_code == 400
    assert "A short code is 3 to 8 digits." in response.data.decode()


def test_an_invalid_long_code_is_refused_with_the_reason(client, auth, make_user):
    _ops(auth, make_user)
    response = client.post("/senders/", data={"value": "555", "kind": "long_code"})
    assert response.status_code == 400
    assert "Not a valid phone number: too short." in response.data.decode()


def test_the_same_long_code_typed_differently_is_a_duplicate(client, auth, make_user):
    _ops(auth, make_user)
    client.post("/senders/", data={"value": "+1 202 555 0101", "kind": "long_code"})
    response = client.post("/senders/", data={"value": "(202) 555-0101", "kind": "long_code"})
    assert response.status_code == 400
    assert "This sender ID exists already." in response.data.decode()
    assert len(db.session.scalars(select(SenderId)).all()) == 1


def test_a_compliance_user_cannot_add_a_sender_id(client, auth, make_user):
    make_user("compliance@example.com", "compliance")
    auth.login("compliance@example.com")
    assert client.post("/senders/", data={"value": "Acme", "kind": "alphanumeric"}).status_code == 403
    assert db.session.scalar(select(SenderId)) is None


def _sender(value="Acme", kind="alphanumeric", **overrides) -> SenderId:
    sender = SenderId(value=value, kind=kind, status="approved", **overrides)
    db.session.add(sender)
    db.session.commit()
    return sender


def test_a_sender_id_is_added_with_its_brand(client, auth, make_user):
    _ops(auth, make_user)
    client.post("/senders/", data={"value": "AcmeShop", "kind": "alphanumeric", "brand": " Acme "})
    assert db.session.scalar(select(SenderId.brand)) == "Acme"


def test_registrations_are_added_and_changed_per_country_and_listed(client, auth, make_user):
    from dashboard.models import SenderRegistration
    sender = _sender()
    _ops(auth, make_user)
    response = client.post(f"/senders/{sender.id}/registrations",
                           data={"country": "de", "status": "pending", "notes": "filed with the operator"})
    assert response.status_code == 302
    client.post(f"/senders/{sender.id}/registrations", data={"country": "US", "status": "approved"})
    page = client.get(f"/senders/{sender.id}").data.decode()
    assert "<td>DE</td><td>pending</td>" in page and "filed with the operator" in page
    assert "DE pending" in client.get("/senders/").data.decode()
    client.post(f"/senders/{sender.id}/registrations", data={"country": "DE", "status": "approved"})
    statuses = dict(db.session.execute(select(SenderRegistration.country, SenderRegistration.status)).all())
    assert statuses == {"DE": "approved", "US": "approved"}


def test_a_registration_for_an_unknown_country_is_refused(client, auth, make_user):
    sender = _sender()
    _ops(auth, make_user)
    response = client.post(f"/senders/{sender.id}/registrations", data={"country": "XX", "status": "approved"})
    assert response.status_code == 400
    assert "XX is not a country code" in response.data.decode()


def test_a_us_long_code_approval_without_10dlc_ids_is_refused_on_the_page(client, auth, make_user):
    sender = _sender("+12025550199", "long_code")
    _ops(auth, make_user)
    response = client.post(f"/senders/{sender.id}/registrations", data={"country": "US", "status": "approved"})
    assert response.status_code == 400
    assert "A US long code is approved with its 10DLC brand ID." in response.data.decode()
    response = client.post(f"/senders/{sender.id}/registrations", data={
        "country": "US", "status": "approved", "us_10dlc_brand_id": "BXYZ123", "us_10dlc_campaign_id": "CABC456"})
    assert response.status_code == 302
    assert "BXYZ123 / CABC456" in client.get(f"/senders/{sender.id}").data.decode()


def test_the_brand_of_a_sender_can_be_changed(client, auth, make_user):
    sender = _sender()
    _ops(auth, make_user)
    assert client.post(f"/senders/{sender.id}/brand", data={"brand": "Acme Group"}).status_code == 302
    db.session.refresh(sender)
    assert sender.brand == "Acme Group"


def test_a_compliance_user_cannot_change_registrations(client, auth, make_user):
    sender = _sender()
    make_user("compliance@example.com", "compliance")
    auth.login("compliance@example.com")
    response = client.post(f"/senders/{sender.id}/registrations", data={"country": "US", "status": "approved"})
    assert response.status_code == 403
    assert sender.registrations == []


def test_the_campaign_form_says_which_countries_the_sender_is_not_approved_for(client, auth, make_user, make_list):
    sender = _sender()
    contact_list = make_list(["+12025550101", "+4915112345678"])
    _ops(auth, make_user)
    response = client.post("/campaigns/new", data={"name": "x", "list_id": contact_list.id, "sender_id_id": sender.id,
                                                   "text": "hi"}, follow_redirects=True)
    page = response.data.decode()
    assert "sender Acme is not approved for DE (no registration); sender Acme is not approved for US" in page
