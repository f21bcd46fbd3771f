"""Routes and prices: kept by admins, chosen by the router, recorded on each message with their
currency — and a price change never touches what was recorded (docs/architecture.md #10)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import Bind, BindStatus, Message, Route
from dashboard.models.types import utcnow
from dashboard.services import routing
from dashboard.services.sending.enqueue import enqueue


def _bind(name: str, state: str = "bound") -> Bind:
    bind = Bind(name=name, host="h", port=1, system_id="s", password_encrypted="x")
    db.session.add(bind)
    db.session.flush()
    db.session.add(BindStatus(bind_id=bind.id, state=state, heartbeat_at=utcnow()))
    db.session.commit()
    return bind


def _queued_on_a_priced_route() -> tuple[Route, Message]:
    acme = _bind("acme")
    route = routing.create_route(destination="1", bind_id=acme.id, price="0.0075", currency="USD")
    [message] = enqueue(
        destinations=["+12025550101"], text="Hello", source="Switchboard", now=utcnow()
    )
    return route, message


def _recorded(message: Message) -> tuple:
    """The route, price and currency stored on the message, read again from the database."""
    db.session.expire_all()
    stored = db.session.get(Message, message.id)
    return stored.route_id, stored.price_per_segment, stored.currency


def test_a_route_by_country_is_stored_as_its_calling_code_with_price_and_currency(app):
    acme = _bind("acme")
    route = routing.create_route(destination="au", bind_id=acme.id, price="0.045", currency="aud")
    assert (route.prefix, route.price_per_segment, route.currency, route.priority) == (
        "61",
        Decimal("0.045"),
        "AUD",
        100,
    )


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"destination": "0044"}, "calling code, not 0"),
        ({"price": "cheap"}, "not a price"),
        ({"price": "-0.01"}, "0 or more"),
        ({"currency": "dollars"}, "not a currency code"),
        ({"priority": 99999}, "priority is a number from 0 to 10000"),
    ],
)
def test_a_route_with_bad_values_is_refused_with_the_reason(app, values, reason):
    acme = _bind("acme")
    with pytest.raises(routing.RouteError, match=reason):
        routing.create_route(
            **(
                {"destination": "+44", "bind_id": acme.id, "price": "0.03", "currency": "EUR"}
                | values
            )
        )
    assert db.session.scalar(select(Route)) is None


def test_the_options_of_one_prefix_share_a_currency_and_a_bind_appears_once(app):
    acme, backup = _bind("acme"), _bind("backup")
    routing.create_route(destination="+44", bind_id=acme.id, price="0.03", currency="EUR")
    with pytest.raises(routing.RouteError, match="priced in EUR"):
        routing.create_route(destination="GB", bind_id=backup.id, price="0.04", currency="USD")
    with pytest.raises(routing.RouteError, match="already has a route through this bind"):
        routing.create_route(destination="44", bind_id=acme.id, price="0.02", currency="EUR")
    routing.create_route(destination="44", bind_id=backup.id, price="0.04", currency="EUR")
    assert [
        (line.bind_name, line.route.price_per_segment) for line in routing.route_table()[0].lines
    ] == [("acme", Decimal("0.03")), ("backup", Decimal("0.04"))]


def test_a_queued_message_keeps_the_price_and_currency_it_was_given_when_the_price_changes(
    app, sender
):
    route, message = _queued_on_a_priced_route()
    routing.update_route(route, price="0.0200", currency="USD", priority=100, enabled=True)
    assert _recorded(message) == (route.id, Decimal("0.0075"), "USD")
    [later] = enqueue(
        destinations=["+12025550102"], text="Hello", source="Switchboard", now=utcnow()
    )
    assert (later.price_per_segment, later.currency) == (Decimal("0.0200"), "USD")


def test_without_routes_messages_go_at_no_cost_in_the_default_currency(app, sender):
    _bind("acme")
    [message] = enqueue(
        destinations=["+12025550101"], text="Hello", source="Switchboard", now=utcnow()
    )
    assert (message.price_per_segment, message.currency) == (Decimal("0"), "USD")


def test_the_route_tester_names_the_bind_the_price_and_the_failover_order(app):
    primary, backup = _bind("primary", state="connecting"), _bind("backup")
    routing.create_route(destination="61", bind_id=primary.id, price="0.045", currency="USD")
    routing.create_route(destination="61", bind_id=backup.id, price="0.052", currency="USD")
    answer = routing.route_for_number("+61 491 570 156", "US")
    assert (answer.number, answer.country, answer.prefix, answer.bind_name) == (
        "+61491570156",
        "AU",
        "61",
        "backup",
    )
    assert (answer.choice.price_per_segment, answer.choice.currency, answer.waiting) == (
        Decimal("0.052"),
        "USD",
        False,
    )
    assert [(line.bind_name, line.healthy) for line in answer.options] == [
        ("primary", False),
        ("backup", True),
    ]

    nowhere = routing.route_for_number("+4915112345678", "US")
    assert (nowhere.choice.bind_id, nowhere.choice.reason) == (None, "no route for +4915112345678")
    with pytest.raises(routing.RouteError, match="12345"):
        routing.route_for_number("12345", "US")


def test_removing_a_route_leaves_the_prices_it_recorded(app, sender):
    route, message = _queued_on_a_priced_route()
    routing.delete_route(route, utcnow())
    assert _recorded(message) == (route.id, Decimal("0.0075"), "USD")
    assert routing.route_table() == [] and not db.session.get(Route, route.id).enabled
    unused = routing.create_route(destination="44", bind_id=route.bind_id, price="0.03",
                                  currency="USD")
    routing.delete_route(unused, utcnow())
    assert db.session.get(Route, unused.id) is None  # nothing named it: gone for good


def test_every_change_to_a_route_is_in_the_audit_trail(app):
    from dashboard.models import AuditLog
    from dashboard.services import audit
    acme = _bind("acme")
    route = routing.create_route(destination="GB", bind_id=acme.id, price="0.0350", currency="USD")
    routing.update_route(route, price="0.0400", currency="USD", priority=100, enabled=True)
    routing.delete_route(route, utcnow())
    rows = db.session.scalars(select(AuditLog).where(AuditLog.target_type == "route").order_by(AuditLog.id)).all()
    assert [row.action for row in rows] == ["route_create", "route_update", "route_delete"]
    assert rows[1].changes == {"price_per_segment": ["0.035000", "0.040000"]}
    assert audit.verify_chain().intact
