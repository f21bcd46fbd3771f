"""The public double opt-in page: text a confirmation, a YES completes it, abuse is contained."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from dashboard import create_app
from dashboard.extensions import db
from dashboard.models import ConsentEvent, Contact, InboundMessage, ListMembership, Message, SignupRequest
from dashboard.models.types import utcnow
from dashboard.services import consent, inbound, signup
from tests.conftest import make_config, numbers, wait_for

UA = "Mozilla/5.0 (test phone)"


@pytest.fixture
def signup_list(make_list, sender):
    def make(members=(), name="Newsletter"):
        contact_list = make_list(list(members), name=name)
        signup.configure(contact_list, enabled=True, sender_id=sender.id)
        return contact_list
    return make


def join(client, contact_list, phone, ip="203.0.113.7"):
    return client.post(f"/join/{contact_list.signup_token}", data={"phone": phone},
                       headers={"User-Agent": UA}, environ_base={"REMOTE_ADDR": ip})


def confirmations_sent() -> int:
    """The worker's job that texts the confirmations of new requests."""
    return signup.send_confirmations(utcnow())


def mo(source: str, text: str, destination: str = "Switchboard", received_at=None) -> InboundMessage:
    message = InboundMessage(source=source.lstrip("+"), destination=destination, text=text,
                             received_at=received_at or utcnow())
    db.session.add(message)
    db.session.commit()
    return message


def events(source="web_form"):
    return db.session.scalars(select(ConsentEvent).where(ConsentEvent.source == source)).all()


def test_the_whole_exchange_against_the_smsc_opts_the_number_in_with_it_as_evidence(
        app, client, simulator, make_bind, signup_list, worker):
    make_bind(simulator)
    contact_list = signup_list()
    [number] = numbers(1)
    worker()
    response = join(client, contact_list, number)
    assert response.status_code == 200
    assert "reply <strong>YES</strong> within 30 minutes" in response.data.decode()
    confirmation = wait_for(lambda: simulator.messages(), message="the confirmation reached the SMSC")[0]
    assert confirmation.destination_addr == number.lstrip("+")
    assert "reply YES" in confirmation.text and contact_list.name in confirmation.text
    assert events() == []  # nothing until the reply

    simulator.inject_mo(source=number.lstrip("+"), destination="Switchboard", text="yes")
    [event] = wait_for(lambda: events(), message="opt-in recorded")
    reply = db.session.get(InboundMessage, event.inbound_message_id)
    request = db.session.scalar(select(SignupRequest))
    evidence = json.loads(event.evidence)
    assert (event.kind, event.list_id, event.phone) == ("opt_in", contact_list.id, number)
    assert evidence["form"]["ip"] == "203.0.113.7" and evidence["form"]["user_agent"] == UA
    assert evidence["form"]["submitted_at"].startswith(request.requested_at.strftime("%Y-%m-%dT%H:%M:%S"))
    assert evidence["confirmation"]["message_id"] == request.message_id
    assert evidence["confirmation"]["text"] == confirmation.text
    assert evidence["reply"] == {"mo_id": reply.id, "from": number.lstrip("+"), "to": "Switchboard", "text": "yes",
                                 "received_at": evidence["reply"]["received_at"]}
    assert request.status == "confirmed" and request.consent_event_id == event.id
    assert db.session.scalar(select(ListMembership.subscribed).where(ListMembership.list_id == contact_list.id))
    assert consent.verify_chain().intact


def test_the_page_answers_the_same_for_a_subscribed_and_a_new_number(client, signup_list):
    subscribed, new = numbers(2)
    contact_list = signup_list([subscribed])
    first = join(client, contact_list, subscribed, ip="203.0.113.1")
    second = join(client, contact_list, new, ip="203.0.113.2")
    assert first.status_code == second.status_code == 200
    assert first.data == second.data
    confirmations_sent()
    # Only the new number is texted: a subscribed one has nothing to confirm.
    assert db.session.scalars(select(Message.destination)).all() == [new]
    statuses = dict(db.session.execute(select(SignupRequest.phone, SignupRequest.status)).all())
    assert statuses == {subscribed: "not_sent", new: "pending"}


def test_requests_from_one_address_are_limited_per_hour(app, client, signup_list):
    contact_list = signup_list()
    limit = app.config["SIGNUP_LIMIT_PER_IP"]
    for number in numbers(limit):
        assert join(client, contact_list, number).status_code == 200
    response = join(client, contact_list, numbers(1, start=150)[0])
    assert response.status_code == 429
    assert "Too many sign-up attempts" in response.data.decode()
    assert confirmations_sent() == limit
    assert join(client, contact_list, numbers(1, start=150)[0], ip="198.51.100.9").status_code == 200


def test_one_number_gets_only_a_few_confirmations_a_day_whatever_the_address(app, client, signup_list):
    contact_list = signup_list()
    [number] = numbers(1)
    limit = app.config["SIGNUP_LIMIT_PER_NUMBER"]
    for i in range(limit):
        assert join(client, contact_list, number, ip=f"198.51.100.{i}").status_code == 200
    assert join(client, contact_list, number, ip="198.51.100.99").status_code == 429
    assert confirmations_sent() == limit


def test_an_invalid_number_is_refused_with_the_reason(client, signup_list):
    contact_list = signup_list()
    response = join(client, contact_list, "12345")
    assert response.status_code == 400
    assert "That is not a number we can text" in response.data.decode()
    assert db.session.scalar(select(SignupRequest)) is None


def test_a_yes_after_the_confirmation_expired_does_nothing(app, signup_list):
    contact_list = signup_list()
    [number] = numbers(1)
    asked = utcnow() - timedelta(minutes=app.config["SIGNUP_CONFIRMATION_MINUTES"] + 1)
    request = signup.request_signup(contact_list, number, ip="203.0.113.7", user_agent=UA, now=asked,
                                    settings=signup.SignupSettings.from_config(app.config))
    mo(number, "YES")
    inbound.act_on_keywords(utcnow())
    assert events() == []
    assert db.session.get(SignupRequest, request.id).status == "expired"
    assert db.session.scalar(select(Contact).where(Contact.phone == number)) is None


def test_a_yes_without_a_pending_confirmation_does_nothing(app, signup_list):
    signup_list()
    [number] = numbers(1)
    reply = mo(number, "Yes")
    inbound.act_on_keywords(utcnow())
    assert db.session.scalar(select(func.count()).select_from(ConsentEvent)) == 0
    assert db.session.get(InboundMessage, reply.id).keyword == "YES"  # looked at, and left alone


def test_a_yes_confirms_only_the_latest_open_request_of_that_number(app, signup_list):
    first, second = signup_list(name="First"), signup_list(name="Second")
    [number] = numbers(1)
    settings = signup.SignupSettings.from_config(app.config)
    signup.request_signup(first, number, ip="a", user_agent=UA, now=utcnow(), settings=settings)
    signup.request_signup(second, number, ip="a", user_agent=UA, now=utcnow(), settings=settings)
    mo(number, "YES")
    inbound.act_on_keywords(utcnow())
    assert [e.list_id for e in events()] == [second.id]


def test_the_sign_up_form_needs_its_csrf_token(database_url, app, signup_list):
    contact_list = signup_list()
    csrf_app = create_app(make_config(database_url, WTF_CSRF_ENABLED=True))
    client = csrf_app.test_client()
    response = client.post(f"/join/{contact_list.signup_token}", data={"phone": numbers(1)[0]})
    assert response.status_code == 400
    page = client.get(f"/join/{contact_list.signup_token}").data.decode()
    assert 'name="csrf_token"' in page
    assert db.session.scalar(select(SignupRequest)) is None
    with csrf_app.app_context():
        db.engine.dispose()


def test_staff_turn_the_page_on_with_a_sender_and_the_list_shows_its_address(client, auth, make_user, make_list,
                                                                            sender):
    contact_list = make_list([], name="Club")
    make_user("ops@example.com", "ops")
    auth.login("ops@example.com")
    client.post(f"/lists/{contact_list.id}/signup", data={"enabled": "y", "sender_id": 0})
    assert not contact_list.signup_enabled  # no sender to text from: refused
    assert "Choose the sender ID" in client.get(f"/lists/{contact_list.id}").data.decode()
    response = client.post(f"/lists/{contact_list.id}/signup", data={"enabled": "y", "sender_id": sender.id})
    assert response.status_code == 302
    db.session.refresh(contact_list)
    assert contact_list.signup_enabled and contact_list.signup_token
    assert f"/join/{contact_list.signup_token}" in client.get(f"/lists/{contact_list.id}").data.decode()
    client.post(f"/lists/{contact_list.id}/signup", data={"sender_id": sender.id})
    db.session.refresh(contact_list)
    assert not contact_list.signup_enabled
    assert client.get(f"/join/{contact_list.signup_token}").status_code == 404
