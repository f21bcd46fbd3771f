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
