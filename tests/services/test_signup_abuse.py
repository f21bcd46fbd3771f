"""The public sign-up page under attack (issue 11, defect 5): the limit holds under concurrency on
both databases, only mobile numbers of countries the sender is approved for are texted, the client
address is the proxy's X-Forwarded-For only when the proxy is trusted, and a subscribed number
costs the request exactly the same work as a new one."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event, func, select

from dashboard import create_app
from dashboard.extensions import db
from dashboard.models import ContactList, Message, SenderId, SenderRegistration, SignupRequest
from dashboard.models.types import utcnow
from dashboard.services import contacts, signup
from tests.conftest import make_config, numbers


def _signup_list(name: str = "Newsletter") -> ContactList:
    sender = SenderId(
        value="Switchboard",
        kind="alphanumeric",
        status="approved",
        registrations=[SenderRegistration(country="US", status="approved", notes="test")],
    )
    db.session.add(sender)
    db.session.commit()
    contact_list = contacts.create_list(name)
    signup.configure(contact_list, enabled=True, sender_id=sender.id)
    return contact_list


def test_twenty_concurrent_requests_with_four_left_make_four(database_app):
    contact_list = _signup_list()
    settings = signup.SignupSettings(per_ip=5, per_number=100)
    signup.request_signup(
        contact_list,
        numbers(1, start=190)[0],
        ip="203.0.113.7",
        user_agent="",
        now=utcnow(),
        settings=settings,
    )  # one used: four left in the hour
    outcomes: list[str] = []
    barrier = threading.Barrier(20)
    list_id = contact_list.id

    def post(number: str) -> None:
        barrier.wait(30)  # before any connection is taken: the pool has fewer than 20
        with database_app.app_context():
            listed = db.session.get(ContactList, list_id)
            try:
                signup.request_signup(
                    listed, number, ip="203.0.113.7", user_agent="", now=utcnow(), settings=settings
                )
                outcomes.append("accepted")
            except signup.RateLimited:
                outcomes.append("limited")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=post, args=(n,)) for n in numbers(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["accepted"] * 4 + ["limited"] * 16
    assert db.session.scalar(select(func.count()).select_from(SignupRequest)) == 5


@pytest.mark.parametrize(
    "number, why",
    [
        ("+4915112345678", "a mobile of a country the sender is not approved for"),
        ("+8816555555555", "a satellite number"),
        ("+19005550123", "a premium-rate number"),
        ("+18005550123", "a toll-free number"),
    ],
)
def test_a_number_the_sender_may_not_text_is_refused(app, number, why):
    contact_list = _signup_list()
    with pytest.raises(signup.SignupError, match="not a number we can text from this page"):
        signup.request_signup(
            contact_list,
            number,
            ip="203.0.113.7",
            user_agent="",
            now=utcnow(),
            settings=signup.SignupSettings(),
        )
    assert db.session.scalar(select(SignupRequest)) is None, why


def test_a_subscribed_number_costs_the_request_the_same_statements_as_a_new_one(app):
    contact_list = _signup_list()
    subscribed, new = numbers(2)
    contacts.add_contact(contact_list, subscribed, evidence="e", actor="t", now=utcnow())
    settings = signup.SignupSettings()

    def statements(number: str, ip: str) -> list[str]:
        seen: list[str] = []
        listen = lambda *args: seen.append(args[2].split()[0])  # noqa: E731 (the statement's verb)
        event.listen(db.engine, "before_cursor_execute", listen)
        try:
            signup.request_signup(
                db.session.get(ContactList, contact_list.id),
                number,
                ip=ip,
                user_agent="",
                now=utcnow(),
                settings=settings,
            )
        finally:
            event.remove(db.engine, "before_cursor_execute", listen)
        return seen

    assert statements(subscribed, "203.0.113.1") == statements(new, "203.0.113.2")
    assert db.session.scalar(select(Message)) is None  # nothing is texted inside the request
    assert signup.send_confirmations(utcnow()) == 1
    assert db.session.scalars(select(Message.destination)).all() == [new]


@pytest.mark.parametrize("trusted, separate", [(1, True), (0, False)])
def test_the_forwarded_address_counts_only_behind_a_trusted_proxy(db_path, trusted, separate):
    served = create_app(make_config(db_path, TRUSTED_PROXIES=trusted, SIGNUP_LIMIT_PER_IP=1))
    with served.app_context():
        contact_list = _signup_list()
        client = served.test_client()
        statuses = [
            client.post(
                f"/join/{contact_list.signup_token}",
                data={"phone": number},
                environ_base={"REMOTE_ADDR": "10.0.0.1"},
                headers={"X-Forwarded-For": forwarded},
            ).status_code
            for number, forwarded in zip(numbers(2), ("198.51.100.1", "198.51.100.2"))
        ]
        assert statuses == ([200, 200] if separate else [200, 429])
        ips = set(db.session.scalars(select(SignupRequest.ip)))
        assert ips == ({"198.51.100.1", "198.51.100.2"} if separate else {"10.0.0.1"})
        db.session.remove()
        db.engine.dispose()
