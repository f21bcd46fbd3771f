"""The Routes & prices page: admins keep the price list, ops read it, both ask the tester."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import Bind, Message, Route
from dashboard.models.types import utcnow
from dashboard.services import routing
from dashboard.services.sending.enqueue import enqueue
from tests.conftest import campaign_for


@pytest.fixture
def carrier(app, make_bind, simulator):
    return make_bind(simulator, name="acme")


def _login(make_user, auth, role):
    make_user(f"{role}@example.com", role)
    auth.login(f"{role}@example.com")


def test_an_admin_adds_a_route_by_country_and_sees_its_price_with_the_currency(
    client, auth, make_user, carrier
):
    _login(make_user, auth, "admin")
    page = client.get("/routes/").data.decode()
    assert re.search(
        r'<input[^>]*name="currency"[^>]*value="USD"', page
    )  # the DEFAULT_CURRENCY setting
    response = client.post(
        "/routes/",
        data={
            "destination": "GB",
            "bind_id": carrier.id,
            "price": "0.0350",
            "currency": "eur",
            "priority": 100,
        },
    )
    assert response.status_code == 303
    route = db.session.scalar(select(Route))
    assert (route.prefix, route.price_per_segment, route.currency) == (
        "44",
        Decimal("0.035"),
        "EUR",
    )
    page = client.get("/routes/").data.decode()
    assert "+44 (GB, GG, IM and 1 more)" in page and "0.0350 EUR" in page
    assert "Route for +44 (GB, GG, IM and 1 more) through acme at 0.0350 EUR per part added." in page


def test_a_bad_route_re_renders_the_form_with_the_reason_and_keeps_what_was_typed(
    client, auth, make_user, carrier
):
    _login(make_user, auth, "admin")
    response = client.post(
        "/routes/",
        data={
            "destination": "0044",
            "bind_id": carrier.id,
            "price": "0.03",
            "currency": "EUR",
            "priority": 100,
        },
    )
    assert response.status_code == 400
    page = response.data.decode()
    assert "a prefix starts with the country calling code, not 0 or 00" in page
    assert 'value="0044"' in page and 'value="0.03"' in page
    assert db.session.scalar(select(Route)) is None


def test_changing_a_price_applies_from_now_on_and_recorded_prices_stay(
    client, auth, make_user, carrier, sender
):
    _login(make_user, auth, "admin")
    route = routing.create_route(
        destination="1", bind_id=carrier.id, price="0.0075", currency="USD"
    )
    [before] = enqueue(destinations=["+12025550101"], text="Hi", source="Switchboard", now=utcnow())
    page = client.get(f"/routes/{route.id}/edit").data.decode()
    assert 'value="0.0075"' in page and "messages already queued or sent keep theirs" in page
    response = client.post(
        f"/routes/{route.id}/edit",
        data={"price": "0.0090", "currency": "USD", "priority": 100, "enabled": "y"},
    )
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(Route, route.id).price_per_segment == Decimal("0.0090")
    assert db.session.get(Message, before.id).price_per_segment == Decimal("0.0075")


def test_an_admin_removes_a_route(client, auth, make_user, carrier):
    _login(make_user, auth, "admin")
    route = routing.create_route(destination="44", bind_id=carrier.id, price="0.03", currency="EUR")
    response = client.post(f"/routes/{route.id}/delete", headers={"HX-Request": "true"})
    assert (response.status_code, response.headers["HX-Redirect"]) == (200, "/routes/")
    assert db.session.get(Route, route.id) is None
    assert client.get(f"/routes/{route.id}/edit").status_code == 404


def test_ops_read_the_price_list_without_the_controls_to_change_it(
    client, auth, make_user, carrier
):
    routing.create_route(destination="1", bind_id=carrier.id, price="0.0075", currency="USD")
    _login(make_user, auth, "ops")
    page = client.get("/routes/").data.decode()
    assert "0.0075 USD" in page and "Only admins change routes." in page
    assert "Add a route" not in page and "/edit" not in page
    assert client.post("/routes/", data={}).status_code == 403


def test_the_tester_answers_for_a_posted_number_without_putting_it_in_a_url(
    client, auth, make_user, carrier
):
    routing.create_route(destination="61", bind_id=carrier.id, price="0.045", currency="AUD")
    _login(make_user, auth, "ops")
    response = client.post("/routes/test", data={"number": "+61 491 570 156"})
    assert response.status_code == 200
    page = response.data.decode()
    assert 'data-number="+61491570156"' in page
    assert "<strong data-answer-bind>acme</strong>" in page
    assert "<strong data-answer-price>0.0450 AUD</strong>" in page
    assert "+61491570156" not in response.request.url and "491" not in response.request.url
    # The bind is not bound (no sender here): the tester says messages would wait.
    assert "That bind is not ready now" in page


def test_the_tester_explains_a_number_without_a_route_and_refuses_a_non_number(
    client, auth, make_user, carrier
):
    routing.create_route(destination="1", bind_id=carrier.id, price="0.0075", currency="USD")
    _login(make_user, auth, "admin")
    page = client.post("/routes/test", data={"number": "+4915112345678"}).data.decode()
    assert "no route" in page and "no route for +4915112345678" in page
    response = client.post("/routes/test", data={"number": "12"})
    assert response.status_code == 400 and "12:" in response.data.decode()


def test_the_estimate_changes_when_a_route_is_priced(
    client, auth, make_user, carrier, make_list, sender
):

    _login(make_user, auth, "admin")
    contact_list = make_list(["+12025550101", "+12025550102"])
    campaign = campaign_for(contact_list, sender, name="Soon", text="Hello", draft=True)
    assert (
        "<strong data-total-cost>0.0000 USD</strong>"
        in client.get(f"/campaigns/{campaign.id}/estimate").data.decode()
    )
    client.post(
        "/routes/",
        data={
            "destination": "US",
            "bind_id": carrier.id,
            "price": "0.0100",
            "currency": "USD",
            "priority": 100,
        },
    )
    partial = client.get(f"/campaigns/{campaign.id}/estimate").data.decode()
    assert "<strong data-total-cost>0.0200 USD</strong>" in partial
    assert "+1 (US, CA, AG and 22 more) → acme" in partial and "0.0100 USD" in partial
    assert db.session.scalar(select(Bind.name)) == "acme"
